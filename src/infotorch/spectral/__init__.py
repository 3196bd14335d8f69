"""Spectral measures of representations: diffusion spectral entropy and mutual information
(DSE/DSMI, a drop-in for ``dse-dsmi``), adjacency spectral entropy, and the matrix-based Rényi
entropy family. See :mod:`infotorch.spectral.entropy` for the conventions."""

from .entropy import adjacency_spectral_entropy, diffusion_spectral_entropy
from .graphs import median_distance
from .mutual_information import (
    adjacency_spectral_mutual_information,
    diffusion_spectral_mutual_information,
)
from .renyi import (
    matrix_renyi_entropy,
    matrix_renyi_joint_entropy,
    matrix_renyi_mutual_information,
    normalized_gram,
)

__all__ = [
    "adjacency_spectral_entropy",
    "adjacency_spectral_mutual_information",
    "diffusion_spectral_entropy",
    "diffusion_spectral_mutual_information",
    "matrix_renyi_entropy",
    "matrix_renyi_joint_entropy",
    "median_distance",
    "matrix_renyi_mutual_information",
    "normalized_gram",
]
