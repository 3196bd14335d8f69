r"""Entropy sparsity over row-wise softmax assignments, with exact curvature.

For a row-major ``(N, K)`` logit matrix :math:`z` (flat ``(N·K,)`` or 2-D), assignments
:math:`a_i = \mathrm{softmax}(z_i/\tau)` and

.. math::
    P(z) = \lambda \sum_i w_i H(a_i), \qquad H(a) = -\sum_k a_k \log a_k ,

with optional row weights :math:`w_i` and :math:`\lambda = \text{weight}\cdot e^{\rho}`. With
:math:`L_k = \log a_k + 1` and :math:`m = \sum_j a_j L_j`, per row (derivatives in the logits):

.. math::
    \partial_k P &= \tfrac{\lambda}{\tau}\, a_k (m - L_k), \\
    H_{kj} &= \tfrac{\lambda}{\tau^2}\, a_k \big[\delta_{kj}(m - L_k - 1) + a_j (L_k + L_j + 1 - 2m)\big], \\
    H_{kk} &= \tfrac{\lambda}{\tau^2}\, a_k \big[(1 - 2a_k)(m - L_k) + a_k - 1\big].

The Hessian is dense per row, indefinite (entropy is concave in :math:`a`; negative on
near-uniform rows) and gauge-null (:math:`H\mathbf 1 = 0`, the softmax's shift invariance). The
Hessian-vector product costs O(N·K) and forms no K×K block; the Gershgorin majorizer
:math:`D_{kk} = \sum_j |H_{kj}|` satisfies :math:`D \succeq H` and :math:`D \succeq 0` and costs
O(N·K log K) (a sort and prefix sums, no K×K block). The softmax Fisher metric
:math:`G = \tfrac{\lambda}{\tau^2}(\mathrm{diag}(a) - aa^\top)` is PSD but does *not* majorize
:math:`H` (for :math:`a = (0.95, 0.05)`, :math:`\lambda = \tau = 1`: :math:`G_{11} = 0.0475 <
H_{11} = 0.0784`); it is offered as a smooth PSD conditioning reference only.

Assignments are computed in log space (``log_softmax``), so logits of size 1e4 and rows with one
dominant atom give exact, finite values.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from .. import _validation as v
from .base import AnalyticPenalty, PenaltyTier, ScalarWeightSchedule, strength

__all__ = ["SoftmaxAssignmentSparsityPenalty", "softmax_assignment_entropy"]


def softmax_assignment_entropy(logits: Tensor, temperature: float = 1.0, dim: int = -1) -> Tensor:
    r"""Per-row entropy :math:`H(\mathrm{softmax}(z/\tau))` in nats, differentiable by autograd."""
    from ..discrete import entropy

    t = v.check_positive_number(temperature, "temperature")
    logits = v.ensure_tensor(logits, "logits")
    v.check_dim(logits, dim)
    h = entropy(logits=_scaled_logits(logits, t, dim), dim=dim)
    return h.to(logits.dtype) if logits.is_floating_point() else h


def _scaled_logits(z: Tensor, t: float, dim: int) -> Tensor:
    """``(z − max z)/τ`` in float32 or wider: the shift first, so that neither half precision nor a
    tiny τ (1e-300) overflows; the largest entry is 0 and the others go to ``-inf`` at worst (their
    softmax weight is exactly 0)."""
    zc = z.to(torch.promote_types(z.dtype, torch.float32)) if z.is_floating_point() else z.double()
    shifted = zc - zc.amax(dim=dim, keepdim=True).detach()
    return shifted / t


class SoftmaxAssignmentSparsityPenalty(AnalyticPenalty):
    r"""``lambda * sum_i w_i H(softmax(z_i / tau))`` with exact gradients, Hessians and majorizers.

    Parameters
    ----------
    k_atoms : int
        Atoms per row ``K``; a flat target must have a length divisible by ``K``.
    temperature : float
        Softmax temperature :math:`\tau > 0`.
    weight : float
        Base strength (``lambda = weight · exp(rho[0])``).
    weight_schedule : ScalarWeightSchedule, optional
        Seeds ``weight`` from ``schedule.current_weight(schedule.iter_count)``.
    row_weights : Tensor, optional
        Per-row weights :math:`w_i` (shape ``(N,)``).

    Examples
    --------
    >>> import torch
    >>> from infotorch.penalties import SoftmaxAssignmentSparsityPenalty
    >>> pen = SoftmaxAssignmentSparsityPenalty(k_atoms=2, temperature=1.0)
    >>> z = torch.log(torch.tensor([[0.95, 0.05]], dtype=torch.float64))
    >>> pen.row_dense_hessian(z, 1.0)[0, 0, 0].item(), pen.row_fisher_metric(z, 1.0)[0, 0, 0].item()
    (0.0784..., 0.0475...)
    """

    name = "softmax_assignment_sparsity"
    kind_tag = "softmax_assignment_sparsity"
    tier = PenaltyTier.psi
    rho_count = 1
    PYTHON_WRAPPER = "SoftmaxAssignmentSparsityPenalty"
    ROW_BLOCK_DIAGONAL = True

    def __init__(
        self,
        k_atoms: int,
        temperature: float,
        weight: float = 1.0,
        weight_schedule: ScalarWeightSchedule | None = None,
        row_weights: Tensor | None = None,
    ) -> None:
        if isinstance(k_atoms, bool) or int(k_atoms) != k_atoms or int(k_atoms) < 1:
            raise ValueError(f"k_atoms must be a positive integer, got {k_atoms!r}")
        t = v.check_positive_number(temperature, "temperature")
        w = float(weight)
        if not math.isfinite(w):
            raise ValueError(f"weight must be finite, got {weight!r}")
        self.k_atoms, self.temperature, self.weight = int(k_atoms), t, w
        self.row_weights = None if row_weights is None else v.ensure_tensor(row_weights, "row_weights")
        self.weight_schedule: ScalarWeightSchedule | None = None
        if weight_schedule is not None:
            self.with_weight_schedule(weight_schedule)

    # ------------------------------------------------------------------ schedule
    def with_weight_schedule(self, schedule: ScalarWeightSchedule) -> SoftmaxAssignmentSparsityPenalty:
        """Attach ``schedule`` and set the weight to ``schedule.current_weight(schedule.iter_count)``."""
        self.weight_schedule = schedule
        self.weight = schedule.current_weight(schedule.iter_count)
        return self

    def apply_schedule(self, iteration: int) -> None:
        if self.weight_schedule is None:
            return
        self.weight = self.weight_schedule.current_weight(iteration)
        self.weight_schedule.iter_count = int(iteration) + 1

    # ------------------------------------------------------------------ shapes and row quantities
    def _rows(self, target: Any, name: str = "target") -> tuple[Tensor, tuple[int, ...]]:
        t = v.ensure_tensor(target, name)
        if not t.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got dtype {t.dtype}")
        shape = tuple(t.shape)
        k = self.k_atoms
        if t.ndim == 1:
            if t.shape[0] % k:
                raise ValueError(f"{name} of length {t.shape[0]} is not a whole number of rows of k_atoms={k}")
            rows = t.reshape(-1, k)
        elif t.ndim == 2 and t.shape[1] == k:
            rows = t
        else:
            raise ValueError(f"{name} must be flat (N*{k},) or (N, {k}), got shape {shape}")
        v.check_finite(rows, name)
        return rows, shape

    def _row_scale(self, rows: Tensor) -> Tensor:
        if self.row_weights is None:
            return torch.ones(rows.shape[0], 1, dtype=rows.dtype, device=rows.device)
        if self.row_weights.shape != (rows.shape[0],):
            raise ValueError(f"row_weights must have shape ({rows.shape[0]},), got {tuple(self.row_weights.shape)}")
        return self.row_weights.to(rows).reshape(-1, 1)

    def _alm(self, z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(a, l = log a, mu = Σ a l)`` of rows ``z`` (…, K), in log space.

        The textbook ``L_k = l_k + 1`` and ``m = mu + 1`` are never formed: ``m − L_k`` is
        evaluated as ``mu − l_k`` and ``a_k − 1`` as ``expm1(l_k)``, which keeps full relative
        precision on near one-hot rows (where ``1 + l_k`` would round ``l_k ≈ −1e-11`` away).
        """
        log_a = torch.log_softmax(_scaled_logits(z, self.temperature, -1), dim=-1)
        a = log_a.exp()
        mu = (a * log_a).sum(-1, keepdim=True)
        return a, log_a, mu

    def _lam(self, rho: Tensor, like: Tensor) -> Tensor:
        return strength(self.weight, rho).to(dtype=like.dtype, device=like.device)

    # ------------------------------------------------------------------ AnalyticPenalty
    def value(self, target: Tensor, rho: Tensor) -> Tensor:
        z, _ = self._rows(target)
        a, log_a, _ = self._alm(z)
        h = -(a * log_a).sum(-1, keepdim=True)
        return self._lam(rho, z) * (self._row_scale(z) * h).sum()

    def grad_target(self, target: Tensor, rho: Tensor) -> Tensor:
        z, shape = self._rows(target)
        a, la, mu = self._alm(z)
        g = (self._lam(rho, z) / self.temperature) * self._row_scale(z) * a * (mu - la)
        return g.reshape(shape)

    def grad_rho(self, target: Tensor, rho: Tensor) -> Tensor:
        """d/drho of ``weight·exp(rho)·S`` is the value itself."""
        return self.value(target, rho).reshape(1)

    def hessian_diag(self, target: Tensor, rho: Tensor) -> Tensor:
        z, shape = self._rows(target)
        a, la, mu = self._alm(z)
        s = self._lam(rho, z) / self.temperature**2 * self._row_scale(z)
        return (s * a * ((1 - 2 * a) * (mu - la) + torch.expm1(la))).reshape(shape)

    def hvp(self, target: Tensor, rho: Tensor, vec: Tensor) -> Tensor:
        """Exact Hessian-vector product, O(N·K), no K×K block."""
        z, shape = self._rows(target)
        vv, _ = self._rows(vec, "v")
        a, la, mu = self._alm(z)
        s = self._lam(rho, z) / self.temperature**2 * self._row_scale(z)
        av = (a * vv).sum(-1, keepdim=True)
        alv = (a * la * vv).sum(-1, keepdim=True)
        # H_kj = s a_k [δ_kj (mu − l_k − 1) + a_j (l_k + l_j + 1 − 2 mu)]
        out = s * a * ((mu - la - 1) * vv + (la + 1 - 2 * mu) * av + alv)
        return out.reshape(shape)

    def psd_majorizer_diag(self, target: Tensor, rho: Tensor) -> Tensor:
        """Gershgorin row sums ``D_kk = Σ_j |H_kj|`` of each row's exact Hessian (``D ⪰ H``, ``D ⪰ 0``)."""
        z, shape = self._rows(target)
        s = self._lam(rho, z) / self.temperature**2 * self._row_scale(z)
        return (self.psd_majorizer_abs_row_sums(z, 1.0) * s.abs()).reshape(shape)

    def psd_majorizer_hvp(self, target: Tensor, rho: Tensor, vec: Tensor) -> Tensor:
        """``D ⊙ v`` with the Gershgorin majorizer ``D``."""
        return self.psd_majorizer_diag(target, rho) * vec

    # ------------------------------------------------------------------ per-row operators (raw logits, times scale)
    def _row_input(self, row_logits: Tensor) -> tuple[Tensor, bool]:
        z = v.ensure_tensor(row_logits, "row_logits")
        single = z.ndim == 1
        z = z.unsqueeze(0) if single else z
        if z.ndim != 2 or z.shape[-1] != self.k_atoms:
            raise ValueError(
                f"row_logits must be ({self.k_atoms},) or (N, {self.k_atoms}), got {tuple(row_logits.shape)}"
            )
        v.check_finite(z, "row_logits")
        return z, single

    def _check_w(self, w: int) -> int:
        if isinstance(w, bool) or not 0 <= int(w) < self.k_atoms:
            raise ValueError(f"w must be an atom index in [0, {self.k_atoms}), got {w!r}")
        return int(w)

    def _dense(self, z: Tensor, scale: float) -> Tensor:
        a, la, mu = self._alm(z)
        eye = torch.eye(self.k_atoms, dtype=z.dtype, device=z.device)
        ak, aj = a.unsqueeze(-1), a.unsqueeze(-2)
        lk, lj = la.unsqueeze(-1), la.unsqueeze(-2)
        mm = mu.unsqueeze(-1)
        off = aj * (lk + lj + 1 - 2 * mm)
        # the diagonal in its cancellation-free form a_k[(1 − 2a_k)(mu − l_k) + expm1(l_k)]
        diag = (1 - 2 * a) * (mu - la) + torch.expm1(la)
        return scale * ak * (off * (1 - eye) + torch.diag_embed(diag))

    def _dense_derivative(self, z: Tensor, scale: float, w: int) -> Tensor:
        a, la, mu = self._alm(z)
        tau = self.temperature
        eye = torch.eye(self.k_atoms, dtype=z.dtype, device=z.device)
        e_w = eye[w]
        aw = a[..., w : w + 1]
        da = a * (e_w - aw) / tau  # ∂a_r/∂z_w
        dl = (e_w - aw) / tau  # ∂l_r/∂z_w
        dmu = aw * (la[..., w : w + 1] - mu) / tau  # ∂mu/∂z_w
        ak, aj, dak, daj = a.unsqueeze(-1), a.unsqueeze(-2), da.unsqueeze(-1), da.unsqueeze(-2)
        lk, lj, dlk, dlj = la.unsqueeze(-1), la.unsqueeze(-2), dl.unsqueeze(-1), dl.unsqueeze(-2)
        mm, dmm = mu.unsqueeze(-1), dmu.unsqueeze(-1)
        bracket = eye * (mm - lk - 1) + aj * (lk + lj + 1 - 2 * mm)
        dbracket = eye * (dmm - dlk) + daj * (lk + lj + 1 - 2 * mm) + aj * (dlk + dlj - 2 * dmm)
        return scale * (dak * bracket + ak * dbracket)

    @staticmethod
    def _out(x: Tensor, single: bool) -> Tensor:
        return x[0] if single else x

    def row_dense_hessian(self, row_logits: Tensor, scale: float) -> Tensor:
        """The exact dense per-row Hessian ``scale · a_k[δ_kj(m − L_k − 1) + a_j(L_k + L_j + 1 − 2m)]``,
        ``(K, K)`` for one row or ``(N, K, K)`` for many. With ``scale = λ/τ²`` it is the Hessian of the
        penalty in the row's logits."""
        z, single = self._row_input(row_logits)
        return self._out(self._dense(z, float(scale)), single)

    def row_dense_hessian_logit_derivative(self, row_logits: Tensor, scale: float, w: int) -> Tensor:
        """``∂H_kj/∂z_w``: the slice of the third-derivative tensor along logit ``w`` (same shapes)."""
        z, single = self._row_input(row_logits)
        return self._out(self._dense_derivative(z, float(scale), self._check_w(w)), single)

    def psd_majorizer_abs_row_sums(self, row_logits: Tensor, scale: float) -> Tensor:
        r"""``D_k = Σ_j |H_kj|`` of the exact row Hessian, in O(K log K) per row without a K×K block.

        Off the diagonal :math:`|H_{kj}| = |s| a_k a_j |c_k + L_j|` with :math:`c_k = L_k + 1 - 2m`;
        :math:`\sum_j a_j |c_k + L_j|` follows from prefix sums of :math:`a` and :math:`aL` over the
        sorted :math:`L` split at :math:`-c_k`.
        """
        z, single = self._row_input(row_logits)
        a, la, mu = self._alm(z)
        s = abs(float(scale))
        big_l = la  # sort key: off-diagonal |H_kj| = s a_k a_j |c_k + l_j| with c_k = l_k + 1 − 2 mu
        c = la + 1 - 2 * mu
        # The row's largest atom is kept out of the prefix sums and added back term by term:
        # otherwise, on a near one-hot row, its ~1 contribution would cancel against the ~1e-11
        # sum of the others and leave only rounding error.
        top = a.argmax(-1, keepdim=True)
        a_top, l_top = a.gather(-1, top), big_l.gather(-1, top)
        a_rest = a.scatter(-1, top, 0.0)
        ls, order = torch.sort(big_l, dim=-1)
        as_ = a_rest.gather(-1, order)
        cum_a = torch.cumsum(as_, -1)
        cum_al = torch.cumsum(as_ * ls, -1)
        idx = torch.searchsorted(ls.contiguous(), (-c).contiguous())  # number of L_j < -c_k
        zero = torch.zeros((*a.shape[:-1], 1), dtype=a.dtype, device=a.device)
        a_lt = torch.cat([zero, cum_a], -1).gather(-1, idx)
        al_lt = torch.cat([zero, cum_al], -1).gather(-1, idx)
        total_a, total_al = cum_a[..., -1:], cum_al[..., -1:]
        s_rest = c * (total_a - 2 * a_lt) + (total_al - 2 * al_lt)  # Σ_{j ≠ top} a_j |c_k + L_j|
        is_top = torch.zeros_like(a, dtype=torch.bool).scatter(-1, top, True)
        others = s_rest - a_rest * (c + big_l).abs() + a_top * (c + l_top).abs()
        off = a * torch.where(is_top, s_rest, others).clamp_min(0)
        diag = a * ((1 - 2 * a) * (mu - la) + torch.expm1(la))
        return self._out(s * (diag.abs() + off), single)

    def row_psd_majorizer(self, row_logits: Tensor, scale: float) -> Tensor:
        """``diag(D)`` as a ``(K, K)`` / ``(N, K, K)`` block (``D ⪰ H``, ``D ⪰ 0``)."""
        d = self.psd_majorizer_abs_row_sums(row_logits, scale)
        return torch.diag_embed(d)

    def row_psd_majorizer_logit_derivative(self, row_logits: Tensor, scale: float, w: int) -> Tensor:
        """``diag(∂D_k/∂z_w)`` with ``∂D_k/∂z_w = Σ_j sign(H_kj) ∂H_kj/∂z_w`` (``sign(0) = 0``)."""
        z, single = self._row_input(row_logits)
        w = self._check_w(w)
        h = self._dense(z, float(scale))
        dh = self._dense_derivative(z, float(scale), w)
        return self._out(torch.diag_embed((torch.sign(h) * dh).sum(-1)), single)

    def row_fisher_metric(self, row_logits: Tensor, scale: float) -> Tensor:
        """The softmax Fisher metric ``scale · (diag(a) − a aᵀ)``: PSD, but not a majorizer of ``H``."""
        z, single = self._row_input(row_logits)
        a, _, _ = self._alm(z)
        g = float(scale) * (torch.diag_embed(a) - a.unsqueeze(-1) * a.unsqueeze(-2))
        return self._out(g, single)

    def row_fisher_metric_logit_derivative(self, row_logits: Tensor, scale: float, w: int) -> Tensor:
        """``∂G_kj/∂z_w = scale · [∂a_k (δ_kj − a_j) − a_k ∂a_j]``."""
        z, single = self._row_input(row_logits)
        w = self._check_w(w)
        a, _, _ = self._alm(z)
        eye = torch.eye(self.k_atoms, dtype=z.dtype, device=z.device)
        da = a * (eye[w] - a[..., w : w + 1]) / self.temperature
        g = float(scale) * (da.unsqueeze(-1) * (eye - a.unsqueeze(-2)) - a.unsqueeze(-1) * da.unsqueeze(-2))
        return self._out(g, single)

    def __repr__(self) -> str:
        return (
            f"SoftmaxAssignmentSparsityPenalty(k_atoms={self.k_atoms}, temperature={self.temperature}, "
            f"weight={self.weight}, weight_schedule={self.weight_schedule!r})"
        )
