"""torchmetrics ``Metric`` classes: streaming, DDP-synced information measures.

* Embedding metrics (:class:`DiffusionSpectralEntropy`, :class:`DiffusionSpectralMutualInformation`,
  :class:`MatrixRenyiEntropy`) keep a bounded, seeded reservoir of at most ``max_samples`` rows
  (Vitter's algorithm R) per process; under DDP the reservoirs are gathered at ``compute()``
  (rank order) and, if their union exceeds ``max_samples``, subsampled with the same seed. When
  the whole data fits (``N <= max_samples``), the metric over the shards equals the metric over
  the whole data concatenated in rank order.
* Classical metrics keep fixed-size sufficient statistics summed across processes
  (:class:`Entropy`: the sum of per-sample entropies; :class:`DiscreteMutualInformation`: a joint
  count table).

Every ``update`` accepts and ignores arguments it does not use (``update(preds, target)`` from a
``MetricCollection`` beside ``Accuracy``), as torchmetrics' own metrics do. The kernel bandwidth
of the spectral metrics defaults to ``"median"`` (the median pairwise distance of the gathered
embeddings, the monitor's rule); a number fixes it.

Needs ``pip install 'infotorch[metrics]'`` (torchmetrics).
"""

from __future__ import annotations

import math
import numbers
from typing import Any, cast

import torch
from torch import Tensor

try:
    from torchmetrics import Metric
    from torchmetrics.utilities import dim_zero_cat
except ImportError:  # pragma: no cover - depends on the environment
    raise ImportError("infotorch.metrics needs torchmetrics: pip install 'infotorch[metrics]'") from None

from .. import _validation as v
from .. import discrete
from ..counts import ENTROPY_ESTIMATORS, mutual_information_from_counts
from ..spectral import (
    cluster_references,
    diffusion_spectral_entropy,
    diffusion_spectral_mutual_information,
    matrix_renyi_entropy,
    median_distance,
)
from ..spectral.kernel import check_sigma

__all__ = [
    "DiffusionSpectralEntropy",
    "DiffusionSpectralMutualInformation",
    "DiscreteMutualInformation",
    "Entropy",
    "MatrixRenyiEntropy",
]


def _check_sigma(sigma: Any) -> float | str:
    return check_sigma(sigma, "gaussian_kernel_sigma")


def _resolve_sigma(sigma: float | str, z: Tensor) -> float:
    return median_distance(z) if sigma == "median" else float(sigma)


class _ReservoirMetric(Metric):
    """Accumulates rows of ``z`` (and of an optional reference ``y``) in a seeded reservoir."""

    # forward() updates the global state itself rather than merging a batch's state into it:
    # merging would concatenate reservoirs past max_samples
    full_state_update = True
    is_differentiable = False
    higher_is_better = None
    seen: Tensor
    max_samples: int
    seed: int
    _gen: torch.Generator

    _paired = False  # whether the metric keeps a reference ``y`` beside ``z``

    def __init__(self, max_samples: int = 2000, seed: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(max_samples, bool) or not isinstance(max_samples, numbers.Integral) or max_samples < 2:
            raise ValueError(f"max_samples must be an integer >= 2, got {max_samples!r}")
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise TypeError(f"seed must be an integer, got {seed!r}")
        self.max_samples = int(max_samples)
        self.seed = int(seed)
        self.add_state("z", default=[], dist_reduce_fx="cat")
        if self._paired:
            self.add_state("y", default=[], dist_reduce_fx="cat")
        self.add_state("seen", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
        # torchmetrics' compute groups share the states of metrics whose states are equal after
        # the first update; the reservoir's configuration is a state too, so that only reservoirs
        # that stay equal (same size and seed) are shared.
        self.add_state(
            "reservoir_config",
            default=torch.tensor([self.max_samples, self.seed], dtype=torch.long),
            dist_reduce_fx="max",
        )
        self._gen = torch.Generator().manual_seed(self.seed)

    def reset(self) -> None:
        """Empty the reservoir and re-seed its generator: a reset metric equals a fresh one."""
        super().reset()
        if not getattr(self, "_in_forward", False):  # forward() resets to compute a batch value
            self._gen = torch.Generator().manual_seed(self.seed)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The batch's value, with the batch also added to the reservoir (torchmetrics' forward);
        the generator's stream continues across it (its internal reset does not re-seed)."""
        self._in_forward = True
        try:
            return super().forward(*args, **kwargs)
        finally:
            self._in_forward = False

    def merge_state(self, incoming_state: Any) -> None:
        """Merge another metric's reservoir (a metric of this class, or a dict of its states, as
        torchmetrics' ``merge_state``), then keep a seeded uniform subset of ``max_samples`` rows
        of the union."""
        if isinstance(incoming_state, Metric):
            incoming_state = {name: getattr(incoming_state, name) for name in self._defaults}
        if not isinstance(incoming_state, dict) or "z" not in incoming_state:
            raise TypeError(f"incoming_state must be a {type(self).__name__} or a dict of its states")
        for name in ("z", "y") if self._paired else ("z",):
            part = incoming_state[name]
            self._list(name).extend(list(part) if isinstance(part, list) else [part])
        self.seen = self.seen + incoming_state["seen"]
        self._shrink()

    def _shrink(self) -> None:
        """A reservoir above ``max_samples`` rows (after a merge) cut to a seeded uniform subset."""
        zs_list = self._list("z")
        held = sum(t.shape[0] for t in zs_list)
        if held <= self.max_samples:
            return
        idx = torch.randperm(held, generator=self._gen)[: self.max_samples].sort().values
        zs_list[:] = [torch.cat(zs_list)[idx.to(zs_list[0].device)]]
        if self._paired:
            ys_list = self._list("y")
            if ys_list:
                ys_list[:] = [torch.cat(ys_list)[idx.to(ys_list[0].device)]]

    def _list(self, name: str) -> list[Tensor]:
        return cast(list[Tensor], getattr(self, name))

    def _reservoir_update(self, z: Tensor, y: Tensor | None) -> None:
        if not isinstance(z, Tensor) or z.ndim == 0:
            raise ValueError(f"z must be a batch of embeddings (N, ...), got {z!r:.60}")
        if self._paired and y is None:
            raise ValueError(f"{type(self).__name__}.update() needs the references y beside z")
        if z.shape[0] == 0:  # an empty batch adds nothing
            return
        z = z.detach().reshape(z.shape[0], -1)
        held_list = self._list("z")
        if held_list and held_list[0].shape[1] != z.shape[1]:
            raise ValueError(
                f"z must keep its feature width across updates: {held_list[0].shape[1]} before, {z.shape[1]} now"
            )
        if (
            y is not None
            and self._list("y")
            and self._list("y")[0].shape[1:] != y.detach().reshape(y.shape[0], -1).shape[1:]
        ):
            raise ValueError("y must keep its shape across updates")
        if y is not None:
            y = y.detach().reshape(y.shape[0], -1)
            if y.shape[0] != z.shape[0]:
                raise ValueError(f"z and y must have the same number of rows, got {z.shape[0]} and {y.shape[0]}")
        self._shrink()
        zs_list = self._list("z")
        ys_list = self._list("y") if self._paired else []
        held = sum(t.shape[0] for t in zs_list)
        room = max(0, self.max_samples - held)
        seen = self.seen
        n0 = int(seen)
        take = min(room, z.shape[0])
        if take > 0:
            zs_list.append(z[:take])
            if y is not None:
                ys_list.append(y[:take])
        rest = z.shape[0] - take
        if rest > 0:  # algorithm R: item i (0-based, global) replaces a random slot with prob. max/(i+1)
            zs = torch.cat(zs_list)
            ys = torch.cat(ys_list) if y is not None else None
            # all draws of the batch at once: slot_j uniform in [0, i_j] for global index i_j
            pos = torch.arange(take, z.shape[0])
            u = torch.rand(rest, generator=self._gen, dtype=torch.float64)
            slots = torch.floor(u * (n0 + pos + 1).to(torch.float64)).long()
            keep = slots < self.max_samples
            if bool(keep.any()):
                kept_slots, kept_pos = slots[keep], pos[keep]
                # several rows of one batch may draw the same slot: the last one wins, as in the
                # sequential algorithm
                uniq, inverse = torch.unique(kept_slots, return_inverse=True)
                last = torch.full((uniq.numel(),), -1, dtype=torch.long).scatter_reduce(
                    0, inverse, kept_pos, reduce="amax"
                )
                zs[uniq.to(zs.device)] = z[last.to(z.device)]
                if ys is not None and y is not None:
                    ys[uniq.to(ys.device)] = y[last.to(y.device)]
            zs_list[:] = [zs]
            ys_list[:] = [ys] if ys is not None else []
        self.seen = seen + z.shape[0]

    def _gathered(self) -> tuple[Tensor, Tensor | None]:
        z_state: Any = self.z
        y_state: Any = self.y if self._paired else []
        if isinstance(z_state, list) and not z_state:
            raise ValueError(f"{type(self).__name__}.compute() called before any update()")
        z = dim_zero_cat(z_state)
        y = dim_zero_cat(y_state) if (isinstance(y_state, Tensor) or len(y_state)) else None
        if z.shape[0] > self.max_samples:
            gen = torch.Generator().manual_seed(self.seed)
            idx = torch.randperm(z.shape[0], generator=gen)[: self.max_samples].sort().values.to(z.device)
            z = z[idx]
            y = y[idx] if y is not None else None
        return z, y


class DiffusionSpectralEntropy(_ReservoirMetric):
    """DSE of the accumulated embeddings, in bits; see :func:`infotorch.spectral.diffusion_spectral_entropy`.

    Examples
    --------
    >>> import torch
    >>> from infotorch.metrics import DiffusionSpectralEntropy
    >>> m = DiffusionSpectralEntropy(gaussian_kernel_sigma=1.0, max_samples=500)
    >>> for batch in torch.randn(4, 50, 8, generator=torch.Generator().manual_seed(0)):
    ...     m.update(batch)
    >>> bool(0 < m.compute() < torch.log2(torch.tensor(200.0)))
    True
    """

    def __init__(
        self,
        gaussian_kernel_sigma: float | str = "median",
        t: float = 1,
        max_samples: int = 2000,
        seed: int = 0,
        dtype: torch.dtype = torch.float64,
        **kwargs: Any,
    ) -> None:
        super().__init__(max_samples=max_samples, seed=seed, **kwargs)
        self.sigma, self.t, self.compute_dtype = _check_sigma(gaussian_kernel_sigma), t, dtype

    def update(self, z: Tensor, *_unused: Any, **_unused_kw: Any) -> None:
        self._reservoir_update(z, None)

    def compute(self) -> Tensor:
        z, _ = self._gathered()
        return diffusion_spectral_entropy(
            z, _resolve_sigma(self.sigma, z), self.t, seed=self.seed, dtype=self.compute_dtype
        ).to(torch.float64)


class DiffusionSpectralMutualInformation(_ReservoirMetric):
    """DSMI(Z; Y) of the accumulated pairs, in bits; ``y``: class labels (integers) or reference
    vectors (clustered into ``n_clusters`` as dse-dsmi does).

    Examples
    --------
    >>> import torch
    >>> from infotorch.metrics import DiffusionSpectralMutualInformation
    >>> m = DiffusionSpectralMutualInformation(gaussian_kernel_sigma=1.0)
    >>> y = torch.arange(90) % 3
    >>> m.update(torch.randn(90, 2) * 0.1 + 5 * torch.nn.functional.one_hot(y, 3)[:, :2], y)
    >>> bool(m.compute() > 1.0)
    True
    """

    def __init__(
        self,
        gaussian_kernel_sigma: float | str = "median",
        t: float = 1,
        num_repetitions: int = 5,
        n_clusters: int = 10,
        max_samples: int = 2000,
        seed: int = 0,
        dtype: torch.dtype = torch.float64,
        **kwargs: Any,
    ) -> None:
        super().__init__(max_samples=max_samples, seed=seed, **kwargs)
        self.sigma, self.t, self.compute_dtype = _check_sigma(gaussian_kernel_sigma), t, dtype
        self.num_repetitions, self.n_clusters = num_repetitions, n_clusters

    _paired = True

    def update(self, z: Tensor, y: Tensor, *_unused: Any, **_unused_kw: Any) -> None:
        self._reservoir_update(z, y)

    def compute(self) -> Tensor:
        z, y = self._gathered()
        if y is None:
            raise ValueError("DiffusionSpectralMutualInformation.update() needs the references y beside z")
        ref = y.reshape(-1) if y.shape[1] == 1 else y
        labels = cluster_references(ref.cpu(), self.n_clusters)
        mi = diffusion_spectral_mutual_information(
            z,
            labels,
            _resolve_sigma(self.sigma, z),
            self.t,
            num_repetitions=self.num_repetitions,
            seed=self.seed,
            dtype=self.compute_dtype,
        )
        return mi.to(torch.float64)


class MatrixRenyiEntropy(_ReservoirMetric):
    """Matrix-based Rényi α-entropy of the accumulated embeddings, in bits."""

    def __init__(
        self, alpha: float = 2.0, sigma: float = 1.0, max_samples: int = 2000, seed: int = 0, **kwargs: Any
    ) -> None:
        super().__init__(max_samples=max_samples, seed=seed, **kwargs)
        self.alpha, self.sigma = float(alpha), float(sigma)

    def update(self, z: Tensor, *_unused: Any, **_unused_kw: Any) -> None:
        self._reservoir_update(z, None)

    def compute(self) -> Tensor:
        z, _ = self._gathered()
        return matrix_renyi_entropy(z.to(torch.float64), alpha=self.alpha, sigma=self.sigma)


class Entropy(Metric):
    """Mean Shannon entropy of predicted distributions (probabilities or ``logits=True``), streamed
    as a sum and a count; ``base`` as :func:`infotorch.entropy`.

    Examples
    --------
    >>> import torch
    >>> from infotorch.metrics import Entropy
    >>> m = Entropy(logits=True, base=2)
    >>> m.update(torch.zeros(5, 4)); m.update(torch.zeros(3, 4))
    >>> m.compute()
    tensor(2., dtype=torch.float64)
    """

    full_state_update = False
    is_differentiable = False
    higher_is_better = None
    total: Tensor
    count: Tensor

    def __init__(self, logits: bool = False, base: float | str | None = math.e, dim: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        v.check_base(base)
        self.logits, self.base, self.dim = logits, base, dim
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, x: Tensor, *_unused: Any, **_unused_kw: Any) -> None:
        kw: dict[str, Any] = {"logits": x} if self.logits else {"p": x}
        h = discrete.entropy(dim=self.dim, base=self.base, **kw).detach().to(torch.float64)
        self.total = self.total + h.sum().to(self.total.device)
        self.count = self.count + h.numel()

    def compute(self) -> Tensor:
        if int(self.count) == 0:
            raise ValueError("Entropy.compute() called before any update()")
        return self.total / self.count


class DiscreteMutualInformation(Metric):
    """Mutual information of paired labels in ``[0, num_x) × [0, num_y)``, streamed as a joint
    count table (exact across batches and processes): ``update`` adds counts, ``compute`` is
    :func:`infotorch.mutual_information_from_counts` of the table with ``estimator`` (any name of
    :data:`infotorch.ENTROPY_ESTIMATORS`; ``bias_correction="miller-madow"`` is an alias of
    ``estimator="miller-madow"``), ``base`` as :func:`infotorch.mutual_information`."""

    full_state_update = False
    is_differentiable = False
    higher_is_better = None
    counts: Tensor

    def __init__(
        self,
        num_x: int,
        num_y: int,
        base: float | str | None = math.e,
        bias_correction: str | None = None,
        *,
        estimator: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if bias_correction not in (None, "miller-madow"):
            raise ValueError(f"bias_correction must be None or 'miller-madow', got {bias_correction!r}")
        if estimator is not None and bias_correction is not None and estimator != bias_correction:
            raise ValueError(f"give estimator or bias_correction, not both (got {estimator!r} and {bias_correction!r})")
        chosen = estimator or bias_correction or "plugin"
        v.check_choice(chosen, ENTROPY_ESTIMATORS, "estimator")
        for name, value in (("num_x", num_x), ("num_y", num_y)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be a positive integer (the number of classes), got {value!r}")
        self.num_x, self.num_y, self.base, self.estimator = int(num_x), int(num_y), base, chosen
        self.add_state("counts", default=torch.zeros(self.num_x, self.num_y, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, x: Tensor, y: Tensor, *_unused: Any, **_unused_kw: Any) -> None:
        x, y = v.ensure_tensor(x, "x"), v.ensure_tensor(y, "y")
        for name, t in (("x", x), ("y", y)):
            if t.is_complex() or (t.is_floating_point() and not bool((t == t.round()).all())):
                raise ValueError(
                    f"{name} must hold integer class labels, got values such as {t.reshape(-1)[:3].tolist()}"
                )
        x, y = x.reshape(-1).long(), y.reshape(-1).long()
        if x.shape != y.shape:
            raise ValueError(f"x and y must hold the same number of labels, got {x.shape[0]} and {y.shape[0]}")
        if x.numel() and (
            int(x.min()) < 0 or int(x.max()) >= self.num_x or int(y.min()) < 0 or int(y.max()) >= self.num_y
        ):
            raise ValueError(f"labels must lie in [0, {self.num_x}) and [0, {self.num_y})")
        flat = x * self.num_y + y
        counts = self.counts
        table = torch.bincount(flat, minlength=self.num_x * self.num_y).reshape(self.num_x, self.num_y)
        self.counts = counts + table.to(counts)

    def compute(self) -> Tensor:
        if float(self.counts.sum()) == 0:
            raise ValueError("DiscreteMutualInformation.compute() called before any update()")
        return mutual_information_from_counts(self.counts, estimator=self.estimator, base=self.base)
