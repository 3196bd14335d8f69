"""infotorch: information-theoretic measures, losses and diagnostics for PyTorch.

Every public function of the core modules is re-exported here; :mod:`infotorch.nn` holds the
``nn.Module`` wrappers. The heavier layers (``metrics``, ``monitor``, ``labs``, ``cli``,
``compat``) load on first attribute access, so ``import infotorch`` costs little more than
``import torch``.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import counts as counts
from . import discrete as discrete
from . import gaussian as gaussian
from . import interpolated as interpolated
from . import interpolated_curvature as interpolated_curvature
from . import knn as knn
from . import losses as losses
from . import measures as measures
from . import nn
from . import noise as noise
from . import penalties as penalties
from . import spectral as spectral
from . import variational as variational
from ._validation import get_default_validate, set_default_validate, validation
from ._version import __version__
from .counts import (
    ENTROPY_ESTIMATORS,
    EntropyEstimate,
    MutualInformationEstimate,
    conditional_entropy_from_counts,
    counts_from_samples,
    entropy_estimate_from_counts,
    entropy_from_counts,
    mutual_information_estimate_from_counts,
    mutual_information_from_counts,
)
from .discrete import (
    binary_cross_entropy,
    binary_entropy,
    conditional_entropy,
    cross_entropy,
    entropy,
    entropy_from_samples,
    joint_entropy,
    js_divergence,
    kl_divergence,
    mutual_information,
    mutual_information_from_samples,
    normalized_mutual_information,
    normalized_mutual_information_from_samples,
)
from .gaussian import (
    ComponentLossesDict,
    gaussian_entropy,
    gaussian_entropy_log_loss,
    gaussian_mixture_entropy,
    kl_normal,
    kl_to_standard_normal,
    masked_negative_log_mean,
    mutual_information_sub_batch,
    square_mahalanobis_distance,
)
from .interpolated import InterpolatedDensity, interpolated_density, interpolated_density_entropy
from .interpolated_curvature import (
    BandedFisher,
    StructuredHessian,
    interpolated_density_entropy_hessian,
    interpolated_density_entropy_hvp,
    interpolated_density_entropy_structured_hessian,
    interpolated_density_fisher,
    interpolated_density_fisher_diag,
    min_gap_gradient_clip_hook,
    natural_gradient_step,
)
from .knn import (
    EstimateWithUncertainty,
    estimate_with_uncertainty,
    gaussian_copula_mutual_information,
    knn_entropy,
    knn_kl_divergence,
    knn_mutual_information_discrete,
    ksg_conditional_mutual_information,
    ksg_mutual_information,
    mutual_information_continuous,
)
from .losses import distillation_loss, label_smoothing_cross_entropy
from .noise import SubBatchMutualInformation, mixture_entropy, sub_batch_mutual_information
from .penalties import (
    AnalyticPenalty,
    PenaltyTier,
    ScalarWeightSchedule,
    SoftmaxAssignmentSparsityPenalty,
    softmax_assignment_entropy,
    strength,
)
from .spectral import (
    AdaptiveDiffusionOperator,
    DiffusionKernel,
    MatrixFreeDiffusionOperator,
    ScaleResult,
    adaptive_diffusion_spectral_entropy,
    adjacency_spectral_entropy,
    adjacency_spectral_mutual_information,
    binned_shannon_entropy,
    choose_solver,
    cluster_references,
    diffusion_spectral_entropy,
    diffusion_spectral_mutual_information,
    matrix_free_entropy,
    matrix_free_mutual_information,
    matrix_renyi_entropy,
    matrix_renyi_joint_entropy,
    matrix_renyi_mutual_information,
    median_distance,
    normalized_gram,
    nystrom_entropy,
    slq_settings,
    small_problem_threads,
    spectrum_entropy,
    subset_mutual_information,
)
from .variational import (
    BilinearCritic,
    ConcatCritic,
    MINEMovingAverage,
    SeparableCritic,
    VariationalEstimate,
    alpha_tuba,
    club,
    donsker_varadhan,
    estimate_mutual_information,
    infonce,
    infonce_ceiling,
    js_bound,
    leave_one_out_bound,
    mine,
    nwj,
    smile,
    tuba,
)

__all__ = [
    "ENTROPY_ESTIMATORS",
    "AdaptiveDiffusionOperator",
    "AnalyticPenalty",
    "BandedFisher",
    "BilinearCritic",
    "ComponentLossesDict",
    "ConcatCritic",
    "DiffusionKernel",
    "EntropyEstimate",
    "EstimateWithUncertainty",
    "InterpolatedDensity",
    "MINEMovingAverage",
    "MatrixFreeDiffusionOperator",
    "MutualInformationEstimate",
    "PenaltyTier",
    "ScalarWeightSchedule",
    "ScaleResult",
    "SeparableCritic",
    "SoftmaxAssignmentSparsityPenalty",
    "StructuredHessian",
    "SubBatchMutualInformation",
    "VariationalEstimate",
    "__version__",
    "adaptive_diffusion_spectral_entropy",
    "adjacency_spectral_entropy",
    "adjacency_spectral_mutual_information",
    "alpha_tuba",
    "binary_cross_entropy",
    "binary_entropy",
    "binned_shannon_entropy",
    "choose_solver",
    "club",
    "cluster_references",
    "conditional_entropy",
    "conditional_entropy_from_counts",
    "counts_from_samples",
    "cross_entropy",
    "diffusion_spectral_entropy",
    "diffusion_spectral_mutual_information",
    "distillation_loss",
    "donsker_varadhan",
    "entropy",
    "entropy_estimate_from_counts",
    "entropy_from_counts",
    "entropy_from_samples",
    "estimate_mutual_information",
    "estimate_with_uncertainty",
    "gaussian_copula_mutual_information",
    "gaussian_entropy",
    "gaussian_entropy_log_loss",
    "gaussian_mixture_entropy",
    "get_default_validate",
    "infonce",
    "infonce_ceiling",
    "interpolated_density",
    "interpolated_density_entropy",
    "interpolated_density_entropy_hessian",
    "interpolated_density_entropy_hvp",
    "interpolated_density_entropy_structured_hessian",
    "interpolated_density_fisher",
    "interpolated_density_fisher_diag",
    "joint_entropy",
    "js_bound",
    "js_divergence",
    "kl_divergence",
    "kl_normal",
    "kl_to_standard_normal",
    "knn_entropy",
    "knn_kl_divergence",
    "knn_mutual_information_discrete",
    "ksg_conditional_mutual_information",
    "ksg_mutual_information",
    "label_smoothing_cross_entropy",
    "leave_one_out_bound",
    "masked_negative_log_mean",
    "matrix_free_entropy",
    "matrix_free_mutual_information",
    "matrix_renyi_entropy",
    "matrix_renyi_joint_entropy",
    "matrix_renyi_mutual_information",
    "median_distance",
    "min_gap_gradient_clip_hook",
    "mine",
    "mixture_entropy",
    "mutual_information",
    "mutual_information_continuous",
    "mutual_information_estimate_from_counts",
    "mutual_information_from_counts",
    "mutual_information_from_samples",
    "mutual_information_sub_batch",
    "natural_gradient_step",
    "nn",
    "normalized_gram",
    "normalized_mutual_information",
    "normalized_mutual_information_from_samples",
    "nwj",
    "nystrom_entropy",
    "set_default_validate",
    "slq_settings",
    "small_problem_threads",
    "smile",
    "softmax_assignment_entropy",
    "spectrum_entropy",
    "square_mahalanobis_distance",
    "strength",
    "sub_batch_mutual_information",
    "subset_mutual_information",
    "tuba",
    "validation",
]

#: Core modules whose public functions are the library's measures (used by ``infotorch info``).
CORE_MODULES = (
    "discrete",
    "counts",
    "knn",
    "variational",
    "gaussian",
    "noise",
    "interpolated",
    "interpolated_curvature",
    "losses",
    "penalties",
    "spectral",
)

_LAZY = ("metrics", "monitor", "labs", "cli", "compat", "pruning", "demo", "callbacks", "report")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        try:
            module = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"infotorch.{name} is not part of this version") from None
        globals()[name] = module
        return module
    raise AttributeError(f"module 'infotorch' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
