r"""Spectral entropies of point clouds, tensor in, tensor out: the diffusion spectral entropy
(DSE), the adjacency spectral entropy (ASE, a ``graph=`` choice), the entropy of a spectrum, and
the classic binned entropy.

Each function takes a tensor of points ``(N, D)`` on any device and returns a 0-d tensor of its
dtype (half precision computes in float32), in bits by default (``base=2``, the convention of the
DSE literature; ``base=math.e`` gives nats). ``sigma`` is the Gaussian kernel's bandwidth, a
number or ``"median"`` (the median pairwise distance, the default). Differentiable in the points
through the exact solver where the eigenvalues are distinct.

dse-dsmi's signatures (numpy in / float out, ``max_N`` subsampling, boolean mode flags) live in
:mod:`infotorch.compat.dse_dsmi`; this module is the core they call.

References
----------
.. [1] D. Liao, C. Liu et al., "Assessing Neural Network Representations During Training Using
       Noise-Resilient Diffusion Spectral Entropy", CISS 2024.
       https://doi.org/10.1109/CISS59072.2024.10480166
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

import torch
from torch import Tensor

from .. import _validation as v
from . import _common as c
from . import cache as _cache
from . import eigen
from .graphs import anisotropic_normalize, knn_adjacency, squared_distances
from .kernel import (
    DiffusionKernel,
    _check_time,
    _out_dtype,
    _to_base_from_bits,
    as_points,
    check_sigma,
    pow2_units,
)


def _knn_count(knn: Any) -> int:
    if isinstance(knn, bool) or not isinstance(knn, int) or knn < 1:
        raise ValueError(f"knn must be a positive integer, got {knn!r}")
    return knn


__all__ = [
    "adjacency_spectral_entropy",
    "binned_shannon_entropy",
    "choose_solver",
    "diffusion_spectral_entropy",
    "spectrum_entropy",
]

GRAPHS = ("gaussian", "anisotropic", "knn")

#: ``solver=`` of :func:`diffusion_spectral_entropy`: the kernel's table (``"slq"`` is another
#: name for the dense ``"lanczos"``) plus the two that never form the N × N kernel (see
#: :mod:`infotorch.spectral.matrix_free`).
POINT_SOLVERS = ("auto", "exact", "lanczos", "slq", "chebyshev", "matrix-free", "nystrom")
AUTO_MATRIX_FREE_ABOVE = 8000
#: ``"auto"`` on a CPU: Nyström above this many points (a matrix-free run costs N² D per pass:
#: minutes at 10^5 on 2 cores, so hours at 10^6; Nyström at 10^6 takes minutes).
AUTO_NYSTROM_ABOVE = 200_000
#: ``"auto"`` on a CUDA GPU: the dense eigendecomposition up to this many points when its
#: matrices fit in the free device memory (not measured: no GPU was available to measure it).
AUTO_EXACT_MAX_N_GPU = 16000
#: The Nyström settings of ``"auto"`` above AUTO_NYSTROM_ABOVE points (N = 10^6, D = 256,
#: float32 points: 7.7 GiB peak, BENCHMARKS.md; the error there is not measured, +4.2 % at
#: 10^5 with 2000 landmarks).
AUTO_NYSTROM_SETTINGS = {"landmarks": 500, "steps": 30, "probes": 8, "top": 50}


def _free_bytes(device: torch.device) -> int | None:
    """Free memory of ``device`` in bytes (CUDA: ``mem_get_info``; CPU: ``MemAvailable`` of
    ``/proc/meminfo`` on Linux), or ``None`` where it cannot be read."""
    try:
        if device.type == "cuda":
            return int(torch.cuda.mem_get_info(device)[0])
        if device.type == "cpu":
            with open("/proc/meminfo") as fh:
                for line in fh:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
    except Exception:  # no CUDA in this build, not Linux: unknown
        return None
    return None


def choose_solver(
    n: int,
    solver: str = "auto",
    *,
    device: torch.device | str | None = None,
    element_size: int = 8,
    check_memory: bool = True,
) -> str:
    """The solver :func:`diffusion_spectral_entropy` runs for ``n`` points on ``device``.

    ``"auto"``: ``"exact"`` while the dense eigendecomposition is affordable (up to 8000 points,
    16000 on a GPU); else ``"matrix-free"`` (never an N × N matrix; O(N²D) time per pass), and on
    a CPU above 200 000 points ``"nystrom"`` (O(N m) time and memory). With ``check_memory``, an
    ``"exact"`` whose three ``n × n`` matrices of ``element_size`` bytes would not fit in the
    free memory becomes ``"matrix-free"`` with a warning (it would fail or swap): only then can
    the same call choose differently on another machine. The measured times and errors behind
    the thresholds: docs/spectral.md ("choosing a solver") and BENCHMARKS.md. ``"slq"`` is
    returned as ``"lanczos"``; any other name is returned as given."""
    v.check_choice(solver, POINT_SOLVERS, "solver")
    if solver == "slq":
        return "lanczos"
    if solver != "auto":
        return solver
    dev = torch.device(device) if device is not None else torch.device("cpu")
    limit = AUTO_EXACT_MAX_N_GPU if dev.type == "cuda" else AUTO_MATRIX_FREE_ABOVE
    if n <= limit:
        free = _free_bytes(dev) if check_memory else None
        need = 3 * n * n * element_size
        if free is None or need <= free:
            return "exact"
        warnings.warn(
            f"solver='auto': the exact solver needs about {need / 2**30:.1f} GiB for {n} points and "
            f"{free / 2**30:.1f} GiB are free on {dev}; using solver='matrix-free'",
            RuntimeWarning,
            stacklevel=2,
        )
    if dev.type == "cpu" and n > AUTO_NYSTROM_ABOVE:
        return "nystrom"
    return "matrix-free"


def spectrum_entropy(eigenvalues: Tensor, t: float = 1, *, base: float | str = 2) -> Tensor:
    r"""Entropy of :math:`p_i = |\lambda_i|^t / \sum_j |\lambda_j|^t` for a spectrum ``eigenvalues``
    (real or complex; magnitudes are used). ``t = 0`` gives ``log N``; any finite ``t >= 0`` is
    evaluated in log space, so no power overflows. Bits by default."""
    if not isinstance(eigenvalues, Tensor):  # complex spectra (a non-symmetric graph) are allowed here
        raise TypeError(f"eigenvalues must be a torch.Tensor, got {type(eigenvalues).__name__}")
    ev = eigenvalues.reshape(-1)
    if ev.numel() == 0:
        raise ValueError("eigenvalues must hold at least one value")
    return _to_base_from_bits(c.spectrum_entropy(ev, _check_time(t)), base)


def binned_shannon_entropy(x: Tensor, bins_per_dim: int = 2, *, base: float | str = 2) -> Tensor:
    """The classic binned Shannon entropy (dse-dsmi's CSE) of points ``x`` (N, D): min-max scale
    each dimension, cut it into ``bins_per_dim`` equal bins (``np.digitize`` semantics), plug-in
    entropy of the occupied cells; bits by default. A tensor of the input's dtype."""
    x = v.ensure_tensor(x, "x")
    if x.ndim == 1:
        x = x.unsqueeze(-1)
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"x must be (N, D) points with N >= 1, got shape {tuple(x.shape)}")
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        raise ValueError("x must be finite, got NaN or inf values")
    if isinstance(bins_per_dim, bool) or not isinstance(bins_per_dim, int) or bins_per_dim < 1:
        raise ValueError(f"bins_per_dim must be a positive integer, got {bins_per_dim!r}")
    bits = c.binned_entropy(x.detach(), bins_per_dim)
    return _to_base_from_bits(bits, base).to(x.dtype if x.is_floating_point() else torch.get_default_dtype())


def _cache_path(cache: Any) -> str | None:
    if cache is None:
        return None
    if not isinstance(cache, (str, os.PathLike)) or not os.fspath(cache):
        raise ValueError(f"cache must be a non-empty file path or None, got {cache!r}")
    return os.fspath(cache)


def diffusion_spectral_entropy(
    x: Tensor,
    sigma: float | str = "median",
    t: float = 1,
    *,
    solver: str = "auto",
    base: float | str = 2,
    cache: str | os.PathLike[str] | None = None,
    seed: int = 0,
    lanczos_steps: int = 80,
    lanczos_probes: int = 16,
    dtype: torch.dtype | None = None,
    tol: float = 3e-3,
    verbose: bool = False,
) -> Tensor:
    r"""Diffusion spectral entropy of the points ``x`` (N, D), in bits by default.

    .. math::
        \mathrm{DSE}_t = -\sum_i p_i \log_2 p_i, \qquad p_i = |\lambda_i|^t \Big/ \sum_j |\lambda_j|^t,

    with :math:`\lambda_i` the eigenvalues of the diffusion operator :math:`P = D^{-1}G` of the
    Gaussian kernel :math:`G_{ij} = \exp(-\|x_i - x_j\|^2 / 2\sigma^2)` (through the symmetric
    :math:`D^{-1/2}GD^{-1/2}`) [1]_. Between 0 and :math:`\log_2 N`.

    ``solver``: ``"exact"``, ``"lanczos"`` (deflated stochastic Lanczos quadrature with
    ``lanczos_steps × lanczos_probes`` products on the dense kernel, seeded by ``seed``),
    ``"chebyshev"`` (dse-dsmi's approximation), ``"matrix-free"`` (the same quadrature on the
    operator computed in strips, memory O(block × N), its settings from the target relative
    error ``tol`` by :func:`~infotorch.spectral.slq_settings`: the default 3e-3 takes 15 steps ×
    64 probes, top 200 deflated, 19 passes, at most 2.6e-3 rms measured at N = 4000-8000;
    ``tol=1e-2`` 16 probes), ``"nystrom"`` (2000 landmarks, O(N m) memory, 0.25-1.9 % at
    N = 4000-8000, +4.2 % at 10^5), or ``"auto"`` (:func:`choose_solver`: by N, device and free
    memory, exact up to N = 8000 (16000 on a CUDA GPU), matrix-free above, Nyström on a CPU above
    200 000 points with 500 landmarks, 30 steps × 8 probes, top 50: 7.7 GiB for 10^6 float32
    points in 256 dimensions);
    ``"slq"`` is ``"lanczos"``. Measured errors and times in :mod:`infotorch.spectral.matrix_free`
    and BENCHMARKS.md. ``verbose=True`` prints the solver that ran (and its settings) on stderr.
    ``cache``: an ``.npz`` path for the exact spectrum, read if it exists and
    matches these points (kind, sigma, N, D, a SHA-256 of the data), else written. ``dtype``:
    the compute dtype (default: the input's, half → float32).

    Examples
    --------
    >>> import math, torch
    >>> from infotorch.spectral import diffusion_spectral_entropy
    >>> x = torch.randn(200, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> h = diffusion_spectral_entropy(x, sigma=1.0)
    >>> bool(0 < h < math.log2(200))
    True
    >>> diffusion_spectral_entropy(x, sigma=1e-3)                     # identity kernel: log2 N
    tensor(7.6439, dtype=torch.float64)
    """
    sig = check_sigma(sigma)
    pts = as_points(x, "x", dtype)
    path = _cache_path(cache)
    # a cache holds an exact spectrum: "auto" then decides by N alone, never by free memory
    chosen = choose_solver(
        pts.shape[0], solver, device=pts.device, element_size=pts.element_size(), check_memory=path is None
    )
    if chosen in ("matrix-free", "nystrom"):
        if path is not None:
            raise ValueError(
                f"cache stores a spectrum: solver={chosen!r} computes none; use solver='exact' with cache="
            )
        from .matrix_free import matrix_free_entropy, nystrom_entropy

        if chosen == "matrix-free":
            res = matrix_free_entropy(pts, sig, t, tol=tol, seed=seed, base=base)
        elif solver == "auto":  # above AUTO_NYSTROM_ABOVE on a CPU: memory-bounded settings
            res = nystrom_entropy(
                pts,
                sig,
                t,
                landmarks=AUTO_NYSTROM_SETTINGS["landmarks"],
                steps=AUTO_NYSTROM_SETTINGS["steps"],
                probes=AUTO_NYSTROM_SETTINGS["probes"],
                top=AUTO_NYSTROM_SETTINGS["top"],
                seed=seed,
                base=base,
            )
        else:
            res = nystrom_entropy(pts, sig, t, seed=seed, base=base)
        if verbose:
            print(
                f"diffusion_spectral_entropy: solver={chosen!r} (asked {solver!r}), N={pts.shape[0]}, "
                f"{res.products} passes, {res.seconds:.1f} s, {res.details}",
                file=sys.stderr,
            )
        return res.value.to(_out_dtype(x))
    if verbose:
        extra = f", {lanczos_steps} steps x {lanczos_probes} probes" if chosen == "lanczos" else ""
        print(
            f"diffusion_spectral_entropy: solver={chosen!r} (asked {solver!r}), N={pts.shape[0]}{extra}",
            file=sys.stderr,
        )
    solver = chosen
    kernel = DiffusionKernel.from_points(pts, sig)
    if path is None:
        value = kernel.entropy(
            t, solver=solver, base=base, lanczos_steps=lanczos_steps, lanczos_probes=lanczos_probes, seed=seed
        )
        return value.to(_out_dtype(x))
    resolved = kernel.resolve_solver(solver)
    if resolved == "lanczos":
        raise ValueError("cache stores a spectrum: use solver='exact' or 'chebyshev' with cache=")
    kind = "diffusion-chebyshev" if resolved == "chebyshev" else "diffusion"
    meta = _cache.provenance(kind, kernel.sigma, pts, seed if resolved == "chebyshev" else None)
    if os.path.exists(path):
        eigvals = _cache.load_spectrum(path, meta).to(pts.device)
    else:
        eigvals = kernel.eigenvalues(resolved, generator=torch.Generator().manual_seed(int(seed)))
        _cache.save_spectrum(path, eigvals, meta)
    return spectrum_entropy(eigvals, t, base=base).to(_out_dtype(x))


def adjacency_spectral_entropy(
    x: Tensor,
    sigma: float | str = "median",
    *,
    graph: str = "gaussian",
    knn: int = 10,
    base: float | str = 2,
    dtype: torch.dtype | None = None,
) -> Tensor:
    r"""Spectral entropy of an adjacency matrix of the points ``x`` (N, D), in bits by default:
    :math:`-\sum p_i \log p_i` with :math:`p_i = |\lambda_i| / \sum_j |\lambda_j|`.

    ``graph``: ``"gaussian"`` (the affinities :math:`G`), ``"anisotropic"``
    (:math:`D^{-1/2}GD^{-1/2}`), ``"knn"`` (the binary graph :math:`A_{ij} = [d_{ij} \le` the
    ``knn``-th smallest distance of row ``i``, self included]; not symmetric, so the magnitudes
    of its complex eigenvalues are used, as dse-dsmi does).

    Examples
    --------
    >>> import math, torch
    >>> from infotorch.spectral import adjacency_spectral_entropy
    >>> x = torch.randn(100, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> bool(0 < adjacency_spectral_entropy(x, graph="knn", knn=5) < math.log2(100))
    True
    """
    v.check_choice(graph, GRAPHS, "graph")
    pts = as_points(x, "x", dtype)
    if graph == "knn":
        eigvals = eigen.exact_eigvals(knn_adjacency(squared_distances(pow2_units(pts)), _knn_count(knn)))
    else:
        g = DiffusionKernel.from_points(pts, check_sigma(sigma)).affinity
        eigvals = torch.linalg.eigvalsh(anisotropic_normalize(g) if graph == "anisotropic" else g)
    return spectrum_entropy(eigvals, base=base).to(_out_dtype(x))
