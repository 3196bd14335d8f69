r"""Spectral mutual information of point clouds and class labels, tensor in, tensor out.

.. math::
    \mathrm{DSMI}(Z; Y) = \sum_y p(y)\,\big[\mathrm{DSE}(Z^*_y) - \mathrm{DSE}(Z \mid Y = y)\big],

where :math:`Z^*_y` is a random subset of :math:`Z` of the size of class :math:`y`
(``num_repetitions`` draws, averaged), as dse-dsmi 1.1 computes it, draw for draw. The kernel of
all N points is computed once; each subset's kernel is its block. ``labels`` are class labels
(N,); :func:`cluster_references` turns continuous references (scalars or vectors) into labels as
dse-dsmi does. The ASMI variant uses the adjacency spectral entropy (``graph=``).

dse-dsmi's signatures live in :mod:`infotorch.compat.dse_dsmi`.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .. import _validation as v
from . import _common as c
from . import eigen
from .entropy import GRAPHS, _knn_count
from .graphs import anisotropic_normalize, knn_adjacency, squared_distances
from .kernel import (
    DiffusionKernel,
    _out_dtype,
    _to_base_from_bits,
    as_points,
    check_sigma,
    labels_for,
    pow2_units,
    subset_mutual_information,
)

__all__ = ["adjacency_spectral_mutual_information", "cluster_references", "diffusion_spectral_mutual_information"]


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
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, numbers.Integral) or n_clusters < 1:
        raise ValueError(f"n_clusters must be a positive integer, got {n_clusters!r}")
    n_clusters = int(n_clusters)
    vectors = arr.ndim == 2 and arr.shape[1] > 1 and not discrete
    if vectors and not 2 <= n_clusters < arr.shape[0]:
        raise ValueError(f"n_clusters must lie in [2, N) = [2, {arr.shape[0]}) to cluster vectors, got {n_clusters}")
    labels = _clusters(arr, arr.shape[0], discrete, n_clusters, None)
    return torch.as_tensor(np.asarray(labels).reshape(-1))


def diffusion_spectral_mutual_information(
    x: Tensor,
    labels: Tensor,
    sigma: float | str = "median",
    t: float = 1,
    *,
    num_repetitions: int = 5,
    seed: int | None = 0,
    base: float | str = 2,
    dtype: torch.dtype | None = None,
) -> Tensor:
    r"""DSMI(Z; Y) of the points ``x`` (N, D) and class ``labels`` (N,), in bits by default.

    A 0-d tensor of the input's dtype. Can be slightly negative when Z carries no information
    about Y (the sampling noise of :math:`Z^*`). For continuous references, cluster them first
    with :func:`cluster_references`.

    Examples
    --------
    >>> import torch
    >>> from infotorch.spectral import diffusion_spectral_mutual_information
    >>> g = torch.Generator().manual_seed(0)
    >>> y = torch.arange(120) % 3
    >>> z = torch.randn(120, 2, generator=g, dtype=torch.float64) * 0.1 + 5 * torch.eye(3, 2, dtype=torch.float64)[y]
    >>> mi = diffusion_spectral_mutual_information(z, y, sigma=1.0)
    >>> shuffled = diffusion_spectral_mutual_information(z, y[torch.randperm(120, generator=g)], sigma=1.0)
    >>> bool(mi > 1.0 > shuffled)
    True
    """
    pts = as_points(x, "x", dtype)
    lab = labels_for(labels, pts.shape[0])
    kernel = DiffusionKernel.from_points(pts, check_sigma(sigma))
    return kernel.mutual_information(lab, t, num_repetitions=num_repetitions, seed=seed, base=base).to(_out_dtype(x))


def adjacency_spectral_mutual_information(
    x: Tensor,
    labels: Tensor,
    sigma: float | str = "median",
    *,
    graph: str = "gaussian",
    knn: int = 10,
    num_repetitions: int = 5,
    seed: int | None = 0,
    base: float | str = 2,
    dtype: torch.dtype | None = None,
) -> Tensor:
    r"""ASMI(Z; Y): :func:`diffusion_spectral_mutual_information` with the adjacency spectral
    entropy of ``graph`` (``"gaussian"``, ``"anisotropic"``, ``"knn"`` with ``knn`` capped at the
    subset size), in bits by default.

    Examples
    --------
    >>> import torch
    >>> from infotorch.spectral import adjacency_spectral_mutual_information
    >>> y = torch.arange(60) % 2
    >>> z = torch.randn(60, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64) + 6.0 * y[:, None]
    >>> bool(adjacency_spectral_mutual_information(z, y, sigma=1.0) > 0)
    True
    """
    v.check_choice(graph, GRAPHS, "graph")
    pts = as_points(x, "x", dtype)
    lab = labels_for(labels, pts.shape[0])
    base_matrix = (
        squared_distances(pow2_units(pts))
        if graph == "knn"
        else DiffusionKernel.from_points(pts, check_sigma(sigma)).affinity
    )

    def block_entropy(idx: Tensor) -> Tensor:
        i = idx.to(base_matrix.device)
        blk = base_matrix.index_select(0, i).index_select(1, i)
        if graph == "knn":
            return c.spectrum_entropy(eigen.exact_eigvals(knn_adjacency(blk, min(_knn_count(knn), blk.shape[0]))))
        if graph == "anisotropic":
            blk = anisotropic_normalize(blk)
        return c.spectrum_entropy(torch.linalg.eigvalsh(blk))

    bits = subset_mutual_information(lab, block_entropy, num_repetitions=num_repetitions, seed=seed)
    return _to_base_from_bits(bits, base).to(_out_dtype(x))
