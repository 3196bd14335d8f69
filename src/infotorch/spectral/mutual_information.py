r"""Diffusion (and adjacency) spectral mutual information, DSMI / ASMI.

.. math::
    \mathrm{DSMI}(Z; Y) = \sum_i p(Y = y_i)\,\big[\mathrm{DSE}(Z^*_i) - \mathrm{DSE}(Z \mid Y = y_i)\big],

where :math:`Z^*_i` is a random subset of :math:`Z` of the size of class :math:`y_i`
(``num_repetitions`` draws, averaged), as ``dse-dsmi`` 1.1 computes it, draw for draw. The
reference :math:`Y` is used as class labels (1-D integers), binned (continuous scalars) or
clustered spectrally (vectors, scikit-learn's ``SpectralClustering``, as ``dse-dsmi``).

The Gaussian kernel (or the distance matrix) of all N points is computed once; each subset's
kernel is its block of it, so the ``1 + num_repetitions`` spectra per class cost one
eigendecomposition each and no distance computation.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .. import _validation as v
from . import _common as c
from . import eigen
from .entropy import _check_common
from .graphs import anisotropic_normalize, gaussian_kernel, knn_adjacency, squared_distances

__all__ = ["adjacency_spectral_mutual_information", "cluster_references", "diffusion_spectral_mutual_information"]

_INNER_MAX_N = 10000  # the inner DSE calls of dse-dsmi use their default max_N and random_seed=0


def _reference_array(reference: Any) -> tuple[np.ndarray, bool]:
    if isinstance(reference, Tensor):
        return reference.detach().cpu().numpy(), True
    if reference is None:
        raise TypeError("reference_vectors must be a numpy array or a torch.Tensor, got None")
    return np.asarray(reference), False


def _clusters(
    reference: np.ndarray,
    n: int,
    reference_discrete: bool | None,
    n_clusters: int,
    precomputed_clusters: Any,
) -> np.ndarray:
    """Cluster assignments of the reference, exactly as ``dse-dsmi`` makes them."""
    if reference.ndim == 1:
        reference = reference.reshape(reference.shape[0], 1)
    if reference.ndim != 2:
        raise ValueError(f"reference_vectors must be 1-D or 2-D, got shape {reference.shape}")
    n_ref, d_ref = reference.shape
    if n_ref != n:
        raise ValueError(
            f"embedding_vectors and reference_vectors must have the same number of points, got {n} and {n_ref}"
        )
    if reference_discrete is None:
        reference_discrete = d_ref == 1 and bool(np.issubdtype(reference.dtype, np.integer))
    if reference_discrete:
        if d_ref != 1:
            raise ValueError(
                f"reference_discrete=True needs reference_vectors of shape (N,) or (N, 1), got {reference.shape}"
            )
        return reference
    if precomputed_clusters is not None:
        clusters = np.asarray(
            precomputed_clusters.detach().cpu().numpy()
            if isinstance(precomputed_clusters, Tensor)
            else precomputed_clusters
        )
        if clusters.reshape(-1).shape[0] != n:
            raise ValueError(f"precomputed_clusters must hold {n} assignments, got shape {clusters.shape}")
        return clusters
    if not np.all(np.isfinite(reference)):
        raise ValueError("reference_vectors must be finite (no NaN or Inf)")
    if d_ref == 1:
        vecs = (reference - reference.min(axis=0)) / (reference.max(axis=0) - reference.min(axis=0))
        bins = np.linspace(0, 1, int(n_clusters) + 1)[:-1]
        return np.digitize(vecs, bins=bins)
    try:
        from sklearn.cluster import SpectralClustering
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "clustering vector-valued reference_vectors needs scikit-learn: "
            "pip install 'infotorch[compare]', or pass precomputed_clusters"
        ) from None
    op = SpectralClustering(
        n_clusters=n_clusters, affinity="nearest_neighbors", assign_labels="cluster_qr", random_state=0
    ).fit(reference)
    return np.asarray(op.labels_)


def cluster_references(reference: Tensor, n_clusters: int = 10, *, discrete: bool | None = None) -> Tensor:
    """Class assignments of a reference, as dse-dsmi makes them for DSMI(Z; Y): integer labels
    (N,) as they are (``discrete=None`` decides by dtype), continuous scalars min-max binned into
    ``n_clusters`` bins, vectors (N, D) clustered by scikit-learn's ``SpectralClustering``
    (nearest-neighbour affinity, ``cluster_qr``, ``random_state=0``). Returns a (N,) tensor."""
    ref = v.ensure_tensor(reference, "reference")
    arr = ref.detach().cpu().numpy()
    if arr.ndim == 0:
        raise ValueError("reference must hold one row per point, got a scalar")
    labels = _clusters(arr, arr.shape[0], discrete, int(n_clusters), None)
    return torch.as_tensor(np.asarray(labels).reshape(-1))


def _block(m: Tensor, idx: Tensor) -> Tensor:
    return m.index_select(0, idx).index_select(1, idx)


def _inner_subsample(idx: np.ndarray) -> np.ndarray:
    sub = c.subsample_indices(len(idx), _INNER_MAX_N, 0)
    return idx if sub is None else idx[np.asarray(sub)]


def _spectral_mi(
    clusters: np.ndarray,
    num_repetitions: int,
    random_seed: int | None,
    block_entropy: Any,
    verbose: bool,
) -> Tensor:
    flat = clusters.reshape(-1)
    labels, counts = np.unique(flat, return_counts=True)
    n_total = clusters.shape[0]
    shared_rng = random.Random()  # only used when random_seed is None
    # The generator is re-seeded per class, so classes of equal size draw the same subsets:
    # their DSE(Z*) is computed once (balanced classes: one set of draws instead of one per class).
    marginal_by_size: dict[int, Tensor] = {}
    terms = []
    for label, count in zip(labels, counts, strict=True):
        members = np.nonzero(flat == label)[0]
        h_cond = block_entropy(_inner_subsample(members))
        h_marg = marginal_by_size.get(int(count)) if random_seed is not None else None
        if h_marg is None:
            rng = random.Random(random_seed) if random_seed is not None else shared_rng
            draws = []
            for _ in range(int(num_repetitions)):
                pick = np.asarray(rng.sample(range(n_total), k=int(count)))
                draws.append(block_entropy(_inner_subsample(pick)))
            h_marg = torch.stack(draws).mean() if draws else torch.full_like(h_cond, float("nan"))
            marginal_by_size[int(count)] = h_marg
        terms.append(float(count) / float(counts.sum()) * (h_marg - h_cond))
        c.log(verbose, f"class {label.item() if hasattr(label, 'item') else label!r}: {count} points")
    return torch.stack(terms).sum()


def _finish_mi(
    value: Tensor, clusters: np.ndarray, from_numpy: bool, ref_is_tensor: bool, out: torch.dtype, device: Any
) -> tuple[Any, Any]:
    mi = c.finish(value, from_numpy, out)
    clusters_out: Any = torch.as_tensor(clusters, device=device) if ref_is_tensor else clusters
    return mi, clusters_out


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
    r"""Diffusion spectral mutual information DSMI(Z; Y) in bits, and the cluster assignments.

    Returns ``(dsmi, clusters)`` as ``dse-dsmi`` does: a float and a numpy array for numpy
    embeddings; a 0-d tensor (and a tensor of assignments for a tensor reference) for tensors.
    ``reference_vectors``: integer labels of shape (N,) or (N, 1) (discrete, inferred from
    the dtype unless ``reference_discrete`` says), continuous scalars (min-max binned into
    ``n_clusters`` bins) or vectors (spectral clustering into ``n_clusters``; reuse the
    returned assignments through ``precomputed_clusters``). Other parameters as
    :func:`~infotorch.spectral.diffusion_spectral_entropy`. DSMI can be slightly negative
    (sampling noise of :math:`Z^*`) when Z carries no information about Y.

    Examples
    --------
    >>> import numpy as np
    >>> from infotorch.spectral import diffusion_spectral_mutual_information
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat(np.arange(3), 40)
    >>> z = rng.normal(size=(120, 2)) * 0.1 + np.eye(3)[y, :2] * 5   # three separated blobs
    >>> mi, clusters = diffusion_spectral_mutual_information(z, y, gaussian_kernel_sigma=1.0)
    >>> shuffled, _ = diffusion_spectral_mutual_information(z, rng.permutation(y), gaussian_kernel_sigma=1.0)
    >>> mi > 1.0 > shuffled
    True
    """
    sigma = _check_common(gaussian_kernel_sigma, t)
    x, from_numpy, out = c.as_embeddings(embedding_vectors, "embedding_vectors", dtype)
    reference, ref_is_tensor = _reference_array(reference_vectors)
    clusters = _clusters(reference, x.shape[0], reference_discrete, n_clusters, precomputed_clusters)
    gen = torch.Generator().manual_seed(0 if random_seed is None else int(random_seed))

    if classic_shannon_entropy:
        xd = x.detach()

        def block_entropy(idx: np.ndarray) -> Tensor:
            return c.binned_entropy(xd[torch.as_tensor(idx, device=x.device)], num_bins_per_dim)

    else:
        g = gaussian_kernel(x, sigma)
        block_entropy = _diffusion_block_entropy(g, t, matrix_entry_entropy, gen if chebyshev_approx else None)

    value = _spectral_mi(clusters, num_repetitions, random_seed, block_entropy, verbose)
    return _finish_mi(value, clusters, from_numpy, ref_is_tensor, out, x.device)


def _diffusion_block_entropy(
    g: Tensor, t: float, matrix_entry_entropy: bool = False, chebyshev: torch.Generator | None = None
) -> Any:
    """DSE (or its matrix-entry variant) of the points ``idx``, from their block of the kernel ``g``."""

    def block_entropy(idx: np.ndarray) -> Tensor:
        blk = _block(g, torch.as_tensor(idx, device=g.device))
        if matrix_entry_entropy:
            return c.matrix_entry_entropy_of_kernel(blk)
        k = anisotropic_normalize(blk)
        if chebyshev is not None:
            return c.spectrum_entropy(eigen.chebyshev_eigvals(k.detach(), generator=chebyshev), t)
        return c.spectrum_entropy(torch.linalg.eigvalsh(k), t)

    return block_entropy


def diffusion_kernel_mutual_information(
    g: Tensor,
    clusters: np.ndarray,
    *,
    t: float = 1,
    num_repetitions: int = 5,
    random_seed: int | None = 0,
    verbose: bool = False,
) -> Tensor:
    """DSMI (bits) from the Gaussian kernel ``g`` (N, N) of all the points and their cluster labels
    (N,) or (N, 1): the computation of :func:`diffusion_spectral_mutual_information` after its kernel,
    for a caller that already holds the kernel (the monitor measures DSE and both DSMIs from one)."""
    clusters = np.asarray(clusters)
    if clusters.shape[0] != g.shape[0]:
        raise ValueError(
            f"the kernel and the cluster labels must cover the same points, got {g.shape[0]} and {clusters.shape[0]}"
        )
    return _spectral_mi(clusters, num_repetitions, random_seed, _diffusion_block_entropy(g, t), verbose)


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
    r"""Adjacency spectral mutual information ASMI(Z; Y) in bits, and the cluster assignments.

    :func:`diffusion_spectral_mutual_information` with the adjacency spectral entropy (Gaussian,
    anisotropic, or kNN with ``knn = 10``, the value ``dse-dsmi``'s inner calls use).

    Examples
    --------
    >>> import numpy as np
    >>> from infotorch.spectral import adjacency_spectral_mutual_information
    >>> y = np.repeat(np.arange(2), 30)
    >>> z = np.random.default_rng(1).normal(size=(60, 3)) + y[:, None] * 6.0
    >>> mi, _ = adjacency_spectral_mutual_information(z, y, gaussian_kernel_sigma=1.0)
    >>> mi > 0
    True
    """
    sigma = _check_common(gaussian_kernel_sigma)
    x, from_numpy, out = c.as_embeddings(embedding_vectors, "embedding_vectors", dtype)
    reference, ref_is_tensor = _reference_array(reference_vectors)
    clusters = _clusters(reference, x.shape[0], reference_discrete, n_clusters, precomputed_clusters)
    base = squared_distances(x) if use_knn else gaussian_kernel(x, sigma)

    def block_entropy(idx: np.ndarray) -> Tensor:
        blk = _block(base, torch.as_tensor(idx, device=base.device))
        if use_knn:
            return c.spectrum_entropy(eigen.exact_eigvals(knn_adjacency(blk, min(10, blk.shape[0]))))
        if anisotropic:
            blk = anisotropic_normalize(blk)
        return c.spectrum_entropy(torch.linalg.eigvalsh(blk))

    value = _spectral_mi(clusters, num_repetitions, random_seed, block_entropy, verbose)
    return _finish_mi(value, clusters, from_numpy, ref_is_tensor, out, x.device)
