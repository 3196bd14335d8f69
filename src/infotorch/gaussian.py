r"""Gaussian entropies and KL divergences in closed form.

A diagonal Gaussian is given by its standard deviations ``std`` or log-variances ``log_var``
along ``dim`` (the event dimension, summed over); a full one by its covariance matrix ``cov``
(``(..., d, d)``, through a Cholesky factor: :math:`\log\det\Sigma = 2\sum_i \log L_{ii}`).
Results are in nats unless ``base`` says otherwise; half precision computes in float32.

References
----------
.. [1] T. M. Cover and J. A. Thomas, *Elements of Information Theory*, 2nd ed., Wiley, 2006,
       Theorem 8.4.1. https://doi.org/10.1002/047174882X
.. [2] D. P. Kingma and M. Welling, "Auto-Encoding Variational Bayes", ICLR 2014, Appendix B.
       https://doi.org/10.48550/arXiv.1312.6114
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from . import _numerics as nx
from . import _validation as v
from .noise import (  # the noise-layer losses under their original names (infotorch.noise has them all)
    ComponentLossesDict,
    gaussian_entropy_log_loss,
    gaussian_mixture_entropy,
    masked_negative_log_mean,
    mutual_information_sub_batch,
    square_mahalanobis_distance,
)

__all__ = [
    "ComponentLossesDict",
    "gaussian_entropy",
    "gaussian_entropy_log_loss",
    "gaussian_mixture_entropy",
    "kl_normal",
    "kl_to_standard_normal",
    "masked_negative_log_mean",
    "mutual_information_sub_batch",
    "square_mahalanobis_distance",
]

_HALF_LOG_2PIE = 0.5 * math.log(2 * math.pi * math.e)


def gaussian_entropy(
    std: Tensor | None = None,
    *,
    log_var: Tensor | None = None,
    cov: Tensor | None = None,
    dim: int = -1,
    base: float | str | None = math.e,
    reduction: str = "none",
    validate: bool | None = None,
) -> Tensor:
    r"""Differential entropy of a Gaussian, :math:`\tfrac12 \log\det(2\pi e\,\Sigma)`.

    Give exactly one of

    * ``std``: standard deviations of a diagonal Gaussian; sums
      :math:`\tfrac12\log(2\pi e) + \log\sigma_i` over ``dim``;
    * ``log_var``: log-variances (the usual encoder output); sums
      :math:`\tfrac12\log(2\pi e) + \tfrac12\log\sigma_i^2` over ``dim``;
    * ``cov``: full covariance matrices ``(..., d, d)``, symmetric positive definite;
      :math:`\tfrac d2\log(2\pi e) + \sum_i \log L_{ii}` with :math:`\Sigma = LL^\top` [1]_
      (``dim`` is ignored).

    Returns the batch shape (``reduction="none"``). The value can be negative (differential
    entropy); it shifts by :math:`\log|a|` per dimension when the variable is scaled by ``a``.

    Examples
    --------
    >>> import torch, math, infotorch
    >>> s = torch.tensor([2.0])
    >>> torch.allclose(infotorch.gaussian_entropy(s), 0.5 * torch.log(2 * math.pi * math.e * s**2))
    True
    >>> torch.allclose(infotorch.gaussian_entropy(cov=torch.diag(s**2)), infotorch.gaussian_entropy(s))
    True
    """
    validate = v.resolve_validate(validate)
    log_base = v.check_base(base)
    reduction = v.check_reduction(reduction)
    given = [name for name, val in (("std", std), ("log_var", log_var), ("cov", cov)) if val is not None]
    if len(given) != 1:
        raise ValueError(f"exactly one of std, log_var or cov must be given, got {', '.join(given) or 'none'}")
    if cov is not None:
        c = v.ensure_tensor(cov, "cov")
        if validate:
            v.check_symmetric_matrix(c, "cov")
        elif c.ndim < 2 or c.shape[-1] != c.shape[-2]:
            raise ValueError(f"cov must be a (..., d, d) matrix, got shape {tuple(c.shape)}")
        out = nx.result_dtype(c.dtype)
        c = c.to(nx.compute_dtype(c.dtype))
        chol, info = torch.linalg.cholesky_ex(c)
        if validate and bool((info != 0).any()):
            raise ValueError("cov must be positive definite, but its Cholesky factorization failed")
        d = c.shape[-1]
        value = d * _HALF_LOG_2PIE + chol.diagonal(dim1=-2, dim2=-1).log().sum(-1)
    else:
        name = "std" if std is not None else "log_var"
        x = v.ensure_tensor(std if std is not None else log_var, name)
        v.check_dim(x, dim)
        if validate:
            if std is not None:
                v.check_positive(x, "std")
            else:
                v.check_finite(x, "log_var")
        out = nx.result_dtype(x.dtype)
        x = x.to(nx.compute_dtype(x.dtype))
        half_log_var = x.log() if std is not None else 0.5 * x
        value = (_HALF_LOG_2PIE + half_log_var).sum(dim)
    return nx.finish(value, log_base, reduction, out)


def _check_pair(mu: Tensor, log_var: Tensor, names: tuple[str, str], validate: bool) -> None:
    validate = v.resolve_validate(validate)
    v.ensure_tensor(mu, names[0])
    v.ensure_tensor(log_var, names[1])
    if validate:
        v.check_finite(mu, names[0])
        v.check_finite(log_var, names[1])


def kl_normal(
    mu1: Tensor,
    log_var1: Tensor,
    mu2: Tensor,
    log_var2: Tensor,
    dim: int = -1,
    *,
    base: float | str | None = math.e,
    reduction: str = "none",
    validate: bool | None = None,
) -> Tensor:
    r"""KL divergence between diagonal Gaussians, summed over ``dim``.

    .. math::
        \mathrm{KL}(\mathcal N(\mu_1, \sigma_1^2) \,\|\, \mathcal N(\mu_2, \sigma_2^2)) =
        \tfrac12 \sum_i \Big[ \frac{(\mu_{1,i} - \mu_{2,i})^2}{\sigma_{2,i}^2}
        + r_i - 1 - \log r_i \Big], \quad r_i = \sigma_{1,i}^2 / \sigma_{2,i}^2.

    :math:`r - 1 - \log r` is evaluated as ``expm1mx(log r)`` (a series near 0), so the result
    keeps full relative precision when the two variances are nearly equal. All four tensors
    broadcast together.

    Examples
    --------
    >>> import torch, infotorch
    >>> mu, lv = torch.tensor([0.3, -1.0]), torch.tensor([0.1, 0.2])
    >>> infotorch.kl_normal(mu, lv, mu, lv)
    tensor(0.)
    """
    validate = v.resolve_validate(validate)
    log_base = v.check_base(base)
    reduction = v.check_reduction(reduction)
    _check_pair(mu1, log_var1, ("mu1", "log_var1"), validate)
    _check_pair(mu2, log_var2, ("mu2", "log_var2"), validate)
    try:
        shape = torch.broadcast_shapes(mu1.shape, log_var1.shape, mu2.shape, log_var2.shape)
    except RuntimeError:
        raise ValueError(
            "mu1, log_var1, mu2 and log_var2 must have broadcastable shapes, got "
            f"{tuple(mu1.shape)}, {tuple(log_var1.shape)}, {tuple(mu2.shape)}, {tuple(log_var2.shape)}"
        ) from None
    v.check_dim(torch.empty(shape, device="meta"), dim)
    dtypes = (mu1.dtype, log_var1.dtype, mu2.dtype, log_var2.dtype)
    dt, out = nx.compute_dtype(*dtypes), nx.result_dtype(*dtypes)
    m1, lv1, m2, lv2 = (t.to(dt) for t in (mu1, log_var1, mu2, log_var2))
    d = lv1 - lv2
    value = 0.5 * (_scaled_square(m1 - m2, lv2) + nx.expm1mx(d))
    value = value.expand(shape).sum(dim)
    return nx.finish(value, log_base, reduction, out)


def _scaled_square(diff: Tensor, log_var: Tensor) -> Tensor:
    """``diff² · e^{-log_var}`` without ``0 · inf``: in log space where ``e^{-log_var}`` would
    overflow (tiny variances), exactly 0 where ``diff = 0``, finite gradients either way."""
    big = -log_var > (math.log(torch.finfo(log_var.dtype).max) - 1.0)
    big, diff, log_var = torch.broadcast_tensors(big, diff, log_var)
    direct = diff.square() * torch.exp(-torch.where(big, 0.0, log_var))
    zero = diff == 0
    safe = torch.where(zero, 1.0, diff)
    # the unselected entries get exponent 0, so no inf reaches the gradient through them
    in_logs = torch.exp(torch.where(zero | ~big, 0.0, 2.0 * safe.abs().log() - log_var))
    return torch.where(zero, 0.0, torch.where(big, in_logs, direct))


def kl_to_standard_normal(
    mu: Tensor,
    log_var: Tensor,
    dim: int = -1,
    *,
    base: float | str | None = math.e,
    reduction: str = "none",
    validate: bool | None = None,
) -> Tensor:
    r"""KL divergence from a diagonal Gaussian to the standard normal, summed over ``dim``.

    :math:`\mathrm{KL}(\mathcal N(\mu, \sigma^2) \,\|\, \mathcal N(0, I)) = \tfrac12 \sum_i
    [\mu_i^2 + \sigma_i^2 - 1 - \log\sigma_i^2]`, the VAE regularizer [2]_. Per example by
    default (``reduction="none"``); ``"mean"`` is the batch mean of the per-example sums.

    Examples
    --------
    >>> import torch, infotorch
    >>> infotorch.kl_to_standard_normal(torch.zeros(3), torch.zeros(3))
    tensor(0.)
    """
    validate = v.resolve_validate(validate)
    log_base = v.check_base(base)
    reduction = v.check_reduction(reduction)
    _check_pair(mu, log_var, ("mu", "log_var"), validate)
    shape = v.check_broadcastable(mu, log_var, "mu", "log_var")
    v.check_dim(torch.empty(shape, device="meta"), dim)
    dt, out = nx.compute_dtype(mu.dtype, log_var.dtype), nx.result_dtype(mu.dtype, log_var.dtype)
    m, lv = mu.to(dt), log_var.to(dt)
    value = (0.5 * (m.square() + nx.expm1mx(lv))).expand(shape).sum(dim)
    return nx.finish(value, log_base, reduction, out)
