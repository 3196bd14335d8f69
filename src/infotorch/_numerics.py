"""Numerical building blocks shared by every measure.

Everything here is private. The helpers define the library's conventions once:

* ``0 · log 0 = 0`` with finite gradients (:func:`xlogy`, :func:`mul_log`);
* half precision computes in float32 and casts back (:func:`compute_dtype`);
* units through a single divisor (:func:`to_base`);
* the three reductions (:func:`reduce`);
* series expansions where a closed form has a removable singularity (:func:`expm1mx`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "bits_to",
    "compute_dtype",
    "expm1mx",
    "finish",
    "joint_log_softmax",
    "log_prob_pair",
    "mul_log",
    "needs_grad",
    "plogp",
    "reduce",
    "rel_entr",
    "result_dtype",
    "safe_logsumexp",
    "softplus",
    "to_base",
    "xlogy",
]

_HALF = (torch.float16, torch.bfloat16)


def compute_dtype(*dtypes: torch.dtype) -> torch.dtype:
    """The floating dtype a computation on inputs of ``dtypes`` runs in.

    Half precision (float16, bfloat16) computes in float32; integer and bool inputs in the
    default floating dtype; otherwise the widest floating dtype among the inputs.
    """
    out: torch.dtype | None = None
    for dt in dtypes:
        if dt in _HALF:
            dt = torch.float32
        elif not dt.is_floating_point:
            dt = torch.get_default_dtype()
        out = dt if out is None else torch.promote_types(out, dt)
    return torch.get_default_dtype() if out is None else out


def result_dtype(*dtypes: torch.dtype) -> torch.dtype:
    """The dtype returned to the user: the promoted floating input dtype (half stays half)."""
    out: torch.dtype | None = None
    for dt in dtypes:
        if not dt.is_floating_point:
            continue
        out = dt if out is None else torch.promote_types(out, dt)
    return torch.get_default_dtype() if out is None else out


def xlogy(x: Tensor, y: Tensor) -> Tensor:
    """``x · log y`` with ``0 · log y = 0`` for every ``y`` and gradients that stay finite.

    :func:`torch.xlogy` already returns 0 where ``x == 0``, but its gradient with respect to
    ``y`` is ``x / y = 0 / 0 = nan`` where both are zero. Here the pair ``(0, 0)`` is evaluated
    at ``y = 1`` instead, which changes no value and gives the gradients ``0`` (w.r.t. ``y``)
    and ``0`` (w.r.t. ``x``, where the true one-sided derivative ``log 0`` is ``-inf``; the
    same convention as :func:`torch.xlogy`). Where ``x > 0`` and ``y = 0`` the value is ``-inf``,
    as in :func:`scipy.special.xlogy`.
    """
    both_zero = (x == 0) & (y == 0)
    y_safe = torch.where(both_zero, 1.0, y)
    return torch.xlogy(x, y_safe)


def mul_log(p: Tensor, log_q: Tensor) -> Tensor:
    """``p · log_q`` for a log-space second factor, with ``0 · (-inf) = 0`` and finite gradients.

    The log-space twin of :func:`xlogy`: where ``p == 0`` and ``log_q == -inf`` the product is 0,
    and the gradient w.r.t. ``p`` there is 0 (the same convention), never ``nan``.
    """
    masked = (p == 0) & torch.isneginf(log_q)
    log_q_safe = torch.where(masked, 0.0, log_q)
    return p * log_q_safe


def plogp(p: Tensor) -> Tensor:
    """Elementwise ``p · log p`` with ``0 · log 0 = 0`` and gradient 0 (not ``-inf``) there.

    Evaluated as ``p · log(where(p > 0, p, 1))``: four cheap vectorized kernels, faster than
    :func:`torch.special.entr` or :func:`torch.xlogy` on CPU, and exact (the masked entries
    contribute ``0 · log 1 = 0``).
    """
    if needs_grad(p):
        return p * torch.where(p > 0, p, 1.0).log()
    # Without autograd the same arithmetic runs in one buffer (large CPU batches are bound by
    # allocation and memory traffic, not by arithmetic).
    out = torch.where(p > 0, p, 1.0)
    return out.log_().mul_(p)


def rel_entr(p: Tensor, q: Tensor) -> Tensor:
    """Elementwise ``p · log(p / q)`` with :func:`scipy.special.rel_entr`'s conventions and digits.

    0 where ``p = 0``, ``+inf`` where ``q = 0 < p``. The ratio is formed only where it is a
    normal, finite number; where it would overflow or be subnormal (``q`` subnormal, ``p``
    tiny) the difference of logs is used instead, and where ``p/q`` lies in (1/2, 2) the
    relative difference goes through ``log1p`` (``p − q`` is exact there, Sterbenz), so
    values near ``p = q`` keep full relative precision (the fix of scipy gh-20710). Every
    branch sees only the inputs it is chosen for, so gradients stay finite where the value is.
    """
    positive = p > 0
    ps = torch.where(positive, p, 1.0)
    qs = torch.where(positive, q, 1.0)
    with torch.no_grad():
        ratio = ps / qs
        near = (ratio > 0.5) & (ratio < 2.0)
        normal = (ratio >= torch.finfo(ratio.dtype).tiny) & torch.isfinite(ratio) & ~near
        split = ~(near | normal)
    pn, qn = torch.where(near, ps, 1.0), torch.where(near, qs, 1.0)
    pr, qr = torch.where(normal, ps, 1.0), torch.where(normal, qs, 1.0)
    pl, ql = torch.where(split, ps, 1.0), torch.where(split, qs, 1.0)
    log_ratio = torch.where(
        near, torch.log1p((pn - qn) / qn), torch.where(normal, torch.log(pr / qr), torch.log(pl) - torch.log(ql))
    )
    # 0 where p = 0; NaN (as scipy) where p is NaN or negative, never a silent 0
    return torch.where(positive, ps * log_ratio, torch.where(p == 0, 0.0, math.nan))


def safe_logsumexp(x: Tensor, dim: int, keepdim: bool = False) -> Tensor:
    """``logsumexp`` over ``dim`` that returns ``-inf`` with a zero (not NaN) gradient for an all
    ``-inf`` slice (a marginal of probability 0, e.g. a masked row of a joint table)."""
    dead = torch.isneginf(x).all(dim=dim, keepdim=True)
    out = torch.logsumexp(torch.where(dead, 0.0, x), dim=dim, keepdim=True)
    out = torch.where(dead, -math.inf, out)
    return out if keepdim else out.squeeze(dim)


def needs_grad(*tensors: Tensor) -> bool:
    """Whether autograd will record an operation on ``tensors`` (in-place fast paths need not)."""
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def log_prob_pair(probs: Tensor | None, logits: Tensor | None, dim: int | tuple[int, ...]) -> tuple[Tensor, Tensor]:
    """``(p, log p)`` from either probabilities or logits, without ``log 0`` poisoning gradients.

    From logits, ``log p = log_softmax(logits)`` (over one ``dim`` or jointly over several) and
    ``p = exp(log p)``. From probabilities, ``log p`` is computed at ``p > 0`` only and set to
    ``-inf`` elsewhere, so that the gradient of a masked entry is 0, not ``inf · 0``.
    """
    if logits is not None:
        if isinstance(dim, tuple):
            log_p = joint_log_softmax(logits, dim)
        else:
            log_p = torch.log_softmax(logits, dim=dim)
        return log_p.exp(), log_p
    if probs is None:
        raise TypeError("either probabilities or logits must be given")
    positive = probs > 0
    safe = torch.where(positive, probs, 1.0)
    log_p = torch.where(positive, safe.log(), -math.inf)
    return probs, log_p


def joint_log_softmax(logits: Tensor, dims: tuple[int, ...]) -> Tensor:
    """``log_softmax`` over several dimensions at once (the joint of a table): shifted by the
    (detached) maximum first, so large logits keep their differences (as ``torch.log_softmax``)."""
    top = logits.detach().amax(dim=dims, keepdim=True)
    top = torch.where(torch.isfinite(top), top, torch.zeros((), dtype=top.dtype, device=top.device))
    shifted = logits - top
    return shifted - torch.logsumexp(shifted, dim=dims, keepdim=True)


def softplus(x: Tensor) -> Tensor:
    """``log(1 + e^x)`` to full precision for every ``x`` (no threshold switch)."""
    return x.clamp_min(0) + torch.log1p(torch.exp(-x.abs()))


# Taylor coefficients 1/k! for k = 2..13 (Horner order, highest first).
_EXPM1MX_COEFFS = [1.0 / math.factorial(k) for k in range(13, 1, -1)]


def expm1mx(x: Tensor) -> Tensor:
    """``e^x − 1 − x`` without cancellation near ``x = 0``.

    Uses ``expm1(x) − x`` for ``|x| ≥ 0.1`` (relative error a few ulp there) and the Taylor
    series ``Σ_{k=2}^{13} x^k / k!`` below (truncation error < 1e-22 relative), so that
    ``KL(N(μ, σ₁²) || N(μ, σ₂²))`` keeps full precision when ``σ₁ ≈ σ₂``.
    """
    small = x.abs() < 0.1
    xs = torch.where(small, x, 0.0)
    series = torch.full_like(xs, _EXPM1MX_COEFFS[0])
    for c in _EXPM1MX_COEFFS[1:]:
        series = series * xs + c
    series = series * xs * xs
    xl = torch.where(small, 1.0, x)
    direct = torch.expm1(xl) - xl
    return torch.where(small, series, direct)


def bits_to(value: Tensor, log_base: float) -> Tensor:
    """Convert bits to the unit whose ``ln(base)`` is ``log_base`` (the spectral measures compute in bits)."""
    return value if log_base == math.log(2.0) else value * (math.log(2.0) / log_base)


def to_base(value: Tensor, log_base: float) -> Tensor:
    """Convert nats to the unit of ``base`` (``log_base = ln(base)``; 1.0 keeps nats)."""
    if log_base == 1.0:
        return value
    return value / log_base


def finish(value: Tensor, log_base: float, reduction: str, out_dtype: torch.dtype) -> Tensor:
    """The last step of every measure: nats to the unit of ``base``, the reduction, the output dtype."""
    return reduce(to_base(value, log_base), reduction).to(out_dtype)


def reduce(value: Tensor, reduction: str) -> Tensor:
    """Apply ``"none" | "mean" | "sum"`` over all remaining (batch) elements."""
    if reduction == "none":
        return value
    if reduction == "mean":
        if value.numel() == 0:
            raise ValueError("reduction='mean' over an empty batch is undefined; use 'sum' (0) or 'none'")
        return value.mean()
    return value.sum()
