r"""Diffusion spectral entropy without an ``N × N`` matrix.

Two solvers for point clouds past what a dense kernel affords (``N`` of 10^4 to 10^6):

* :class:`MatrixFreeDiffusionOperator`: the symmetric diffusion operator
  :math:`K = D^{-1/2} G D^{-1/2}` of the Gaussian kernel
  :math:`G_{ij} = \exp(-\|x_i - x_j\|^2 / 2\sigma^2)`, applied to a block of vectors by forming
  strips of the upper triangle of :math:`G` from the points, about ``block × N`` entries each
  (memory ``O(block × N)``; the degrees :math:`G\mathbf 1` are accumulated over strips in
  float64 in one pass at construction). Each strip gives its own rows of a product and,
  transposed, its columns' share of the rows below it, so every exponential is computed once
  (half the work of whole rows). The exponents come from one matrix product of augmented rows,
  ``[−2s·x_i, s‖x_i‖², s] · [x_j, 1, ‖x_j‖²]`` with ``s = −1/2σ²``. It has ``shape``,
  ``dtype``, ``device`` and ``@``, so :func:`infotorch.spectral.eigen.deflated_lanczos_spectrum`
  runs on it unchanged: :func:`matrix_free_entropy` with the dense solver's settings is the dense
  ``"lanczos"`` solver of :class:`~infotorch.spectral.DiffusionKernel` draw for draw (the same
  seed gives the same probes, the same nodes and, for float64 points, the same value up to
  round-off), without the matrix. The recursion runs in float64 over products in the points'
  dtype, so float32 points give the float64 value to ~3e-7 (a recursion in float32 moved it by
  up to 3e-3). Cost: every product is one pass over
  about ``N(N+1)/2`` pairs (about 18 strips or more, each with its diagonal square: 7 % more;
  ``N² D / 2`` multiply-adds for the exponents, ``N²/2`` exponentials, ``N² w`` for a block of
  ``w`` vectors); a run is ``steps + power_iters + 3`` passes.
* :func:`nystrom_entropy`: an approximate kernel from ``m`` random landmarks,
  :math:`G \approx C W^{+} C^\top + \Delta` (``C`` the ``N × m`` kernel block, ``W`` the landmarks'
  ``m × m`` block, :math:`\Delta` the diagonal that restores :math:`G_{ii} = 1`), whose
  normalized spectrum is computed by deflated SLQ on the ``N × m`` factor: ``O(N m D + N m^2)``
  time, ``O(N m)`` memory, no ``N²`` term at all. The diagonal correction matters: a rank-``m``
  kernel has ``N - m`` zero eigenvalues, while a Gaussian kernel in many dimensions has a flat tail
  of ``N`` eigenvalues that carries most of the entropy; the error measured against the exact
  entropy is in BENCHMARKS.md.

``sigma="median"`` is the median pairwise distance of the first ``max_median_points`` points
(1000 by default), the rule of :meth:`DiffusionKernel.from_points`, so both paths see the same
kernel.

Across processes (``process_group=``): the products of :class:`MatrixFreeDiffusionOperator` split
over the ranks of a :mod:`torch.distributed` process group. Every rank holds all ``N`` points
(each row of :math:`G` needs every point) and is called with the same arguments; rank ``r`` of
``W`` computes the strips ``r, r + W, r + 2W, …`` (strips hold about equal numbers of pairs) of
every product and of the degrees, into a zero-padded ``(N, w)`` tensor, and one ``all_reduce``
(sum) per product gives
every rank the whole product (``N w`` numbers communicated per product). The Lanczos recursion
then runs identically on every rank (the same seed, the same probes), so every rank returns the
same value, that of one process up to round-off, in ``1/W`` of the kernel time. Any backend that
sums tensors on the points' device works (``gloo`` on CPU, ``nccl`` on CUDA).

:func:`matrix_free_mutual_information` is DSMI at the same scale: the entropy of each class's
points and of each random subset by the same quadrature, each on an operator built from that
subset's points (its own degrees), with the bandwidth of all the points, as the dense
:meth:`DiffusionKernel.mutual_information` takes each subset's block of one kernel.

References
----------
.. [1] S. Ubaru, J. Chen, Y. Saad, "Fast estimation of tr(f(A)) via stochastic Lanczos
       quadrature", SIAM J. Matrix Anal. Appl. 38(4), 2017. https://doi.org/10.1137/16M1104974
.. [2] C. Williams, M. Seeger, "Using the Nyström method to speed up kernel machines", NIPS 2000.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from .. import _numerics as nx
from .. import _validation as v
from . import eigen
from ._common import quadrature_entropy_bits
from .graphs import median_distance_of, squared_distances
from .kernel import (
    SMALL_PROBLEM,
    _check_time,
    _out_dtype,
    as_points,
    check_sigma,
    labels_for,
    safe_units,
    small_problem_threads,
    subset_mutual_information,
)

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "SLQ_RULE",
    "MatrixFreeDiffusionOperator",
    "ScaleResult",
    "block_rows",
    "matrix_free_entropy",
    "matrix_free_mutual_information",
    "median_sigma",
    "nystrom_entropy",
    "slq_settings",
]

#: Bytes the kernel rows of one block may take (the ``block`` of ``memory_budget=None``).
DEFAULT_MEMORY_BUDGET = 256 * 2**20

_LN2 = math.log(2.0)


@dataclass(frozen=True)
class ScaleResult:
    """A DSE value and how it was computed.

    ``value``: the entropy (0-d tensor, in the unit of ``base``); ``solver``: ``"matrix-free"`` or
    ``"nystrom"``; ``sigma``: the bandwidth used; ``n``: the number of points; ``products``: passes
    over the kernel (matrix-free) or products with the ``N × m`` factor (Nyström); ``seconds``:
    wall time; ``details``: the solver's parameters (block, steps, probes, top, landmarks, ...).
    """

    value: Tensor
    solver: str
    sigma: float
    n: int
    products: int
    seconds: float
    details: dict[str, Any] = field(default_factory=dict)

    def __float__(self) -> float:
        return float(self.value)


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def block_rows(n: int, memory_budget: int, element_size: int, width: int = 1) -> int:
    """Rows of ``G`` per block so that one block (``rows × n`` kernel entries, its float64 degree
    sums when accumulating, and ``rows × width`` outputs) fits in ``memory_budget`` bytes; at
    least 1, at most ``n``."""
    per_row = element_size * (2 * n + width)
    return max(1, min(n, int(memory_budget) // max(1, per_row)))


def median_sigma(x: Tensor, max_points: int = 1000) -> float:
    """The ``sigma="median"`` bandwidth: the median pairwise distance of the first ``max_points``
    rows of ``x`` (``O(max_points²)`` memory; 1.0 when every distance is 0), the rule of
    :meth:`DiffusionKernel.from_points`."""
    k = min(_positive_int(max_points, "max_median_points"), x.shape[0])
    return median_distance_of(squared_distances(x[:k].detach()))


def _resolve_sigma(pts: Tensor, sigma: Any, max_median_points: int) -> float:
    sig = check_sigma(sigma)
    value = median_sigma(pts, max_median_points) if sig == "median" else float(sig)
    if 2.0 * value * value < torch.finfo(pts.dtype).tiny:
        raise ValueError(
            f"sigma must be at least {math.sqrt(torch.finfo(pts.dtype).tiny):.3g} to form a kernel in {pts.dtype}, "
            f"got {sigma!r}"
        )
    return value


def _group_layout(group: Any) -> tuple[int, int]:
    """This process's rank in ``group`` and the group's size (``group`` a torch.distributed
    process group, with torch.distributed initialized)."""
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_initialized():
        raise ValueError(
            "process_group must be a group of an initialized torch.distributed (call init_process_group first), "
            f"got {type(group).__name__} without it"
        )
    try:
        rank, world = int(dist.get_rank(group)), int(dist.get_world_size(group))
    except (TypeError, ValueError, AttributeError, RuntimeError) as exc:
        raise TypeError(f"process_group must be a torch.distributed process group or None, got {group!r}") from exc
    if rank < 0 or world < 1:
        raise ValueError(f"process_group must contain this process, got a group of {world} ranks without it")
    return rank, world


class _Progress:
    """A one-line progress report on stderr (``enabled=False``: silent)."""

    def __init__(self, enabled: bool, label: str) -> None:
        self.enabled, self.label, self.start = bool(enabled), label, time.perf_counter()

    def __call__(self, done: int, total: int | None = None) -> None:
        if self.enabled:
            of = f"/{total}" if total else ""
            sys.stderr.write(f"\r{self.label}: pass {done}{of}, {time.perf_counter() - self.start:.1f} s")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


class MatrixFreeDiffusionOperator:
    r"""The symmetric diffusion operator :math:`K = D^{-1/2} G D^{-1/2}` of points ``x`` (N, D),
    never formed: ``op @ V`` computes :math:`KV` for ``V`` of shape ``(N,)`` or ``(N, w)`` from
    strips of the upper triangle of :math:`G`, about ``block × N`` entries each (see the module's
    notes).

    ``sigma``: a positive number or ``"median"`` (see :func:`median_sigma`). ``block``: rows of
    the first strip (later strips, narrower, take more rows for the same entries); ``None``
    chooses it from ``memory_budget`` bytes (:func:`block_rows`). ``dtype``: the
    compute dtype (default: the input's, half → float32); the degrees are accumulated in float64
    whatever the dtype (each strip's sums in the compute dtype, their total in float64). Works on
    any device (the points' device). The squared distances are those of the dense kernel
    (centred points, clipped at 0, an exact 0 diagonal), so in float64 products agree with the
    dense operator to round-off.

    ``process_group``: ``None`` (this process computes every row) or a :mod:`torch.distributed`
    process group (e.g. ``torch.distributed.group.WORLD``): each rank computes its share of the
    strips (``strips``, dealt round-robin) of the degrees and of every product and one
    ``all_reduce`` sums the zero-padded results, so every rank holds the whole product (see the
    module's notes). Every rank must pass the same points and arguments.

    ``passes`` counts the passes over the kernel (the degrees' included); ``max_block_elements``
    is the largest kernel block formed (``block × N``). Not differentiable (no autograd graph is
    kept across blocks).
    """

    def __init__(
        self,
        x: Tensor,
        sigma: float | str = "median",
        *,
        block: int | None = None,
        memory_budget: int | None = None,
        dtype: torch.dtype | None = None,
        max_median_points: int = 1000,
        progress: Callable[[int], None] | None = None,
        process_group: Any = None,
    ) -> None:
        pts, sigma, units = safe_units(as_points(x, "x", dtype).detach(), sigma)
        sigma_units = _resolve_sigma(pts, sigma, max_median_points)
        self.sigma = sigma_units * units  # in the points' own units
        n = int(pts.shape[0])
        self.process_group = process_group
        self.rank, self.world_size = (0, 1) if process_group is None else _group_layout(process_group)
        if block is None:
            budget = DEFAULT_MEMORY_BUDGET if memory_budget is None else _positive_int(memory_budget, "memory_budget")
            # first strip at most N/32 rows (about 18 strips): each strip also computes its
            # diagonal square, so few tall strips would forfeit the triangle's saving (18
            # strips: 7 % above N(N+1)/2; one strip: 100 %)
            block = min(block_rows(n, budget, pts.element_size()), max(1, -(-n // 32)))
        self.block = min(_positive_int(block, "block"), n)
        centred = pts - pts.mean(dim=0, keepdim=True)
        sq = (centred * centred).sum(dim=1)
        self._scale = -1.0 / (2.0 * sigma_units * sigma_units)
        # the exponents scale·‖x_i − x_j‖² as one matrix product of augmented rows,
        # [−2·scale·x_i, scale·‖x_i‖², scale] · [x_j, 1, ‖x_j‖²]: one stored copy of the points
        # (the right factor; the left one is formed per strip)
        self._right = torch.cat([centred, torch.ones_like(sq)[:, None], sq[:, None]], 1)
        del centred
        self._cutoff = 0.5 * math.log(torch.finfo(pts.dtype).tiny)
        self._floor = 2.0 * math.exp(self._cutoff)
        self.passes = 0
        self.max_block_elements = 0
        self._progress = progress
        # the strips of the upper triangle (rows start:stop, columns start:N), each about
        # block × N entries, dealt round-robin to the ranks
        bounds, start = [], 0
        while start < n:
            stop = min(n, start + max(self.block, (self.block * n) // (n - start)))
            bounds.append((start, stop))
            start = stop
        self.strips = bounds[self.rank :: self.world_size]
        self.strip_count = len(bounds)
        degrees = torch.zeros(n, dtype=torch.float64, device=pts.device)
        # row sums of each strip and, below it, its column sums, each in the compute dtype (a
        # float64-accumulating sum over a float32 strip is 12x slower), accumulated over strips
        # in float64
        for start, stop in self.strips:
            g = self.kernel_rows(start, stop, start)
            degrees[start:stop] += g.sum(dim=1)
            degrees[stop:] += g[:, stop - start :].sum(dim=0)
        self._count_pass()
        self.degrees = self._gather(degrees)
        self._inv_sqrt = self.degrees.rsqrt().to(pts.dtype)

    # the attributes eigen.deflated_lanczos_spectrum reads from its matrix
    @property
    def n(self) -> int:
        return int(self._right.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n, self.n)

    @property
    def dtype(self) -> torch.dtype:
        return self._right.dtype

    @property
    def device(self) -> torch.device:
        return self._right.device

    def kernel_rows(self, start: int, stop: int, first_column: int = 0) -> Tensor:
        """Rows ``start:stop`` of the Gaussian affinities :math:`G`, columns ``first_column:N``
        (a fresh ``(stop - start, N - first_column)`` tensor)."""
        r = self._right[start:stop]
        s = self._scale
        left = torch.cat([r[:, :-2] * (-2.0 * s), r[:, -1:] * s, torch.full_like(r[:, -1:], s)], 1)
        g = left @ self._right[first_column:].T
        g.clamp_(self._cutoff, 0.0)  # distances ≥ 0
        on_diagonal = torch.arange(max(start, first_column), stop, device=g.device)
        g[on_diagonal - start, on_diagonal - first_column] = 0.0  # an exact 0 distance to itself
        self.max_block_elements = max(self.max_block_elements, g.numel())
        # affinities below sqrt(tiny) (1e-154 in float64, 1e-19 in float32) are set to 0: their
        # subnormal exponentials and products slow CPU arithmetic 10-20x (separated clusters)
        g.exp_()
        return torch.nn.functional.threshold(g, self._floor, 0.0, inplace=True)

    def _strip_matmul(self, u: Tensor) -> Tensor:
        """:math:`G U` from this rank's strips of the upper triangle: strip ``(s, e)`` holds
        the rows ``s:e``, columns ``s:N`` of :math:`G`, which gives rows ``s:e`` of the product and, transposed, the
        contributions of columns ``s:e`` to rows ``e:N`` (G is symmetric: each pair's
        exponential is computed once)."""
        out = torch.zeros_like(u)
        for start, stop in self.strips:
            g = self.kernel_rows(start, stop, start)
            out[start:stop].addmm_(g, u[start:])
            if stop < self.n:
                out[stop:].addmm_(g[:, stop - start :].T, u[start:stop])
        self._count_pass()
        return self._gather(out)

    def _count_pass(self) -> None:
        self.passes += 1
        if self._progress is not None:
            self._progress(self.passes)

    def _gather(self, part: Tensor) -> Tensor:
        """The whole result from each rank's strips (zero elsewhere): an all-reduce (sum) over
        the process group, in place; the tensor itself in one process."""
        if self.process_group is not None:
            import torch.distributed as dist

            dist.all_reduce(part, op=dist.ReduceOp.SUM, group=self.process_group)
        return part

    def affinity_matmul(self, v: Tensor) -> Tensor:
        """:math:`G V` for ``V`` of shape ``(N,)`` or ``(N, w)`` (one pass over the kernel)."""
        vec = v.ndim == 1
        out = self._strip_matmul(v.reshape(self.n, -1).to(self.dtype))
        return out.reshape(-1) if vec else out

    def matmul(self, v: Tensor) -> Tensor:
        """:math:`K V = D^{-1/2} G D^{-1/2} V` for ``V`` of shape ``(N,)`` or ``(N, w)``."""
        if v.shape[0] != self.n or v.ndim not in (1, 2):
            raise ValueError(f"v must have shape ({self.n},) or ({self.n}, w), got {tuple(v.shape)}")
        vec = v.ndim == 1
        u = v.reshape(self.n, -1).to(self.dtype) * self._inv_sqrt[:, None]
        out = self.affinity_matmul(u).mul_(self._inv_sqrt[:, None])
        return out.reshape(-1) if vec else out

    __matmul__ = matmul

    def trace(self) -> float:
        """:math:`\\mathrm{tr}\\,K = \\sum_i 1/d_i` (no pass needed)."""
        return float(self.degrees.reciprocal().sum())


def _slq_entropy_bits(nodes: Tensor, weights: Tensor, n: int, t: float) -> Tensor:
    r"""DSE in bits from SLQ nodes and weights of :math:`K`:
    :math:`H = \log M - \frac{1}{M}\,n\sum_j w_j m_j \log m_j`, :math:`m_j = |\theta_j|^t`,
    :math:`M = n\sum_j w_j m_j \approx \mathrm{tr}|K|^t`."""
    return quadrature_entropy_bits(nodes, weights, n, t)


def matrix_free_entropy(
    x: Tensor,
    sigma: float | str = "median",
    t: float = 1,
    *,
    steps: int | str = "auto",
    probes: int | str = "auto",
    top: int | str = "auto",
    power_iters: int | str = "auto",
    tol: float = 1e-2,
    seed: int = 0,
    block: int | None = None,
    memory_budget: int | None = None,
    base: float | str = 2,
    dtype: torch.dtype | None = None,
    max_median_points: int = 1000,
    progress: bool = False,
    process_group: Any = None,
) -> ScaleResult:
    r"""DSE of the points ``x`` (N, D) by deflated stochastic Lanczos quadrature on the
    matrix-free operator (:class:`MatrixFreeDiffusionOperator`), never an ``N × N`` matrix.

    :func:`~infotorch.spectral.eigen.deflated_lanczos_spectrum` (the ``top`` leading
    eigenvalues from a randomized range finder with ``power_iters`` power steps, then
    ``steps`` Lanczos steps on ``probes`` Rademacher probes at once on the deflated operator)
    with a generator seeded by ``seed``. ``"auto"`` settings come from the target relative error
    ``tol`` by the measured rule :data:`SLQ_RULE` (:func:`slq_settings`): 15 steps, top 200
    deflated, 1 power step (19 passes) and 16 probes for ``tol=1e-2`` (the default), 64 for
    ``3e-3``, 256 for ``2e-3``. Measured root-mean-square relative errors, N = 4000-8000,
    D = 256 (four kinds of data at 4000, two at 8000; BENCHMARKS.md): at most 4.7e-3, 2.6e-3 and
    1.6e-3 (a root-mean-square target: single draws reached 3.5e-3 at ``tol=3e-3``); 15 steps
    have converged (20 give the same values), the rest is the probes' variance and, below
    about 1.5e-3, the deflation's bias. With ``steps=80, probes=16,
    top=100, power_iters=2`` it is the dense ``solver="lanczos"`` of
    :meth:`DiffusionKernel.entropy` draw for draw (float64 points). Cost: ``steps +
    power_iters + 3`` passes, each over about the ``N(N+1)/2`` pairs of the upper triangle (each
    exponential computed once, used for both of its products); memory: the kernel strips
    (``memory_budget``, 256 MiB) plus the float64 Lanczos basis and range finder,
    ``8 N (probes × steps + 3 (top + 10))`` bytes (1.6-1.8 GiB peak in all at N = 10^5, 16 probes).
    ``progress=True`` prints the passes on stderr. ``process_group``: split every pass over
    the ranks of a :mod:`torch.distributed` group (see :class:`MatrixFreeDiffusionOperator`;
    every rank calls this with the same arguments and gets the same value). Returns a
    :class:`ScaleResult` (``solver="matrix-free"``).
    """
    t = _check_time(t)
    steps, probes, top, power_iters = _slq_options(steps, probes, top, power_iters, tol)
    log_base = v.check_base(base)
    begin = time.perf_counter()
    bar = _Progress(progress, "matrix-free DSE")
    total = steps + power_iters + 3
    # up to SMALL_PROBLEM points on one intra-op thread on CPU, as the dense spectral measures run
    small = isinstance(x, Tensor) and x.device.type == "cpu" and x.shape[0] <= SMALL_PROBLEM
    with small_problem_threads(1, active=small):
        op = MatrixFreeDiffusionOperator(
            x,
            sigma,
            block=block,
            memory_budget=memory_budget,
            dtype=dtype,
            max_median_points=max_median_points,
            progress=lambda k: bar(k, total),
            process_group=process_group,
        )
        bits = _operator_entropy_bits(op, t, steps=steps, probes=probes, top=top, power_iters=power_iters, seed=seed)
    bar.close()
    value = nx.bits_to(bits, log_base).to(_out_dtype(x))
    details: dict[str, Any] = {
        "block": op.block,
        "steps": steps,
        "probes": probes,
        "top": top,
        "power_iters": power_iters,
        "tol": tol,
    }
    if process_group is not None:
        details.update(world_size=op.world_size, strips=(len(op.strips), op.strip_count))
    return ScaleResult(value, "matrix-free", op.sigma, op.n, op.passes, time.perf_counter() - begin, details)


def matrix_free_mutual_information(
    x: Tensor,
    labels: Tensor,
    sigma: float | str = "median",
    t: float = 1,
    *,
    num_repetitions: int = 5,
    seed: int | None = 0,
    slq_seed: int = 0,
    steps: int | str = "auto",
    probes: int | str = "auto",
    top: int | str = "auto",
    power_iters: int | str = "auto",
    tol: float = 1e-2,
    block: int | None = None,
    memory_budget: int | None = None,
    base: float | str = 2,
    dtype: torch.dtype | None = None,
    max_median_points: int = 1000,
    progress: bool = False,
    process_group: Any = None,
) -> ScaleResult:
    r"""DSMI(Z; Y) of the points ``x`` (N, D) and class ``labels`` (N,) without an ``N × N``
    matrix: :math:`\sum_y p(y)\,[\mathrm{DSE}(Z^*_y) - \mathrm{DSE}(Z \mid Y = y)]`, the
    definition of :func:`~infotorch.spectral.diffusion_spectral_mutual_information` (Liao, Liu
    et al., CISS 2024, https://doi.org/10.1109/CISS59072.2024.10480166), with every entropy by
    deflated SLQ on a :class:`MatrixFreeDiffusionOperator`.

    :math:`Z \mid Y = y` is the points of class ``y``; :math:`Z^*_y` are ``num_repetitions``
    random subsets of the size of class ``y``, drawn as the dense DSMI draws them
    (:func:`~infotorch.spectral.subset_mutual_information`, ``random.Random(seed)``; ``seed=None``
    unseeded). Each subset's operator is built from its own points and has its own degrees (the
    dense DSMI normalizes each subset's block of the kernel the same way), with one bandwidth
    for all of them: ``sigma``, or for ``"median"`` the median pairwise distance of the first
    ``max_median_points`` of all the points (the dense kernel's rule). ``steps``, ``probes``,
    ``top``, ``power_iters`` and ``tol`` are those of :func:`matrix_free_entropy` (``tol`` the
    target of each entropy, not of their difference), and every subset's quadrature uses a
    generator seeded by ``slq_seed``: with (80, 16, 100, 2) each subset's value is the dense
    ``solver="lanczos"`` value of its block, draw for draw. A subset
    of one point has entropy 0. ``process_group`` splits every pass over the ranks of a
    :mod:`torch.distributed` group (``seed`` must then be an integer, so that every rank draws
    the same subsets). Cost: ``classes + num_repetitions × (distinct class sizes)``
    entropies, each ``steps + power_iters + 3`` passes over about the ``m(m+1)/2`` pairs of its ``m`` points.
    Error against the exact dense DSMI (measured, three seeds, 3 classes of 500 points in 16-D
    blobs): 5e-4 to 1e-3 bits with (80, 16, 100, 2), 2e-4 to 8e-4 with (30, 32, 100, 2); the ``tol``
    defaults were not measured for DSMI
    (relative 1e-3 of a DSMI of 1.02 bits).
    Returns a :class:`ScaleResult` (``solver="matrix-free"``, ``products`` the passes of all
    subsets, ``details["subsets"]`` their number).

    Examples
    --------
    >>> import torch
    >>> from infotorch.spectral import matrix_free_mutual_information
    >>> y = torch.arange(300) % 3
    >>> g = torch.Generator().manual_seed(0)
    >>> z = torch.randn(300, 4, generator=g, dtype=torch.float64) * 0.2 + 5 * torch.eye(3, 4, dtype=torch.float64)[y]
    >>> bool(matrix_free_mutual_information(z, y, sigma=1.0, steps=20, probes=8).value > 1.0)
    True
    """

    if process_group is not None and seed is None:
        # an unseeded draw differs between ranks, and the all-reduced rows would then come from
        # different subsets: the same wrong number on every rank
        raise ValueError(
            "seed must be an integer when process_group is given (every rank draws the same subsets), got None"
        )
    t = _check_time(t)
    steps, probes, top, power_iters = _slq_options(steps, probes, top, power_iters, tol)
    log_base = v.check_base(base)
    begin = time.perf_counter()
    pts, sigma, units = safe_units(as_points(x, "x", dtype).detach(), sigma)
    lab = labels_for(labels, pts.shape[0])
    sig = _resolve_sigma(pts, sigma, max_median_points)
    bar = _Progress(progress, "matrix-free DSMI")
    tally = {"passes": 0, "subsets": 0}

    def block_entropy(idx: Tensor) -> Tensor:
        tally["subsets"] += 1
        if idx.numel() < 2:
            return torch.zeros((), dtype=torch.float64, device=pts.device)
        # small subsets run on one intra-op thread on CPU, as the dense spectral measures do
        small = pts.device.type == "cpu" and idx.numel() <= SMALL_PROBLEM
        with small_problem_threads(1, active=small):
            op = MatrixFreeDiffusionOperator(
                pts[idx.to(pts.device)], sig, block=block, memory_budget=memory_budget, process_group=process_group
            )
            bits = _operator_entropy_bits(
                op, t, steps=steps, probes=probes, top=top, power_iters=power_iters, seed=slq_seed
            )
        tally["passes"] += op.passes
        bar(tally["subsets"])
        return bits

    bits = subset_mutual_information(lab, block_entropy, num_repetitions=num_repetitions, seed=seed)
    bar.close()
    value = nx.bits_to(bits, log_base).to(_out_dtype(x))
    details = {
        "steps": steps,
        "probes": probes,
        "top": top,
        "power_iters": power_iters,
        "tol": tol,
        "subsets": tally["subsets"],
        "classes": int(torch.unique(lab).numel()),
    }
    return ScaleResult(
        value, "matrix-free", sig * units, int(pts.shape[0]), tally["passes"], time.perf_counter() - begin, details
    )


#: The ``"auto"`` rule of the matrix-free quadrature: for a target relative error ``tol``, the
#: first row whose tolerance is at most ``tol`` gives ``(steps, probes, top, power_iters)``.
#: Measured (BENCHMARKS.md, "the quadrature's settings from a target error"): the
#: root-mean-square relative error against the exact eigvalsh value over 4-5 seeds, D = 256,
#: on Gaussian, manifold, clustered and duplicated points at N = 4000 (Gaussian and duplicated
#: at 8000; only Gaussian there for 64 and 256 probes), stays below each row's tolerance (at
#: most 4.7e-3, 2.6e-3 and 1.6e-3).
SLQ_RULE: tuple[tuple[float, tuple[int, int, int, int]], ...] = (
    (1e-2, (15, 16, 200, 1)),
    (3e-3, (15, 64, 200, 1)),
    (2e-3, (15, 256, 200, 1)),
)


def slq_settings(tol: float = 1e-2) -> dict[str, int]:
    """The ``steps``, ``probes``, ``top`` and ``power_iters`` that ``"auto"`` takes for a target
    relative error ``tol`` (see :data:`SLQ_RULE`); ``steps + power_iters + 3`` passes over the
    kernel. ``tol`` below the rule's smallest row is refused: give the settings explicitly."""
    tol = v.check_positive_number(tol, "tol")
    for bound, (steps, probes, top, power) in SLQ_RULE:
        if tol >= bound:
            return {"steps": steps, "probes": probes, "top": top, "power_iters": power}
    raise ValueError(
        f"tol must be at least {SLQ_RULE[-1][0]:g} for the measured 'auto' rule, got {tol:g}; give steps, "
        "probes, top and power_iters explicitly (or use the exact solver where N allows)"
    )


def _slq_options(steps: Any, probes: Any, top: Any, power_iters: Any, tol: Any = 1e-2) -> tuple[int, int, int, int]:
    """The validated ``steps, probes, top, power_iters`` of deflated SLQ (``"auto"``: :func:`slq_settings`)."""
    given = {"steps": steps, "probes": probes, "top": top, "power_iters": power_iters}
    if any(isinstance(val, str) for val in given.values()):
        for name, val in given.items():
            if isinstance(val, str) and val != "auto":
                raise ValueError(f"{name} must be an integer or 'auto', got {val!r}")
        auto = slq_settings(tol)
        given = {name: auto[name] if val == "auto" else val for name, val in given.items()}
    steps = _positive_int(given["steps"], "steps")
    probes, top = _positive_int(given["probes"], "probes"), _positive_int(given["top"], "top")
    power_iters = given["power_iters"]
    if isinstance(power_iters, bool) or not isinstance(power_iters, int) or power_iters < 0:
        raise ValueError(f"power_iters must be a non-negative integer, got {power_iters!r}")
    return steps, probes, top, int(power_iters)


def _operator_entropy_bits(
    op: Any, t: float, *, steps: int, probes: int, top: int, power_iters: int, seed: int
) -> Tensor:
    """DSE in bits of a symmetric operator (``shape``, ``dtype``, ``device``, ``@``) by deflated
    SLQ with a CPU generator seeded by ``seed`` (the draws of the dense ``"lanczos"`` solver)."""
    gen = torch.Generator().manual_seed(int(seed))
    wide: Any = _Float64Products(op) if op.dtype != torch.float64 else op
    nodes, weights = eigen.deflated_lanczos_spectrum(
        wide,  # duck-typed: shape, dtype, device and @
        top=top,
        power_iters=power_iters,
        steps=steps,
        probes=probes,
        generator=gen,
    )
    return _slq_entropy_bits(nodes, weights, int(op.shape[0]), t)


class _Float64Products:
    """A lower-precision operator seen in float64: each product rounds its input to the
    operator's dtype and widens the result, so the Lanczos recursion, its reorthogonalization and
    the range finder run in float64 (in float32 they alone moved the DSE by up to 3e-3 relative
    for the same probes)."""

    def __init__(self, op: Any) -> None:
        self.op = op

    @property
    def shape(self) -> tuple[int, int]:
        n, m = self.op.shape
        return (int(n), int(m))

    @property
    def dtype(self) -> torch.dtype:
        return torch.float64

    @property
    def device(self) -> torch.device:
        return self.op.device

    def __matmul__(self, v: Tensor) -> Tensor:
        return (self.op @ v.to(self.op.dtype)).to(torch.float64)


class _LowRankPlusDiagonal:
    """``B Bᵀ + diag(δ)`` for ``B`` (N, k): the operator :func:`deflated_lanczos_spectrum` runs on,
    in float64 whatever ``B``'s dtype (a float32 ``B`` is widened block by block, so its memory
    stays half while the quadrature keeps float64's accuracy)."""

    def __init__(self, b: Tensor, diag: Tensor) -> None:
        self.b, self.diag, self.products = b, diag.to(torch.float64), 0
        self.rows = max(1, (64 * 2**20) // (8 * max(1, int(b.shape[1]))))

    @property
    def shape(self) -> tuple[int, int]:
        n = int(self.b.shape[0])
        return (n, n)

    @property
    def dtype(self) -> torch.dtype:
        return torch.float64

    @property
    def device(self) -> torch.device:
        return self.b.device

    def _blocks(self) -> Any:
        n = int(self.b.shape[0])
        for start in range(0, n, self.rows):
            stop = min(start + self.rows, n)
            yield start, stop, self.b[start:stop].to(torch.float64)

    def __matmul__(self, v: Tensor) -> Tensor:
        self.products += 1
        u = v.reshape(v.shape[0], -1).to(torch.float64)
        if self.b.dtype == torch.float64:
            out = self.b @ (self.b.T @ u) + self.diag[:, None] * u
            return out.reshape(v.shape)
        inner = torch.zeros(self.b.shape[1], u.shape[1], dtype=torch.float64, device=u.device)
        for start, stop, bb in self._blocks():
            inner += bb.T @ u[start:stop]
        out = torch.empty_like(u)
        for start, stop, bb in self._blocks():
            torch.addcmul(bb @ inner, self.diag[start:stop, None], u[start:stop], out=out[start:stop])
        return out.reshape(v.shape)


CORRECTIONS = ("diagonal", "none")


def nystrom_entropy(
    x: Tensor,
    sigma: float | str = "median",
    t: float = 1,
    *,
    landmarks: int = 2000,
    correction: str = "diagonal",
    seed: int = 0,
    steps: int = 60,
    probes: int = 32,
    top: int = 100,
    rcond: float = 1e-10,
    base: float | str = 2,
    dtype: torch.dtype | None = None,
    max_median_points: int = 1000,
) -> ScaleResult:
    r"""Approximate DSE of the points ``x`` (N, D) from a Nyström kernel with ``landmarks``
    random landmarks (drawn with ``torch.randperm`` seeded by ``seed``).

    :math:`\hat G = F F^\top + \Delta` with :math:`F = C\,W^{+1/2}` (``C`` the kernel between all
    points and the landmarks, ``W`` the landmarks' block, eigenvalues below ``rcond`` times the
    largest dropped) and, for ``correction="diagonal"``, :math:`\Delta = \mathrm{diag}(1 -
    \|F_i\|^2)_+` (the part of :math:`G_{ii} = 1` the low-rank kernel misses; the Nyström residual
    :math:`G - FF^\top` is positive semi-definite and, for a Gaussian kernel in many dimensions,
    close to a multiple of the identity). Degrees :math:`\hat d = \hat G\mathbf 1`; the spectrum
    of :math:`\hat D^{-1/2}\hat G\hat D^{-1/2} = BB^\top + \mathrm{diag}(\delta)` by deflated SLQ
    (``top``, ``steps``, ``probes``, each product ``O(N m)``), or exactly from the ``m × m``
    matrix :math:`B^\top B` for ``correction="none"`` (the other eigenvalues are 0).
    Computed in float64; for float32 points (or ``dtype=float32``) the ``N × m`` factor is
    stored in float32 (half the memory) and widened block by block for every float64 product.
    Cost ``O(N m D + N m^2)``, memory ``O(N m)``. Returns a :class:`ScaleResult`
    (``solver="nystrom"``). Its error against the exact entropy is measured in
    BENCHMARKS.md; it depends on the data (small for a flat or a fast
    decaying spectrum).
    """
    small = isinstance(x, Tensor) and x.device.type == "cpu" and x.shape[0] <= SMALL_PROBLEM
    with small_problem_threads(1, active=small):  # small problems: one intra-op thread on CPU
        t = _check_time(t)
        v.check_choice(correction, CORRECTIONS, "correction")
        m_req = _positive_int(landmarks, "landmarks")
        if isinstance(rcond, bool) or not isinstance(rcond, (int, float)) or not 0 <= rcond < 1:
            raise ValueError(f"rcond must be a number in [0, 1), got {rcond!r}")
        steps, probes, top = _positive_int(steps, "steps"), _positive_int(probes, "probes"), _positive_int(top, "top")
        log_base = v.check_base(base)
        begin = time.perf_counter()
        pts, sigma, units = safe_units(as_points(x, "x", dtype).detach(), sigma)
        sig = _resolve_sigma(pts, sigma, max_median_points)
        n = int(pts.shape[0])
        m = min(m_req, n)
        gen = torch.Generator().manual_seed(int(seed))
        idx = torch.randperm(n, generator=gen)[:m].to(pts.device)
        xc = pts - pts.mean(dim=0, keepdim=True)
        sq = (xc * xc).sum(dim=1)
        xl, sql = xc[idx], sq[idx]
        scale = -1.0 / (2.0 * sig * sig)
        cutoff = 0.5 * math.log(torch.finfo(torch.float64).tiny)
        floor = 2.0 * math.exp(cutoff)

        def cross(start: int, stop: int) -> Tensor:  # kernel rows start:stop against the landmarks, float64
            d2 = xc[start:stop] @ xl.T
            d2.mul_(-2.0).add_(sq[start:stop, None]).add_(sql[None, :]).clamp_(min=0.0)
            d2 = d2.to(torch.float64).mul_(scale).clamp_(min=cutoff).exp_()
            return torch.nn.functional.threshold(d2, floor, 0.0, inplace=True)  # no subnormals (see kernel_rows)

        w = squared_distances(xl.to(torch.float64)).mul_(scale).exp_()  # the landmarks' block W
        evals, evecs = torch.linalg.eigh(w)
        keep = evals > rcond * evals[-1].clamp_min(torch.finfo(torch.float64).tiny)
        root_inv = evecs[:, keep] * evals[keep].rsqrt()[None, :]  # W^{+1/2}: (m, k)
        # the factor is stored in the compute dtype (float32 halves the N × m memory: 4 GB at
        # N = 10^6, m = 1000); each block is computed in float64 and rounded once
        f = torch.empty(n, root_inv.shape[1], dtype=pts.dtype, device=pts.device)
        lowrank_diag = torch.empty(n, dtype=torch.float64, device=pts.device)
        col_sums = torch.zeros(root_inv.shape[1], dtype=torch.float64, device=pts.device)
        rows = max(1, (64 * 2**20) // (8 * max(1, m)))
        for start in range(0, n, rows):
            stop = min(start + rows, n)
            fb = cross(start, stop) @ root_inv
            lowrank_diag[start:stop] = (fb * fb).sum(dim=1)
            col_sums += fb.sum(dim=0)
            f[start:stop] = fb
        if correction == "diagonal":
            delta = (1.0 - lowrank_diag).clamp_min(0.0)
        else:
            delta = torch.zeros_like(lowrank_diag)
        degrees = torch.empty(n, dtype=torch.float64, device=pts.device)
        for start in range(0, n, rows):  # F (Fᵀ1) + δ, each block in float64
            stop = min(start + rows, n)
            degrees[start:stop] = f[start:stop].to(torch.float64) @ col_sums
        degrees += delta
        positive = degrees > 0
        if not bool(positive.all()):
            raise ValueError("the Nyström degrees are not all positive; use more landmarks or a larger sigma")
        inv_sqrt = degrees.rsqrt()
        b = f.mul_(inv_sqrt[:, None].to(f.dtype))
        diag = delta * inv_sqrt * inv_sqrt
        products = 0
        if correction == "none":
            gram = torch.zeros(b.shape[1], b.shape[1], dtype=torch.float64, device=b.device)
            for start in range(0, n, rows):  # BᵀB in float64, block by block
                bb = b[start : start + rows].to(torch.float64)
                gram += bb.T @ bb
            lam = torch.linalg.eigvalsh(gram)
            nodes, weights = lam, torch.full_like(lam, 1.0 / n)
        else:
            op = _LowRankPlusDiagonal(b, diag)
            nodes, weights = eigen.deflated_lanczos_spectrum(
                op,  # type: ignore[arg-type]  # duck-typed: shape, dtype, device and @
                top=top,
                steps=steps,
                probes=probes,
                generator=gen,
            )
            products = op.products
        bits = _slq_entropy_bits(nodes, weights, n, t)
        value = nx.bits_to(bits, log_base).to(_out_dtype(x))
        details = {"landmarks": m, "rank": int(keep.sum()), "correction": correction, "steps": steps, "probes": probes}
        return ScaleResult(value, "nystrom", sig * units, n, products, time.perf_counter() - begin, details)
