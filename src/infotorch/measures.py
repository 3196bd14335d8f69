"""One registry of the measures the monitor, the command line, the callbacks and the plots offer.

Each :class:`Measure` has one canonical name (``"dse"``, ``"dsmi_zy"``, ...), a label for plots
and tables, its unit, what it needs besides the embeddings (``"labels"`` and/or ``"inputs"``),
and a function of a :class:`MeasureContext`. The context holds one layer's embeddings and the
shared options, and builds what several measures use once: the diffusion kernel
(:class:`~infotorch.spectral.DiffusionKernel`), the clusters of the inputs, the binned codes.
So DSE and both DSMIs of a layer cost one kernel.

Add your own with :func:`register_measure`; it then appears in ``InformationMonitor(measures=)``,
``infotorch measure --measure`` and the plot labels:

>>> import torch
>>> from infotorch.measures import MeasureContext, register_measure, get_measure, unregister_measure
>>> m = register_measure("mean_norm", lambda ctx: ctx.z.norm(dim=1).mean(), label="mean |z|", unit="")
>>> float(get_measure("mean_norm").compute(MeasureContext(torch.ones(4, 9))))
3.0
>>> unregister_measure("mean_norm")
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from . import _validation as v
from .discrete import entropy_from_samples, mutual_information_from_samples
from .knn import knn_entropy, knn_mutual_information_discrete, mutual_information_continuous
from .spectral import (
    DiffusionKernel,
    adaptive_diffusion_spectral_entropy,
    binned_shannon_entropy,
    cluster_references,
    matrix_renyi_entropy,
)

__all__ = [
    "Measure",
    "MeasureContext",
    "available_measures",
    "binned_codes",
    "get_measure",
    "noisy_channel_mutual_information",
    "register_measure",
    "resolve_measure_names",
    "unregister_measure",
]

_NEEDS = ("labels", "inputs")


@dataclass(frozen=True)
class Measure:
    """A registered measure: ``fn(ctx) -> float | Tensor`` of a :class:`MeasureContext`."""

    name: str
    fn: Callable[[MeasureContext], Any]
    label: str
    unit: str = "bits"
    needs: tuple[str, ...] = ()
    description: str = ""
    aliases: tuple[str, ...] = ()

    def compute(self, ctx: MeasureContext) -> float:
        """The measure's value on ``ctx`` as a Python float (NaN is refused)."""
        missing = [n for n in self.needs if getattr(ctx, n) is None]
        if missing:
            raise ValueError(f"measure {self.name!r} needs {' and '.join(missing)}")
        value = float(self.fn(ctx))
        if math.isnan(value):
            raise ValueError(f"measure {self.name!r} returned NaN on embeddings of shape {tuple(ctx.z.shape)}")
        return value


@dataclass
class MeasureContext:
    """One layer's embeddings ``z`` (N, D), optional ``labels`` (N,) and ``inputs`` (N, ...), the
    options the measures share, and a cache of what they share (the kernel, the clusters).

    ``sigma`` ("median" or a number) and ``t`` configure the diffusion kernel; ``bins`` the
    binned estimates; ``n_clusters`` the clustering of the inputs (DSMI(Z; X)); ``num_repetitions``
    and ``seed`` DSMI's random subsets; ``max_n`` subsamples the entropies above that many points
    (dse-dsmi's draw, ``random.Random(seed).sample``); ``noise_std`` is the std of the additive
    Gaussian noise of a noisy layer (for ``noisy_mi_zx``); ``input_clusters`` may be given to
    reuse clusters across calls. ``kernel_dtype`` is the dtype the diffusion kernel (distances,
    affinities, eigenvalues) is built in: ``None`` (default) computes in the embeddings' dtype,
    ``torch.float64`` upcasts float32 embeddings for the kernel only (the monitor's choice). The
    labels are moved to the embeddings' device; every measure computes there.
    """

    z: Tensor
    labels: Tensor | None = None
    inputs: Tensor | None = None
    sigma: float | str = "median"
    t: float = 1
    bins: int = 30
    n_clusters: int = 10
    num_repetitions: int = 5
    seed: int = 0
    max_n: int | None = None
    noise_std: float | None = None
    solver: str = "exact"
    max_block: int | None = 10000
    input_clusters: Tensor | None = None
    kernel_dtype: torch.dtype | None = None
    cache: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        z = v.ensure_tensor(self.z, "z")
        if z.ndim == 0:
            raise ValueError("z must be a batch of embeddings (N, ...), got a scalar")
        if z.ndim == 1:
            z = z.unsqueeze(-1)
        if z.ndim != 2:
            z = z.reshape(z.shape[0], -1)
        if not bool(torch.isfinite(z).all()):
            raise ValueError(f"z (the embeddings, shape {tuple(z.shape)}) must be finite: it holds NaN or inf values")
        if self.max_n is not None and (
            isinstance(self.max_n, bool) or not isinstance(self.max_n, int) or self.max_n < 2
        ):
            raise ValueError(f"max_n must be None or an integer >= 2, got {self.max_n!r}")
        self.z = z.detach()
        if self.inputs is not None:
            inputs = v.ensure_tensor(self.inputs, "inputs")
            if inputs.is_floating_point() and not bool(torch.isfinite(inputs).all()):
                raise ValueError(f"inputs (shape {tuple(inputs.shape)}) must be finite: they hold NaN or inf values")
            if inputs.ndim == 0 or inputs.shape[0] != z.shape[0]:
                raise ValueError(
                    f"inputs must hold one row per embedding: shape {tuple(inputs.shape)} for {z.shape[0]} embeddings"
                )
            self.inputs = inputs
        if self.kernel_dtype not in (None, torch.float32, torch.float64):
            raise ValueError(f"kernel_dtype must be None, torch.float32 or torch.float64, got {self.kernel_dtype!r}")
        if self.labels is not None:
            lab = v.ensure_tensor(self.labels, "labels").reshape(-1)
            if lab.is_floating_point() and not bool((torch.isfinite(lab) & (lab == lab.round())).all()):
                raise ValueError("labels must be integer class labels (finite whole numbers)")
            if lab.shape[0] != self.z.shape[0]:
                raise ValueError(f"labels must hold one label per embedding: {lab.shape[0]} for {self.z.shape[0]}")
            self.labels = lab.long().to(self.z.device)

    # ------------------------------------------------------------------ shared pieces
    def entropy_points(self) -> Tensor:
        """The embeddings the entropies use: all of them, or ``max_n`` drawn as dse-dsmi draws."""
        if "entropy_points" not in self.cache:
            z = self.z
            if self.max_n is not None and z.shape[0] > self.max_n:
                import random

                pick = random.Random(self.seed).sample(range(z.shape[0]), k=int(self.max_n))
                z = z[torch.as_tensor(pick, device=z.device)]
            self.cache["entropy_points"] = z
        return self.cache["entropy_points"]

    def kernel(self, *, subsampled: bool = False) -> DiffusionKernel:
        """The diffusion kernel of the embeddings (built once per context)."""
        pts = self.entropy_points() if subsampled else self.z
        key = "kernel_sub" if subsampled and pts is not self.z else "kernel"
        if key not in self.cache:
            self.cache[key] = DiffusionKernel.from_points(pts, self.sigma, dtype=self.kernel_dtype)
        return self.cache[key]

    def clusters_of_inputs(self) -> Tensor:
        """``n_clusters`` clusters of the inputs (as dse-dsmi clusters vector references)."""
        if self.input_clusters is None:
            if self.inputs is None:
                raise ValueError("the inputs are needed to cluster them")
            flat = self.inputs.detach().reshape(self.inputs.shape[0], -1).to("cpu", torch.float64)
            self.input_clusters = cluster_references(flat, self.n_clusters)
        return self.input_clusters

    def codes(self) -> Tensor:
        """One integer symbol per embedding: each unit cut into ``bins`` equal bins."""
        if "codes" not in self.cache:
            self.cache["codes"] = binned_codes(self.z, self.bins)
        return self.cache["codes"]


def binned_codes(z: Tensor, bins: int = 30) -> Tensor:
    """One integer symbol per row: each unit cut into ``bins`` equal bins over its range."""
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    z = z.detach().to(torch.float64)
    lo = z.amin(dim=0, keepdim=True)
    span = (z.amax(dim=0, keepdim=True) - lo).clamp_min(torch.finfo(torch.float64).tiny)
    cells = ((z - lo) / span * bins).floor().clamp_(0, bins - 1).to(torch.int64)
    _, codes = torch.unique(cells, dim=0, return_inverse=True)
    return codes


_REGISTRY: dict[str, Measure] = {}
_ALIASES: dict[str, str] = {}


def register_measure(
    name: str,
    fn: Callable[[MeasureContext], Any],
    *,
    label: str,
    unit: str = "bits",
    needs: Iterable[str] = (),
    description: str = "",
    aliases: Iterable[str] = (),
    overwrite: bool = False,
) -> Measure:
    """Add a measure under ``name`` (lowercase letters, digits and ``_``); returns it."""
    if not isinstance(name, str) or not name or not all(ch.islower() or ch.isdigit() or ch == "_" for ch in name):
        raise ValueError(f"name must be lowercase letters, digits and '_', got {name!r}")
    if not isinstance(label, str):
        raise TypeError(f"label must be a string, got {label!r}")
    needs = (needs,) if isinstance(needs, str) else tuple(needs)  # a string is one need, not its letters
    for n in needs:
        v.check_choice(n, _NEEDS, "needs")
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    aliases = tuple(str(a).strip().lower() for a in ((aliases,) if isinstance(aliases, str) else aliases))
    for a in aliases:
        if not a or not all(ch.islower() or ch.isdigit() or ch == "_" for ch in a):
            raise ValueError(f"aliases must be lowercase letters, digits and '_', got {a!r}")
        if a in _REGISTRY and a != name:
            raise ValueError(f"alias {a!r} is the name of another measure; choose another alias")
    taken = [k for k in (name, *aliases) if k in _REGISTRY or k in _ALIASES]
    if taken and not overwrite:
        raise ValueError(
            f"a measure or alias named {taken[0]!r} is already registered; pass overwrite=True to replace it"
        )
    if name in _REGISTRY:  # replacing a measure: its old aliases go with it
        for a in _REGISTRY[name].aliases:
            _ALIASES.pop(a, None)
    for k in (name, *aliases):  # names taken over from other measures' aliases
        owner = _ALIASES.pop(k, None)
        if owner is not None and owner != name and owner in _REGISTRY:
            old = _REGISTRY[owner]
            _REGISTRY[owner] = Measure(
                old.name,
                old.fn,
                old.label,
                old.unit,
                old.needs,
                old.description,
                tuple(a for a in old.aliases if a != k),
            )
    measure = Measure(name, fn, label, unit, needs, description, aliases)
    _REGISTRY[name] = measure
    for a in aliases:
        _ALIASES[a] = name
    return measure


def unregister_measure(name: str) -> None:
    """Remove a measure (and its aliases)."""
    measure = _REGISTRY.pop(get_measure(name).name)
    for a in measure.aliases:
        _ALIASES.pop(a, None)


def get_measure(name: str) -> Measure:
    """The measure registered under ``name`` or one of its aliases (case-insensitive)."""
    key = str(name).strip().lower()
    if key not in _REGISTRY:
        key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        raise ValueError(f"unknown measure {name!r}; choose from {', '.join(_REGISTRY)}")
    return _REGISTRY[key]


def available_measures() -> dict[str, Measure]:
    """Every registered measure by canonical name, in registration order."""
    return dict(_REGISTRY)


def resolve_measure_names(names: Iterable[str]) -> tuple[str, ...]:
    """Canonical names of ``names`` (aliases resolved, duplicates dropped, order kept); a string
    is one name."""
    out: list[str] = []
    for n in (names,) if isinstance(names, str) else names:
        c = get_measure(n).name
        if c not in out:
            out.append(c)
    return tuple(out)


# ---------------------------------------------------------------------- the built-in measures


def _dse(ctx: MeasureContext) -> Tensor:
    return ctx.kernel(subsampled=True).entropy(ctx.t, solver=ctx.solver)


def _dsmi_zy(ctx: MeasureContext) -> Tensor:
    assert ctx.labels is not None
    return ctx.kernel().mutual_information(
        ctx.labels, ctx.t, num_repetitions=ctx.num_repetitions, seed=ctx.seed, max_block=ctx.max_block
    )


def _dsmi_zx(ctx: MeasureContext) -> Tensor:
    return ctx.kernel().mutual_information(
        ctx.clusters_of_inputs(), ctx.t, num_repetitions=ctx.num_repetitions, seed=ctx.seed, max_block=ctx.max_block
    )


def _binned_mi_zy(ctx: MeasureContext) -> Tensor:
    assert ctx.labels is not None
    codes = ctx.codes()
    n = codes.shape[0]
    if int(codes.max()) + 1 == n:
        v.warn_user(
            f"binned I(Z; Y) is saturated: every one of the {n} probes has its own bin (bins={ctx.bins}), so the "
            f"estimate equals H(Y) whatever the layer; use fewer bins, more probes, or a kNN estimator",
        )
    return mutual_information_from_samples(codes, ctx.labels.to(codes.device), base=2)


def _binned_mi_zx(ctx: MeasureContext) -> Tensor:
    # X is a set of distinct inputs and Z = f(X): I(X; Z) = H(Z)
    return entropy_from_samples(ctx.codes(), base=2)


def _ase(ctx: MeasureContext) -> Tensor:
    return ctx.kernel(subsampled=True).adjacency_entropy()


def _cse(ctx: MeasureContext) -> Tensor:
    return binned_shannon_entropy(ctx.entropy_points().to(torch.float64), 2)


def _renyi(ctx: MeasureContext) -> Tensor:
    return matrix_renyi_entropy(
        ctx.entropy_points().to(torch.float64), alpha=2.0, sigma=ctx.kernel(subsampled=True).sigma
    )


register_measure("dse", _dse, label="DSE(Z)", description="diffusion spectral entropy of the embeddings")
register_measure(
    "dsmi_zy",
    _dsmi_zy,
    label="DSMI(Z; Y)",
    needs=("labels",),
    description="diffusion spectral mutual information with the class labels",
    aliases=("dsmi", "dsmi_y"),
)
register_measure(
    "dsmi_zx",
    _dsmi_zx,
    label="DSMI(Z; X)",
    needs=("inputs",),
    description="diffusion spectral mutual information with the (clustered) inputs",
    aliases=("dsmi_x",),
)
register_measure(
    "binned_mi_zy",
    _binned_mi_zy,
    label="binned I(Z; Y)",
    needs=("labels",),
    description="plug-in MI of the binned embeddings with the labels (saturates at H(Y) when every probe has its own bin)",
)
register_measure(
    "binned_mi_zx",
    _binned_mi_zx,
    label="binned I(X; Z)",
    description="entropy of the binned embeddings, I(X; Z) for a deterministic layer (at most log2 N)",
)


def _adaptive_dse(ctx: MeasureContext) -> Tensor:
    return adaptive_diffusion_spectral_entropy(ctx.entropy_points(), k=15, t=3, seed=ctx.seed, dtype=ctx.kernel_dtype)


register_measure(
    "adaptive_dse",
    _adaptive_dse,
    label="DSE_kNN(Z)",
    description="diffusion spectral entropy of the adaptive-bandwidth kNN kernel (k = 15, t = 3, alpha = 1)",
    aliases=("knn_dse", "dse_knn"),
)
register_measure("ase", _ase, label="ASE(Z)", description="adjacency spectral entropy (Gaussian affinities)")
register_measure("cse", _cse, label="CSE(Z)", description="classic binned Shannon entropy (2 bins per dimension)")
register_measure("renyi", _renyi, label="S2(Z)", description="matrix-based Renyi entropy, alpha = 2")


def _knn_mi_zy(ctx: MeasureContext) -> Tensor:
    assert ctx.labels is not None
    return knn_mutual_information_discrete(ctx.z.to(torch.float64), ctx.labels.to(ctx.z.device), base=2)


def _knn_mi_zx(ctx: MeasureContext) -> Tensor:
    assert ctx.inputs is not None
    x = ctx.inputs.detach().reshape(ctx.inputs.shape[0], -1).to(ctx.z.device, torch.float64)
    return mutual_information_continuous(x, ctx.z.to(torch.float64), estimator="auto", base=2)


def _knn_h(ctx: MeasureContext) -> Tensor:
    return knn_entropy(ctx.z.to(torch.float64), base=2)


register_measure(
    "knn_mi_zy",
    _knn_mi_zy,
    label="kNN I(Z; Y)",
    needs=("labels",),
    description="Ross's kNN mutual information of the embeddings with the class labels (k = 3)",
    aliases=("ksg_zy",),
)
register_measure(
    "knn_mi_zx",
    _knn_mi_zx,
    label="kNN I(X; Z)",
    needs=("inputs",),
    description="mutual information of inputs and embeddings, mutual_information_continuous(estimator='auto')",
    aliases=("ksg_zx", "ksg"),
)
register_measure(
    "knn_entropy",
    _knn_h,
    label="h(Z)",
    description="Kozachenko-Leonenko differential entropy of the embeddings (k = 3), bits",
)


def _noisy_mi_zx(ctx: MeasureContext) -> Tensor:
    """I(X; T) of a noisy layer T = f(X) + N(0, s² I) over the probe set (Goldfeld et al. 2019)."""
    if ctx.noise_std is None or not (math.isfinite(ctx.noise_std) and ctx.noise_std > 0):
        raise ValueError(f"noisy_mi_zx needs noise_std, the std of the layer's Gaussian noise, got {ctx.noise_std!r}")
    return noisy_channel_mutual_information(ctx.z, float(ctx.noise_std), seed=ctx.seed, base=2)


def noisy_channel_mutual_information(
    z: Tensor, noise_std: float, *, samples: int = 1, seed: int = 0, base: float | str = math.e
) -> Tensor:
    r"""I(X; T) for T = f(X) + N(0, s² I) with X uniform over the ``N`` probes whose clean outputs
    are the rows of ``z``: :math:`h(T) - h(T \mid X)`, with :math:`h(T \mid X) = \tfrac d2\log 2\pi e s^2`
    in closed form and :math:`h(T)` the entropy of the Gaussian mixture :math:`\frac1N\sum_j
    \mathcal N(f(x_j), s^2 I)`, estimated by Monte Carlo from ``samples`` noisy draws per probe
    (the sample-propagation estimator of Goldfeld et al., "Estimating Information Flow in Deep
    Neural Networks", ICML 2019, https://proceedings.mlr.press/v97/goldfeld19a.html).

    Computed as the mean over probes and draws of :math:`\log p(t_i \mid x_i) - \log p_T(t_i)`
    (the same expectation as :math:`h(T) - h(T \mid X)`, with the Monte-Carlo noise of the two
    terms cancelling). With :math:`u = f(x)/s` and the standard normal draw :math:`e_i` of
    :math:`t_i = f(x_i) + s e_i`, each term is

    .. math:: \log N - \log \sum_j \exp\!\big(-\tfrac12 \|u_i - u_j\|^2 - (u_i - u_j) \cdot e_i\big),

    evaluated without forming ``t``: by one matrix product of the centred ``u`` per block of
    rows, with the entries whose rounding could matter (tiny noise on large activations, where
    the expanded square cancels) recomputed from the differences ``u_i - u_j`` directly, so it is
    exact at any ratio of the activations' spread to the noise. Each draw's value is at most
    :math:`\log N` (the ``j = i`` term is 1); where the components overlap the mean over draws
    can fall slightly below 0 (its Monte-Carlo error). It equals the estimate from
    :func:`infotorch.noise.mixture_entropy` of :math:`h(T)` minus the closed-form
    :math:`h(T \mid X)`. Bias: unbiased for X uniform over the probes (the quantity the
    information plane plots); its error falls as :math:`1/\sqrt{N \cdot samples}`. Seeded
    (``seed``). Memory: blocks of about 2^22 pairs.

    Examples
    --------
    >>> import math, torch
    >>> from infotorch.measures import noisy_channel_mutual_information
    >>> z = torch.randn(2000, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> round(float(noisy_channel_mutual_information(z, 1.0)), 2), round(0.5 * math.log(2), 2)   # vs Gaussian truth
    (0.34, 0.35)
    """
    z = v.ensure_tensor(z, "z").detach()
    if z.ndim == 0 or z.shape[0] < 1:
        raise ValueError(f"z must hold at least one probe (N, ...), got shape {tuple(z.shape)}")
    z = z.reshape(z.shape[0], -1).to(torch.float64)
    v.check_finite(z, "z")
    s = v.check_positive_number(noise_std, "noise_std")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be a positive integer, got {samples!r}")
    n, d = z.shape
    u = (z - z.mean(dim=0, keepdim=True)) / s  # the value is invariant to a shift of z
    # a stream of its own: seed 0 here must not replay a caller's torch.manual_seed(0) draws
    gen = torch.Generator(device="cpu").manual_seed(int(seed) + 0x5EED_1F0)
    rows = max(1, (1 << 22) // max(1, n))
    uu = u.square().sum(-1)  # (N,)
    u_norm = uu.sqrt()
    eps64 = torch.finfo(torch.float64).eps
    total = torch.zeros((), dtype=torch.float64, device=z.device)
    for _ in range(samples):
        e = torch.randn((n, d), generator=gen, dtype=torch.float64).to(z.device)
        for i in range(0, n, rows):
            ui, ei = u[i : i + rows], e[i : i + rows]
            r = ui.shape[0]
            # -½|u_i - u_j|² - (u_i - u_j)·e_i = a_i + b_j + (u_i + e_i)·u_j
            a = -0.5 * uu[i : i + r] - (ui * ei).sum(-1)
            vi = ui + ei
            expo = a.unsqueeze(1) - 0.5 * uu.unsqueeze(0) + vi @ u.T  # (r, N)
            own = torch.arange(r, device=z.device)
            expo[own, i + own] = 0.0  # the j = i term exactly
            # the expansion's rounding: a few ulps of its largest terms; recompute where it matters
            err = 4.0 * eps64 * (uu[i : i + r].unsqueeze(1) + uu.unsqueeze(0) + vi.norm(dim=-1, keepdim=True) * u_norm)
            if float(err.amax()) > 1e-9:
                near = expo > expo.amax(-1, keepdim=True) - 80.0 - err
                redo = near & (err > 1e-9)
                redo[own, i + own] = False
                p_idx, q_idx = redo.nonzero(as_tuple=True)
                if p_idx.numel():
                    diff = ui[p_idx] - u[q_idx]
                    expo[p_idx, q_idx] = -(diff * (0.5 * diff + ei[p_idx])).sum(-1)
            total = total + torch.logsumexp(expo, dim=-1).sum()
    value = math.log(n) - total / (n * samples)
    return (value / v.check_base(base)).to(torch.float64)


register_measure(
    "noisy_mi_zx",
    _noisy_mi_zx,
    label="I(X; T), noisy channel",
    description="I(X; T) of a layer with additive Gaussian noise of std noise_std (Goldfeld et al. 2019), bits",
)
