r"""Diffusion spectral entropy (DSE) and adjacency spectral entropy (ASE).

Drop-in for ``dse-dsmi`` 1.1: same parameters, defaults, subsampling draws and units (bits), so
a user's numbers do not change when they switch, computed in PyTorch on any device:

* the kernel is built in one ``N × N`` buffer from centred squared distances;
* the diffusion spectrum comes from the symmetric conjugate :math:`D^{-1/2} G D^{-1/2}` with
  :func:`torch.linalg.eigvalsh`, never a general ``eig``;
* float64 by default, ``dtype=torch.float32`` for speed (error stated in BENCHMARKS.md);
* differentiable in the embeddings where the eigenvalues are distinct (the derivative of
  ``eigvalsh`` is undefined at repeated eigenvalues), when no cache and no subsampling by
  ``max_N`` is involved (subsampling is differentiable, the cache is not);
* an eigenvalue cache that records what it was computed from and refuses a mismatch.

References
----------
.. [1] D. Liao, C. Liu et al., "Assessing Neural Network Representations During Training Using
       Noise-Resilient Diffusion Spectral Entropy", CISS 2024.
       https://doi.org/10.1109/CISS59072.2024.10480166
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .. import _validation as v
from . import _common as c
from . import eigen
from .graphs import anisotropic_normalize, diffusion_operator, gaussian_kernel, knn_adjacency, squared_distances

__all__ = ["adjacency_spectral_entropy", "binned_shannon_entropy", "diffusion_spectral_entropy"]

_EIGENSOLVERS = ("exact", "lanczos")


def binned_shannon_entropy(x: Tensor, bins_per_dim: int = 2, *, base: float | str = 2) -> Tensor:
    """The classic binned Shannon entropy (dse-dsmi's CSE) of points ``x`` (N, D): min-max scale
    each dimension, cut it into ``bins_per_dim`` equal bins (``np.digitize`` semantics), plug-in
    entropy of the occupied cells; bits by default (``base``). A tensor of the input's dtype."""
    from .kernel import as_points

    pts = as_points(x, "x")
    bits = c.binned_entropy(pts.detach(), bins_per_dim)
    return (bits * (math.log(2.0) / v.check_base(base))).to(pts.dtype)


def _check_common(sigma: Any, t: Any = 1) -> float:
    sigma = v.check_positive_number(sigma, "gaussian_kernel_sigma")
    check_time(t)
    return sigma


def check_time(t: Any) -> float:
    """``t``, the diffusion time: a finite number >= 0 (0 gives log2 N, as dse-dsmi)."""
    if isinstance(t, bool):
        raise TypeError(f"t must be a finite number >= 0, got {t!r}")
    try:
        value = float(t)
    except (TypeError, ValueError):
        raise TypeError(f"t must be a finite number >= 0, got {t!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"t must be a finite number >= 0, got {t!r}")
    return value


def _cached_spectrum(
    path: str | None,
    expected: dict[str, Any],
    precision: Any,
    compute: Any,
    verbose: bool,
) -> Tensor:
    """Load the spectrum from ``path`` if it exists (checked), else compute it and save it.

    As in ``dse-dsmi``, a freshly saved spectrum is used at the saved precision (float16 by
    default), so that the first and later runs agree.
    """
    if path is not None and os.path.exists(path):
        c.log(verbose, f"Loading pre-computed eigenvalues from {path}")
        return eigen.load_eigvals(path, expected)
    eigvals = compute()
    if eigvals.is_complex():
        # Only magnitudes enter the entropy; storing them keeps a cached kNN spectrum exact
        # (dse-dsmi casts complex eigenvalues to float16 and so drops their imaginary parts).
        eigvals = eigvals.abs()
    if path is not None:
        eigen.save_eigvals(path, eigvals, expected, precision)
        c.log(verbose, f"Eigenvalues saved to {path}")
        rounded = eigvals.detach().cpu().numpy().astype(precision).astype(np.float64)
        eigvals = torch.from_numpy(rounded).to(eigvals.device)
    return eigvals


def _expected(kind: str, sigma: float, x: Tensor | None) -> dict[str, Any]:
    if x is None:
        return {"kind": kind, "sigma": sigma, "n": None, "d": None, "fingerprint": None}
    return {
        "kind": kind,
        "sigma": sigma,
        "n": int(x.shape[0]),
        "d": int(x.shape[1]),
        "fingerprint": eigen.data_fingerprint(x),
    }


def _entropy_from_cache_alone(
    path: str | None, kind: str, sigma: float, t: float = 1, needs_data: bool = False
) -> float:
    """``embedding_vectors=None``: the entropy of a cached spectrum (only kind and sigma checkable)."""
    if path is None or not os.path.exists(path):
        raise ValueError("embedding_vectors may be None only to load an existing eigval_save_path")
    if needs_data:
        raise ValueError("embedding_vectors is required for classic_shannon_entropy / matrix_entry_entropy")
    return float(c.spectrum_entropy(eigen.load_eigvals(path, _expected(kind, sigma, None)), t))


def _subsampled_embeddings(
    embedding_vectors: Any, max_n: int | None, random_seed: int | None, dtype: torch.dtype
) -> tuple[Tensor, bool, torch.dtype]:
    """Validated embeddings (see ``as_embeddings``), subsampled to ``max_n`` rows as dse-dsmi draws them."""
    x, from_numpy, out = c.as_embeddings(embedding_vectors, "embedding_vectors", dtype)
    idx = c.subsample_indices(x.shape[0], max_n, random_seed)
    if idx is not None:
        x = x[torch.as_tensor(idx, device=x.device)]
    return x, from_numpy, out


def _lanczos_dse(x: Tensor, sigma: float, t: float, steps: int, probes: int, seed: int | None) -> Tensor:
    """DSE by deflated stochastic Lanczos quadrature on the operator ``D^{-1/2} G D^{-1/2}``."""
    k = diffusion_operator(x, sigma)
    n = k.shape[0]
    gen = torch.Generator().manual_seed(0 if seed is None else int(seed))
    nodes, weights = eigen.deflated_lanczos_spectrum(k, steps=steps, probes=probes, generator=gen)
    mag = nodes.abs() ** t
    mass = n * (weights * mag).sum()  # tr |K|^t
    positive = mag > 0
    logm = torch.where(positive, mag, torch.ones((), dtype=mag.dtype, device=mag.device)).log()
    plogp = n * (weights * mag * (logm - mass.log())).sum() / mass  # Σ p log p
    return -plogp / math.log(2.0)


def diffusion_spectral_entropy(
    embedding_vectors: Any,
    gaussian_kernel_sigma: float = 10,
    t: float = 1,
    max_N: int | None = 10000,
    chebyshev_approx: bool = False,
    eigval_save_path: str | None = None,
    eigval_save_precision: Any = np.float16,
    classic_shannon_entropy: bool = False,
    matrix_entry_entropy: bool = False,
    num_bins_per_dim: int = 2,
    random_seed: int | None = 0,
    verbose: bool = False,
    *,
    dtype: torch.dtype = torch.float64,
    eigensolver: str = "exact",
    lanczos_steps: int = 80,
    lanczos_probes: int = 16,
) -> Any:
    r"""Diffusion spectral entropy of ``N`` points in ``D`` dimensions, in bits.

    .. math::
        \mathrm{DSE} = -\sum_i p_i \log_2 p_i, \qquad
        p_i = |\lambda_i|^t \Big/ \sum_j |\lambda_j|^t,

    with :math:`\lambda_i` the eigenvalues of the diffusion operator :math:`P = D^{-1}G` of the
    Gaussian kernel :math:`G_{ij} = \exp(-\|x_i - x_j\|^2 / 2\sigma^2)` (computed from the
    symmetric :math:`D^{-1/2}GD^{-1/2}`, which has the same spectrum) [1]_. Between 0 (all
    points equal) and :math:`\log_2 N` (:math:`\sigma \to 0`, ``t = 1``).

    Parameters as ``dse-dsmi``'s ``diffusion_spectral_entropy``:

    embedding_vectors : (N, D) numpy array or tensor
        A numpy array gives a Python float; a tensor gives a 0-d tensor on its device in its
        dtype. ``None`` only to read ``eigval_save_path``.
    gaussian_kernel_sigma : float
        Kernel bandwidth (10, as ``dse-dsmi``: rescale it with your data).
    t : float
        Diffusion time: the power of the eigenvalues.
    max_N : int or None
        Points beyond this are subsampled: ``random.Random(random_seed).sample(range(N), max_N)``,
        the draws ``dse-dsmi`` makes, without touching the global ``random`` state.
    chebyshev_approx : bool
        ``dse-dsmi``'s Chebyshev density-of-states approximation (not recommended).
    eigval_save_path : str, optional
        ``.npz`` eigenvalue cache: read if it exists (after checking it was computed for the same
        kernel, sigma, N, D and data), else written atomically.
    eigval_save_precision : numpy dtype
        Precision of the cache (float16 by default, as ``dse-dsmi``; the entropy is then computed
        from the rounded values on the first run too). Use ``np.float64`` for exact reuse.
    classic_shannon_entropy : bool
        Return the classic binned Shannon entropy (CSE) instead.
    matrix_entry_entropy : bool
        Entropy of the entries of :math:`P` instead of its eigenvalues.
    num_bins_per_dim : int
        Bins per dimension for CSE.
    random_seed : int or None
        Seed of the subsampling (and of the approximations).
    verbose : bool
        Progress messages on stderr.
    dtype : torch.float64 or torch.float32
        Compute precision. float32 is 2-4x faster on CPU; see BENCHMARKS.md for its error.
    eigensolver : {"exact", "lanczos"}
        ``"lanczos"``: stochastic Lanczos quadrature of the spectral density
        (``lanczos_steps`` × ``lanczos_probes`` mat-vecs) for N past what ``eigvalsh`` affords;
        its error against the exact value is in ``docs/spectral.md``.

    Examples
    --------
    >>> import math, numpy as np
    >>> from infotorch.spectral import diffusion_spectral_entropy
    >>> x = np.random.default_rng(0).normal(size=(200, 8))
    >>> h = diffusion_spectral_entropy(x, gaussian_kernel_sigma=1.0)
    >>> 0 < h < math.log2(200)
    True
    >>> round(diffusion_spectral_entropy(x, gaussian_kernel_sigma=1e-3), 6)   # identity kernel: log2 N
    7.643856
    """
    sigma = _check_common(gaussian_kernel_sigma, t)
    if eigensolver not in _EIGENSOLVERS:
        raise ValueError(f"eigensolver must be one of {_EIGENSOLVERS}, got {eigensolver!r}")
    kind = "diffusion-chebyshev" if chebyshev_approx else "diffusion"
    if embedding_vectors is None:
        needs_data = classic_shannon_entropy or matrix_entry_entropy
        return _entropy_from_cache_alone(eigval_save_path, kind, sigma, t, needs_data)
    x, from_numpy, out = _subsampled_embeddings(embedding_vectors, max_N, random_seed, dtype)

    if classic_shannon_entropy:
        c.log(verbose, "Computing Classic Shannon Entropy...")
        return c.finish(c.binned_entropy(x.detach(), num_bins_per_dim), from_numpy, out)
    c.log(verbose, "Computing Diffusion Spectral Entropy...")
    if matrix_entry_entropy:
        value = c.matrix_entry_entropy_of_kernel(gaussian_kernel(x, sigma))
        return c.finish(value, from_numpy, out)
    if eigensolver == "lanczos" and not chebyshev_approx:
        value = _lanczos_dse(x, sigma, float(t), lanczos_steps, lanczos_probes, random_seed)
        return c.finish(value, from_numpy, out)

    def compute() -> Tensor:
        c.log(verbose, "Computing diffusion matrix.")
        k = diffusion_operator(x, sigma)
        c.log(verbose, "Computing eigenvalues.")
        if chebyshev_approx:
            gen = torch.Generator().manual_seed(0 if random_seed is None else int(random_seed))
            return eigen.chebyshev_eigvals(k.detach(), generator=gen)
        return torch.linalg.eigvalsh(k)

    eigvals = _cached_spectrum(eigval_save_path, _expected(kind, sigma, x), eigval_save_precision, compute, verbose)
    return c.finish(c.spectrum_entropy(eigvals.to(x.device), t), from_numpy, out)


def _adjacency_kind(anisotropic: bool, use_knn: bool, knn: int) -> str:
    if use_knn:
        return f"adjacency-knn{int(knn)}"
    return "adjacency-anisotropic" if anisotropic else "adjacency-gaussian"


def adjacency_spectrum(x: Tensor, sigma: float, anisotropic: bool, use_knn: bool, knn: int) -> Tensor:
    """Eigenvalues of the adjacency matrix ``dse-dsmi`` builds (Gaussian, anisotropic or kNN)."""
    if use_knn:
        a = knn_adjacency(squared_distances(x), int(knn))
        return eigen.exact_eigvals(a)
    g = gaussian_kernel(x, sigma)
    if anisotropic:
        g = anisotropic_normalize(g)
    return torch.linalg.eigvalsh(g)


def adjacency_spectral_entropy(
    embedding_vectors: Any,
    gaussian_kernel_sigma: float = 10,
    anisotropic: bool = False,
    use_knn: bool = False,
    knn: int = 10,
    max_N: int | None = 10000,
    eigval_save_path: str | None = None,
    eigval_save_precision: Any = np.float16,
    random_seed: int | None = 0,
    verbose: bool = False,
    *,
    dtype: torch.dtype = torch.float64,
) -> Any:
    r"""Spectral entropy of an adjacency matrix instead of the diffusion operator, in bits.

    :math:`-\sum p_i \log_2 p_i` with :math:`p_i = |\lambda_i| / \sum_j |\lambda_j|`, the
    eigenvalues of the Gaussian affinity :math:`G` (default), of its anisotropic normalization
    :math:`D^{-1/2}GD^{-1/2}` (``anisotropic=True``), or of the binary kNN graph (``use_knn``:
    :math:`A_{ij} = [d_{ij} \le` the ``knn``-th smallest distance of row ``i``, self included];
    not symmetric, so its eigenvalues are complex and their magnitudes are used, as in
    ``dse-dsmi``). Parameters, subsampling and cache as :func:`diffusion_spectral_entropy`.

    Examples
    --------
    >>> import math, numpy as np
    >>> from infotorch.spectral import adjacency_spectral_entropy
    >>> x = np.random.default_rng(0).normal(size=(100, 4))
    >>> h = adjacency_spectral_entropy(x, use_knn=True, knn=5)
    >>> 0 < h < math.log2(100)
    True
    """
    sigma = _check_common(gaussian_kernel_sigma)
    kind = _adjacency_kind(anisotropic, use_knn, knn)
    if embedding_vectors is None:
        return _entropy_from_cache_alone(eigval_save_path, kind, sigma)
    x, from_numpy, out = _subsampled_embeddings(embedding_vectors, max_N, random_seed, dtype)
    c.log(verbose, "Computing adjacency matrix and its eigenvalues.")
    eigvals = _cached_spectrum(
        eigval_save_path,
        _expected(kind, sigma, x),
        eigval_save_precision,
        lambda: adjacency_spectrum(x, sigma, anisotropic, use_knn, knn),
        verbose,
    )
    return c.finish(c.spectrum_entropy(eigvals.to(x.device)), from_numpy, out)
