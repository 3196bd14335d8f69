r"""Plug-in estimators from integer-coded samples: entropy, mutual information and normalized
mutual information, optionally with the Miller-Madow bias correction. Re-exported by
:mod:`infotorch.discrete`.

Counts are taken over occupied cells only (``torch.unique`` of the codes, offset per batch row),
so memory is O(n) whatever the number of categories; accumulation is float64.

References
----------
.. [3] G. A. Miller, "Note on the bias of information estimates", in *Information Theory in
       Psychology*, 1955, pp. 95-100.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from . import _numerics as nx
from . import _validation as v

__all__ = [
    "entropy_from_samples",
    "mutual_information_from_samples",
    "normalized_mutual_information_from_samples",
]

_AVERAGES = ("arithmetic", "geometric", "min", "max")
_BIAS_CORRECTIONS = (None, "miller-madow")


def _nmi_from(mi: Tensor, hx: Tensor, hy: Tensor, average: str) -> Tensor:
    if average == "arithmetic":
        denom = 0.5 * (hx + hy)
    elif average == "geometric":
        denom = torch.sqrt(hx * hy)
    elif average == "min":
        denom = torch.minimum(hx, hy)
    else:
        denom = torch.maximum(hx, hy)
    positive = denom > 0
    ratio = mi / torch.where(positive, denom, 1.0)
    both_zero = (hx == 0) & (hy == 0)
    limit = both_zero.to(mi.dtype)
    return torch.where(positive, ratio, limit)


# --------------------------------------------------------------------------- from samples


def _codes(x: Tensor) -> tuple[Tensor, int]:
    """Dense codes ``0..K-1`` for arbitrary integer values, and ``K``."""
    uniq, inverse = torch.unique(x, return_inverse=True)
    return inverse, int(uniq.numel())


def _cell_counts(codes: Tensor) -> tuple[Tensor, Tensor]:
    """Per-sample count of the sample's cell, and the number of occupied cells per row.

    ``codes`` is ``(B, n)`` with codes already offset per row so rows never share a cell.
    """
    _, inverse, counts = torch.unique(codes, return_inverse=True, return_counts=True)
    return counts[inverse], counts


def _occupied_per_row(codes: Tensor, cells_per_row: int) -> Tensor:
    uniq = torch.unique(codes)
    rows = torch.div(uniq, cells_per_row, rounding_mode="floor")
    return torch.bincount(rows, minlength=codes.shape[0])


def _samples_setup(x: Any, name: str) -> Tensor:
    x = v.ensure_tensor(x, name)
    v.check_integer_samples(x, name)
    return x


def entropy_from_samples(
    x: Tensor,
    *,
    bias_correction: str | None = None,
    base: float | str | None = math.e,
    reduction: str = "none",
) -> Tensor:
    r"""Plug-in entropy of integer-coded samples along the last dimension.

    :math:`\hat H = -\sum_k \hat p_k \log \hat p_k` with :math:`\hat p_k = n_k / n`. The
    plug-in estimate is biased low by about :math:`(m - 1)/(2n)` for ``m`` occupied bins;
    ``bias_correction="miller-madow"`` adds that term [3]_. Codes may be any integers
    (they are relabelled); leading dimensions are independent batches.

    Examples
    --------
    >>> import torch, infotorch
    >>> infotorch.entropy_from_samples(torch.tensor([0, 1, 2, 3]), base=2)
    tensor(2.)
    """
    log_base = v.check_base(base)
    reduction = v.check_reduction(reduction)
    if bias_correction not in _BIAS_CORRECTIONS:
        raise ValueError(f"bias_correction must be None or 'miller-madow', got {bias_correction!r}")
    x = _samples_setup(x, "x")
    value = _entropy_samples64(x, bias_correction)
    return nx.finish(value, log_base, reduction, torch.get_default_dtype())


def _entropy_samples64(x: Tensor, bias_correction: str | None) -> Tensor:
    """Plug-in (or Miller-Madow) entropy in nats, float64, shape ``x.shape[:-1]``."""
    batch, n = x.shape[:-1], x.shape[-1]
    cx, kx = _codes(x.reshape(-1, n))
    rows = torch.arange(cx.shape[0], device=x.device).unsqueeze(-1)
    cx = cx + rows * kx
    count, _ = _cell_counts(cx)
    value = -(count.to(torch.float64) / n).log().mean(-1)
    if bias_correction == "miller-madow":
        m = _occupied_per_row(cx, kx).to(torch.float64)
        value = value + (m - 1) / (2 * n)
    return value.reshape(batch)


def mutual_information_from_samples(
    x: Tensor,
    y: Tensor,
    *,
    bias_correction: str | None = None,
    base: float | str | None = math.e,
    reduction: str = "none",
) -> Tensor:
    r"""Plug-in mutual information of paired integer-coded samples along the last dimension.

    :math:`\hat I = \frac1n \sum_i \log \frac{n \, n_{x_i y_i}}{n_{x_i} n_{y_i}}`, the mutual
    information of the empirical joint table (as :func:`sklearn.metrics.mutual_info_score`),
    computed from the occupied cells only (memory O(n), whatever the number of categories).
    The plug-in estimate is biased upward; ``bias_correction="miller-madow"`` subtracts
    :math:`(m_{xy} - m_x - m_y + 1)/(2n)` with ``m`` the occupied cells of each table [3]_.
    The plug-in value is clipped at 0 (rounding only); the corrected one is not (a negative
    value means "no detectable dependence").

    Examples
    --------
    >>> import torch, infotorch
    >>> x = torch.tensor([0, 0, 1, 1]); y = torch.tensor([5, 5, 7, 7])
    >>> infotorch.mutual_information_from_samples(x, y, base=2)
    tensor(1.)
    """
    log_base = v.check_base(base)
    reduction = v.check_reduction(reduction)
    if bias_correction not in _BIAS_CORRECTIONS:
        raise ValueError(f"bias_correction must be None or 'miller-madow', got {bias_correction!r}")
    x = _samples_setup(x, "x")
    y = _samples_setup(y, "y")
    v.check_same_shape(x, y, "x", "y")
    if x.device != y.device:
        raise ValueError(f"x and y must be on the same device, got {x.device} and {y.device}")
    value = _mi_samples64(x, y, bias_correction)
    return nx.finish(value, log_base, reduction, torch.get_default_dtype())


def _mi_samples64(x: Tensor, y: Tensor, bias_correction: str | None) -> Tensor:
    """Plug-in (or Miller-Madow) mutual information in nats, float64, shape ``x.shape[:-1]``."""
    batch, n = x.shape[:-1], x.shape[-1]
    cx, kx = _codes(x.reshape(-1, n))
    cy, ky = _codes(y.reshape(-1, n))
    rows = torch.arange(cx.shape[0], device=x.device).unsqueeze(-1)
    cxy = rows * (kx * ky) + cx * ky + cy
    cx = cx + rows * kx
    cy = cy + rows * ky
    nx_, _ = _cell_counts(cx)
    ny_, _ = _cell_counts(cy)
    nxy, _ = _cell_counts(cxy)
    ratio = (nxy.to(torch.float64) * n) / (nx_.to(torch.float64) * ny_.to(torch.float64))
    value = ratio.log().mean(-1)
    if bias_correction == "miller-madow":
        mx = _occupied_per_row(cx, kx)
        my = _occupied_per_row(cy, ky)
        mxy = _occupied_per_row(cxy, kx * ky)
        value = value - (mxy - mx - my + 1).to(torch.float64) / (2 * n)
    else:
        value = value.clamp_min(0.0)
    return value.reshape(batch)


def normalized_mutual_information_from_samples(
    x: Tensor,
    y: Tensor,
    *,
    average: str = "arithmetic",
    reduction: str = "none",
) -> Tensor:
    r"""Normalized mutual information of paired integer-coded samples (last dimension).

    The same number as :func:`sklearn.metrics.normalized_mutual_info_score` with
    ``average_method=average`` ("arithmetic", "geometric", "min", "max").

    Examples
    --------
    >>> import torch, infotorch
    >>> x = torch.tensor([0, 0, 1, 1]); y = torch.tensor([1, 1, 0, 0])   # relabelled copy
    >>> infotorch.normalized_mutual_information_from_samples(x, y)
    tensor(1.)
    """
    if average not in _AVERAGES:
        raise ValueError(f"average must be one of {_AVERAGES}, got {average!r}")
    reduction = v.check_reduction(reduction)
    x = _samples_setup(x, "x")
    y = _samples_setup(y, "y")
    v.check_same_shape(x, y, "x", "y")
    mi = _mi_samples64(x, y, None)
    hx = _entropy_samples64(x, None)
    hy = _entropy_samples64(y, None)
    return nx.finish(_nmi_from(mi, hx, hy, average), 1.0, reduction, torch.get_default_dtype())
