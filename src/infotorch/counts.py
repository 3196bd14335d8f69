r"""Bias-corrected entropy and mutual information of discrete data, from counts.

The primitive is a tensor of counts ``n_1, ..., n_L`` along ``dim`` (any integer or floating
dtype; leading dimensions are independent rows, all computed in one vectorized call). With
``N = Σ n_k`` samples, ``m`` occupied categories, ``f_1`` singletons and ``f_2`` doubletons,
``estimator=`` chooses how the entropy of the distribution that generated the counts is
estimated; see ``docs/discrete_estimators.md`` for the formulas and the measured bias and RMSE
of each.

=================  ==========================================================  ========  ======  ===
estimator          formula (nats)                                              integers  smooth  K
=================  ==========================================================  ========  ======  ===
"plugin"           :math:`\log N - \frac1N \sum n_k \log n_k`                  no        yes     no
"miller-madow"     plug-in + :math:`(m - 1)/(2N)` [1]_                         no        yes     no
"jackknife"        :math:`N \hat H - \frac{N-1}{N}\sum_k n_k \hat H_{-k}` [2]_  yes       no      no
"grassberger"      :math:`\log N - \frac1N \sum n_k G(n_k)` [3]_ (eq. 35)      yes       no      no
"chao-shen"        coverage-adjusted Horvitz-Thompson [4]_                     yes       no      no
"james-stein"      plug-in of the shrinkage frequencies [5]_                   no        yes     yes
"zhang"            :math:`\sum \frac{n_k}N (\psi(N) - \psi(n_k))` [6]_         yes       no      no
"bonachela"        :math:`\frac{1}{N+2}\sum (n_k+1)(\psi(N+3)-\psi(n_k+2))` [7]_ no        yes     no
"chao-wang-jost"   Zhang's sum + a singleton/doubleton tail term [8]_          yes       no      no
"nsb"              posterior mean under the NSB prior [9]_                     no        yes     yes
"auto"             the rule below                                              yes       no      yes
=================  ==========================================================  ========  ======  ===

*integers*: the estimator reads the counts as integers (singletons, leave-one-out, parity);
float counts must then hold whole numbers (checked when ``validate=True``). *smooth*: the
value is a differentiable function of float counts (gradients flow to ``counts``).
*K*: the estimator depends on the alphabet size ``K`` (``num_categories=``).

**The alphabet size.** ``num_categories=None`` (the default) means ``K`` is unknown: appending
zero counts then never changes a result. "james-stein" shrinks towards the uniform distribution
on the ``m`` observed categories, and "nsb" takes ``K = 100 m`` (a generous alphabet: on
the benchmark distributions, 20 draws each, its estimate moves by at most 0.01 nats between
100 m and 10^12 for N >= 100, except Dirichlet-sampled K = 1000 at N = 100 and 300: up to 0.09
and 0.016; ``K = m`` would assume that nothing is unseen). ``num_categories=K``
declares ``K - m`` unobserved categories (``K >= m`` is required); only "james-stein", "nsb"
and "auto" use it.

**The "auto" rule** (chosen from the measurements in ``benchmarks/bench_counts.py``, see
``docs/discrete_estimators.md``): with ``K`` given, "nsb" with that ``K`` (the lowest RMSE on
Dirichlet-sampled distributions); with ``K`` unknown, the mean of "chao-wang-jost" and "nsb"
(``K = 100 m``). Chao-Wang-Jost is low on heavy-tailed distributions where NSB with a large
alphabet is close or high, and the mean had an RMSE at most that of either in almost every
measured case (Zipf and Dirichlet, K = 10 ... 1000, N = 30 ... 10^5). It needs integer counts.

**Exact cases.** ``num_categories=1``, or (``K`` unknown) a row with at most one observed
category, gives exactly 0 for every estimator (with ``K`` unknown nothing in the counts shows a
second category, and appending zero counts changes nothing). A row of zeros (no data) raises :class:`ValueError` (with ``validate=False`` it
gives 0). No estimator returns NaN for valid counts.

Mutual information and conditional entropy are sums of entropies of the joint table and its
marginals, each estimated with the same estimator (that is how these estimators are defined
for MI; none of them is guaranteed non-negative).

References
----------
.. [1] G. A. Miller, "Note on the bias of information estimates", in *Information Theory in
       Psychology*, 1955, pp. 95-100.
.. [2] S. Zahl, "Jackknifing an index of diversity", *Ecology* 58(4), 1977, 907-913.
       https://doi.org/10.2307/1936227
.. [3] P. Grassberger, "Entropy estimates from insufficient samplings", 2003 (rev. 2008).
       https://doi.org/10.48550/arXiv.physics/0307138
.. [4] A. Chao and T.-J. Shen, "Nonparametric estimation of Shannon's index of diversity when
       there are unseen species in sample", *Environ. Ecol. Stat.* 10, 2003, 429-443.
       https://doi.org/10.1023/A:1026096204727
.. [5] J. Hausser and K. Strimmer, "Entropy inference and the James-Stein estimator, with
       application to nonlinear gene association networks", *JMLR* 10, 2009, 1469-1484.
       https://doi.org/10.48550/arXiv.0811.3579
.. [6] Z. Zhang, "Entropy estimation in Turing's perspective", *Neural Comput.* 24(5), 2012,
       1368-1389. https://doi.org/10.1162/NECO_a_00266
.. [7] J. A. Bonachela, H. Hinrichsen and M. A. Muñoz, "Entropy estimates of small data
       sets", *J. Phys. A* 41(20), 2008, 202001. https://doi.org/10.1088/1751-8113/41/20/202001
.. [8] A. Chao, Y. T. Wang and L. Jost, "Entropy and the species accumulation curve: a novel
       entropy estimator via discovery rates of new species", *Methods Ecol. Evol.* 4(11),
       2013, 1091-1100. https://doi.org/10.1111/2041-210X.12108
.. [9] I. Nemenman, F. Shafee and W. Bialek, "Entropy and inference, revisited", *NeurIPS* 14,
       2002. https://doi.org/10.48550/arXiv.physics/0108025
.. [10] D. H. Wolpert and D. R. Wolf, "Estimating functions of probability distributions from a
       finite set of samples", *Phys. Rev. E* 52(6), 1995, 6841.
       https://doi.org/10.1103/PhysRevE.52.6841
.. [11] B. Efron and C. Stein, "The jackknife estimate of variance", *Ann. Statist.* 9(3),
       1981, 586-596. https://doi.org/10.1214/aos/1176345462
"""

from __future__ import annotations

import functools
import math
import numbers
import statistics
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from . import _numerics as nx
from . import _validation as v

__all__ = [
    "ENTROPY_ESTIMATORS",
    "EntropyEstimate",
    "MutualInformationEstimate",
    "conditional_entropy_from_counts",
    "counts_from_samples",
    "entropy_estimate_from_counts",
    "entropy_from_counts",
    "mutual_information_estimate_from_counts",
    "mutual_information_from_counts",
]

_F64 = torch.float64


# --------------------------------------------------------------------------- per-row statistics


@dataclass(frozen=True)
class _Stats:
    """Row statistics of a ``(B, L)`` float64 count matrix: ``N``, ``m``, ``K`` and ``K - m``."""

    n: Tensor
    m: Tensor
    k: Tensor
    k0: Tensor
    given: bool  # whether K was given (else k = m)
    # multiplicity of each entry of ``c`` (None: each entry is one category). With weights the
    # rows are fingerprints: entry j stands for w_j categories of count c_j (see _compact).
    w: Tensor | None = None

    @staticmethod
    def of(c: Tensor, num_categories: Tensor | None, w: Tensor | None = None) -> _Stats:
        n = c.sum(-1) if w is None else (w * c).sum(-1)
        m = (c > 0).sum(-1).to(_F64) if w is None else torch.where(c > 0, w, 0.0).sum(-1)
        if num_categories is None:
            return _Stats(n, m, m, torch.zeros_like(m), False, w)
        return _Stats(n, m, num_categories, num_categories - m, True, w)


def _total(st: _Stats, term: Tensor) -> Tensor:
    """``Σ_k term_k`` over the categories of each row (entries weighted by their multiplicity)."""
    return term.sum(-1) if st.w is None else (st.w * term).sum(-1)


def _compact(
    c: Tensor, checked: bool = False, distinct: bool = False, bounds: list[float] | None = None
) -> tuple[Tensor, Tensor] | None:
    """The fingerprint of each row of whole-number counts: ``(values, multiplicities)``, each
    ``(B, D)``, entry ``j`` standing for ``multiplicities[:, j]`` categories of count
    ``values[:, j]``; ``None`` where that would not be smaller than ``c``, autograd records, or
    the counts are not whole numbers (``checked``: the caller has verified that they are).

    Every estimator is a function of the multiset of counts, so evaluating it on the distinct
    values weighted by their multiplicities gives the same value with one special-function call
    per distinct count instead of one per category. One ``scatter_add`` over ``0..max`` (no sort
    of the counts): ``D = max + 1``, the value ``v`` in column ``v``. ``distinct=True`` (for the
    costly estimators) packs each row's occupied values first, so ``D`` is the largest number of
    distinct counts of a row. ``bounds``: the counts' minimum and maximum, if known.
    """
    if nx.needs_grad(c) or c.numel() < 4096 or c.shape[0] < 2:
        return None
    lo, hi = bounds if bounds else (float(t) for t in torch.aminmax(c))
    if not (lo >= 0 and math.isfinite(hi)):
        return None  # negative or non-finite counts only reach here with the checks off
    top = int(hi)
    b = c.shape[0]
    if 2 * (top + 1) > c.shape[-1] or b * (top + 1) > 4 * c.numel():
        return None
    fp = torch.zeros(b, top + 1, dtype=_F64, device=c.device)
    fp.scatter_add_(1, c.long(), torch.ones((), dtype=_F64, device=c.device).expand(c.shape))
    values = torch.arange(top + 1, dtype=_F64, device=c.device).expand(b, -1)
    if not checked:
        # c >= 0, so trunc(c) <= c entrywise: the fingerprint's totals (exact in float64) equal
        # the rows' totals only if every count is whole (fractions below ~1e-10 of a row's total
        # are lost to rounding and would be truncated)
        if not torch.equal(fp @ values[0], c.sum(-1)):
            return None
    fp[:, 0] = 0
    occupied = fp > 0
    if distinct:
        d = max(1, int(occupied.sum(-1).max()))
        # the distinct values of each row first (stable: increasing), then the empty ones
        order = torch.argsort((~occupied).to(torch.int8), dim=-1, stable=True)[:, :d]
        fp, occupied, values = fp.gather(1, order), occupied.gather(1, order), order.to(_F64)
    # a value no count of this row takes (multiplicity 0) reads as an empty cell: it could
    # exceed the row's total (a NaN in Chao-Shen's 1 - (1 - p)^N)
    return torch.where(occupied, values, 0.0), fp


def _safe(x: Tensor, ok: Tensor, fill: float = 1.0) -> Tensor:
    """``x`` where ``ok``, ``fill`` elsewhere (keeps masked branches free of inf/NaN gradients)."""
    return torch.where(ok, x, fill)


def _sum_occupied(c: Tensor, term: Tensor, st: _Stats) -> Tensor:
    """``Σ_k term_k`` over the occupied cells ``c_k > 0`` of each row."""
    return _total(st, torch.where(c > 0, term, 0.0))


# --------------------------------------------------------------------------- the estimators


def _tabulated(fn: Callable[[Tensor], Tensor], c: Tensor) -> Tensor:
    """``fn(c)`` elementwise for whole-number counts, evaluated once per value ``0..max(c)``.

    A lookup table and a gather instead of ``c.numel()`` special-function calls (the counts of a
    batch repeat the same small integers). Used where autograd does not record and the table is
    no larger than the counts.
    """
    top = int(c.max()) if c.numel() else 0
    if nx.needs_grad(c) or top + 1 > max(1024, c.numel()):
        return fn(c)
    table = fn(torch.arange(top + 1, dtype=c.dtype, device=c.device))
    return table[c.long()]


def _plugin(c: Tensor, st: _Stats) -> Tensor:
    n = _safe(st.n, st.n > 0)
    return torch.log(n) - _total(st, nx.plogp(c)) / n


def _miller_madow(c: Tensor, st: _Stats) -> Tensor:
    n = _safe(st.n, st.n > 0)
    return _plugin(c, st) + (st.m - 1).clamp_min(0) / (2 * n)


def _jackknife(c: Tensor, st: _Stats) -> Tensor:
    # N·H - (N-1)·mean over the N samples of the leave-one-out plug-in [2]. Leaving a sample of
    # cell k out gives log(N-1) - (S - n_k log n_k + (n_k-1) log(n_k-1)) / (N-1); summed in closed
    # form this is H - (N-1) log(1 - 1/N) + Σ_k (n_k/N)(n_k - 1) log(1 - 1/n_k), which has no
    # cancellation (the direct N·H - (N-1)·mean loses every digit by N ~ 1e16).
    n = st.n
    big = n > 1
    n_safe = _safe(n, big)
    c_big = c > 1
    term = torch.where(c_big, (c - 1) * torch.log1p(-1.0 / _safe(c, c_big, 2.0)), 0.0)
    value = _plugin(c, st) - (n - 1) * torch.log1p(-1.0 / n_safe) + _sum_occupied(c, c * term, st) / n_safe
    return torch.where(big, value, 0.0)


def _grassberger_g(x: Tensor) -> Tensor:
    """Grassberger's G(n) = ψ(n) + ½(-1)^n (ψ((n+1)/2) - ψ(n/2)) for integers n >= 1 [3, eq. 35]."""
    sign = 1.0 - 2.0 * torch.remainder(x, 2.0)
    return torch.digamma(x) + 0.5 * sign * (torch.digamma((x + 1) / 2) - torch.digamma(x / 2))


def _grassberger(c: Tensor, st: _Stats) -> Tensor:
    n = _safe(st.n, st.n > 0)
    ng = _tabulated(lambda x: torch.where(x > 0, x * _grassberger_g(_safe(x, x > 0)), 0.0), c)
    return torch.log(n) - _total(st, ng) / n


def _chao_shen(c: Tensor, st: _Stats) -> Tensor:
    # coverage C = 1 - f1/N (f1 = N is replaced by N - 1 so that C > 0), p = C n/N,
    # H = -Σ p log p / (1 - (1-p)^N) [4]
    n = _safe(st.n, st.n > 0)
    f1 = _total(st, (c == 1).to(_F64))
    f1 = torch.where(f1 >= n, n - 1, f1)
    cov = 1 - f1 / n
    p = cov.unsqueeze(-1) * c / n.unsqueeze(-1)
    occ = c > 0
    p_safe = _safe(p, occ, 0.5)
    below = p_safe < 1  # p = 1 (every count in one category, no singletons): inclusion probability 1
    incl = torch.where(
        below, -torch.expm1(n.unsqueeze(-1) * torch.log1p(-torch.where(below, p_safe, 0.5))), 1.0
    )  # 1 - (1-p)^N
    return -_sum_occupied(c, p_safe * torch.log(p_safe) / incl, st)


def _james_stein(c: Tensor, st: _Stats) -> Tensor:
    # shrink u = n/N towards t = 1/K with λ = (1 - Σu²) / ((N-1) Σ(t-u)²), clipped to [0, 1] [5]
    n = _safe(st.n, st.n > 0)
    k = _safe(st.k, st.k > 0)
    u = c / n.unsqueeze(-1)
    t = (1 / k).unsqueeze(-1)
    occ = c > 0
    msp = _sum_occupied(c, (t - u) ** 2, st) + st.k0 / k**2
    num = 1 - _sum_occupied(c, u * u, st)
    den = (st.n - 1) * msp
    ok = den > 0
    lam = torch.where(ok, num / _safe(den, ok), 1.0).clamp(0.0, 1.0)
    p = lam.unsqueeze(-1) * t + (1 - lam.unsqueeze(-1)) * u
    h_obs = -_total(st, torch.where(occ, nx.plogp(p), 0.0))
    p0 = lam / k
    return h_obs - st.k0 * nx.plogp(p0)


def _zhang_sum(c: Tensor, st: _Stats) -> Tensor:
    # Zhang's Σ_v (1/v) Σ_k (n_k/N) Π_{j<v} (1 - (n_k-1)/(N-1-j)) equals Σ_k (n_k/N)(ψ(N) - ψ(n_k))
    # (the inner sum over v telescopes to the harmonic difference H_{N-1} - H_{n_k-1}) [6]
    n = _safe(st.n, st.n > 0)
    n_dig = _tabulated(lambda x: torch.where(x > 0, x * torch.digamma(_safe(x, x > 0)), 0.0), c)
    return torch.digamma(n) - _total(st, n_dig) / n


def _bonachela(c: Tensor, st: _Stats) -> Tensor:
    # 1/(N+2) Σ_k (n_k+1) Σ_{j=n_k+2}^{N+2} 1/j over the observed categories, the inner sum
    # being ψ(N+3) - ψ(n_k+2) [7]
    top = torch.digamma(st.n + 3).unsqueeze(-1)
    return _sum_occupied(c, (c + 1) * (top - torch.digamma(c + 2)), st) / (st.n + 2)


@functools.lru_cache(maxsize=8)
def _legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.legendre.leggauss(n)
    return x, w


def _gauss_legendre(a: Tensor, b: Tensor, n: int) -> tuple[Tensor, Tensor]:
    """Nodes and weights of the ``n``-point Gauss-Legendre rule on ``[a, b]`` (per row)."""
    x, w = _legendre(n)
    xt = torch.as_tensor(x, dtype=_F64, device=a.device)
    wt = torch.as_tensor(w, dtype=_F64, device=a.device)
    half = ((b - a) / 2).unsqueeze(-1)
    mid = ((a + b) / 2).unsqueeze(-1)
    return mid + half * xt, half * wt


def _cwj_tail_sum(z: Tensor, n: Tensor) -> Tensor:
    """``T(z, N) = Σ_{s>=0} z^s / (N + s)`` for ``0 <= z < 1``, ``N >= 1``.

    Chao-Wang-Jost's ``(1-A)^{1-N} [-log A - Σ_{r<N} (1-A)^r / r]`` is ``z·T`` with ``z = 1 - A``;
    the closed form overflows and cancels for large ``N``. ``T = ∫_0^1 (1-w)^{N-1} / (A + z w) dw``,
    integrated in ``s = log w`` (a smooth plateau between ``log A`` and ``-log N``) with 160-point
    Gauss-Legendre: relative error below 1e-10 (tested against mpmath).
    """
    a = 1 - z
    log_a = torch.log(_safe(a, a > 0))
    lo = torch.minimum(log_a, -torch.log(n)) - 40.0
    hi = torch.clamp(torch.log(60.0 / n), max=0.0)
    s, w = _gauss_legendre(lo, hi, 160)
    es = s.exp()
    log_f = s + (n - 1).unsqueeze(-1) * torch.log1p(-es) - torch.log(a.unsqueeze(-1) + z.unsqueeze(-1) * es)
    return (w * log_f.exp()).sum(-1)


def _chao_wang_jost(c: Tensor, st: _Stats) -> Tensor:
    n = st.n
    f1 = _total(st, (c == 1).to(_F64))
    f2 = _total(st, (c == 2).to(_F64))
    a = torch.where(
        f2 > 0,
        2 * f2 / _safe((n - 1) * f1 + 2 * f2, f2 > 0),
        torch.where(f1 > 0, 2 / _safe((n - 1) * (f1 - 1) + 2, f1 > 0), 1.0),
    )
    z = (1 - a).clamp(0.0, 1.0)
    has_tail = (f1 > 0) & (z > 0)
    nn = _safe(n, n > 0)
    tail = f1 / nn * z * _cwj_tail_sum(torch.where(has_tail, z, 0.5), nn)
    return _zhang_sum(c, st) + torch.where(has_tail, tail, 0.0)


# --------------------------------------------------------------------------- NSB


def _log_rising(x: Tensor, b: Tensor) -> Tensor:
    """``lgamma(b + x) - lgamma(b)`` for ``x >= 0``, ``b > 0``, accurate also for large ``b``.

    For ``b >= 10`` the difference of two Stirling series (terms to ``x^-5``; error < 1e-10),
    written so that no large numbers cancel; below, ``lgamma`` directly.
    """
    big = b >= 10
    # one branch only where every b of the call is on one side (the same values: where selects)
    any_big, all_big = bool(big.any()), bool(big.all())
    if not any_big:
        return torch.lgamma(x + b) - torch.lgamma(b)
    bs = _safe(b, big, 10.0)
    xs = x + bs

    def corr(y: Tensor) -> Tensor:  # 1/(12y) - 1/(360y³) + 1/(1260y⁵) with one division
        r = y.reciprocal()
        r2 = r * r
        return r * (1 / 12 - r2 * (1 / 360 - r2 * (1 / 1260)))

    stirling = (bs - 0.5) * torch.log1p(x / bs) + x * (torch.log(xs) - 1) + corr(xs) - corr(bs)
    if all_big:
        return stirling
    bd = _safe(b, ~big, 1.0)
    direct = torch.lgamma(x + bd) - torch.lgamma(bd)
    return torch.where(big, stirling, direct)


def _dxi(beta: Tensor, k: Tensor) -> Tensor:
    """``dξ/dβ = K ψ₁(Kβ + 1) - ψ₁(β + 1)`` of the NSB prior mean ``ξ(β) = ψ(Kβ+1) - ψ(β+1)``.

    Above β = 50 the two trigammas cancel; the asymptotic series of their difference is used.
    """
    big = beta > 50
    bs = _safe(beta, big, 50.0)
    series = (
        (1 - 1 / k) / (2 * bs**2) - (1 - k**-2) / (6 * bs**3) + (1 - k**-4) / (30 * bs**5) - (1 - k**-6) / (42 * bs**7)
    )
    bd = _safe(beta, ~big, 1.0)
    direct = k * torch.special.polygamma(1, k * bd + 1) - torch.special.polygamma(1, bd + 1)
    return torch.where(big, series, direct)


def _fingerprint(c: Tensor) -> tuple[Tensor, Tensor]:
    """Distinct count values of each row and their multiplicities, ``(B, D)`` each.

    Every estimator is a function of the multiset of counts, so NSB evaluates its integrand once
    per distinct value (at most about ``sqrt(2N)`` of them) instead of once per category. With
    autograd recording, the counts are kept as they are (multiplicity 1) so that each category
    receives its own gradient.
    """
    if nx.needs_grad(c):
        return c, (c > 0).to(c.dtype)
    s = c.sort(-1, descending=True).values
    start = torch.ones_like(s, dtype=torch.bool)
    start[:, 1:] = s[:, 1:] != s[:, :-1]
    gid = start.long().cumsum(-1) - 1
    d = int(gid.max()) + 1 if gid.numel() else 1
    vals = torch.zeros(s.shape[0], d, dtype=s.dtype, device=s.device).scatter(1, gid, s)
    mult = torch.zeros_like(vals).scatter_add(1, gid, torch.ones_like(s))
    mult = torch.where(vals > 0, mult, 0.0)
    return vals, mult


_T_LO, _T_HI, _T_COARSE, _ZOOM = -30.0, 30.0, 31, 6
#: log K from which the coarse grid is extended downwards (its spacing stays 2), to -20 - log K.
#: Where one category holds every count the evidence is flat for K·β << 1 and the posterior
#: density in t decays only like K·e^t below t = -log K, so the grid must reach e^-20 below that.
_T_SHIFT_FROM = 10.0
#: The trapezoidal rule in t = log β on mode ± _SPAN σ (within the e^-40 bracket), _NT nodes
#: (fewer lose the 1e-6 agreement with direct integration on broad posteriors: with 50 nodes
#: [7, 1] with K = 2 is 1e-5 off, with 40 nodes [1, 1, 1] with K = 100 is 5e-6 off).
_SPAN, _NT = 30.0, 64


def _nsb_log_post(t: Tensor, vals: Tensor, mult: Tensor, n: Tensor, k: Tensor) -> Tensor:
    """Log posterior density of ``t = log β`` under the NSB prior, up to a per-row constant.

    ``log P(n | β) + log(β dξ/dβ)`` with the Dirichlet-multinomial evidence
    ``Γ(Kβ)/Γ(N+Kβ) Π_k Γ(n_k+β)/Γ(β)`` [9, eq. 6-10]. ``t`` is ``(B, T)``.
    """
    beta = t.exp()
    occ = (vals > 0).unsqueeze(1)
    lr = _log_rising(vals.unsqueeze(1), beta.unsqueeze(-1))
    # Σ_values mult · lr as one batched product (empty cells: value 0, where lr is exactly 0)
    weights = torch.where(occ, mult.unsqueeze(1), 0.0).transpose(1, 2)
    evidence = torch.bmm(lr, weights).squeeze(-1) - _log_rising(n.unsqueeze(-1), k.unsqueeze(-1) * beta)
    return evidence + t + torch.log(_dxi(beta, k.unsqueeze(-1)))


def _nsb_moments(
    t: Tensor, vals: Tensor, mult: Tensor, n: Tensor, k0: Tensor, second: bool = True
) -> tuple[Tensor, Tensor | None]:
    """Posterior ``E[H | n, β]`` and ``E[H² | n, β]`` of a Dirichlet(β) prior at ``β = e^t`` [10].

    With ``α_k = n_k + β``, ``A = N + Kβ``: ``E[H] = ψ(A+1) - Σ α_k/A ψ(α_k+1)`` and
    ``E[H²] = [Σ_{i≠k} α_i α_k I_ik + Σ_k α_k(α_k+1) J_k] / (A(A+1))`` with
    ``I_ik = D_i D_k - ψ₁(A+2)``, ``D_k = ψ(α_k+1) - ψ(A+2)``,
    ``J_k = (ψ(α_k+2) - ψ(A+2))² + ψ₁(α_k+2) - ψ₁(A+2)``. The ``K - m`` unobserved categories
    enter with ``α = β`` and multiplicity ``k0``.
    """
    beta = t.exp()  # (B, T)
    occ = (vals > 0).unsqueeze(1)
    w = torch.where(occ, mult.unsqueeze(1), 0.0)  # (B, 1, D)
    alpha = vals.unsqueeze(1) + beta.unsqueeze(-1)  # (B, T, D)
    kk = k0.unsqueeze(-1)
    big_a = n.unsqueeze(-1) + (k0.unsqueeze(-1) + w.sum(-1)) * beta  # N + Kβ
    psi = torch.digamma
    tri = functools.partial(torch.special.polygamma, 1)
    # E[H]
    e1 = psi(big_a + 1) - ((w * alpha * psi(alpha + 1)).sum(-1) + kk * beta * psi(beta + 1)) / big_a
    if not second:  # the mean only: one digamma per node and value instead of six special functions
        return e1, None
    # E[H²]
    pa2 = psi(big_a + 2)
    ta2 = tri(big_a + 2)
    d_occ = psi(alpha + 1) - pa2.unsqueeze(-1)
    d_0 = psi(beta + 1) - pa2
    s1 = (w * alpha * d_occ).sum(-1) + kk * beta * d_0
    s2 = (w * (alpha * d_occ) ** 2).sum(-1) + kk * (beta * d_0) ** 2
    sum_a2 = (w * alpha**2).sum(-1) + kk * beta**2
    j_occ = (psi(alpha + 2) - pa2.unsqueeze(-1)) ** 2 + tri(alpha + 2) - ta2.unsqueeze(-1)
    j_0 = (psi(beta + 2) - pa2) ** 2 + tri(beta + 2) - ta2
    diag = (w * alpha * (alpha + 1) * j_occ).sum(-1) + kk * beta * (beta + 1) * j_0
    e2 = (s1 * s1 - s2 - ta2 * (big_a**2 - sum_a2) + diag) / (big_a * (big_a + 1))
    return e1, e2


def _nsb_nodes(vals: Tensor, mult: Tensor, n: Tensor, k: Tensor) -> tuple[Tensor, Tensor]:
    """Quadrature nodes in ``t = log β`` and their log-weights, placed around the posterior mode.

    A coarse grid on ``[-30, 30]`` (spacing 2; extended downwards to ``-20 - log K`` for
    ``K > e^10``: the posterior's left tail decays like ``K β`` below ``K β = 1``) brackets the region within
    ``e^-40`` of the maximum; six passes of parabolic interpolation locate the mode (to ~1e-3 or better), the
    curvature there gives the width ``σ``; then the trapezoidal rule with 64 nodes covers
    ``mode ± 30σ`` cut to the bracket. For
    a smooth, rapidly decaying integrand the trapezoidal rule converges geometrically in the
    node spacing (Trefethen & Weideman, *SIAM Rev.* 56(3), 2014, https://doi.org/10.1137/130932132):
    the posterior moments agree to about 5e-7 with a 400 001-point reference integral over
    ``t`` in [-40, 40] (worst of the cases checked: K = 2 or 10, N = 1).
    """
    b = vals.shape[0]
    dev = vals.device
    spacing = (_T_HI - _T_LO) / (_T_COARSE - 1)
    extra = (k.log() - _T_SHIFT_FROM).clamp_min(0.0)  # per row: how far below -30 the posterior may lie
    steps = math.ceil(float(extra.max()) / spacing) if extra.numel() else 0
    n_coarse = _T_COARSE + steps
    lo0 = _T_LO - spacing * torch.ceil(extra / spacing)
    grid = lo0.unsqueeze(-1) + spacing * torch.arange(n_coarse, dtype=_F64, device=dev)
    lp = _nsb_log_post(grid, vals, mult, n, k)
    lmax, j = lp.max(-1)
    idx = torch.arange(n_coarse, device=dev).expand(b, -1)
    below = lp < lmax.unsqueeze(-1) - 40.0
    left = torch.where(below & (idx < j.unsqueeze(-1)), idx, 0).amax(-1)
    right = torch.where(below & (idx > j.unsqueeze(-1)), idx, n_coarse - 1).amin(-1)
    a_c = grid.gather(1, left.unsqueeze(-1)).squeeze(-1)
    b_c = grid.gather(1, right.unsqueeze(-1)).squeeze(-1)
    center = grid.gather(1, j.unsqueeze(-1)).squeeze(-1)
    # the mode by successive parabolas through (c - d, c, c + d), d shrinking 4x a pass from
    # half the coarse spacing (the vertex clipped to [c - d, c + d]; where the three points are
    # not concave, the best of them): 3 evaluations a pass, exact for a Gaussian posterior in t
    d = torch.full_like(center, 0.5 * spacing)
    for _ in range(_ZOOM):
        three = torch.stack([center - d, center, center + d], -1)
        l3 = _nsb_log_post(three, vals, mult, n, k)
        denom = l3[:, 0] - 2 * l3[:, 1] + l3[:, 2]
        concave = torch.isfinite(denom) & (denom < 0)
        vertex = (0.5 * d * (l3[:, 0] - l3[:, 2]) / _safe(denom, concave, -1.0)).clamp(-d, d)
        best = (l3.argmax(-1) - 1).to(_F64) * d
        center = center + torch.where(concave, vertex, best)
        h = d
        d = d / 4
    # the curvature from the last stencil (spacing h, within h of the mode)
    curv = -denom / (h * h)
    sigma = torch.where(curv > 0, _safe(curv, curv > 0).rsqrt(), 10.0).clamp(max=10.0)
    a_c = torch.minimum(a_c, center)
    b_c = torch.maximum(b_c, center)
    lo = torch.maximum(a_c, center - _SPAN * sigma)
    hi = torch.minimum(b_c, center + _SPAN * sigma)
    u = torch.linspace(0.0, 1.0, _NT, dtype=_F64, device=dev)
    x = lo.unsqueeze(-1) + (hi - lo).unsqueeze(-1) * u
    node_gap = ((hi - lo) / (_NT - 1)).unsqueeze(-1)
    wt = node_gap.expand(-1, _NT).clone()
    wt[:, 0] /= 2
    wt[:, -1] /= 2
    return x, torch.where(wt > 0, torch.log(_safe(wt, wt > 0)), -math.inf)


#: NSB's alphabet size when none is given: this many times the observed number of categories.
_NSB_K_FACTOR = 100


def _nsb_mean_std(c: Tensor, st: _Stats, with_std: bool = True) -> tuple[Tensor, Tensor]:
    """NSB posterior mean and standard deviation of the entropy (nats), rows chunked for memory
    (``with_std=False``: the standard deviation is not computed and returned as 0)."""
    out_m, out_s = [], []
    k = st.k if st.given else _NSB_K_FACTOR * st.m
    one = k <= 1
    k = torch.where(one, 2.0, k)
    vals, mult = _fingerprint(c) if st.w is None else (c, torch.where(c > 0, st.w, 0.0))
    rows = max(1, 2_000_000 // max(1, vals.shape[1] * max(_T_COARSE, _NT)))
    for i in range(0, c.shape[0], rows):
        sl = slice(i, i + rows)
        vv, mm, nn, kk = vals[sl], mult[sl], st.n[sl], k[sl]
        with torch.no_grad():
            t, log_w = _nsb_nodes(vv.detach(), mm, nn.detach(), kk)
        lp = _nsb_log_post(t, vv, mm, nn, kk) + log_w
        post = torch.softmax(lp, -1)
        e1, e2 = _nsb_moments(t, vv, mm, nn, kk - (mm * (vv > 0)).sum(-1), second=with_std)
        mean = (post * e1).sum(-1)
        out_m.append(mean)
        if e2 is None:
            out_s.append(torch.zeros_like(mean))
        else:
            out_s.append(((post * e2).sum(-1) - mean**2).clamp_min(0.0).sqrt())
    if not out_m:  # an empty batch
        return torch.zeros(0, dtype=_F64, device=c.device), torch.zeros(0, dtype=_F64, device=c.device)
    mean, std = torch.cat(out_m), torch.cat(out_s)
    return torch.where(one, 0.0, mean), torch.where(one, 0.0, std)


def _nsb(c: Tensor, st: _Stats) -> Tensor:
    return _nsb_mean_std(c, st, with_std=False)[0]


def _auto(c: Tensor, st: _Stats) -> Tensor:
    # K given: NSB with it. K unknown: the mean of Chao-Wang-Jost (low on heavy tails) and NSB with
    # K = 100 m (high on flat ones); measured in benchmarks/bench_counts.py.
    if st.given:
        return _nsb(c, st)
    return 0.5 * (_chao_wang_jost(c, st) + _nsb(c, st))


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class _Estimator:
    fn: Callable[[Tensor, _Stats], Tensor]
    integer: bool  # reads the counts as integers
    smooth: bool  # differentiable in float counts
    costly: bool = False  # its work per entry is large: the fingerprint packs distinct values


_ESTIMATORS: dict[str, _Estimator] = {
    # every estimator runs on the fingerprint of large batches of whole-number counts (_compact);
    # packing the distinct values first (costly=True) measured faster for all but plug-in,
    # Miller-Madow and Grassberger, where it made no difference
    "plugin": _Estimator(_plugin, integer=False, smooth=True),
    "miller-madow": _Estimator(_miller_madow, integer=False, smooth=True),
    "jackknife": _Estimator(_jackknife, integer=True, smooth=False, costly=True),
    "grassberger": _Estimator(_grassberger, integer=True, smooth=False),
    "chao-shen": _Estimator(_chao_shen, integer=True, smooth=False, costly=True),
    "james-stein": _Estimator(_james_stein, integer=False, smooth=True, costly=True),
    "zhang": _Estimator(_zhang_sum, integer=True, smooth=False, costly=True),
    "bonachela": _Estimator(_bonachela, integer=False, smooth=True, costly=True),
    "chao-wang-jost": _Estimator(_chao_wang_jost, integer=True, smooth=False, costly=True),
    "nsb": _Estimator(_nsb, integer=False, smooth=True, costly=True),
    "auto": _Estimator(_auto, integer=True, smooth=False, costly=True),
}

#: Every accepted value of ``estimator=``.
ENTROPY_ESTIMATORS: tuple[str, ...] = tuple(_ESTIMATORS)


def _resolve(estimator: Any) -> str:
    if not isinstance(estimator, str) or estimator not in _ESTIMATORS:
        options = ", ".join(repr(e) for e in ENTROPY_ESTIMATORS)
        raise ValueError(f"estimator must be one of {options}, got {estimator!r}")
    return estimator


# --------------------------------------------------------------------------- validation


def _check_counts(
    counts: Any, name: str, validate: bool, integer: str | None, bounds: list[float] | None = None
) -> Tensor:
    """Validated counts (finite, non-negative, whole numbers for the estimator ``integer``);
    ``bounds``: a list that receives their minimum and maximum when they were computed."""
    validate = v.resolve_validate(validate)
    counts = v.ensure_tensor(counts, name)
    if counts.is_complex():
        raise TypeError(f"{name} must be a real tensor of counts, got dtype {counts.dtype}")
    if not validate or counts.numel() == 0:
        return counts
    x = counts.detach()
    if x.dtype == torch.bool:
        return counts
    lo, hi = (float(t) for t in torch.aminmax(x))  # one pass: NaN propagates to both
    if x.is_floating_point():
        if not (math.isfinite(lo) and math.isfinite(hi)):
            v.check_finite(x, name)
        if integer is not None:
            _check_whole(x, name, integer)
    if lo < 0:
        raise ValueError(f"{name} must be non-negative, got a minimum of {lo:.6g}")
    if bounds is not None:
        bounds.extend((lo, hi))
    return counts


def _check_whole(x: Tensor, name: str, estimator: str) -> None:
    """Whole numbers, for ``estimator`` (a name, or a phrase such as ``"stderr='bootstrap'"``)."""
    if x.is_floating_point() and not torch.equal(x, torch.trunc(x)):
        bad = float(x[x != torch.trunc(x)][0])
        why = estimator if "=" in estimator else f"estimator={estimator!r}"
        raise ValueError(f"{name} must hold whole numbers for {why}, got a count of {bad:.6g}")


def _check_num_categories(num_categories: Any, m: Tensor, batch: tuple[int, ...], name: str) -> Tensor | None:
    """``None``, a positive int, or an integer tensor broadcastable to the batch shape; ``>= m``."""
    if num_categories is None:
        return None
    if isinstance(num_categories, Tensor):
        if num_categories.is_floating_point() or num_categories.is_complex():
            raise TypeError(f"{name} must be an int or an integer tensor, got dtype {num_categories.dtype}")
        try:
            k = torch.broadcast_to(num_categories.to(device=m.device, dtype=_F64), batch).reshape(-1)
        except RuntimeError:
            raise ValueError(
                f"{name} must broadcast to the batch shape {batch}, got shape {tuple(num_categories.shape)}"
            ) from None
    elif isinstance(num_categories, numbers.Integral) and not isinstance(num_categories, bool):
        k = torch.full_like(m, float(num_categories))
    else:
        raise TypeError(f"{name} must be None, an int or an integer tensor, got {num_categories!r}")
    if k.numel() and bool((k < 1).any()):
        raise ValueError(f"{name} must be at least 1, got {int(k.min())}")
    if k.numel() and bool((k < m).any()):
        i = int(torch.nonzero(k < m)[0, 0])
        raise ValueError(
            f"{name} must be at least the number of observed categories, got {int(k[i])} for a row with {int(m[i])}"
        )
    return k


def _rows(counts: Tensor, dim: int) -> tuple[Tensor, tuple[int, ...]]:
    """Counts moved to a ``(B, L)`` float64 matrix, and the batch shape."""
    c = counts.movedim(dim, -1)
    batch = tuple(c.shape[:-1])
    if c.shape[-1] == 0:
        raise ValueError(f"counts must have at least one category along dim {dim}, got shape {tuple(counts.shape)}")
    return c.reshape(-1, c.shape[-1]).to(_F64), batch


def _out_dtype(counts: Tensor) -> torch.dtype:
    return counts.dtype if counts.is_floating_point() else _F64


def _entropy_rows(
    c: Tensor,
    estimator: str,
    num_categories: Any,
    batch: tuple[int, ...],
    validate: bool,
    name: str,
    bounds: list[float] | None = None,
    whole_checked: bool = True,
) -> Tensor:
    """Entropy (nats) of each row of the ``(B, L)`` float64 matrix ``c`` with a resolved estimator.

    ``whole_checked=False``: the counts of an integer estimator have not yet been checked for
    whole numbers (with ``validate`` on, :func:`_check_whole` does it here). ``bounds``: min and
    max of ``c``."""
    validate = v.resolve_validate(validate)
    spec = _ESTIMATORS[estimator]
    if validate and spec.integer and not whole_checked:
        _check_whole(c, name, estimator)  # exact (the fingerprint's totals miss sub-ulp fractions)
    fp = _compact(c, checked=validate and spec.integer, distinct=spec.costly, bounds=bounds)
    # the same estimator on the fingerprint: distinct values weighted by their multiplicity
    st = _Stats.of(c, None) if fp is None else _Stats.of(fp[0], None, fp[1])
    if validate and st.n.numel() and bool((st.n <= 0).any()):
        i = int(torch.nonzero(st.n <= 0)[0, 0])
        raise ValueError(f"{name} must have a positive total in every row, got an all-zero row (row {i})")
    k = _check_num_categories(num_categories, st.m, batch, "num_categories")
    if k is not None:
        st = _Stats(st.n, st.m, k, k - st.m, True, st.w)
    return _apply(spec.fn, c if fp is None else fp[0], st)


def _apply(fn: Callable[[Tensor, _Stats], Tensor], c: Tensor, st: _Stats) -> Tensor:
    """An estimator on rows of counts with the exact cases of :func:`_trivial` applied (every
    path: the estimates, their leave-one-out and bootstrap replicates)."""
    return torch.where(_trivial(st.n, st.m, st.k if st.given else None), 0.0, fn(c, st))


def _trivial(n: Tensor, m: Tensor, k: Tensor | None) -> Tensor:
    """Rows whose entropy is exactly 0: K = 1 given, or (K unknown) at most one observed category
    (nothing in the counts shows a second one, so appending zero counts changes nothing); an
    empty row (validate refuses it) also gives 0."""
    return (n <= 0) | ((k <= 1) if k is not None else (m <= 1))


def entropy_from_counts(
    counts: Tensor,
    dim: int = -1,
    *,
    estimator: str = "plugin",
    num_categories: int | Tensor | None = None,
    base: float | str | None = math.e,
    reduction: str = "none",
    validate: bool | None = None,
) -> Tensor:
    r"""Estimated Shannon entropy of the distribution that generated ``counts``, along ``dim``.

    Parameters
    ----------
    counts : Tensor
        Non-negative counts (integer or floating dtype); ``dim`` runs over the categories, every
        other dimension is a batch of independent rows.
    estimator : str
        One of :data:`ENTROPY_ESTIMATORS` (module docstring: formulas, which need integer counts,
        which are differentiable, and the ``"auto"`` rule).
    num_categories : int or Tensor, optional
        The alphabet size ``K`` (per row as an integer tensor broadcastable to the batch shape),
        used by "james-stein", "nsb" and "auto". ``None``: unknown (James-Stein then shrinks
        towards the observed categories, NSB assumes ``K = 100 m``; see the module docstring).
    base, reduction, validate
        As for :func:`infotorch.entropy`. ``validate=True`` checks that the counts are finite and
        non-negative, whole numbers where the estimator needs them, and that no row is empty.

    Returns
    -------
    Tensor
        Shape ``counts.shape`` without ``dim`` (for ``reduction="none"``); the dtype of
        floating-point counts, float64 for integer counts. Computed in float64.

    Examples
    --------
    Zipf's law on 1000 categories sampled 300 times: the plug-in is 0.86 nats low, the
    bias-corrected estimates are within 0.25 of the truth.

    >>> import torch, infotorch
    >>> from infotorch.counts import entropy_from_counts
    >>> p = 1 / torch.arange(1, 1001, dtype=torch.float64); p /= p.sum()
    >>> round(float(-(p * p.log()).sum()), 2)   # the true entropy
    5.19
    >>> g = torch.Generator().manual_seed(0)
    >>> counts = torch.bincount(torch.multinomial(p, 300, True, generator=g), minlength=1000)
    >>> round(float(entropy_from_counts(counts)), 2)   # plug-in
    4.33
    >>> round(float(entropy_from_counts(counts, estimator="auto")), 2)   # K not given
    5.01
    >>> round(float(entropy_from_counts(counts, estimator="nsb", num_categories=1000)), 2)
    4.96
    """
    validate = v.resolve_validate(validate)
    log_base = v.check_base(base)
    reduction = v.check_reduction(reduction)
    name = _resolve(estimator)
    bounds: list[float] = []
    # whole numbers are checked on the float64 rows (_entropy_rows), not on the input and again
    counts = _check_counts(counts, "counts", validate, None, bounds)
    dim = v.check_dim(counts, dim)
    c, batch = _rows(counts, dim)
    whole = not counts.is_floating_point()  # integer and bool counts are whole by their dtype
    value = _entropy_rows(c, name, num_categories, batch, validate, "counts", bounds, whole_checked=whole)
    value = value.reshape(batch)
    return nx.finish(value, log_base, reduction, _out_dtype(counts))


# --------------------------------------------------------------------------- error bars


class EntropyEstimate(NamedTuple):
    """An entropy estimate with its standard error and a confidence interval (unit of ``base``).

    ``lower``/``upper``: ``estimate ± z·stderr``, the normal approximation at the requested
    confidence.
    """

    estimate: Tensor
    stderr: Tensor
    lower: Tensor
    upper: Tensor


_STDERRS = ("auto", "posterior", "jackknife", "bootstrap")


def _leave_one_out_rows(c: Tensor) -> tuple[Tensor, Tensor]:
    """Leave-one-sample-out count vectors, one per distinct occupied count value of each row.

    Returns ``(variants (B, D, L), values (B, D))``: removing one sample from any of the cells
    holding ``n`` samples gives the same multiset, so it is computed once; ``values`` is that
    ``n`` (0 for padding, whose variant is the row itself).
    """
    s = c.sort(-1, descending=True).values
    start = torch.ones_like(s, dtype=torch.bool)
    start[:, 1:] = s[:, 1:] != s[:, :-1]
    start &= s > 0
    gid = torch.where(start, start.long().cumsum(-1) - 1, -1)
    d = max(1, int(gid.max()) + 1)
    b, length = c.shape
    first = torch.zeros(b, d, dtype=torch.long, device=c.device)
    valid = torch.zeros(b, d, dtype=torch.bool, device=c.device)
    pos = torch.arange(length, device=c.device).expand(b, -1)
    sel = gid >= 0
    rows = torch.arange(b, device=c.device).unsqueeze(-1).expand(b, length)
    first[rows[sel], gid[sel]] = pos[sel]
    valid[rows[sel], gid[sel]] = True
    occ_val = s.gather(1, first)
    variants = s.unsqueeze(1).repeat(1, d, 1)
    dec = torch.zeros_like(variants)
    dec.scatter_(2, first.unsqueeze(-1), valid.to(_F64).unsqueeze(-1))
    return variants - dec, torch.where(valid, occ_val, 0.0)


def _leave_one_out_cells(c: Tensor, estimator: str, k: Tensor | None) -> Tensor:
    """``(B, L)``: the estimate of each row with one sample removed from cell ``l`` (0 where ``c_l = 0``).

    Evaluated once per distinct count value of a row (:func:`_leave_one_out_rows`) and looked up
    per cell; rows of a single sample give 0 (no data left).
    """
    fn = _ESTIMATORS[estimator].fn
    out = torch.zeros_like(c)
    step = max(1, 4_000_000 // max(1, c.shape[1] ** 2))
    for i in range(0, c.shape[0], step):
        ci = c[i : i + step]
        var_rows, vals = _leave_one_out_rows(ci)
        b, d, length = var_rows.shape
        flat = var_rows.reshape(b * d, length)
        st = _Stats.of(flat, None if k is None else k[i : i + step].repeat_interleave(d))
        theta = _apply(fn, flat, st).reshape(b, d)
        match = (ci.unsqueeze(-1) == vals.unsqueeze(1)) & (vals > 0).unsqueeze(1)  # (b, L, d)
        out[i : i + step] = (match * theta.unsqueeze(1)).sum(-1)
    return out


def _jackknife_se_of_cells(theta: Tensor, counts: Tensor) -> Tensor:
    """The jackknife standard error ``sqrt((N-1)/N Σ_i (θ_{-i} - θ̄)²)`` over the ``N`` samples [11],
    from ``theta[b, l]``, the estimate with one sample of cell ``l`` removed, which stands for
    ``counts[b, l]`` samples (rows of 0 or 1 sample: 0)."""
    n = counts.sum(-1)
    nn = _safe(n, n > 0)
    mean = (counts * theta).sum(-1) / nn
    var = (n - 1) / nn * (counts * (theta - mean.unsqueeze(-1)) ** 2).sum(-1)
    return torch.where(n > 1, var.clamp_min(0.0).sqrt(), 0.0)


def _jackknife_se(c: Tensor, estimator: str, k: Tensor | None) -> Tensor:
    """Jackknife standard error of any estimator, leaving out one sample at a time [11]."""
    return _jackknife_se_of_cells(_leave_one_out_cells(c, estimator, k), c)


def _resamples(c: Tensor, n_boot: int, gen: torch.Generator | None) -> Iterator[tuple[slice, Tensor]]:
    """Multinomial resamples (``N`` draws from ``n/N``) of each row, ``n_boot`` per row, in chunks:
    ``(rows, (len(rows) · n_boot, L) resampled counts)``, the resamples of a row adjacent."""
    b, length = c.shape
    if b == 0:
        return
    n = c.sum(-1)
    n_max = int(n.max())
    probs = c / n.unsqueeze(-1)
    step = max(1, 2_000_000 // max(1, n_max * n_boot))
    for i in range(0, b, step):
        pi = probs[i : i + step]
        bi = pi.shape[0]
        draws = torch.multinomial(pi.repeat_interleave(n_boot, 0), n_max, replacement=True, generator=gen)
        keep = torch.arange(n_max, device=c.device) < n[i : i + step].repeat_interleave(n_boot).unsqueeze(-1)
        rep = torch.zeros(bi * n_boot, length, dtype=_F64, device=c.device)
        rep.scatter_add_(1, draws, keep.to(_F64))
        yield slice(i, i + bi), rep


def _bootstrap(c: Tensor, estimator: str, k: Tensor | None, n_boot: int, gen: torch.Generator | None) -> Tensor:
    """``(B, n_boot)`` estimates on multinomial resamples of each row (``N`` draws from ``n/N``)."""
    fn = _ESTIMATORS[estimator].fn
    out = torch.empty(c.shape[0], n_boot, dtype=_F64, device=c.device)
    for rows, rep in _resamples(c, n_boot, gen):
        st = _Stats.of(rep, None if k is None else k[rows].repeat_interleave(n_boot))
        out[rows] = _apply(fn, rep, st).reshape(-1, n_boot)
    return out


def _normal_quantile(confidence: Any, n_bootstrap: Any, generator: Any, seed: Any) -> float:
    """Check the error-bar options; the normal quantile ``z`` of the two-sided ``confidence``."""
    conf = float(confidence) if isinstance(confidence, numbers.Real) else math.nan
    if not 0 < conf < 1:
        raise ValueError(f"confidence must be a number in (0, 1), got {confidence!r}")
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, numbers.Integral) or n_bootstrap < 2:
        raise ValueError(f"n_bootstrap must be an int >= 2, got {n_bootstrap!r}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    if generator is not None and seed is not None:
        raise ValueError("either generator or seed may be given, but not both (got both)")
    return statistics.NormalDist().inv_cdf(0.5 + conf / 2)


def _generator(generator: torch.Generator | None, seed: int | None, device: torch.device) -> torch.Generator:
    if generator is not None:
        return generator
    gen = torch.Generator(device=device)
    gen.manual_seed(0 if seed is None else int(seed))
    return gen


def entropy_estimate_from_counts(
    counts: Tensor,
    dim: int = -1,
    *,
    estimator: str = "nsb",
    stderr: str = "auto",
    num_categories: int | Tensor | None = None,
    confidence: float = 0.95,
    n_bootstrap: int = 200,
    generator: torch.Generator | None = None,
    seed: int | None = None,
    base: float | str | None = math.e,
    validate: bool | None = None,
) -> EntropyEstimate:
    r"""Entropy estimate with a standard error and a confidence interval, per row.

    ``stderr`` chooses where the error bar comes from:

    * ``"posterior"``: the NSB posterior standard deviation of ``H`` (``estimator="nsb"`` only)
      [9]_, [10]_;
    * ``"jackknife"``: the jackknife standard error of the chosen estimator, leaving out one
      sample at a time [11]_ (integer counts);
    * ``"bootstrap"``: ``n_bootstrap`` multinomial resamples of the empirical frequencies, the
      estimator applied to each; ``stderr`` is their standard deviation. Random draws only
      through ``generator`` (or a fresh one seeded with ``seed``, default 0). Cost:
      ``B · n_bootstrap · N`` draws.

    The interval is ``estimate ± z·stderr`` with ``z`` the normal quantile of ``confidence``
    (percentiles of resampled entropies are not used: a resample has fewer categories than the
    sample, which shifts them low by the estimator's own bias).
    * ``"auto"``: ``"posterior"`` for NSB, ``"jackknife"`` otherwise.

    Standard errors measure the spread of the estimate, not its bias. The other arguments are those
    of :func:`entropy_from_counts` (``estimator="auto"`` included). There is no ``reduction``: a
    standard error does not average.

    Examples
    --------
    >>> import torch
    >>> from infotorch.counts import entropy_estimate_from_counts
    >>> p = torch.full((50,), 1 / 50, dtype=torch.float64)   # uniform: H = log 50 = 3.91
    >>> g = torch.Generator().manual_seed(0)
    >>> counts = torch.bincount(torch.multinomial(p, 200, True, generator=g), minlength=50)
    >>> r = entropy_estimate_from_counts(counts, num_categories=50)
    >>> round(float(r.estimate), 2), round(float(r.stderr), 3)
    (3.89, 0.019)
    >>> bool(r.lower < torch.tensor(50.0).log() < r.upper)
    True
    """
    validate = v.resolve_validate(validate)
    log_base = v.check_base(base)
    name = _resolve(estimator)
    v.check_choice(stderr, _STDERRS, "stderr")
    method = ("posterior" if name == "nsb" else "jackknife") if stderr == "auto" else stderr
    if method == "posterior" and name != "nsb":
        raise ValueError(f"stderr='posterior' needs estimator='nsb', got estimator={estimator!r}")
    z = _normal_quantile(confidence, n_bootstrap, generator, seed)
    integer = name if _ESTIMATORS[name].integer else (f"stderr={method!r}" if method != "posterior" else None)
    counts = _check_counts(counts, "counts", validate, integer)
    dim = v.check_dim(counts, dim)
    c, batch = _rows(counts, dim)
    estimate = _entropy_rows(c, name, num_categories, batch, validate, "counts")
    m = (c > 0).sum(-1).to(_F64)
    k = _check_num_categories(num_categories, m, batch, "num_categories")
    trivial = _trivial(c.sum(-1), m, k)
    if method == "posterior":
        se = _nsb_mean_std(c, _Stats.of(c, k))[1]
    elif method == "jackknife":
        se = _jackknife_se(c.detach(), name, k)
    else:
        generator = _generator(generator, seed, c.device)
        boot = _bootstrap(c.detach(), name, k, int(n_bootstrap), generator)
        se = boot.std(-1) if boot.shape[0] else boot.sum(-1)  # an empty batch: no rows
    lower, upper = estimate - z * se, estimate + z * se
    se, lower, upper = (torch.where(trivial, 0.0, x) for x in (se, lower, upper))
    out = _out_dtype(counts)

    def fin(x: Tensor) -> Tensor:
        return nx.to_base(x.reshape(batch), log_base).to(out)

    return EntropyEstimate(fin(estimate), fin(se), fin(lower), fin(upper))


# --------------------------------------------------------------------------- mutual information


def _table_entropies(
    table: Any, dims: Any, estimator: str, num_categories: Any, validate: bool
) -> tuple[Tensor, Tensor, Tensor, tuple[int, ...], torch.dtype, Tensor]:
    """``H(X)``, ``H(Y)``, ``H(X, Y)`` (nats, flat batch) of a count table, X along ``dims[0]``,
    the batch shape, the output dtype and the table as a ``(B, X, Y)`` float64 tensor."""
    validate = v.resolve_validate(validate)
    name = _resolve(estimator)
    table = _check_counts(table, "table", validate, name if _ESTIMATORS[name].integer else None)
    a, b = v.check_dims(table, dims)
    t = table.movedim((a, b), (-2, -1))
    batch = tuple(t.shape[:-2])
    kx_n, ky_n = t.shape[-2], t.shape[-1]
    if kx_n == 0 or ky_n == 0:
        raise ValueError(
            f"table must have at least one category along dims {tuple(dims)}, got shape {tuple(table.shape)}"
        )
    t = t.reshape(-1, kx_n, ky_n).to(_F64)
    if num_categories is None:
        kx = ky = kxy = None
    else:
        if not isinstance(num_categories, Sequence) or len(num_categories) != 2:
            raise TypeError(f"num_categories must be None or a pair (K_x, K_y), got {num_categories!r}")
        kx, ky = num_categories
        kxy = kx * ky
    hx = _entropy_rows(t.sum(-1), name, kx, batch, validate, "table")
    hy = _entropy_rows(t.sum(-2), name, ky, batch, False, "table")
    hxy = _entropy_rows(t.reshape(t.shape[0], -1), name, kxy, batch, False, "table")
    return hx, hy, hxy, batch, _out_dtype(table), t


def mutual_information_from_counts(
    table: Tensor,
    dims: tuple[int, int] = (-2, -1),
    *,
    estimator: str = "plugin",
    num_categories: tuple[int, int] | None = None,
    base: float | str | None = math.e,
    reduction: str = "none",
    validate: bool | None = None,
) -> Tensor:
    r"""Estimated mutual information ``I(X; Y)`` from a contingency table of counts.

    ``Ĥ(X) + Ĥ(Y) - Ĥ(X, Y)``, each entropy estimated with ``estimator`` from the marginal and
    joint counts (the definition of these estimators for mutual information). X runs along
    ``dims[0]``, Y along ``dims[1]``; other dimensions are batches. ``num_categories=(K_x, K_y)``
    declares the alphabet sizes (the joint one is ``K_x·K_y``). The plug-in value is clipped at 0
    (rounding); the bias-corrected ones are not and may be slightly negative for independent data.
    This is the function a streaming metric calls on its accumulated joint table.

    Examples
    --------
    >>> import torch
    >>> from infotorch.counts import mutual_information_from_counts
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randint(0, 6, (300,), generator=g); y = torch.randint(0, 6, (300,), generator=g)
    >>> table = torch.zeros(6, 6).index_put_((x, y), torch.ones(300), accumulate=True)
    >>> round(float(mutual_information_from_counts(table)), 3)   # true MI is 0; bias about 25/600
    0.034
    >>> round(float(mutual_information_from_counts(table, estimator="miller-madow")), 3)
    -0.008
    """
    validate = v.resolve_validate(validate)
    log_base = v.check_base(base)
    reduction = v.check_reduction(reduction)
    hx, hy, hxy, batch, out, _ = _table_entropies(table, dims, estimator, num_categories, validate)
    mi = hx + hy - hxy
    if _resolve(estimator) == "plugin":
        mi = mi.clamp_min(0.0)
    return nx.finish(mi.reshape(batch), log_base, reduction, out)


class MutualInformationEstimate(NamedTuple):
    """A mutual-information estimate with its standard error and a confidence interval (unit of
    ``base``); ``lower``/``upper`` are ``estimate ± z·stderr``."""

    estimate: Tensor
    stderr: Tensor
    lower: Tensor
    upper: Tensor


def _table_k(num_categories: Any, t: Tensor, batch: tuple[int, ...]) -> tuple[Tensor | None, ...]:
    """Per-row alphabet sizes ``(K_x, K_y, K_x K_y)`` of a ``(B, X, Y)`` table, or ``None`` each."""
    if num_categories is None:
        return None, None, None
    kx, ky = num_categories
    mx = (t.sum(-1) > 0).sum(-1).to(_F64)
    my = (t.sum(-2) > 0).sum(-1).to(_F64)
    kxt = _check_num_categories(kx, mx, batch, "num_categories[0]")
    kyt = _check_num_categories(ky, my, batch, "num_categories[1]")
    assert kxt is not None and kyt is not None
    return kxt, kyt, kxt * kyt


def mutual_information_estimate_from_counts(
    table: Tensor,
    dims: tuple[int, int] = (-2, -1),
    *,
    estimator: str = "plugin",
    stderr: str = "jackknife",
    num_categories: tuple[int, int] | None = None,
    confidence: float = 0.95,
    n_bootstrap: int = 200,
    generator: torch.Generator | None = None,
    seed: int | None = None,
    base: float | str | None = math.e,
    validate: bool | None = None,
) -> MutualInformationEstimate:
    r"""Mutual information from a table of counts with a standard error and a confidence interval.

    The estimate is :func:`mutual_information_from_counts` with the same arguments. ``stderr``:

    * ``"jackknife"`` (default; deterministic): leave one sample out of each occupied cell
      ``(i, j)``, which changes the joint table and both marginals; ``θ_{-ij} = Ĥ_{-i}(X) +
      Ĥ_{-j}(Y) - Ĥ_{-ij}(X, Y)`` and ``se² = (N-1)/N Σ_ij n_ij (θ_{-ij} - θ̄)²`` [11]_ (integer
      counts);
    * ``"bootstrap"``: ``n_bootstrap`` multinomial resamples of the joint table (``N`` draws from
      ``n_ij/N``), the MI estimated on each, their standard deviation; random draws only through
      ``generator`` (or one seeded with ``seed``, default 0). The draws of a batch are made
      together, so a table's resamples depend on the batch it is in (the same seed gives the
      same error bars for the same batch, not for a table taken alone).

    The interval is the normal approximation ``estimate ± z·stderr``. A standard error measures
    the spread of the estimate, not its bias: for independent variables the plug-in MI is
    positive by about ``(K_x - 1)(K_y - 1)/(2N)`` whatever its error bar says; compare with a
    bias-corrected estimator or a permutation baseline. There is no ``reduction``.

    Examples
    --------
    >>> import math, torch
    >>> from infotorch.counts import mutual_information_estimate_from_counts
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randint(0, 4, (2000,), generator=g)
    >>> keep = torch.rand(2000, generator=g) < 0.7                # Y = X with probability 0.7,
    >>> y = torch.where(keep, x, torch.randint(0, 4, (2000,), generator=g))  # else uniform
    >>> table = torch.zeros(4, 4).index_put_((x, y), torch.ones(2000), accumulate=True)
    >>> r = mutual_information_estimate_from_counts(table, estimator="miller-madow")
    >>> truth = 0.775 * math.log(4 * 0.775) + 0.225 * math.log(4 * 0.075)   # 0.606 nats
    >>> round(float(r.estimate), 3), round(float(r.stderr), 3)
    (0.645, 0.022)
    >>> bool(r.lower < truth < r.upper)
    True
    """
    validate = v.resolve_validate(validate)
    log_base = v.check_base(base)
    v.check_choice(stderr, ("jackknife", "bootstrap"), "stderr")
    z = _normal_quantile(confidence, n_bootstrap, generator, seed)
    name = _resolve(estimator)
    integer = name if _ESTIMATORS[name].integer else (f"stderr={stderr!r}" if stderr == "jackknife" else None)
    table = _check_counts(table, "table", validate, integer)
    hx, hy, hxy, batch, out, t = _table_entropies(table, dims, name, num_categories, validate)
    estimate = hx + hy - hxy
    clip = name == "plugin"
    if clip:
        estimate = estimate.clamp_min(0.0)
    t = t.detach()
    nb, kx_n, ky_n = t.shape
    kx, ky, kxy = _table_k(num_categories, t, batch)
    if stderr == "jackknife":
        th_x = _leave_one_out_cells(t.sum(-1), name, kx)  # (B, X)
        th_y = _leave_one_out_cells(t.sum(-2), name, ky)  # (B, Y)
        th_xy = _leave_one_out_cells(t.reshape(nb, -1), name, kxy).reshape(nb, kx_n, ky_n)
        theta = th_x.unsqueeze(-1) + th_y.unsqueeze(-2) - th_xy
        se = _jackknife_se_of_cells(theta.reshape(nb, -1), t.reshape(nb, -1))
    else:
        gen = _generator(generator, seed, t.device)
        fn = _ESTIMATORS[name].fn
        reps = torch.empty(nb, int(n_bootstrap), dtype=_F64, device=t.device)
        nbs = int(n_bootstrap)
        for rows, rep in _resamples(t.reshape(nb, -1), nbs, gen):
            rt = rep.reshape(-1, kx_n, ky_n)
            parts = []
            for cnt, k in ((rt.sum(-1), kx), (rt.sum(-2), ky), (rep, kxy)):
                st = _Stats.of(cnt, None if k is None else k[rows].repeat_interleave(nbs))
                parts.append(_apply(fn, cnt, st))
            mi = parts[0] + parts[1] - parts[2]
            reps[rows] = (mi.clamp_min(0.0) if clip else mi).reshape(-1, nbs)
        se = reps.std(-1)
    lower, upper = estimate - z * se, estimate + z * se

    def fin(x: Tensor) -> Tensor:
        return nx.to_base(x.reshape(batch), log_base).to(out)

    return MutualInformationEstimate(fin(estimate), fin(se), fin(lower), fin(upper))


def conditional_entropy_from_counts(
    table: Tensor,
    dims: tuple[int, int] = (-2, -1),
    *,
    estimator: str = "plugin",
    num_categories: tuple[int, int] | None = None,
    base: float | str | None = math.e,
    reduction: str = "none",
    validate: bool | None = None,
) -> Tensor:
    r"""Estimated conditional entropy ``H(Y | X) = Ĥ(X, Y) - Ĥ(X)`` from a table of counts.

    X runs along ``dims[0]`` (as in :func:`infotorch.conditional_entropy`); the arguments are
    those of :func:`mutual_information_from_counts`.

    Examples
    --------
    >>> import torch
    >>> from infotorch.counts import conditional_entropy_from_counts
    >>> table = torch.tensor([[5, 5], [10, 0]])   # Y is a fair coin given X = 0, fixed given X = 1
    >>> conditional_entropy_from_counts(table, base=2)
    tensor(0.5000, dtype=torch.float64)
    """
    validate = v.resolve_validate(validate)
    log_base = v.check_base(base)
    reduction = v.check_reduction(reduction)
    hx, _, hxy, batch, out, _ = _table_entropies(table, dims, estimator, num_categories, validate)
    return nx.finish((hxy - hx).reshape(batch), log_base, reduction, out)


# --------------------------------------------------------------------------- from samples


def counts_from_samples(x: Tensor) -> Tensor:
    """Counts of the distinct values of each row of integer-coded samples (last dimension).

    Returns an int64 tensor of shape ``(*x.shape[:-1], D)``, ``D`` the largest number of distinct
    values of any row; each row holds its counts in order of increasing value, padded with zeros
    (every estimator ignores zero counts unless ``num_categories`` is given). Memory O(x.numel()).

    Examples
    --------
    >>> import torch
    >>> from infotorch.counts import counts_from_samples
    >>> counts_from_samples(torch.tensor([[7, 7, 3, 9], [1, 1, 1, 1]]))
    tensor([[1, 2, 1],
            [4, 0, 0]])
    """
    x = v.ensure_tensor(x, "x")
    v.check_integer_samples(x, "x")
    batch, n = x.shape[:-1], x.shape[-1]
    s = x.reshape(-1, n).sort(-1).values
    start = torch.ones_like(s, dtype=torch.bool)
    start[:, 1:] = s[:, 1:] != s[:, :-1]
    code = start.long().cumsum(-1) - 1
    d = int(code.max()) + 1 if code.numel() else 1  # an empty batch: one (empty) category
    out = torch.zeros(s.shape[0], d, dtype=torch.long, device=x.device)
    out.scatter_add_(1, code, torch.ones_like(code))
    return out.reshape(*batch, d)
