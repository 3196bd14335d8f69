r"""Entropy-based pruning: rank units by the entropy of their activations, or by how much the
model's output entropy changes when a unit is removed, and mask the lowest.

The reference notes define a unit's importance as :math:`H(\text{output with } z_i) -
H(\text{output without } z_i)`; :func:`prune_by_entropy` offers that (``criterion="output"``,
one ablation pass per unit) and the cheaper activation entropy (``criterion="activation"``,
:func:`neuron_entropy`): a unit whose activation hardly varies carries little information.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from . import _validation as v
from .discrete import entropy

__all__ = ["PruningResult", "neuron_entropy", "output_entropy_change", "prune_by_entropy"]


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
    store: dict[str, Tensor] = {}
    handle = layer.register_forward_hook(lambda _m, _i, out: store.__setitem__("z", out.detach()))
    try:
        with torch.no_grad():
            logits = model(x)
    finally:
        handle.remove()
    return store["z"], logits


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
        with torch.no_grad():
            return model(x)
    finally:
        handle.remove()


def output_entropy_change(model: nn.Module, layer: str, x: Tensor, *, unit_dim: int = 1) -> Tensor:
    """|H(output) − H(output without unit i)| for each unit: the mean entropy (nats) of the
    model's softmax output over ``x``, with unit ``i`` of ``layer`` zeroed. One pass per unit."""
    mod = _layer(model, layer)
    z, logits = _capture(model, mod, x)
    base_h = entropy(logits=logits.float()).mean()
    units = z.shape[unit_dim]
    out = torch.empty(units)
    for i in range(units):
        mask = torch.ones(units)
        mask[i] = 0
        h = entropy(logits=_masked_forward(model, mod, x, mask, unit_dim).float()).mean()
        out[i] = (h - base_h).abs()
    return out


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
    """Mask the lowest-scoring units of ``layer`` (a fraction ``0 <= amount < 1`` or a count).

    ``criterion="activation"`` scores by :func:`neuron_entropy` of the unit's activations on
    ``x``; ``"output"`` by :func:`output_entropy_change`. The mask is applied by a forward hook on
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
    if criterion not in ("activation", "output"):
        raise ValueError(f"criterion must be 'activation' or 'output', got {criterion!r}")
    mod = _layer(model, layer)
    z, _ = _capture(model, mod, x)
    units = z.shape[unit_dim]
    if isinstance(amount, float) and not isinstance(amount, bool):
        if not 0.0 <= amount < 1.0:
            raise ValueError(f"amount must be a fraction in [0, 1) or a unit count, got {amount!r}")
        k = round(amount * units)
    else:
        k = int(amount)
        if not 0 <= k < units:
            raise ValueError(f"amount must be a count in [0, {units}), got {amount!r}")
    scores = (
        neuron_entropy(z, bins, unit_dim=unit_dim)
        if criterion == "activation"
        else output_entropy_change(model, layer, x, unit_dim=unit_dim)
    )
    order = torch.argsort(scores, stable=True)
    pruned = order[:k].sort().values
    mask = torch.ones(units)
    mask[pruned] = 0.0
    handle = mod.register_forward_hook(_mask_hook(mask, unit_dim))
    return PruningResult(mask=mask, scores=scores, pruned=pruned, handle=handle)
