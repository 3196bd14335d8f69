"""Analytic penalties with closed-form curvature: the :class:`AnalyticPenalty` protocol, scalar
weight schedules, and the softmax-assignment entropy sparsity penalty."""

from .base import AnalyticPenalty, PenaltyTier, ScalarWeightSchedule, strength
from .softmax_assignment import SoftmaxAssignmentSparsityPenalty, softmax_assignment_entropy

__all__ = [
    "AnalyticPenalty",
    "PenaltyTier",
    "ScalarWeightSchedule",
    "SoftmaxAssignmentSparsityPenalty",
    "softmax_assignment_entropy",
    "strength",
]
