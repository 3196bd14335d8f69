"""``nn.Module`` wrappers over the functional core, as :mod:`torch.nn` wraps
:mod:`torch.nn.functional`: options in ``__init__``, one call in ``forward``."""

from .contrastive import InfoNCELoss
from .interpolated import InterpolatedDensityEntropy
from .losses import DistillationLoss, LabelSmoothingCrossEntropy, MutualInformationLoss, SoftmaxAssignmentEntropy
from .models import VAE, VariationalIB

__all__ = [
    "VAE",
    "DistillationLoss",
    "InfoNCELoss",
    "InterpolatedDensityEntropy",
    "LabelSmoothingCrossEntropy",
    "MutualInformationLoss",
    "SoftmaxAssignmentEntropy",
    "VariationalIB",
]
