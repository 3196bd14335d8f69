r"""Estimators from integer-coded samples: entropy, mutual information and normalized mutual
information. Re-exported by :mod:`infotorch.discrete`.

Counts are taken over occupied cells only (per-row sorting or ``torch.unique`` of the codes), so
memory is O(n) whatever the number of categories; the entropy and mutual information then call
the bias-corrected estimators of :mod:`infotorch.counts` (``estimator=``). Everything is
computed in float64 and returned as float64 (samples are integers, so no floating input dtype
asks for less).

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
from . import counts as _counts

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


def _estimator_name(estimator: str | None, bias_correction: str | None) -> str:
    """``estimator=`` with the older ``bias_correction=`` (None | "miller-madow") as an alias."""
    if bias_correction not in _BIAS_CORRECTIONS:
        raise ValueError(f"bias_correction must be None or 'miller-madow', got {bias_correction!r}")
    if bias_correction is None:
        return "plugin" if estimator is None else estimator
    if estimator not in (None, "plugin", bias_correction):
        raise ValueError(
            f"give estimator= or bias_correction=, not both (got estimator={estimator!r}, "
            f"bias_correction={bias_correction!r})"
        )
    return bias_correction


def entropy_from_samples(
    x: Tensor,
    *,
    estimator: str | None = None,
    bias_correction: str | None = None,
    num_categories: int | Tensor | None = None,
    base: float | str | None = math.e,
    reduction: str = "none",
) -> Tensor:
    r"""Entropy of integer-coded samples along the last dimension.

    Counts the samples of each row (codes may be any integers) and estimates the entropy with
    ``estimator`` (default ``"plugin"``), one of :data:`infotorch.counts.ENTROPY_ESTIMATORS`; see
    :func:`infotorch.counts.entropy_from_counts` for the estimators, ``num_categories`` (the
    alphabet size ``K``, unknown by default) and the ``"auto"`` rule. The plug-in
    :math:`\hat H = -\sum_k \hat p_k \log \hat p_k` is biased low by about
    :math:`(m - 1)/(2n)` for ``m`` occupied bins; ``bias_correction="miller-madow"`` (the older
    spelling of ``estimator="miller-madow"``) adds that term [3]_. Leading dimensions are
    independent batches. Returns float64.

    Examples
    --------
    >>> import torch, infotorch
    >>> infotorch.entropy_from_samples(torch.tensor([0, 1, 2, 3]), base=2)
    tensor(2., dtype=torch.float64)
    >>> x = torch.randint(0, 500, (200,), generator=torch.Generator().manual_seed(0))
    >>> round(float(torch.tensor(500.0).log()), 2)   # the true entropy, uniform on 500
    6.21
    >>> round(float(infotorch.entropy_from_samples(x)), 2), round(float(infotorch.entropy_from_samples(x, estimator="auto")), 2)
    (5.01, 6.34)
    """
    log_base = v.check_base(base)
    reduction = v.check_reduction(reduction)
    name = _estimator_name(estimator, bias_correction)
    x = _samples_setup(x, "x")
    counts = _counts.counts_from_samples(x)
    value = _counts.entropy_from_counts(counts, estimator=name, num_categories=num_categories, validate=False)
    return nx.finish(value, log_base, reduction, torch.float64)


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
    estimator: str | None = None,
    bias_correction: str | None = None,
    num_categories: tuple[int, int] | None = None,
    base: float | str | None = math.e,
    reduction: str = "none",
) -> Tensor:
    r"""Mutual information of paired integer-coded samples along the last dimension.

    ``Ĥ(X) + Ĥ(Y) - Ĥ(X, Y)`` with each entropy estimated by ``estimator`` (default
    ``"plugin"``; see :func:`infotorch.counts.entropy_from_counts`) from the counts of the
    occupied cells (memory O(n), whatever the number of categories);
    ``num_categories=(K_x, K_y)`` declares the alphabet sizes. The plug-in value
    :math:`\hat I = \frac1n \sum_i \log \frac{n \, n_{x_i y_i}}{n_{x_i} n_{y_i}}` is the mutual
    information of the empirical joint table (as :func:`sklearn.metrics.mutual_info_score`) and
    is biased upward; ``bias_correction="miller-madow"`` (the older spelling of
    ``estimator="miller-madow"``) subtracts :math:`(m_{xy} - m_x - m_y + 1)/(2n)` with ``m`` the
    occupied cells of each table [3]_. The plug-in value is clipped at 0 (rounding only); the
    corrected ones are not (a negative value means "no detectable dependence"). Returns float64.

    Examples
    --------
    >>> import torch, infotorch
    >>> x = torch.tensor([0, 0, 1, 1]); y = torch.tensor([5, 5, 7, 7])
    >>> infotorch.mutual_information_from_samples(x, y, base=2)
    tensor(1., dtype=torch.float64)
    """
    log_base = v.check_base(base)
    reduction = v.check_reduction(reduction)
    name = _estimator_name(estimator, bias_correction)
    x = _samples_setup(x, "x")
    y = _samples_setup(y, "y")
    v.check_same_shape(x, y, "x", "y")
    if x.device != y.device:
        raise ValueError(f"x and y must be on the same device, got {x.device} and {y.device}")
    n = x.shape[-1]
    cx = _counts.counts_from_samples(x)
    cy = _counts.counts_from_samples(y)
    # joint codes: per-row dense codes of x and y, combined (< n² so no overflow for n < 3e9)
    dx = _dense_codes(x)
    dy = _dense_codes(y)
    cxy = _counts.counts_from_samples(dx * n + dy)
    kx: Any = None
    ky: Any = None
    kxy: Any = None
    if num_categories is not None:
        if not isinstance(num_categories, (tuple, list)) or len(num_categories) != 2:
            raise TypeError(
                f"num_categories must be None or a pair (K_x, K_y) of alphabet sizes, got {num_categories!r}"
            )
        kx, ky = num_categories
        kxy = kx * ky

    def h(c: Tensor, k: Any) -> Tensor:
        return _counts.entropy_from_counts(c, estimator=name, num_categories=k, validate=False)

    value = h(cx, kx) + h(cy, ky) - h(cxy, kxy)
    if name == "plugin":
        value = value.clamp_min(0.0)
    return nx.finish(value, log_base, reduction, torch.float64)


def _dense_codes(x: Tensor) -> Tensor:
    """Per-row codes ``0..m-1`` of the distinct values of each row (same shape as ``x``)."""
    s, order = x.sort(-1)
    start = torch.ones_like(s, dtype=torch.bool)
    start[..., 1:] = s[..., 1:] != s[..., :-1]
    code = start.long().cumsum(-1) - 1
    return torch.empty_like(code).scatter_(-1, order, code)


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
    ``average_method=average`` ("arithmetic", "geometric", "min", "max"), plug-in estimates.
    Returns float64.

    Examples
    --------
    >>> import torch, infotorch
    >>> x = torch.tensor([0, 0, 1, 1]); y = torch.tensor([1, 1, 0, 0])   # relabelled copy
    >>> infotorch.normalized_mutual_information_from_samples(x, y)
    tensor(1., dtype=torch.float64)
    """
    v.check_choice(average, _AVERAGES, "average")
    reduction = v.check_reduction(reduction)
    x = _samples_setup(x, "x")
    y = _samples_setup(y, "y")
    v.check_same_shape(x, y, "x", "y")
    mi = _mi_samples64(x, y, None)
    hx = _entropy_samples64(x, None)
    hy = _entropy_samples64(y, None)
    return nx.finish(_nmi_from(mi, hx, hy, average), 1.0, reduction, torch.float64)
