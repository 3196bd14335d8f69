r"""Training losses built on the discrete measures: label smoothing and distillation.

The functional forms behind :class:`infotorch.nn.LabelSmoothingCrossEntropy` and
:class:`infotorch.nn.DistillationLoss`.

References
----------
.. [1] C. Szegedy et al., "Rethinking the Inception Architecture for Computer Vision",
       CVPR 2016, Sec. 7. https://doi.org/10.1109/CVPR.2016.308
.. [2] G. Hinton, O. Vinyals and J. Dean, "Distilling the Knowledge in a Neural Network",
       NIPS Deep Learning Workshop 2014. https://doi.org/10.48550/arXiv.1503.02531
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import _numerics as nx
from . import _validation as v

__all__ = ["distillation_loss", "label_smoothing_cross_entropy"]


def _check_smoothing(smoothing: float) -> float:
    s = float(smoothing)
    if not 0.0 <= s <= 1.0:
        raise ValueError(f"smoothing must lie in [0, 1], got {smoothing!r}")
    return s


def _check_temperature_alpha(temperature: float, alpha: float) -> tuple[float, float]:
    a = float(alpha)
    if not 0.0 <= a <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha!r}")
    return v.check_positive_number(temperature, "temperature"), a


def _check_index_target(target: Tensor, logits: Tensor, class_dim: int, ignore_index: int) -> None:
    expected = logits.shape[:class_dim] + logits.shape[class_dim + 1 :]
    if target.shape != expected:
        raise ValueError(
            f"target of class indices must have shape {tuple(expected)} for logits of shape "
            f"{tuple(logits.shape)}, got {tuple(target.shape)}"
        )
    valid = target != ignore_index
    k = logits.shape[class_dim]
    if bool(((target < 0) | (target >= k))[valid].any()):
        raise ValueError(
            f"target must hold class indices in [0, {k - 1}] (or ignore_index={ignore_index}), "
            f"got values in [{int(target.min())}, {int(target.max())}]"
        )


def label_smoothing_cross_entropy(
    logits: Tensor,
    target: Tensor,
    *,
    smoothing: float = 0.1,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    validate: bool | None = None,
) -> Tensor:
    r"""Cross-entropy against targets smoothed towards uniform, :math:`(1-\varepsilon)y + \varepsilon/K`.

    The same number as ``torch.nn.functional.cross_entropy(logits, target, weight=weight,
    ignore_index=ignore_index, label_smoothing=smoothing, reduction=reduction)`` [1]_, for

    * ``target`` of class indices, shape ``logits.shape`` without dim 1 (``(N,)`` for
      ``(N, C)`` logits, ``(N, d1, ...)`` for ``(N, C, d1, ...)``), entries equal to
      ``ignore_index`` contributing nothing; ``"mean"`` divides by the summed weight of the
      counted targets, as ``nll_loss`` does;
    * ``target`` of class probabilities, the shape of ``logits``; ``"mean"`` divides by the
      number of examples.

    One deliberate difference: when every target is ignored, ``"mean"`` returns 0 (with zero
    gradient), not ``nan``, so a padding-only batch cannot poison training.

    Examples
    --------
    >>> import torch, infotorch
    >>> z = torch.tensor([[2.0, 0.0, -1.0]]); y = torch.tensor([0])
    >>> ours = infotorch.label_smoothing_cross_entropy(z, y, smoothing=0.1)
    >>> torch.allclose(ours, torch.nn.functional.cross_entropy(z, y, label_smoothing=0.1))
    True
    """
    validate = v.resolve_validate(validate)
    eps = _check_smoothing(smoothing)
    reduction = v.check_reduction(reduction)
    logits = v.ensure_tensor(logits, "logits")
    target = v.ensure_tensor(target, "target")
    if logits.ndim < 1:
        raise ValueError("logits must have a class dimension, got a scalar")
    class_dim = 1 if logits.ndim >= 2 else 0
    k = logits.shape[class_dim]
    if validate:
        v.check_logits(logits, "logits", class_dim)
    dt, out = nx.compute_dtype(logits.dtype), nx.result_dtype(logits.dtype)
    log_q = torch.log_softmax(logits.to(dt), dim=class_dim)
    w_shape = [1] * logits.ndim
    w_shape[class_dim] = k
    if weight is not None:
        weight = v.ensure_tensor(weight, "weight")
        if weight.shape != (k,):
            raise ValueError(f"weight must have shape ({k},), got {tuple(weight.shape)}")
        w = weight.to(dt).reshape(w_shape)
    else:
        w = torch.ones(w_shape, dtype=dt, device=logits.device)

    if target.is_floating_point():  # soft targets
        v.check_same_shape(logits, target, "logits", "target")
        if validate:
            v.check_probabilities(target, "target", class_dim)
        y = target.to(dt) * (1 - eps) + eps / k
        loss = -(nx.mul_log(y, log_q) * w).sum(class_dim)
        if reduction == "mean":
            n = loss.numel()
            return (loss.sum() / n if n else loss.sum()).to(out)
        return nx.reduce(loss, reduction).to(out)

    if validate:
        _check_index_target(target, logits, class_dim, ignore_index)
    keep = target != ignore_index
    safe_target = torch.where(keep, target, 0).long()
    picked = log_q.gather(class_dim, safe_target.unsqueeze(class_dim)).squeeze(class_dim)
    w_target = w.reshape(k)[safe_target]
    nll = -picked * w_target
    zero = 0.0
    if eps > 0:
        smooth = -(log_q * w).sum(class_dim)
        loss = torch.where(keep, (1 - eps) * nll + (eps / k) * smooth, zero)
    else:  # no smoothing term at all: a masked (-inf) logit would make it 0 · inf
        loss = torch.where(keep, nll, zero)
    if reduction == "mean":
        denom = torch.where(keep, w_target, zero).sum()
        safe = torch.where(denom > 0, denom, 1.0)
        return torch.where(denom > 0, loss.sum() / safe, loss.sum() * 0).to(out)
    return nx.reduce(loss, reduction).to(out)


def distillation_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    target: Tensor | None = None,
    *,
    temperature: float = 3.0,
    alpha: float = 0.5,
    ignore_index: int = -100,
    reduction: str = "mean",
    validate: bool | None = None,
) -> Tensor:
    r"""Knowledge-distillation loss :math:`\alpha\,\mathrm{CE}(z_s, y) + (1-\alpha)\,T^2\,
    \mathrm{KL}(\mathrm{softmax}(z_t/T) \,\|\, \mathrm{softmax}(z_s/T))` [2]_.

    Classes run along the last dimension (``(N, C)``, or ``(B, S, V)`` for sequences);
    ``target`` holds class indices of shape ``student_logits.shape[:-1]``, positions equal to
    ``ignore_index`` count in neither term. ``target=None`` gives the soft term alone (then
    ``alpha`` must be 0). The :math:`T^2` factor keeps the soft term's gradient on the scale of
    the hard term's as ``T`` grows. ``"mean"`` averages over counted positions (for ``(N, C)``
    this is ``kl_div(..., reduction="batchmean")``); ``"none"`` returns one loss per position.
    The teacher is not detached: pass its logits under ``torch.no_grad()``.

    Examples
    --------
    >>> import torch, infotorch
    >>> s = torch.tensor([[1.0, 0.0]]); t = torch.tensor([[1.0, 0.0]])
    >>> infotorch.distillation_loss(s, t, alpha=0.0)   # identical logits: no soft loss
    tensor(0.)
    """
    validate = v.resolve_validate(validate)
    reduction = v.check_reduction(reduction)
    student_logits = v.ensure_tensor(student_logits, "student_logits")
    teacher_logits = v.ensure_tensor(teacher_logits, "teacher_logits")
    v.check_same_shape(student_logits, teacher_logits, "student_logits", "teacher_logits")
    t, a = _check_temperature_alpha(temperature, alpha)
    if target is None and a != 0.0:
        raise ValueError(f"alpha must be 0 when no target is given, got alpha={alpha!r}")
    if validate:
        v.check_logits(student_logits, "student_logits", -1)
        v.check_logits(teacher_logits, "teacher_logits", -1)
    dt = nx.compute_dtype(student_logits.dtype, teacher_logits.dtype)
    out = nx.result_dtype(student_logits.dtype, teacher_logits.dtype)
    zs, zt = student_logits.to(dt), teacher_logits.to(dt)
    log_s = torch.log_softmax(zs / t, dim=-1)
    log_t = torch.log_softmax(zt / t, dim=-1)
    p_t = log_t.exp()
    positive = p_t > 0
    soft = (p_t * torch.where(positive, log_t - log_s, 0.0)).sum(-1) * t * t
    keep = torch.ones(soft.shape, dtype=torch.bool, device=soft.device)
    loss = (1 - a) * soft
    if target is not None:
        target = v.ensure_tensor(target, "target")
        if validate:
            _check_index_target(target, zs, zs.ndim - 1, ignore_index)
        keep = target != ignore_index
        safe_target = torch.where(keep, target, 0).long()
        hard = -torch.log_softmax(zs, dim=-1).gather(-1, safe_target.unsqueeze(-1)).squeeze(-1)
        loss = torch.where(keep, loss + a * hard, 0.0)
    if reduction == "mean":
        count = keep.sum()
        return (loss.sum() / count.clamp_min(1)).to(out)
    return nx.reduce(loss, reduction).to(out)
