"""Spectral measures: against dse-dsmi itself (the published package), closed forms, and the
cache / validation contracts."""

from __future__ import annotations

import itertools
import math
import os
import random
import warnings

import numpy as np
import pytest
import torch
from torch.autograd import gradcheck

from infotorch.compat import dse_dsmi as ours

# the parity tests run against the drop-in (dse-dsmi's signatures); the tensor core is tested in
# tests/test_spectral_core.py
from infotorch.compat.dse_dsmi import (
    adjacency_spectral_entropy,
    diffusion_spectral_entropy,
    diffusion_spectral_mutual_information,
)
from infotorch.spectral import (
    matrix_renyi_entropy,
    matrix_renyi_joint_entropy,
    matrix_renyi_mutual_information,
)

RNG = np.random.default_rng(0)
X = RNG.uniform(0, 1, (300, 16))
LABELS = np.uint8(RNG.uniform(0, 5, (300, 1)))


def close(a: float, b: float, rel: float = 1e-6, abs_: float = 1e-9) -> None:
    assert abs(a - b) <= max(rel * abs(b), abs_), (a, b)


# ------------------------------------------------------------------ against dse-dsmi


@pytest.fixture(scope="module")
def ref():
    mod = pytest.importorskip("dse_dsmi", reason="dse-dsmi not installed (pip install 'infotorch[compare]')")
    warnings.filterwarnings("ignore", module="dse_dsmi")
    return mod


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"t": 2},
        {"gaussian_kernel_sigma": 0.7},
        {"max_N": 150},
        {"max_N": 150, "random_seed": 7},
        {"matrix_entry_entropy": True},
        {"classic_shannon_entropy": True},
        {"classic_shannon_entropy": True, "num_bins_per_dim": 3},
    ],
)
def test_dse_matches_dse_dsmi(ref, kw):
    close(ours.diffusion_spectral_entropy(X, **kw), ref.diffusion_spectral_entropy(X, **kw))


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"anisotropic": True},
        {"use_knn": True},
        {"use_knn": True, "knn": 4},
        {"gaussian_kernel_sigma": 0.5},
    ],
)
def test_ase_matches_dse_dsmi(ref, kw):
    close(ours.adjacency_spectral_entropy(X, **kw), ref.adjacency_spectral_entropy(X, **kw))


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"t": 2},
        {"gaussian_kernel_sigma": 0.7},
        {"matrix_entry_entropy": True},
        {"num_repetitions": 2, "random_seed": 3},
    ],
)
def test_dsmi_discrete_matches_dse_dsmi(ref, kw):
    a, ca = ours.diffusion_spectral_mutual_information(X, LABELS, **kw)
    b, cb = ref.diffusion_spectral_mutual_information(X, LABELS, **kw)
    close(a, b)
    assert np.array_equal(ca, cb)


def test_dsmi_balanced_classes_match_dse_dsmi(ref):
    # equal class sizes share their random subsets (computed once here): same numbers
    balanced = np.random.default_rng(5).permutation(np.arange(300) % 6).astype(np.int64)
    for seed in (0, 11):
        a, _ = ours.diffusion_spectral_mutual_information(X, balanced, random_seed=seed)
        b, _ = ref.diffusion_spectral_mutual_information(X, balanced, random_seed=seed)
        close(a, b)


def test_dsmi_continuous_and_vector_references_match_dse_dsmi(ref):
    scalars = RNG.uniform(-1, 1, (300, 1))
    vectors = RNG.uniform(-1, 1, (300, 4))
    for r in (scalars, vectors):
        a, ca = ours.diffusion_spectral_mutual_information(X, r, n_clusters=4)
        b, cb = ref.diffusion_spectral_mutual_information(X, r, n_clusters=4)
        close(a, b)
        assert np.array_equal(ca, cb)
    # CSMI: both are ~1e-16 (identical histograms), compared absolutely
    a, _ = ours.diffusion_spectral_mutual_information(X, LABELS, classic_shannon_entropy=True)
    b, _ = ref.diffusion_spectral_mutual_information(X, LABELS, classic_shannon_entropy=True)
    close(a, b, abs_=1e-12)


@pytest.mark.parametrize("kw", [{}, {"anisotropic": True}, {"use_knn": True}])
def test_asmi_matches_dse_dsmi(ref, kw):
    a, _ = ours.adjacency_spectral_mutual_information(X, LABELS, **kw)
    b, _ = ref.adjacency_spectral_mutual_information(X, LABELS, **kw)
    close(a, b)


def test_compat_signatures_match_dse_dsmi(ref):
    import inspect

    for name in ours.__all__:
        theirs = inspect.signature(getattr(ref, name))
        mine = inspect.signature(getattr(ours, name))
        # dse-dsmi's parameters, in its order and with its defaults; infotorch's additions
        # (dtype, eigensolver, ...) are keyword-only after them
        n = len(theirs.parameters)
        assert list(mine.parameters)[:n] == list(theirs.parameters), name
        for p in theirs.parameters.values():
            assert mine.parameters[p.name].default == p.default, (name, p.name)
        extra = list(mine.parameters.values())[n:]
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in extra), (name, extra)


# ------------------------------------------------------------------ closed forms and properties


def test_identity_kernel_gives_log2_n():
    x = RNG.normal(size=(64, 5))
    close(diffusion_spectral_entropy(x, gaussian_kernel_sigma=1e-4), math.log2(64), rel=1e-12)


def test_all_equal_points_give_zero():
    x = np.ones((40, 3))
    assert abs(diffusion_spectral_entropy(x)) < 1e-9
    assert abs(adjacency_spectral_entropy(x)) < 1e-9


def test_far_from_origin_translation_invariance():
    x = RNG.normal(size=(80, 6))
    close(
        diffusion_spectral_entropy(x + 1e8, gaussian_kernel_sigma=1.0),
        diffusion_spectral_entropy(x, gaussian_kernel_sigma=1.0),
        rel=1e-9,
    )


def test_dsmi_of_blob_labels_exceeds_shuffled():
    y = np.repeat(np.arange(4), 30)
    centers = RNG.normal(size=(4, 3)) * 10
    z = centers[y] + RNG.normal(size=(120, 3)) * 0.3
    mi, _ = diffusion_spectral_mutual_information(z, y, gaussian_kernel_sigma=1.0)
    shuffled, _ = diffusion_spectral_mutual_information(z, RNG.permutation(y), gaussian_kernel_sigma=1.0)
    assert mi > shuffled + 1.0


def test_float32_option_is_close():
    x = RNG.uniform(0, 1, (400, 64))
    h64 = diffusion_spectral_entropy(x)
    h32 = diffusion_spectral_entropy(x, dtype=torch.float32)
    close(h32, h64, rel=1e-4)


def test_lanczos_approximation_is_close():
    x = RNG.normal(size=(300, 4))
    exact = diffusion_spectral_entropy(x, gaussian_kernel_sigma=1.0)
    approx = diffusion_spectral_entropy(x, gaussian_kernel_sigma=1.0, eigensolver="lanczos")
    close(approx, exact, rel=0.05)


def test_chebyshev_option_is_repeatable():
    a = diffusion_spectral_entropy(X, chebyshev_approx=True)
    b = diffusion_spectral_entropy(X, chebyshev_approx=True)
    assert a == b and 0 < a < math.log2(300)


def test_global_random_state_untouched():
    random.seed(123)
    expected = random.random()
    random.seed(123)
    diffusion_spectral_entropy(X, max_N=100)
    diffusion_spectral_mutual_information(X, LABELS, num_repetitions=1)
    assert random.random() == expected


def test_tensor_in_tensor_out(device):
    x = torch.as_tensor(X, dtype=torch.float32, device=device)
    h = diffusion_spectral_entropy(x)
    assert isinstance(h, torch.Tensor) and h.device.type == device and h.dtype == torch.float32
    close(float(h), diffusion_spectral_entropy(X), rel=1e-6)
    mi, clusters = diffusion_spectral_mutual_information(x, torch.as_tensor(LABELS, device=device))
    assert mi.device.type == device and isinstance(clusters, torch.Tensor)


def test_dse_is_differentiable():
    x = torch.as_tensor(RNG.normal(size=(12, 3)), dtype=torch.float64).requires_grad_(True)
    assert gradcheck(lambda z: diffusion_spectral_entropy(z, gaussian_kernel_sigma=1.0), (x,))
    assert gradcheck(lambda z: adjacency_spectral_entropy(z, gaussian_kernel_sigma=1.0, anisotropic=True), (x,))


# ------------------------------------------------------------------ Rényi


def test_renyi_orthogonal_rows_give_log2_n():
    for alpha in (0.5, 1.0, 2.0, 3.0):
        close(
            float(matrix_renyi_entropy(torch.eye(16, dtype=torch.float64), alpha=alpha, kernel="linear")),
            4.0,
            rel=1e-12,
        )
    far = torch.eye(16, dtype=torch.float64) * 100.0
    close(float(matrix_renyi_entropy(far, alpha=1.5, sigma=1.0)), 4.0, rel=1e-9)


def test_renyi_alpha_to_one_limit_is_smooth():
    x = torch.as_tensor(RNG.normal(size=(30, 2)), dtype=torch.float64)
    vn = float(matrix_renyi_entropy(x, alpha=1.0))
    # reference: von Neumann entropy from numpy's eigvalsh
    d2 = ((X[:30, None, :2] * 0 + x.numpy()[:, None, :] - x.numpy()[None, :, :]) ** 2).sum(-1)
    lam = np.clip(np.linalg.eigvalsh(np.exp(-d2 / 2) / 30), 0, None)
    lam = lam[lam > 0]
    close(vn, float(-(lam * np.log2(lam)).sum()), rel=1e-10)
    for delta in (1e-7, 1e-5, 1e-4, 1e-3):
        for a in (1 - delta, 1 + delta):
            s = float(matrix_renyi_entropy(x, alpha=a))
            assert abs(s - vn) < 5 * delta * max(1.0, abs(vn)), (a, s, vn)
    # monotone non-increasing in alpha
    vals = [float(matrix_renyi_entropy(x, alpha=a)) for a in (0.5, 0.9, 1.0, 1.1, 2.0, 3.0)]
    assert all(b <= a + 1e-12 for a, b in itertools.pairwise(vals))


def test_renyi_alpha2_matches_eigen_route():
    x = torch.as_tensor(RNG.normal(size=(25, 3)), dtype=torch.float64)
    s2 = float(matrix_renyi_entropy(x, alpha=2.0))
    d2 = ((x[:, None] - x[None]) ** 2).sum(-1)
    lam = torch.linalg.eigvalsh(torch.exp(-d2 / 2) / 25)
    close(s2, float(-torch.log2((lam**2).sum())), rel=1e-12)


def test_renyi_mi_identities_and_grads():
    x = torch.as_tensor(RNG.normal(size=(20, 2)), dtype=torch.float64)
    y = torch.as_tensor(RNG.normal(size=(20, 2)), dtype=torch.float64)

    def s_alpha(a, alpha):  # from scratch in NumPy: (1/(1-alpha)) log2 sum lambda^alpha of a unit-trace PSD matrix
        lam = np.clip(np.linalg.eigvalsh(a), 0, None)
        lam = lam / lam.sum()
        return float(np.log2((lam[lam > 0] ** alpha).sum()) / (1 - alpha))

    def gram(z):
        d2 = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
        return np.exp(-d2 / 2) / len(z)

    ax, ay = gram(x.numpy()), gram(y.numpy())
    for alpha in (2.0, 1.5, 3.0):
        sx, sy = s_alpha(ax, alpha), s_alpha(ay, alpha)
        joint = ax * ay / np.trace(ax * ay)
        sxy = s_alpha(joint, alpha)
        # the definitions: S(A), S(A∘B / tr), and I(X;Y) = S(A) + S(B) - S(A∘B / tr)
        assert float(matrix_renyi_entropy(x, alpha=alpha)) == pytest.approx(sx, rel=1e-10)
        assert float(matrix_renyi_joint_entropy(x, y, alpha=alpha)) == pytest.approx(sxy, rel=1e-10)
        assert float(matrix_renyi_mutual_information(x, y, alpha=alpha)) == pytest.approx(sx + sy - sxy, rel=1e-9)
        # I(X;X) = 2 S(A) - S(A∘A / tr(A∘A)), the identity for a variable with itself
        self_joint = s_alpha(ax * ax / np.trace(ax * ax), alpha)
        assert float(matrix_renyi_mutual_information(x, x, alpha=alpha)) == pytest.approx(2 * sx - self_joint, rel=1e-9)
    # the Hadamard joint is at least each marginal, so the MI is at most the smaller entropy
    assert float(matrix_renyi_joint_entropy(x, y)) >= float(matrix_renyi_entropy(x)) - 1e-12
    assert float(matrix_renyi_mutual_information(x, y)) <= min(s_alpha(ax, 2.0), s_alpha(ay, 2.0)) + 1e-12
    for alpha in (2.0, 1.5):
        xr = x.clone().requires_grad_(True)
        assert gradcheck(lambda z, a=alpha: matrix_renyi_entropy(z, alpha=a), (xr,))
        assert gradcheck(lambda z, a=alpha: matrix_renyi_mutual_information(z, y, alpha=a), (xr,))


# ------------------------------------------------------------------ cache


def test_cache_round_trip_float64(tmp_path):
    path = str(tmp_path / "sub" / "eig.npz")
    h1 = diffusion_spectral_entropy(X, eigval_save_path=path, eigval_save_precision=np.float64)
    assert os.path.exists(path)
    assert [f for f in os.listdir(tmp_path / "sub") if f != "eig.npz"] == []  # no temp file left
    h2 = diffusion_spectral_entropy(X, eigval_save_path=path)
    h3 = diffusion_spectral_entropy(None, eigval_save_path=path)
    assert h1 == h2 == h3
    close(h1, diffusion_spectral_entropy(X), rel=1e-12)


def test_cache_float16_default_matches_dse_dsmi(ref, tmp_path):
    # dse-dsmi's first run normalizes the float16-rounded eigenvalues in float16 arithmetic;
    # its later runs (reading the cache) in float64. Ours gives the later-run number every time.
    a = ours.diffusion_spectral_entropy(X, eigval_save_path=str(tmp_path / "a.npz"))
    ref.diffusion_spectral_entropy(X, eigval_save_path=str(tmp_path / "b.npz"))
    b = ref.diffusion_spectral_entropy(None, eigval_save_path=str(tmp_path / "b.npz"))
    close(a, b, rel=1e-6)
    assert np.array_equal(np.load(tmp_path / "a.npz")["eigvals"], np.load(tmp_path / "b.npz")["eigvals"])
    # a dse-dsmi cache (no provenance) loads only when no embeddings are given
    close(ours.diffusion_spectral_entropy(None, eigval_save_path=str(tmp_path / "b.npz")), b, rel=1e-6)
    with pytest.raises(ValueError, match="records no provenance"):
        ours.diffusion_spectral_entropy(X, eigval_save_path=str(tmp_path / "b.npz"))


def test_cache_mismatch_is_refused(tmp_path):
    path = str(tmp_path / "eig.npz")
    diffusion_spectral_entropy(X, eigval_save_path=path)
    other = RNG.uniform(0, 1, X.shape)  # same N and D, different data
    with pytest.raises(ValueError, match=r"eig.npz.*fingerprint"):
        diffusion_spectral_entropy(other, eigval_save_path=path)
    with pytest.raises(ValueError, match=r"sigma=10.0, not sigma=2.0"):
        diffusion_spectral_entropy(X, gaussian_kernel_sigma=2.0, eigval_save_path=path)
    with pytest.raises(ValueError, match="n=300, not n=200"):
        diffusion_spectral_entropy(X[:200], eigval_save_path=path)
    with pytest.raises(ValueError, match="kind='diffusion', not kind='adjacency-gaussian'"):
        adjacency_spectral_entropy(X, eigval_save_path=path)


def test_cache_with_pickled_objects_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, eigvals=np.array([object()], dtype=object))
    with pytest.raises(ValueError, match="pickled objects"):
        diffusion_spectral_entropy(None, eigval_save_path=str(path))


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "call, pattern",
    [
        (
            lambda: diffusion_spectral_entropy(np.array([[0.0, np.nan], [1.0, 2.0]])),
            "embedding_vectors must be finite",
        ),
        (lambda: diffusion_spectral_entropy(np.zeros((1, 3))), r"at least 2 points \(N >= 2\), got N = 1"),
        (
            lambda: diffusion_spectral_entropy(np.zeros(5)),
            r"must be 2-D \(N points, D features\), got shape \(5,\)",
        ),
        (
            lambda: diffusion_spectral_entropy(X, gaussian_kernel_sigma=0),
            "gaussian_kernel_sigma must be a positive",
        ),
        (lambda: diffusion_spectral_entropy(X, t=-1), "t must be a finite number >= 0"),
        (lambda: diffusion_spectral_entropy(None), "embedding_vectors may be None only"),
        (
            lambda: diffusion_spectral_mutual_information(X, LABELS[:10]),
            "same number of points, got 300 and 10",
        ),
        (
            lambda: diffusion_spectral_mutual_information(X, RNG.normal(size=(300, 2)), reference_discrete=True),
            "reference_discrete=True needs",
        ),
        (lambda: adjacency_spectral_entropy(X, use_knn=True, knn=0), r"knn must lie in \[1, N=300\]"),
        (lambda: matrix_renyi_entropy(torch.eye(3), alpha=0), "alpha must be a positive"),
        (lambda: matrix_renyi_entropy(torch.zeros(3, 2), kernel="linear"), "no zero rows"),
    ],
)
def test_bad_input(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


def test_dsmi_inner_subsampling_reseeds_as_dse_dsmi(monkeypatch):
    # dse-dsmi's inner DSE re-seeds Python's global random with 0 when a block exceeds max_N, and
    # the next repetition's draws continue from that state; shrink the limit to see it at small N
    dse_dsmi = pytest.importorskip("dse_dsmi")
    import dse_dsmi.dse as dse_module

    defaults = list(dse_module.diffusion_spectral_entropy.__defaults__)
    defaults[2] = 20  # max_N
    monkeypatch.setattr(dse_module.diffusion_spectral_entropy, "__defaults__", tuple(defaults))
    monkeypatch.setattr(ours, "_INNER_MAX_N", 20)
    x = np.random.default_rng(0).normal(size=(90, 4))
    y = np.repeat(np.arange(3), 30)
    for reps, seed in ((1, 0), (5, 0), (5, 3)):
        theirs = dse_dsmi.diffusion_spectral_mutual_information(
            x, y, gaussian_kernel_sigma=1.0, num_repetitions=reps, random_seed=seed
        )[0]
        mine = ours.diffusion_spectral_mutual_information(
            x, y, gaussian_kernel_sigma=1.0, num_repetitions=reps, random_seed=seed
        )[0]
        close(mine, theirs, rel=1e-9)
