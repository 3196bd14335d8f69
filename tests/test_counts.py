"""Bias-corrected entropy estimators from counts (infotorch.counts) against independent references.

References, per test: scipy.stats.entropy (plug-in); the published formulas evaluated directly in
NumPy/scipy/mpmath here, in the form the papers print them (Grassberger 2003 eq. 35, Chao & Shen
2003, Hausser & Strimmer 2009, Zhang 2012's product sum, Bonachela et al. 2008's harmonic sums,
Chao, Wang & Jost 2013's closed form in 50-digit mpmath, the jackknife by explicit leave-one-out);
NSB (Nemenman, Shafee & Bialek 2002) by scipy.integrate.quad over ξ with β(ξ) from brentq, and for
K = 2 with the posterior moments themselves integrated over p; exact limits; loops; gradcheck.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import scipy.integrate
import scipy.optimize
import scipy.special as sp
import scipy.stats
import torch
from hypothesis import given
from hypothesis import strategies as st

import infotorch as it
from infotorch import counts as C

EST = [e for e in C.ENTROPY_ESTIMATORS]
SMOOTH = ["plugin", "miller-madow", "james-stein", "bonachela", "nsb"]


def H(c, estimator, **kw):
    return C.entropy_from_counts(torch.as_tensor(c, dtype=torch.float64), estimator=estimator, **kw).item()


# ---------------------------------------------------------------- references in NumPy


def ref_plugin(n):
    return scipy.stats.entropy(n)


def ref_miller_madow(n):
    n = np.asarray(n, float)
    return scipy.stats.entropy(n) + (np.count_nonzero(n) - 1) / (2 * n.sum())


def ref_jackknife(n):
    # explicit: remove each of the N samples in turn
    n = np.asarray(n, float)
    N = int(n.sum())
    loo = []
    for k in np.nonzero(n)[0]:
        m = n.copy()
        m[k] -= 1
        loo += [scipy.stats.entropy(m)] * int(n[k])
    return N * scipy.stats.entropy(n) - (N - 1) * np.mean(loo)


def ref_grassberger(n):
    n = np.asarray(n, float)
    n = n[n > 0]
    G = sp.digamma(n) + 0.5 * (-1.0) ** n * (sp.digamma((n + 1) / 2) - sp.digamma(n / 2))
    N = n.sum()
    return np.log(N) - (n * G).sum() / N


def ref_chao_shen(n):
    n = np.asarray(n, float)
    n = n[n > 0]
    N = n.sum()
    f1 = np.sum(n == 1)
    if f1 == N:
        f1 = N - 1
    pa = (1 - f1 / N) * n / N
    return -np.sum(pa * np.log(pa) / (1 - (1 - pa) ** N))


def ref_james_stein(n, K):
    n = np.concatenate([np.asarray(n, float), np.zeros(K - len(n))])
    N = n.sum()
    u = n / N
    t = 1.0 / K
    msp = np.sum((t - u) ** 2)
    lam = 1.0 if (N == 1 or msp == 0) else (1 - np.sum(u**2)) / ((N - 1) * msp)
    lam = min(1.0, max(0.0, lam))
    return scipy.stats.entropy(lam * t + (1 - lam) * u)


def ref_zhang(n):
    # Zhang 2012 eq. (the product form), not the digamma identity the library uses
    n = [int(x) for x in n if x > 0]
    N = sum(n)
    total = 0.0
    for v in range(1, N):
        inner = 0.0
        for nk in n:
            prod = 1.0
            for j in range(v):
                prod *= 1 - (nk - 1) / (N - 1 - j)
            inner += nk / N * prod
        total += inner / v
    return total


def ref_bonachela(n):
    n = [int(x) for x in n if x > 0]
    N = sum(n)
    return sum((nk + 1) * sum(1.0 / j for j in range(nk + 2, N + 3)) for nk in n) / (N + 2)


def ref_cwj(n):
    mpmath.mp.dps = 50
    n = [int(x) for x in n if x > 0]
    N = sum(n)
    f1, f2 = n.count(1), n.count(2)
    first = sum(mpmath.mpf(x) / N * sum(mpmath.mpf(1) / k for k in range(x, N)) for x in n if x <= N - 1)
    if f2 > 0:
        A = mpmath.mpf(2 * f2) / ((N - 1) * f1 + 2 * f2)
    elif f1 > 0:
        A = mpmath.mpf(2) / ((N - 1) * (f1 - 1) + 2)
    else:
        A = mpmath.mpf(1)
    second = 0
    if f1 > 0 and A != 1:
        r = sum((1 - A) ** r / r for r in range(1, N))
        second = mpmath.mpf(f1) / N * (1 - A) ** (1 - N) * (-mpmath.log(A) - r)
    return float(first + second)


REFS = {
    "plugin": ref_plugin,
    "miller-madow": ref_miller_madow,
    "jackknife": ref_jackknife,
    "grassberger": ref_grassberger,
    "chao-shen": ref_chao_shen,
    "zhang": ref_zhang,
    "bonachela": ref_bonachela,
    "chao-wang-jost": ref_cwj,
}

CASES = [
    [5, 3, 1, 1, 2, 0, 7],
    [1, 1, 1, 2, 2, 3, 9, 1, 0, 0],
    [40, 1],
    [2, 2, 2],
    [1, 1, 1, 1, 1],
    [30, 12, 5, 2, 1, 1, 1, 1, 1, 1, 1, 1],
    [1],
    [3],
]


@pytest.mark.parametrize("estimator", list(REFS))
@pytest.mark.parametrize("case", CASES)
def test_against_published_formula(estimator, case):
    got = H(case, estimator)
    if len(case) == 1:
        assert got == 0.0  # one category: exactly 0
        return
    assert got == pytest.approx(REFS[estimator](case), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("case", CASES[:6])
def test_james_stein_against_formula(case):
    for K in (len(case), len(case) + 5):
        got = H(case, "james-stein", num_categories=K)
        assert got == pytest.approx(ref_james_stein(case, K), rel=1e-10)
    # K unknown: the observed categories
    obs = [x for x in case if x > 0]
    assert H(case, "james-stein") == pytest.approx(ref_james_stein(obs, len(obs)), rel=1e-10)


def test_cwj_tail_sum_against_mpmath():
    mpmath.mp.dps = 30
    for z, n in [(0.5, 2), (0.9, 10), (1 - 1e-4, 1000), (1 - 2e-10, 100000), (0.01, 7), (1 - 1e-6, 30)]:
        ref = mpmath.lerchphi(z, 1, n)
        got = C._cwj_tail_sum(torch.tensor([z], dtype=torch.float64), torch.tensor([float(n)], dtype=torch.float64))
        assert got.item() == pytest.approx(float(ref), rel=1e-9)


# ---------------------------------------------------------------- NSB against direct integration


def _xi(beta, K):
    return sp.digamma(K * beta + 1) - sp.digamma(beta + 1)


def _log_evidence(beta, n, K):
    n = np.asarray(n, float)
    return sp.gammaln(K * beta) - sp.gammaln(n.sum() + K * beta) + np.sum(sp.gammaln(n + beta) - sp.gammaln(beta))


def _moments_formula(beta, n, K):
    # Wolpert & Wolf 1995 posterior moments of H under Dirichlet(n + beta), evaluated here
    if K > 1000:
        return _moments_grouped(beta, n, K)
    a = np.concatenate([np.asarray(n, float), np.zeros(K - len(n))]) + beta
    A = a.sum()
    e1 = sp.digamma(A + 1) - np.sum(a / A * sp.digamma(a + 1))
    D = sp.digamma(a + 1) - sp.digamma(A + 2)
    J = (sp.digamma(a + 2) - sp.digamma(A + 2)) ** 2 + sp.polygamma(1, a + 2) - sp.polygamma(1, A + 2)
    I = np.outer(D, D) - sp.polygamma(1, A + 2)
    off = (np.outer(a, a) * I).sum() - (a * a * np.diag(I)).sum()
    e2 = (off + np.sum(a * (a + 1) * J)) / (A * (A + 1))
    return e1, e2


def _moments_grouped(beta, n, K):
    # the same sums with the K - len(n) unobserved entries (all a = beta) as one group of that
    # multiplicity: sum_{i != k} a_i a_k I_ik = (sum w a D)^2 - T (sum w a)^2 - sum w a^2 (D^2 - T)
    a = np.append(np.asarray(n, float) + beta, beta)
    w = np.append(np.ones(len(n)), float(K - len(n)))
    A = float((w * a).sum())
    t = sp.polygamma(1, A + 2)
    e1 = sp.digamma(A + 1) - np.sum(w * a / A * sp.digamma(a + 1))
    D = sp.digamma(a + 1) - sp.digamma(A + 2)
    J = (sp.digamma(a + 2) - sp.digamma(A + 2)) ** 2 + sp.polygamma(1, a + 2) - t
    off = np.sum(w * a * D) ** 2 - t * A**2 - np.sum(w * a * a * (D * D - t))
    e2 = (off + np.sum(w * a * (a + 1) * J)) / (A * (A + 1))
    return e1, e2


@pytest.mark.parametrize(("beta", "n", "K"), [(0.3, [4.0, 1.0, 0.0], 7), (0.01, [2.0, 5.0], 400), (2.0, [1.0], 50)])
def test_grouped_moments_equal_the_outer_product_form(beta, n, K):
    full = _moments_formula(beta, n, K)
    grouped = _moments_grouped(beta, n, K)
    assert grouped[0] == pytest.approx(full[0], rel=1e-12)
    assert grouped[1] == pytest.approx(full[1], rel=1e-10)


def _moments_by_quad_k2(beta, n):
    # K = 2: integrate h(p) and h(p)² against Beta(n1 + beta, n2 + beta) directly
    a, b = n[0] + beta, n[1] + beta

    def h(p):
        return -sp.xlogy(p, p) - sp.xlog1py(1 - p, -p)

    dens = scipy.stats.beta(a, b).pdf
    e1 = scipy.integrate.quad(lambda p: h(p) * dens(p), 0, 1, limit=200)[0]
    e2 = scipy.integrate.quad(lambda p: h(p) ** 2 * dens(p), 0, 1, limit=200)[0]
    return e1, e2


@pytest.mark.parametrize("beta", [0.05, 0.7, 3.0])
def test_dirichlet_moments_k2_by_quadrature(beta):
    n = [3.0, 1.0]
    e1, e2 = C._nsb_moments(
        torch.tensor([[math.log(beta)]], dtype=torch.float64),
        torch.tensor([n], dtype=torch.float64),
        torch.ones(1, 2, dtype=torch.float64),
        torch.tensor([4.0], dtype=torch.float64),
        torch.tensor([0.0], dtype=torch.float64),
    )
    r1, r2 = _moments_by_quad_k2(beta, n)
    assert e1.item() == pytest.approx(r1, rel=1e-7)
    assert e2.item() == pytest.approx(r2, rel=1e-7)


def nsb_by_quad(n, K, k2_direct=False):
    """NSB: ∫ dξ P(n|β(ξ)) E[H|n,β] / ∫ dξ P(n|β(ξ)) over ξ in (0, log K), scipy quad + brentq."""
    n = np.asarray(n, float)

    def beta_of(xi):
        return scipy.optimize.brentq(lambda lb: _xi(math.exp(lb), K) - xi, -60, 60, xtol=1e-14)

    # scale the evidence by its maximum over a grid of ξ to avoid underflow
    grid = np.linspace(1e-6, math.log(K) - 1e-9, 400)
    lmax = max(_log_evidence(math.exp(beta_of(x)), n, K) for x in grid)

    def parts(xi):
        b = math.exp(beta_of(xi))
        w = math.exp(_log_evidence(b, n, K) - lmax)
        e1, e2 = _moments_by_quad_k2(b, n) if k2_direct else _moments_formula(b, n, K)
        return np.array([w, w * e1, w * e2])

    z, m1, m2 = scipy.integrate.quad_vec(parts, 0, math.log(K), epsrel=1e-10, limit=400, points=grid[::40])[0]
    m1, m2 = m1 / z, m2 / z
    return m1, math.sqrt(max(m2 - m1 * m1, 0.0))


@pytest.mark.parametrize(
    ("n", "K"),
    [
        ([4, 1, 1, 0, 0], 5),
        ([10, 3, 2, 1, 1, 1], 20),
        ([1, 1, 1], 100),
        ([50, 30, 20], 3),
        ([7, 1], 2),
        # huge alphabets: the posterior lies at beta ~ 1/K, far below beta = e^-30
        ([2], 10**9),
        ([2], 10**13),
        ([5, 3], 10**15),
        ([7, 6, 7], 10**12),
    ],
)
def test_nsb_against_quadrature(n, K):
    ref_mean, ref_std = nsb_by_quad(n, K)
    got = C.entropy_estimate_from_counts(torch.tensor(n), estimator="nsb", num_categories=K)
    assert got.estimate.item() == pytest.approx(ref_mean, rel=1e-6)
    assert got.stderr.item() == pytest.approx(ref_std, rel=1e-5)
    assert C.entropy_from_counts(torch.tensor(n), estimator="nsb", num_categories=K).item() == pytest.approx(
        ref_mean, rel=1e-6
    )


def test_nsb_k2_fully_by_quadrature():
    n = [5, 2]
    ref_mean, ref_std = nsb_by_quad(n, 2, k2_direct=True)
    got = C.entropy_estimate_from_counts(torch.tensor(n), estimator="nsb", num_categories=2)
    assert got.estimate.item() == pytest.approx(ref_mean, rel=1e-6)
    assert got.stderr.item() == pytest.approx(ref_std, rel=1e-5)


def test_nsb_default_alphabet_is_100_times_observed():
    c = torch.tensor([6, 3, 1, 1, 0, 0])
    assert C.entropy_from_counts(c, estimator="nsb").item() == pytest.approx(
        C.entropy_from_counts(c, estimator="nsb", num_categories=400).item(), rel=1e-12
    )


def test_nsb_finite_on_hard_rows():
    rows = [
        [1] * 50,  # no coincidences
        [10**6] + [0] * 9,  # one huge category
        [10**5] * 10,  # perfectly uniform, well sampled
        [1, 10**7],
        [2] * 30,
    ]
    for r in rows:
        c = torch.tensor(r, dtype=torch.float64)
        for K in (None, len(r), 10 * len(r)):
            e = C.entropy_estimate_from_counts(c, estimator="nsb", num_categories=K)
            assert math.isfinite(e.estimate.item()) and math.isfinite(e.stderr.item()), (r[:3], K)
    uni = C.entropy_from_counts(torch.full((10,), 10.0**5), estimator="nsb", num_categories=10)
    assert uni.item() == pytest.approx(math.log(10), abs=1e-4)


# ---------------------------------------------------------------- exact limits


@pytest.mark.parametrize("N", [2, 7, 40])
def test_all_counts_one(N):
    ones = [1] * N
    assert H(ones, "plugin") == pytest.approx(math.log(N))
    assert H(ones, "miller-madow") == pytest.approx(math.log(N) + (N - 1) / (2 * N))
    assert H(ones, "grassberger") == pytest.approx(math.log(N) + np.euler_gamma + math.log(2))  # G(1) = -γ - ln 2
    assert H(ones, "zhang") == pytest.approx(sum(1 / k for k in range(1, N)))  # harmonic number H_{N-1}
    # jackknife of the plug-in: N log N - (N-1) log(N-1)
    assert H(ones, "jackknife") == pytest.approx(N * math.log(N) - (N - 1) * math.log(N - 1))


@pytest.mark.parametrize("estimator", EST)
def test_one_category_is_zero(estimator):
    assert H([17], estimator) == 0.0
    assert H([4, 0, 0], estimator, num_categories=1) == 0.0
    assert C.entropy_from_counts(torch.tensor([[3], [1]]), estimator=estimator).tolist() == [0.0, 0.0]


@pytest.mark.parametrize("estimator", EST)
def test_converges_to_true_entropy(estimator):
    # N -> infinity: counts proportional to p (fixed seed multinomial at N = 2e6)
    p = torch.tensor([0.4, 0.25, 0.15, 0.1, 0.06, 0.04], dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    n = torch.distributions.Multinomial(2_000_000, p).sample() if False else None
    idx = torch.multinomial(p, 2_000_000, replacement=True, generator=g)
    n = torch.bincount(idx, minlength=6)
    true = float(-(p * p.log()).sum())
    kw = {"num_categories": 6} if estimator in ("james-stein", "nsb") else {}
    assert C.entropy_from_counts(n, estimator=estimator, **kw).item() == pytest.approx(true, abs=2e-3)


# ---------------------------------------------------------------- shapes, batching, dtypes


@pytest.mark.parametrize("estimator", [*REFS, "james-stein", "nsb", "auto"])
@pytest.mark.parametrize("dtype", [torch.int64, torch.float64])
def test_large_batches_match_references_row_by_row(estimator, dtype):
    # 24 rows x 400 categories of Zipf-like counts: large enough for the fingerprint path of the
    # estimators that use it (one bincount, the estimator on the distinct values), row by row
    # against the independent references (and NSB / auto against single-row calls, which take
    # the per-category path)
    g = torch.Generator().manual_seed(11)
    p = 1 / torch.arange(1, 401, dtype=torch.float64)
    idx = torch.multinomial((p / p.sum()).expand(24, -1), 150, replacement=True, generator=g)
    c = torch.zeros(24, 400, dtype=torch.float64).scatter_add_(1, idx, torch.ones(24, 150, dtype=torch.float64))
    assert C._compact(c) is not None  # the path under test
    got = C.entropy_from_counts(c.to(dtype), estimator=estimator)
    for i in (0, 5, 23):
        row = c[i].numpy()
        if estimator in REFS:
            ref = REFS[estimator](row)
        elif estimator == "james-stein":
            ref = ref_james_stein(row[row > 0], int((row > 0).sum()))
        else:
            ref = C.entropy_from_counts(c[i], estimator=estimator).item()
        assert got[i].item() == pytest.approx(ref, rel=1e-9), i


@pytest.mark.parametrize("estimator", EST)
def test_fingerprint_of_rows_with_very_different_totals(estimator):
    # one row of 3000 samples beside one of 8: the padding of the small row's fingerprint must
    # read as empty cells (its values exceed the row's total; Chao-Shen gave NaN)
    g = torch.Generator().manual_seed(0)
    p = 1 / torch.arange(1, 3001, dtype=torch.float64)
    big = torch.multinomial(p, 3000, True, generator=g).bincount(minlength=3000)
    small = torch.multinomial(p, 8, True, generator=g).bincount(minlength=3000)
    both = torch.stack([big, small])
    assert C._compact(both.double()) is not None  # the path under test
    got = C.entropy_from_counts(both, estimator=estimator)
    assert torch.isfinite(got).all()
    for i, row in enumerate((big, small)):
        # the references of Zhang's and Chao-Wang-Jost's sums are O(N^2) loops (8 min at N = 3000):
        # those two against a single-row call, which takes the per-category path
        ref = (
            REFS[estimator](row.numpy())
            if estimator in REFS and estimator not in ("zhang", "chao-wang-jost")
            else C.entropy_from_counts(row, estimator=estimator).item()
        )
        assert got[i].item() == pytest.approx(ref, rel=1e-9)


@pytest.mark.parametrize("estimator", EST)
def test_batched_equals_loop(estimator):
    g = torch.Generator().manual_seed(3)
    c = torch.randint(0, 6, (2, 3, 9), generator=g)
    c[..., 0] += 1  # no empty row
    got = C.entropy_from_counts(c, estimator=estimator)
    assert got.shape == (2, 3) and got.dtype == torch.float64
    for i in range(2):
        for j in range(3):
            assert got[i, j].item() == pytest.approx(
                C.entropy_from_counts(c[i, j], estimator=estimator).item(), rel=1e-9
            )
    # dim, reduction, base
    moved = C.entropy_from_counts(c.movedim(-1, 0), dim=0, estimator=estimator)
    torch.testing.assert_close(moved, got)
    assert C.entropy_from_counts(c, estimator=estimator, reduction="mean").item() == pytest.approx(got.mean().item())
    torch.testing.assert_close(C.entropy_from_counts(c, estimator=estimator, base=2), got / math.log(2))


def test_float_counts_keep_dtype_and_integers_give_float64():
    c = torch.tensor([3.0, 1.0, 2.0])
    assert C.entropy_from_counts(c).dtype == torch.float32
    assert C.entropy_from_counts(c.long()).dtype == torch.float64
    assert C.entropy_from_counts(c.bool()).item() == pytest.approx(math.log(3))


@given(st.lists(st.integers(0, 12), min_size=2, max_size=12), st.randoms(use_true_random=False))
def test_permutation_and_zero_padding_invariance(xs, rnd):
    if sum(xs) == 0:
        xs[0] = 1
    c = torch.tensor(xs, dtype=torch.float64)
    perm = list(range(len(xs)))
    rnd.shuffle(perm)
    padded = torch.cat([c[perm], torch.zeros(3, dtype=torch.float64)])
    for estimator in EST:
        if estimator == "nsb":
            continue  # below, once (it is the slow one)
        a = C.entropy_from_counts(c, estimator=estimator).item()
        b = C.entropy_from_counts(padded, estimator=estimator).item()
        assert math.isfinite(a) and a == pytest.approx(b, rel=1e-9, abs=1e-12), estimator
        if estimator in ("plugin", "miller-madow", "chao-shen", "james-stein", "zhang", "chao-wang-jost", "bonachela"):
            assert a >= -1e-12, estimator  # non-negative by construction
    a = C.entropy_from_counts(c, estimator="nsb").item()
    assert a >= 0 and a == pytest.approx(C.entropy_from_counts(padded, estimator="nsb").item(), rel=1e-7)


def test_num_categories_per_row():
    c = torch.tensor([[3, 1, 0], [2, 2, 2]])
    got = C.entropy_from_counts(c, estimator="james-stein", num_categories=torch.tensor([5, 3]))
    assert got[0].item() == pytest.approx(ref_james_stein([3, 1, 0], 5))
    assert got[1].item() == pytest.approx(ref_james_stein([2, 2, 2], 3))


# ---------------------------------------------------------------- gradients


@pytest.mark.parametrize("estimator", SMOOTH)
def test_gradcheck_float_counts(estimator):
    c = torch.tensor([[3.3, 1.2, 0.7, 5.0], [2.0, 2.5, 9.1, 1.4]], dtype=torch.float64, requires_grad=True)
    kw = {"num_categories": 6} if estimator in ("james-stein", "nsb") else {}
    fn = lambda x: C.entropy_from_counts(x, estimator=estimator, **kw)
    assert torch.autograd.gradcheck(fn, (c,), atol=1e-6 if estimator != "nsb" else 1e-5)


# ---------------------------------------------------------------- errors, bad input


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: C.entropy_from_counts(torch.tensor([1, -2, 3])), ValueError, "counts must be non-negative"),
        (
            lambda: C.entropy_from_counts(torch.tensor([1.5, 2.0]), estimator="grassberger"),
            ValueError,
            "counts must hold whole numbers for estimator='grassberger'",
        ),
        (
            lambda: C.entropy_from_counts(torch.tensor([[1, 2], [0, 0]])),
            ValueError,
            "counts must have a positive total",
        ),
        (
            lambda: C.entropy_from_counts(torch.tensor([1, 2]), estimator="magic"),
            ValueError,
            "estimator must be one of",
        ),
        (lambda: C.entropy_from_counts(np.array([1, 2])), TypeError, "counts must be a torch.Tensor"),
        (
            lambda: C.entropy_from_counts(torch.tensor([1, 2, 3]), estimator="nsb", num_categories=2),
            ValueError,
            "num_categories must be at least the number of observed categories",
        ),
        (lambda: C.entropy_from_counts(torch.tensor([1, 2]), num_categories=2.5), TypeError, "num_categories must be"),
        (lambda: C.entropy_from_counts(torch.tensor([1.0, math.nan])), ValueError, "counts must be finite"),
        (lambda: C.entropy_from_counts(torch.tensor([1, 2]), dim=3), ValueError, "dim must be in"),
        (lambda: C.entropy_from_counts(torch.tensor([1, 2]), base=-1), ValueError, "base must be"),
        (
            lambda: C.entropy_estimate_from_counts(torch.tensor([1, 2]), estimator="zhang", stderr="posterior"),
            ValueError,
            "stderr='posterior' needs estimator='nsb'",
        ),
        (
            lambda: C.entropy_estimate_from_counts(torch.tensor([1, 2]), confidence=1.5),
            ValueError,
            "confidence must be",
        ),
        (
            lambda: C.entropy_estimate_from_counts(torch.tensor([1, 2]), generator=torch.Generator(), seed=1),
            ValueError,
            "either generator or seed",
        ),
        (lambda: C.mutual_information_from_counts(torch.tensor([1, 2])), ValueError, "at least 2 dimensions"),
        (
            lambda: it.entropy_from_samples(torch.tensor([1, 2]), estimator="zhang", bias_correction="miller-madow"),
            ValueError,
            "give estimator= or bias_correction=, not both",
        ),
    ],
)
def test_errors_name_the_argument(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("estimator", EST)
def test_never_nan(estimator):
    rows = torch.tensor([[1, 0, 0, 0], [1, 1, 0, 0], [2, 0, 0, 0], [1, 2, 3, 4], [100, 1, 1, 1], [0, 0, 0, 0]])
    got = C.entropy_from_counts(rows, estimator=estimator, validate=False)
    assert torch.isfinite(got).all()
    assert got[-1].item() == 0.0  # empty row without validation: 0


# ---------------------------------------------------------------- error bars


def test_jackknife_stderr_against_explicit_loop():
    n = np.array([6, 3, 3, 1, 1, 2])
    N = n.sum()
    loo = []
    for k in range(len(n)):
        m = n.copy()
        m[k] -= 1
        loo += [ref_chao_shen(m)] * int(n[k])
    loo = np.array(loo)
    se = math.sqrt((N - 1) / N * np.sum((loo - loo.mean()) ** 2))
    got = C.entropy_estimate_from_counts(torch.tensor(n), estimator="chao-shen")
    assert got.stderr.item() == pytest.approx(se, rel=1e-9)
    assert got.estimate.item() == pytest.approx(ref_chao_shen(n), rel=1e-10)
    z = scipy.stats.norm.ppf(0.975)
    assert got.upper.item() - got.estimate.item() == pytest.approx(z * se, rel=1e-9)


def test_bootstrap_is_seeded_and_sensible():
    g = torch.Generator().manual_seed(0)
    c = torch.bincount(torch.randint(0, 20, (300,), generator=g), minlength=20).expand(3, -1)
    a = C.entropy_estimate_from_counts(c, estimator="miller-madow", stderr="bootstrap", seed=5)
    b = C.entropy_estimate_from_counts(c, estimator="miller-madow", stderr="bootstrap", seed=5)
    torch.testing.assert_close(a.stderr, b.stderr)
    # the three identical rows draw different resamples, yet similar standard errors
    assert a.stderr.shape == (3,) and len(set(a.stderr.tolist())) == 3
    jk = C.entropy_estimate_from_counts(c[0], estimator="miller-madow", stderr="jackknife")
    assert a.stderr[0].item() == pytest.approx(jk.stderr.item(), rel=0.3)


def _plugin_mi_numpy(t: np.ndarray) -> float:
    # independent reference: the plug-in MI of a table, in NumPy
    n = t.sum()
    px, py = t.sum(1) / n, t.sum(0) / n
    nz = t > 0
    return float(np.sum(t[nz] / n * np.log(t[nz] / n / np.outer(px, py)[nz])))


def _miller_madow_mi_numpy(t: np.ndarray) -> float:
    def h(c):
        c = c[c > 0]
        n = c.sum()
        return -np.sum(c / n * np.log(c / n)) + (len(c) - 1) / (2 * n)

    return h(t.sum(1)) + h(t.sum(0)) - h(t.ravel())


@pytest.mark.parametrize("estimator", ["plugin", "miller-madow"])
def test_mi_jackknife_stderr_against_explicit_leave_one_sample_out(estimator):
    ref = _plugin_mi_numpy if estimator == "plugin" else _miller_madow_mi_numpy
    t = np.array([[5, 1, 0], [2, 4, 1], [0, 1, 3]])
    n = t.sum()
    loo = []
    for i, j in zip(*np.nonzero(t), strict=True):
        m = t.copy()
        m[i, j] -= 1
        loo += [ref(m)] * int(t[i, j])
    loo = np.array(loo)
    se = math.sqrt((n - 1) / n * np.sum((loo - loo.mean()) ** 2))
    got = C.mutual_information_estimate_from_counts(torch.tensor(t), estimator=estimator)
    assert got.estimate.item() == pytest.approx(max(ref(t), 0.0) if estimator == "plugin" else ref(t), rel=1e-10)
    assert got.stderr.item() == pytest.approx(se, rel=1e-9)
    z = scipy.stats.norm.ppf(0.975)
    assert got.upper.item() - got.estimate.item() == pytest.approx(z * se, rel=1e-9)
    # base 2: every field scales by 1/log 2
    bits = C.mutual_information_estimate_from_counts(torch.tensor(t), estimator=estimator, base=2)
    assert bits.stderr.item() == pytest.approx(se / math.log(2), rel=1e-9)


def test_mi_error_bars_batched_bootstrap_seeded_and_covering():
    # Y = X with probability 0.7, else uniform: I = 0.775 log 3.1 + 0.225 log 0.3 nats
    truth = 0.775 * math.log(4 * 0.775) + 0.225 * math.log(4 * 0.075)
    g = torch.Generator().manual_seed(3)
    x = torch.randint(0, 4, (60, 500), generator=g)
    keep = torch.rand(60, 500, generator=g) < 0.7
    y = torch.where(keep, x, torch.randint(0, 4, (60, 500), generator=g))
    tables = torch.zeros(60, 16).scatter_add_(1, 4 * x + y, torch.ones(60, 500)).reshape(60, 4, 4)
    jk = C.mutual_information_estimate_from_counts(tables, estimator="miller-madow")
    assert jk.estimate.shape == (60,)
    for i in (0, 7):  # the batch equals a loop
        one = C.mutual_information_estimate_from_counts(tables[i], estimator="miller-madow")
        assert one.stderr.item() == pytest.approx(jk.stderr[i].item(), rel=1e-12)
    # the jackknife error bar is the spread of the estimates across independent tables
    spread = jk.estimate.std().item()
    assert jk.stderr.mean().item() == pytest.approx(spread, rel=0.3)
    cover = ((jk.lower <= truth) & (truth <= jk.upper)).double().mean().item()
    assert cover > 0.8
    bs = C.mutual_information_estimate_from_counts(tables[:5], estimator="miller-madow", stderr="bootstrap", seed=1)
    bs2 = C.mutual_information_estimate_from_counts(tables[:5], estimator="miller-madow", stderr="bootstrap", seed=1)
    torch.testing.assert_close(bs.stderr, bs2.stderr)
    assert bs.stderr.mean().item() == pytest.approx(jk.stderr[:5].mean().item(), rel=0.35)


def test_mi_error_bars_reject_bad_options():
    t = torch.tensor([[3, 1], [1, 3]])
    with pytest.raises(ValueError, match="stderr"):
        C.mutual_information_estimate_from_counts(t, stderr="posterior")
    with pytest.raises(ValueError, match="confidence"):
        C.mutual_information_estimate_from_counts(t, confidence=1.5)
    with pytest.raises(ValueError, match="whole numbers"):
        C.mutual_information_estimate_from_counts(t.double() + 0.5)
    with pytest.raises(TypeError, match="generator"):
        C.mutual_information_estimate_from_counts(t, stderr="bootstrap", generator=3)
    with pytest.raises(ValueError, match="num_categories"):
        C.mutual_information_estimate_from_counts(t, estimator="nsb", num_categories=(1, 2))
    # one sample: no spread, exact zero error bar, finite
    one = C.mutual_information_estimate_from_counts(torch.tensor([[1, 0], [0, 0]]))
    assert one.stderr.item() == 0.0 and one.estimate.item() == 0.0


def test_nsb_interval_covers_truth_mostly():
    # fixed-seed Monte Carlo: 95 % posterior intervals on uniform K = 30, N = 60, with K known
    g = torch.Generator().manual_seed(1)
    idx = torch.multinomial(torch.full((200, 30), 1 / 30), 60, replacement=True, generator=g)
    c = torch.zeros(200, 30).scatter_add_(1, idx, torch.ones(200, 60))
    r = C.entropy_estimate_from_counts(c, estimator="nsb", num_categories=30)
    cover = ((r.lower <= math.log(30)) & (math.log(30) <= r.upper)).double().mean().item()
    assert cover > 0.8


# ---------------------------------------------------------------- MI, conditional entropy, samples


@pytest.mark.parametrize("estimator", ["plugin", "miller-madow", "grassberger", "chao-wang-jost", "nsb", "auto"])
def test_mutual_information_is_sum_of_entropies(estimator):
    g = torch.Generator().manual_seed(2)
    t = torch.randint(0, 5, (2, 4, 6), generator=g)
    t[..., 0, 0] += 1
    mi = C.mutual_information_from_counts(t, estimator=estimator)
    ce = C.conditional_entropy_from_counts(t, estimator=estimator)
    for i in range(2):
        hx = C.entropy_from_counts(t[i].sum(-1), estimator=estimator).item()
        hy = C.entropy_from_counts(t[i].sum(-2), estimator=estimator).item()
        hxy = C.entropy_from_counts(t[i].reshape(-1), estimator=estimator).item()
        expect = hx + hy - hxy
        if estimator == "plugin":
            expect = max(expect, 0.0)
        assert mi[i].item() == pytest.approx(expect, rel=1e-9, abs=1e-12)
        assert ce[i].item() == pytest.approx(hxy - hx, rel=1e-9)
    # plug-in against the library's mutual_information of the normalized table
    p = t.double() / t.sum((-2, -1), keepdim=True)
    torch.testing.assert_close(C.mutual_information_from_counts(t), it.mutual_information(p), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("estimator", EST)
def test_samples_layer_matches_counts(estimator):
    g = torch.Generator().manual_seed(4)
    x = torch.randint(-3, 9, (3, 80), generator=g) * 7
    y = (x + torch.randint(0, 3, (3, 80), generator=g)) % 5
    hx = it.entropy_from_samples(x, estimator=estimator)
    assert hx.dtype == torch.float64
    for i in range(3):
        counts = torch.bincount(x[i] - x[i].min())
        assert hx[i].item() == pytest.approx(C.entropy_from_counts(counts, estimator=estimator).item(), rel=1e-9)
    mi = it.mutual_information_from_samples(x, y, estimator=estimator)
    for i in range(3):
        table = torch.zeros(int(x[i].max() - x[i].min()) + 1, 5, dtype=torch.float64)
        table.index_put_((x[i] - x[i].min(), y[i]), torch.ones(80, dtype=torch.float64), accumulate=True)
        ref = C.mutual_information_from_counts(table, estimator=estimator).item()
        assert mi[i].item() == pytest.approx(ref, rel=1e-9, abs=1e-12)


def test_bias_correction_alias_and_float64():
    x = torch.randint(0, 4, (50,), generator=torch.Generator().manual_seed(0))
    a = it.entropy_from_samples(x, bias_correction="miller-madow")
    b = it.entropy_from_samples(x, estimator="miller-madow")
    assert a.dtype == b.dtype == torch.float64 and a.item() == b.item()
    assert it.normalized_mutual_information_from_samples(x, x).dtype == torch.float64


def test_counts_from_samples():
    got = C.counts_from_samples(torch.tensor([[5, 5, -1, 5], [2, 3, 4, 5]]))
    assert got.tolist() == [[1, 3, 0, 0], [1, 1, 1, 1]]


def test_fingerprint_declines_fractional_counts_and_packs_distinct_values():
    # a large batch with one fractional count: the smooth estimators take the per-category path
    g = torch.Generator().manual_seed(3)
    c = torch.multinomial(torch.ones(500), 300, True, generator=g).bincount(minlength=500).double()
    c = c.expand(20, -1).clone()
    assert C._compact(c) is not None
    c[7, 3] += 0.25
    assert C._compact(c) is None
    got = C.entropy_from_counts(c, estimator="plugin")
    p = c.numpy() / c.numpy().sum(-1, keepdims=True)
    ref = -(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0)).sum(-1)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-12)
    # every value in its own column, or the distinct values packed first: the same fingerprint
    c[7, 3] -= 0.25
    vals, mult = C._compact(c)
    pvals, pmult = C._compact(c, distinct=True)
    assert pvals.shape[1] < vals.shape[1]
    for name in ("chao-shen", "nsb", "grassberger"):
        st, pst = C._Stats.of(vals, None, mult), C._Stats.of(pvals, None, pmult)
        a, b = C._ESTIMATORS[name].fn(vals, st), C._ESTIMATORS[name].fn(pvals, pst)
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_batched_validation_refuses_a_tiny_fraction_as_one_row_does():
    # a fraction far below the rounding of a row's total (5e6): the batch and its row agree
    g = torch.Generator().manual_seed(5)
    c = torch.randint(0, 2000, (2, 5000), generator=g).double()
    c[0, 3] += 1e-10
    for rows in (c, c[:1]):
        with pytest.raises(ValueError, match="whole numbers"):
            C.entropy_from_counts(rows, estimator="chao-shen")


# --------------------------------------------------------------------------- hostile inputs (review fixes)


def _jackknife_mp(counts: list[int]) -> float:
    """The jackknife N·H - (N-1)/N Σ_k n_k H_{-k} by explicit leave-one-out, in 60-digit mpmath."""
    mpmath.mp.dps = 60
    n = [mpmath.mpf(c) for c in counts if c > 0]
    total = sum(n)

    def plug(cs: list) -> mpmath.mpf:
        t = sum(cs)
        return -sum(c / t * mpmath.log(c / t) for c in cs if c > 0)

    loo = sum(c * plug([x - 1 if j == i else x for j, x in enumerate(n)]) for i, c in enumerate(n))
    return float(total * plug(n) - (total - 1) / total * loo)


@pytest.mark.parametrize("counts", [[3 * 10**14, 2 * 10**14, 10**14], [2**62, 2**62, 1], [5, 3, 1, 1], [10**9, 7]])
def test_jackknife_at_huge_totals_matches_high_precision(counts):
    got = C.entropy_from_counts(torch.tensor(counts, dtype=torch.float64), estimator="jackknife")
    assert float(got) == pytest.approx(_jackknife_mp(counts), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("estimator", C.ENTROPY_ESTIMATORS)
def test_one_observed_category_is_zero_whatever_the_padding(estimator):
    # K unknown: appending zero counts never changes a result (one category seen: exactly 0)
    for row in ([3], [3, 0], [4, 0, 0]):
        assert float(C.entropy_from_counts(torch.tensor(row), estimator=estimator)) == 0.0
    x = torch.tensor([[4, 4, 4, 4], [1, 2, 3, 3]])
    batched = it.entropy_from_samples(x, estimator=estimator)
    loop = torch.stack([it.entropy_from_samples(r, estimator=estimator) for r in x])
    assert torch.allclose(batched, loop, rtol=1e-12, atol=0)
    # with K declared, K > 1 is the estimator's own value (NSB's posterior is not 0)
    if estimator == "nsb":
        assert float(C.entropy_from_counts(torch.tensor([3, 0]), estimator="nsb", num_categories=2)) > 0


def test_chao_shen_gradients_finite_when_one_category_holds_everything():
    for row in ([5.0, 0.0, 0.0], [5.0]):
        c = torch.tensor(row, dtype=torch.float64, requires_grad=True)
        C.entropy_from_counts(c, estimator="chao-shen").backward()
        assert bool(torch.isfinite(c.grad).all())


@pytest.mark.parametrize("estimator", ["nsb", "auto", "plugin"])
def test_empty_batches_give_empty_results(estimator):
    assert C.entropy_from_counts(torch.zeros(0, 3), estimator=estimator).shape == (0,)
    assert it.entropy_from_samples(torch.zeros(0, 5, dtype=torch.long), estimator=estimator).shape == (0,)
    r = C.entropy_estimate_from_counts(torch.zeros(0, 3), estimator="plugin", stderr="bootstrap")
    assert r.estimate.shape == (0,) and r.stderr.shape == (0,)


def test_bad_options_of_samples_and_the_metric_are_named():
    x = torch.tensor([0, 1, 1, 2])
    with pytest.raises(TypeError, match=r"num_categories must be None or a pair \(K_x, K_y\)"):
        it.mutual_information_from_samples(x, x, num_categories=5)
    from infotorch.metrics import DiscreteMutualInformation

    metric = DiscreteMutualInformation(3, 3)
    with pytest.raises(ValueError, match="x must hold integer class labels"):
        metric.update(torch.tensor([0.4, 1.7, 2.9]), torch.tensor([0, 1, 2]))
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match="num_x must be a positive integer"):
            DiscreteMutualInformation(bad, 3)
    with pytest.raises(ValueError, match="whole numbers for stderr='bootstrap'"):
        C.entropy_estimate_from_counts(torch.tensor([1.5, 2.0]), estimator="plugin", stderr="bootstrap")


def test_jackknife_gradient_finite_at_singletons_and_zeros():
    # the unused branch of (n - 1) log(1 - 1/n) at n <= 1 must never reach log 0
    c = torch.tensor([3.0, 5.0, 1.0, 7.0, 0.0], dtype=torch.float64, requires_grad=True)
    C.entropy_from_counts(c, estimator="jackknife", validate=False).backward()
    assert bool(torch.isfinite(c.grad).all())


@pytest.mark.parametrize("estimator", ["nsb", "bonachela", "grassberger", "auto"])
def test_jackknife_error_bar_uses_the_same_exact_cases(estimator):
    # the standard error from explicit leave-one-out estimates through the public function
    counts = [5, 1]
    n = sum(counts)
    theta = []
    for j, c in enumerate(counts):
        loo = list(counts)
        loo[j] -= 1
        theta += [float(C.entropy_from_counts(torch.tensor(loo), estimator=estimator))] * c
    t = np.array(theta)
    ref = math.sqrt((n - 1) / n * ((t - t.mean()) ** 2).sum())
    got = C.entropy_estimate_from_counts(torch.tensor(counts), estimator=estimator, stderr="jackknife")
    assert float(got.stderr) == pytest.approx(ref, rel=1e-9)
