"""The analytic-penalty protocol and scalar weight schedules.

An :class:`AnalyticPenalty` is a penalty :math:`P(\\text{target}; \\rho)` on a flat parameter
vector with closed-form derivatives: value, gradient, Hessian diagonal (when the Hessian has
one), Hessian-vector product, a PSD majorizer of the Hessian (for solvers that need positive
curvature), and the derivative in its strength hyperparameters :math:`\\rho`. Defaults follow the
the penalty-solver convention: ``hvp`` is ``hessian_diag * v``; ``psd_majorizer_diag`` is ``hessian_diag``
(exact for convex penalties); ``psd_majorizer_hvp`` delegates to ``hvp`` (the exact Hessian of
a convex penalty is its own PSD majorizer; the diagonal of a dense Hessian is not a majorizer,
so it is never used for the product). Nonconvex penalties override both majorizer methods.
The manifest: ``kind_tag``, ``PYTHON_WRAPPER`` (the class name users import),
``ROW_BLOCK_DIAGONAL`` (whether the Hessian is block diagonal over rows of the target) and
:meth:`AnalyticPenalty.dispatch_tier`.
"""

from __future__ import annotations

import enum
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["AnalyticPenalty", "PenaltyTier", "ScalarWeightSchedule", "strength"]

_SCHEDULE_KINDS = ("geometric", "linear", "reciprocal_iter")
_LOG_MAX = math.log(torch.finfo(torch.float64).max)


class PenaltyTier(enum.Enum):
    """Where a penalty's target lives: model coefficients (``beta``), extension coordinates
    (``psi``), or the hyperparameters themselves (``rho``)."""

    beta = "beta"
    psi = "psi"
    rho = "rho"


def strength(weight: float, rho: Tensor) -> Tensor:
    """``lambda = weight · exp(rho[0])`` in log space, ``sign(w) · exp(ln|w| + rho)``.

    A non-finite ``rho``, or one that would overflow ``lambda``, is refused with a ``ValueError``
    (not clamped). ``weight = 0`` gives 0.
    """
    rho = torch.as_tensor(rho, dtype=torch.float64)
    if rho.numel() != 1:
        raise ValueError(f"rho must hold exactly 1 value (rho_count = 1), got {rho.numel()}")
    r = float(rho.reshape(-1)[0])
    if not math.isfinite(r):
        raise ValueError(f"rho must be finite, got {r}")
    if weight == 0:
        return torch.zeros((), dtype=torch.float64)
    log_lambda = math.log(abs(weight)) + r
    if log_lambda > _LOG_MAX:
        raise ValueError(
            f"rho = {r} makes the strength weight·exp(rho) overflow (ln|weight| + rho = {log_lambda:.1f} > {_LOG_MAX:.1f})"
        )
    return torch.tensor(math.copysign(math.exp(log_lambda), weight), dtype=torch.float64)


@dataclass
class ScalarWeightSchedule:
    r"""A weight moving from ``w_start`` to ``w_end`` over iterations (:math:`\Delta = w_{end} - w_{start}`):

    * ``"geometric"``: :math:`w_{end} - \Delta\,\text{rate}^{it}`;
    * ``"linear"``: :math:`w_{start} + (it/\text{steps})\,\Delta` until it reaches :math:`w_{end}`;
    * ``"reciprocal_iter"``: :math:`w_{end} - \Delta/(1 + it)`;

    each clamped between the endpoints. ``rate`` in (0, 1); ``steps > 0`` (required for linear);
    weights finite and >= 0.

    Examples
    --------
    >>> from infotorch.penalties import ScalarWeightSchedule
    >>> s = ScalarWeightSchedule(0.1, 1.0, kind="linear", steps=5)
    >>> [round(s.current_weight(i), 10) for i in range(6)]
    [0.1, 0.28, 0.46, 0.64, 0.82, 1.0]
    """

    w_start: float
    w_end: float
    kind: str = "geometric"
    rate: float = 0.9
    steps: int | None = None
    iter_count: int = 0

    def __post_init__(self) -> None:
        for name in ("w_start", "w_end"):
            w = float(getattr(self, name))
            if not (math.isfinite(w) and w >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {getattr(self, name)!r}")
        if self.kind not in _SCHEDULE_KINDS:
            raise ValueError(f"kind must be one of {_SCHEDULE_KINDS}, got {self.kind!r}")
        if not 0.0 < float(self.rate) < 1.0:
            raise ValueError(f"rate must lie in (0, 1), got {self.rate!r}")
        if self.kind == "linear" and self.steps is None:
            raise ValueError("steps must be given (> 0) for a linear schedule")
        if self.steps is not None and int(self.steps) <= 0:
            raise ValueError(f"steps must be > 0, got {self.steps!r}")
        if int(self.iter_count) < 0:
            raise ValueError(f"iter_count must be >= 0, got {self.iter_count!r}")

    def current_weight(self, iteration: int) -> float:
        it = int(iteration)
        if it < 0:
            raise ValueError(f"iteration must be >= 0, got {iteration!r}")
        delta = self.w_end - self.w_start
        if self.kind == "geometric":
            w = self.w_end - delta * self.rate**it
        elif self.kind == "linear":
            assert self.steps is not None
            w = self.w_start + min(it / self.steps, 1.0) * delta
        else:
            w = self.w_end - delta / (1 + it)
        lo, hi = min(self.w_start, self.w_end), max(self.w_start, self.w_end)
        return min(max(w, lo), hi)


class AnalyticPenalty(ABC):
    """A penalty with closed-form derivatives (see the module docstring for the defaults)."""

    name: str = "penalty"
    kind_tag: str = ""
    tier: PenaltyTier = PenaltyTier.beta
    rho_count: int = 1
    PYTHON_WRAPPER: str = ""
    ROW_BLOCK_DIAGONAL: bool = False

    @abstractmethod
    def value(self, target: Tensor, rho: Tensor) -> Tensor:
        """Scalar penalty P(target; rho), the strength folded in."""

    @abstractmethod
    def grad_target(self, target: Tensor, rho: Tensor) -> Tensor:
        """dP/dtarget, the shape of ``target``."""

    @abstractmethod
    def grad_rho(self, target: Tensor, rho: Tensor) -> Tensor:
        """dP/drho, length ``rho_count``."""

    def hessian_diag(self, target: Tensor, rho: Tensor) -> Tensor | None:
        """Diagonal of the Hessian when it has a closed form; ``None`` otherwise."""
        return None

    def hvp(self, target: Tensor, rho: Tensor, v: Tensor) -> Tensor:
        """Hessian-vector product; defaults to ``hessian_diag * v``."""
        diag = self.hessian_diag(target, rho)
        if diag is None:
            raise TypeError(f"{type(self).__name__} has no closed-form Hessian diagonal; it must implement hvp")
        return diag * v

    def psd_majorizer_diag(self, target: Tensor, rho: Tensor) -> Tensor | None:
        """Diagonal of a PSD majorizer B >= Hessian, B >= 0; defaults to ``hessian_diag`` (convex case)."""
        return self.hessian_diag(target, rho)

    def psd_majorizer_hvp(self, target: Tensor, rho: Tensor, v: Tensor) -> Tensor:
        """B v; defaults to :meth:`hvp` (exact for convex penalties, whose Hessian is its own PSD
        majorizer). Nonconvex penalties override it with their PSD surrogate."""
        return self.hvp(target, rho, v)

    def dispatch_tier(self) -> PenaltyTier:
        """The tier a solver dispatches this penalty to (the class's :attr:`tier`)."""
        return self.tier

    def apply_schedule(self, iteration: int) -> None:  # noqa: B027 - a no-op default, not abstract
        """Update an attached weight schedule at outer iteration ``iteration`` (no schedule: no-op)."""
