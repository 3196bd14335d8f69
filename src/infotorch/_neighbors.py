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
    :class:`scipy.spatial.cKDTree` on CPU. Exact for the max-norm and for one-column spaces (its
    arithmetic is the canonical one there); for a Euclidean variable of two or more columns it
    supplies the k nearest candidates, whose distances are then recomputed canonically, and
    radius counts (which would compare squared distances in the tree's own summation order)
    are delegated to ``"brute"``.
``"auto"``
    ``"kdtree"`` when the points are on the CPU and scipy is importable, otherwise ``"brute"``.

Radius counts in a one-column space never use either: they run in sorted order (a bisection
per query whose predicate is the canonical ``|a - b| < r``), O(N log N) on any device.
"""

from __future__ import annotations

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
    def tree_exact(self) -> bool:
        """Whether cKDTree's distance equals the canonical one (a plain max-norm or one column)."""
        return self.metric == "chebyshev" or (len(self.groups) == 1 and self.dim == 1)

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
    total = right_start - left_out
    self_hit = (0 < radius) if strict else (0 <= radius)
    return torch.empty_like(total).scatter_(1, order, total - self_hit.long())


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
        tree = cKDTree(pts)
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


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class _Backend:
    name: str
    usable: Callable[[Tensor], bool]


BACKENDS: dict[str, _Backend] = {
    "brute": _Backend("brute", lambda t: True),
    "kdtree": _Backend("kdtree", lambda t: t.device.type == "cpu" and _scipy_available()),
}


def resolve_backend(backend: str, points: Tensor) -> str:
    """The concrete backend for ``points``; ``"auto"`` applies the rule of the module docstring."""
    if backend == "auto":
        return "kdtree" if BACKENDS["kdtree"].usable(points) else "brute"
    if backend not in BACKENDS:
        options = " | ".join(repr(b) for b in ("auto", *BACKENDS))
        raise ValueError(f"backend must be one of {options}, got {backend!r}")
    if not BACKENDS[backend].usable(points):
        raise ValueError(f"backend={backend!r} needs CPU tensors and scipy, got a tensor on {points.device}")
    return backend


def kth_neighbors(
    query: Tensor, ref: Tensor, space: Space, k: int, backend: str, *, exclude_self: bool
) -> tuple[Tensor, Tensor]:
    """The ``k`` nearest canonical distances (B, Nq, k), ascending, and their indices, for every query."""
    b, nq, _ = query.shape
    if backend == "kdtree" and space.tree_norm:
        return _tree_kth(query, ref, space, k, exclude_self)
    bq, iq = _all_queries(b, nq, query.device)
    v, j = _brute_kth(query, ref, bq, iq, space, k, exclude_self=exclude_self)
    return v.reshape(b, nq, k), j.reshape(b, nq, k)


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
    if backend == "kdtree" and space.tree_exact:
        return _tree_count(points, space, radius, strict)
    b, n, _ = points.shape
    bq, iq = _all_queries(b, n, points.device)
    return _brute_count(points, bq, iq, space, radius.reshape(-1), strict).reshape(b, n)


def ball_max(
    points: Tensor, joint: Space, radius: Tensor, parts: list[Space], bq: Tensor, iq: Tensor
) -> tuple[Tensor, Tensor]:
    """For the listed queries: the largest distance in each of ``parts`` over the closed joint ball, and its size."""
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
