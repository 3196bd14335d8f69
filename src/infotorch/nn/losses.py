"""Loss modules: :class:`LabelSmoothingCrossEntropy` and :class:`DistillationLoss`."""

from __future__ import annotations

from torch import Tensor, nn

from .. import _validation as v
from ..gaussian import ComponentLossesDict, mutual_information_sub_batch
from ..losses import _check_smoothing, _check_temperature_alpha, distillation_loss, label_smoothing_cross_entropy
from ..penalties import softmax_assignment_entropy

__all__ = ["DistillationLoss", "LabelSmoothingCrossEntropy", "MutualInformationLoss", "SoftmaxAssignmentEntropy"]


class LabelSmoothingCrossEntropy(nn.Module):
    r"""Cross-entropy with label smoothing; see :func:`infotorch.label_smoothing_cross_entropy`.

    A drop-in for ``torch.nn.CrossEntropyLoss(label_smoothing=smoothing)``: logits ``(N, C)`` or
    ``(N, C, d1, ...)``, targets of class indices (``ignore_index`` honoured) or of class
    probabilities, optional per-class ``weight`` (a registered buffer, so it follows
    ``.to(device)``). ``smoothing`` defaults to 0.1; ``epsilon`` is accepted as its alias (the
    name common in label-smoothing code, e.g. ``LabelSmoothingCrossEntropy(epsilon=0.1)``).

    Examples
    --------
    >>> import torch
    >>> from infotorch.nn import LabelSmoothingCrossEntropy
    >>> loss = LabelSmoothingCrossEntropy(smoothing=0.1)
    >>> z, y = torch.randn(4, 5), torch.tensor([0, 3, 1, -100])
    >>> ref = torch.nn.CrossEntropyLoss(label_smoothing=0.1)(z, y)
    >>> torch.allclose(loss(z, y), ref)
    True
    """

    weight: Tensor | None

    def __init__(
        self,
        smoothing: float | None = None,
        *,
        epsilon: float | None = None,
        weight: Tensor | None = None,
        ignore_index: int = -100,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        if smoothing is not None and epsilon is not None and float(smoothing) != float(epsilon):
            raise ValueError(f"give smoothing or its alias epsilon, not both (got {smoothing!r} and {epsilon!r})")
        chosen = smoothing if smoothing is not None else epsilon
        smoothing = 0.1 if chosen is None else chosen
        # the core's checks, run now rather than at the first forward
        self.smoothing = _check_smoothing(smoothing)
        self.reduction = v.check_reduction(reduction)
        self.ignore_index = int(ignore_index)
        self.register_buffer("weight", weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return label_smoothing_cross_entropy(
            input,
            target,
            smoothing=self.smoothing,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
        )

    def extra_repr(self) -> str:
        return f"smoothing={self.smoothing}, ignore_index={self.ignore_index}, reduction={self.reduction!r}"


class DistillationLoss(nn.Module):
    r"""Knowledge distillation, :math:`\alpha\,\mathrm{CE} + (1-\alpha)\,T^2\,\mathrm{KL}`;
    see :func:`infotorch.distillation_loss`.

    ``forward(student_logits, teacher_logits, target=None)``; classes along the last dimension.

    Examples
    --------
    >>> import torch
    >>> from infotorch.nn import DistillationLoss
    >>> crit = DistillationLoss(temperature=3.0, alpha=0.5)
    >>> s, t, y = torch.randn(8, 10), torch.randn(8, 10), torch.randint(10, (8,))
    >>> crit(s, t, y).shape
    torch.Size([])
    """

    def __init__(
        self,
        temperature: float = 3.0,
        alpha: float = 0.5,
        *,
        ignore_index: int = -100,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        self.temperature, self.alpha = _check_temperature_alpha(temperature, alpha)
        self.reduction = v.check_reduction(reduction)
        self.ignore_index = int(ignore_index)

    def forward(self, student_logits: Tensor, teacher_logits: Tensor, target: Tensor | None = None) -> Tensor:
        return distillation_loss(
            student_logits,
            teacher_logits,
            target,
            temperature=self.temperature,
            alpha=self.alpha if target is not None else 0.0,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
        )

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, alpha={self.alpha}, reduction={self.reduction!r}"


class MutualInformationLoss(nn.Module):
    r"""The sub-batch mutual-information loss of a noise layer; see
    :func:`infotorch.gaussian.mutual_information_sub_batch`.

    ``forward(means, stds, noise_mask, clean_embeddings, noisy_embeddings)`` returns the estimate
    of :math:`I(X; Y)` per token in nats; the component losses of the last call are kept in
    ``last_losses``. The estimate pairs two equal halves of the batch, so an odd batch (often the
    last of an epoch) drops its last example (``odd_batch="drop_last"``, the default) or raises
    (``odd_batch="error"``); a batch of one raises.

    Examples
    --------
    >>> import torch
    >>> from infotorch.nn import MutualInformationLoss
    >>> x = torch.randn(8, 3, 4)
    >>> stds = torch.ones(8, 3, 4)
    >>> loss = MutualInformationLoss()(torch.zeros_like(x), stds, torch.ones(8, 3, dtype=torch.bool), x, x + stds * torch.randn_like(x))
    >>> loss.shape
    torch.Size([])
    """

    def __init__(
        self, combine_noise_masks: bool = True, safety_factor: float = 100.0, odd_batch: str = "drop_last"
    ) -> None:
        super().__init__()
        self.odd_batch = v.check_choice(odd_batch, ("drop_last", "error"), "odd_batch")
        self.combine_noise_masks = bool(combine_noise_masks)
        self.safety_factor = float(safety_factor)
        self.last_losses: ComponentLossesDict = {}

    def forward(self, means: Tensor, stds: Tensor, noise_mask: Tensor, clean: Tensor, noisy: Tensor) -> Tensor:
        losses: ComponentLossesDict = {}
        batch = stds.shape[0] if isinstance(stds, Tensor) and stds.ndim else 0
        if self.odd_batch == "drop_last" and batch > 2 and batch % 2:
            means, stds, noise_mask, clean, noisy = (t[:-1] for t in (means, stds, noise_mask, clean, noisy))
        value = mutual_information_sub_batch(
            means, stds, noise_mask, clean, noisy, self.combine_noise_masks, losses, self.safety_factor
        )
        self.last_losses = losses
        return value


class SoftmaxAssignmentEntropy(nn.Module):
    r"""Training form of the softmax-assignment sparsity penalty, ``weight · Σ_i H(softmax(z_i/τ))``
    (``reduction="sum"``, the penalty's own form) or its mean over rows, by plain autograd over
    :func:`infotorch.penalties.softmax_assignment_entropy`; the closed-form curvature lives in
    :class:`infotorch.penalties.SoftmaxAssignmentSparsityPenalty`.

    Examples
    --------
    >>> import torch
    >>> from infotorch.nn import SoftmaxAssignmentEntropy
    >>> SoftmaxAssignmentEntropy(temperature=1.0, weight=0.5)(torch.zeros(3, 4))   # 0.5 · 3 · log 4
    tensor(2.0794)
    """

    def __init__(self, temperature: float = 1.0, weight: float = 1.0, dim: int = -1, reduction: str = "sum") -> None:
        super().__init__()
        self.reduction = v.check_reduction(reduction)
        self.temperature = v.check_positive_number(temperature, "temperature")
        self.weight, self.dim = float(weight), dim

    def forward(self, logits: Tensor) -> Tensor:
        h = self.weight * softmax_assignment_entropy(logits, self.temperature, self.dim)
        if self.reduction == "sum":
            return h.sum()
        return h.mean() if self.reduction == "mean" else h
