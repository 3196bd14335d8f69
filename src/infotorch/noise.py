r"""Losses for a noise-adding layer :math:`Y = X + \mu + \sigma \odot \varepsilon` (per token, shape
``(B, S, E)``): Gaussian entropy floors, the Monte-Carlo entropy of the Gaussian mixture of
:math:`Y`, and the sub-batch estimate of :math:`I(X; Y)` with its bracket. The functions under the names
of the original noise-layer code (``gaussian_mixture_entropy``, ``mutual_information_sub_batch``,
...) keep their parameters and are also importable from :mod:`infotorch.gaussian`; the
explicit forms are :func:`mixture_entropy` (separate masks for the evaluated points and the
components) and :func:`sub_batch_mutual_information` (a result with named fields, no argument
mutated).

Masks: ``noise_mask`` / ``mask`` may have the shape of ``stds`` ``(B, S, E)`` or of
``stds.shape[:-1]`` ``(B, S)`` (one flag per token). Positions where it is false take no part.
A loss over an empty mask is 0 (with zero gradient), never ``nan``.

Everything is in nats. All functions are differentiable in every tensor argument.

References
----------
.. [1] B. Poole, S. Ozair, A. van den Oord, A. Alemi and G. Tucker, "On Variational Bounds of
       Mutual Information", ICML 2019 (the leave-one-out upper and InfoNCE-type lower bounds).
       https://doi.org/10.48550/arXiv.1905.06922
"""

from __future__ import annotations

import math
import warnings
from typing import Any, NamedTuple, TypedDict

import torch
from torch import Tensor

from . import _numerics as nx
from . import _validation as v

__all__ = [
    "ComponentLossesDict",
    "SubBatchMutualInformation",
    "gaussian_entropy_log_loss",
    "gaussian_mixture_entropy",
    "masked_negative_log_mean",
    "mixture_entropy",
    "mutual_information_sub_batch",
    "square_mahalanobis_distance",
    "sub_batch_mutual_information",
]

_HALF_LOG_2PIE = 0.5 * math.log(2 * math.pi * math.e)
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


class ComponentLossesDict(TypedDict, total=False):
    """The component losses the functions record (each a 0-d tensor, nats)."""

    gaussian_mixture_mahalanobis_distance_loss: Tensor
    gaussian_mixture_log_constants_and_determinant_loss: Tensor
    gaussian_mixture_entropy_loss: Tensor
    mutual_information_loss: Tensor
    std_log_loss: Tensor


# ---------------------------------------------------------------------- helpers


_SAFE_RANGE = (1e-6, 1e6)  # float32 powers (σ⁻⁴ in gradients) of values outside this over- or underflow


def _range_dtype(dt: torch.dtype, *tensors: Tensor) -> torch.dtype:
    """``dt``, or float64 when a float32 computation would square values outside its range (stds
    of 1e-20 or 1e20, data of 1e20): the variances and Mahalanobis terms stay finite there."""
    if dt != torch.float32:
        return dt
    lo, hi = _SAFE_RANGE
    for t in tensors:
        a = t.detach().abs()
        if a.numel() and (float(a.amax()) > hi or float(torch.where(a > 0, a, torch.inf).amin()) < lo):
            return torch.float64
    return dt


def _feature_mask(mask: Tensor | None, like: Tensor, name: str) -> Tensor:
    """A boolean mask of ``like``'s shape from a ``(..., E)`` or token-level ``(...)`` mask."""
    if mask is None:
        return torch.ones(like.shape, dtype=torch.bool, device=like.device)
    mask = v.ensure_tensor(mask, name)
    if mask.shape == like.shape:
        return mask.to(torch.bool)
    if mask.shape == like.shape[:-1]:
        return mask.to(torch.bool).unsqueeze(-1).expand(like.shape)
    raise ValueError(
        f"{name} must have the shape of the stds {tuple(like.shape)} or one flag per token "
        f"{tuple(like.shape[:-1])}, got {tuple(mask.shape)}"
    )


def _masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values`` where ``mask``; 0 (zero gradient) for an empty mask."""
    total = torch.where(mask, values, torch.zeros((), dtype=values.dtype, device=values.device)).sum()
    count = mask.sum()
    return total / count.clamp_min(1).to(values.dtype)


def _relative_epsilon(variances: Tensor, mask: Tensor, safety_factor: float) -> Tensor:
    r""":math:`\epsilon = \text{safety\_factor} \cdot \text{eps(dtype)} \cdot \min\{\sigma^2 > 0\}` over masked entries."""
    v.check_positive_number(safety_factor, "safety_factor")
    var = variances.detach()
    positive = mask & (var > 0)
    if not bool(positive.any()):
        if not bool(mask.any()):
            return torch.ones((), dtype=var.dtype, device=var.device)
        raise ValueError("stds must have at least one positive entry at the masked positions")
    smallest = torch.where(positive, var, torch.full((), math.inf, dtype=var.dtype, device=var.device)).amin()
    return float(safety_factor) * torch.finfo(var.dtype).eps * smallest


def _check_stds(stds: Tensor, name: str = "stds") -> None:
    v.check_finite(stds, name)
    if stds.numel() and bool((stds.detach() < 0).any()):
        raise ValueError(f"{name} must be non-negative, got a minimum of {float(stds.detach().min()):.4g}")


# ---------------------------------------------------------------------- entropy floors


def gaussian_entropy_log_loss(stds: Tensor, noise_mask: Tensor | None = None) -> Tensor:
    r"""Per-element negative differential entropy of a Gaussian, averaged over the masked positions.

    :math:`\mathrm{mean}(-\log(\sigma + \epsilon)) - \tfrac12\log(2\pi e)` with :math:`\epsilon`
    the smallest normal number of the dtype (it changes no positive :math:`\sigma`; an exact 0
    gives a large finite loss instead of ``inf``). Above 0: the average Gaussian entropy is below
    the unit-variance reference. Minimizing it raises every masked std: an entropy floor per
    position. Always at least :func:`masked_negative_log_mean` minus :math:`\tfrac12\log(2\pi e)`
    (Jensen: :math:`E[-\log\sigma] \ge -\log E[\sigma]`), so it is the stricter constraint: one
    large std cannot hide many small ones.

    Examples
    --------
    >>> import torch
    >>> from infotorch.gaussian import gaussian_entropy_log_loss
    >>> stds = torch.full((4,), 1.0 / (2.0 * torch.pi * torch.e) ** 0.5)
    >>> torch.allclose(gaussian_entropy_log_loss(stds), torch.zeros(()), atol=1e-6)
    True
    """
    stds = v.ensure_tensor(stds, "stds")
    _check_stds(stds)
    mask = _feature_mask(noise_mask, stds, "noise_mask")
    dt, out = nx.compute_dtype(stds.dtype), nx.result_dtype(stds.dtype)
    s = stds.to(dt)
    tiny = torch.finfo(dt).tiny
    value = _masked_mean(-torch.log(s + tiny), mask) - _HALF_LOG_2PIE
    if not bool(mask.any()):
        value = value * 0
    return value.to(out)


def masked_negative_log_mean(stds: Tensor, noise_mask: Tensor | None = None) -> Tensor:
    r""":math:`-\log(\mathrm{mean}(\sigma))` over the masked positions: a floor on the mean noise budget.

    The log is outside the mean, so by Jensen's inequality
    ``gaussian_entropy_log_loss(stds) + ½·log(2πe) >= masked_negative_log_mean(stds)``.
    Use this when only the mean noise matters, :func:`gaussian_entropy_log_loss` when every
    position needs a floor. An empty mask gives 0.

    Examples
    --------
    >>> import torch
    >>> from infotorch.gaussian import masked_negative_log_mean
    >>> masked_negative_log_mean(torch.tensor([0.5, 2.0, 1.5]))   # -log(4/3)
    tensor(-0.2877)
    """
    stds = v.ensure_tensor(stds, "stds")
    _check_stds(stds)
    mask = _feature_mask(noise_mask, stds, "noise_mask")
    dt, out = nx.compute_dtype(stds.dtype), nx.result_dtype(stds.dtype)
    if not bool(mask.any()):
        return (stds.to(dt).sum() * 0).to(out)
    return (-torch.log(_masked_mean(stds.to(dt), mask))).to(out)


def square_mahalanobis_distance(
    x: Tensor, y: Tensor, stds: Tensor, mask: Tensor | None, safety_factor: float = 100.0
) -> Tensor:
    r"""Half the square Mahalanobis distance per position, over the masked features.

    .. math::
        d(x, y) = \tfrac12 \sum_{e\,:\,\text{mask}} \frac{(x_e - y_e)^2}{\sigma_e^2 + \epsilon},
        \qquad \epsilon = \text{safety\_factor} \cdot \mathrm{eps}(\text{dtype})
        \cdot \min\{\sigma^2_e > 0 : \text{masked}\}.

    The factor ½ aligns it with the Gaussian exponent. :math:`\epsilon` is relative to the
    smallest non-zero variance, so it never dominates a real variance, and it bounds the
    quotient where a variance is exactly 0. Returns ``x.shape[:-1]`` (0 at unmasked positions).

    Examples
    --------
    >>> import torch
    >>> from infotorch.gaussian import square_mahalanobis_distance
    >>> x, y = torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 0.0]])
    >>> square_mahalanobis_distance(x, y, torch.tensor([[1.0, 2.0]]), None)   # ½(1/1 + 4/4)
    tensor([1.0000])
    """
    x, y, stds = (v.ensure_tensor(t, n) for t, n in ((x, "x"), (y, "y"), (stds, "stds")))
    v.check_same_shape(x, y, "x", "y")
    v.check_same_shape(x, stds, "x", "stds")
    _check_stds(stds)
    m = _feature_mask(mask, stds, "mask")
    dt, out = nx.compute_dtype(x.dtype, y.dtype, stds.dtype), nx.result_dtype(x.dtype, y.dtype, stds.dtype)
    dt = _range_dtype(dt, stds, x, y)
    var = stds.to(dt).square()
    eps = _relative_epsilon(var, m, safety_factor)
    terms = (x.to(dt) - y.to(dt)).square() / (var + eps)
    zero = torch.zeros((), dtype=dt, device=terms.device)
    return (0.5 * torch.where(m, terms, zero).sum(-1)).to(out)


# ---------------------------------------------------------------------- mixture entropy


def _pairwise_log_density(y: Tensor, centers: Tensor, var: Tensor, feat: Tensor) -> tuple[Tensor, Tensor]:
    """Per position s: half Mahalanobis ``M[s, i, l]`` of ``y[i, s]`` under component ``l`` and the
    log-normalizer ``C[s, i, l] = ½ Σ_e log(2π var[l, s, e])`` over the features ``feat[i, s]``.

    Shapes: ``y`` (B1, S, E), ``centers``/``var`` (B2, S, E), ``feat`` (B1, S, E) bool. Time
    O(B1·B2·S·E) through batched matrix products, memory O(B1·B2·S); the centres are shifted
    by their mean per position first so the expanded square does not cancel for offset data.
    """
    f = feat.to(y.dtype).permute(1, 0, 2)  # (S, B1, E)
    yy = y.permute(1, 0, 2)
    c = centers.permute(1, 0, 2)  # (S, B2, E)
    w = var.reciprocal().permute(1, 0, 2)
    shift = c.mean(dim=1, keepdim=True)
    yy, c = yy - shift, c - shift
    fy = f * yy
    term_yy = (fy * yy) @ w.transpose(1, 2)  # Σ_e f y² w
    term_yc = fy @ (c * w).transpose(1, 2)  # Σ_e f y c w
    term_cc = f @ (c * c * w).transpose(1, 2)  # Σ_e f c² w
    maha = 0.5 * (term_yy - 2 * term_yc + term_cc).clamp_min(0)
    maha = _refine_cancelled(maha, term_yy + term_cc, fy, yy, c, w, f)
    logc = f @ (0.5 * torch.log(2 * math.pi * var)).permute(1, 2, 0)  # (S, B1, B2)
    return maha, logc


#: Entries more than this many nats above a row's smallest half Mahalanobis distance weigh less
#: than e^-80 in its logsumexp: their rounding error cannot matter.
_LSE_RANGE = 80.0
#: Half Mahalanobis distances recomputed per chunk (times the feature count) in the refinement.
_REFINE_CHUNK = 1 << 18


def _refine_cancelled(maha: Tensor, scale: Tensor, fy: Tensor, yy: Tensor, c: Tensor, w: Tensor, f: Tensor) -> Tensor:
    """The entries of the expanded square ``½(Σ y²w - 2Σ ycw + Σ c²w)`` that rounding may have
    spoiled and that matter in the logsumexp, recomputed as ``½ Σ_e f (y - c)² w`` directly.

    The expansion's rounding error is a few ulps of ``scale = Σ y²w + Σ c²w``. When the
    components' spread is many orders of magnitude above their widths (tiny noise on large
    activations) that error exceeds the distances themselves; only the entries near each row's
    minimum decide the mixture density, and only those whose error could exceed ``1e-6`` nats
    (float64; ``1e5`` ulps in lower precision) are recomputed, in chunks: none on data of
    ordinary scale, where one reduction is the whole cost."""
    eps = torch.finfo(maha.dtype).eps
    threshold = max(1e-6, 1e5 * eps)
    with torch.no_grad():
        if scale.numel() == 0 or not 4.0 * eps * float(scale.detach().amax()) > threshold:
            return maha
        err = 4.0 * eps * scale.detach()
        m = maha.detach()
        near = (m - m.amin(-1, keepdim=True)) < _LSE_RANGE + err
        redo = near & (err > threshold)
        if not bool(redo.any()):
            return maha
        s_idx, i_idx, l_idx = redo.nonzero(as_tuple=True)
    step = max(1, _REFINE_CHUNK // max(1, yy.shape[-1]))
    parts = []
    for start in range(0, s_idx.numel(), step):
        si, ii, li = s_idx[start : start + step], i_idx[start : start + step], l_idx[start : start + step]
        diff = yy[si, ii] - c[si, li]
        parts.append(0.5 * (f[si, ii] * diff.square() * w[si, li]).sum(-1))
    return maha.index_put((s_idx, i_idx, l_idx), torch.cat(parts))


def _mixture_neg_log_density(
    y: Tensor,
    centers: Tensor,
    var: Tensor,
    feat: Tensor,
    comp_active: Tensor,
    own: tuple[Tensor, Tensor] | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """``-log p(y[i, s])`` under the mixture of the active components (equal weights), and the
    two component terms averaged with the mixture's weights (for the diagnostics)."""
    maha, logc = _pairwise_log_density(y, centers, var, feat)
    log_comp = -(maha + logc)  # (S, B1, B2)
    active = comp_active.permute(1, 0).unsqueeze(1).expand_as(log_comp)  # (S, B1, B2)
    neg_inf = torch.full((), -math.inf, dtype=log_comp.dtype, device=log_comp.device)
    log_comp = torch.where(active, log_comp, neg_inf)
    n_active = active.sum(-1).to(log_comp.dtype)
    if own is not None:  # each point's own component joins the mixture (the lower bound)
        own_log = own[0].permute(1, 0).unsqueeze(-1)  # (S, B1, 1)
        log_comp = torch.cat([log_comp, own_log], dim=-1)
        n_active = n_active + 1
    safe_n = n_active.clamp_min(1)
    alive = n_active > 0
    lse = torch.logsumexp(torch.where(alive.unsqueeze(-1), log_comp, torch.zeros((), dtype=log_comp.dtype)), dim=-1)
    neg_log_p = torch.where(alive, -(lse - safe_n.log()), torch.zeros((), dtype=lse.dtype))
    weight = active.to(maha.dtype) / safe_n.unsqueeze(-1)
    return neg_log_p.permute(1, 0), (maha * weight).sum(-1).permute(1, 0), (logc * weight).sum(-1).permute(1, 0)


def _prepare(
    clean: Tensor,
    transformed: Tensor,
    means: Tensor,
    stds: Tensor,
    mask: Tensor | None,
    safety_factor: float,
    component_mask: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, torch.dtype]:
    """Validated ``(centres, y, var + eps, feature mask of y, active components, output dtype)``."""
    for t, n in (
        (clean, "clean_embeddings"),
        (transformed, "transformed_embeddings"),
        (means, "means"),
        (stds, "stds"),
    ):
        v.ensure_tensor(t, n)
        v.check_finite(t, n)
        if t.ndim != 3:
            raise ValueError(f"{n} must be (B, S, E), got shape {tuple(t.shape)}")
    v.check_same_shape(clean, means, "clean_embeddings", "means")
    v.check_same_shape(clean, stds, "clean_embeddings", "stds")
    if transformed.shape[1:] != clean.shape[1:]:
        raise ValueError(
            f"transformed_embeddings must match clean_embeddings in (S, E), got {tuple(transformed.shape)} "
            f"and {tuple(clean.shape)}"
        )
    _check_stds(stds)
    dtypes = (clean.dtype, transformed.dtype, means.dtype, stds.dtype)
    dt, out = nx.compute_dtype(*dtypes), nx.result_dtype(*dtypes)
    dt = _range_dtype(dt, stds, clean, transformed, means)
    feat = _feature_mask(mask, transformed, "mask")
    if component_mask is not None:
        comp_mask = _feature_mask(component_mask, stds, "component_mask")
    else:
        comp_mask = torch.ones(stds.shape, dtype=torch.bool, device=stds.device)
    var = stds.to(dt).square()
    var = var + _relative_epsilon(var, comp_mask, safety_factor)
    return clean.to(dt) + means.to(dt), transformed.to(dt), var, feat, comp_mask.any(-1), out


def mixture_entropy(
    clean_embeddings: Tensor,
    transformed_embeddings: Tensor,
    means: Tensor,
    stds: Tensor,
    *,
    mask: Tensor | None = None,
    component_mask: Tensor | None = None,
    losses: ComponentLossesDict | None = None,
    safety_factor: float = 100.0,
) -> Tensor:
    r"""Monte-Carlo entropy of the Gaussian mixture of :math:`Y`, per token, in nats.

    For each token position ``s`` the mixture has one component per row ``l`` of the clean batch,
    :math:`p_s(y) = \frac1{B'}\sum_l \mathcal N(y;\, x_{l,s} + \mu_{l,s},\, \mathrm{diag}(\sigma^2_{l,s} + \epsilon))`,
    and is evaluated at the transformed rows of a *different* batch:
    :math:`\hat H = -\mathrm{mean}_{(i,s)\,:\,\text{mask}} \log p_s(y_{i,s})`, through ``logsumexp``.
    ``mask`` (shape of ``transformed_embeddings`` or one flag per token) selects the evaluated
    positions and, per feature, the dimensions of the density; ``component_mask`` (shape of
    ``stds`` or one flag per token) drops the components of unmasked clean tokens (``None``: every
    component counts). :math:`\epsilon` as in :func:`square_mahalanobis_distance`.

    With ``losses`` given, adds ``gaussian_mixture_mahalanobis_distance_loss`` (the mean half
    Mahalanobis distance between evaluated points and components) and
    ``gaussian_mixture_log_constants_and_determinant_loss`` (the mean
    :math:`\tfrac12\sum_e\log 2\pi(\sigma^2+\epsilon)` of the components): the two parts of the
    components' negative log-densities, as diagnostics.

    Examples
    --------
    >>> import torch, math
    >>> from infotorch.noise import mixture_entropy
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.zeros(64, 1, 2, dtype=torch.float64)           # all components coincide
    >>> s = torch.ones(64, 1, 2, dtype=torch.float64)
    >>> y = torch.randn(64, 1, 2, generator=g, dtype=torch.float64)
    >>> h = mixture_entropy(x, y, torch.zeros_like(x), s)
    >>> ref = (0.5 * y.square().sum(-1) + math.log(2 * math.pi)).mean()   # -log N(y; 0, I)
    >>> torch.allclose(h, ref)
    True
    """
    centers, y, var, feat, comp_active, out = _prepare(
        clean_embeddings, transformed_embeddings, means, stds, mask, safety_factor, component_mask
    )
    neg_log_p, maha, logc = _mixture_neg_log_density(y, centers, var, feat, comp_active)
    positions = feat.any(-1)
    h = _masked_mean(neg_log_p, positions)
    if losses is not None:
        losses["gaussian_mixture_mahalanobis_distance_loss"] = _masked_mean(maha, positions).to(out)
        losses["gaussian_mixture_log_constants_and_determinant_loss"] = _masked_mean(logc, positions).to(out)
    _check_range(h, out, stds)
    return h.to(out)


def _check_range(value: Tensor, out: torch.dtype, stds: Tensor) -> None:
    """Refuse an estimate that is finite in the compute dtype but would overflow the output dtype."""
    if (
        out != value.dtype
        and bool(torch.isfinite(value.detach()))
        and abs(float(value.detach())) > torch.finfo(out).max
    ):
        raise ValueError(
            f"the estimate ({float(value.detach()):.3g} nats) exceeds the range of {out}: stds (smallest "
            f"{float(stds.detach().abs().amin()):.3g}) are negligible against the data's spread; pass float64 inputs"
        )


def gaussian_mixture_entropy(
    clean_embeddings: Tensor,
    transformed_embeddings: Tensor,
    means: Tensor,
    stds: Tensor,
    mask: Tensor | None,
    losses: ComponentLossesDict | None = None,
    safety_factor: float = 100.0,
) -> Tensor:
    """:func:`mixture_entropy` under the original noise-layer name and parameters: ``mask``
    selects the evaluated points, and, as the original code did, also the components when its
    batch size equals the clean batch's (pass ``component_mask`` to :func:`mixture_entropy` to
    say which explicitly)."""
    same_batch = (
        mask is not None and isinstance(mask, Tensor) and isinstance(stds, Tensor) and mask.shape[0] == stds.shape[0]
    )
    return mixture_entropy(
        clean_embeddings,
        transformed_embeddings,
        means,
        stds,
        mask=mask,
        component_mask=mask if same_batch else None,
        losses=losses,
        safety_factor=safety_factor,
    )


# ---------------------------------------------------------------------- mutual information


class SubBatchMutualInformation(NamedTuple):
    """What :func:`sub_batch_mutual_information` measured, in nats per token: the ``estimate``
    (the leave-one-out upper bound in expectation, equal to ``upper``), the InfoNCE-type ``lower``
    bound (``None`` unless ``bounds=True``), and the ``component_losses``."""

    estimate: Tensor
    upper: Tensor
    lower: Tensor | None
    component_losses: ComponentLossesDict


def sub_batch_mutual_information(
    means: Tensor,
    stds: Tensor,
    noise_mask: Tensor,
    clean_embeddings: Tensor,
    noisy_embeddings: Tensor,
    *,
    combine_masks: bool = True,
    bounds: bool = False,
    safety_factor: float = 100.0,
) -> SubBatchMutualInformation:
    r"""Monte-Carlo estimate of :math:`I(X; Y)` per token for :math:`Y = X + \mu + \sigma\varepsilon`, in nats.

    The batch is split into halves ``a`` and ``b``. Per token, :math:`I = H(Y) - H(Y|X)` with
    :math:`H(Y|X) = \tfrac12\sum_e \log 2\pi e(\sigma_e^2 + \epsilon)` in closed form and
    :math:`H(Y)` from :func:`mixture_entropy`: the noisy rows of each half evaluated
    under the mixture built from the other half (both directions, averaged). ``estimate`` is the
    mean over masked tokens of the per-token estimate, positive (minimizing it lowers what ``Y``
    reveals about ``X``).

    ``combine_masks=True`` uses the intersection of
    the two halves' masks (row ``k`` of ``a`` with row ``k`` of ``b``) for both.

    ``component_losses`` holds ``gaussian_mixture_mahalanobis_distance_loss``,
    ``gaussian_mixture_log_constants_and_determinant_loss``, ``gaussian_mixture_entropy_loss``
    (:math:`\hat H(Y)`), ``mutual_information_loss`` (the estimate) and ``std_log_loss``
    (:func:`gaussian_entropy_log_loss` of the masked stds).

    How far to trust it: with the mixture built from the *other* half (``M = B/2`` components)
    the estimate is Poole et al.'s leave-one-out upper bound in expectation (biased upward,
    strongly for few components in high dimension); adding each point's own component gives an
    InfoNCE-type lower bound, never above :math:`\log(M + 1)` [1]_, returned as ``lower`` with
    ``bounds=True``; the truth lies between.

    Examples
    --------
    >>> import math, torch
    >>> from infotorch.noise import sub_batch_mutual_information
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(256, 4, 4, generator=g, dtype=torch.float64)       # X ~ N(0, I_4)
    >>> y = x + torch.randn(x.shape, generator=g, dtype=torch.float64)     # unit noise
    >>> r = sub_batch_mutual_information(torch.zeros_like(x), torch.ones_like(x),
    ...                                  torch.ones(256, 4, dtype=torch.bool), x, y, bounds=True)
    >>> round(float(r.estimate), 2), round(2 * math.log(2), 2)              # estimate vs truth E/2·log 2
    (1.4, 1.39)
    >>> bool(r.lower <= 2 * math.log(2) <= r.upper)
    True

    Raises
    ------
    ValueError
        If the batch size is less than 2 or odd, or the shapes of the inputs do not match.
    """
    tensors = {
        "means": means,
        "stds": stds,
        "clean_embeddings": clean_embeddings,
        "noisy_embeddings": noisy_embeddings,
    }
    for name, t in tensors.items():
        v.ensure_tensor(t, name)
        if t.ndim != 3:
            raise ValueError(f"{name} must be (B, S, E), got shape {tuple(t.shape)}")
    shape = stds.shape
    for name, t in tensors.items():
        if t.shape != shape:
            raise ValueError(f"{name} must have the shape of stds {tuple(shape)}, got {tuple(t.shape)}")
    batch = shape[0]
    if batch < 2:
        raise ValueError(f"the batch size must be at least 2 to form two sub-batches, got {batch}")
    if batch % 2:
        raise ValueError(f"the batch size must be even to split into two sub-batches, got {batch}")
    mask = _feature_mask(noise_mask, stds, "noise_mask")
    half = batch // 2
    idx_a, idx_b = slice(0, half), slice(half, batch)
    if combine_masks:
        both = mask[idx_a] & mask[idx_b]
        mask_a = mask_b = both
    else:
        mask_a, mask_b = mask[idx_a], mask[idx_b]
    stds = v.ensure_tensor(stds, "stds")
    _check_stds(stds, "stds")
    for name, t in tensors.items():
        v.check_finite(t, name)
    dtypes = tuple(t.dtype for t in tensors.values())
    dt, out = nx.compute_dtype(*dtypes), nx.result_dtype(*dtypes)
    dt = _range_dtype(dt, *tensors.values())
    mu, x, y = means.to(dt), clean_embeddings.to(dt), noisy_embeddings.to(dt)
    full_mask = torch.cat([mask_a, mask_b])
    var = stds.to(dt).square()
    var = var + _relative_epsilon(var, full_mask, safety_factor)
    centers = x + mu

    def direction(ev: slice, comp: slice, ev_mask: Tensor, comp_mask: Tensor, with_own: bool) -> tuple[Tensor, ...]:
        own = None
        if with_own:
            diff = y[ev] - centers[ev]
            m = ev_mask.to(dt)
            own_maha = 0.5 * (m * diff.square() / var[ev]).sum(-1)
            own_logc = (m * 0.5 * torch.log(2 * math.pi * var[ev])).sum(-1)
            own = (-(own_maha + own_logc), ev_mask.any(-1))
        neg_log_p, maha, logc = _mixture_neg_log_density(
            y[ev], centers[comp], var[comp], ev_mask, comp_mask.any(-1), own
        )
        cond = (ev_mask.to(dt) * 0.5 * torch.log(2 * math.pi * math.e * var[ev])).sum(-1)  # H(Y|X) per token
        return neg_log_p, cond, maha, logc

    pos_a, pos_b = mask_a.any(-1), mask_b.any(-1)
    positions = torch.cat([pos_a, pos_b])
    results = {}
    for with_own in (False, True) if bounds else (False,):
        ab = direction(idx_a, idx_b, mask_a, mask_b, with_own)
        ba = direction(idx_b, idx_a, mask_b, mask_a, with_own)
        neg_log_p, cond, maha, logc = (torch.cat([p, q]) for p, q in zip(ab, ba, strict=True))
        results[with_own] = (neg_log_p, cond, maha, logc)
    neg_log_p, cond, maha, logc = results[False]
    h_y = _masked_mean(neg_log_p, positions)
    mi = _masked_mean(neg_log_p - cond, positions)
    losses: ComponentLossesDict = {
        "gaussian_mixture_mahalanobis_distance_loss": _masked_mean(maha, positions).to(out),
        "gaussian_mixture_log_constants_and_determinant_loss": _masked_mean(logc, positions).to(out),
        "gaussian_mixture_entropy_loss": h_y.to(out),
        "mutual_information_loss": mi.to(out),
        "std_log_loss": gaussian_entropy_log_loss(stds, full_mask),
    }
    _check_range(mi, out, stds)
    estimate = mi.to(out)
    if not bounds:
        return SubBatchMutualInformation(estimate, estimate, None, losses)
    neg_log_p_own, cond_own = results[True][0], results[True][1]
    lower = _masked_mean(neg_log_p_own - cond_own, positions)
    return SubBatchMutualInformation(estimate, estimate, lower.to(out), losses)


def mutual_information_sub_batch(
    means_tensor: Tensor,
    stds_tensor: Tensor,
    noise_mask: Tensor,
    clean_input_embeddings: Tensor,
    noisy_input_embeddings: Tensor,
    combine_noise_masks_for_mutual_information_sub_batches: bool = True,
    losses: ComponentLossesDict | None = None,
    safety_factor: float = 100.0,
    *,
    return_bounds: bool = False,
) -> Any:
    """:func:`sub_batch_mutual_information` under the original noise-layer name and parameters:
    returns the estimate, and writes the component losses into ``losses`` when a dict is given
    (the original contract). ``return_bounds=True`` (deprecated: use
    ``sub_batch_mutual_information(..., bounds=True)``) returns ``(estimate, {"upper", "lower"})``."""
    result = sub_batch_mutual_information(
        means_tensor,
        stds_tensor,
        noise_mask,
        clean_input_embeddings,
        noisy_input_embeddings,
        combine_masks=combine_noise_masks_for_mutual_information_sub_batches,
        bounds=return_bounds,
        safety_factor=safety_factor,
    )
    if losses is not None:
        losses.update(result.component_losses)
    if not return_bounds:
        return result.estimate
    warnings.warn(
        "return_bounds=True is deprecated: use sub_batch_mutual_information(..., bounds=True), which returns "
        "a result with .estimate, .upper and .lower",
        FutureWarning,
        stacklevel=2,
    )
    return result.estimate, {"upper": result.upper, "lower": result.lower}
