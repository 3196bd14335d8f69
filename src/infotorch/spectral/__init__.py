"""Spectral measures of representations: diffusion spectral entropy and mutual information
(DSE/DSMI, a drop-in for ``dse-dsmi``), adjacency spectral entropy, and the matrix-based Rényi
entropy family. See :mod:`infotorch.spectral.entropy` for the conventions."""

from .entropy import adjacency_spectral_entropy, binned_shannon_entropy, diffusion_spectral_entropy
from .graphs import median_distance
from .kernel import DiffusionKernel, subset_mutual_information
from .mutual_information import (
    adjacency_spectral_mutual_information,
    cluster_references,
    diffusion_spectral_mutual_information,
)
from .renyi import (
    matrix_renyi_entropy,
    matrix_renyi_joint_entropy,
    matrix_renyi_mutual_information,
    normalized_gram,
)

__all__ = [
    "DiffusionKernel",
    "adjacency_spectral_entropy",
    "adjacency_spectral_mutual_information",
    "binned_shannon_entropy",
    "cluster_references",
    "diffusion_spectral_entropy",
    "diffusion_spectral_mutual_information",
    "matrix_renyi_entropy",
    "matrix_renyi_joint_entropy",
    "matrix_renyi_mutual_information",
    "median_distance",
    "normalized_gram",
    "subset_mutual_information",
]
