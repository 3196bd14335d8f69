"""kNN estimators (infotorch.knn) against independent references.

References, each named at its test: closed forms (Gaussian, uniform and exponential entropy,
correlated-Gaussian MI -1/2 log det(I - R^2), Gaussian KL); a from-scratch NumPy + scipy cKDTree
KSG and NumPy brute-force versions of every estimator written here; scikit-learn's
``mutual_info_regression`` / ``mutual_info_classif`` (and their noise-free internals
``_compute_mi_cc`` / ``_compute_mi_cd``). Monte Carlo tolerances are about 4 standard deviations
of the estimator at the sample size used (fixed seeds).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy.spatial import cKDTree
from scipy.special import digamma

import infotorch._neighbors as nb
import infotorch.knn as knn

F64 = torch.float64

try:
    import faiss
except ImportError:  # an optional extra: pip install faiss-cpu (or infotorch[faiss])
    faiss = None
needs_faiss = pytest.mark.skipif(
    faiss is None, reason="faiss is not installed (pip install faiss-cpu, or the infotorch[faiss] extra)"
)


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def correlated(n: int, d: int, rho: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, float]:
    """x, y with corr(x_i, y_i) = rho per coordinate; true MI = -d/2 log(1 - rho^2)."""
    x = randn(n, d, seed=seed)
    y = rho * x + math.sqrt(1 - rho**2) * randn(n, d, seed=seed + 1000)
    return x, y, -0.5 * d * math.log(1 - rho**2)


# --------------------------------------------------------------------------- NumPy references


def ref_ksg1_ckdtree(x: np.ndarray, y: np.ndarray, k: int) -> float:
    """KSG variant 1 written from Kraskov et al. (2004) Eq. (8) with cKDTree, max-norm."""
    n = len(x)
    xy = np.hstack([x, y])
    d, _ = cKDTree(xy).query(xy, k=k + 1, p=np.inf)
    eps = d[:, -1]
    r = np.nextafter(eps, 0)
    nx = cKDTree(x).query_ball_point(x, r, p=np.inf, return_length=True) - 1
    ny = cKDTree(y).query_ball_point(y, r, p=np.inf, return_length=True) - 1
    return digamma(k) + digamma(n) - np.mean(digamma(nx + 1) + digamma(ny + 1))


def _norm(diff: np.ndarray, metric: str) -> np.ndarray:
    if metric == "chebyshev" or diff.shape[-1] == 1:
        return np.abs(diff).max(-1)
    return np.sqrt((diff**2).sum(-1))


def ref_dist(a: np.ndarray, metric: str) -> np.ndarray:
    d = _norm(a[:, None, :] - a[None, :, :], metric)
    np.fill_diagonal(d, np.inf)
    return d


def ref_ksg_brute(x: np.ndarray, y: np.ndarray, k: int, metric: str, variant: int) -> float:
    """Both KSG variants by full distance matrices (Kraskov et al. 2004, Eqs. (8) and (9))."""
    n = len(x)
    dx, dy = ref_dist(x, metric), ref_dist(y, metric)
    dj = np.maximum(dx, dy)
    order = np.argsort(dj, axis=1)[:, :k]
    eps = np.take_along_axis(dj, order, 1)[:, -1]
    if variant == 1:
        nx = (dx < eps[:, None]).sum(1)
        ny = (dy < eps[:, None]).sum(1)
        return digamma(k) + digamma(n) - np.mean(digamma(nx + 1) + digamma(ny + 1))
    ex = np.take_along_axis(dx, order, 1).max(1)
    ey = np.take_along_axis(dy, order, 1).max(1)
    nx = (dx <= ex[:, None]).sum(1)
    ny = (dy <= ey[:, None]).sum(1)
    return digamma(k) - 1 / k + digamma(n) - np.mean(digamma(nx) + digamma(ny))


def ref_cmi(x: np.ndarray, y: np.ndarray, z: np.ndarray, k: int) -> float:
    """Frenzel & Pompe (2007) Eq. (2), max-norm, full distance matrices."""
    dx, dy, dz = (ref_dist(a, "chebyshev") for a in (x, y, z))
    eps = np.sort(np.maximum(np.maximum(dx, dy), dz), axis=1)[:, k - 1][:, None]
    nxz = (np.maximum(dx, dz) < eps).sum(1)
    nyz = (np.maximum(dy, dz) < eps).sum(1)
    nz = (dz < eps).sum(1)
    return digamma(k) - np.mean(digamma(nxz + 1) + digamma(nyz + 1) - digamma(nz + 1))


def ref_entropy(x: np.ndarray, k: int, metric: str) -> float:
    """Kozachenko-Leonenko with the unit-ball volume written out."""
    n, d = x.shape
    rho = np.sort(ref_dist(x, metric), axis=1)[:, k - 1]
    logv = d * math.log(2) if metric == "chebyshev" else d / 2 * math.log(math.pi) - math.lgamma(d / 2 + 1)
    return digamma(n) - digamma(k) + logv + d * np.mean(np.log(rho))


def ref_kl(x: np.ndarray, y: np.ndarray, k: int) -> float:
    """Wang, Kulkarni & Verdú (2009) Eq. (5), Euclidean."""
    n, d = x.shape
    m = len(y)
    rho = np.sort(ref_dist(x, "euclidean"), axis=1)[:, k - 1]
    nu = np.sort(np.sqrt(((x[:, None] - y[None]) ** 2).sum(-1)), axis=1)[:, k - 1]
    return d * np.mean(np.log(nu / rho)) + math.log(m / (n - 1))


# --------------------------------------------------------------------------- closed forms


@pytest.mark.parametrize("metric", ["euclidean", "chebyshev"])
@pytest.mark.parametrize("d", [1, 3])
def test_entropy_gaussian_closed_form(metric, d):
    # h(N(0, I_d)) = d/2 log(2 pi e); KL spread at N = 3000 is about 0.03 nats
    x = randn(3000, d, seed=d)
    truth = 0.5 * d * math.log(2 * math.pi * math.e)
    assert abs(float(knn.knn_entropy(x, metric=metric)) - truth) < 0.06 * d


def test_entropy_uniform_and_exponential_closed_forms():
    g = torch.Generator().manual_seed(3)
    u = 2.5 * torch.rand(4000, 1, generator=g, dtype=F64)  # h = log 2.5
    assert abs(float(knn.knn_entropy(u)) - math.log(2.5)) < 0.03
    e = torch.empty(4000, 1, dtype=F64).exponential_(2.0, generator=g)  # h = 1 - log(rate)
    assert abs(float(knn.knn_entropy(e)) - (1 - math.log(2.0))) < 0.04


@pytest.mark.parametrize("rho", [0.0, 0.6, 0.9])
def test_ksg_correlated_gaussian_closed_form(rho):
    x, y, truth = correlated(2000, 1, rho, seed=5)
    assert abs(float(knn.ksg_mutual_information(x, y)) - truth) < 0.05


def test_ksg_block_gaussian_logdet():
    # I = -1/2 log det(I - R^2) with R the canonical correlations; here a 2 x 2 mixed covariance
    g = torch.Generator().manual_seed(8)
    cov = torch.tensor(
        [[1.0, 0.3, 0.5, 0.1], [0.3, 1.0, 0.2, 0.4], [0.5, 0.2, 1.0, 0.0], [0.1, 0.4, 0.0, 1.0]], dtype=F64
    )
    z = torch.randn(3000, 4, generator=g, dtype=F64) @ torch.linalg.cholesky(cov).T
    truth = 0.5 * float(torch.logdet(cov[:2, :2]) + torch.logdet(cov[2:, 2:]) - torch.logdet(cov))
    assert abs(float(knn.ksg_mutual_information(z[:, :2], z[:, 2:])) - truth) < 0.06
    assert abs(float(knn.gaussian_copula_mutual_information(z[:, :2], z[:, 2:])) - truth) < 0.04


def test_kl_gaussian_closed_form():
    # KL(N(0, I) || N(mu, I)) = |mu|^2 / 2
    x = randn(3000, 2, seed=1)
    y = randn(3000, 2, seed=2) + torch.tensor([0.6, 0.0], dtype=F64)
    assert abs(float(knn.knn_kl_divergence(x, y, k=5)) - 0.18) < 0.06
    assert abs(float(knn.knn_kl_divergence(x, randn(3000, 2, seed=9), k=5))) < 0.05


def test_cmi_closed_form():
    # x = z + a, y = z + b: I(X; Y | Z) = 0; x = z + a, y = x + b: I(X; Y | Z) = 1/2 log(1 + var(a)/var(b)) (Gaussian)
    z, a, b = randn(2000, 1, seed=1), randn(2000, 1, seed=2), randn(2000, 1, seed=3)
    assert abs(float(knn.ksg_conditional_mutual_information(z + a, z + b, z))) < 0.04
    truth = 0.5 * math.log(1 + 1 / 0.25)
    assert abs(float(knn.ksg_conditional_mutual_information(z + a, z + a + 0.5 * b, z)) - truth) < 0.08


def test_copula_high_dimension_closed_form():
    # 20 x 20, N = 2000: the estimate's sd is 0.057 nats (measured, 20 seeds); the mean of 4 batch rows is tested
    pairs = [correlated(2000, 20, 0.5, seed=s) for s in range(4)]
    x, y, truth = torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs]), pairs[0][2]
    est = knn.gaussian_copula_mutual_information(torch.sinh(x), y**3, reduction="mean")
    assert abs(float(est) - truth) < 0.1
    raw = knn.gaussian_copula_mutual_information(x, y, bias_correction=False, reduction="mean")
    # the correction: 1/2 sum_j [psi((N-j)/2) - psi((N-20-j)/2)], about Dx Dy / 2N = 0.1 nats
    assert float(raw - est) == pytest.approx(0.1, rel=0.05)


def test_discrete_mixture_quadrature():
    # two classes N(0, 0.5^2), N(1, 0.5^2), equal weights: I = h(mixture) - h(N(0, 0.25)), 0.3368 nats by quadrature
    g = torch.Generator().manual_seed(4)
    lab = torch.randint(0, 2, (3000,), generator=g)
    x = lab + 0.5 * torch.randn(3000, generator=g, dtype=F64)
    assert abs(float(knn.knn_mutual_information_discrete(x, lab)) - 0.3368) < 0.04


# --------------------------------------------------------------------------- reference implementations


def test_ksg_matches_ckdtree_reference():
    x, y, _ = correlated(700, 2, 0.5, seed=11)
    y = torch.cat([y, randn(700, 1, seed=12)], 1)  # 2 x 3
    ours = knn.ksg_mutual_information(x, y, k=4, standardize=False)
    assert abs(float(ours) - ref_ksg1_ckdtree(x.numpy(), y.numpy(), 4)) < 1e-10


@pytest.mark.parametrize("metric", ["chebyshev", "euclidean"])
@pytest.mark.parametrize("variant", [1, 2])
def test_ksg_matches_brute_reference(metric, variant):
    x, y, _ = correlated(250, 2, 0.6, seed=13)
    ours = knn.ksg_mutual_information(x, y, k=3, variant=variant, metric=metric, standardize=False)
    assert abs(float(ours) - ref_ksg_brute(x.numpy(), y.numpy(), 3, metric, variant)) < 1e-10


def ref_ksg2_ties(x: np.ndarray, y: np.ndarray, k: int, metric: str) -> float:
    """KSG variant 2 with the documented tie rules (ksg_mutual_information's docstring), full matrices:
    the rectangle spans the whole closed ball when it holds more than k points, a zero side falls back
    to the variant-1 term, and a zero radius to the digamma plug-in term of the duplicate counts."""
    n = len(x)
    dx, dy = ref_dist(x, metric), ref_dist(y, metric)
    dj = np.maximum(dx, dy)
    eps = np.sort(dj, axis=1)[:, k - 1]
    same = lambda a: (np.abs(a[:, None, :] - a[None, :, :]).max(-1) == 0).sum(1)  # self included
    out = []
    for i in range(n):
        if eps[i] == 0:
            out.append(digamma(same(np.hstack([x, y]))[i]) + digamma(n) - digamma(same(x)[i]) - digamma(same(y)[i]))
            continue
        ball = dj[i] <= eps[i]
        closed = int(ball.sum())
        ball = ball if closed > k else np.isin(np.arange(n), np.argsort(dj[i], kind="stable")[:k])
        ex, ey = dx[i, ball].max(), dy[i, ball].max()
        if ex > 0 and ey > 0:
            nx, ny = (dx[i] <= ex).sum(), (dy[i] <= ey).sum()
            out.append(digamma(closed) - 1 / closed + digamma(n) - digamma(nx) - digamma(ny))
        else:
            k_eff = 1 + (dj[i] < eps[i]).sum()
            nx, ny = (dx[i] < eps[i]).sum(), (dy[i] < eps[i]).sum()
            out.append(digamma(k_eff) + digamma(n) - digamma(nx + 1) - digamma(ny + 1))
    return float(np.mean(out))


@pytest.mark.parametrize("metric", ["chebyshev", "euclidean"])
@pytest.mark.parametrize("dims", [(1, 1), (2, 2), (2, 1)])
def test_ksg2_tie_rules_match_reference(metric, dims):
    # coarse values: ties beyond the k-th neighbour (the rectangle spans the closed ball), zero sides, atoms
    g = torch.Generator().manual_seed(5)
    x = torch.round(2 * torch.randn(200, dims[0], generator=g, dtype=F64))
    y = torch.round(x[:, :1] + 2 * torch.randn(200, dims[1], generator=g, dtype=F64))
    ours = knn.ksg_mutual_information(x, y, k=3, variant=2, metric=metric, standardize=False)
    assert abs(float(ours) - ref_ksg2_ties(x.numpy(), y.numpy(), 3, metric)) < 1e-10


def test_cmi_entropy_kl_match_brute_references():
    x, y, z = randn(200, 1, seed=1), randn(200, 2, seed=2), randn(200, 1, seed=3)
    y = y + x
    got = knn.ksg_conditional_mutual_information(x, y, z, standardize=False)
    assert abs(float(got) - ref_cmi(x.numpy(), y.numpy(), z.numpy(), 3)) < 1e-10
    for metric in ("euclidean", "chebyshev"):
        assert abs(float(knn.knn_entropy(y, k=2, metric=metric)) - ref_entropy(y.numpy(), 2, metric)) < 1e-10
    w = randn(150, 2, seed=4) + 0.3
    assert abs(float(knn.knn_kl_divergence(y, w, k=2)) - ref_kl(y.numpy(), w.numpy(), 2)) < 1e-10


def test_sklearn_regression_and_classif_agree():
    # scikit-learn adds 1e-10 relative noise; on tie-free data it moves no count, so the numbers agree.
    skl = pytest.importorskip("sklearn.feature_selection")
    from sklearn.feature_selection._mutual_info import _compute_mi_cc, _compute_mi_cd

    rng = np.random.default_rng(0)
    x = rng.standard_normal(600)
    y = np.sin(2 * x) + 0.5 * rng.standard_normal(600)
    for k in (3, 6):  # n_neighbors is our k
        ref = skl.mutual_info_regression(x[:, None], y, n_neighbors=k, random_state=0)[0]
        ours = float(knn.ksg_mutual_information(torch.tensor(x), torch.tensor(y), k=k))
        assert ours == pytest.approx(ref, rel=1e-6)
        assert ours == pytest.approx(_compute_mi_cc(x / x.std(), y / y.std(), k), rel=1e-12)
    lab = rng.integers(0, 4, 600)
    lab[:1] = 7  # a class of one: left out by both
    c = lab + rng.standard_normal(600)
    ref = skl.mutual_info_classif(c[:, None], lab, n_neighbors=3, random_state=0)[0]
    ours = float(knn.knn_mutual_information_discrete(torch.tensor(c), torch.tensor(lab)))
    assert ours == pytest.approx(ref, rel=1e-6)
    assert ours == pytest.approx(_compute_mi_cd(c / c.std(), lab, 3), rel=1e-12)


# --------------------------------------------------------------------------- batching, backends, dtypes


def _all_calls(x, y, z, lab):
    return {
        "entropy": lambda **kw: knn.knn_entropy(x, **kw),
        "entropy_max": lambda **kw: knn.knn_entropy(x, metric="chebyshev", **kw),
        "ksg1": lambda **kw: knn.ksg_mutual_information(x, y, **kw),
        "ksg2": lambda **kw: knn.ksg_mutual_information(x, y, variant=2, **kw),
        "ksg_euc": lambda **kw: knn.ksg_mutual_information(x, y, metric="euclidean", **kw),
        "ksg2_euc": lambda **kw: knn.ksg_mutual_information(x, z, variant=2, metric="euclidean", **kw),
        "cmi": lambda **kw: knn.ksg_conditional_mutual_information(x, y, z, **kw),
        "cmi_euc": lambda **kw: knn.ksg_conditional_mutual_information(x, y, z, metric="euclidean", **kw),
        "kl": lambda **kw: knn.knn_kl_divergence(x, z, **kw),
        "ross": lambda **kw: knn.knn_mutual_information_discrete(x, lab, **kw),
        "ross_max": lambda **kw: knn.knn_mutual_information_discrete(x, lab, metric="chebyshev", **kw),
    }


def test_batched_equals_loop():
    x, y, z = randn(2, 3, 120, 2, seed=1), randn(2, 3, 120, 1, seed=2), randn(2, 3, 120, 2, seed=3)
    y = y + x[..., :1]
    lab = torch.randint(0, 3, (2, 3, 120), generator=torch.Generator().manual_seed(0))
    batched = {k: f() for k, f in _all_calls(x, y, z, lab).items()}
    for i in range(2):
        for j in range(3):
            single = _all_calls(x[i, j], y[i, j], z[i, j], lab[i, j])
            for name, f in single.items():
                assert torch.allclose(batched[name][i, j], f(), rtol=0, atol=1e-12), name


def _backend_data(ties: bool, n: int = 150, seed: int = 7):
    g = torch.Generator().manual_seed(seed)
    x, y, z = (torch.randn(2, n, d, generator=g, dtype=F64) for d in (2, 1, 2))
    if ties:  # coarse rounding: many exact ties and duplicates, at the radius and at 0
        x, y, z = (torch.round(t * 2) for t in (x, y, z))
    lab = torch.randint(0, 3, (2, n), generator=g)
    return x, y + x[..., :1], z, lab


@pytest.mark.parametrize(
    "backends", [("brute", "kdtree", "auto"), pytest.param(("brute", "kdtree", "faiss", "auto"), marks=needs_faiss)]
)
@pytest.mark.parametrize("ties", [False, True])
def test_every_backend_gives_the_same_bits(ties, backends):
    for name, f in _all_calls(*_backend_data(ties)).items():
        a = f(backend="brute")
        assert torch.isfinite(a).all(), name
        for backend in backends[1:]:
            b = f(backend=backend)
            assert torch.equal(a, b), (name, backend, a, b)


@needs_faiss
@pytest.mark.parametrize("ties", [False, True])
def test_auto_with_faiss_gives_the_same_bits_where_it_picks_faiss(ties):
    # N = 600 > FAISS_MIN_N_PRODUCT: "auto" searches the Euclidean product spaces with faiss here
    data = _backend_data(ties, n=600, seed=3)
    x = data[0]
    joint = nb.make_space((2, 2), "euclidean")
    assert nb.search_backend(nb.resolve_backend("auto", x), joint, 600) == "faiss"
    for name in ("ksg_euc", "ksg2_euc", "cmi_euc", "ross", "entropy"):
        f = _all_calls(*data)[name]
        a, b, c = f(backend="brute"), f(backend="auto"), f(backend="faiss")
        assert torch.equal(a, b) and torch.equal(a, c), (name, a, b, c)


@needs_faiss
def test_auto_rule_for_faiss():
    cpu = torch.zeros(1)
    assert nb.resolve_backend("auto", cpu) == "auto"
    product = nb.make_space((10, 10), "euclidean")
    assert nb.search_backend("auto", product, 100_000) == "faiss"
    assert nb.search_backend("auto", product, 100) == "brute"  # small: brute force is as fast
    assert nb.search_backend("auto", nb.make_space((10, 10), "chebyshev"), 100_000) == "kdtree"
    assert nb.search_backend("auto", nb.make_space((1, 1), "euclidean"), 100_000) == "kdtree"  # a max-norm
    assert nb.search_backend("auto", nb.make_space((20,), "euclidean"), 100_000) == "faiss"
    assert nb.search_backend("auto", nb.make_space((8,), "euclidean"), 100_000) == "kdtree"
    assert nb.search_backend("auto", nb.make_space((20,), "euclidean"), 1000) == "kdtree"
    assert nb.search_backend("faiss", nb.make_space((2,), "chebyshev"), 10) == "faiss"


def _adversarial(m: int = 40, metric: str = "euclidean") -> np.ndarray:
    """A query at (500, 0) with m points at distances 1 + i 1e-9 (the nearest have the highest indices)
    and four anchors at distance 1000 from the origin, so that the float32 grid (spacing 3e-5 near 500)
    cannot tell the m distances apart, whatever centre a backend picks."""
    rng = np.random.default_rng(0)
    q = np.array([500.0, 0.0])
    r = 1.0 + 1e-9 * np.arange(m)[::-1]
    if metric == "euclidean":
        theta = rng.uniform(0, 2 * np.pi, m)
        offsets = np.stack([np.cos(theta), np.sin(theta)], 1)
    else:  # max-norm: the larger coordinate of every offset is +-1, the other smaller
        offsets = np.stack([rng.choice([-1.0, 1.0], m), rng.uniform(-0.9, 0.9, m)], 1)
        offsets = np.where(rng.random((m, 1)) < 0.5, offsets, offsets[:, ::-1])
    anchors = np.array([[-1000.0, 0.0], [1000.0, 0.0], [0.0, 1000.0], [0.0, -1000.0]])
    return np.vstack([q[None], q + r[:, None] * offsets, anchors])


@needs_faiss
@pytest.mark.parametrize("metric", ["euclidean", "chebyshev"])
def test_faiss_guard_on_neighbours_float32_cannot_order(metric):
    pts = _adversarial(metric=metric)
    k = 3
    # from scratch, in float64: the canonical distances from the query (point 0)
    diff = pts[1:] - pts[0]
    dist = np.sqrt(diff[:, 0] * diff[:, 0] + diff[:, 1] * diff[:, 1]) if metric == "euclidean" else np.abs(diff).max(1)
    truth = np.argsort(dist, kind="stable")[:k] + 1
    assert list(truth) == [40, 39, 38]  # the construction: distinct in float64
    # faiss alone, in float32, returns other points: the case is one where rounding reorders neighbours
    centre = (pts.min(0) + pts.max(0)) / 2
    x32 = np.ascontiguousarray(pts - centre, dtype=np.float32)
    flat = faiss.IndexFlatL2(2) if metric == "euclidean" else faiss.IndexFlat(2, faiss.METRIC_Linf)
    flat.add(x32)
    _, raw = flat.search(x32[:1], k + 1)
    assert set(raw[0, 1:]) != set(truth)
    # the guarded search: the exact neighbours and their canonical distances, bit for bit
    X = torch.from_numpy(pts).unsqueeze(0)
    space = nb.make_space((2,), metric)
    values, index = nb.kth_neighbors(X, X, space, k, "faiss", exclude_self=True)
    assert index[0, 0].tolist() == list(truth)
    assert values[0, 0].tolist() == list(dist[truth - 1])
    brute = nb.kth_neighbors(X, X, space, k, "brute", exclude_self=True)
    assert torch.equal(values, brute[0])
    # and an estimator on these points
    e = knn.knn_entropy(X[0], metric=metric, backend="faiss")
    assert torch.equal(e, knn.knn_entropy(X[0], metric=metric, backend="brute"))


@needs_faiss
@pytest.mark.parametrize(
    ("dims", "metric", "offset", "scale"),
    [
        ((3,), "euclidean", 0.0, 1.0),
        ((2, 3), "euclidean", 1e3, 1e-3),  # tiny distances far from the origin
        ((1, 2, 1), "euclidean", -5.0, 1e4),
        ((4,), "chebyshev", 1e6, 1.0),
        ((2, 2), "chebyshev", 0.0, 1e-30),
    ],
)
def test_faiss_lower_bound_holds_for_every_pair(dims, metric, offset, scale):
    # the bound behind the guard, checked on faiss's own float32 value of every pair (K = N)
    g = torch.Generator().manual_seed(1)
    space = nb.make_space(dims, metric)
    n = 300
    pts = offset + scale * torch.randn(n, space.dim, generator=g, dtype=F64)
    pts[:20] = pts[20:40] + scale * 1e-7 * torch.randn(20, space.dim, generator=g, dtype=F64)  # near-duplicates
    frame = nb._float32_frame(pts, pts, space)
    assert frame is not None
    q32, r32, size_q, size_r = frame
    flat = faiss.IndexFlat(space.dim, faiss.METRIC_Linf) if space.max_norm else faiss.IndexFlatL2(space.dim)
    flat.add(r32.numpy())
    v32, j = flat.search(q32.numpy(), n)
    v = torch.from_numpy(v32).to(F64)
    j = torch.from_numpy(j)
    canonical = nb.pair_distances(pts.unsqueeze(1), pts[j], space)
    bound = nb._faiss_lower_bound(v, size_q.unsqueeze(1), size_r, space)
    assert bool((bound <= canonical).all())
    assert bool((bound > 0.99 * canonical - 1e-3 * scale).any())  # and it is not vacuous


@needs_faiss
def test_faiss_falls_back_to_brute_force_where_it_must():
    g = torch.Generator().manual_seed(2)
    # 1500 copies of one point: no float32 radius of 1024 candidates can separate them
    x = torch.cat([torch.zeros(1500, 2, dtype=F64), torch.randn(500, 2, generator=g, dtype=F64)])
    for space in (nb.make_space((2,), "euclidean"), nb.make_space((1, 1), "euclidean")):
        a = nb.kth_neighbors(x[None], x[None], space, 3, "faiss", exclude_self=True)
        b = nb.kth_neighbors(x[None], x[None], space, 3, "brute", exclude_self=True)
        assert torch.equal(a[0], b[0])
    assert torch.equal(knn.knn_entropy(x, backend="faiss"), knn.knn_entropy(x, backend="brute"))
    # a coordinate that float32 cannot hold: the whole batch row goes to brute force
    y = torch.randn(2, 200, 3, generator=g, dtype=F64)
    y[0, 5, 0] = 1e300
    space = nb.make_space((3,), "euclidean")
    assert nb._float32_frame(y[0], y[0], space) is None
    a = nb.kth_neighbors(y, y, space, 2, "faiss", exclude_self=True)
    b = nb.kth_neighbors(y, y, space, 2, "brute", exclude_self=True)
    assert torch.equal(a[0], b[0])


def test_dtype_base_reduction():
    x, y, _ = correlated(300, 1, 0.7)
    nats = knn.ksg_mutual_information(x, y)
    assert nats.dtype == F64
    assert torch.allclose(knn.ksg_mutual_information(x, y, base=2), nats / math.log(2))
    out32 = knn.ksg_mutual_information(x.float(), y.float())
    assert out32.dtype == torch.float32
    xb, yb = torch.stack([x, x]), torch.stack([y, -y])
    both = knn.ksg_mutual_information(xb, yb, reduction="none")
    assert both.shape == (2,)
    assert torch.allclose(knn.ksg_mutual_information(xb, yb, reduction="mean"), both.mean())
    ints = torch.randint(0, 50, (300, 2), generator=torch.Generator().manual_seed(0))
    assert knn.knn_entropy(ints).dtype == torch.get_default_dtype()


# --------------------------------------------------------------------------- ties and constants


@pytest.mark.parametrize("n", [10, 100, 1000, 5000])
def test_constant_feature_gives_exactly_zero(n):
    # scikit-learn#30772: a constant feature has MI 0 with anything, at every N
    g = torch.Generator().manual_seed(n)
    const = torch.full((n,), 3.7, dtype=F64)
    cont = torch.randn(n, generator=g, dtype=F64)
    disc = torch.randint(0, 4, (n,), generator=g)
    rare = torch.where(torch.arange(n) < 2, 99, disc)  # a value with fewer copies than k
    for other in (cont, disc.double(), rare.double()):
        assert float(knn.ksg_mutual_information(const, other)) == 0.0
        assert float(knn.ksg_mutual_information(other, const)) == 0.0
        assert float(knn.ksg_mutual_information(const, other, variant=2)) == 0.0
        assert float(knn.ksg_conditional_mutual_information(const, other, cont)) == 0.0
        assert float(knn.ksg_conditional_mutual_information(other, const, cont)) == 0.0
    assert float(knn.knn_mutual_information_discrete(const, disc)) == 0.0
    assert float(knn.mutual_information_continuous(const, cont)) == 0.0


def test_duplicates_never_give_infinities():
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 6, (400, 2), generator=g).double()  # every point has many duplicates
    y = x[:, :1] + torch.randint(0, 2, (400, 1), generator=g)
    for value in (
        knn.knn_entropy(x),
        knn.ksg_mutual_information(x, y),
        knn.ksg_mutual_information(x, y, variant=2),
        knn.ksg_conditional_mutual_information(x[:, :1], y, x[:, 1:]),
        knn.knn_kl_divergence(x, x + 1),
        knn.knn_mutual_information_discrete(x, y[:, 0].long()),
    ):
        assert torch.isfinite(value)
    # on purely discrete data KSG is the digamma plug-in estimate of discrete MI, close to the plug-in
    from infotorch import mutual_information_from_samples

    codes = (x[:, 0] * 10 + x[:, 1]).long()
    plug = float(mutual_information_from_samples(codes, y[:, 0].long()))
    assert abs(float(knn.ksg_mutual_information(x, y)) - plug) < 0.1
    # a duplicate-free sample is unaffected by the rule; a point mass has h = -inf
    assert float(knn.knn_entropy(torch.ones(50, 1))) == -math.inf


def test_deterministic():
    x, y, _ = correlated(500, 2, 0.5)
    assert torch.equal(knn.ksg_mutual_information(x, y), knn.ksg_mutual_information(x, y))


# --------------------------------------------------------------------------- validation


def test_errors_name_the_argument():
    x, y, _ = correlated(50, 1, 0.5)
    with pytest.raises(ValueError, match=r"x must have more than k=3 samples along dim -2, got N=3"):
        knn.ksg_mutual_information(x[:3], y[:3])
    bad = x.clone()
    bad[3] = math.nan
    with pytest.raises(ValueError, match=r"^x must be finite, got 1 NaN"):
        knn.knn_entropy(bad)
    with pytest.raises(ValueError, match=r"x and y must have the same number of samples along dim -2, got 50 and 49"):
        knn.ksg_mutual_information(x, y[:-1])
    with pytest.raises(ValueError, match=r"x and z must have the same batch shape"):
        knn.ksg_conditional_mutual_information(x, y, torch.stack([y, y]))
    with pytest.raises(TypeError, match=r"x must be a torch.Tensor, got ndarray \(convert it with torch.as_tensor\)"):
        knn.knn_entropy(x.numpy())
    with pytest.raises(TypeError, match=r"k must be a positive int, got 2.0"):
        knn.knn_entropy(x, k=2.0)
    with pytest.raises(ValueError, match=r"metric must be one of 'euclidean' \| 'chebyshev', got 'l1'"):
        knn.knn_entropy(x, metric="l1")
    with pytest.raises(ValueError, match=r"variant must be one of 1 \| 2, got 3"):
        knn.ksg_mutual_information(x, y, variant=3)
    with pytest.raises(
        ValueError, match=r"backend must be one of 'auto' \| 'brute' \| 'kdtree' \| 'faiss', got 'annoy'"
    ):
        knn.knn_entropy(x, backend="annoy")
    with pytest.raises(ValueError, match=r"labels must have shape \(50,\)"):
        knn.knn_mutual_information_discrete(x, torch.zeros(49, dtype=torch.long))
    with pytest.raises(TypeError, match=r"labels must hold integer codes"):
        knn.knn_mutual_information_discrete(x, torch.zeros(50))
    with pytest.raises(ValueError, match=r"labels must have at least one class with two or more samples"):
        knn.knn_mutual_information_discrete(x, torch.arange(50))
    with pytest.raises(ValueError, match=r"x and y need more samples than dimensions together"):
        knn.gaussian_copula_mutual_information(randn(10, 6), randn(10, 5))
    with pytest.raises(ValueError, match=r"estimator must be one of 'auto'"):
        knn.mutual_information_continuous(x, y, estimator="lnc")
    with pytest.raises(ValueError, match=r"x and y must have the same dimension D"):
        knn.knn_kl_divergence(x, randn(50, 2))
    with pytest.raises(ValueError, match=r"^base must be"):
        knn.knn_entropy(x, base=1)


def test_backend_errors_say_what_is_missing(monkeypatch):
    import dataclasses

    x = torch.zeros(20, 2, device="meta")
    with pytest.raises(ValueError, match=r"^backend='kdtree' needs CPU tensors, got a tensor on meta$"):
        nb.resolve_backend("kdtree", x)
    assert nb.resolve_backend("auto", x) == "brute"
    missing = dataclasses.replace(nb.BACKENDS["faiss"], available=lambda: False)
    monkeypatch.setitem(nb.BACKENDS, "faiss", missing)
    with pytest.raises(
        ValueError, match=r"^backend='faiss' needs faiss \(pip install faiss-cpu, or infotorch\[faiss\]\)"
    ):
        knn.knn_entropy(randn(20, 2), backend="faiss")


def test_warning_at_joint_dimension_20():
    x, y, _ = correlated(100, 10, 0.3)
    with pytest.warns(UserWarning, match=r"joint dimension of 20 \(>= 20\) is biased low"):
        knn.ksg_mutual_information(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        knn.ksg_mutual_information(x[:, :9], y)  # 19: no warning
        auto = knn.mutual_information_continuous(x, y)  # auto never runs KSG at 20
    assert torch.equal(auto, knn.gaussian_copula_mutual_information(x, y))


def test_auto_rule_and_clip():
    x, y, _ = correlated(400, 2, 0.5)
    ksg = knn.ksg_mutual_information(x, y)
    cop = knn.gaussian_copula_mutual_information(x, y)
    assert torch.equal(knn.mutual_information_continuous(x, y), torch.maximum(ksg, cop))
    ind = knn.ksg_mutual_information(randn(200, 1, seed=1), randn(200, 1, seed=2), k=1)
    clipped = knn.ksg_mutual_information(randn(200, 1, seed=1), randn(200, 1, seed=2), k=1, nonnegative=True)
    assert float(clipped) == max(float(ind), 0.0)


# --------------------------------------------------------------------------- uncertainty


def test_uncertainty_result():
    x, y, truth = correlated(600, 1, 0.6, seed=3)
    r = knn.estimate_with_uncertainty(knn.ksg_mutual_information, x, y, n_subsamples=10, n_permutations=9)
    assert torch.equal(r.estimate, knn.ksg_mutual_information(x, y))
    assert 0.005 < float(r.stderr) < 0.1  # KSG sd at N = 600 is about 0.03
    assert float(r.interval[0]) < truth < float(r.interval[1])
    assert float(r.p_value) == pytest.approx(0.1)  # 1 / (1 + 9): no permutation reaches the estimate
    assert abs(float(r.baseline)) < 0.05
    again = knn.estimate_with_uncertainty(knn.ksg_mutual_information, x, y, n_subsamples=10, n_permutations=9)
    assert torch.equal(again.stderr, r.stderr)
    kl = knn.estimate_with_uncertainty(knn.knn_kl_divergence, x, y + 1, n_subsamples=4, k=2)
    assert kl.baseline is None and torch.isfinite(kl.stderr)
    lab = (x[:, 0] > 0).long()
    ross = knn.estimate_with_uncertainty(knn.knn_mutual_information_discrete, x, lab, n_subsamples=4, n_permutations=3)
    assert ross.p_value is not None
    with pytest.raises(ValueError, match=r"n_permutations needs an estimator of dependence, got knn_entropy"):
        knn.estimate_with_uncertainty(knn.knn_entropy, x, n_permutations=5)
    with pytest.raises(ValueError, match=r"n_subsamples must be at least 2, got 1"):
        knn.estimate_with_uncertainty(knn.knn_entropy, x, n_subsamples=1)


# --------------------------------------------------------------------------- properties (hypothesis)

seeds = st.integers(min_value=0, max_value=10_000)


@given(seed=seeds, rho=st.floats(-0.9, 0.9))
def test_ksg_symmetric_in_x_and_y(seed, rho):
    x, y, _ = correlated(120, 1, rho, seed=seed)
    y = torch.cat([y, randn(120, 1, seed=seed + 1)], 1)
    for variant in (1, 2):
        a = float(knn.ksg_mutual_information(x, y, variant=variant))
        b = float(knn.ksg_mutual_information(y, x, variant=variant))
        assert a == pytest.approx(b, abs=1e-12)


@given(seed=seeds, rho=st.floats(0.0, 0.9))
def test_ksg_invariant_to_monotone_maps_up_to_spread(seed, rho):
    # I(f(X); g(Y)) = I(X; Y) for invertible f, g; KSG is invariant only in the limit, so compare within
    # its spread at N = 300 (sd about 0.04; the distortion adds a little bias)
    x, y, _ = correlated(300, 1, rho, seed=seed)
    a = float(knn.ksg_mutual_information(x, y))
    b = float(knn.ksg_mutual_information(torch.sinh(x), y**3 + y))
    assert abs(a - b) < 0.15
    # the copula estimate depends on ranks only: exactly invariant
    c1 = knn.gaussian_copula_mutual_information(x, y)
    c2 = knn.gaussian_copula_mutual_information(torch.sinh(x), -(y**3 + y))
    assert float(c1) == pytest.approx(float(c2), abs=1e-12)


@given(seed=seeds, scale=st.floats(0.05, 20.0), d=st.integers(1, 3))
def test_entropy_shifts_by_log_abs_scale(seed, scale, d):
    # h(aX) = h(X) + D log|a|; neighbour order is unchanged by scaling, so the identity holds to rounding
    x = randn(80, d, seed=seed)
    for metric in ("euclidean", "chebyshev"):
        h = float(knn.knn_entropy(x, metric=metric))
        hs = float(knn.knn_entropy(-scale * x, metric=metric))
        assert hs == pytest.approx(h + d * math.log(scale), abs=1e-9)


# --------------------------------------------------------------------------- hostile inputs (review fixes)


def test_kl_of_a_point_mass_x_is_refused_not_minus_inf():
    z = torch.zeros(50, 1, dtype=F64)
    with pytest.raises(ValueError, match="x has a sample with k=1 or more duplicates"):
        knn.knn_kl_divergence(z, randn(50, 1))
    with pytest.raises(ValueError, match="point mass"):
        knn.knn_kl_divergence(z, z)


def test_entropy_of_a_point_mass_is_minus_inf_and_two_atoms_are_finite():
    # the differential entropy of a point mass is -inf; two separated atoms use the k-th
    # neighbour at a positive distance (the documented varying-k rule), so the value is finite
    assert float(knn.knn_entropy(torch.zeros(30, 1, dtype=F64))) == -math.inf
    two = torch.tensor([0.0, 1.0], dtype=F64).repeat(25).unsqueeze(1)
    assert math.isfinite(float(knn.knn_entropy(two, k=3)))


def test_batched_ksg_on_tied_data_equals_the_loop():
    # the standardization statistics of each batch element are its own, bit for bit
    x, y = randn(400, 1, seed=3), randn(400, 1, seed=4) + randn(400, 1, seed=3)
    xt, yt = torch.round(1.5 * x), torch.round(1.5 * y)
    X, Y = torch.stack([x, xt]), torch.stack([y, yt])
    batched = knn.ksg_mutual_information(X, Y)
    loop = torch.stack([knn.ksg_mutual_information(X[i], Y[i]) for i in range(2)])
    assert torch.equal(batched, loop)
    cmi_b = knn.ksg_conditional_mutual_information(X, Y, X.flip(1))
    cmi_l = torch.stack([knn.ksg_conditional_mutual_information(X[i], Y[i], X[i].flip(0)) for i in range(2)])
    assert torch.equal(cmi_b, cmi_l)


@pytest.mark.parametrize("scale", [1e155, 1e-170])
def test_extreme_scales_follow_the_scaling_laws(scale):
    x, y = randn(300, 2, seed=5), randn(300, 2, seed=6)
    y = y + x
    # h(a x) = h(x) + D log a; KSG and the KL are invariant to a common scale
    h = knn.knn_entropy(x)
    assert float(knn.knn_entropy(x * scale)) == pytest.approx(float(h) + 2 * math.log(scale), rel=1e-12, abs=1e-9)
    assert float(knn.ksg_mutual_information(x * scale, y * scale)) == pytest.approx(
        float(knn.ksg_mutual_information(x, y)), abs=1e-12
    )
    assert float(knn.knn_kl_divergence(x * scale, y * scale)) == pytest.approx(
        float(knn.knn_kl_divergence(x, y)), abs=1e-12
    )


def test_gaussian_estimate_does_not_depend_on_column_units():
    # CCA is invariant to per-column scale; a column in tiny units is not "rank deficient"
    x, y = randn(500, 2, seed=7), randn(500, 1, seed=8)
    y = y + x[:, :1]
    ref = knn.gaussian_copula_mutual_information(x, y, copula=False)
    scaled = knn.gaussian_copula_mutual_information(x * torch.tensor([1e-30, 1e12], dtype=F64), y, copula=False)
    assert float(scaled) == pytest.approx(float(ref), rel=1e-9)


def test_options_of_the_unused_path_are_still_checked():
    x, y = randn(100, 1), randn(100, 1, seed=1)
    with pytest.raises(TypeError, match="k must be a positive int"):
        knn.mutual_information_continuous(x, y, estimator="gaussian_copula", k="abc")
    with pytest.raises(ValueError, match="backend must be one of"):
        knn.mutual_information_continuous(x, y, estimator="gaussian_copula", backend="nope")
    with pytest.raises(TypeError, match="confidence must be a number"):
        knn.estimate_with_uncertainty(knn.ksg_mutual_information, x, y, confidence="0.9")
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        knn.estimate_with_uncertainty(knn.ksg_mutual_information, x, y, generator=1)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_inputs_give_half_results(dtype):
    x, y = randn(200, 1), randn(200, 1, seed=1)
    for value in (knn.knn_entropy(x.to(dtype)), knn.ksg_mutual_information(x.to(dtype), (x + y).to(dtype))):
        assert value.dtype == dtype and bool(torch.isfinite(value))


def test_gaussian_estimate_with_constant_columns_in_both_variables():
    # dead units: a constant column in x and in y carries nothing (the centring residue is not a signal)
    x, noise = randn(1000, 3, seed=11), randn(1000, 2, seed=12)
    y = x[:, :2] + noise
    x[:, 2], y[:, 1] = 0.1, 0.1
    got = knn.gaussian_copula_mutual_information(x, y, copula=False)
    ref = knn.gaussian_copula_mutual_information(x[:, :2], y[:, :1], copula=False)
    assert float(got) == pytest.approx(float(ref), abs=1e-9)


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("r", [0.0, 1.0, -1.0, 0.5])
def test_one_column_counts_at_radius_zero_match_brute_force(strict, r):
    # the sorted 1-D path against the definition #{j != i : d < r} (or <=), duplicates included
    x = torch.tensor([[[0.0], [0.0], [1.0], [2.0], [2.0], [2.0]]], dtype=F64)
    got = nb.count_within(x, nb.make_space((1,), "euclidean"), torch.full((1, 6), r, dtype=F64), "brute", strict=strict)
    d = (x[0] - x[0].T).abs()
    inside = (d < r) if strict else (d <= r)
    ref = inside.sum(1) - inside.diagonal().long()
    assert got[0].tolist() == ref.tolist()
