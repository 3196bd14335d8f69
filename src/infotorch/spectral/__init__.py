"""Spectral measures of representations, tensor in, tensor out: the diffusion kernel built once
(:class:`DiffusionKernel`), diffusion spectral entropy and mutual information (DSE/DSMI), at
scale without an N × N matrix (matrix-free, Nyström, the sparse adaptive kNN kernel),
adjacency spectral entropy (ASE/ASMI), the binned baseline, and the matrix-based Rényi entropy
family. dse-dsmi's own signatures are in :mod:`infotorch.compat.dse_dsmi`. See
:mod:`infotorch.spectral.entropy` for the conventions."""

from . import cache as cache
from . import eigen as eigen
from . import graphs as graphs
from .adaptive import AdaptiveDiffusionOperator, adaptive_diffusion_spectral_entropy
from .entropy import (
    adjacency_spectral_entropy,
    binned_shannon_entropy,
    choose_solver,
    diffusion_spectral_entropy,
    spectrum_entropy,
)
from .graphs import median_distance
from .kernel import DiffusionKernel, small_problem_threads, subset_mutual_information
from .matrix_free import (
    MatrixFreeDiffusionOperator,
    ScaleResult,
    matrix_free_entropy,
    matrix_free_mutual_information,
    nystrom_entropy,
    slq_settings,
)
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
    "AdaptiveDiffusionOperator",
    "DiffusionKernel",
    "MatrixFreeDiffusionOperator",
    "ScaleResult",
    "adaptive_diffusion_spectral_entropy",
    "adjacency_spectral_entropy",
    "adjacency_spectral_mutual_information",
    "binned_shannon_entropy",
    "choose_solver",
    "cluster_references",
    "diffusion_spectral_entropy",
    "diffusion_spectral_mutual_information",
    "matrix_free_entropy",
    "matrix_free_mutual_information",
    "matrix_renyi_entropy",
    "matrix_renyi_joint_entropy",
    "matrix_renyi_mutual_information",
    "median_distance",
    "normalized_gram",
    "nystrom_entropy",
    "slq_settings",
    "small_problem_threads",
    "spectrum_entropy",
    "subset_mutual_information",
]
