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

Cost. The probe embeddings stay on the device of the layer's output (or ``device=``), in float32
(``dtype=``; half precision is upcast, float64 stays float64), and every measure computes there;
the diffusion kernel of a layer is built once per measurement, in float64 (``kernel_dtype=``),
and shared by DSE and both DSMIs. ``width=`` maps wide layers to a stated dimension first
(:func:`reduce_width`: a seeded Gaussian random projection or PCA). Under
``torch.distributed`` with more than one process, :meth:`InformationMonitor.measure` gathers
every rank's probes (:func:`gather_rows`), so each rank records the measures of the union.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from . import _validation as v
from ._modules import eval_mode
from ._plotting import pyplot
from .measures import MeasureContext, binned_codes, get_measure, resolve_measure_names
from .spectral import median_distance
from .spectral.kernel import check_sigma

__all__ = [
    "MEASURES",
    "InformationMonitor",
    "binned_codes",
    "dynamics_panels",
    "gather_rows",
    "median_sigma",
    "plot_dynamics",
    "plot_information_plane",
    "principal_components",
    "random_projection_matrix",
    "read_records",
    "reduce_layer_output",
    "reduce_width",
    "write_records",
]

#: The monitor's default measures (any name of :func:`infotorch.measures.available_measures` works).
MEASURES = ("dse", "dsmi_zy", "dsmi_zx", "binned_mi_zy", "binned_mi_zx")


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A module-name glob as a regex: ``*`` and ``?`` stay inside one dotted segment, ``**``
    spans any number of segments (``"a.**.b"`` also matches ``"a.b"``), ``[...]`` and ``[!...]``
    are character classes as in :mod:`fnmatch` (a negated class never matches the dot)."""
    out, i, n = [], 0, len(pattern)
    while i < n:
        if pattern.startswith(".**.", i):
            out.append(r"\.(?:.*\.)?")
            i += 4
            continue
        if pattern.startswith("**.", i) and i == 0:
            out.append(r"(?:.*\.)?")
            i += 3
            continue
        if pattern.startswith(".**", i) and i + 3 == n:
            out.append(r"(?:\..*)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        ch = pattern[i]
        if ch == "*":
            out.append(r"[^.]*")
        elif ch == "?":
            out.append(r"[^.]")
        elif ch == "[":
            j = i + 1
            if j < n and pattern[j] == "!":
                j += 1
            if j < n and pattern[j] == "]":  # a leading ] is a literal, as in fnmatch
                j += 1
            end = pattern.find("]", j)
            if end < 0:
                out.append(re.escape(ch))
            else:
                body = pattern[i + 1 : end]
                negate = body.startswith("!")
                chars = (body[1:] if negate else body).replace("\\", "\\\\")
                if chars.startswith("^"):
                    chars = "\\" + chars
                out.append("[^." + chars + "]" if negate else "[" + chars + "]")
                i = end
        else:
            out.append(re.escape(ch))
        i += 1
    try:
        return re.compile("".join(out) + r"\Z")
    except re.error as exc:
        raise ValueError(f"layers: {pattern!r} is not a valid glob pattern ({exc})") from None


def _select_layers(layers: Sequence[Any], modules: Mapping[str, nn.Module]) -> dict[str, str]:
    """Submodule names from names, glob patterns (``"encoder.layers.*"``: ``*`` within one dotted
    segment, ``**`` across segments) or module types."""
    if isinstance(layers, (str, type)):
        layers = [layers]
    out: dict[str, str] = {}
    for item in layers:
        if isinstance(item, type):
            found = [k for k, m in modules.items() if k and isinstance(m, item)]
            if not found:
                raise ValueError(f"layers: the model has no submodule of type {item.__name__}")
        elif isinstance(item, str) and any(ch in item for ch in "*?[") and item not in modules:
            rx = _glob_regex(item)
            found = [k for k in modules if k and rx.match(k)]
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
        index = 0 if selector is None else selector
        if isinstance(index, bool) or not isinstance(index, int) or not -len(out) <= index < len(out):
            raise ValueError(
                f"layer {layer!r} returns a {type(out).__name__} of {len(out)} elements; output= must be an index "
                f"in [{-len(out)}, {len(out)}), got {selector!r}"
            )
        out = out[index]
    elif isinstance(out, Mapping):
        if selector is None:
            if len(out) != 1:
                raise ValueError(f"layer {layer!r} returns a dict with keys {sorted(out)}; choose one with output=KEY")
            selector = next(iter(out))
        if selector not in out:
            raise ValueError(f"layer {layer!r} returns a dict with keys {sorted(out)}; output={selector!r} is not one")
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
    if feature_dim is not None and (
        isinstance(feature_dim, bool) or not isinstance(feature_dim, int) or not -z.ndim <= feature_dim < z.ndim
    ):
        raise ValueError(
            f"feature_dim must be an integer dim of the output of layer {layer!r} (shape {shape}, batch moved to 0: "
            f"{tuple(z.shape)}), in [{-z.ndim}, {z.ndim}), got {feature_dim!r}"
        )
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


# ---------------------------------------------------------------------- width reduction

PROJECTIONS = ("random", "pca")


def _check_width(width: Any, projection: Any) -> tuple[int | None, str]:
    """``width`` (None or a positive integer) and ``projection`` ("random" or "pca"), checked."""
    if width is not None and (isinstance(width, bool) or not isinstance(width, int)):
        raise TypeError(f"width must be None or a positive integer, got {width!r}")
    if width is not None and width < 1:
        raise ValueError(f"width must be None or a positive integer, got {width!r}")
    if projection not in PROJECTIONS:
        raise ValueError(f"projection must be 'random' or 'pca', got {projection!r}")
    return width, projection


def random_projection_matrix(
    features: int, width: int, seed: int, *, dtype: torch.dtype = torch.float32, device: Any = None
) -> Tensor:
    r"""The ``(features, width)`` Gaussian matrix :math:`R_{ij} \sim \mathcal N(0, 1/\mathrm{width})`,
    drawn on the CPU from ``torch.Generator().manual_seed(seed)`` in float64 (the same numbers on
    every device and in every dtype), then cast and moved.

    With this scaling :math:`\mathbb E\,\|R^\top u\|^2 = \|u\|^2` for every ``u``, and the
    Johnson-Lindenstrauss lemma bounds the distortion of all pairwise distances of ``N`` points by
    :math:`1 \pm \varepsilon` with high probability once :math:`\mathrm{width} \ge
    4 \ln N / (\varepsilon^2/2 - \varepsilon^3/3)` (S. Dasgupta and A. Gupta, "An elementary
    proof of a theorem of Johnson and Lindenstrauss", Random Structures & Algorithms 22(1),
    60-65, 2003, https://doi.org/10.1002/rsa.10073; D. Achlioptas, "Database-friendly random
    projections: Johnson-Lindenstrauss with binary coins", J. Comput. Syst. Sci. 66(4),
    671-687, 2003, https://doi.org/10.1016/S0022-0000(03)00025-4).
    """
    gen = torch.Generator(device="cpu").manual_seed(int(seed) % 2**63)
    r = torch.randn(features, width, generator=gen, dtype=torch.float64) / math.sqrt(width)
    return r.to(device=device, dtype=dtype)


def principal_components(z: Tensor, width: int) -> tuple[Tensor, float]:
    r"""The scores of the rows of ``z`` (N, D) on their first ``min(width, N, D)`` principal axes,
    and the fraction of the total variance those axes hold.

    Exact PCA of the centred data :math:`Z_c = U S V^\top` (a thin SVD; K. Pearson, "On lines
    and planes of closest fit to systems of points in space", Phil. Mag. 2(11), 559-572, 1901,
    https://doi.org/10.1080/14786440109462720): the scores :math:`U_k S_k = Z_c V_k`, computed in
    float64 from the eigendecomposition of the smaller of :math:`Z_c Z_c^\top` (N x N) and
    :math:`Z_c^\top Z_c` (D x D) and returned in ``z``'s dtype. Pairwise distances of the scores
    are those of the projection onto the principal subspace (the signs of the axes do not matter).
    """
    z64 = z.to(torch.float64)
    zc = z64 - z64.mean(dim=0, keepdim=True)
    n, d = zc.shape
    total = float(zc.square().sum())
    if n <= d:  # the Gram matrix: eigenvalues S^2, eigenvectors U
        lam, vec = torch.linalg.eigh(zc @ zc.T)
        k = min(width, n)
        lam, vec = lam.flip(0)[:k].clamp_min(0.0), vec.flip(1)[:, :k]
        scores = vec * lam.sqrt()
    else:  # the covariance: eigenvectors V
        lam, vec = torch.linalg.eigh(zc.T @ zc)
        k = min(width, d)
        lam, vec = lam.flip(0)[:k].clamp_min(0.0), vec.flip(1)[:, :k]
        scores = zc @ vec
    explained = min(1.0, float(lam.sum()) / total) if total > 0 else 1.0
    return scores.to(z.dtype), explained


def reduce_width(z: Tensor, width: int, projection: str = "random", *, seed: int = 0) -> Tensor:
    """``z`` (N, D) mapped to ``width`` dims when ``D > width`` (unchanged otherwise).

    ``projection="random"``: ``z @ R`` with the seeded Gaussian matrix of
    :func:`random_projection_matrix` (pairwise distances preserved in expectation; the same
    matrix for the same ``seed`` and ``D``). ``"pca"``: the scores on the first ``width``
    principal axes of ``z`` itself (:func:`principal_components`; at most ``N`` columns, as ``N``
    points span at most ``N - 1`` dims).

    Examples
    --------
    >>> import torch
    >>> from infotorch.monitor import reduce_width
    >>> z = torch.randn(50, 300, generator=torch.Generator().manual_seed(0))
    >>> reduce_width(z, 16).shape, reduce_width(z, 16, "pca").shape, reduce_width(z, 500).shape
    (torch.Size([50, 16]), torch.Size([50, 16]), torch.Size([50, 300]))
    """
    checked, projection = _check_width(width, projection)
    if checked is None:
        raise TypeError("width must be a positive integer, got None")
    if not isinstance(z, Tensor) or z.ndim != 2:
        raise ValueError(
            f"z must be an (N, D) tensor, got {type(z).__name__} of shape {tuple(getattr(z, 'shape', ()))}"
        )
    if z.shape[1] <= width:
        return z
    if projection == "pca":
        return principal_components(z, width)[0]
    return z @ random_projection_matrix(z.shape[1], width, seed, dtype=z.dtype, device=z.device)


# ---------------------------------------------------------------------- torch.distributed


def _world_size() -> int:
    """The number of processes of the default ``torch.distributed`` group (1 when not initialized)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return 1
    return int(dist.get_world_size())


def _comm_device(t: Tensor) -> torch.device:
    """Where the default group's backend can exchange ``t``: its own CUDA device under NCCL,
    the current CUDA device for a CPU tensor under NCCL, the CPU otherwise (gloo, mpi)."""
    import torch.distributed as dist

    backend = str(dist.get_backend()).lower()
    if "nccl" in backend and (t.is_cuda or backend == "nccl"):
        return t.device if t.is_cuda else torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def gather_rows(t: Tensor, name: str = "tensor") -> Tensor:
    """Every rank's rows of ``t`` (n_rank, ...) concatenated in rank order, on every rank.

    The row counts may differ between ranks: they are all-gathered first, each rank's rows are
    padded to the largest count, all-gathered, and trimmed. The trailing shape and the dtype
    must be the same on every rank (a ValueError names ``name`` otherwise). A collective: every
    rank of the default group must call it. Without an initialized group of more than one
    process it returns ``t``.
    """
    import torch.distributed as dist

    world = _world_size()
    if world == 1:
        return t
    device = _comm_device(t)
    rows = t.shape[0] if t.ndim else 1
    flat = t.reshape(rows, -1)
    dtype_code = list(_DTYPE_CODES).index(t.dtype) if t.dtype in _DTYPE_CODES else -1
    meta = torch.tensor([rows, flat.shape[1], t.ndim, dtype_code], dtype=torch.int64, device=device)
    metas = [torch.empty_like(meta) for _ in range(world)]
    dist.all_gather(metas, meta)
    table = torch.stack(metas).cpu().tolist()
    if any(m[1:] != table[0][1:] for m in table) or dtype_code < 0:
        raise ValueError(
            f"{name} must have the same trailing shape and a common dtype on every rank to be gathered; "
            f"got (rows, values per row, ndim, dtype code) = {table}"
        )
    sizes = [m[0] for m in table]
    buf = torch.zeros(max(sizes), flat.shape[1], dtype=t.dtype, device=device)
    buf[:rows] = flat.to(device)
    bufs = [torch.empty_like(buf) for _ in range(world)]
    dist.all_gather(bufs, buf)
    out = torch.cat([b[:s] for b, s in zip(bufs, sizes, strict=True)])
    return out.reshape(sum(sizes), *t.shape[1:]).to(t.device)


_DTYPE_CODES = (
    torch.float16,
    torch.bfloat16,
    torch.float32,
    torch.float64,
    torch.uint8,
    torch.int8,
    torch.int16,
    torch.int32,
    torch.int64,
)


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
        DSMI's random subsets (seeded: repeated measurements are comparable); ``seed`` also
        seeds each layer's random projection (``width=``).
    dtype : torch.float32 or torch.float64
        The least precision the probe embeddings are kept in: float16/bfloat16 outputs are
        upcast to float32 (before a ``"mean"`` reduction), float64 outputs stay float64 with the
        default ``torch.float32``; ``torch.float64`` upcasts everything.
    device : str or torch.device, optional
        Where the embeddings are kept and measured (default: where each layer's output is, the
        GPU when the model is there).
    kernel_dtype : torch.float64 or torch.float32
        The dtype of the diffusion kernel of DSE/DSMI (distances, affinities, eigenvalues);
        float64 by default, so the values equal a float64 computation of the same embeddings.
    width : int, optional
        Map the embeddings of a layer wider than ``width`` to ``width`` dims before the measures
        (records then carry a ``width`` column, and ``explained_variance`` for PCA); see
        :func:`reduce_width`.
    projection : "random" or "pca"
        How: a Gaussian random projection scaled by ``1/sqrt(width)`` (fixed per layer across
        epochs, seeded from ``seed`` and the layer's name), or PCA of each measurement's probe
        embeddings (exact).
    gather : bool
        Under an initialized ``torch.distributed`` group of more than one process, gather every
        rank's probe embeddings, labels and inputs (in rank order) before measuring, so every
        rank records the measures of all probes (default True). :meth:`measure` is then a
        collective that every rank must call; pass ``gather=False`` when only one rank measures,
        or when every rank holds the same probes. Give the monitor the unwrapped model
        (``ddp_model.module``), so that the probe pass runs none of DDP's own collectives.

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
        dtype: torch.dtype = torch.float32,
        device: str | torch.device | None = None,
        kernel_dtype: torch.dtype = torch.float64,
        width: int | None = None,
        projection: str = "random",
        gather: bool = True,
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
        if feature_dim is not None and (isinstance(feature_dim, bool) or not isinstance(feature_dim, int)):
            raise TypeError(f"feature_dim must be None or an integer, got {feature_dim!r}")
        if noise_std is not None:
            noise_std = v.check_positive_number(noise_std, "noise_std")
        for name, value, least in (("n_clusters", n_clusters, 2), ("num_repetitions", num_repetitions, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an integer, got {seed!r}")
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
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
        if kernel_dtype not in (torch.float32, torch.float64):
            raise ValueError(f"kernel_dtype must be torch.float32 or torch.float64, got {kernel_dtype!r}")
        if device is not None and not isinstance(device, (str, torch.device)):
            raise TypeError(f"device must be None, a string or a torch.device, got {type(device).__name__}")
        if not isinstance(gather, bool):
            raise TypeError(f"gather must be True or False, got {gather!r}")
        self.width, self.projection = _check_width(width, projection)
        self.dtype, self.kernel_dtype, self.gather = dtype, kernel_dtype, gather
        self.device = None if device is None else torch.device(device)
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
        self._calls: dict[str, int] = {}  # forward calls of each layer in the current probe pass
        self._handles: list[Any] = []
        self._input_clusters: Tensor | None = None
        self._input_key: tuple[Any, ...] | None = None
        self._projections: dict[tuple[str, int, str, torch.dtype], Tensor] = {}

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
                self._calls[display] = self._calls.get(display, 0) + 1

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
        """Run ``x`` through the model in eval mode; the ``(N, features)`` outputs of each layer,
        on the layer's device (or ``device=``) in at least ``dtype`` (float32 by default).

        The hooks live for this pass only (unless :meth:`attach` holds them), so training
        forwards outside a measurement pay nothing and no activations are kept."""
        bd = self.batch_dim
        if not -x.ndim <= bd < x.ndim:  # before any hook or mode change
            raise ValueError(f"the probe inputs of shape {tuple(x.shape)} have no dim {bd} (batch_dim)")
        total = x.shape[bd]
        if total == 0:
            raise ValueError(f"the probe inputs of shape {tuple(x.shape)} hold no probe along batch_dim={bd}")
        temporary = not self._handles
        self.attach()
        chunks: dict[str, list[Tensor]] = {k: [] for k in self.layers}
        try:
            with eval_mode(self.model):  # frozen submodules stay in eval afterwards
                for start in range(0, total, batch_size):
                    self._captured.clear()
                    self._calls.clear()
                    self.model(x.narrow(bd, start, min(batch_size, total - start)))
                    n_batch = min(batch_size, total - start)
                    for k in self.layers:
                        if self._calls.get(k, 0) > 1:
                            raise ValueError(
                                f"layer {self.layers[k]!r} ran {self._calls[k]} times in one forward pass (one module "
                                f"used at several places, e.g. a shared activation), so which output to measure is "
                                f"ambiguous; give each use its own module and name that"
                            )
                        if k not in self._captured:
                            raise ValueError(
                                f"layer {self.layers[k]!r} produced no output in the forward pass: its forward() did not run "
                                f"(a submodule its parent uses without calling it, such as MultiheadAttention's out_proj, "
                                f"or one outside the path of these inputs); choose layers by name"
                            )
                        out = self._captured[k]
                        # upcast on the output's own device, reduce there, then move the (N, D) result
                        out = out.to(self.embedding_dtype(out.dtype))
                        z = self.reduce_output(out, n_batch, k)
                        chunks[k].append(z if self.device is None else z.to(self.device))
        finally:
            self._captured.clear()
            if temporary:
                self.detach()
        return {k: torch.cat(v) if len(v) > 1 else v[0] for k, v in chunks.items()}

    def embedding_dtype(self, dtype: torch.dtype) -> torch.dtype:
        """The dtype an output of ``dtype`` is kept in: at least ``self.dtype`` (float32)."""
        return torch.promote_types(dtype, self.dtype) if dtype.is_floating_point else self.dtype

    def reduce_output(self, out: Tensor, n_probes: int, layer: str = "layer") -> Tensor:
        """One layer's output as ``(n_probes, features)``: the batch at ``batch_dim``, then
        ``reduction`` ("flatten"; "mean" over positions; ``("token", i)``: position ``i``)."""
        return reduce_layer_output(out, n_probes, self.batch_dim, self.reduction, self.feature_dim, layer)

    # ------------------------------------------------------------------ measurements
    @staticmethod
    def _inputs_key(x: Tensor) -> tuple[Any, ...]:
        raw = x.detach().cpu().contiguous().reshape(-1).view(torch.uint8)  # the bytes of any dtype
        return (tuple(x.shape), x.dtype, hash(raw.numpy().tobytes()))

    def project(self, layer: str, z: Tensor) -> tuple[Tensor, dict[str, Any]]:
        """``z`` (N, D) of ``layer`` reduced to ``width`` dims as configured, and the record
        columns that say so (``width``; ``explained_variance`` for PCA); ``z`` and no columns
        when ``width`` is None. The random projection of a layer is drawn once (seed: ``seed``
        and the layer's name) and reused while ``D`` stays the same."""
        if self.width is None:
            return z, {}
        if z.shape[1] <= self.width:
            return z, {"width": int(z.shape[1])}
        if self.projection == "pca":
            scores, explained = principal_components(z, self.width)
            return scores, {"width": int(scores.shape[1]), "explained_variance": explained}
        key = (layer, int(z.shape[1]), str(z.device), z.dtype)
        if key not in self._projections:
            seed = (int(self.seed) * 0x9E3779B1 + zlib.crc32(layer.encode("utf-8"))) % 2**63
            self._projections[key] = random_projection_matrix(
                z.shape[1], self.width, seed, dtype=z.dtype, device=z.device
            )
        return z @ self._projections[key], {"width": self.width}

    def measure_embeddings(self, z: Tensor, y: Tensor | None = None, x: Tensor | None = None) -> dict[str, float]:
        """The configured measures of one layer's embeddings ``z`` (N, D), on ``z``'s device (or
        ``device=``): one :class:`~infotorch.measures.MeasureContext`, so DSE and both DSMIs
        share one kernel (built in ``kernel_dtype``). Measures whose needs (labels, inputs) are
        not given are skipped. No width reduction here: :meth:`measure` applies :meth:`project`
        first."""
        out: dict[str, float] = {}
        z = z.detach()
        if self.device is not None:
            z = z.to(self.device)
        z = z.to(self.embedding_dtype(z.dtype))
        if not bool(torch.isfinite(z).all()):
            raise ValueError(
                f"the embeddings of shape {tuple(z.shape)} hold NaN or inf values (a diverged layer?); "
                f"nothing can be measured on them"
            )
        ctx = MeasureContext(
            z,
            labels=None if y is None else y.detach(),
            inputs=None if x is None else x.detach(),
            sigma=self.sigma,
            t=self.t,
            bins=self.bins,
            n_clusters=self.n_clusters,
            num_repetitions=self.num_repetitions,
            seed=self.seed,
            noise_std=self.noise_std,
            kernel_dtype=self.kernel_dtype,
        )
        key = None
        if x is not None and any("inputs" in get_measure(m).needs for m in self.measures):
            # the inputs' clusters are computed once, by the first measure that asks for them
            key = self._inputs_key(x)
            if self._input_key == key:
                ctx.input_clusters = self._input_clusters
        out["sigma"] = math.nan  # first column; the value below, once the measures have run
        for name in self.measures:
            measure = get_measure(name)
            if all(getattr(ctx, need) is not None for need in measure.needs):
                out[name] = measure.compute(ctx)
        if key is not None and ctx.input_clusters is not None:
            self._input_clusters, self._input_key = ctx.input_clusters, key
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

        Under an initialized ``torch.distributed`` group of more than one process (and
        ``gather=True``) this is a collective: every rank calls it with its own probes (any
        number, at least one; ``y`` given on all ranks or on none), the embeddings, labels and
        (when a measure needs them) inputs of all ranks are gathered in rank order
        (:func:`gather_rows`), and every rank computes and records the measures of the union, the
        same values as one process measuring the concatenated probes. Give ``writer`` on one
        rank only to log once.
        """
        n = x.shape[self.batch_dim] if -x.ndim <= self.batch_dim < x.ndim else -1
        if y is not None and y.reshape(-1).shape[0] != n:
            hint = [d for d in range(x.ndim) if x.shape[d] == y.reshape(-1).shape[0]]
            extra_hint = f"; set batch_dim={hint[0]}" if hint else ""
            raise ValueError(
                f"y has {y.reshape(-1).shape[0]} labels but the probes x of shape {tuple(x.shape)} hold {n} "
                f"along batch_dim={self.batch_dim}{extra_hint}"
            )
        reserved = {"epoch", "layer", "sigma", "width", "explained_variance", *self.measures}
        clash = sorted(k for k in extra if k in reserved)
        if clash:
            raise ValueError(f"measure(**extra): {clash} are columns of the record itself; choose other names")
        embs = self.embeddings(x)
        inputs = x.movedim(self.batch_dim, 0) if self.batch_dim % x.ndim else x
        labels: Tensor | None = y
        inputs_or_none: Tensor | None = inputs
        if self.gather and _world_size() > 1:
            embs, labels, inputs_or_none = self._gathered(embs, y, inputs)
        rows = []
        for layer, z in embs.items():
            row: dict[str, Any] = {"epoch": epoch, "layer": layer, **extra}
            z, columns = self.project(layer, z)
            row.update(columns)
            try:
                row.update(self.measure_embeddings(z, labels, inputs_or_none))
            except ValueError as exc:
                raise ValueError(f"layer {layer!r}: {exc}") from None
            rows.append(row)
        self.records.extend(rows)
        if self.writer is not None:  # e.g. torch.utils.tensorboard.SummaryWriter
            for row in rows:
                for key, value in row.items():
                    if isinstance(value, float) and key != "epoch":
                        self.writer.add_scalar(f"info/{row['layer']}/{key}", value, epoch)
        return rows

    def _gathered(
        self, embs: dict[str, Tensor], y: Tensor | None, inputs: Tensor
    ) -> tuple[dict[str, Tensor], Tensor | None, Tensor | None]:
        """Every rank's embeddings, labels and inputs (None when no measure needs them),
        concatenated in rank order."""
        has_y = torch.tensor([0 if y is None else 1])
        flags = gather_rows(has_y, "the presence of labels").tolist()
        if len(set(flags)) > 1:
            raise ValueError(f"y must be given on every rank or on none; ranks with labels: {flags}")
        labels = None if y is None else gather_rows(y.reshape(-1), "y")
        needed = any("inputs" in get_measure(m).needs for m in self.measures)
        gathered = gather_rows(inputs, "x") if needed else None
        return {k: gather_rows(z, f"the embeddings of layer {k!r}") for k, z in embs.items()}, labels, gathered

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """Write the records as CSV, whatever the file's suffix."""
        write_records(self.records, path, format="csv")

    def to_json(self, path: str | os.PathLike[str]) -> None:
        """Write the records as JSON (non-finite values as null), whatever the file's suffix."""
        write_records(self.records, path, format="json")


# ---------------------------------------------------------------------- tables


def _format_of(path: str, format: str | None) -> str:
    if format is None:
        return "json" if path.lower().endswith(".json") else "csv"
    if format not in ("csv", "json"):
        raise ValueError(f"format must be None, 'csv' or 'json', got {format!r}")
    return format


def write_records(
    records: Sequence[Mapping[str, Any]], path: str | os.PathLike[str], *, format: str | None = None
) -> None:
    """Write records as CSV or JSON, columns in first-seen order; ``format=None`` chooses by the
    suffix (``.json``, any case: JSON; otherwise CSV)."""
    path = os.fspath(path)
    fmt = _format_of(path, format)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    if fmt == "json":
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


#: Record columns that hold names, never parsed as numbers.
_TEXT_COLUMNS = ("layer", "run")


def read_records(path: str | os.PathLike[str], *, format: str | None = None) -> list[dict[str, Any]]:
    """Read records written by :func:`write_records` (numbers parsed back to float/int; the
    ``layer`` and ``run`` columns stay text)."""
    path = os.fspath(path)
    if _format_of(path, format) == "json":
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise ValueError(f"{path!r} must hold a JSON list of records (objects), got {type(data).__name__}")
        return data
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        for line, r in enumerate(csv.DictReader(f), start=2):
            if None in r:
                raise ValueError(f"{path!r} line {line} has more cells than the header names")
            row: dict[str, Any] = {}
            for k, val in r.items():
                if k in _TEXT_COLUMNS:
                    row[k] = val
                    continue
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
    """Per (run, layer): x (the epoch; a record without one is placed by its order among that
    layer's records) and the values of ``key``."""
    out: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    order: dict[tuple[str, str], int] = {}
    for r in records:
        series = (str(r.get("run", "")), str(r["layer"]))
        j = order[series] = order.get(series, -1) + 1
        val = r.get(key)
        if val is None or val == "":
            continue
        xs, ys = out.setdefault(series, ([], []))
        xs.append(float(r["epoch"]) if r.get("epoch") not in (None, "") else float(j))
        ys.append(float(val))
    return out


def dynamics_panels(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """The columns :func:`plot_dynamics` draws: the default measures first, then any other
    registered measure recorded, then accuracy (when recorded)."""
    from .measures import available_measures

    present = {k for r in records for k in r}
    names = [*MEASURES, *(m for m in available_measures() if m not in MEASURES)]
    return [k for k in names if k in present] + (["accuracy"] if "accuracy" in present else [])


def plot_dynamics(
    records: Sequence[Mapping[str, Any]], path: str | os.PathLike[str], *, title: str | None = None
) -> None:
    """Every recorded measure (DSE(Z), DSMI(Z;Y), DSMI(Z;X), ..., see :func:`dynamics_panels`) and
    accuracy when recorded, against epoch, one line per layer and run (dashed for runs other than
    the first). Records without an epoch are placed by their order among their layer's records."""
    panels = dynamics_panels(records)
    if not panels:
        raise ValueError("the records hold no measure or accuracy column to plot")
    plt = pyplot()
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
    usable = [r for r in records if r.get(x_key) not in (None, "") and r.get(y_key) not in (None, "")]
    if not usable:
        raise ValueError(f"the records hold no row with both {x_key!r} and {y_key!r} to plot")
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
                # a record without an epoch is placed by its order among the layer's records
                (float(r[x_key]), float(r[y_key]), float(r["epoch"]) if r.get("epoch") not in (None, "") else float(j))
                for j, r in enumerate(records)
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
