r"""Entropy-based pruning: rank units by the entropy of their activations, or by how much the
model's output entropy changes when a unit is removed, and mask the lowest.

Three criteria, each named for what it ranks by:

* ``"output"``: the signed importance :math:`I_i = H(\text{output with } z_i) - H(\text{output
  without } z_i)` (the mean entropy of the model's softmax output, one ablation pass per unit), as
  in the entropy-based pruning literature (Hur, Kang, Cho: "Entropy-based pruning method for
  convolutional neural networks", J. Supercomputing 75, 2019, https://doi.org/10.1007/s11227-018-2684-z).
  Units with the *lowest* :math:`I_i` go first: a unit whose removal raises the output entropy
  (one that makes predictions confident) has a negative importance and is pruned before a unit
  whose removal changes nothing.
* ``"output-abs"``: :math:`|I_i|`, a different rule: units whose removal changes the output
  entropy least go first.
* ``"activation"``: :func:`neuron_entropy` of the unit's activations, the cheapest: a unit whose
  activation hardly varies carries little information.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from . import _validation as v
from ._modules import eval_mode
from .discrete import entropy

__all__ = ["PruningResult", "neuron_entropy", "output_entropy_change", "prune_by_entropy"]

_CRITERIA = ("activation", "output", "output-abs")


def neuron_entropy(activations: Tensor, bins: int = 30, *, unit_dim: int = 1, base: float = 2) -> Tensor:
    """Entropy of each unit's activation histogram (``bins`` equal bins over its range), in bits.

    ``activations`` is ``(N, units)`` or ``(N, units, ...)`` (e.g. conv feature maps, whose spatial
    positions count as samples). A constant unit has entropy 0; the maximum is ``log2(bins)``.

    Examples
    --------
    >>> import torch
    >>> from infotorch.pruning import neuron_entropy
    >>> a = torch.stack([torch.zeros(64), torch.linspace(0, 1, 64)], dim=1)
    >>> neuron_entropy(a, bins=4)
    tensor([0., 2.])
    """
    a = v.ensure_tensor(activations, "activations").detach()
    if a.ndim < 2:
        raise ValueError(f"activations must be (N, units, ...), got shape {tuple(a.shape)}")
    if int(bins) < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    a = a.movedim(unit_dim, -1).reshape(-1, a.shape[unit_dim]).to(torch.float64)
    v.check_finite(a, "activations")
    lo = a.amin(0, keepdim=True)
    span = a.amax(0, keepdim=True) - lo
    cells = torch.where(span > 0, (a - lo) / torch.where(span > 0, span, 1.0) * bins, 0.0).floor().clamp(0, bins - 1)
    counts = torch.zeros(a.shape[1], int(bins), dtype=torch.float64, device=a.device)
    counts.scatter_add_(1, cells.long().T, torch.ones_like(cells.T))
    return entropy(counts / a.shape[0], base=base, validate=False).to(torch.float32)


def _layer(model: nn.Module, name: str) -> nn.Module:
    modules = dict(model.named_modules())
    if name not in modules:
        raise ValueError(
            f"layer {name!r} is not a submodule of the model; its submodules are {[k for k in modules if k]}"
        )
    return modules[name]


def _capture(model: nn.Module, layer: nn.Module, x: Tensor) -> tuple[Tensor, Tensor]:
    x = v.ensure_tensor(x, "x")
    if x.ndim == 0 or x.shape[0] == 0:
        raise ValueError(f"x must hold at least one sample along dim 0, got shape {tuple(x.shape)}")
    store: dict[str, Any] = {}
    handle = layer.register_forward_hook(lambda _m, _i, out: store.__setitem__("z", out))
    try:
        with torch.no_grad(), eval_mode(model):
            logits = model(x)
    finally:
        handle.remove()
    z = store.get("z")
    if not isinstance(z, Tensor):
        raise TypeError(
            f"the layer's output must be a tensor to prune its units, got {type(z).__name__}; "
            "choose a layer that returns one tensor"
        )
    if not isinstance(logits, Tensor):
        raise TypeError(f"the model's output must be a tensor of logits, got {type(logits).__name__}")
    return z.detach(), logits


def _mask_hook(mask: Tensor, unit_dim: int) -> Any:
    """A forward hook multiplying the layer's output by ``mask`` along ``unit_dim``."""

    def hook(_m: nn.Module, _i: Any, out: Tensor) -> Tensor:
        shape = [1] * out.ndim
        shape[unit_dim] = -1
        return out * mask.reshape(shape).to(out)

    return hook


def _masked_forward(model: nn.Module, layer: nn.Module, x: Tensor, mask: Tensor, unit_dim: int) -> Tensor:
    handle = layer.register_forward_hook(_mask_hook(mask, unit_dim))
    try:
        with torch.no_grad(), eval_mode(model):
            return model(x)
    finally:
        handle.remove()


def output_entropy_change(
    model: nn.Module, layer: str, x: Tensor, *, unit_dim: int = 1, absolute: bool = False
) -> Tensor:
    r"""The importance :math:`H(\text{output}) - H(\text{output without unit } i)` of each unit: the
    mean entropy (nats) of the model's softmax output over ``x``, minus the same with unit ``i``
    of ``layer`` zeroed (one pass per unit), with the model in eval mode (its modes restored). Negative where removing the unit raises the output
    entropy. ``absolute=True`` returns its absolute value."""
    mod = _layer(model, layer)
    z, logits = _capture(model, mod, x)
    base_h = entropy(logits=logits.float()).mean()
    units = z.shape[unit_dim]
    out = torch.empty(units)
    for i in range(units):
        mask = torch.ones(units)
        mask[i] = 0
        h = entropy(logits=_masked_forward(model, mod, x, mask, unit_dim).float()).mean()
        out[i] = base_h - h
    return out.abs() if absolute else out


@dataclass
class PruningResult:
    """What :func:`prune_by_entropy` decided: ``mask`` (1 keep, 0 pruned), the ``scores`` it ranked
    by, the pruned unit indices, and the hook ``handle`` that applies the mask (``handle.remove()``
    undoes the pruning)."""

    mask: Tensor
    scores: Tensor
    pruned: Tensor
    handle: Any


def prune_by_entropy(
    model: nn.Module,
    layer: str,
    x: Tensor,
    amount: float | int = 0.25,
    *,
    criterion: str = "activation",
    bins: int = 30,
    unit_dim: int = 1,
) -> PruningResult:
    """Mask the lowest-scoring units of ``layer`` (a fraction ``0 <= amount < 1``, rounded and
    leaving at least one unit, or a count).

    ``criterion="activation"`` scores by :func:`neuron_entropy` of the unit's activations on
    ``x``; ``"output"`` by the signed importance of :func:`output_entropy_change` (lowest first:
    units whose removal raises the output entropy most go first); ``"output-abs"`` by its
    absolute value (units whose removal changes the output entropy least go first). The mask is applied by a forward hook on
    the layer (the weights are untouched), returned in the result.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from infotorch.pruning import prune_by_entropy
    >>> model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
    >>> res = prune_by_entropy(model, "1", torch.randn(100, 4), amount=2)
    >>> int(res.mask.sum())
    4
    """
    v.check_choice(criterion, _CRITERIA, "criterion")
    mod = _layer(model, layer)
    z, _ = _capture(model, mod, x)
    units = z.shape[unit_dim]
    if isinstance(amount, float) and not isinstance(amount, bool):
        if not 0.0 <= amount < 1.0:
            raise ValueError(f"amount must be a fraction in [0, 1) or a unit count, got {amount!r}")
        k = min(round(amount * units), units - 1)  # at least one unit stays
    else:
        k = int(amount)
        if not 0 <= k < units:
            raise ValueError(f"amount must be a count in [0, {units}), got {amount!r}")
    if criterion == "activation":
        scores = neuron_entropy(z, bins, unit_dim=unit_dim)
    else:
        scores = output_entropy_change(model, layer, x, unit_dim=unit_dim, absolute=criterion == "output-abs")
    order = torch.argsort(scores, stable=True)
    pruned = order[:k].sort().values
    mask = torch.ones(units)
    mask[pruned] = 0.0
    handle = mod.register_forward_hook(_mask_hook(mask, unit_dim))
    return PruningResult(mask=mask, scores=scores, pruned=pruned, handle=handle)
