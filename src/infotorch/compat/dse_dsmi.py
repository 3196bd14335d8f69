"""Drop-in for the ``dse-dsmi`` package (version 1.1): the same four functions, the same
signatures, defaults and numbers, computed by :mod:`infotorch.spectral`.

Replace ``from dse_dsmi import diffusion_spectral_entropy`` with
``from infotorch.compat.dse_dsmi import diffusion_spectral_entropy``. Differences, all
deliberate: an eigenvalue cache must match the data it is read for (``ValueError`` otherwise);
mismatched N between embeddings and references raises instead of warning; progress messages go
to stderr; a cached kNN spectrum keeps its magnitudes (``dse-dsmi`` drops imaginary parts);
the Chebyshev option draws its probes from a seeded generator. Like the original, every array
argument may also be a nested Python list (or anything :func:`numpy.asarray` takes).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..spectral import entropy as _entropy
from ..spectral import mutual_information as _mi


def _array(x: Any) -> Any:
    """What dse-dsmi takes: tensors and arrays as they are, lists and tuples through ``np.asarray``."""
    if x is None or isinstance(x, np.ndarray) or hasattr(x, "__array__") or type(x).__module__.startswith("torch"):
        return x
    if isinstance(x, (list, tuple)):
        return np.asarray(x)
    return x


__all__ = [
    "adjacency_spectral_entropy",
    "adjacency_spectral_mutual_information",
    "diffusion_spectral_entropy",
    "diffusion_spectral_mutual_information",
]


def diffusion_spectral_entropy(
    embedding_vectors: Any,
    gaussian_kernel_sigma: float = 10,
    t: int = 1,
    max_N: int = 10000,
    chebyshev_approx: bool = False,
    eigval_save_path: str | None = None,
    eigval_save_precision: Any = np.float16,
    classic_shannon_entropy: bool = False,
    matrix_entry_entropy: bool = False,
    num_bins_per_dim: int = 2,
    random_seed: int = 0,
    verbose: bool = False,
) -> Any:
    """``dse_dsmi.diffusion_spectral_entropy``; see :func:`infotorch.spectral.diffusion_spectral_entropy`."""
    return _entropy.diffusion_spectral_entropy(
        _array(embedding_vectors),
        gaussian_kernel_sigma,
        t,
        max_N,
        chebyshev_approx,
        eigval_save_path,
        eigval_save_precision,
        classic_shannon_entropy,
        matrix_entry_entropy,
        num_bins_per_dim,
        random_seed,
        verbose,
    )


def adjacency_spectral_entropy(
    embedding_vectors: Any,
    gaussian_kernel_sigma: float = 10,
    anisotropic: bool = False,
    use_knn: bool = False,
    knn: int = 10,
    max_N: int = 10000,
    eigval_save_path: str | None = None,
    eigval_save_precision: Any = np.float16,
    random_seed: int = 0,
    verbose: bool = False,
) -> Any:
    """``dse_dsmi.adjacency_spectral_entropy``; see :func:`infotorch.spectral.adjacency_spectral_entropy`."""
    return _entropy.adjacency_spectral_entropy(
        _array(embedding_vectors),
        gaussian_kernel_sigma,
        anisotropic,
        use_knn,
        knn,
        max_N,
        eigval_save_path,
        eigval_save_precision,
        random_seed,
        verbose,
    )


def diffusion_spectral_mutual_information(
    embedding_vectors: Any,
    reference_vectors: Any,
    reference_discrete: bool | None = None,
    gaussian_kernel_sigma: float = 10,
    t: int = 1,
    chebyshev_approx: bool = False,
    num_repetitions: int = 5,
    n_clusters: int = 10,
    precomputed_clusters: Any = None,
    classic_shannon_entropy: bool = False,
    matrix_entry_entropy: bool = False,
    num_bins_per_dim: int = 2,
    random_seed: int = 0,
    verbose: bool = False,
) -> tuple[Any, Any]:
    """``dse_dsmi.diffusion_spectral_mutual_information``; returns ``(dsmi, clusters)``."""
    return _mi.diffusion_spectral_mutual_information(
        _array(embedding_vectors),
        _array(reference_vectors),
        reference_discrete,
        gaussian_kernel_sigma,
        t,
        chebyshev_approx,
        num_repetitions,
        n_clusters,
        _array(precomputed_clusters),
        classic_shannon_entropy,
        matrix_entry_entropy,
        num_bins_per_dim,
        random_seed,
        verbose,
    )


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
    random_seed: int = 0,
    verbose: bool = False,
) -> tuple[Any, Any]:
    """``dse_dsmi.adjacency_spectral_mutual_information``; returns ``(asmi, clusters)``."""
    return _mi.adjacency_spectral_mutual_information(
        _array(embedding_vectors),
        _array(reference_vectors),
        reference_discrete,
        gaussian_kernel_sigma,
        use_knn,
        anisotropic,
        num_repetitions,
        n_clusters,
        _array(precomputed_clusters),
        random_seed,
        verbose,
    )
