r"""Discrete measures: entropy, cross-entropy, KL and JS divergences, mutual information.

Every function takes tensors of any batch shape, reduces along ``dim`` (or the pair ``dims``
of a joint table), reports in the unit of ``base`` (nats by default; ``base=2`` gives bits),
and accepts either probabilities (first positional argument) or logits / log-probabilities
(keyword ``logits=``, ``p_logits=``, ``q_logits=``), never both. ``reduction`` ("none" |
"mean" | "sum") then reduces over the remaining batch dimensions.

Conventions (those of :func:`scipy.special.rel_entr`): ``0 · log 0 = 0`` and
``0 · log(0/q) = 0``; ``p · log(p/0) = +inf`` for ``p > 0``. Gradients are finite wherever the
value is: the derivative of an entry with probability exactly 0 is taken as 0 (the convention
of :func:`torch.xlogy`), since the one-sided derivative of ``-p log p`` there is ``+inf``.
Logits may contain ``-inf`` (masked classes, probability exactly 0).

Half-precision inputs compute in float32 and return their own dtype.

References
----------
.. [1] T. M. Cover and J. A. Thomas, *Elements of Information Theory*, 2nd ed., Wiley, 2006.
       https://doi.org/10.1002/047174882X
.. [2] J. Lin, "Divergence measures based on the Shannon entropy", IEEE Trans. Inf. Theory
       37(1), 1991. https://doi.org/10.1109/18.61115
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
from ._samples import (
    _AVERAGES,
    _nmi_from,
    entropy_from_samples,
    mutual_information_from_samples,
    normalized_mutual_information_from_samples,
)

__all__ = [
    "binary_cross_entropy",
    "binary_entropy",
    "conditional_entropy",
    "cross_entropy",
    "entropy",
    "entropy_from_samples",
    "joint_entropy",
    "js_divergence",
    "kl_divergence",
    "mutual_information",
    "mutual_information_from_samples",
    "normalized_mutual_information",
    "normalized_mutual_information_from_samples",
]


# --------------------------------------------------------------------------- helpers


def _distribution(
    p: Any,
    logits: Any,
    dim: Any,
    name_p: str,
    name_logits: str,
    validate: bool,
) -> tuple[Tensor, Tensor | None, torch.dtype]:
    """Validate one distribution given either way; return ``(p, log p, output dtype)``.

    ``log p`` is ``None`` for probabilities (each measure takes the log it needs, with the
    masking it needs); from logits it is ``log_softmax`` and ``p = exp(log p)``.
    """
    validate = v.resolve_validate(validate)
    v.exactly_one(name_p, p, name_logits, logits)
    given = v.ensure_tensor(p if p is not None else logits, name_p if p is not None else name_logits)
    if isinstance(dim, (tuple, list)):
        dim = v.check_dims(given, dim, "dims")
        empty = any(given.shape[d] == 0 for d in dim)
    else:
        empty = given.shape[v.check_dim(given, dim)] == 0
    if empty:
        raise ValueError(
            f"{name_p if p is not None else name_logits} must hold at least one category along dim {dim}, "
            f"got shape {tuple(given.shape)}"
        )
    if validate:
        if p is not None:
            v.check_probabilities(given, name_p, dim)
        else:
            v.check_logits(given, name_logits, dim)
    elif logits is not None and not given.is_floating_point():
        raise TypeError(f"{name_logits} must be a floating-point tensor, got dtype {given.dtype}")
    out_dtype = nx.result_dtype(given.dtype)
    x = given.to(nx.compute_dtype(given.dtype))
    if p is not None:
        return x, None, out_dtype
    prob, log_prob = nx.log_prob_pair(None, x, dim)
    return prob, log_prob, out_dtype


def _check_pair_dim(a: Any, b: Any, dim: Any, name_a: str, name_b: str) -> None:
    """A non-negative ``dim`` names different axes of inputs of different rank: refuse it."""
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a.ndim != b.ndim and isinstance(dim, int) and dim >= 0:
        raise ValueError(
            f"dim={dim} is ambiguous for {name_a} of shape {tuple(a.shape)} and {name_b} of shape {tuple(b.shape)} "
            "(different numbers of dimensions); use a negative dim, counted from the end"
        )


def _log_of(prob: Tensor, log_prob: Tensor | None) -> Tensor:
    return _safe_log(prob) if log_prob is None else log_prob


def _neg_entropy_terms(prob: Tensor, log_prob: Tensor | None) -> Tensor:
    """Elementwise ``p log p`` (0 at p = 0, finite gradients) from probabilities or log space."""
    if log_prob is None:
        return nx.plogp(prob)
    return prob * torch.where(prob > 0, log_prob, 0.0)


def _kl_terms(p: Tensor, log_p: Tensor, log_q: Tensor) -> Tensor:
    """Elementwise ``p · (log p − log q)`` with 0 where ``p = 0`` (and +inf where q = 0 < p)."""
    positive = p > 0
    diff = torch.where(positive, log_p - log_q, 0.0)
    return p * diff


def _safe_log(x: Tensor) -> Tensor:
    """``log x`` with ``-inf`` at 0 and a zero (not infinite) gradient there."""
    return nx.log_prob_pair(x, None, -1)[1]


def _log_mixture(log_p: Tensor, log_q: Tensor, w_p: float, w_q: float) -> Tensor:
    """``log(w_p · p + w_q · q)`` in log space, exact where either term vanishes."""
    a = log_p + (math.log(w_p) if w_p > 0 else -math.inf)
    b = log_q + (math.log(w_q) if w_q > 0 else -math.inf)
    a, b = torch.broadcast_tensors(a, b)
    a_dead, b_dead = torch.isneginf(a), torch.isneginf(b)
    either = a_dead | b_dead
    zero = 0.0
    # Where one side vanishes the mixture is the other side exactly; logaddexp only sees
    # finite pairs, so no -inf reaches its first or second derivative.
    mixed = torch.logaddexp(torch.where(either, zero, a), torch.where(either, zero, b))
    return torch.where(a_dead, b, torch.where(b_dead, a, mixed))


def _to_last_two(t: Tensor, dims: tuple[int, int]) -> Tensor:
    return t.movedim(dims, (-2, -1))


# --------------------------------------------------------------------------- entropy


def entropy(
    p: Tensor | None = None,
    dim: int = -1,
    *,
    logits: Tensor | None = None,
    base: float | str | None = math.e,
    reduction: str = "none",
    validate: bool | None = None,
) -> Tensor:
    r"""Shannon entropy :math:`H(p) = -\sum_k p_k \log p_k` along ``dim``.

    Parameters
    ----------
    p : Tensor, optional
        Probabilities, non-negative and summing to 1 along ``dim``.
    dim : int
        The dimension holding the outcomes.
    logits : Tensor, optional
        Unnormalized log-probabilities instead of ``p`` (``p = softmax(logits, dim)``);
        computed in log space, ``-inf`` entries are outcomes of probability 0.
    base : float or "e"
        Unit of the result: ``math.e`` (nats, default), 2 (bits), 10 (hartleys), any float > 0.
    reduction : {"none", "mean", "sum"}
        Reduction over the batch dimensions left after summing over ``dim``.
    validate : bool
        Check values (finite, non-negative, normalized); ``False`` skips the checks.

    Returns
    -------
    Tensor
        ``p.shape`` without ``dim`` (for ``reduction="none"``), in the input's dtype.

    Notes
    -----
    :math:`0 \le H(p) \le \log K` for ``K`` outcomes, with equality on the left iff ``p`` is
    one-hot and on the right iff ``p`` is uniform [1]_.

    Examples
    --------
    >>> import torch, math, infotorch
    >>> infotorch.entropy(torch.full((4,), 0.25), base=2)
    tensor(2.)
    >>> p = torch.tensor([0.5, 0.5, 0.0])
    >>> math.isclose(infotorch.entropy(p).item(), math.log(2), rel_tol=1e-7)   # 0 · log 0 = 0
    True
    >>> z = torch.tensor([[0.0, 1.0, 2.0]])
    >>> torch.allclose(infotorch.entropy(logits=z), infotorch.entropy(z.softmax(-1)))
    True
    """
    validate = v.resolve_validate(validate)
    log_base = v.check_base(base)
    reduction = v.check_reduction(reduction)
    prob, log_prob, out = _distribution(p, logits, dim, "p", "logits", validate)
    value = -_neg_entropy_terms(prob, log_prob).sum(dim)
    return nx.finish(value, log_base, reduction, out)


def binary_entropy(
    p: Tensor | None = None,
    *,
    logits: Tensor | None = None,
    base: float | str | None = math.e,
    reduction: str = "none",
    validate: bool | None = None,
) -> Tensor:
    r"""Entropy of Bernoulli variables, :math:`-p \log p - (1 - p) \log(1 - p)`, elementwise.

    ``logits`` gives ``p = sigmoid(logits)`` and computes in log space
    (:math:`\log p = -\mathrm{softplus}(-z)`), exact for large ``|z|``.

    Examples
    --------
    >>> import torch, infotorch
    >>> infotorch.binary_entropy(torch.tensor([0.0, 0.5, 1.0]), base=2)
    tensor([0., 1., 0.])
    """
    validate = v.resolve_validate(validate)
    log_base = v.check_base(base)
    reduction = v.check_reduction(reduction)
    v.exactly_one("p", p, "logits", logits)
    if p is not None:
        p = v.ensure_tensor(p, "p")
        if validate:
            v.check_in_unit_interval(p, "p")
        out = nx.result_dtype(p.dtype)
        x = p.to(nx.compute_dtype(p.dtype))
        value = -(nx.xlogy(x, x) + nx.xlogy(1 - x, 1 - x))
    else:
        z = v.ensure_tensor(logits, "logits")
        if validate:
            if not z.is_floating_point():
                raise TypeError(f"logits must be a floating-point tensor, got dtype {z.dtype}")
            v.check_finite(z, "logits")
        out = nx.result_dtype(z.dtype)
        x = z.to(nx.compute_dtype(z.dtype))
        # H = softplus(z) - z·sigmoid(z) = sigmoid(z)·softplus(-z) + sigmoid(-z)·softplus(z)
        value = torch.sigmoid(x) * nx.softplus(-x) + torch.sigmoid(-x) * nx.softplus(x)
    return nx.finish(value, log_base, reduction, out)


def joint_entropy(
    joint: Tensor | None = None,
    dims: tuple[int, int] = (-2, -1),
    *,
    logits: Tensor | None = None,
    base: float | str | None = math.e,
    reduction: str = "none",
    validate: bool | None = None,
) -> Tensor:
    r"""Joint entropy :math:`H(X, Y) = -\sum_{x,y} p(x, y) \log p(x, y)` of a joint table.

    ``joint`` holds :math:`p(x, y)` with X along ``dims[0]`` and Y along ``dims[1]``; it sums
    to 1 over both. ``logits`` are normalized jointly over both dimensions. Other dimensions
    are batch dimensions.

    Examples
    --------
    >>> import torch, infotorch
    >>> infotorch.joint_entropy(torch.full((2, 4), 1 / 8), base=2)
    tensor(3.)
    """
    validate = v.resolve_validate(validate)
    log_base = v.check_base(base)
    reduction = v.check_reduction(reduction)
    prob, log_prob, out = _distribution(joint, logits, dims, "joint", "logits", validate)
    a, b = v.check_dims(prob, dims)
    value = -_neg_entropy_terms(prob, log_prob).sum(dim=(a, b))
    return nx.finish(value, log_base, reduction, out)


def _joint_parts(
    joint: Tensor | None, logits: Tensor | None, dims: Any, validate: bool
) -> tuple[Tensor, Tensor, Tensor, Tensor, torch.dtype]:
    """``(p(x,y), log p(x,y), log p(x), log p(y), dtype)`` with X, Y moved to the last two dims."""
    validate = v.resolve_validate(validate)
    prob, log_prob, out = _distribution(joint, logits, dims, "joint", "logits", validate)
    a, b = v.check_dims(prob, dims)
    log_prob = _to_last_two(_log_of(prob, log_prob), (a, b))
    prob = _to_last_two(prob, (a, b))
    if logits is not None:
        log_px = nx.safe_logsumexp(log_prob, dim=-1, keepdim=True)  # a whole -inf row: p(x) = 0
        log_py = nx.safe_logsumexp(log_prob, dim=-2, keepdim=True)
    else:
        log_px = _safe_log(prob.sum(dim=-1, keepdim=True))
        log_py = _safe_log(prob.sum(dim=-2, keepdim=True))
    return prob, log_prob, log_px, log_py, out


def conditional_entropy(
    joint: Tensor | None = None,
    dims: tuple[int, int] = (-2, -1),
    *,
    logits: Tensor | None = None,
    base: float | str | None = math.e,
    reduction: str = "none",
    validate: bool | None = None,
) -> Tensor:
    r"""Conditional entropy :math:`H(Y \mid X) = -\sum_{x,y} p(x,y) \log p(y \mid x)`.

    X runs along ``dims[0]``, Y along ``dims[1]``. Computed term by term as
    :math:`p(x,y)\,[\log p(x) - \log p(x,y)] \ge 0`, so the result is never negative, unlike the
    difference :math:`H(X,Y) - H(X)` it equals (the chain rule [1]_).

    Examples
    --------
    >>> import torch, infotorch
    >>> pxy = torch.tensor([[0.25, 0.25], [0.5, 0.0]])
    >>> h = infotorch.conditional_entropy(pxy)
    >>> hx = infotorch.entropy(pxy.sum(-1))
    >>> torch.allclose(infotorch.joint_entropy(pxy), hx + h)   # chain rule
    True
    """
    validate = v.resolve_validate(validate)
    log_base = v.check_base(base)
    reduction = v.check_reduction(reduction)
    prob, log_prob, log_px, _, out = _joint_parts(joint, logits, dims, validate)
    value = _kl_terms(prob, log_px, log_prob).sum(dim=(-2, -1))
    return nx.finish(value, log_base, reduction, out)


def mutual_information(
    joint: Tensor | None = None,
    dims: tuple[int, int] = (-2, -1),
    *,
    logits: Tensor | None = None,
    base: float | str | None = math.e,
    reduction: str = "none",
    validate: bool | None = None,
) -> Tensor:
    r"""Mutual information of a joint table, :math:`I(X;Y) = \mathrm{KL}(p(x,y) \,\|\, p(x)p(y))`.

    Equal to :math:`H(X) + H(Y) - H(X,Y)` [1]_, non-negative, zero iff X and Y are independent.
    It is computed directly as :math:`\sum p(x,y) \log \frac{p(x,y)}{p(x)p(y)}`; rounding can
    leave it a few ulp below 0 for independent tables. Differentiable in ``joint``/``logits``.

    Examples
    --------
    >>> import torch, infotorch
    >>> infotorch.mutual_information(torch.eye(2) / 2, base=2)   # a perfect copy: 1 bit
    tensor(1.)
    >>> infotorch.mutual_information(torch.full((2, 3), 1 / 6)).abs() < 1e-7   # independent
    tensor(True)
    """
    validate = v.resolve_validate(validate)
    log_base = v.check_base(base)
    reduction = v.check_reduction(reduction)
    prob, log_prob, log_px, log_py, out = _joint_parts(joint, logits, dims, validate)
    value = _kl_terms(prob, log_prob, log_px + log_py).sum(dim=(-2, -1))
    return nx.finish(value, log_base, reduction, out)


def normalized_mutual_information(
    joint: Tensor | None = None,
    dims: tuple[int, int] = (-2, -1),
    *,
    logits: Tensor | None = None,
    average: str = "arithmetic",
    reduction: str = "none",
    validate: bool | None = None,
) -> Tensor:
    r"""Normalized mutual information :math:`I(X;Y) / \mathrm{avg}(H(X), H(Y))`, in [0, 1].

    ``average`` is "arithmetic" (default, as :func:`sklearn.metrics.normalized_mutual_info_score`),
    "geometric", "min" or "max". Unit-free. Limits as scikit-learn defines them: 1 when both
    variables are constant (a perfect match), 0 when only the normalizer vanishes.

    Examples
    --------
    >>> import torch, infotorch
    >>> infotorch.normalized_mutual_information(torch.eye(3) / 3)
    tensor(1.)
    """
    validate = v.resolve_validate(validate)
    v.check_choice(average, _AVERAGES, "average")
    reduction = v.check_reduction(reduction)
    prob, log_prob, log_px, log_py, out = _joint_parts(joint, logits, dims, validate)
    mi = _kl_terms(prob, log_prob, log_px + log_py).sum(dim=(-2, -1))
    hx = -_neg_entropy_terms(log_px.exp(), log_px).sum(dim=(-2, -1))
    hy = -_neg_entropy_terms(log_py.exp(), log_py).sum(dim=(-2, -1))
    return nx.finish(_nmi_from(mi, hx, hy, average), 1.0, reduction, out)


# --------------------------------------------------------------------------- cross-entropy


def cross_entropy(
    p: Tensor | None = None,
    q: Tensor | None = None,
    dim: int = -1,
    *,
    p_logits: Tensor | None = None,
    q_logits: Tensor | None = None,
    base: float | str | None = math.e,
    reduction: str = "none",
    validate: bool | None = None,
) -> Tensor:
    r"""Cross-entropy :math:`H(p, q) = -\sum_k p_k \log q_k` along ``dim``.

    ``p`` is the reference (target) distribution, ``q`` the model's. Each is given as
    probabilities or as logits (``p_logits=``, ``q_logits=``); shapes broadcast.
    :math:`H(p, q) = H(p) + \mathrm{KL}(p \| q)` [1]_. With ``q_logits`` and ``p`` the soft
    targets this equals ``torch.nn.functional.cross_entropy(q_logits, p, reduction="none")``
    for classes along ``dim``. ``+inf`` where ``q_k = 0 < p_k``.

    Examples
    --------
    >>> import torch, infotorch
    >>> p = torch.tensor([0.2, 0.8]); q = torch.tensor([0.5, 0.5])
    >>> torch.allclose(infotorch.cross_entropy(p, q),
    ...                infotorch.entropy(p) + infotorch.kl_divergence(p, q))
    True
    """
    validate = v.resolve_validate(validate)
    log_base = v.check_base(base)
    reduction = v.check_reduction(reduction)
    _check_pair_dim(p if p is not None else p_logits, q if q is not None else q_logits, dim, "p", "q")
    pp, _, out_p = _distribution(p, p_logits, dim, "p", "p_logits", validate)
    qq, log_q, out_q = _distribution(q, q_logits, dim, "q", "q_logits", validate)
    v.check_broadcastable(pp, qq, "p", "q")
    pp, qq = _common(pp, qq)
    if log_q is None:
        # p · log q with q → 1 where p = q = 0: value 0, gradients 0 (not 0/0); -inf where q = 0 < p.
        both_zero = (pp == 0) & (qq == 0)
        if nx.needs_grad(pp, qq):
            terms = pp * torch.where(both_zero, 1.0, qq).log()
        else:
            terms = torch.where(both_zero, 1.0, qq).log_().mul_(pp)
    else:
        terms = nx.mul_log(pp, log_q.to(pp.dtype))
    value = -terms.sum(dim)
    return nx.finish(value, log_base, reduction, torch.promote_types(out_p, out_q))


def _common(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    dt = torch.promote_types(a.dtype, b.dtype)
    return a.to(dt), b.to(dt)


def binary_cross_entropy(
    p: Tensor | None = None,
    target: Tensor | None = None,
    *,
    logits: Tensor | None = None,
    from_logits: bool = False,
    weight: Tensor | None = None,
    pos_weight: Tensor | None = None,
    base: float | str | None = math.e,
    reduction: str = "mean",
    validate: bool | None = None,
) -> Tensor:
    r"""Binary cross-entropy :math:`-[\,w_+ y \log p + (1 - y) \log(1 - p)\,]`, elementwise.

    Give the predicted probabilities ``p`` or the ``logits`` (``p = sigmoid(logits)``, computed
    as ``w_+·y·softplus(-z) + (1-y)·softplus(z)``, exact for any ``|z|``; prefer it for
    training). ``target`` holds labels or soft labels in [0, 1]. ``weight`` rescales each
    element, ``pos_weight`` (:math:`w_+`) the positive term, as in
    :func:`torch.nn.functional.binary_cross_entropy_with_logits`. Unlike
    :func:`torch.nn.functional.binary_cross_entropy`, the probability form does not clamp
    ``log`` at -100: a target of probability 0 costs ``+inf``. ``from_logits=True`` reads the
    first argument as logits (``binary_cross_entropy(z, y, from_logits=True)`` is
    ``binary_cross_entropy(logits=z, target=y)``).

    Examples
    --------
    >>> import torch, infotorch
    >>> z = torch.tensor([-1.0, 2.0]); y = torch.tensor([0.0, 1.0])
    >>> torch.allclose(infotorch.binary_cross_entropy(logits=z, target=y),
    ...                infotorch.binary_cross_entropy(torch.sigmoid(z), y))
    True
    """
    validate = v.resolve_validate(validate)
    log_base = v.check_base(base)
    reduction = v.check_reduction(reduction)
    if from_logits:
        if logits is not None:
            raise TypeError("with from_logits=True give the logits as the first argument, not also logits=")
        p, logits = None, p
    v.exactly_one("p", p, "logits", logits)
    if target is None:
        raise TypeError("binary_cross_entropy() missing the required argument target")
    target = v.ensure_tensor(target, "target")
    given = v.ensure_tensor(p if p is not None else logits, "p" if p is not None else "logits")
    v.check_broadcastable(given, target, "p" if p is not None else "logits", "target")
    if validate:
        v.check_in_unit_interval(target, "target")
        if p is not None:
            v.check_in_unit_interval(given, "p")
        else:
            if not given.is_floating_point():
                raise TypeError(f"logits must be a floating-point tensor, got dtype {given.dtype}")
            v.check_finite(given, "logits")
    dt = nx.compute_dtype(given.dtype, target.dtype)
    out = nx.result_dtype(given.dtype)
    x, y = given.to(dt), target.to(dt)
    if p is not None:
        log_p, log_1mp = _safe_log(x), _safe_log1m(x)
    else:
        log_p, log_1mp = -nx.softplus(-x), -nx.softplus(x)
    pos = nx.mul_log(y, log_p)
    if pos_weight is not None:
        pos = pos * _checked_weight(pos_weight, "pos_weight", pos, validate)
    value = -(pos + nx.mul_log(1 - y, log_1mp))
    if weight is not None:
        value = value * _checked_weight(weight, "weight", value, validate)
    return nx.finish(value, log_base, reduction, out)


def _checked_weight(w: Any, name: str, like: Tensor, validate: bool) -> Tensor:
    """A weight that broadcasts to ``like``, finite and non-negative (checked when validating)."""
    w = v.ensure_tensor(w, name)
    try:
        torch.broadcast_shapes(w.shape, like.shape)
    except RuntimeError:
        raise ValueError(f"{name} must broadcast to shape {tuple(like.shape)}, got shape {tuple(w.shape)}") from None
    if validate:
        v.check_finite(w, name)
        if bool((w < 0).any()):
            raise ValueError(f"{name} must be non-negative")
    return w.to(like.dtype)


def _safe_log1m(x: Tensor) -> Tensor:
    """``log(1 − x)`` via ``log1p``; ``-inf`` with zero gradient at ``x = 1``."""
    inside = x < 1
    safe = torch.where(inside, x, 0.0)
    return torch.where(inside, torch.log1p(-safe), -math.inf)


# --------------------------------------------------------------------------- divergences


def kl_divergence(
    p: Tensor | None = None,
    q: Tensor | None = None,
    dim: int = -1,
    *,
    p_logits: Tensor | None = None,
    q_logits: Tensor | None = None,
    base: float | str | None = math.e,
    reduction: str = "none",
    validate: bool | None = None,
) -> Tensor:
    r"""Kullback-Leibler divergence :math:`\mathrm{KL}(p \| q) = \sum_k p_k \log(p_k / q_k)`.

    Argument order as in the formula: ``p`` is the reference, ``q`` the approximation (the
    reverse of :func:`torch.nn.functional.kl_div`, which takes ``(log q, p)``). Each is given
    as probabilities or logits; shapes broadcast. Elementwise as :func:`scipy.special.rel_entr`:
    0 where ``p_k = 0``, ``+inf`` where ``q_k = 0 < p_k``. :math:`\mathrm{KL} \ge 0`, with
    equality iff ``p = q`` [1]_; rounding may leave a few ulp below 0 when ``p ≈ q``.
    ``reduction="mean"`` averages the per-distribution divergences, the true batch mean
    (``kl_div``'s ``"batchmean"``), not the mean over elements.

    Examples
    --------
    >>> import torch, infotorch
    >>> p = torch.tensor([0.5, 0.5]); q = torch.tensor([0.9, 0.1])
    >>> kl = infotorch.kl_divergence(p, q)
    >>> torch.allclose(kl, infotorch.cross_entropy(p, q) - infotorch.entropy(p))
    True
    >>> infotorch.kl_divergence(p, p)
    tensor(0.)
    """
    validate = v.resolve_validate(validate)
    log_base = v.check_base(base)
    reduction = v.check_reduction(reduction)
    _check_pair_dim(p if p is not None else p_logits, q if q is not None else q_logits, dim, "p", "q")
    pp, log_p, out_p = _distribution(p, p_logits, dim, "p", "p_logits", validate)
    qq, log_q, out_q = _distribution(q, q_logits, dim, "q", "q_logits", validate)
    v.check_broadcastable(pp, qq, "p", "q")
    pp, qq = _common(pp, qq)
    if log_p is None and log_q is None:
        # rel_entr's p · log(p / q) without overflow of the ratio and with log1p near p = q.
        terms = nx.rel_entr(pp, qq)
    else:
        dt = pp.dtype
        terms = _kl_terms(pp, _log_of(pp, log_p).to(dt), _log_of(qq, log_q).to(dt))
    value = terms.sum(dim)
    return nx.finish(value, log_base, reduction, torch.promote_types(out_p, out_q))


def js_divergence(
    p: Tensor | None = None,
    q: Tensor | None = None,
    dim: int = -1,
    *,
    p_logits: Tensor | None = None,
    q_logits: Tensor | None = None,
    weights: tuple[float, float] = (0.5, 0.5),
    base: float | str | None = math.e,
    reduction: str = "none",
    validate: bool | None = None,
) -> Tensor:
    r"""Jensen-Shannon divergence :math:`w_1 \mathrm{KL}(p \| m) + w_2 \mathrm{KL}(q \| m)`.

    With :math:`m = w_1 p + w_2 q` computed in log space (``logaddexp``). Symmetric for equal
    weights, bounded by :math:`H(w) \le \log 2` (1 bit) [2]_, finite even where supports
    differ. Note that :func:`scipy.spatial.distance.jensenshannon` returns the *square root*
    (the JS distance, a metric); this returns the divergence.

    Examples
    --------
    >>> import torch, infotorch
    >>> p = torch.tensor([1.0, 0.0]); q = torch.tensor([0.0, 1.0])
    >>> infotorch.js_divergence(p, q, base=2)   # disjoint supports: the maximum, 1 bit
    tensor(1.)
    """
    validate = v.resolve_validate(validate)
    log_base = v.check_base(base)
    reduction = v.check_reduction(reduction)
    w_p, w_q = _check_weights(weights)
    _check_pair_dim(p if p is not None else p_logits, q if q is not None else q_logits, dim, "p", "q")
    pp, log_p, out_p = _distribution(p, p_logits, dim, "p", "p_logits", validate)
    qq, log_q, out_q = _distribution(q, q_logits, dim, "q", "q_logits", validate)
    v.check_broadcastable(pp, qq, "p", "q")
    dt = torch.promote_types(pp.dtype, qq.dtype)
    log_p, log_q = _log_of(pp, log_p).to(dt), _log_of(qq, log_q).to(dt)
    pp, qq = pp.to(dt), qq.to(dt)
    value = _js_terms(pp, qq, w_p, w_q).sum(dim)
    return nx.finish(value, log_base, reduction, torch.promote_types(out_p, out_q))


def _h_series(x: Tensor) -> Tensor:
    """``(1 + x) log(1 + x) - x = Σ_{k>=2} (-1)^k x^k / (k (k - 1))`` for ``|x| <= 0.1`` (16 terms)."""
    acc = torch.zeros_like(x)
    for k in range(17, 1, -1):  # Horner: acc = Σ_k c_k x^(k-1)
        acc = x * (acc + (-1.0) ** k / (k * (k - 1)))
    return x * acc


def _h(x: Tensor) -> Tensor:
    """``(1 + x) log(1 + x) - x`` for ``x >= -1`` (``= 1`` at ``x = -1``), accurate where it is
    small: the series near 0, the direct form elsewhere; finite gradients at ``x = -1``."""
    small = x.abs() <= 0.1
    xs = torch.where(small, x, 0.0)
    one_px = 1.0 + torch.where(small, 0.5, x)
    alive = one_px > 0
    direct = torch.where(alive, one_px * torch.log(torch.where(alive, one_px, 1.0)), 0.0) - torch.where(small, 0.5, x)
    return torch.where(small, _h_series(xs), direct)


def _js_terms(p: Tensor, q: Tensor, w_p: float, w_q: float) -> Tensor:
    """Elementwise ``w_p p log(p/m) + w_q q log(q/m)``, ``m = w_p p + w_q q``, without cancellation.

    With ``δ = (p - q)/m``: ``p/m = 1 + w_q δ`` and ``q/m = 1 - w_p δ``, and since the linear
    parts cancel exactly, the term is ``m [w_p h(w_q δ) + w_q h(-w_p δ)]`` with
    ``h(x) = (1 + x) log(1 + x) - x >= 0`` (a series near 0): near-identical p and q give the
    O(δ²) value to full relative precision, never a negative one."""
    m = w_p * p + w_q * q
    alive = m > 0
    m_safe = torch.where(alive, m, 1.0)
    delta = torch.where(alive, (p - q) / m_safe, 0.0)
    terms = torch.zeros_like(m)
    if w_p > 0:
        terms = terms + w_p * _h(w_q * delta)
    if w_q > 0:
        terms = terms + w_q * _h(-w_p * delta)
    return torch.where(alive, m * terms, 0.0)


def _check_weights(weights: Any) -> tuple[float, float]:
    try:
        w_p, w_q = (float(w) for w in weights)
    except (TypeError, ValueError):
        raise TypeError(f"weights must be a pair of floats, got {weights!r}") from None
    if not (w_p >= 0 and w_q >= 0 and abs(w_p + w_q - 1.0) <= 1e-9):
        raise ValueError(f"weights must be two non-negative numbers summing to 1, got {weights!r}")
    return w_p, w_q
