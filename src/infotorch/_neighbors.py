"""Exact nearest-neighbour search for the kNN estimators, behind a small table of backends.

Everything here is private to :mod:`infotorch.knn`. Points are float64 tensors of shape
``(B, N, D)`` (a batch of ``B`` independent point sets); a :class:`Space` says which columns form
each variable and which norm measures it. The distance between two points of a space is the
maximum over its variables of the variable's norm (the product-space distance of Kraskov et al.
2004), so the max-norm over all columns is the special case ``metric="chebyshev"``.

**Canonical arithmetic.** Every distance that a result depends on is computed in float64 by one
formula: ``|a - b|`` per column (IEEE subtraction is correctly rounded, so every library gets the
same bits), the maximum over columns for the max-norm, and ``sqrt`` of the squared differences
summed column by column, in column order, for the Euclidean norm of a variable with two or more
columns. A variable of one column has norm ``|a - b|`` in both metrics. A backend may only be
used where it reproduces these bits, or as a candidate generator whose candidates are measured
again canonically; that is what makes results independent of the backend.

Backends (``BACKENDS``):

``"brute"``
    Blocked brute force in torch on the points' device: queries are processed in blocks of
    ``block`` rows, each against all ``N`` references, so memory is O(block x N), never N x N.
    Every norm, every operation.
``"kdtree"``
    :class:`scipy.spatial.cKDTree` on CPU. Exact for max-norm distances (``metric="chebyshev"``,
    or every variable of one column, which includes one-column spaces: its arithmetic is the
    canonical one there); for a Euclidean variable of two or more columns it supplies the k nearest
    candidates, whose distances are then recomputed canonically, and radius counts (which would
    compare squared distances in the tree's own summation order) are delegated to ``"brute"``.
``"faiss"``
    An exhaustive float32 faiss index on CPU (``IndexFlatL2``, or ``IndexFlat`` with
    ``METRIC_Linf`` for max-norm distances), used only as a *candidate generator* for k-NN
    searches, never for a distance that a result depends on: each query asks for ``K > k``
    candidates, their distances are recomputed canonically, and the k smallest are kept only
    if a proven bound shows that no point left out can be nearer (:func:`_faiss_kth`); queries
    that fail the bound are searched again with 4 K candidates, and brute force takes those
    still failing at ``FAISS_MAX_CANDIDATES``. A product space that is not a max-norm (two or
    more Euclidean variables) is searched in the Euclidean norm of all its columns, which is at
    most ``sqrt(#variables)`` times the product distance; the bound includes that factor.
    Radius counts are never given to faiss: they use the exact paths (sorted 1-D counts, the
    cKDTree where it is exact and scipy is installed, otherwise brute force).
``"auto"``
    Per search, on CPU: ``"faiss"`` (when importable) where a cKDTree cannot search exactly or
    well, i.e. a product of two or more Euclidean variables (not all of one column) among
    ``FAISS_MIN_N_PRODUCT`` references or more, or one Euclidean variable of ``FAISS_MIN_DIM``
    or more columns among ``FAISS_MIN_N`` or more; otherwise ``"kdtree"`` when scipy is
    importable (brute force for a product of Euclidean variables, which a tree cannot search),
    else ``"brute"``; ``"brute"`` off the CPU. The faiss max-norm index is never chosen: its
    kernel is several times slower than the cKDTree at every size measured (``BENCHMARKS.md``).
    Radius counts: as for ``"faiss"``.

Radius counts in a one-column space never use a tree: they run in sorted order (a bisection
per query whose predicate is the canonical ``|a - b| < r``), O(N log N) on any device.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "BACKENDS",
    "Space",
    "ball_max",
    "count_within",
    "duplicate_counts",
    "kth_neighbors",
    "kth_neighbors_subset",
    "resolve_backend",
    "search_backend",
    "searches_by_index",
]

METRICS = ("euclidean", "chebyshev")

#: Upper bound on the number of float64 entries of one (block x N) distance tile.
TILE_ELEMENTS = 1 << 21


@dataclass(frozen=True)
class Space:
    """Columns ``[start, stop)`` of each variable and the norm within a variable."""

    groups: tuple[tuple[int, int], ...]
    metric: str

    @property
    def dim(self) -> int:
        return sum(b - a for a, b in self.groups)

    @property
    def max_norm(self) -> bool:
        """Whether the distance is the max-norm of all columns (``"chebyshev"``, or one column per variable)."""
        return self.metric == "chebyshev" or all(b - a == 1 for a, b in self.groups)

    @property
    def tree_exact(self) -> bool:
        """Whether cKDTree's distance equals the canonical one (a max-norm, which includes one column)."""
        return self.max_norm

    @property
    def tree_norm(self) -> bool:
        """Whether the distance is a single p-norm of all columns (a tree can search it at all)."""
        return self.tree_exact or len(self.groups) == 1


def make_space(dims: tuple[int, ...], metric: str) -> Space:
    """The product space of variables with ``dims`` columns each, in that column order."""
    groups, start = [], 0
    for d in dims:
        groups.append((start, start + d))
        start += d
    return Space(tuple(groups), metric)


# --------------------------------------------------------------------------- canonical distances


def _tile(q: Tensor, ref: Tensor, bq: Tensor, space: Space) -> Tensor:
    """Canonical distances between query rows ``q`` (M, D) and every reference of their batch row: (M, N).

    ``ref`` is (B, N, D) and ``bq`` (M,) the batch row of each query; references are gathered
    one column at a time, so no (M, N, D) tensor is ever built.
    """

    def column(c: int) -> Tensor:
        return ref[:1, :, c] if ref.shape[0] == 1 else ref[bq, :, c]

    out: Tensor | None = None
    for a, b in space.groups:
        g: Tensor | None = None
        if space.metric == "chebyshev" or b - a == 1:
            for c in range(a, b):
                diff = (q[:, c, None] - column(c)).abs_()
                g = diff if g is None else torch.maximum(g, diff, out=g)
        else:
            for c in range(a, b):
                diff = q[:, c, None] - column(c)
                diff = diff.mul_(diff)
                g = diff if g is None else g.add_(diff)
            assert g is not None
            g = g.sqrt_()
        assert g is not None
        out = g if out is None else torch.maximum(out, g, out=out)
    assert out is not None
    return out


def pair_distances(q: Tensor, r: Tensor, space: Space) -> Tensor:
    """Canonical distances between matched rows ``q`` (..., D) and ``r`` (..., D): shape (...)."""
    out: Tensor | None = None
    for a, b in space.groups:
        if space.metric == "chebyshev" or b - a == 1:
            g = (q[..., a:b] - r[..., a:b]).abs().amax(-1)
        else:
            s = torch.zeros_like(q[..., 0])
            for c in range(a, b):
                diff = q[..., c] - r[..., c]
                s = s + diff * diff
            g = s.sqrt()
        out = g if out is None else torch.maximum(out, g)
    assert out is not None
    return out


def _blocks(m: int, n: int) -> list[tuple[int, int]]:
    size = max(1, TILE_ELEMENTS // max(n, 1))
    return [(s, min(m, s + size)) for s in range(0, m, size)]


def _refs(ref: Tensor, bq: Tensor) -> Tensor:
    return ref[:1] if ref.shape[0] == 1 else ref[bq]


# --------------------------------------------------------------------------- brute force


def _brute_kth(
    query: Tensor,
    ref: Tensor,
    bq: Tensor,
    iq: Tensor,
    space: Space,
    k: int,
    *,
    exclude_self: bool,
    exclude_zero: bool = False,
    query_codes: Tensor | None = None,
    ref_codes: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """The ``k`` smallest canonical distances (ascending) and their indices for queries ``(bq, iq)``.

    ``exclude_self`` drops reference ``iq`` (query and reference sets are the same);
    ``exclude_zero`` drops every reference at distance 0; with codes, only references whose
    code equals the query's count. Missing neighbours read ``inf`` (index ``-1``).
    """
    m, n = bq.numel(), ref.shape[1]
    kk = min(k, n)
    values = torch.full((m, k), math.inf, dtype=ref.dtype, device=ref.device)
    index = torch.full((m, k), -1, dtype=torch.long, device=ref.device)
    for s, e in _blocks(m, n):
        b, i = bq[s:e], iq[s:e]
        d = _tile(query[b, i], ref, b, space)
        if exclude_self:
            d[torch.arange(e - s, device=d.device), i] = math.inf
        if exclude_zero:
            d.masked_fill_(d == 0, math.inf)
        if ref_codes is not None and query_codes is not None:
            d.masked_fill_(_refs(ref_codes, b) != query_codes[b, i, None], math.inf)
        v, j = torch.topk(d, kk, dim=1, largest=False, sorted=True)
        values[s:e, :kk] = v
        index[s:e, :kk] = torch.where(torch.isinf(v), -1, j)
    return values, index


def _brute_count(points: Tensor, bq: Tensor, iq: Tensor, space: Space, radius: Tensor, strict: bool) -> Tensor:
    """``#{j != i : d(i, j) < r_i}`` (``strict``) or ``<= r_i`` for queries ``(bq, iq)``."""
    m, n = bq.numel(), points.shape[1]
    out = torch.empty(m, dtype=torch.long, device=points.device)
    for s, e in _blocks(m, n):
        b, i = bq[s:e], iq[s:e]
        d = _tile(points[b, i], points, b, space)
        r = radius[s:e, None]
        hit = d < r if strict else d <= r
        self_hit = (0 < radius[s:e]) if strict else (0 <= radius[s:e])
        out[s:e] = hit.sum(1) - self_hit.long()
    return out


def _all_queries(b: int, n: int, device: torch.device) -> tuple[Tensor, Tensor]:
    bq = torch.arange(b, device=device).repeat_interleave(n)
    iq = torch.arange(n, device=device).repeat(b)
    return bq, iq


# --------------------------------------------------------------------------- sorted 1-D counts


def _sorted_count(points: Tensor, radius: Tensor, strict: bool) -> Tensor:
    """Radius counts in a one-column space in sorted order; exact, O(N log N).

    ``points`` is (B, N, 1), ``radius`` (B, N). For a query ``x`` the references outside the
    ball on the left form a prefix of the sorted values (``x - s`` is non-increasing in ``s``
    after correctly rounded subtraction) and those on the right a suffix. Each boundary is
    first placed by :func:`torch.searchsorted` at ``x -/+ r`` (rounded), then moved, one run of
    equal values at a time, until the canonical predicate ``|x - s| < r`` itself holds on one
    side and fails on the other; so ties at the radius are decided exactly as the brute-force
    kernel decides them, in a few vectorized steps.
    """
    srt, order = torch.sort(points[..., 0], dim=-1)
    n = srt.shape[1]
    values = srt  # queries in sorted order: cache-friendly searches; results are scattered back
    radius = torch.gather(radius, 1, order)

    def inside(dist: Tensor) -> Tensor:
        return dist < radius if strict else dist <= radius

    def settle(prefix: Callable[[Tensor], Tensor], p: Tensor) -> Tensor:
        """Exact length of the prefix of ``srt`` on which the monotone predicate holds, from a guess ``p``."""
        while True:
            at = torch.gather(srt, 1, p.clamp_max(n - 1))
            right = (p < n) & prefix(at)
            if bool(right.any()):
                p = torch.where(right, torch.searchsorted(srt, at, right=True), p)
            before = torch.gather(srt, 1, (p - 1).clamp_min(0))
            left = (p > 0) & ~prefix(before)
            if bool(left.any()):
                p = torch.where(left, torch.searchsorted(srt, before, right=False), p)
            elif not bool(right.any()):
                return p

    left_out = settle(lambda s: (s < values) & ~inside(values - s), torch.searchsorted(srt, values - radius))
    right_start = settle(lambda s: (s <= values) | inside(s - values), torch.searchsorted(srt, values + radius))
    total = right_start - left_out  # every value equal to the query is in [left_out, right_start)
    # distance 0 inside the ball: only the query itself is removed; outside (r = 0 strict, or a
    # negative radius): every copy of the query's value is, self included
    zero_inside = (0 < radius) if strict else (0 <= radius)
    copies = torch.searchsorted(srt, values, right=True) - torch.searchsorted(srt, values, right=False)
    removed = torch.where(zero_inside, torch.ones_like(copies), copies)
    return torch.empty_like(total).scatter_(1, order, total - removed)


# --------------------------------------------------------------------------- cKDTree


def _scipy_available() -> bool:
    try:
        import scipy.spatial  # noqa: F401
    except ImportError:  # pragma: no cover - scipy is a test dependency
        return False
    return True


def _tree_kth(query: Tensor, ref: Tensor, space: Space, k: int, exclude_self: bool) -> tuple[Tensor, Tensor]:
    from scipy.spatial import cKDTree

    b, nq, _ = query.shape
    nr = ref.shape[1]
    p = math.inf if space.tree_exact else 2.0
    extra = 1 if exclude_self else 0
    kq = min(k + extra, nr)
    values = torch.full((b, nq, k), math.inf, dtype=torch.float64)
    index = torch.full((b, nq, k), -1, dtype=torch.long)
    for bi in range(b):
        r_np = ref[bi].numpy()
        tree = cKDTree(r_np)
        _, j = tree.query(query[bi].numpy(), k=kq, p=p, workers=-1)
        j = torch.from_numpy(j.reshape(nq, kq)).long()
        if exclude_self:
            rows = torch.arange(nq).unsqueeze(1)
            is_self = j == rows
            # drop self where the tree returned it, else the last column (self is tied at 0)
            drop = torch.where(is_self.any(1), is_self.long().argmax(1), kq - 1)
            keep = torch.ones_like(j, dtype=torch.bool)
            keep[torch.arange(nq), drop] = False
            j = j[keep].reshape(nq, kq - 1)
        # canonical distances of the candidates (bit-identical to the tree's where tree_exact)
        d = pair_distances(query[bi].unsqueeze(1), ref[bi][j], space)
        d, order = torch.sort(d, dim=1, stable=True)
        j = torch.gather(j, 1, order)
        kk = d.shape[1]
        values[bi, :, :kk] = d
        index[bi, :, :kk] = j
    return values, index


def _count_leafsize(dim: int) -> int:
    """cKDTree leaf size for radius counts: larger leaves pay off as the balls fill up with points.

    Measured at N = 10^5 (CPU seconds of ``query_ball_point`` with KSG radii, ``BENCHMARKS.md``):
    leaf size 16 (scipy's default) against 64 / 128: 1.4 / 1.2 / 1.3 at 2 columns, 19 / 13 / 13
    at 5, 160 / 89 / 82 at 10. The counts do not depend on it.
    """
    return 64 if dim < 8 else 128


def _tree_count(points: Tensor, space: Space, radius: Tensor, strict: bool) -> Tensor:
    """Max-norm radius counts with cKDTree; rows with a non-finite coordinate are left out (count 0)."""
    import numpy as np
    from scipy.spatial import cKDTree

    out = torch.zeros(points.shape[:2], dtype=torch.long)
    # d < r  <=>  d <= nextafter(r, 0) for floats (cKDTree counts d <= r); r = 0 admits only d = 0
    r_all = np.nextafter(radius.numpy(), 0) if strict else radius.numpy()
    for bi in range(points.shape[0]):
        rows = torch.isfinite(points[bi]).all(-1)
        pts = points[bi][rows].numpy()
        if pts.shape[0] == 0:
            continue
        tree = cKDTree(pts, leafsize=_count_leafsize(pts.shape[1]))
        cnt = tree.query_ball_point(pts, r=r_all[bi][rows.numpy()], p=math.inf, return_length=True, workers=-1)
        cnt_t = torch.from_numpy(np.asarray(cnt, dtype=np.int64))
        if strict:
            cnt_t = torch.where(radius[bi][rows] == 0, 1, cnt_t)  # nothing lies at d < 0: self only
        out[bi][rows] = cnt_t - 1
    return out


def _brute_ball_max(
    points: Tensor, bq: Tensor, iq: Tensor, joint: Space, radius: Tensor, parts: list[Space]
) -> tuple[Tensor, Tensor]:
    """Over the closed ball ``d(i, j) <= r_i`` (``j != i``): the largest distance in each part and the count."""
    m, n = bq.numel(), points.shape[1]
    out = torch.zeros(m, len(parts), dtype=points.dtype, device=points.device)
    count = torch.zeros(m, dtype=torch.long, device=points.device)
    for s, e in _blocks(m, n):
        b, i = bq[s:e], iq[s:e]
        q = points[b, i]
        ball = _tile(q, points, b, joint) <= radius[s:e, None]
        ball[torch.arange(e - s, device=ball.device), i] = False
        count[s:e] = ball.sum(1)
        for g, part in enumerate(parts):
            d = _tile(q, points, b, part)
            out[s:e, g] = torch.where(ball, d, 0.0).amax(1)
    return out, count


# --------------------------------------------------------------------------- faiss (candidates only)

#: Unit roundoff of float32 and float64 (half an ulp of 1).
_U32 = 2.0**-24
_U64 = 2.0**-53
#: Largest float32 subnormal spacing: the absolute rounding error of a value near 0.
_TINY32 = 2.0**-149
#: ``"auto"`` searches one Euclidean variable with faiss from this many columns and references
#: on (the cKDTree is faster below; measured on Gaussian data, faiss was faster at N = 10^5 from
#: 14 columns, at N = 10^4 from 16, and equal at 14, ``BENCHMARKS.md``).
FAISS_MIN_DIM = 14
FAISS_MIN_N = 10_000
#: ``"auto"`` searches a product of Euclidean variables with faiss from this many references on
#: (below it brute force is as fast: faiss and torch each keep an OpenMP pool, and a switch
#: between them costs a spin-wait of the other's threads, about 10-20 ms on a loaded machine).
FAISS_MIN_N_PRODUCT = 500
#: A query still failing the bound with this many candidates is searched by brute force.
FAISS_MAX_CANDIDATES = 1024


@functools.cache
def _faiss_available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def _faiss_margin(space: Space, k: int) -> int:
    """The first number of candidates asked for beyond the ``k`` needed.

    Enough for almost every query to pass the bound at once (measured: all but 0-3 % at N = 2000
    to 20000 on Gaussian data; 20-33 % retry on data full of exact ties): the float32 radius must
    exceed the k-th canonical distance by the rounding slack (a few candidates) and, for a
    product of ``G`` Euclidean variables searched in the Euclidean norm, by the factor
    ``sqrt(G)``, whose ball holds about 4 times the points of the product ball at 10 + 10
    columns (more as ``G`` grows). Only the speed depends on it.
    """
    if space.max_norm or len(space.groups) == 1:
        return k + 8
    return 2 ** min(len(space.groups), 5) * k + 16


def _float32_frame(q: Tensor, r: Tensor, space: Space) -> tuple[Tensor, Tensor, Tensor, float] | None:
    """Queries and references centred and rounded to float32, with what the bound needs; ``None`` if unsafe.

    The centre is the midrange of both sets (distances do not change; the rounding error, which
    is relative to a coordinate's magnitude, shrinks). Returns ``(q32, r32, size_q, size_r)``:
    per query and for the largest reference, an upper bound on the float32 vector's magnitude
    in the norm of the search (Euclidean norm, or largest absolute coordinate). ``None`` when a
    coordinate is not finite or the float32 search could overflow.
    """
    both = torch.cat([q, r], dim=0)
    if not bool(torch.isfinite(both).all()):
        return None
    centre = both.amin(0) / 2 + both.amax(0) / 2
    sq, sr = q - centre, r - centre
    if space.max_norm:
        size_q, size_r = sq.abs().amax(1), float(sr.abs().max())
        limit = 1e37
    else:
        size_q, size_r = torch.linalg.vector_norm(sq, dim=1), float(torch.linalg.vector_norm(sr, dim=1).max())
        limit = 1e17  # squared sums of float32 values stay far below 3.4e38
    # a float32 vector exceeds its float64 source by at most u32 relatively, plus 2^-150 per
    # subnormal coordinate (which matters only for vectors of norm below about 1e-37, where the
    # bound's absolute terms dominate): inflate accordingly
    size_q = size_q * (1 + 4 * _U32)
    size_r = size_r * (1 + 4 * _U32)
    if float(size_q.max()) + size_r > limit:
        return None
    return sq.to(torch.float32).contiguous(), sr.to(torch.float32).contiguous(), size_q, size_r


def _faiss_lower_bound(v: Tensor, size_q: Tensor, size_r: float, space: Space) -> Tensor:
    """A lower bound on the canonical distance of every reference whose float32 faiss value is ``>= v``.

    ``v`` (float32 values as float64) is faiss's distance for each query: the squared Euclidean
    distance of the float32 vectors, or their max-norm; ``size_q`` (per query) and ``size_r``
    (all references) bound the float32 vectors' Euclidean norms, or largest coordinates. The
    bound holds for any way faiss may compute ``v``, within IEEE float32 arithmetic:

    * **Euclidean** (``IndexFlatL2``): ``sum (x - y)^2`` in any order, or the BLAS expansion
      ``|x|^2 + |y|^2 - 2 <x, y>`` (clamped at 0), differ from the exact squared distance of the
      float32 vectors by at most ``gamma_{D+3} (|x| + |y|)^2``, ``gamma_n = n u / (1 - n u)``
      (Higham's bound for a sum or an inner product of ``D`` terms, plus three roundings).
      Rounding the centred float64 points to float32 moves each by at most ``u |x| + D 2^-149``
      (plus ``2 u64 |x|`` from centring in float64), so the real distance is at least
      ``sqrt(v - E) - e_x - e_y``. A product of ``G`` Euclidean variables: its distance (the
      largest variable's norm) is at least the Euclidean norm of all columns over ``sqrt(G)``.
    * **Max-norm** (``METRIC_Linf``): ``max_c |x_c - y_c|`` with one correctly rounded
      subtraction per column, so the exact max-norm of the float32 vectors is at least
      ``v / (1 + u)``; rounding moves every coordinate by at most ``u |x_c| + 2^-149``.

    The canonical float64 distance is within ``(D + 2) u64`` relatively of the real one; the
    final factor ``1 - 2^-30`` covers it (and every float64 rounding of this computation) with
    a margin of 10^6 for any D below 10^6.
    """
    d = space.dim
    conv = 1.01 * (_U32 + 2 * _U64)
    if space.max_norm:
        exact32 = v / (1 + _U32)
        slack = conv * (size_q + size_r) + 2 * _TINY32
        real = exact32 - slack
    else:
        n = d + 3
        gamma = 1.01 * n * _U32 / (1 - n * _U32)
        sq = v - gamma * (size_q + size_r) ** 2 - n * _TINY32  # the last term: squares that underflow
        slack = conv * (size_q + size_r) + 2 * d * _TINY32
        real = torch.sqrt(sq.clamp_min(0.0)) - slack
        if len(space.groups) > 1:
            real = real / (math.sqrt(len(space.groups)) * (1 + 2**-40))
    return real * (1 - 2.0**-30)


def _faiss_kth(query: Tensor, ref: Tensor, space: Space, k: int, exclude_self: bool) -> tuple[Tensor, Tensor]:
    """:func:`kth_neighbors` with faiss as a candidate generator; the result equals brute force's values.

    Per query: ``K`` candidates from faiss, their canonical distances, the ``k`` smallest (self
    left out with ``exclude_self``). They are the true ``k`` nearest when the k-th is strictly
    below :func:`_faiss_lower_bound` of the K-th float32 value (every reference not returned has
    a float32 value at least that, so a canonical distance above the k-th), or when all
    references were returned. Queries that fail are asked again for 4 K candidates; beyond
    ``FAISS_MAX_CANDIDATES``, and for batch rows that cannot be rounded to float32 safely, brute
    force answers.
    """
    import faiss

    b, nq, dim = query.shape
    nr = ref.shape[1]
    values = torch.full((b, nq, k), math.inf, dtype=torch.float64)
    index = torch.full((b, nq, k), -1, dtype=torch.long)
    extra = 1 if exclude_self else 0
    for bi in range(b):
        q64, r64 = query[bi], ref[bi]
        frame = _float32_frame(q64, r64, space)
        pending = torch.arange(nq)
        if frame is not None:
            q32, r32, size_q, size_r = frame
            flat = faiss.IndexFlat(dim, faiss.METRIC_Linf) if space.max_norm else faiss.IndexFlatL2(dim)
            flat.add(r32.numpy())
            want = min(nr, k + extra + _faiss_margin(space, k))
            while pending.numel():
                # one search per round: faiss and torch keep separate OpenMP pools, and each switch
                # between them can cost a spin-wait period of the other's threads
                dist32, cand = flat.search(q32[pending].numpy(), want)
                # every reference not returned has a float32 value at least the largest returned one
                last = torch.from_numpy(dist32.max(axis=1)).to(torch.float64)
                cand_t = torch.from_numpy(cand)
                failed = []
                for s, e in _blocks(pending.numel(), want * dim):
                    rows, v, j = pending[s:e], last[s:e], cand_t[s:e]
                    valid = (j >= 0).all(1)
                    j = j.clamp_min(0)
                    d = pair_distances(q64[rows].unsqueeze(1), r64[j], space)
                    if exclude_self:
                        d.masked_fill_(j == rows.unsqueeze(1), math.inf)
                    d, order = torch.sort(d, dim=1, stable=True)
                    kk = min(k, want)
                    d, j = d[:, :kk], torch.gather(j, 1, order[:, :kk])
                    complete = want == nr  # every reference is a candidate
                    ok = valid & (complete | (d[:, -1] < _faiss_lower_bound(v, size_q[rows], size_r, space)))
                    good = rows[ok]
                    values[bi, good, :kk] = d[ok]
                    index[bi, good, :kk] = torch.where(torch.isinf(d[ok]), -1, j[ok])
                    failed.append(rows[~ok])
                pending = torch.cat(failed)
                if want == nr or want >= FAISS_MAX_CANDIDATES:
                    break
                want = min(nr, 4 * want, FAISS_MAX_CANDIDATES)
        if pending.numel():
            bq = torch.zeros_like(pending)
            v_b, j_b = _brute_kth(
                query[bi : bi + 1], ref[bi : bi + 1], bq, pending, space, k, exclude_self=exclude_self
            )
            values[bi, pending], index[bi, pending] = v_b, j_b
    return values, index


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class _Backend:
    name: str
    cpu_only: bool
    available: Callable[[], bool]
    install: str  # how to get what ``available`` checks, for the error message


def _on_cpu(t: Tensor) -> bool:
    return t.device.type == "cpu"


BACKENDS: dict[str, _Backend] = {
    "brute": _Backend("brute", False, lambda: True, ""),
    "kdtree": _Backend("kdtree", True, _scipy_available, "scipy (pip install scipy)"),
    "faiss": _Backend("faiss", True, _faiss_available, "faiss (pip install faiss-cpu, or infotorch[faiss])"),
}


def resolve_backend(backend: str, points: Tensor) -> str:
    """The backend for ``points``: a name of ``BACKENDS``, or ``"auto"`` on CPU (decided per search)."""
    if backend == "auto":
        return "auto" if _on_cpu(points) else "brute"
    if backend not in BACKENDS:
        options = " | ".join(repr(b) for b in ("auto", *BACKENDS))
        raise ValueError(f"backend must be one of {options}, got {backend!r}")
    spec = BACKENDS[backend]
    if spec.cpu_only and not _on_cpu(points):
        raise ValueError(f"backend={backend!r} needs CPU tensors, got a tensor on {points.device}")
    if not spec.available():
        raise ValueError(f"backend={backend!r} needs {spec.install}, which is not installed")
    return backend


def search_backend(backend: str, space: Space, n: int) -> str:
    """The backend of a k-NN search in ``space`` among ``n`` references: ``backend``, or the rule of ``"auto"``."""
    if backend != "auto":
        return backend
    if not space.max_norm and _faiss_available():
        if len(space.groups) > 1 and n >= FAISS_MIN_N_PRODUCT:
            return "faiss"
        if len(space.groups) == 1 and space.dim >= FAISS_MIN_DIM and n >= FAISS_MIN_N:
            return "faiss"
    if len(space.groups) > 1 and not space.max_norm:
        return "brute"  # a tree cannot search a product of Euclidean variables
    return "kdtree" if _scipy_available() else "brute"


def _count_backend(backend: str, space: Space) -> str:
    """Radius counts never use faiss: the cKDTree where it is exact (and installed), else brute force."""
    if backend != "brute" and space.tree_exact and _scipy_available():
        return "kdtree"
    return "brute"


def kth_neighbors(
    query: Tensor, ref: Tensor, space: Space, k: int, backend: str, *, exclude_self: bool
) -> tuple[Tensor, Tensor]:
    """The ``k`` nearest canonical distances (B, Nq, k), ascending, and their indices, for every query."""
    b, nq, _ = query.shape
    chosen = search_backend(backend, space, ref.shape[1])
    if chosen == "faiss":
        return _faiss_kth(query, ref, space, k, exclude_self)
    if chosen == "kdtree" and space.tree_norm:
        return _tree_kth(query, ref, space, k, exclude_self)
    bq, iq = _all_queries(b, nq, query.device)
    v, j = _brute_kth(query, ref, bq, iq, space, k, exclude_self=exclude_self)
    return v.reshape(b, nq, k), j.reshape(b, nq, k)


def searches_by_index(backend: str, space: Space, n: int) -> bool:
    """Whether :func:`kth_neighbors` answers from a tree or an index here (not brute force)."""
    chosen = search_backend(backend, space, n)
    return chosen == "faiss" or (chosen == "kdtree" and space.tree_norm)


def kth_neighbors_subset(
    query: Tensor,
    ref: Tensor,
    bq: Tensor,
    iq: Tensor,
    space: Space,
    k: int,
    *,
    exclude_self: bool,
    exclude_zero: bool = False,
    query_codes: Tensor | None = None,
    ref_codes: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """:func:`kth_neighbors` for the listed queries only, with the masking options (always brute force)."""
    return _brute_kth(
        query,
        ref,
        bq,
        iq,
        space,
        k,
        exclude_self=exclude_self,
        exclude_zero=exclude_zero,
        query_codes=query_codes,
        ref_codes=ref_codes,
    )


def count_within(points: Tensor, space: Space, radius: Tensor, backend: str, *, strict: bool) -> Tensor:
    """``#{j != i : d(i, j) < r_i}`` (or ``<=``) for every point, shape (B, N).

    References with a non-finite coordinate are never counted (callers mask points that way).
    """
    radius = radius.to(points.dtype)
    if space.dim == 1:
        return _sorted_count(points, radius, strict)
    if _count_backend(backend, space) == "kdtree":
        return _tree_count(points, space, radius, strict)
    b, n, _ = points.shape
    bq, iq = _all_queries(b, n, points.device)
    return _brute_count(points, bq, iq, space, radius.reshape(-1), strict).reshape(b, n)


def ball_max(
    points: Tensor, joint: Space, radius: Tensor, parts: list[Space], bq: Tensor, iq: Tensor
) -> tuple[Tensor, Tensor]:
    """For the listed queries: the largest distance in each of ``parts`` over the closed joint ball, and its size.

    ``parts`` are spaces over the columns of ``points`` (a part's groups index them, as the joint's do).
    """
    return _brute_ball_max(points, bq, iq, joint, radius, parts)


def duplicate_counts(points: Tensor, extra: Tensor | None = None) -> Tensor:
    """For every point, how many points of its batch row are identical to it (itself included).

    Distance 0 in either norm means equal coordinates, so this is the exact count of points at
    distance 0, in O(N log N) by :func:`torch.unique`. ``extra`` (B, N) adds a code that must
    match too (a class label).
    """
    b, n, d = points.shape
    cols = [torch.arange(b, device=points.device, dtype=points.dtype).repeat_interleave(n).unsqueeze(1)]
    if extra is not None:
        cols.append(extra.reshape(-1, 1).to(points.dtype))
    cols.append(points.reshape(b * n, d) + 0.0)  # -0.0 + 0.0 is +0.0: one key per value
    key = torch.cat(cols, dim=1)
    _, inverse, counts = torch.unique(key, dim=0, return_inverse=True, return_counts=True)
    return counts[inverse].reshape(b, n)
