r"""Nearest-neighbour estimators of differential entropy, mutual information, conditional mutual
information and KL divergence of continuous samples, and a Gaussian-copula estimator for high
dimension.

Samples are tensors of shape ``(N, D)`` or ``(..., N, D)``: ``N`` observations of a
``D``-dimensional variable along dim -2, leading dimensions independent batches; a 1-D tensor
``(N,)`` is one scalar variable, ``(N, 1)``. Results are in nats (``base=2`` gives bits), one
value per batch element, reduced by ``reduction="none" | "mean" | "sum"``.

Choosing an estimator
---------------------
* ``knn_entropy``: Kozachenko-Leonenko [1]_, Euclidean (default) or max-norm ball.
* ``ksg_mutual_information``: Kraskov-Stögbauer-Grassberger [2]_; good up to a joint dimension
  of about 10 (its bias grows with dimension and with the MI; a ``UserWarning`` at 20 and more).
* ``ksg_conditional_mutual_information``: Frenzel-Pompe [3]_.
* ``knn_kl_divergence``: Wang-Kulkarni-Verdú [4]_.
* ``knn_mutual_information_discrete``: Ross [5]_, continuous ``x`` against class labels.
* ``gaussian_copula_mutual_information``: normal scores + canonical correlations, with the exact
  finite-sample correction; unbiased for any monotone per-coordinate transform of a Gaussian,
  at any dimension; blind to non-Gaussian dependence.
* ``mutual_information_continuous(estimator="auto")``: the larger of KSG and the copula below a
  joint dimension of 20, the copula from 20 on (see that function for why).
* ``estimate_with_uncertainty``: a standard error (half-sampling), an interval and a permutation
  baseline for any of them.

Ties
----
No random jitter: exact ties are resolved by rules, documented per function, under which a
constant variable has mutual information exactly 0 and no estimate is ever ``-inf``. Radius
counts are strict (``d < eps``, i.e. ``d <= nextafter(eps, 0)`` as scikit-learn writes it).

References
----------
.. [1] L. F. Kozachenko and N. N. Leonenko, "Sample estimate of the entropy of a random vector",
       *Problems of Information Transmission* 23(2), 95-101 (1987).
.. [2] A. Kraskov, H. Stögbauer and P. Grassberger, "Estimating mutual information",
       *Phys. Rev. E* 69, 066138 (2004). doi:10.1103/PhysRevE.69.066138
.. [3] S. Frenzel and B. Pompe, "Partial mutual information for coupling analysis of multivariate
       time series", *Phys. Rev. Lett.* 99, 204101 (2007). doi:10.1103/PhysRevLett.99.204101
.. [4] Q. Wang, S. R. Kulkarni and S. Verdú, "Divergence estimation for multidimensional densities
       via k-nearest-neighbor distances", *IEEE Trans. Inf. Theory* 55(5), 2392-2405 (2009).
       doi:10.1109/TIT.2009.2016060
.. [5] B. C. Ross, "Mutual information between discrete and continuous data sets", *PLoS ONE*
       9(2), e87357 (2014). doi:10.1371/journal.pone.0087357
.. [6] R. A. A. Ince et al., "A statistical framework for neuroimaging data analysis based on
       mutual information estimated via a Gaussian copula", *Human Brain Mapping* 38, 1541-1573
       (2017). doi:10.1002/hbm.23471
.. [7] W. Gao, S. Kannan, S. Oh and P. Viswanath, "Estimating mutual information for
       discrete-continuous mixtures", *NeurIPS* 2017.
.. [8] J. Shao and C. F. J. Wu, "A general theory for jackknife variance estimation",
       *Ann. Statist.* 17(3), 1176-1197 (1989).
"""

from __future__ import annotations

import math
import numbers
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from . import _neighbors as nb
from . import _numerics as nx
from . import _validation as v

__all__ = [
    "EstimateWithUncertainty",
    "estimate_with_uncertainty",
    "gaussian_copula_mutual_information",
    "knn_entropy",
    "knn_kl_divergence",
    "knn_mutual_information_discrete",
    "ksg_conditional_mutual_information",
    "ksg_mutual_information",
    "mutual_information_continuous",
]

#: Joint dimension from which KSG warns (measured bias: -2.2 nats at 20 x 20 for a true 2.88 at
#: N = 2000; -0.32 at dense 25 x 25 for a true 1.29 at N = 5000).
KSG_WARN_DIM = 20

_psi = torch.special.digamma


# --------------------------------------------------------------------------- validation


def _points(x: Any, name: str, validate: bool) -> Tensor:
    validate = v.resolve_validate(validate)
    x = v.ensure_tensor(x, name)
    if x.is_complex() or x.dtype == torch.bool:
        raise TypeError(f"{name} must be a real (floating or integer) tensor, got dtype {x.dtype}")
    if x.ndim == 0:
        raise ValueError(f"{name} must have shape (N,), (N, D) or (..., N, D), got a scalar")
    if x.ndim == 1:
        x = x.unsqueeze(-1)
    if x.shape[-1] == 0:
        raise ValueError(f"{name} must have at least one column (D >= 1), got shape {tuple(x.shape)}")
    if validate and x.is_floating_point():
        v.check_finite(x, name)
    return x


def _same_samples(tensors: list[tuple[str, Tensor]]) -> None:
    (name0, t0), rest = tensors[0], tensors[1:]
    for name, t in rest:
        if t.shape[-2] != t0.shape[-2]:
            raise ValueError(
                f"{name0} and {name} must have the same number of samples along dim -2, "
                f"got {t0.shape[-2]} and {t.shape[-2]}"
            )
        _same_batch(name0, t0, name, t)


def _same_batch(name0: str, t0: Tensor, name: str, t: Tensor) -> None:
    if t.shape[:-2] != t0.shape[:-2]:
        raise ValueError(
            f"{name0} and {name} must have the same batch shape, got {tuple(t0.shape[:-2])} and {tuple(t.shape[:-2])}"
        )
    if t.device != t0.device:
        raise ValueError(f"{name0} and {name} must be on the same device, got {t0.device} and {t.device}")


def _check_k(k: Any, n: int, name: str) -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"k must be a positive int, got {k!r}")
    k = int(k)
    if k < 1:
        raise ValueError(f"k must be a positive int, got {k}")
    if n <= k:
        raise ValueError(f"{name} must have more than k={k} samples along dim -2, got N={n}")
    return k


def _check_choice(value: Any, name: str, options: tuple[Any, ...]) -> Any:
    if value not in options:
        text = " | ".join(repr(o) for o in options)
        raise ValueError(f"{name} must be one of {text}, got {value!r}")
    return value


#: Magnitudes beyond which points are rescaled by a power of two before any distance is squared
#: (float64 squares overflow near 1e154 and underflow near 1e-162).
_SAFE_LOG2 = 500


def _pow2_exponent(t: Tensor, dim: tuple[int, ...] | None = None) -> Tensor:
    """The integer ``e`` (as float64) with ``max|t| / 2^e`` in [0.5, 1) where that maximum lies outside
    ``[2^-500, 2^500]``, else 0 (data of ordinary magnitude are left bit for bit as they are).
    Dividing by ``2^e`` is exact in floating point: every distance, tie and ratio is kept."""
    top = t.abs().amax() if dim is None else t.abs().amax(dim=dim, keepdim=True)
    _, e = torch.frexp(top)
    extreme = (top > 0) & ((e > _SAFE_LOG2) | (e < -_SAFE_LOG2))
    return torch.where(extreme, e.to(t.dtype), 0.0)


def _flat(x: Tensor, standardize: bool = False) -> Tensor:
    """(..., N, D) -> float64 (B, N, D), optionally each column divided by its standard deviation
    (constant columns left as they are; no centring: distances do not depend on it, and this is
    scikit-learn's ``scale(x, with_mean=False)``). The statistics are sequential sums along each
    column (the last value of a cumulative sum), so they do not depend on how many batch
    elements share the call: a batched call equals a loop over its elements bit for bit."""
    x64 = x.detach().to(torch.float64).reshape(-1, *x.shape[-2:]).contiguous()
    if standardize:
        x64 = torch.ldexp(x64, -_pow2_exponent(x64, (1,)))  # exact per column; keeps the variance finite
        cols = x64.transpose(1, 2)  # (B, D, N)
        n = cols.shape[-1]
        mean = cols.cumsum(-1)[..., -1:] / n
        std = ((cols - mean).square().cumsum(-1)[..., -1:] / n).sqrt().transpose(1, 2)  # (B, 1, D)
        x64 = (x64 / torch.where(std > 0, std, 1.0)).contiguous()
    return x64


def _rescaled(*parts: Tensor) -> tuple[list[Tensor], Tensor]:
    """float64 (B, N, D·) tensors divided by one power of two per batch element where their
    magnitude is extreme (see :func:`_pow2_exponent`), and that exponent (B,) in float64."""
    e = torch.stack([_pow2_exponent(p, (1, 2)).reshape(-1) for p in parts]).amax(0)
    if not bool((e != 0).any()):
        return list(parts), e
    return [torch.ldexp(p, -e.reshape(-1, 1, 1)) for p in parts], e


def _finish(
    value: Tensor, batch: torch.Size, base: Any, reduction: str, out_dtype: torch.dtype, nonnegative: bool = False
) -> Tensor:
    log_base = v.check_base(base)
    value = value.reshape(batch)
    if nonnegative:
        value = value.clamp_min(0.0)
    return nx.finish(value, log_base, reduction, out_dtype)


def _out_dtype(*tensors: Tensor) -> torch.dtype:
    # computed in float64; returned in the promoted floating input dtype (half stays half)
    return nx.result_dtype(*(t.dtype for t in tensors))


def _warn_dim(fn: str, dim: int) -> None:
    if dim >= KSG_WARN_DIM:
        v.warn_user(
            f"{fn} at a joint dimension of {dim} (>= {KSG_WARN_DIM}) is biased low, by more the higher the "
            f"dimension and the MI (measured at N = 2000: -2.2 nats at 20 + 20 dimensions for a true 2.88, "
            f"-0.32 at 25 + 25 for a true 1.29); "
            f"use gaussian_copula_mutual_information or mutual_information_continuous(estimator='auto')",
        )


# --------------------------------------------------------------------------- shared kNN steps


def _log_unit_ball(d: int, metric: str) -> float:
    """log of the volume of the unit ball of R^d: 2^d for the max-norm, pi^(d/2) / Gamma(d/2 + 1) Euclidean."""
    if metric == "chebyshev":
        return d * math.log(2.0)
    return 0.5 * d * math.log(math.pi) - math.lgamma(0.5 * d + 1.0)


def _kth_positive(
    query: Tensor,
    ref: Tensor,
    space: nb.Space,
    k: int,
    backend: str,
    identical: Tensor,
    *,
    exclude_self: bool,
) -> tuple[Tensor, Tensor]:
    """k-th neighbour distance, with the tie rule of Wang et al. (2009) for points sitting on duplicates.

    ``identical`` (B, Nq) counts the references equal to each query (self excluded). Where it is
    ``>= k`` the k-th distance is 0; there the rank becomes ``k + identical`` and the distance is
    that of the k-th reference at a positive distance. Returns (distance, rank).
    """
    vals, _ = nb.kth_neighbors(query, ref, space, k, backend, exclude_self=exclude_self)
    dist = vals[..., -1].clone()
    rank = torch.full_like(identical, k)
    tied = dist == 0
    if bool(tied.any()):
        bq, iq = tied.nonzero(as_tuple=True)
        pv, _ = nb.kth_neighbors_subset(query, ref, bq, iq, space, k, exclude_self=exclude_self, exclude_zero=True)
        dist[bq, iq] = pv[:, -1]
        rank[bq, iq] = k + identical[bq, iq]
    return dist, rank


def _joint_radius(points: Tensor, joint: nb.Space, k: int, backend: str) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """KSG's joint k-th neighbour radius and the effective rank under the boundary-tie rule.

    Returns ``(eps, k_eff, values, index)``: ``k_eff = 1 + #{j : d(i, j) < eps_i}`` is ``k`` on
    tie-free data; where several points tie at the radius only one is taken as on the boundary,
    the others as just outside, so that marginal counts (strict) and the joint rank agree.
    """
    vals, idx = nb.kth_neighbors(points, points, joint, k, backend, exclude_self=True)
    eps = vals[..., -1]
    k_eff = 1 + (vals < eps.unsqueeze(-1)).sum(-1)
    return eps, k_eff, vals, idx


def _atoms(eps: Tensor) -> tuple[Tensor, bool]:
    atoms = eps == 0
    return atoms, bool(atoms.any())


def _dups(*parts: Tensor) -> Tensor:
    return nb.duplicate_counts(torch.cat(parts, dim=-1)).to(torch.float64)


# --------------------------------------------------------------------------- entropy


def knn_entropy(
    x: Tensor,
    k: int = 3,
    *,
    metric: str = "euclidean",
    base: float | str | None = math.e,
    reduction: str = "none",
    backend: str = "auto",
    validate: bool | None = None,
) -> Tensor:
    r"""Kozachenko-Leonenko estimate of the differential entropy of samples ``x`` (..., N, D).

    .. math:: \hat h = \psi(N) - \psi(k) + \log V_D + \frac{D}{N} \sum_i \log \rho_k(i)

    with :math:`\rho_k(i)` the distance from :math:`x_i` to its k-th nearest neighbour and
    :math:`V_D` the exact volume of the unit ball of the norm: :math:`\pi^{D/2}/\Gamma(D/2+1)`
    (``metric="euclidean"``, default) or :math:`2^D` (``"chebyshev"``, the max-norm) [1]_ [2]_.
    The estimate does not depend on the norm in the limit; at finite N the Euclidean ball is
    the less biased in two or more dimensions. No standardization (entropy is not scale
    invariant: ``h(a x) = h(x) + D log|a|``).

    **Ties.** A point with ``k`` or more exact duplicates has :math:`\rho_k = 0`; for it the
    estimator uses the k-th neighbour at a positive distance, whose rank is ``k_i = k + c_i``
    (``c_i`` duplicates), and :math:`\psi(k_i)` in place of :math:`\psi(k)` (the varying-k form
    of [4]_). A point with ``k`` or more duplicates but fewer than ``k`` neighbours at a
    positive distance (all points identical, or e.g. 49 copies of 0 and one 1 at ``k = 3``) has
    no such radius: the estimate is then ``-inf``, the differential entropy of a point mass. Data of extreme magnitude (beyond about 1e±150) are
    rescaled by a power of two first, exactly.

    Measured bias (nats; N(0, I_D), k = 3, Euclidean, mean of 4 seeds, so about ±0.02 of
    noise; ``benchmarks/bench_knn.py bias``):

    ======  =========  =========  ==========
    D       N = 500    N = 2000   N = 10000
    ======  =========  =========  ==========
    1       +0.000     -0.007     -0.002
    5       -0.080     -0.074     -0.043
    10      +0.080     +0.057     -0.032
    ======  =========  =========  ==========

    Examples
    --------
    >>> import math, torch, infotorch.knn as knn
    >>> x = torch.randn(4000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> round(float(knn.knn_entropy(x)), 2), round(math.log(2 * math.pi * math.e), 2)   # estimate, truth
    (2.83, 2.84)
    """
    validate = v.resolve_validate(validate)
    metric = _check_choice(metric, "metric", nb.METRICS)
    reduction = v.check_reduction(reduction)
    x = _points(x, "x", validate)
    k = _check_k(k, x.shape[-2], "x")
    (X,), log2_scale = _rescaled(_flat(x))
    backend = nb.resolve_backend(backend, X)
    n, d = X.shape[1], X.shape[2]
    space = nb.make_space((d,), metric)
    identical = nb.duplicate_counts(X) - 1
    rho, rank = _kth_positive(X, X, space, k, backend, identical, exclude_self=True)
    log_rho = torch.where(torch.isfinite(rho), rho.log(), -math.inf)
    value = _psi(torch.tensor(float(n), dtype=torch.float64)) + _log_unit_ball(d, metric)
    value = value + (d * log_rho - _psi(rank.to(torch.float64))).mean(-1) + d * math.log(2.0) * log2_scale
    return _finish(value, x.shape[:-2], base, reduction, _out_dtype(x))


# --------------------------------------------------------------------------- KL divergence


def knn_kl_divergence(
    x: Tensor,
    y: Tensor,
    k: int = 1,
    *,
    metric: str = "euclidean",
    base: float | str | None = math.e,
    reduction: str = "none",
    backend: str = "auto",
    validate: bool | None = None,
) -> Tensor:
    r"""Wang-Kulkarni-Verdú estimate of :math:`D(P \| Q)` from samples ``x ~ P`` (..., n, D) and ``y ~ Q`` (..., m, D).

    .. math::
        \hat D = \frac{D}{n} \sum_i \log \frac{\nu_k(i)}{\rho_k(i)} + \log \frac{m}{n - 1}

    with :math:`\rho_k(i)` the k-th neighbour distance of :math:`x_i` among the other ``x`` and
    :math:`\nu_k(i)` among the ``y`` [4]_. ``n`` and ``m`` may differ; batch shapes must agree.
    The estimate may be negative at finite sample size (the true divergence is not).

    **Ties.** Where a radius would be 0 (``k`` or more exact copies of :math:`x_i` in that
    sample), the k-th neighbour at a positive distance is used with its rank ``k + c``, and the
    correction :math:`\frac1n \sum_i [\psi(k_i) - \psi(l_i)]` of the varying-k estimator of [4]_.
    An ``x`` with a sample that has ``k`` or more duplicates and fewer than ``k`` other samples at
    a positive distance (a point mass, or nearly) raises :class:`ValueError`; a ``y`` of
    identical samples gives ``+inf``.

    Measured bias (nats; P = N(0, I_D), Q = N(0.5·1, I_D), k = 1, n = m, mean of 4 seeds;
    ``benchmarks/bench_knn.py bias``):

    ======  ======  ==========  ===========
    D       truth   n = 1000    n = 10000
    ======  ======  ==========  ===========
    1       0.125   +0.017      -0.002
    5       0.625   -0.070      -0.057
    ======  ======  ==========  ===========

    Examples
    --------
    >>> import torch, infotorch.knn as knn
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(4000, 1, generator=g, dtype=torch.float64)
    >>> y = 1.0 + torch.randn(4000, 1, generator=g, dtype=torch.float64)
    >>> round(float(knn.knn_kl_divergence(x, y)), 1), 0.5   # estimate, truth (mu^2 / 2)
    (0.5, 0.5)
    """
    validate = v.resolve_validate(validate)
    metric = _check_choice(metric, "metric", nb.METRICS)
    reduction = v.check_reduction(reduction)
    x = _points(x, "x", validate)
    y = _points(y, "y", validate)
    _same_batch("x", x, "y", y)
    if x.shape[-1] != y.shape[-1]:
        raise ValueError(f"x and y must have the same dimension D, got {x.shape[-1]} and {y.shape[-1]}")
    k = _check_k(k, x.shape[-2], "x")
    if y.shape[-2] < k:
        raise ValueError(f"y must have at least k={k} samples along dim -2, got {y.shape[-2]}")
    (X, Y), _ = _rescaled(_flat(x), _flat(y))  # the divergence does not change under a common scale
    backend = nb.resolve_backend(backend, X)
    n, m, d = X.shape[1], Y.shape[1], X.shape[2]
    space = nb.make_space((d,), metric)
    same_x = nb.duplicate_counts(X) - 1
    in_y = nb.duplicate_counts(torch.cat([X, Y], dim=1))[:, :n] - 1 - same_x
    rho, k_i = _kth_positive(X, X, space, k, backend, same_x, exclude_self=True)
    if bool(torch.isinf(rho).any()):
        b = int(torch.isinf(rho).any(-1).nonzero()[0, 0])
        where = f" (batch element {b})" if X.shape[0] > 1 else ""
        raise ValueError(
            f"x{where} has a sample with k={k} or more duplicates but fewer than k other samples at a positive "
            f"distance (a point mass, or nearly): it has no density there, so the divergence estimate is undefined"
        )
    nu, l_i = _kth_positive(X, Y, space, k, backend, in_y, exclude_self=False)
    ratio = nu.log() - rho.log()
    value = d * ratio.mean(-1) + (_psi(k_i.double()) - _psi(l_i.double())).mean(-1) + math.log(m / (n - 1))
    return _finish(value, x.shape[:-2], base, reduction, _out_dtype(x, y))


# --------------------------------------------------------------------------- KSG mutual information


def _ksg64(X: Tensor, Y: Tensor, k: int, variant: int, metric: str, backend: str) -> Tensor:
    """KSG estimate in nats, (B,), from float64 (B, N, Dx) and (B, N, Dy)."""
    n, dx, dy = X.shape[1], X.shape[2], Y.shape[2]
    P = torch.cat([X, Y], dim=-1)
    joint = nb.make_space((dx, dy), metric)
    sx, sy = nb.make_space((dx,), metric), nb.make_space((dy,), metric)
    eps, k_eff, _, idx = _joint_radius(P, joint, k, backend)
    psi_n = float(_psi(torch.tensor(float(n), dtype=torch.float64)))
    nx_ = nb.count_within(X, sx, eps, backend, strict=True)
    ny_ = nb.count_within(Y, sy, eps, backend, strict=True)
    # grouped so that a constant x or y gives exactly 0 in floating point: (a - b) + (b - a)
    term = (_psi(k_eff.double()) - _psi(ny_.double() + 1)) + (psi_n - _psi(nx_.double() + 1))
    if variant == 2:
        term = torch.where(*_ksg2_terms(X, Y, P, joint, sx, sy, eps, idx, k, psi_n, backend), term)
    atoms, any_atoms = _atoms(eps)
    if any_atoms:  # the points sit on atoms: the digamma (Grassberger) plug-in term there
        disc = (_psi(_dups(P)) - _psi(_dups(Y))) + (psi_n - _psi(_dups(X)))
        term = torch.where(atoms, disc, term)
    return term.mean(-1)


def _ksg2_terms(
    X: Tensor,
    Y: Tensor,
    P: Tensor,
    joint: nb.Space,
    sx: nb.Space,
    sy: nb.Space,
    eps: Tensor,
    idx: Tensor,
    k: int,
    psi_n: float,
    backend: str,
) -> tuple[Tensor, Tensor]:
    """Variant 2 terms and where they apply (both rectangle sides positive)."""
    b = X.shape[0]
    rows = torch.arange(b, device=X.device).view(b, 1, 1)
    ex = nb.pair_distances(X.unsqueeze(2), X[rows, idx], sx).amax(-1)
    ey = nb.pair_distances(Y.unsqueeze(2), Y[rows, idx], sy).amax(-1)
    closed = nb.count_within(P, joint, eps, backend, strict=False)
    k_c = closed.clone()
    extra = closed > k  # more than k points in the closed ball: the rectangle spans all of them
    if bool(extra.any()):
        bq, iq = extra.nonzero(as_tuple=True)
        # the parts as columns of P (sx and sy index the columns of X and Y)
        parts = [nb.Space(joint.groups[:1], joint.metric), nb.Space(joint.groups[1:], joint.metric)]
        m, _ = nb.ball_max(P, joint, eps[bq, iq], parts, bq, iq)
        ex[bq, iq], ey[bq, iq] = m[:, 0], m[:, 1]
    nx2 = nb.count_within(X, sx, ex, backend, strict=False)
    ny2 = nb.count_within(Y, sy, ey, backend, strict=False)
    kc = k_c.double()
    term2 = (_psi(kc) - 1.0 / kc - _psi(ny2.double())) + (psi_n - _psi(nx2.double()))
    return (ex > 0) & (ey > 0), term2


def ksg_mutual_information(
    x: Tensor,
    y: Tensor,
    k: int = 3,
    *,
    variant: int = 1,
    metric: str = "chebyshev",
    standardize: bool = True,
    nonnegative: bool = False,
    base: float | str | None = math.e,
    reduction: str = "none",
    backend: str = "auto",
    validate: bool | None = None,
) -> Tensor:
    r"""Kraskov-Stögbauer-Grassberger estimate of :math:`I(X; Y)` from paired samples ``x`` (..., N, Dx), ``y`` (..., N, Dy).

    Variant 1 (default) [2]_:

    .. math:: \hat I = \psi(k) + \psi(N) - \langle \psi(n_x + 1) + \psi(n_y + 1) \rangle

    with :math:`\epsilon_i` the distance from point i to its k-th neighbour in the joint space,
    measured as the maximum of the two marginal norms, and :math:`n_x(i) = \#\{j \ne i :
    \|x_j - x_i\| < \epsilon_i\}` (strict). Variant 2 uses the k-neighbour rectangle:
    :math:`\psi(k) - 1/k + \psi(N) - \langle \psi(n_x) + \psi(n_y) \rangle` with closed counts.

    ``metric="chebyshev"`` (default, as in [2]_ and scikit-learn) is the max-norm inside each
    marginal too; ``"euclidean"`` is the Euclidean norm inside each marginal (the max across
    them stays): less biased in high dimension (see the table), but slower when a marginal has
    two or more columns: the joint search then runs on faiss (``backend="faiss"``, or ``"auto"``
    with faiss installed) or by brute force, and the marginal counts by brute force, O(N^2 D).
    ``standardize=True`` (default) divides every column by its standard deviation first (a
    constant column is left constant), as scikit-learn does. Exact ties survive it, but equal
    gaps between tied distances in the raw data may not survive the division's rounding, so
    rescaled copies of heavily tied data can differ in the third decimal. ``nonnegative=True`` clips the
    estimate at 0.

    **Ties**, exactly and without jitter: (i) counts are strict (scikit-learn's
    ``nextafter(eps, 0)``); (ii) where several points tie at the radius, one is taken as on the
    boundary and the others as just outside: :math:`\psi(k)` becomes :math:`\psi(k_i)`,
    :math:`k_i = 1 + \#\{j: d_{ij} < \epsilon_i\}` (``k`` on tie-free data), so a constant ``x``
    gives exactly 0; (iii) where :math:`\epsilon_i = 0` (k or more exact duplicates of the pair)
    the point sits on an atom and contributes the digamma plug-in term
    :math:`\psi(c_{xy}) + \psi(N) - \psi(c_x) - \psi(c_y)` of its duplicate counts (self
    included), the discrete limit in the spirit of [7]_. Variant 2 uses the variant-1 term at
    points whose rectangle has a zero side. The results are the same on every backend.

    Measured (nats; Beyond-Normal Gaussian tasks, N = 5000, k = 3, mean of 2 seeds; dense: every
    correlation 0.5, sparse: two pairs at 0.8; ``benchmarks/bench_knn.py accuracy``):

    ====================  =======  =========  =========  ================
    task (Dx x Dy)        truth    max-norm   Euclidean  gaussian copula
    ====================  =======  =========  =========  ================
    1 x 1, rho = 0.75     0.413    0.428      0.428      0.421
    dense 5 x 5           0.593    0.571      0.570      0.586
    dense 25 x 25         1.292    0.970      1.060      1.282
    sparse 25 x 25        1.022    0.121      0.207      1.019
    ====================  =======  =========  =========  ================

    A ``UserWarning`` is raised at a joint dimension Dx + Dy >= 20, where it is biased low, the more
    the higher the MI (-2.2 nats at 20 x 20 for a true 2.88 at N = 2000; -0.32 at dense 25 x 25
    in the table); use :func:`gaussian_copula_mutual_information` or
    :func:`mutual_information_continuous` there.

    Examples
    --------
    >>> import math, torch, infotorch.knn as knn
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(2000, 1, generator=g, dtype=torch.float64)
    >>> y = 0.8 * x + 0.6 * torch.randn(2000, 1, generator=g, dtype=torch.float64)   # rho = 0.8
    >>> round(float(knn.ksg_mutual_information(x, y)), 2), round(-0.5 * math.log(1 - 0.8**2), 2)
    (0.5, 0.51)
    """
    validate = v.resolve_validate(validate)
    variant = _check_choice(variant, "variant", (1, 2))
    metric = _check_choice(metric, "metric", nb.METRICS)
    reduction = v.check_reduction(reduction)
    x = _points(x, "x", validate)
    y = _points(y, "y", validate)
    _same_samples([("x", x), ("y", y)])
    k = _check_k(k, x.shape[-2], "x")
    _warn_dim("ksg_mutual_information", x.shape[-1] + y.shape[-1])
    (X, Y), _ = _rescaled(_flat(x, standardize), _flat(y, standardize))
    backend = nb.resolve_backend(backend, X)
    value = _ksg64(X, Y, k, variant, metric, backend)
    return _finish(value, x.shape[:-2], base, reduction, _out_dtype(x, y), nonnegative)


def ksg_conditional_mutual_information(
    x: Tensor,
    y: Tensor,
    z: Tensor,
    k: int = 3,
    *,
    metric: str = "chebyshev",
    standardize: bool = True,
    nonnegative: bool = False,
    base: float | str | None = math.e,
    reduction: str = "none",
    backend: str = "auto",
    validate: bool | None = None,
) -> Tensor:
    r"""Frenzel-Pompe estimate of :math:`I(X; Y \mid Z)` from paired samples of shape (..., N, D·) [3]_.

    .. math:: \hat I = \psi(k) - \langle \psi(n_{xz} + 1) + \psi(n_{yz} + 1) - \psi(n_z + 1) \rangle

    with the joint radius :math:`\epsilon_i` of the k-th neighbour in (x, y, z) and strict
    counts in the (x, z), (y, z) and z subspaces, distances the maximum of the marginal norms.
    Options and tie rules as :func:`ksg_mutual_information`; on atoms the term is
    :math:`\psi(c_{xyz}) - \psi(c_{xz}) - \psi(c_{yz}) + \psi(c_z)`. A constant ``x`` or ``y``
    gives exactly 0. Warns at a joint dimension of 20 and more.

    Examples
    --------
    >>> import torch, infotorch.knn as knn
    >>> g = torch.Generator().manual_seed(0)
    >>> z = torch.randn(2000, 1, generator=g, dtype=torch.float64)
    >>> x = z + 0.5 * torch.randn(2000, 1, generator=g, dtype=torch.float64)
    >>> y = z + 0.5 * torch.randn(2000, 1, generator=g, dtype=torch.float64)
    >>> abs(float(knn.ksg_conditional_mutual_information(x, y, z))) < 0.03   # truth: 0 (x, y independent given z)
    True
    """
    validate = v.resolve_validate(validate)
    metric = _check_choice(metric, "metric", nb.METRICS)
    reduction = v.check_reduction(reduction)
    x = _points(x, "x", validate)
    y = _points(y, "y", validate)
    z = _points(z, "z", validate)
    _same_samples([("x", x), ("y", y), ("z", z)])
    k = _check_k(k, x.shape[-2], "x")
    _warn_dim("ksg_conditional_mutual_information", x.shape[-1] + y.shape[-1] + z.shape[-1])
    (X, Y, Z), _ = _rescaled(_flat(x, standardize), _flat(y, standardize), _flat(z, standardize))
    backend = nb.resolve_backend(backend, X)
    dx, dy, dz = X.shape[2], Y.shape[2], Z.shape[2]
    P = torch.cat([X, Y, Z], dim=-1)
    eps, k_eff, _, _ = _joint_radius(P, nb.make_space((dx, dy, dz), metric), k, backend)
    n_xz = nb.count_within(torch.cat([X, Z], -1), nb.make_space((dx, dz), metric), eps, backend, strict=True)
    n_yz = nb.count_within(torch.cat([Y, Z], -1), nb.make_space((dy, dz), metric), eps, backend, strict=True)
    n_z = nb.count_within(Z, nb.make_space((dz,), metric), eps, backend, strict=True)
    term = (_psi(k_eff.double()) - _psi(n_yz.double() + 1.0)) + (_psi(n_z.double() + 1.0) - _psi(n_xz.double() + 1.0))
    atoms, any_atoms = _atoms(eps)
    if any_atoms:
        disc = (_psi(_dups(P)) - _psi(_dups(Y, Z))) + (_psi(_dups(Z)) - _psi(_dups(X, Z)))
        term = torch.where(atoms, disc, term)
    return _finish(term.mean(-1), x.shape[:-2], base, reduction, _out_dtype(x, y, z), nonnegative)


# --------------------------------------------------------------------------- mixed: Ross


def _class_codes(labels: Tensor) -> tuple[Tensor, Tensor]:
    """Dense per-row codes (B, N) and each point's class size (B, N)."""
    b = labels.shape[0]
    rows = torch.arange(b, device=labels.device).unsqueeze(1)
    _, codes = torch.unique(labels, return_inverse=True)
    key = rows * (int(codes.max()) + 1 if codes.numel() else 1) + codes
    _, inverse, counts = torch.unique(key, return_inverse=True, return_counts=True)
    return codes, counts[inverse]


def _within_class_kth(X: Tensor, codes: Tensor, sizes: Tensor, k: int, space: nb.Space, backend: str) -> Tensor:
    """(B, N, k) smallest distances to points of the same class (self excluded), inf-padded."""
    b, n, _ = X.shape
    if nb.searches_by_index(backend, space, n):
        out = torch.full((b, n, k), math.inf, dtype=torch.float64)
        for bi in range(b):
            for c in torch.unique(codes[bi]).tolist():
                members = (codes[bi] == c).nonzero(as_tuple=True)[0]
                kc = min(k, members.numel() - 1)
                if kc < 1:
                    continue
                pts = X[bi, members].unsqueeze(0)
                vals, _ = nb.kth_neighbors(pts, pts, space, kc, backend, exclude_self=True)
                out[bi, members, :kc] = vals[0]
        return out
    bq, iq = nb._all_queries(b, n, X.device)
    vals, _ = nb.kth_neighbors_subset(X, X, bq, iq, space, k, exclude_self=True, query_codes=codes, ref_codes=codes)
    return vals.reshape(b, n, k)


def knn_mutual_information_discrete(
    x: Tensor,
    labels: Tensor,
    k: int = 3,
    *,
    metric: str = "euclidean",
    standardize: bool = True,
    nonnegative: bool = False,
    base: float | str | None = math.e,
    reduction: str = "none",
    backend: str = "auto",
    validate: bool | None = None,
) -> Tensor:
    r"""Ross's estimate of :math:`I(X; L)` between continuous ``x`` (..., N, D) and integer ``labels`` (..., N) [5]_.

    .. math:: \hat I = \psi(N) + \langle \psi(k_i) \rangle - \langle \psi(N_{L_i}) \rangle - \langle \psi(m_i) \rangle

    with :math:`d_i` the distance from :math:`x_i` to its :math:`k_i`-th neighbour of the same
    class, :math:`k_i = \min(k, N_{L_i} - 1)`, and :math:`m_i` the number of points of any class
    strictly within :math:`d_i`, self included. As scikit-learn's ``mutual_info_classif``,
    points of a class of one are left out (N counts the others) and no estimate is clipped
    unless ``nonnegative=True``. ``metric="euclidean"`` (default, as scikit-learn) or
    ``"chebyshev"``; ``standardize=True`` scales every column to unit variance.

    **Ties.** Strict counts; several same-class points tied at :math:`d_i`: one on the
    boundary, :math:`k_i \to 1 + \#\{\text{same class}: d < d_i\}`; :math:`d_i = 0`: the
    plug-in term :math:`\psi(N) + \psi(c_{xL}) - \psi(N_L) - \psi(c_x)` of exact-duplicate
    counts. A constant ``x`` gives exactly 0 at every N (scikit-learn's jitter gives 0.21 nats
    at N = 10^6 with 100 positives, scikit-learn#30772).

    Examples
    --------
    >>> import torch, infotorch.knn as knn
    >>> g = torch.Generator().manual_seed(0)
    >>> labels = torch.randint(0, 2, (4000,), generator=g)
    >>> x = labels + 0.5 * torch.randn(4000, generator=g, dtype=torch.float64)   # two Gaussians, 2 sd apart
    >>> round(float(knn.knn_mutual_information_discrete(x, labels)), 2)   # truth 0.3368 nats (quadrature)
    0.33
    >>> float(knn.knn_mutual_information_discrete(torch.zeros(4000), labels))   # a constant feature
    0.0
    """
    validate = v.resolve_validate(validate)
    metric = _check_choice(metric, "metric", nb.METRICS)
    reduction = v.check_reduction(reduction)
    x = _points(x, "x", validate)
    labels = v.ensure_tensor(labels, "labels")
    v.check_integer_samples(labels, "labels")
    if labels.shape != x.shape[:-1]:
        raise ValueError(
            f"labels must have shape {tuple(x.shape[:-1])} (one label per sample of x), got {tuple(labels.shape)}"
        )
    if labels.device != x.device:
        raise ValueError(f"x and labels must be on the same device, got {x.device} and {labels.device}")
    k = _check_k(k, x.shape[-2], "x")
    (X,), _ = _rescaled(_flat(x, standardize))
    backend = nb.resolve_backend(backend, X)
    b, n, d = X.shape
    codes, sizes = _class_codes(labels.reshape(b, n))
    valid = sizes > 1
    n_valid = valid.sum(-1)
    if bool((n_valid == 0).any()):
        raise ValueError("labels must have at least one class with two or more samples in every batch element")
    space = nb.make_space((d,), metric)
    k_i = torch.clamp(sizes - 1, min=1, max=k)
    vals = _within_class_kth(X, codes, sizes, k, space, backend)
    radius = torch.gather(vals, -1, (k_i - 1).unsqueeze(-1)).squeeze(-1)
    radius = torch.where(valid, radius, 0.0)
    in_ball = (vals < radius.unsqueeze(-1)) & (torch.arange(k, device=X.device) < k_i.unsqueeze(-1))
    k_eff = 1 + in_ball.sum(-1)
    masked = torch.where(valid.unsqueeze(-1), X, math.inf)
    m_i = 1 + nb.count_within(masked, space, radius, backend, strict=True)
    psi_n = _psi(n_valid.double()).unsqueeze(-1)
    term = (psi_n - _psi(m_i.double())) + (_psi(k_eff.double()) - _psi(sizes.double()))
    atoms = valid & (radius == 0)
    if bool(atoms.any()):
        c_xl = nb.duplicate_counts(masked, codes).double()
        c_x = nb.duplicate_counts(masked).double()
        term = torch.where(atoms, (psi_n - _psi(c_x)) + (_psi(c_xl) - _psi(sizes.double())), term)
    value = torch.where(valid, term, 0.0).sum(-1) / n_valid
    return _finish(value, x.shape[:-2], base, reduction, _out_dtype(x), nonnegative)


# --------------------------------------------------------------------------- Gaussian copula


def _normal_scores(X: Tensor) -> Tensor:
    """Per-column normal scores Phi^-1(r / (N + 1)) of the (average, for ties) ranks r."""
    n = X.shape[1]
    cols = X.transpose(1, 2).contiguous()  # (B, D, N)
    srt, _ = torch.sort(cols, dim=-1)
    below = torch.searchsorted(srt, cols, right=False)
    upto = torch.searchsorted(srt, cols, right=True)
    rank = (below + upto + 1).to(torch.float64) / 2.0
    return torch.special.ndtri(rank / (n + 1)).transpose(1, 2)


def _basis(X: Tensor) -> tuple[Tensor, Tensor]:
    """Orthonormal basis of the centred columns (zero columns beyond the numerical rank) and the rank.

    Each column is scaled to unit norm first (the span is the same), so the numerical rank does
    not depend on the columns' units: only constant and collinear columns fall out. A column is
    constant when its centred norm is within rounding of its raw magnitude (the centring residue
    of a constant 0.1 is about 1e-17, which unit scaling would otherwise blow up)."""
    n = X.shape[1]
    raw = torch.ldexp(X, -_pow2_exponent(X, (1,)))  # exact per column; keeps the norms finite
    Xc = raw - raw.mean(dim=1, keepdim=True)
    norm = torch.linalg.vector_norm(Xc, dim=1, keepdim=True)
    size = torch.linalg.vector_norm(raw, dim=1, keepdim=True)
    varies = norm > 4 * n * torch.finfo(X.dtype).eps * size
    Xc = torch.where(varies, Xc / torch.where(varies, norm, 1.0), 0.0)
    U, S, _ = torch.linalg.svd(Xc, full_matrices=False)
    tol = S.amax(-1, keepdim=True) * max(X.shape[1], X.shape[2]) * torch.finfo(X.dtype).eps
    keep = S > torch.clamp(tol, min=torch.finfo(X.dtype).tiny)
    return U * keep.unsqueeze(1), keep.sum(-1)


def _gaussian_mi64(X: Tensor, Y: Tensor, correction: bool) -> Tensor:
    n = X.shape[1]
    Ux, rx = _basis(X)
    Uy, ry = _basis(Y)
    rho = torch.linalg.svdvals(Ux.transpose(1, 2) @ Uy).clamp(0.0, 1.0)
    value = -0.5 * torch.log1p(-rho.square()).sum(-1)
    if correction:
        # E[Î] - I = 1/2 sum_{j <= ry} [psi((N - j)/2) - psi((N - rx - j)/2)]  (Wishart; ~ rx ry / 2N)
        j = torch.arange(1, int(ry.max()) + 1, device=X.device, dtype=torch.float64)
        on = j <= ry.unsqueeze(-1)
        a = torch.where(on, (n - j) / 2.0, 1.0)
        bb = torch.where(on, (n - rx.unsqueeze(-1) - j) / 2.0, 1.0)
        value = value - 0.5 * torch.where(on, _psi(a) - _psi(bb), 0.0).sum(-1)
    return value


def gaussian_copula_mutual_information(
    x: Tensor,
    y: Tensor,
    *,
    copula: bool = True,
    bias_correction: bool = True,
    nonnegative: bool = False,
    base: float | str | None = math.e,
    reduction: str = "none",
    validate: bool | None = None,
) -> Tensor:
    r"""Gaussian-copula (``copula=True``) or Gaussian (CCA) estimate of :math:`I(X; Y)`, for any dimension.

    Every column is replaced by its normal scores :math:`\Phi^{-1}(r/(N+1))` (average ranks for
    ties), then :math:`\hat I = -\frac12 \sum_i \log(1 - \hat\rho_i^2)` over the canonical
    correlations :math:`\hat\rho_i` between x and y [6]_. ``copula=False`` skips the ranks (the
    plain Gaussian/CCA estimate). ``bias_correction=True`` subtracts the exact expected excess
    of the plug-in estimate for Gaussian data,

    .. math:: \frac12 \sum_{j=1}^{D_y} \left[\psi\!\left(\tfrac{N-j}{2}\right) - \psi\!\left(\tfrac{N-D_x-j}{2}\right)\right] \approx \frac{D_x D_y}{2N},

    from :math:`E \log\det \hat\Sigma` of the Wishart distribution (the correction of [6]_),
    with D the numerical ranks (a constant column counts for nothing, and gives MI 0).

    Exact (up to the correction's sampling spread) for every distribution that is a monotone
    per-coordinate transform of a Gaussian, at any dimension: measured +0.00 nats at 20 x 20,
    N = 2000 (uncorrected +0.10). It sees only the dependence that the normal scores carry
    linearly, so it underestimates other copulas (Student-t, spirals); it is a lower bound on
    I for 1 x 1 pairs (among all copulas with these normal-score correlations the Gaussian has
    the least MI). Needs N > Dx + Dy.

    Examples
    --------
    >>> import math, torch, infotorch.knn as knn
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(2000, 20, generator=g, dtype=torch.float64)
    >>> y = 0.5 * x + torch.randn(2000, 20, generator=g, dtype=torch.float64)
    >>> round(float(knn.gaussian_copula_mutual_information(x.exp(), y)), 1), round(-10 * math.log(1 - 0.2), 1)
    (2.2, 2.2)
    """
    validate = v.resolve_validate(validate)
    reduction = v.check_reduction(reduction)
    x = _points(x, "x", validate)
    y = _points(y, "y", validate)
    _same_samples([("x", x), ("y", y)])
    n, dx, dy = x.shape[-2], x.shape[-1], y.shape[-1]
    if n <= dx + dy:
        raise ValueError(f"x and y need more samples than dimensions together (N > Dx + Dy = {dx + dy}), got N={n}")
    X, Y = _flat(x), _flat(y)
    if copula:
        X, Y = _normal_scores(X), _normal_scores(Y)
    value = _gaussian_mi64(X, Y, bias_correction)
    return _finish(value, x.shape[:-2], base, reduction, _out_dtype(x, y), nonnegative)


# --------------------------------------------------------------------------- "auto"

_ESTIMATORS = ("auto", "ksg", "ksg2", "ksg_euclidean", "gaussian_copula", "gaussian")


def mutual_information_continuous(
    x: Tensor,
    y: Tensor,
    *,
    estimator: str = "auto",
    k: int = 3,
    standardize: bool = True,
    nonnegative: bool = False,
    base: float | str | None = math.e,
    reduction: str = "none",
    backend: str = "auto",
    validate: bool | None = None,
) -> Tensor:
    r"""Mutual information of continuous samples with a choice of estimator, ``"auto"`` by default.

    ``estimator``: ``"ksg"`` (variant 1, max-norm), ``"ksg2"`` (variant 2), ``"ksg_euclidean"``
    (variant 1, Euclidean marginals), ``"gaussian_copula"``, ``"gaussian"`` (CCA on the raw
    values), or ``"auto"``:

    * joint dimension Dx + Dy >= 20: ``"gaussian_copula"`` (KSG is biased low there, by up to
      2 nats and more at high MI, and costs most);
    * otherwise the larger of ``"ksg"`` and ``"gaussian_copula"``, per batch element.

    Why the larger: where either fails, it fails low. KSG's bias is downward and grows with
    dimension and with the MI [2]_ (the table of :func:`ksg_mutual_information`); the copula
    estimate misses only non-Gaussian dependence, and is a lower bound for 1 x 1 pairs. Where
    both are right they agree within their spread; the maximum then adds about one spread of
    upward bias near independence (at I = 0: +0.015 nats at N = 2000, 1 x 1, measured).
    Measured on ten tasks re-created from the "Beyond Normal" benchmark (Czyż et al. 2023),
    N = 5000: within max(0.1 nat, 10 %) of the truth on 9 of 10, against 7 for KSG alone and 6
    for the copula alone (BENCHMARKS.md).

    Examples
    --------
    >>> import math, torch, infotorch.knn as knn
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(3000, 2, generator=g, dtype=torch.float64)
    >>> y = x + torch.randn(3000, 2, generator=g, dtype=torch.float64)   # rho^2 = 1/2 per pair
    >>> round(float(knn.mutual_information_continuous(x, y)), 2), round(math.log(2), 2)
    (0.68, 0.69)
    """
    validate = v.resolve_validate(validate)
    estimator = _check_choice(estimator, "estimator", _ESTIMATORS)
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"k must be a positive int, got {k!r}")
    if k < 1:
        raise ValueError(f"k must be a positive int, got {k}")
    if backend != "auto" and backend not in nb.BACKENDS:
        options = " | ".join(repr(b) for b in ("auto", *nb.BACKENDS))
        raise ValueError(f"backend must be one of {options}, got {backend!r}")
    common: dict[str, Any] = {"nonnegative": nonnegative, "base": base, "reduction": reduction, "validate": validate}
    ksg_opts: dict[str, Any] = {"k": k, "standardize": standardize, "backend": backend, **common}
    if estimator == "ksg":
        return ksg_mutual_information(x, y, **ksg_opts)
    if estimator == "ksg2":
        return ksg_mutual_information(x, y, variant=2, **ksg_opts)
    if estimator == "ksg_euclidean":
        return ksg_mutual_information(x, y, metric="euclidean", **ksg_opts)
    if estimator in ("gaussian_copula", "gaussian"):
        return gaussian_copula_mutual_information(x, y, copula=estimator == "gaussian_copula", **common)
    x = _points(x, "x", validate)
    y = _points(y, "y", validate)
    cop = gaussian_copula_mutual_information(x, y, **{**common, "reduction": "none", "base": None})
    if x.shape[-1] + y.shape[-1] >= KSG_WARN_DIM:
        value = cop.to(torch.float64)
    else:
        kk = {**ksg_opts, "reduction": "none", "base": None, "validate": False}
        value = torch.maximum(ksg_mutual_information(x, y, **kk).to(torch.float64), cop.to(torch.float64))
    return _finish(value, x.shape[:-2], base, v.check_reduction(reduction), _out_dtype(x, y), nonnegative)


# --------------------------------------------------------------------------- uncertainty


@dataclass(frozen=True)
class EstimateWithUncertainty:
    """An estimate with its standard error, a normal interval and an optional permutation baseline.

    ``estimate`` is the estimator on all the data (the same tensor the estimator returns);
    ``stderr`` the half-sampling standard error; ``interval`` = estimate ∓ z·stderr at
    ``confidence``; ``baseline`` the mean estimate with the second sample permuted (what the
    estimator reports for independent data of these marginals: subtract it to correct, or test
    against it) and ``p_value`` the permutation p-value ``(1 + #{perm >= estimate}) / (1 + P)``;
    both ``None`` without permutations.
    """

    estimate: Tensor
    stderr: Tensor
    interval: tuple[Tensor, Tensor]
    baseline: Tensor | None
    p_value: Tensor | None
    n_subsamples: int
    n_permutations: int


# which arguments are paired samples ("points": dim -2, or 0 if 1-D; "labels": dim -1),
# and which are a separate sample of their own size ("other")
_ROLES: dict[Callable[..., Tensor], tuple[str, ...]] = {
    knn_entropy: ("points",),
    ksg_mutual_information: ("points", "points"),
    ksg_conditional_mutual_information: ("points", "points", "points"),
    knn_kl_divergence: ("points", "other"),
    knn_mutual_information_discrete: ("points", "labels"),
    gaussian_copula_mutual_information: ("points", "points"),
    mutual_information_continuous: ("points", "points"),
}


def _sample_axis(t: Tensor, role: str) -> int:
    if role == "labels" or t.ndim == 1:
        return t.ndim - 1
    return t.ndim - 2


def estimate_with_uncertainty(
    estimator: Callable[..., Tensor],
    *samples: Tensor,
    n_subsamples: int = 20,
    n_permutations: int = 0,
    confidence: float = 0.95,
    generator: torch.Generator | None = None,
    **options: Any,
) -> EstimateWithUncertainty:
    r"""Run one of this module's estimators with a standard error and, optionally, a permutation baseline.

    ``estimate_with_uncertainty(ksg_mutual_information, x, y, k=5)`` returns an
    :class:`EstimateWithUncertainty`; the estimators themselves always return a tensor (one
    return type per function; this function is the one place that returns the richer object).

    **Standard error** by half-sampling, the delete-d jackknife with d = N/2 [8]_: the
    estimator is run on ``n_subsamples`` random halves (without replacement; paired samples
    keep their pairs, the two samples of :func:`knn_kl_divergence` are halved separately) and
    the standard error of the full-sample estimate is the standard deviation of the half-sample
    estimates. Resampling with replacement (the bootstrap) is not offered: its duplicates are
    exact ties, which a kNN estimator must treat as atoms.

    **Permutation baseline** (``n_permutations > 0``, estimators of dependence only): the
    second sample is permuted against the first; ``baseline`` is the mean of those estimates,
    ``p_value`` the fraction at or above the estimate. For conditional MI this permutes y
    against (x, z) together, a test of I(X, Z; Y) = 0 rather than of conditional independence.

    Randomness comes only from ``generator`` (a ``torch.Generator``; ``None`` means a fresh one
    seeded with 0, so that a call is reproducible).

    Examples
    --------
    >>> import torch, infotorch.knn as knn
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(1000, generator=g, dtype=torch.float64)
    >>> y = x + torch.randn(1000, generator=g, dtype=torch.float64)
    >>> r = knn.estimate_with_uncertainty(knn.ksg_mutual_information, x, y, n_permutations=20)
    >>> float(r.interval[0]) < 0.3466 < float(r.interval[1]), float(r.p_value) < 0.05  # truth ln(2)/2
    (True, True)
    """
    if estimator not in _ROLES:
        raise ValueError(f"estimator must be one of the estimators of infotorch.knn, got {estimator!r}")
    roles = _ROLES[estimator]
    if len(samples) != len(roles):
        raise ValueError(f"{estimator.__name__} takes {len(roles)} sample tensor(s), got {len(samples)}")
    tensors = [v.ensure_tensor(t, f"samples[{i}]") for i, t in enumerate(samples)]
    for name, value in (("n_subsamples", n_subsamples), ("n_permutations", n_permutations)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name} must be an int, got {value!r}")
    if n_subsamples < 2:
        raise ValueError(f"n_subsamples must be at least 2, got {n_subsamples}")
    if n_permutations < 0:
        raise ValueError(f"n_permutations must be non-negative, got {n_permutations}")
    if n_permutations and (len(roles) < 2 or roles[1] == "other"):
        raise ValueError(f"n_permutations needs an estimator of dependence, got {estimator.__name__}")
    if isinstance(confidence, bool) or not isinstance(confidence, numbers.Real):
        raise TypeError(f"confidence must be a number in (0, 1), got {confidence!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    gen = generator if generator is not None else torch.Generator().manual_seed(0)

    estimate = estimator(*tensors, **options)
    axes = [_sample_axis(t, r) for t, r in zip(tensors, roles, strict=True)]

    def perm(n: int) -> Tensor:
        return torch.randperm(n, generator=gen)

    halves = []
    for _ in range(n_subsamples):
        shared = perm(tensors[0].shape[axes[0]])
        picked = []
        for t, ax, role in zip(tensors, axes, roles, strict=True):
            idx = perm(t.shape[ax]) if role == "other" else shared
            idx = idx[: t.shape[ax] // 2].to(t.device)
            picked.append(t.index_select(ax, idx))
        halves.append(estimator(*picked, **options).to(torch.float64))
    stack = torch.stack(halves)
    stderr = stack.std(dim=0, correction=1).to(estimate.dtype)
    z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
    interval = (estimate - z * stderr, estimate + z * stderr)

    baseline = p_value = None
    if n_permutations:
        nulls = []
        for _ in range(n_permutations):
            t1 = tensors[1]
            idx = perm(t1.shape[axes[1]]).to(t1.device)
            shuffled = [tensors[0], t1.index_select(axes[1], idx), *tensors[2:]]
            nulls.append(estimator(*shuffled, **options).to(torch.float64))
        null = torch.stack(nulls)
        baseline = null.mean(0).to(estimate.dtype)
        exceed = (null >= estimate.to(torch.float64)).sum(0)
        p_value = ((1 + exceed).to(torch.float64) / (1 + n_permutations)).to(estimate.dtype)
    return EstimateWithUncertainty(estimate, stderr, interval, baseline, p_value, n_subsamples, n_permutations)
