r"""Diffusion spectral entropy of the adaptive-bandwidth kNN kernel, sparse end to end.

The kernel (the one the DSE of manylatents, https://github.com/latent-reasoning-works/manylatents,
uses by default: ``k = 15``, ``alpha = 1``, ``t = 3``):

1. **Neighbours.** The ``k`` nearest neighbours :math:`\mathcal N_k(i)` of each point among the
   others (Euclidean), found exactly without an ``N × N`` matrix: a blocked brute force in torch
   (``block × N`` distances at a time, any device), or :class:`scipy.spatial.cKDTree` on CPU
   for few dimensions. Either proposes ``k + max(4, k / 2)`` candidates per point; their
   distances are then recomputed from the differences :math:`x_i - x_j` in float64 and the ``k``
   smallest kept, ties broken by the smaller index. Where a point's ``k``-th distance is also
   that of its farthest candidate (more points may be tied there than the candidates hold, and
   which of them a search returns is arbitrary), its neighbours are recomputed over all points
   by the same rule, so both searches give the same neighbours. With ties at the ``k``-th
   distance the graph, like any kNN graph that keeps ``k`` edges, depends on the order of the
   points (on a 4-D grid with k = 2, a permutation of the points moved the entropy by 0.35 bits).
2. **Adaptive bandwidth.** :math:`\sigma_i` = the distance from point ``i`` to its ``k``-th
   neighbour (Zelnik-Manor & Perona 2004 [3]_; the adaptive kernels of PHATE [2]_).
3. **Affinities** on the union of the kNN edges, symmetrized by the maximum (an edge in either
   direction counts; the value :math:`\exp(-d_{ij}^2 / \sigma_i\sigma_j)` is the same both
   ways, so max and union coincide), with self-affinity 1:

   .. math::
       K_{ij} = \exp\!\big(-d_{ij}^2 / (\sigma_i\sigma_j)\big) \text{ if } j \in \mathcal N_k(i)
       \text{ or } i \in \mathcal N_k(j), \qquad K_{ii} = 1, \qquad 0 \text{ otherwise}.

   Duplicated points: when :math:`\sigma_i\sigma_j = 0` (``i`` or ``j`` has ``k`` copies of
   itself among its neighbours), the affinity is its limit as the bandwidths go to 0: 1 for
   :math:`d_{ij} = 0` (a copy), 0 for :math:`d_{ij} > 0`. Every degree is at least 1 (the
   diagonal), so the operator is always finite. Affinities below ``1e-154`` are stored as 0
   (subnormal arithmetic is 10-20x slower on CPU).
4. **Density normalization** (Coifman & Lafon 2006 [1]_):
   :math:`K^{(\alpha)} = D^{-\alpha} K D^{-\alpha}` with :math:`D = \mathrm{diag}(K\mathbf 1)`
   (``alpha = 1``: the Laplace-Beltrami normalization, 0.5: Fokker-Planck, 0: none), then the
   Markov operator :math:`P = D'^{-1} K^{(\alpha)}`, :math:`D' = \mathrm{diag}(K^{(\alpha)}\mathbf 1)`,
   through its symmetric conjugate :math:`S = D'^{-1/2} K^{(\alpha)} D'^{-1/2}` (same eigenvalues).
5. **Entropy** of :math:`P^t`: :math:`-\sum_i p_i \log_2 p_i`,
   :math:`p_i = |\lambda_i|^t / \sum_j |\lambda_j|^t` over all ``N`` eigenvalues of :math:`S`,
   the definition of :func:`~infotorch.spectral.diffusion_spectral_entropy` (with
   :math:`0 \log 0 = 0`; manylatents adds machine epsilon to every :math:`p_i`, a shift below
   ``N · 1.2e-14`` bits, and subsamples to ``max_N = 10000`` points, which this does not).

The sparse matrix has at most ``N (2k + 1)`` stored entries (each point's ``k`` edges in both
directions and the diagonal): memory ``O(N k)``. The spectrum is computed by ``eigvalsh`` of the
dense :math:`S` for small ``N``, or by stochastic Lanczos quadrature [4]_
(:func:`~infotorch.spectral.eigen.lanczos_spectrum`, with the known top eigenvector of
:math:`S` deflated exactly) whose products :math:`SV` are sparse: :mod:`scipy.sparse` CSR
products on CPU, torch's sparse CSR product on other devices (``sparse_backend="torch"`` on CPU
too: measured at N = 10^5, k = 15, one thread, float64, scipy takes 2.2 ms for one vector and
59 ms for 32, a torch CSR tensor 3.9 ms and 36 ms, a torch COO tensor 140 ms for 32; the
quadrature's products are blocks of ``probes`` vectors, about 1 s of its time at 10^5 either
way). The quadrature keeps a Lanczos basis of ``steps × N × probes`` numbers, the
memory that dominates at large ``N`` (384 MB at ``N = 10^5`` with the defaults in float32; pass
fewer ``probes`` at ``N = 10^6``).

References
----------
.. [1] R. R. Coifman, S. Lafon, "Diffusion maps", Appl. Comput. Harmon. Anal. 21(1), 5-30, 2006.
       https://doi.org/10.1016/j.acha.2006.04.006
.. [2] K. R. Moon et al., "Visualizing structure and transitions in high-dimensional biological
       data", Nat. Biotechnol. 37, 1482-1492, 2019. https://doi.org/10.1038/s41587-019-0336-3
.. [3] L. Zelnik-Manor, P. Perona, "Self-tuning spectral clustering", NIPS 17, 2004.
.. [4] S. Ubaru, J. Chen, Y. Saad, "Fast estimation of tr(f(A)) via stochastic Lanczos
       quadrature", SIAM J. Matrix Anal. Appl. 38(4), 2017. https://doi.org/10.1137/16M1104974
"""

from __future__ import annotations

import math
import time
import warnings
from typing import Any

import torch
from torch import Tensor

from .. import _numerics as nx
from .. import _validation as v
from . import _common as c
from . import eigen
from .kernel import _check_time, _out_dtype, as_points, eigvalsh, pow2_units, small_problem_threads
from .matrix_free import DEFAULT_MEMORY_BUDGET, _positive_int, _slq_entropy_bits

__all__ = ["AdaptiveDiffusionOperator", "adaptive_diffusion_spectral_entropy"]

NEIGHBOR_SEARCHES = ("auto", "brute", "kdtree")
SPARSE_BACKENDS = ("auto", "scipy", "torch")
SOLVERS = ("auto", "exact", "slq")

#: ``solver="auto"`` is ``"exact"`` up to this many points, ``"slq"`` above.
AUTO_EXACT_MAX_N = 4000
#: ``solver="exact"`` (a dense ``N × N`` matrix) is refused above this many points.
EXACT_MAX_N = 20000
#: ``neighbors="auto"`` uses the cKDTree on CPU up to this many dimensions.
KDTREE_MAX_DIM = 16

_FLOOR = math.sqrt(torch.finfo(torch.float64).tiny)


def _scipy_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("scipy") is not None


def _csr(crow: Tensor, cols: Tensor, values: Tensor, n: int) -> Tensor:
    """A torch sparse CSR tensor of well-formed parts (no invariant checks, no beta warning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, cols, values, (n, n), check_invariants=False)


def _candidates_brute(x: Tensor, count: int, rows: int) -> Tensor:
    """Indices of the ``count`` nearest other points of every point (an ``(N, count)`` tensor),
    ``rows`` query rows at a time against all points (``rows × N`` distances, never ``N × N``)."""
    n = int(x.shape[0])
    xc = x - x.mean(dim=0, keepdim=True)
    sq = (xc * xc).sum(dim=1)
    out = torch.empty(n, count, dtype=torch.int64, device=x.device)
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        d2 = xc[start:stop] @ xc.T
        d2.mul_(-2.0).add_(sq[start:stop, None]).add_(sq[None, :])
        local = torch.arange(stop - start, device=x.device)
        d2[local, local + start] = math.inf  # never the point itself
        out[start:stop] = torch.topk(d2, count, dim=1, largest=False, sorted=False).indices
    return out


def _candidates_kdtree(x: Tensor, count: int) -> Tensor:
    """As :func:`_candidates_brute`, from :class:`scipy.spatial.cKDTree` (CPU)."""
    import numpy as np
    from scipy.spatial import cKDTree

    arr = x.detach().to(torch.float64).cpu().numpy()
    n = arr.shape[0]
    _, idx = cKDTree(arr).query(arr, k=count + 1, workers=max(1, torch.get_num_threads()))
    idx = np.asarray(idx, dtype=np.int64).reshape(n, count + 1)
    drop = idx == np.arange(n)[:, None]  # the point itself, where the tree returned it ...
    drop[~drop.any(axis=1), -1] = True  # ... else the farthest (more than count copies at distance 0)
    return torch.from_numpy(idx[~drop].reshape(n, count)).to(x.device)


def _nearest(x: Tensor, candidates: Tensor, k: int, rows: int) -> tuple[Tensor, Tensor]:
    """The ``k`` nearest of each point's candidates by the float64 distances of the differences
    (ties: the smaller index first): their indices and squared distances, ``(N, k)`` each. The
    points are converted to float64 a block at a time (no float64 copy of all of them)."""
    n = int(candidates.shape[0])
    idx = torch.empty(n, k, dtype=torch.int64, device=x.device)
    d2 = torch.empty(n, k, dtype=torch.float64, device=x.device)
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        cand = candidates[start:stop].sort(dim=1).values
        diff = x[cand].to(torch.float64) - x[start:stop, None, :].to(torch.float64)
        dist2 = (diff * diff).sum(dim=-1)
        order = torch.sort(dist2, dim=1, stable=True).indices[:, :k]
        idx[start:stop] = cand.gather(1, order)
        d2[start:stop] = dist2.gather(1, order)
        # a row whose k-th distance is also its farthest candidate's may have more points tied
        # at that distance than the candidates hold: which of them a search returned is arbitrary
        tied = d2[start:stop, -1] >= dist2.amax(dim=1)
        if cand.shape[1] < n - 1 and bool(tied.any()):
            rows_t = torch.nonzero(tied).reshape(-1) + start
            ti, td = _nearest_exact(x, rows_t, k)
            idx[rows_t], d2[rows_t] = ti, td
    return idx, d2


def _nearest_exact(x: Tensor, rows: Tensor, k: int, budget: int = 1 << 24) -> tuple[Tensor, Tensor]:
    """The ``k`` nearest other points of the points ``rows`` among all of ``x``, by the float64
    distances of the differences, ties broken by the smaller index (the rule of :func:`_nearest`,
    over every point instead of the candidates), in blocks of at most ``budget`` float64 numbers."""
    n, dim = int(x.shape[0]), int(x.shape[1])
    r = int(rows.shape[0])
    out_i = torch.empty(r, k, dtype=torch.int64, device=x.device)
    out_d = torch.empty(r, k, dtype=torch.float64, device=x.device)
    cols = max(k + 1, budget // max(1, dim * 64))
    per = max(1, budget // max(1, cols * dim))
    for a in range(0, r, per):
        q = rows[a : a + per]
        xq = x[q].to(torch.float64)
        best_i = torch.empty(q.shape[0], 0, dtype=torch.int64, device=x.device)
        best_d = torch.empty(q.shape[0], 0, dtype=torch.float64, device=x.device)
        for first in range(0, n, cols):
            j = torch.arange(first, min(first + cols, n), device=x.device)
            diff = x[j].to(torch.float64).unsqueeze(0) - xq.unsqueeze(1)
            dist2 = (diff * diff).sum(dim=-1)
            dist2 = torch.where(j.unsqueeze(0) == q.unsqueeze(1), math.inf, dist2)  # not itself
            cat_i = torch.cat([best_i, j.expand(q.shape[0], -1)], dim=1)
            cat_d = torch.cat([best_d, dist2], dim=1)
            by_index = torch.sort(cat_i, dim=1, stable=True).indices  # (distance, index) order:
            cat_i, cat_d = cat_i.gather(1, by_index), cat_d.gather(1, by_index)
            by_dist = torch.sort(cat_d, dim=1, stable=True).indices[:, :k]  # index, then distance
            best_i, best_d = cat_i.gather(1, by_dist), cat_d.gather(1, by_dist)
        out_i[a : a + per], out_d[a : a + per] = best_i, best_d
    return out_i, out_d


class AdaptiveDiffusionOperator:
    r"""The symmetric diffusion operator :math:`S = D'^{-1/2} K^{(\alpha)} D'^{-1/2}` of the
    adaptive-bandwidth kNN kernel of the points ``x`` (N, D), stored sparse (see
    :mod:`infotorch.spectral.adaptive` for the construction and its references).

    ``k``: neighbours per point (capped at ``N - 1``). ``alpha``: the density normalization
    power, a finite number ``>= 0``. ``neighbors``: ``"brute"`` (blocked torch search on the
    points' device, ``O(N² D)`` time, ``block × N`` memory), ``"kdtree"`` (scipy's cKDTree, CPU,
    fast in few dimensions) or ``"auto"`` (the tree on CPU up to ``KDTREE_MAX_DIM`` = 16
    dimensions when scipy is installed, else brute force). ``sparse_backend``: the products
    ``S @ V``: ``"scipy"`` (CSR on CPU), ``"torch"`` (a torch sparse CSR tensor, any device) or
    ``"auto"`` (scipy on CPU when installed, else torch). ``dtype``: the compute dtype of the
    products and of the brute-force search (default: the input's, half → float32); the
    neighbours' distances (of the points in that dtype, differences taken in float64),
    bandwidths, affinities and degrees are float64 whatever the dtype. ``block``:
    query rows per block of the brute-force search (``None``: from ``memory_budget`` bytes,
    256 MiB by default).

    Attributes: ``n``, ``k``, ``alpha``, ``sigmas`` (N,) the bandwidths, ``neighbor_indices``
    (N, k), ``degrees`` (:math:`K\mathbf 1`), ``alpha_degrees`` (:math:`K^{(\alpha)}\mathbf 1`),
    ``nnz`` (stored entries, at most ``N (2k + 1)``), ``timings`` (seconds of the search and of
    the kernel), ``products`` (products so far). It has ``shape``, ``dtype``, ``device`` and
    ``@``, so :func:`~infotorch.spectral.eigen.deflated_lanczos_spectrum` runs on it.
    Not differentiable.

    Examples
    --------
    >>> import torch
    >>> from infotorch.spectral import AdaptiveDiffusionOperator
    >>> x = torch.randn(500, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> op = AdaptiveDiffusionOperator(x, k=10)
    >>> op.nnz <= 500 * (2 * 10 + 1), op.shape
    (True, (500, 500))
    >>> bool(torch.allclose(op @ op.alpha_degrees.sqrt(), op.alpha_degrees.sqrt()))   # S has eigenvalue 1
    True
    """

    def __init__(
        self,
        x: Tensor,
        k: int = 15,
        *,
        alpha: float = 1.0,
        neighbors: str = "auto",
        sparse_backend: str = "auto",
        dtype: torch.dtype | None = None,
        block: int | None = None,
        memory_budget: int | None = None,
    ) -> None:
        pts = pow2_units(as_points(x, "x", dtype).detach())  # the kernel is scale-free: exact units
        n, dim = int(pts.shape[0]), int(pts.shape[1])
        k_req = _positive_int(k, "k")
        self.k = min(k_req, n - 1)
        self.alpha = _check_alpha(alpha)
        v.check_choice(neighbors, NEIGHBOR_SEARCHES, "neighbors")
        v.check_choice(sparse_backend, SPARSE_BACKENDS, "sparse_backend")
        on_cpu = pts.device.type == "cpu"
        have_scipy = on_cpu and _scipy_available()
        if neighbors == "kdtree" and not on_cpu:
            raise ValueError(f"neighbors='kdtree' runs on CPU only, got points on {pts.device}; use 'brute'")
        if sparse_backend == "scipy" and not on_cpu:
            raise ValueError(f"sparse_backend='scipy' runs on CPU only, got points on {pts.device}; use 'torch'")
        if neighbors == "auto":
            neighbors = "kdtree" if have_scipy and dim <= KDTREE_MAX_DIM else "brute"
        if sparse_backend == "auto":
            sparse_backend = "scipy" if have_scipy else "torch"
        self.neighbor_search, self.sparse_backend = neighbors, sparse_backend
        budget = DEFAULT_MEMORY_BUDGET if memory_budget is None else _positive_int(memory_budget, "memory_budget")
        if block is None:
            block = max(1, budget // max(1, 2 * n * pts.element_size()))
        self.block = min(_positive_int(block, "block"), n)
        self._dtype, self._device, self.products = pts.dtype, pts.device, 0

        begin = time.perf_counter()
        count = min(n - 1, self.k + max(4, self.k // 2))
        if neighbors == "kdtree":
            candidates = _candidates_kdtree(pts, count)
        else:
            candidates = _candidates_brute(pts, count, self.block)
        # float32 points are measured as they are (float64 of their values); float64 points too
        rows = max(1, budget // max(1, 3 * count * dim * 8))
        self.neighbor_indices, d2 = _nearest(pts, candidates, self.k, rows)
        del candidates
        self.sigmas = d2[:, -1].sqrt()
        mid = time.perf_counter()
        self._build(d2)
        self.timings = {"neighbors": mid - begin, "kernel": time.perf_counter() - mid}

    def _build(self, d2: Tensor) -> None:
        n, k, dev = self.n, self.k, self._device
        row = torch.arange(n, device=dev).repeat_interleave(k)
        col = self.neighbor_indices.reshape(-1)
        lo, hi = torch.minimum(row, col), torch.maximum(row, col)
        keys, inverse = torch.unique(lo * n + hi, return_inverse=True)  # the union of the kNN edges
        dist2 = torch.empty(keys.shape[0], dtype=torch.float64, device=dev).scatter_(0, inverse, d2.reshape(-1))
        a, b = keys // n, keys % n
        scale = self.sigmas[a] * self.sigmas[b]
        w = torch.exp(-dist2 / scale.clamp_min(torch.finfo(torch.float64).tiny))
        w = torch.where(scale > 0, w, torch.zeros_like(w))  # sigma_i sigma_j = 0: the limit, 0 ...
        w = torch.where(dist2 == 0, torch.ones_like(w), w)  # ... or 1 between copies
        w = torch.nn.functional.threshold(w, _FLOOR, 0.0)
        diag = torch.arange(n, device=dev)
        rows = torch.cat([a, b, diag])
        cols = torch.cat([b, a, diag])
        vals = torch.cat([w, w, torch.ones(n, dtype=torch.float64, device=dev)])
        order = torch.argsort(rows * n + cols)
        rows, self._cols, vals = rows[order], cols[order].contiguous(), vals[order]
        counts = torch.bincount(rows, minlength=n)
        self._crow = torch.zeros(n + 1, dtype=torch.int64, device=dev)
        torch.cumsum(counts, dim=0, out=self._crow[1:])
        self._affinity = vals
        self.degrees = torch.zeros(n, dtype=torch.float64, device=dev).index_add_(0, rows, vals)
        if self.alpha == 0:
            kalpha = vals
        else:
            kalpha = vals / (self.degrees[rows] * self.degrees[self._cols]) ** self.alpha
        self.alpha_degrees = torch.zeros(n, dtype=torch.float64, device=dev).index_add_(0, rows, kalpha)
        self._values = kalpha * (self.alpha_degrees[rows] * self.alpha_degrees[self._cols]).rsqrt()
        if self.sparse_backend == "scipy":
            import scipy.sparse

            data = self._values.to(self._dtype).numpy()
            self._scipy = scipy.sparse.csr_matrix(
                (data, self._cols.numpy(), self._crow.numpy()), shape=(n, n), copy=False
            )
        else:
            self._torch = _csr(self._crow, self._cols, self._values.to(self._dtype), n)

    # the attributes eigen.deflated_lanczos_spectrum reads from its matrix
    @property
    def n(self) -> int:
        return int(self.sigmas.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n, self.n)

    @property
    def dtype(self) -> torch.dtype:
        return self._dtype

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def nnz(self) -> int:
        """Stored entries of the sparse matrix (at most ``N (2k + 1)``)."""
        return int(self._values.shape[0])

    def affinity(self) -> Tensor:
        """The symmetric kNN affinities :math:`K` (diagonal 1) as a float64 sparse CSR tensor."""
        return _csr(self._crow, self._cols, self._affinity, self.n)

    def operator(self) -> Tensor:
        """:math:`S = D'^{-1/2} K^{(\\alpha)} D'^{-1/2}` as a float64 sparse CSR tensor."""
        return _csr(self._crow, self._cols, self._values, self.n)

    def dense(self) -> Tensor:
        """:math:`S` as a dense float64 ``(N, N)`` tensor (refused above ``EXACT_MAX_N`` points)."""
        if self.n > EXACT_MAX_N:
            raise ValueError(f"a dense operator needs N <= {EXACT_MAX_N}, got N = {self.n}; use solver='slq'")
        return self.operator().to_dense()

    def matmul(self, v: Tensor) -> Tensor:
        """:math:`S V` for ``V`` of shape ``(N,)`` or ``(N, w)``, in the operator's dtype."""
        if v.ndim not in (1, 2) or v.shape[0] != self.n:
            raise ValueError(f"v must have shape ({self.n},) or ({self.n}, w), got {tuple(v.shape)}")
        self.products += 1
        u = v.detach().reshape(self.n, -1).to(device=self._device, dtype=self._dtype)
        if self.sparse_backend == "scipy":
            import numpy as np

            out = torch.from_numpy(np.ascontiguousarray(self._scipy @ u.contiguous().numpy()))
        else:
            out = self._torch @ u
        return out.reshape(-1) if v.ndim == 1 else out

    __matmul__ = matmul


def _check_alpha(alpha: Any) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
        raise TypeError(f"alpha must be a finite number >= 0, got {alpha!r}")
    value = float(alpha)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
    return value


def _slq_bits(op: AdaptiveDiffusionOperator, t: float, steps: int, probes: int, seed: int) -> Tensor:
    r"""DSE in bits by stochastic Lanczos quadrature on :math:`S` with its known top eigenpair
    deflated exactly: :math:`u \propto D'^{1/2}\mathbf 1` satisfies :math:`Su = u`, so
    :math:`\mathrm{tr} f(S) = f(1) + \mathrm{tr} f(PSP)`, :math:`P = I - uu^\top`, with no cross
    term (a deflated subspace that is not invariant, such as a randomized range finder's on a
    flat spectrum, drops cross terms of :math:`f(S)` for :math:`t \ne 1`: measured 0.4-1 % too
    high an entropy on this kernel at t = 3, so none is used here)."""
    n = op.n
    root = op.alpha_degrees.sqrt()
    u = (root / torch.linalg.vector_norm(root)).to(op.dtype)[:, None]

    def project(w: Tensor) -> Tensor:
        return w - u @ (u.T @ w)

    def matvec(w: Tensor) -> Tensor:
        return project(op @ project(w))

    gen = torch.Generator().manual_seed(int(seed))
    # memory-bound operations (scipy's product is single-threaded anyway): on a 2-core CPU shared
    # with other work, two intra-op threads took 0.5-7.7 s at N = 2000 against 0.2-0.5 s on one,
    # and 6.0-9.6 s at N = 10^5 against 5.6-5.9 s (see kernel.small_problem_threads)
    with small_problem_threads(1, active=op.device.type == "cpu"):
        nodes, weights = eigen.lanczos_spectrum(
            matvec, n, steps=steps, probes=probes, dtype=op.dtype, device=op.device, generator=gen, project=project
        )
    one = torch.ones(1, dtype=nodes.dtype, device=nodes.device)
    return _slq_entropy_bits(torch.cat([one, nodes]), torch.cat([one / n, weights]), n, t)


def adaptive_diffusion_spectral_entropy(
    x: Tensor,
    k: int = 15,
    t: float = 3,
    *,
    alpha: float = 1.0,
    solver: str = "auto",
    steps: int = 30,
    probes: int = 32,
    seed: int = 0,
    neighbors: str = "auto",
    sparse_backend: str = "auto",
    base: float | str = 2,
    dtype: torch.dtype | None = None,
    block: int | None = None,
    memory_budget: int | None = None,
) -> Tensor:
    r"""Diffusion spectral entropy of the adaptive-bandwidth kNN kernel of the points ``x``
    (N, D), in bits by default: :math:`-\sum_i p_i \log_2 p_i`,
    :math:`p_i = |\lambda_i|^t / \sum_j |\lambda_j|^t` over the eigenvalues of the Markov
    operator :math:`P = D'^{-1} K^{(\alpha)}` of the kernel
    :math:`K_{ij} = \exp(-d_{ij}^2 / \sigma_i\sigma_j)` on the (max-)symmetrized kNN graph,
    :math:`\sigma_i` the distance to the ``k``-th neighbour, :math:`K^{(\alpha)} = D^{-\alpha} K
    D^{-\alpha}` (Coifman & Lafon 2006, https://doi.org/10.1016/j.acha.2006.04.006; adaptive
    bandwidths as in PHATE, Moon et al. 2019, https://doi.org/10.1038/s41587-019-0336-3). The
    defaults (``k = 15``, ``t = 3``, ``alpha = 1``) are manylatents' DSE kernel. Between 0 and
    :math:`\log_2 N`. Duplicated points are allowed (the rule is in
    :mod:`infotorch.spectral.adaptive`); ``k`` is capped at ``N - 1``.

    ``solver``: ``"exact"`` (``eigvalsh`` of the dense :math:`S`; refused above 20000 points),
    ``"slq"`` (stochastic Lanczos quadrature on the sparse operator, its top eigenvector
    :math:`\propto D'^{1/2}\mathbf 1` deflated exactly: ``steps`` Lanczos steps on ``probes``
    Rademacher probes from a generator seeded by ``seed``, ``steps`` sparse products of
    ``O(N k × probes)`` each, memory ``O(N × steps × probes)``), or ``"auto"`` (exact up to 4000
    points, SLQ above). Error of ``"slq"`` with the defaults, measured against ``"exact"`` on
    256-D Gaussian and manifold data (BENCHMARKS.md, "DSE at scale"): 5e-3 to 1e-2 bits rms over
    six seeds at N = 2000, 2e-3 to 9e-3 at N = 8000, 3.6e-4 and 2.7e-3 bits at N = 10^4 (one
    seed; relative 3e-5 to 1e-3); at N = 10^5 the values of four seeds spread by 3.3e-4 bits
    (standard deviation). The quadrature has converged by 20 steps; what remains is the probes'
    variance, which falls as :math:`1/\sqrt{\text{probes}}`. On CPU the quadrature runs on one
    intra-op thread (faster than two on a shared 2-core machine, measured). ``neighbors``,
    ``sparse_backend``, ``dtype``, ``block``, ``memory_budget``: see
    :class:`AdaptiveDiffusionOperator`. Returns a 0-d tensor of the input's dtype.

    Examples
    --------
    >>> import math, torch
    >>> from infotorch.spectral import adaptive_diffusion_spectral_entropy
    >>> x = torch.randn(1000, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> h = adaptive_diffusion_spectral_entropy(x)                       # k = 15, t = 3, exact
    >>> bool(0 < h < math.log2(1000))
    True
    >>> h_slq = adaptive_diffusion_spectral_entropy(x, solver="slq")
    >>> bool(abs(h_slq - h) < 3e-2)
    True
    """
    t = _check_time(t)
    v.check_choice(solver, SOLVERS, "solver")
    steps, probes = _positive_int(steps, "steps"), _positive_int(probes, "probes")
    log_base = v.check_base(base)
    op = AdaptiveDiffusionOperator(
        x,
        k,
        alpha=alpha,
        neighbors=neighbors,
        sparse_backend=sparse_backend,
        dtype=dtype,
        block=block,
        memory_budget=memory_budget,
    )
    if solver == "auto":
        solver = "exact" if op.n <= AUTO_EXACT_MAX_N else "slq"
    if solver == "exact":
        if op.n > EXACT_MAX_N:
            raise ValueError(f"solver='exact' needs N <= {EXACT_MAX_N} (a dense N x N matrix), got N = {op.n}")
        bits = c.spectrum_entropy(eigvalsh(op.dense()), t)
    else:
        bits = _slq_bits(op, t, steps, probes, seed)
    return nx.bits_to(bits, log_base).to(_out_dtype(x))
