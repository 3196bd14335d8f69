r"""Watch a network learn in information terms: forward hooks → per-epoch records → tables, plots.

:class:`InformationMonitor` attaches forward hooks to named layers of any ``nn.Module``. Each
call of :meth:`InformationMonitor.measure` runs a fixed probe set through the model, captures
the layers' outputs ``Z`` and records, per layer,

* ``dse``: the diffusion spectral entropy DSE(Z) (bits);
* ``dsmi_zy``: DSMI(Z; Y) against the labels; ``dsmi_zx``: DSMI(Z; X) against the inputs
  (clustered once into ``n_clusters`` groups, as ``dse-dsmi`` does, and reused every epoch);
* ``binned_mi_zy``, ``binned_mi_zx``: the classical binned estimates as a baseline (activations cut
  into ``bins`` equal bins per unit, each distinct binned vector a symbol; plug-in mutual
  information in bits, Shwartz-Ziv & Tishby's information plane),

plus whatever the caller passes (accuracy, loss, run name). Records are plain dicts, written as
CSV or JSON; :func:`plot_dynamics` and :func:`plot_information_plane` draw them with matplotlib
(``pip install 'infotorch[plot]'``).

``sigma="median"`` (the default) sets the kernel bandwidth of each measurement to the median
pairwise distance of the layer's probe embeddings, so that layers and epochs of different scales
are comparable; a float fixes it as in ``dse-dsmi``.
"""

from __future__ import annotations

import csv
import fnmatch
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from . import _validation as v
from ._plotting import pyplot
from .measures import MeasureContext, binned_codes, get_measure, resolve_measure_names
from .spectral import cluster_references, median_distance
from .spectral.kernel import check_sigma

__all__ = [
    "MEASURES",
    "InformationMonitor",
    "binned_codes",
    "median_sigma",
    "plot_dynamics",
    "plot_information_plane",
    "read_records",
    "reduce_layer_output",
    "write_records",
]

#: The monitor's default measures (any name of :func:`infotorch.measures.available_measures` works).
MEASURES = ("dse", "dsmi_zy", "dsmi_zx", "binned_mi_zy", "binned_mi_zx")


def _select_layers(layers: Sequence[Any], modules: Mapping[str, nn.Module]) -> dict[str, str]:
    """Submodule names from names, glob patterns (``"encoder.*.mlp"``) or module types."""
    out: dict[str, str] = {}
    for item in layers:
        if isinstance(item, type):
            found = [k for k, m in modules.items() if k and isinstance(m, item)]
            if not found:
                raise ValueError(f"layers: the model has no submodule of type {item.__name__}")
        elif isinstance(item, str) and any(ch in item for ch in "*?[") and item not in modules:
            found = [k for k in modules if k and fnmatch.fnmatchcase(k, item)]
            if not found:
                raise ValueError(f"layers: no submodule name matches {item!r}")
        elif isinstance(item, str):
            found = [item]
        else:
            raise TypeError(f"layers must hold names, glob patterns or module types, got {item!r}")
        for k in found:
            out.setdefault(k, k)
    return out


def _select_output(out: Any, selector: Any, layer: str) -> Tensor:
    """The tensor to measure from a layer's output (a tensor, a tuple/list, a dict)."""
    if callable(selector):
        out = selector(out)
    elif isinstance(out, (tuple, list)):
        out = out[0 if selector is None else selector]
    elif isinstance(out, Mapping):
        if selector is None:
            if len(out) != 1:
                raise ValueError(f"layer {layer!r} returns a dict with keys {sorted(out)}; choose one with output=KEY")
            selector = next(iter(out))
        out = out[selector]
    if not isinstance(out, Tensor):
        raise ValueError(f"layer {layer!r} output is {type(out).__name__}, not a tensor; choose one with output=")
    return out.detach()


_REDUCTIONS = ("flatten", "mean")


def _check_reduction_option(reduction: Any) -> None:
    if (
        isinstance(reduction, tuple)
        and len(reduction) == 2
        and reduction[0] == "token"
        and isinstance(reduction[1], int)
    ):
        return
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be 'flatten', 'mean' or ('token', index), got {reduction!r}")


def reduce_layer_output(
    out: Tensor,
    n_probes: int,
    batch_dim: int = 0,
    reduction: str | tuple[str, int] = "flatten",
    feature_dim: int | None = None,
    layer: str = "layer",
) -> Tensor:
    """``(n_probes, features)`` from a layer output of any shape.

    ``batch_dim`` names where the probes lie (1 for a ``batch_first=False`` sequence ``(S, B, E)``).
    ``reduction``: ``"flatten"`` keeps every value; ``"mean"`` averages over positions (the dims
    other than the batch and ``feature_dim``: spatial for a conv map ``(B, C, H, W)``, the sequence
    for ``(B, S, E)``); ``("token", i)`` takes position ``i`` of a sequence. ``feature_dim`` (after
    moving the batch to 0): default 1 for conv maps (4-D and 5-D), the last dim otherwise.
    """
    shape = tuple(out.shape)
    if out.ndim == 0 or not -out.ndim <= batch_dim < out.ndim:
        raise ValueError(f"layer {layer!r} output of shape {shape} has no dim {batch_dim} (batch_dim)")
    if out.shape[batch_dim] != n_probes:
        hint = [d for d in range(out.ndim) if out.shape[d] == n_probes and d != batch_dim % out.ndim]
        extra = f"; set batch_dim={hint[0]}" if hint else ""
        raise ValueError(
            f"layer {layer!r} output of shape {shape} has {out.shape[batch_dim]} entries along batch_dim={batch_dim} "
            f"for {n_probes} probes{extra}"
        )
    z = out.movedim(batch_dim, 0)
    if z.ndim <= 2 or reduction == "flatten":
        return z.reshape(z.shape[0], -1)
    fd = (1 if z.ndim >= 4 else z.ndim - 1) if feature_dim is None else feature_dim % z.ndim
    if fd == 0:
        raise ValueError(f"feature_dim must not be the batch dim for layer {layer!r} of shape {shape}")
    z = z.movedim(fd, -1)  # (B, positions..., features)
    if reduction == "mean":
        return z.reshape(z.shape[0], -1, z.shape[-1]).mean(1)
    index = int(reduction[1])  # ("token", i)
    flat = z.reshape(z.shape[0], -1, z.shape[-1])
    if not -flat.shape[1] <= index < flat.shape[1]:
        raise ValueError(f"token {index} is out of range for layer {layer!r} with {flat.shape[1]} positions")
    return flat[:, index]


def median_sigma(z: Tensor, max_points: int = 1000) -> float:
    """Median pairwise Euclidean distance of (up to ``max_points`` of) the rows of ``z``
    (:func:`infotorch.spectral.median_distance`)."""
    return median_distance(z, max_points)


class InformationMonitor:
    """Forward hooks on named layers and per-epoch information measurements.

    Parameters
    ----------
    model : nn.Module
        Any module; ``layers`` name its submodules (``dict(model.named_modules())`` keys).
    layers : sequence of names, glob patterns or module types, or a mapping display name → module name
        ``["1", "3"]``, ``["encoder.layers.*"]``, ``[nn.Conv2d]``.
    batch_dim : int
        Where the probes lie in a layer's output (0; 1 for a ``(S, B, E)`` sequence).
    reduction : "flatten", "mean" or ("token", i)
        How an output of more than two dims becomes ``(probes, features)``: every value, the mean
        over positions (spatial or sequence), or one position; see :func:`reduce_layer_output`.
    feature_dim : int, optional
        The feature dim for ``"mean"``/``"token"`` (default: channels of a conv map, last otherwise).
    output : int, str or callable, optional
        Which part of a tuple/list/dict output to measure (default: the first element, the only key).
    writer : object with ``add_scalar(tag, value, step)``, optional
        E.g. a :class:`torch.utils.tensorboard.SummaryWriter`: every measured value is written as
        ``info/<layer>/<measure>`` at step ``epoch``, without Lightning.
    noise_std : float, optional
        For a network with additive Gaussian noise ``T = f(X) + N(0, s² I)``: the ``s`` the
        ``noisy_mi_zx`` measure needs (Goldfeld et al. 2019).
    sigma : "median" or float
        Kernel bandwidth of DSE/DSMI (see the module docstring).
    t : int
        Diffusion time.
    measures : sequence of str
        Names from the measure registry (:func:`infotorch.measures.available_measures`; default
        ``"dse", "dsmi_zy", "dsmi_zx", "binned_mi_zy", "binned_mi_zx"``); measures registered by
        the user with :func:`infotorch.measures.register_measure` work too.
    n_clusters : int
        Clusters of the inputs for DSMI(Z; X).
    bins : int
        Bins per unit of the binned baseline.
    num_repetitions, seed : int
        DSMI's random subsets (seeded: repeated measurements are comparable).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from infotorch.monitor import InformationMonitor
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    >>> x, y = torch.randn(60, 4), torch.arange(60) % 3
    >>> with InformationMonitor(model, ["1"], measures=["dse", "dsmi_zy"]) as mon:
    ...     row = mon.measure(x, y, epoch=0)[0]
    >>> sorted(k for k in row if k.startswith(("dse", "dsmi")))
    ['dse', 'dsmi_zy']
    """

    def __init__(
        self,
        model: nn.Module,
        layers: Sequence[str | type] | Mapping[str, str],
        *,
        batch_dim: int = 0,
        reduction: str | tuple[str, int] = "flatten",
        feature_dim: int | None = None,
        output: int | str | Any = None,
        noise_std: float | None = None,
        writer: Any = None,
        sigma: str | float = "median",
        t: int = 1,
        measures: Iterable[str] = MEASURES,
        n_clusters: int = 10,
        bins: int = 30,
        num_repetitions: int = 5,
        seed: int = 0,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        modules = dict(model.named_modules())
        names = dict(layers) if isinstance(layers, Mapping) else _select_layers(layers, modules)
        missing = [m for m in names.values() if m not in modules]
        if missing:
            known = ", ".join(repr(k) for k in modules if k)
            raise ValueError(f"layers {missing} are not submodules of the model; its submodules are {known}")
        if not names:
            raise ValueError("layers must name at least one submodule")
        if isinstance(batch_dim, bool) or not isinstance(batch_dim, int):
            raise TypeError(f"batch_dim must be an integer, got {batch_dim!r}")
        _check_reduction_option(reduction)
        self.batch_dim, self.reduction, self.feature_dim, self.output = batch_dim, reduction, feature_dim, output
        self.noise_std = noise_std
        if writer is not None and not callable(getattr(writer, "add_scalar", None)):
            raise TypeError(f"writer must have an add_scalar(tag, value, step) method, got {type(writer).__name__}")
        self.writer = writer
        try:
            self.measures = resolve_measure_names(measures)
        except ValueError as exc:
            raise ValueError(f"measures: {exc}") from None
        sigma = check_sigma(sigma)
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not (math.isfinite(t) and t > 0):
            raise ValueError(f"t must be a positive finite number, got {t!r}")
        if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
            raise ValueError(f"bins must be a positive integer, got {bins!r}")
        self.model = model
        self.layers = names
        self.sigma = sigma
        self.t = t
        self.n_clusters = n_clusters
        self.bins = bins
        self.num_repetitions = num_repetitions
        self.seed = seed
        self.records: list[dict[str, Any]] = []
        self._captured: dict[str, Tensor] = {}
        self._handles: list[Any] = []
        self._input_clusters: Tensor | None = None
        self._input_key: tuple[int, ...] | None = None

    # ------------------------------------------------------------------ hooks
    def attach(self) -> InformationMonitor:
        """Register the forward hooks until :meth:`detach` (idempotent). Not needed for
        :meth:`measure`, which attaches them for its probe pass only; while attached they fire in
        every forward pass of the model."""
        if self._handles:
            return self
        modules = dict(self.model.named_modules())
        for display, name in self.layers.items():

            def hook(_mod: nn.Module, _inp: Any, out: Any, display: str = display) -> None:
                self._captured[display] = _select_output(out, self.output, display)

            self._handles.append(modules[name].register_forward_hook(hook))
        return self

    def detach(self) -> None:
        """Remove the hooks."""
        for h in self._handles:
            h.remove()
        self._handles.clear()
        self._captured.clear()

    def __enter__(self) -> InformationMonitor:
        return self.attach()

    def __exit__(self, *exc: object) -> None:
        self.detach()

    @torch.no_grad()
    def embeddings(self, x: Tensor, batch_size: int = 1024) -> dict[str, Tensor]:
        """Run ``x`` through the model in eval mode; the flattened outputs of each layer (CPU, float64).

        The hooks live for this pass only (unless :meth:`attach` holds them), so training
        forwards outside a measurement pay nothing and no activations are kept."""
        bd = self.batch_dim
        if not -x.ndim <= bd < x.ndim:  # before any hook or mode change
            raise ValueError(f"the probe inputs of shape {tuple(x.shape)} have no dim {bd} (batch_dim)")
        total = x.shape[bd]
        temporary = not self._handles
        self.attach()
        was_training = self.model.training
        self.model.eval()
        chunks: dict[str, list[Tensor]] = {k: [] for k in self.layers}
        try:
            for start in range(0, total, batch_size):
                self._captured.clear()
                self.model(x.narrow(bd, start, min(batch_size, total - start)))
                n_batch = min(batch_size, total - start)
                for k in self.layers:
                    if k not in self._captured:
                        raise ValueError(f"layer {self.layers[k]!r} produced no tensor output in the forward pass")
                    chunks[k].append(self.reduce_output(self._captured[k], n_batch, k).cpu())
        finally:
            self.model.train(was_training)
            self._captured.clear()
            if temporary:
                self.detach()
        return {k: torch.cat(v).to(torch.float64) for k, v in chunks.items()}

    def reduce_output(self, out: Tensor, n_probes: int, layer: str = "layer") -> Tensor:
        """One layer's output as ``(n_probes, features)``: the batch at ``batch_dim``, then
        ``reduction`` ("flatten"; "mean" over positions; ``("token", i)``: position ``i``)."""
        return reduce_layer_output(out, n_probes, self.batch_dim, self.reduction, self.feature_dim, layer)

    # ------------------------------------------------------------------ measurements
    def _clusters_for_inputs(self, x: Tensor) -> Tensor:
        key = (x.shape[0], hash(x.detach().cpu().numpy().tobytes()))
        if self._input_clusters is None or self._input_key != key:
            flat = x.detach().reshape(x.shape[0], -1).to("cpu", torch.float64)
            self._input_clusters = cluster_references(flat, self.n_clusters)
            self._input_key = key
        return self._input_clusters

    def measure_embeddings(self, z: Tensor, y: Tensor | None = None, x: Tensor | None = None) -> dict[str, float]:
        """The configured measures of one layer's embeddings ``z`` (N, D): one
        :class:`~infotorch.measures.MeasureContext`, so DSE and both DSMIs share one kernel.
        Measures whose needs (labels, inputs) are not given are skipped."""
        out: dict[str, float] = {}
        z = z.detach().cpu().to(torch.float64)
        v.check_finite(z, "embeddings")
        ctx = MeasureContext(
            z,
            labels=None if y is None else y.detach().cpu(),
            inputs=None if x is None else x.detach().cpu(),
            sigma=self.sigma,
            t=self.t,
            bins=self.bins,
            n_clusters=self.n_clusters,
            num_repetitions=self.num_repetitions,
            seed=self.seed,
            noise_std=self.noise_std,
        )
        if x is not None and any("inputs" in get_measure(m).needs for m in self.measures):
            ctx.input_clusters = self._clusters_for_inputs(x)
        out["sigma"] = math.nan  # first column; the value below, once the measures have run
        for name in self.measures:
            measure = get_measure(name)
            if all(getattr(ctx, need) is not None for need in measure.needs):
                out[name] = measure.compute(ctx)
        # the bandwidth the kernel measures used; without them, the same rule without a kernel
        if "kernel" in ctx.cache:
            out["sigma"] = ctx.cache["kernel"].sigma
        else:
            out["sigma"] = median_distance(z) if self.sigma == "median" else float(self.sigma)
        return out

    def measure(
        self, x: Tensor, y: Tensor | None = None, *, epoch: int | None = None, **extra: Any
    ) -> list[dict[str, Any]]:
        """Measure every layer on the probe set ``(x, y)``; append one record per layer and return them.

        ``extra`` (e.g. ``accuracy=0.93, run="true labels"``) is copied into each record.
        """
        n = x.shape[self.batch_dim] if -x.ndim <= self.batch_dim < x.ndim else -1
        if y is not None and y.reshape(-1).shape[0] != n:
            hint = [d for d in range(x.ndim) if x.shape[d] == y.reshape(-1).shape[0]]
            extra_hint = f"; set batch_dim={hint[0]}" if hint else ""
            raise ValueError(
                f"y has {y.reshape(-1).shape[0]} labels but the probes x of shape {tuple(x.shape)} hold {n} "
                f"along batch_dim={self.batch_dim}{extra_hint}"
            )
        embs = self.embeddings(x)
        inputs = x.movedim(self.batch_dim, 0) if self.batch_dim % x.ndim else x
        rows = []
        for layer, z in embs.items():
            row: dict[str, Any] = {"epoch": epoch, "layer": layer, **extra}
            row.update(self.measure_embeddings(z, y, inputs))
            rows.append(row)
        self.records.extend(rows)
        if self.writer is not None:  # e.g. torch.utils.tensorboard.SummaryWriter
            for row in rows:
                for key, value in row.items():
                    if isinstance(value, float) and key != "epoch":
                        self.writer.add_scalar(f"info/{row['layer']}/{key}", value, epoch)
        return rows

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        write_records(self.records, path)

    def to_json(self, path: str | os.PathLike[str]) -> None:
        write_records(self.records, path)


# ---------------------------------------------------------------------- tables


def write_records(records: Sequence[Mapping[str, Any]], path: str | os.PathLike[str]) -> None:
    """Write records as CSV (``.csv``) or JSON (``.json``), columns in first-seen order."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    if path.endswith(".json"):
        with open(path, "w", encoding="utf-8") as f:
            # strict JSON: a value that is not finite (a failed measure) is written as null
            json.dump([_json_safe(r) for r in records], f, indent=1, default=float, allow_nan=False)
        return
    columns: list[str] = []
    for r in records:
        columns.extend(k for k in r if k not in columns)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for r in records:
            writer.writerow({k: r.get(k, "") for k in columns})


def _json_safe(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(val, float) and not math.isfinite(val) else val) for k, val in record.items()}


def read_records(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read records written by :func:`write_records` (numbers parsed back to float/int)."""
    path = os.fspath(path)
    if path.endswith(".json"):
        with open(path, encoding="utf-8") as f:
            return list(json.load(f))
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            row: dict[str, Any] = {}
            for k, val in r.items():
                try:
                    num = float(val)
                    row[k] = int(num) if num.is_integer() and "." not in val and "e" not in val.lower() else num
                except (TypeError, ValueError):
                    row[k] = val
            rows.append(row)
    return rows


# ---------------------------------------------------------------------- plots


def measure_axis_label(key: str) -> str:
    """A plot label for a record column: the registry's label and unit, or the key itself."""
    try:
        m = get_measure(key)
    except ValueError:
        return key
    return f"{m.label} [{m.unit}]" if m.unit else m.label


def _series(records: Sequence[Mapping[str, Any]], key: str) -> dict[tuple[str, str], tuple[list[float], list[float]]]:
    out: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    for r in records:
        val = r.get(key)
        if val is None or val == "" or r.get("epoch") in (None, ""):
            continue
        run = str(r.get("run", ""))
        xs, ys = out.setdefault((run, str(r["layer"])), ([], []))
        xs.append(float(r["epoch"]))
        ys.append(float(val))
    return out


def plot_dynamics(
    records: Sequence[Mapping[str, Any]], path: str | os.PathLike[str], *, title: str | None = None
) -> None:
    """DSE(Z), DSMI(Z;Y), DSMI(Z;X) (and accuracy when recorded) against epoch, one line per layer
    and run (dashed for runs other than the first)."""
    plt = pyplot()
    panels = [k for k in ("dse", "dsmi_zy", "dsmi_zx", "accuracy") if any(k in r for r in records)]
    labels = {k: measure_axis_label(k) for k in panels}
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    runs = list(dict.fromkeys(str(r.get("run", "")) for r in records))
    layers = list(dict.fromkeys(str(r["layer"]) for r in records))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, key in zip(axes[0], panels, strict=True):
        if key == "accuracy":  # one line per run (the same for every layer): test solid, train dotted
            for sub, style, what in (("accuracy", "-", "test"), ("train_accuracy", ":", "train")):
                for (run, layer), (xs, ys) in _series(records, sub).items():
                    if layer != layers[0]:
                        continue
                    color = colors[runs.index(run) % len(colors)]
                    ax.plot(xs, ys, style, color=color, lw=1.6, label=f"{run} ({what})" if run else what)
        else:
            for (run, layer), (xs, ys) in _series(records, key).items():
                style = "-" if run == runs[0] else "--"
                color = colors[layers.index(layer) % len(colors)]
                ax.plot(xs, ys, style, color=color, label=f"{layer}" + (f" ({run})" if run else ""), lw=1.6)
        ax.set_xlabel("epoch")
        ax.set_ylabel(labels[key])
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, frameon=False)
    if len(panels) > 1:
        axes[0][-1].legend(fontsize=7, frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(os.fspath(path), dpi=130)
    plt.close(fig)


def plot_information_plane(
    records: Sequence[Mapping[str, Any]],
    path: str | os.PathLike[str],
    *,
    x_key: str = "dsmi_zx",
    y_key: str = "dsmi_zy",
    title: str | None = None,
) -> None:
    """The information plane: I(X; Z) against I(Z; Y) per layer, points coloured by epoch,
    one panel per run."""
    plt = pyplot()
    runs = list(dict.fromkeys(str(r.get("run", "")) for r in records))
    layers = list(dict.fromkeys(str(r["layer"]) for r in records))
    markers = "os^Dv<>p*h"
    epochs = [float(r["epoch"]) for r in records if r.get("epoch") not in (None, "")]
    vmin, vmax = (min(epochs), max(epochs)) if epochs else (0.0, 1.0)
    fig, axes = plt.subplots(1, len(runs), figsize=(4.6 * len(runs), 4.0), squeeze=False, sharex=True, sharey=True)
    scatter = None
    for ax, run in zip(axes[0], runs, strict=True):
        for i, layer in enumerate(layers):
            pts = [
                (float(r[x_key]), float(r[y_key]), float(r["epoch"]))
                for r in records
                if str(r.get("run", "")) == run
                and str(r["layer"]) == layer
                and r.get(x_key) not in (None, "")
                and r.get(y_key) not in (None, "")
            ]
            if not pts:
                continue
            xs, ys, es = zip(*pts, strict=True)
            ax.plot(xs, ys, "-", color="0.75", lw=0.8, zorder=1)
            scatter = ax.scatter(
                xs,
                ys,
                c=es,
                cmap="viridis",
                vmin=vmin,
                vmax=vmax,
                marker=markers[i % len(markers)],
                s=28,
                label=layer,
                zorder=2,
                edgecolors="none",
            )
        ax.set_xlabel(f"I(X; Z): {measure_axis_label(x_key)}")
        ax.set_ylabel(f"I(Z; Y): {measure_axis_label(y_key)}")
        if run:  # no stray title when the records name no run
            ax.set_title(run)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, frameon=False)
    if scatter is not None:
        fig.colorbar(scatter, ax=list(axes[0]), label="epoch", shrink=0.9)
    if title:
        fig.suptitle(title)
    fig.savefig(os.fspath(path), dpi=130, bbox_inches="tight")
    plt.close(fig)
