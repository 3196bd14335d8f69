"""Drop-in for the ``dse-dsmi`` package (version 1.1): the same four functions, the same
signatures, defaults and numbers, computed by :mod:`infotorch.spectral`.

Replace ``from dse_dsmi import diffusion_spectral_entropy`` with
``from infotorch.compat.dse_dsmi import diffusion_spectral_entropy``. This module is the only
place with dse-dsmi's names and behaviour: numpy arrays or lists in and Python floats out (a
tensor gives a 0-d tensor on its device), ``max_N`` subsampling with dse-dsmi's draws
(``random.Random(random_seed).sample(range(N), max_N)``, re-seeded per class in DSMI, without
touching the global ``random`` state), the boolean mode flags, the eigenvalue cache parameters.
Underneath it calls the tensor-level core (:class:`infotorch.spectral.DiffusionKernel`,
:func:`infotorch.spectral.subset_mutual_information`, the graph builders and the cache).

Differences, all deliberate (the full table is in ``docs/spectral.md``): an eigenvalue cache
must match the data it is read for (``ValueError`` otherwise); mismatched N between embeddings
and references raises instead of warning; progress messages go to stderr; a cached kNN spectrum
keeps its magnitudes (``dse-dsmi`` drops imaginary parts); the Chebyshev option draws its probes
from a seeded generator; ``t = 0`` and any finite ``t >= 0`` are evaluated in log space.
"""

from __future__ import annotations

import os
import random
import sys
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .. import _validation as v
from ..spectral import (
    DiffusionKernel,
    binned_shannon_entropy,
    cluster_references,
    spectrum_entropy,
    subset_mutual_information,
)
from ..spectral import cache as _cache
from ..spectral import eigen as _eigen
from ..spectral.graphs import anisotropic_normalize, knn_adjacency, squared_distances

__all__ = [
    "adjacency_spectral_entropy",
    "adjacency_spectral_mutual_information",
    "diffusion_spectral_entropy",
    "diffusion_spectral_mutual_information",
]

_INNER_MAX_N = 10000  # the inner DSE calls of dse-dsmi use their default max_N and random_seed=0
_EIGENSOLVERS = ("exact", "lanczos")


# ---------------------------------------------------------------------- the numpy / tensor edge


def _log(verbose: bool, message: str) -> None:
    if verbose:
        print(message, file=sys.stderr, flush=True)


def _as_embeddings(x: Any, name: str, dtype: torch.dtype) -> tuple[Tensor, bool, torch.dtype]:
    """``(tensor in dtype, came_from_numpy, dtype to return)`` for an ``(N, D)`` input, N >= 2."""
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    if isinstance(x, Tensor):
        from_numpy, out = False, (x.dtype if x.is_floating_point() else torch.get_default_dtype())
        t = x
    else:
        if isinstance(x, (list, tuple)):
            x = np.asarray(x)
        if not (isinstance(x, np.ndarray) or hasattr(x, "__array__")):
            raise TypeError(f"{name} must be a numpy array, a list or a torch.Tensor, got {type(x).__name__}")
        arr = np.asarray(x)
        if arr.dtype == object:
            raise TypeError(f"{name} must be a numeric array, got dtype object")
        if np.iscomplexobj(arr):
            raise TypeError(f"{name} must be real, got dtype {arr.dtype}")
        from_numpy, out = True, torch.float64
        t = torch.from_numpy(np.ascontiguousarray(arr))
    if t.ndim != 2:
        raise ValueError(f"{name} must be 2-D (N points, D features), got shape {tuple(t.shape)}")
    if t.shape[0] < 2:
        raise ValueError(f"{name} must hold at least 2 points (N >= 2), got N = {t.shape[0]}")
    if t.shape[1] < 1:
        raise ValueError(f"{name} must have at least one feature, got shape {tuple(t.shape)}")
    if t.is_complex():
        raise TypeError(f"{name} must be real, got dtype {t.dtype}")
    t = t.to(dtype)
    v.check_finite(t, name)
    return t, from_numpy, out


def _finish(value: Tensor, from_numpy: bool, out_dtype: torch.dtype) -> Any:
    """Python float for numpy callers, a tensor (input dtype, input device) for tensor callers."""
    if from_numpy:
        return float(value.detach().cpu())
    return value.to(out_dtype)


def _subsample(n: int, max_n: int | None, random_seed: int | None) -> list[int] | None:
    """dse-dsmi's draw: ``random.seed(seed); random.sample(range(n), k=max_n)`` when ``n > max_n``."""
    if max_n is None or n <= max_n:
        return None
    rng = random.Random(random_seed) if random_seed is not None else random.Random()
    return rng.sample(range(n), k=max_n)


def _check_max_n(max_n: Any) -> int | None:
    if max_n is None:
        return None
    if isinstance(max_n, bool) or not isinstance(max_n, (int, np.integer)) or int(max_n) < 2:
        raise ValueError(f"max_N must be an integer >= 2 or None, got {max_n!r}")
    return int(max_n)


def _check_sigma(sigma: Any) -> float:
    return v.check_positive_number(sigma, "gaussian_kernel_sigma")


def _subsampled(
    embedding_vectors: Any, max_n: Any, random_seed: int | None, dtype: torch.dtype
) -> tuple[Tensor, bool, torch.dtype]:
    x, from_numpy, out = _as_embeddings(embedding_vectors, "embedding_vectors", dtype)
    idx = _subsample(x.shape[0], _check_max_n(max_n), random_seed)
    if idx is not None:
        x = x[torch.as_tensor(idx, device=x.device)]
    return x, from_numpy, out


# ---------------------------------------------------------------------- the eigenvalue cache


def _cached_spectrum(path: Any, expected: dict[str, Any], precision: Any, compute: Any, verbose: bool) -> Tensor:
    """Load the spectrum from ``path`` if it exists (checked), else compute it and save it; a
    freshly saved spectrum is used at the saved precision (float16 by default), as dse-dsmi."""
    if path is not None and os.path.exists(os.fspath(path)):
        _log(verbose, f"Loading pre-computed eigenvalues from {path}")
        return _cache.load_spectrum(path, expected)
    eigvals = compute()
    if eigvals.is_complex():
        eigvals = eigvals.abs()  # only magnitudes enter the entropy
    if path is not None:
        _cache.save_spectrum(path, eigvals, expected, precision)
        _log(verbose, f"Eigenvalues saved to {path}")
        rounded = eigvals.detach().cpu().numpy().astype(precision).astype(np.float64)
        eigvals = torch.from_numpy(rounded).to(eigvals.device)
    return eigvals


def _provenance(kind: str, sigma: float, x: Tensor | None, path: Any, seed: int | None = None) -> dict[str, Any]:
    """The cache record; the data fingerprint is only computed when a cache path is given."""
    return _cache.provenance(kind, sigma, x if path is not None else None, seed)


def _entropy_from_cache_alone(path: Any, kind: str, sigma: float, t: float = 1, needs_data: bool = False) -> float:
    if path is None or not os.path.exists(os.fspath(path)):
        raise ValueError("embedding_vectors may be None only to load an existing eigval_save_path")
    if needs_data:
        raise ValueError("embedding_vectors is required for classic_shannon_entropy / matrix_entry_entropy")
    return float(spectrum_entropy(_cache.load_spectrum(path, _cache.provenance(kind, sigma, None)), t))


# ---------------------------------------------------------------------- entropies


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
    r"""``dse_dsmi.diffusion_spectral_entropy``: DSE of the embeddings, in bits.

    Parameters as dse-dsmi's: ``gaussian_kernel_sigma`` (10), ``t``, ``max_N`` (subsample above
    it, dse-dsmi's draws), ``chebyshev_approx``, ``eigval_save_path`` / ``eigval_save_precision``
    (an ``.npz`` cache checked against the data it is read for), ``classic_shannon_entropy``
    (the binned entropy instead), ``matrix_entry_entropy`` (the entropy of the entries of
    :math:`P`), ``num_bins_per_dim``, ``random_seed``, ``verbose``. Additions: ``dtype``
    (float64 or float32), ``eigensolver`` ("exact" or "lanczos") with ``lanczos_steps`` and
    ``lanczos_probes``. A numpy array or list gives a Python float; a tensor gives a 0-d tensor.
    ``embedding_vectors=None`` reads ``eigval_save_path`` alone.

    Examples
    --------
    >>> import math, numpy as np
    >>> from infotorch.compat.dse_dsmi import diffusion_spectral_entropy
    >>> x = np.random.default_rng(0).normal(size=(200, 8))
    >>> h = diffusion_spectral_entropy(x, gaussian_kernel_sigma=1.0)
    >>> 0 < h < math.log2(200)
    True
    >>> round(diffusion_spectral_entropy(x, gaussian_kernel_sigma=1e-3), 6)   # identity kernel: log2 N
    7.643856
    """
    sigma = _check_sigma(gaussian_kernel_sigma)
    v.check_choice(eigensolver, _EIGENSOLVERS, "eigensolver")
    kind = "diffusion-chebyshev" if chebyshev_approx else "diffusion"
    if embedding_vectors is None:
        needs_data = classic_shannon_entropy or matrix_entry_entropy
        return _entropy_from_cache_alone(eigval_save_path, kind, sigma, t, needs_data)
    x, from_numpy, out = _subsampled(embedding_vectors, max_N, random_seed, dtype)
    if classic_shannon_entropy:
        _log(verbose, "Computing Classic Shannon Entropy...")
        return _finish(binned_shannon_entropy(x.detach(), num_bins_per_dim), from_numpy, out)
    _log(verbose, "Computing Diffusion Spectral Entropy...")
    kernel = DiffusionKernel.from_points(x, sigma)
    seed = 0 if random_seed is None else int(random_seed)
    if matrix_entry_entropy:
        return _finish(kernel.matrix_entry_entropy(), from_numpy, out)
    if eigensolver == "lanczos" and not chebyshev_approx:
        value = kernel.entropy(
            t, solver="lanczos", lanczos_steps=lanczos_steps, lanczos_probes=lanczos_probes, seed=seed
        )
        return _finish(value, from_numpy, out)

    def compute() -> Tensor:
        _log(verbose, "Computing eigenvalues.")
        if chebyshev_approx:
            return kernel.eigenvalues("chebyshev", generator=torch.Generator().manual_seed(seed))
        return kernel.eigenvalues("exact")

    meta = _provenance(kind, sigma, x, eigval_save_path, seed if chebyshev_approx else None)
    eigvals = _cached_spectrum(eigval_save_path, meta, eigval_save_precision, compute, verbose)
    return _finish(spectrum_entropy(eigvals.to(x.device), t), from_numpy, out)


def _adjacency_kind(anisotropic: bool, use_knn: bool, knn: int) -> str:
    if use_knn:
        return f"adjacency-knn{int(knn)}"
    return "adjacency-anisotropic" if anisotropic else "adjacency-gaussian"


def _adjacency_spectrum(x: Tensor, sigma: float, anisotropic: bool, use_knn: bool, knn: int) -> Tensor:
    """Eigenvalues of the adjacency matrix dse-dsmi builds (Gaussian, anisotropic or kNN)."""
    if use_knn:
        return _eigen.exact_eigvals(knn_adjacency(squared_distances(x), int(knn)))
    g = DiffusionKernel.from_points(x, sigma).affinity
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
    r"""``dse_dsmi.adjacency_spectral_entropy``: the spectral entropy of the Gaussian affinity,
    its anisotropic normalization, or the binary kNN graph (``use_knn``; not symmetric, so the
    magnitudes of its complex eigenvalues are used, as dse-dsmi), in bits.

    Examples
    --------
    >>> import math, numpy as np
    >>> from infotorch.compat.dse_dsmi import adjacency_spectral_entropy
    >>> x = np.random.default_rng(0).normal(size=(100, 4))
    >>> h = adjacency_spectral_entropy(x, use_knn=True, knn=5)
    >>> 0 < h < math.log2(100)
    True
    """
    sigma = _check_sigma(gaussian_kernel_sigma)
    kind = _adjacency_kind(anisotropic, use_knn, knn)
    if embedding_vectors is None:
        return _entropy_from_cache_alone(eigval_save_path, kind, sigma)
    x, from_numpy, out = _subsampled(embedding_vectors, max_N, random_seed, dtype)
    _log(verbose, "Computing adjacency matrix and its eigenvalues.")
    eigvals = _cached_spectrum(
        eigval_save_path,
        _provenance(kind, sigma, x, eigval_save_path),
        eigval_save_precision,
        lambda: _adjacency_spectrum(x, sigma, anisotropic, use_knn, knn),
        verbose,
    )
    return _finish(spectrum_entropy(eigvals.to(x.device)), from_numpy, out)


# ---------------------------------------------------------------------- mutual information


def _reference_array(reference: Any) -> tuple[np.ndarray, bool]:
    if isinstance(reference, Tensor):
        return reference.detach().cpu().numpy(), True
    if reference is None:
        raise TypeError("reference_vectors must be a numpy array, a list or a torch.Tensor, got None")
    return np.asarray(reference), False


def _clusters(
    reference: np.ndarray, n: int, reference_discrete: bool | None, n_clusters: int, precomputed: Any
) -> np.ndarray:
    """Cluster assignments of the reference, exactly as dse-dsmi makes them."""
    if reference.ndim == 1:
        reference = reference.reshape(reference.shape[0], 1)
    if reference.ndim != 2:
        raise ValueError(f"reference_vectors must be 1-D or 2-D, got shape {reference.shape}")
    if reference.shape[0] != n:
        raise ValueError(
            f"embedding_vectors and reference_vectors must have the same number of points, got {n} and {reference.shape[0]}"
        )
    if precomputed is not None and not (
        reference_discrete
        or (reference_discrete is None and reference.shape[1] == 1 and np.issubdtype(reference.dtype, np.integer))
    ):
        clusters = np.asarray(precomputed.detach().cpu().numpy() if isinstance(precomputed, Tensor) else precomputed)
        if clusters.reshape(-1).shape[0] != n:
            raise ValueError(f"precomputed_clusters must hold {n} assignments, got shape {clusters.shape}")
        return clusters
    labels = cluster_references(torch.as_tensor(reference), n_clusters, discrete=reference_discrete).numpy()
    vectors = reference.shape[1] > 1 and not reference_discrete
    return labels.reshape(-1) if vectors else labels.reshape(-1, 1)  # dse-dsmi's shapes


def _mi(
    clusters: np.ndarray,
    block_entropy: Any,
    num_repetitions: int,
    random_seed: int | None,
    verbose: bool,
) -> Tensor:
    flat = clusters.reshape(-1)
    values, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
    for value, count in zip(values, counts, strict=True):
        _log(verbose, f"class {value.item() if hasattr(value, 'item') else value!r}: {count} points")
    return subset_mutual_information(
        torch.as_tensor(inverse.reshape(-1)),
        block_entropy,
        num_repetitions=int(num_repetitions),
        seed=random_seed,
        max_block=_INNER_MAX_N,
    )


def _finish_mi(
    value: Tensor, clusters: np.ndarray, from_numpy: bool, ref_is_tensor: bool, out: torch.dtype, device: Any
) -> tuple[Any, Any]:
    clusters_out: Any = torch.as_tensor(clusters, device=device) if ref_is_tensor else clusters
    return _finish(value, from_numpy, out), clusters_out


def diffusion_spectral_mutual_information(
    embedding_vectors: Any,
    reference_vectors: Any,
    reference_discrete: bool | None = None,
    gaussian_kernel_sigma: float = 10,
    t: float = 1,
    chebyshev_approx: bool = False,
    num_repetitions: int = 5,
    n_clusters: int = 10,
    precomputed_clusters: Any = None,
    classic_shannon_entropy: bool = False,
    matrix_entry_entropy: bool = False,
    num_bins_per_dim: int = 2,
    random_seed: int | None = 0,
    verbose: bool = False,
    *,
    dtype: torch.dtype = torch.float64,
) -> tuple[Any, Any]:
    r"""``dse_dsmi.diffusion_spectral_mutual_information``: DSMI(Z; Y) in bits and the cluster
    assignments, ``(dsmi, clusters)``: a float and a numpy array for numpy embeddings, tensors
    for tensors. ``reference_vectors``: integer labels (discrete, inferred from the dtype unless
    ``reference_discrete`` says), continuous scalars (min-max binned into ``n_clusters`` bins) or
    vectors (spectral clustering; reuse the returned assignments via ``precomputed_clusters``).
    The kernel of all N points is built once; each subset's kernel is its block.

    Examples
    --------
    >>> import numpy as np
    >>> from infotorch.compat.dse_dsmi import diffusion_spectral_mutual_information
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat(np.arange(3), 40)
    >>> z = rng.normal(size=(120, 2)) * 0.1 + np.eye(3)[y, :2] * 5   # three separated blobs
    >>> mi, clusters = diffusion_spectral_mutual_information(z, y, gaussian_kernel_sigma=1.0)
    >>> shuffled, _ = diffusion_spectral_mutual_information(z, rng.permutation(y), gaussian_kernel_sigma=1.0)
    >>> mi > 1.0 > shuffled
    True
    """
    sigma = _check_sigma(gaussian_kernel_sigma)
    x, from_numpy, out = _as_embeddings(embedding_vectors, "embedding_vectors", dtype)
    reference, ref_is_tensor = _reference_array(reference_vectors)
    clusters = _clusters(reference, x.shape[0], reference_discrete, n_clusters, precomputed_clusters)
    if classic_shannon_entropy:
        xd = x.detach()

        def block_entropy(idx: Tensor) -> Tensor:
            return binned_shannon_entropy(xd[idx.to(x.device)], num_bins_per_dim)

    else:
        kernel = DiffusionKernel.from_points(x, sigma)
        gen = torch.Generator().manual_seed(0 if random_seed is None else int(random_seed))

        def block_entropy(idx: Tensor) -> Tensor:
            blk = kernel.block(idx)
            if matrix_entry_entropy:
                return blk.matrix_entry_entropy()
            if chebyshev_approx:
                return spectrum_entropy(blk.eigenvalues("chebyshev", generator=gen), t)
            return blk.entropy(t, solver="exact")

    value = _mi(clusters, block_entropy, num_repetitions, random_seed, verbose)
    return _finish_mi(value, clusters, from_numpy, ref_is_tensor, out, x.device)


def adjacency_spectral_mutual_information(
    embedding_vectors: Any,
    reference_vectors: Any,
    reference_discrete: bool | None = None,
    gaussian_kernel_sigma: float = 10,
    use_knn: bool = False,
    anisotropic: bool = False,
    num_repetitions: int = 5,
    n_clusters: int = 10,
    precomputed_clusters: Any = None,
    random_seed: int | None = 0,
    verbose: bool = False,
    *,
    dtype: torch.dtype = torch.float64,
) -> tuple[Any, Any]:
    r"""``dse_dsmi.adjacency_spectral_mutual_information``: ASMI(Z; Y) in bits and the cluster
    assignments (Gaussian, anisotropic, or kNN with ``knn = 10``, the value dse-dsmi's inner
    calls use).

    Examples
    --------
    >>> import numpy as np
    >>> from infotorch.compat.dse_dsmi import adjacency_spectral_mutual_information
    >>> y = np.repeat(np.arange(2), 30)
    >>> z = np.random.default_rng(1).normal(size=(60, 3)) + y[:, None] * 6.0
    >>> mi, _ = adjacency_spectral_mutual_information(z, y, gaussian_kernel_sigma=1.0)
    >>> mi > 0
    True
    """
    sigma = _check_sigma(gaussian_kernel_sigma)
    x, from_numpy, out = _as_embeddings(embedding_vectors, "embedding_vectors", dtype)
    reference, ref_is_tensor = _reference_array(reference_vectors)
    clusters = _clusters(reference, x.shape[0], reference_discrete, n_clusters, precomputed_clusters)
    base = squared_distances(x) if use_knn else DiffusionKernel.from_points(x, sigma).affinity

    def block_entropy(idx: Tensor) -> Tensor:
        i = idx.to(base.device)
        blk = base.index_select(0, i).index_select(1, i)
        if use_knn:
            return spectrum_entropy(_eigen.exact_eigvals(knn_adjacency(blk, min(10, blk.shape[0]))))
        if anisotropic:
            blk = anisotropic_normalize(blk)
        return spectrum_entropy(torch.linalg.eigvalsh(blk))

    value = _mi(clusters, block_entropy, num_repetitions, random_seed, verbose)
    return _finish_mi(value, clusters, from_numpy, ref_is_tensor, out, x.device)
