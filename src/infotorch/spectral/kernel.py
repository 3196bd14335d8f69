r"""The diffusion kernel of a point cloud, built once, and what it measures.

:class:`DiffusionKernel` holds the Gaussian affinities :math:`G_{ij} = \exp(-\|x_i - x_j\|^2 /
2\sigma^2)` of ``N`` points (one ``N × N`` matrix) and computes from it, without rebuilding it:

* the spectrum of the diffusion operator :math:`P = D^{-1}G` (through its symmetric conjugate
  :math:`K = D^{-1/2} G D^{-1/2}`), with a choice of solver;
* the diffusion spectral entropy :math:`\mathrm{DSE}_t = -\sum_i p_i \log p_i`,
  :math:`p_i = |\lambda_i|^t / \sum_j |\lambda_j|^t`, at any diffusion time ``t``;
* the diffusion spectral mutual information against class labels (each subset's kernel is a
  block of this one);
* the entropy of the entries of :math:`P`, and sub-blocks as kernels of their own.

Choosing a solver
-----------------
``"exact"``: :func:`torch.linalg.eigvalsh` of :math:`K` (O(N³) time, two N × N matrices of
memory). ``"lanczos"``: stochastic Lanczos quadrature after deflating the top 100 eigenvalues
(``lanczos_steps × lanczos_probes`` products with :math:`K`); measured against exact DSE at
D = 256 on 2 CPU cores: 1.1e-4 bits of error at N = 2000, 3.4e-6 at N = 8000, 7.8e-4 at
N = 16000 (25 s instead of 73 s). ``"chebyshev"``: dse-dsmi's Chebyshev density-of-states
approximation, kept for parity (its error reaches tens of percent; not recommended).
``"auto"`` (default) is ``"exact"`` up to ``N = 8000`` and ``"lanczos"`` above.

References
----------
.. [1] C. Liao, D. Liu et al., "Assessing neural network representations during training using
       noise-resilient diffusion spectral entropy", ICASSP 2024 / arXiv:2312.04823.
.. [2] S. Ubaru, J. Chen, Y. Saad, "Fast estimation of tr(f(A)) via stochastic Lanczos
       quadrature", SIAM J. Matrix Anal. Appl. 38(4), 2017. https://doi.org/10.1137/16M1104974
"""

from __future__ import annotations

import math
import numbers
import random
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .. import _numerics as nx
from .. import _validation as v
from . import _common as c
from . import eigen
from .graphs import anisotropic_normalize, median_distance_of, median_distance_tensor, squared_distances

__all__ = ["DiffusionKernel", "eigvalsh", "small_problem_threads", "subset_mutual_information"]

SOLVERS = ("auto", "exact", "lanczos", "chebyshev")
AUTO_EXACT_MAX_N = 8000


#: Eigenproblems up to this size run on one thread (see :func:`small_problem_threads`).
SMALL_PROBLEM = 1024


class small_problem_threads:
    """Run the enclosed work with ``threads`` intra-op threads (restored on exit), when on CPU.

    PyTorch's intra-op threading makes many small eigendecompositions slow when another process
    holds a core: a 500 × 500 ``eigvalsh`` took 48 ms on one thread and 205-2531 ms on two under
    load on a 2-core machine. The spectral measures run problems of up to ``SMALL_PROBLEM`` points
    this way (one thread); larger ones keep the process's setting (``torch.set_num_threads``).
    """

    def __init__(self, threads: int = 1, *, active: bool = True) -> None:
        self.threads, self.active, self._previous = int(threads), active, 0

    def __enter__(self) -> small_problem_threads:
        self._previous = torch.get_num_threads()
        if self.active and self.threads < self._previous:
            torch.set_num_threads(self.threads)
        return self

    def __exit__(self, *exc: object) -> None:
        if torch.get_num_threads() != self._previous:
            torch.set_num_threads(self._previous)


def eigvalsh(a: Tensor) -> Tensor:
    """:func:`torch.linalg.eigvalsh` (batched over leading dims), on one thread for small CPU problems."""
    small = a.device.type == "cpu" and a.shape[-1] <= SMALL_PROBLEM
    with small_problem_threads(1, active=small):
        return torch.linalg.eigvalsh(a)


def _to_base_from_bits(value: Tensor, base: Any) -> Tensor:
    """Spectral values are computed in bits; convert to the unit of ``base`` (2 keeps bits)."""
    return nx.bits_to(value, v.check_base(base))


def check_sigma(sigma: Any, name: str = "sigma") -> float | str:
    """``"median"`` or a positive finite number."""
    if isinstance(sigma, str):
        if sigma != "median":
            raise ValueError(f"{name} must be 'median' or a positive finite number, got {sigma!r}")
        return sigma
    if isinstance(sigma, Tensor) and sigma.numel() == 1 and not sigma.is_complex():
        sigma = sigma.item()
    if isinstance(sigma, bool) or not isinstance(sigma, numbers.Real):  # numpy scalars are Real
        raise TypeError(f"{name} must be 'median' or a positive finite number, got {sigma!r}")
    value = float(sigma)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be 'median' or a positive finite number, got {sigma!r}")
    return value


def as_points(x: Any, name: str = "x", dtype: torch.dtype | None = None) -> Tensor:
    """``x`` as a validated ``(N, D)`` floating tensor (1-D means ``(N, 1)``; half → float32)."""
    if not isinstance(x, Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor (use infotorch.compat.dse_dsmi for numpy arrays), got {type(x).__name__}"
        )
    if x.is_complex():
        raise TypeError(f"{name} must be real, got dtype {x.dtype}")
    if x.ndim == 1:
        x = x.unsqueeze(-1)
    if x.ndim != 2:
        raise ValueError(f"{name} must be (N, D) points, got shape {tuple(x.shape)}")
    if x.shape[0] < 2:
        raise ValueError(f"{name} must hold at least 2 points, got N = {x.shape[0]}")
    if x.shape[1] < 1:
        raise ValueError(f"{name} must have at least one feature, got shape {tuple(x.shape)}")
    target = dtype if dtype is not None else nx.compute_dtype(x.dtype)
    if target not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {target}")
    x = x.to(target)
    v.check_finite(x, name)
    return x


def _extreme_scale(pts: Tensor) -> float | None:
    """The largest centred coordinate of ``pts`` where squared distances would leave the dtype's
    range (beyond ``max^(1/4)`` or below its inverse), else ``None``."""
    limit = torch.finfo(pts.dtype).max ** 0.25
    top = float((pts - pts.mean(0, keepdim=True)).detach().abs().amax()) if pts.numel() else 0.0
    return top if (top > limit or 0 < top < 1.0 / limit) else None


def safe_units(pts: Tensor, sigma: Any) -> tuple[Tensor, float | str, float]:
    """``(points, sigma, c)``: points so large or small that their squares would leave the
    dtype's range measured in units of ``c``, their largest centred coordinate, with a numeric
    ``sigma`` divided by ``c`` too (DSE(x, σ) = DSE(x/c, σ/c); ``"median"`` stays); ``c = 1``
    and everything unchanged otherwise. ``sigma`` is checked (:func:`check_sigma`)."""
    sig = check_sigma(sigma)
    c = _extreme_scale(pts)
    if c is None:
        return pts, sig, 1.0
    return pts / c, (sig if sig == "median" else float(sig) / c), c


def pow2_units(pts: Tensor) -> Tensor:
    """``pts`` divided by a power of two where their squared distances would leave the dtype's
    range (see :func:`safe_units`): exact, so every neighbour rank, tie and distance ratio is
    kept (for the scale-free kNN graphs and the adaptive kernel). Unchanged otherwise."""
    top = _extreme_scale(pts)
    if top is None:
        return pts
    return torch.ldexp(pts, torch.tensor(-math.frexp(top)[1], dtype=pts.dtype, device=pts.device))


def _out_dtype(x: Any) -> torch.dtype:
    """The dtype a spectral result is returned in: the input's floating dtype (half stays half)."""
    return x.dtype if isinstance(x, Tensor) and x.is_floating_point() else torch.get_default_dtype()


class DiffusionKernel:
    """The Gaussian affinity matrix of a point cloud and the diffusion measures computed from it.

    Build it with :meth:`from_points`; every method reuses the one ``N × N`` matrix. Values are
    in bits by default (``base=2``, the convention of the DSE literature); ``base=math.e`` gives
    nats. Differentiable: gradients flow to the points through the exact solver.

    Examples
    --------
    >>> import math, torch
    >>> from infotorch.spectral import DiffusionKernel
    >>> g = torch.Generator().manual_seed(0)
    >>> labels = torch.arange(90) % 3
    >>> x = torch.randn(90, 4, generator=g, dtype=torch.float64) * 0.2 + 5 * torch.eye(3, 4, dtype=torch.float64)[labels]
    >>> k = DiffusionKernel.from_points(x, sigma=1.0)
    >>> h = k.entropy()                         # DSE(Z) at t = 1, bits
    >>> bool(0 < h < math.log2(90))
    True
    >>> mi = k.mutual_information(labels)      # DSMI(Z; Y): three separated classes
    >>> bool(mi > 1.0)
    True
    """

    def __init__(self, affinity: Tensor, sigma: float) -> None:
        if affinity.ndim != 2 or affinity.shape[0] != affinity.shape[1]:
            raise ValueError(f"affinity must be a square (N, N) matrix, got shape {tuple(affinity.shape)}")
        self.affinity = affinity
        self.sigma = float(sigma)
        self._operator: Tensor | None = None

    @classmethod
    def from_points(
        cls,
        x: Tensor,
        sigma: float | str = "median",
        *,
        dtype: torch.dtype | None = None,
        max_median_points: int = 1000,
    ) -> DiffusionKernel:
        """The kernel of the rows of ``x`` ``(N, D)``. ``sigma="median"``: the median pairwise
        distance of the first ``max_median_points`` points (from the same distance matrix)."""
        sigma = check_sigma(sigma)
        pts, sigma, c = safe_units(as_points(x, "x", dtype), sigma)
        if isinstance(max_median_points, bool) or not isinstance(max_median_points, int) or max_median_points < 2:
            raise ValueError(f"max_median_points must be an integer >= 2, got {max_median_points!r}")
        d2 = squared_distances(pts)
        sigma_t: Tensor | None = None
        if sigma == "median":
            k = min(max_median_points, d2.shape[0])
            if nx.needs_grad(d2):  # the bandwidth is a function of the points: keep it in the graph
                sigma_t = median_distance_tensor(d2[:k, :k])
                sigma = float(sigma_t.detach())
            else:
                sigma = median_distance_of(d2[:k, :k])
            reported = sigma * c
        else:
            reported = float(sigma) * c
        two_var = 2.0 * float(sigma) * float(sigma)  # inf for huge sigma (an all-ones kernel), never an error
        if two_var < torch.finfo(pts.dtype).tiny:
            raise ValueError(
                f"sigma must be at least {math.sqrt(torch.finfo(pts.dtype).tiny):.3g} to form a kernel in {pts.dtype}, "
                f"got {sigma!r}"
            )
        if sigma_t is not None:
            g = torch.exp(d2 * (-0.5 / sigma_t.square()))
            return cls(g, reported)
        scale = -1.0 / two_var
        g = torch.exp(d2 * scale) if nx.needs_grad(d2) else d2.mul_(scale).exp_()
        return cls(g, reported)

    # ------------------------------------------------------------------ structure
    @property
    def n(self) -> int:
        return int(self.affinity.shape[0])

    def operator(self) -> Tensor:
        """The symmetric diffusion operator :math:`K = D^{-1/2} G D^{-1/2}` (computed once)."""
        if self._operator is None:
            self._operator = anisotropic_normalize(self.affinity.clone())
        return self._operator

    def block(self, index: Tensor) -> DiffusionKernel:
        """The kernel of the points ``index`` (their block of the affinities)."""
        idx = torch.as_tensor(index, device=self.affinity.device).reshape(-1).long()
        return DiffusionKernel(self.affinity.index_select(0, idx).index_select(1, idx), self.sigma)

    # ------------------------------------------------------------------ spectra
    def resolve_solver(self, solver: str) -> str:
        """The solver ``solver`` means for this kernel (``"auto"``: exact up to N = 8000)."""
        v.check_choice(solver, SOLVERS, "solver")
        if solver == "auto":
            return "exact" if self.n <= AUTO_EXACT_MAX_N else "lanczos"
        return solver

    def eigenvalues(self, solver: str = "exact", *, generator: torch.Generator | None = None) -> Tensor:
        """Eigenvalues of the diffusion operator: ``"exact"`` (ascending) or ``"chebyshev"``."""
        v.check_choice(solver, ("exact", "chebyshev"), "solver")
        k = self.operator()
        if solver == "chebyshev":
            return eigen.chebyshev_eigvals(k.detach(), generator=generator)
        return eigvalsh(k)

    def entropy(
        self,
        t: float = 1,
        *,
        solver: str = "auto",
        base: float | str = 2,
        lanczos_steps: int = 80,
        lanczos_probes: int = 16,
        seed: int = 0,
    ) -> Tensor:
        """DSE at diffusion time ``t`` (``t = 0`` gives ``log N``), in the unit of ``base``."""
        t = _check_time(t)
        resolved = self.resolve_solver(solver)
        if resolved == "lanczos" and nx.needs_grad(self.affinity):
            if solver != "auto":
                raise ValueError(
                    "solver='lanczos' is not differentiable (its recursion is not recorded); use solver='exact' "
                    "for a gradient, or detach the points"
                )
            resolved = "exact"  # "auto" with a gradient to keep: the differentiable solver
        solver = resolved
        for name, value in (("lanczos_steps", lanczos_steps), ("lanczos_probes", lanczos_probes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an integer, got {seed!r}")
        gen = torch.Generator().manual_seed(int(seed))
        if solver == "lanczos":
            bits = _lanczos_entropy(self.operator(), t, int(lanczos_steps), int(lanczos_probes), gen)
        else:
            bits = c.spectrum_entropy(self.eigenvalues(solver, generator=gen), t)
        return _to_base_from_bits(bits, base)

    def adjacency_entropy(self, *, base: float | str = 2) -> Tensor:
        """Spectral entropy of the Gaussian affinities themselves (ASE with the Gaussian graph)."""
        return _to_base_from_bits(c.spectrum_entropy(eigvalsh(self.affinity)), base)

    def matrix_entry_entropy(self, *, base: float | str = 2) -> Tensor:
        """Entropy of the entries of the row-stochastic :math:`P` (normalized to sum 1)."""
        return _to_base_from_bits(c.matrix_entry_entropy_of_kernel(self.affinity.clone()), base)

    def mutual_information(
        self,
        labels: Tensor,
        t: float = 1,
        *,
        num_repetitions: int = 5,
        seed: int | None = 0,
        base: float | str = 2,
        max_block: int | None = None,
    ) -> Tensor:
        r"""DSMI(Z; Y) against class labels ``labels`` (N,):
        :math:`\sum_y p(y)\,[\mathrm{DSE}(Z^*_y) - \mathrm{DSE}(Z \mid Y = y)]` with :math:`Z^*_y`
        ``num_repetitions`` random subsets of the size of class ``y``; see
        :func:`subset_mutual_information` for the draws and ``max_block``. Exact solver."""
        t = _check_time(t)
        labels = labels_for(labels, self.n)

        g = self.affinity

        def block_entropy(idx: Tensor) -> Tensor:
            i = idx.to(g.device)
            blk = g.index_select(0, i).index_select(1, i)  # a fresh copy: normalized in place
            return c.spectrum_entropy(eigvalsh(anisotropic_normalize(blk)), t)

        def batch_entropy(indices: list[Tensor]) -> list[Tensor]:
            # equal-size subsets: batched eigendecompositions instead of one call each, in chunks
            # of at most ~256 MB of blocks (never more than one block when a block is that large)
            m = int(indices[0].numel())
            chunk = max(1, (256 * 2**20) // max(1, m * m * g.element_size()))
            out: list[Tensor] = []
            for start in range(0, len(indices), chunk):
                idx = torch.stack(indices[start : start + chunk]).to(g.device)  # (b, m)
                blk = g[idx[:, :, None], idx[:, None, :]]  # (b, m, m)
                inv_sqrt = blk.sum(-1).rsqrt()
                lam = eigvalsh(
                    blk.mul_(inv_sqrt[:, :, None]).mul_(inv_sqrt[:, None, :])
                    if not nx.needs_grad(blk)
                    else blk * inv_sqrt[:, :, None] * inv_sqrt[:, None, :]
                )
                out.extend(c.spectrum_entropy(row, t) for row in lam)
            return out

        bits = subset_mutual_information(
            labels,
            block_entropy,
            num_repetitions=num_repetitions,
            seed=seed,
            max_block=max_block,
            batch_entropy=batch_entropy,
        )
        return _to_base_from_bits(bits, base)


def label_tensor(labels: Any) -> Tensor:
    """``labels`` as a flat tensor; a :class:`TypeError` for anything that is not numbers."""
    if isinstance(labels, Tensor):
        return v.ensure_tensor(labels, "labels").reshape(-1)
    try:
        return torch.as_tensor(labels).reshape(-1)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(
            f"labels must be integer class labels (a tensor or a list of ints), got {labels!r:.80}"
        ) from None


def labels_for(labels: Any, n: int) -> Tensor:
    """:func:`label_tensor` with exactly one label for each of ``n`` points."""
    lab = label_tensor(labels)
    if lab.shape[0] != n:
        raise ValueError(f"labels must hold one label per point: {lab.shape[0]} labels for {n} points")
    return lab


def _check_time(t: Any) -> float:
    if isinstance(t, bool):
        raise TypeError(f"t must be a finite number >= 0, got {t!r}")
    try:
        value = float(t)
    except (TypeError, ValueError):
        raise TypeError(f"t must be a finite number >= 0, got {t!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"t must be a finite number >= 0, got {t!r}")
    return value


def _lanczos_entropy(k: Tensor, t: float, steps: int, probes: int, gen: torch.Generator) -> Tensor:
    """DSE (bits) by deflated stochastic Lanczos quadrature on the symmetric operator ``k``."""
    if steps < 1 or probes < 1:
        raise ValueError(f"lanczos_steps and lanczos_probes must be positive integers, got {steps} and {probes}")
    n = k.shape[0]
    nodes, weights = eigen.deflated_lanczos_spectrum(k, steps=steps, probes=probes, generator=gen)
    return c.quadrature_entropy_bits(nodes, weights, n, t).to(nodes.dtype)


def subset_mutual_information(
    labels: Tensor,
    block_entropy: Callable[[Tensor], Tensor],
    *,
    num_repetitions: int = 5,
    seed: int | None = 0,
    max_block: int | None = None,
    batch_entropy: Callable[[list[Tensor]], list[Tensor]] | None = None,
) -> Tensor:
    r"""The spectral mutual information :math:`\sum_y p(y)\,[H(Z^*_y) - H(Z \mid Y = y)]` for any
    entropy of a subset of points, ``block_entropy(index) -> Tensor``.

    :math:`Z^*_y` are ``num_repetitions`` random subsets of the size of class ``y``, drawn as
    ``random.Random(seed).sample(range(N), size)`` afresh per class (classes of equal size share
    their draws, so their marginal term is computed once; ``seed=None`` draws from one unseeded
    generator). ``max_block``: subsample each block above this size to ``max_block`` points with
    ``random.Random(0)`` (the inner draws of dse-dsmi's DSE calls); ``None`` uses every point.
    Can be slightly negative when Z carries no information about Y (the sampling noise of
    :math:`Z^*`). ``batch_entropy(list of equal-size indices) -> list of entropies``, when given,
    evaluates the subsets of each size in one call (the same draws, the same numbers).
    """
    if isinstance(num_repetitions, bool) or not isinstance(num_repetitions, int) or num_repetitions < 1:
        raise ValueError(f"num_repetitions must be a positive integer, got {num_repetitions!r}")
    lab = label_tensor(labels)
    if lab.is_floating_point():
        if not bool(torch.isfinite(lab).all()) or not bool((lab == lab.round()).all()):
            raise ValueError("labels must be integer class labels (finite whole numbers)")
    lab = lab.long().cpu()
    values, counts = torch.unique(lab, return_counts=True)
    n_total = int(lab.shape[0])

    # dse-dsmi draws from Python's global `random`: re-seeded with `seed` before each class's
    # marginal draws, and re-seeded with 0 by every inner subsampling of a block above max_block
    # (its DSE calls `random.seed(0)`), which the next draws then continue from. One holder plays
    # that global stream, so the draws are the same, without touching the real global state.
    stream = {"rng": random.Random()}

    def inner(idx: Tensor) -> Tensor:
        if max_block is not None and idx.numel() > max_block:
            r0 = random.Random(0)
            pick = r0.sample(range(idx.numel()), int(max_block))
            stream["rng"] = r0
            idx = idx[torch.as_tensor(pick)]
        return idx

    # the plan: which subsets (in dse-dsmi's draw order), then their entropies, then the sum
    plan: list[tuple[int, int, list[int]]] = []  # (count, conditional subset, marginal subsets)
    subsets: list[Tensor] = []
    marginal_by_size: dict[int, list[int]] = {}
    for value, count in zip(values.tolist(), counts.tolist(), strict=True):
        subsets.append(inner(torch.nonzero(lab == value).reshape(-1)))
        cond = len(subsets) - 1
        marg = marginal_by_size.get(count) if seed is not None else None
        if marg is None:
            if seed is not None:
                stream["rng"] = random.Random(seed)
            marg = []
            for _ in range(num_repetitions):
                subsets.append(inner(torch.as_tensor(stream["rng"].sample(range(n_total), k=count))))
                marg.append(len(subsets) - 1)
            marginal_by_size[count] = marg
        plan.append((count, cond, marg))
    entropies: list[Tensor | None] = [None] * len(subsets)
    if batch_entropy is None:
        entropies = [block_entropy(idx) for idx in subsets]
    else:
        by_size: dict[int, list[int]] = {}
        for j, idx in enumerate(subsets):
            by_size.setdefault(int(idx.numel()), []).append(j)
        for members in by_size.values():
            for j, h in zip(members, batch_entropy([subsets[j] for j in members]), strict=True):
                entropies[j] = h
    terms = []
    for count, cond, marg in plan:
        h_marg = torch.stack([entropies[j] for j in marg]).mean()  # type: ignore[misc]
        h_cond = entropies[cond]
        assert h_cond is not None
        terms.append(float(count) / n_total * (h_marg - h_cond))
    return torch.stack(terms).sum()
