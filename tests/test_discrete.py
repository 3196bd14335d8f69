"""Discrete measures against independent references: scipy, torch.nn.functional, sklearn,
closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.spatial.distance
import scipy.special
import scipy.stats
import torch
import torch.nn.functional as F

import infotorch as it
from tests.conftest import TOLERANCE, random_probs

sklearn_metrics = pytest.importorskip("sklearn.metrics")


def close(a: torch.Tensor, b, dtype=torch.float64) -> None:
    rtol, atol = TOLERANCE[dtype]
    b = torch.as_tensor(np.asarray(b), dtype=torch.float64)
    torch.testing.assert_close(a.double().cpu(), b, rtol=rtol, atol=atol)


# ---------------------------------------------------------------- entropy


@pytest.mark.parametrize("base", [math.e, 2, 10, 3.5, "e", None])
def test_entropy_matches_scipy(gen, base):
    p = random_probs((5, 7, 11), gen, zeros=True)
    ref = scipy.stats.entropy(p.numpy(), axis=-1, base=None if base in ("e", None) else base)
    close(it.entropy(p, base=base), ref)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_entropy_dim(gen, dim):
    p = random_probs((4, 6, 8), gen).movedim(-1, dim)
    ref = scipy.stats.entropy(p.numpy(), axis=dim)
    close(it.entropy(p, dim=dim), ref)


def test_entropy_logits_matches_scipy_on_softmax(gen):
    z = torch.randn(6, 9, generator=gen, dtype=torch.float64) * 5
    ref = scipy.stats.entropy(scipy.special.softmax(z.numpy(), axis=-1), axis=-1)
    close(it.entropy(logits=z), ref)


def test_entropy_logits_with_masked_classes(gen):
    z = torch.randn(3, 5, generator=gen, dtype=torch.float64)
    z[:, 1] = -math.inf
    p = torch.softmax(z, -1)
    close(it.entropy(logits=z), scipy.stats.entropy(p.numpy(), axis=-1))


def test_entropy_closed_forms():
    for k in (1, 2, 7, 1000):
        close(it.entropy(torch.full((k,), 1.0 / k, dtype=torch.float64)), math.log(k))
    assert it.entropy(torch.tensor([0.0, 1.0, 0.0])).item() == 0.0
    # extreme logits: a one-hot in the limit, still exactly finite
    h = it.entropy(logits=torch.tensor([1e4, 0.0, -1e4]))
    assert torch.isfinite(h) and h.item() == 0.0


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_entropy_reduction(gen, reduction):
    p = random_probs((4, 3, 6), gen)
    full = torch.as_tensor(scipy.stats.entropy(p.numpy(), axis=-1))
    expected = {"none": full, "mean": full.mean(), "sum": full.sum()}[reduction]
    close(it.entropy(p, reduction=reduction), expected)


def test_binary_entropy_matches_scipy_bernoulli(gen):
    p = torch.rand(50, generator=gen, dtype=torch.float64)
    p[:3] = torch.tensor([0.0, 1.0, 0.5], dtype=torch.float64)
    ref = scipy.stats.bernoulli(p.numpy()).entropy()
    close(it.binary_entropy(p), ref)
    z = torch.logit(p[3:])
    close(it.binary_entropy(logits=z), ref[3:])
    # large logits keep precision: H ≈ e^{-|z|}(1 + |z|)
    big = torch.tensor([40.0, -40.0], dtype=torch.float64)
    close(it.binary_entropy(logits=big), [math.exp(-40) * 41] * 2)


# ---------------------------------------------------------------- joint, conditional, MI


def _np_tables(joint: np.ndarray):
    px, py = joint.sum(-1), joint.sum(-2)
    hxy = scipy.stats.entropy(joint.reshape(joint.shape[0], -1), axis=-1)
    hx = scipy.stats.entropy(px, axis=-1)
    hy = scipy.stats.entropy(py, axis=-1)
    return hxy, hx, hy


def test_joint_conditional_mi_match_numpy(gen):
    joint = random_probs((4, 30), gen, zeros=True).reshape(4, 5, 6)
    hxy, hx, hy = _np_tables(joint.numpy())
    close(it.joint_entropy(joint), hxy)
    close(it.conditional_entropy(joint), hxy - hx)
    close(it.mutual_information(joint), hx + hy - hxy)
    # MI as KL(joint || px py) with scipy's rel_entr
    j = joint.numpy()
    outer = j.sum(-1)[:, :, None] * j.sum(-2)[:, None, :]
    close(it.mutual_information(joint), scipy.special.rel_entr(j, outer).sum((-2, -1)))


def test_joint_measures_dims_and_logits(gen):
    joint = random_probs((3, 20), gen).reshape(3, 4, 5)
    moved = joint.permute(1, 0, 2)  # X along 0, batch along 1, Y along 2
    close(it.mutual_information(moved, dims=(0, 2)), it.mutual_information(joint))
    # Y|X with swapped dims is X|Y
    hxy, _hx, hy = _np_tables(joint.numpy())
    close(it.conditional_entropy(joint, dims=(-1, -2)), hxy - hy)
    logits = joint.log() + 3.0  # unnormalized log-joint
    close(it.mutual_information(logits=logits), it.mutual_information(joint))
    close(it.conditional_entropy(logits=logits), it.conditional_entropy(joint))
    close(it.joint_entropy(logits=logits), hxy)


def test_mutual_information_from_samples_matches_sklearn(gen):
    x = torch.randint(0, 6, (500,), generator=gen)
    y = (x + torch.randint(0, 3, (500,), generator=gen)) % 7 * 10 - 5  # arbitrary codes
    ref = sklearn_metrics.mutual_info_score(x.numpy(), y.numpy())
    close(it.mutual_information_from_samples(x, y).double(), ref, torch.float32)


def test_mutual_information_from_samples_batched(gen):
    x = torch.randint(0, 4, (3, 2, 200), generator=gen)
    y = torch.randint(0, 5, (3, 2, 200), generator=gen)
    y[0] = x[0]
    got = it.mutual_information_from_samples(x, y)
    assert got.shape == (3, 2)
    for i in range(3):
        for j in range(2):
            ref = sklearn_metrics.mutual_info_score(x[i, j].numpy(), y[i, j].numpy())
            assert got[i, j].item() == pytest.approx(ref, rel=1e-5, abs=1e-7)


def test_miller_madow_correction_by_hand(gen):
    x = torch.randint(0, 3, (40,), generator=gen)
    y = torch.randint(0, 4, (40,), generator=gen)
    n = 40
    mx, my = len(set(x.tolist())), len(set(y.tolist()))
    mxy = len(set(zip(x.tolist(), y.tolist(), strict=True)))
    plug = sklearn_metrics.mutual_info_score(x.numpy(), y.numpy())
    expected = plug - (mxy - mx - my + 1) / (2 * n)
    got = it.mutual_information_from_samples(x, y, bias_correction="miller-madow")
    assert got.item() == pytest.approx(expected, rel=1e-5)
    counts = np.bincount(x.numpy())
    h_mm = scipy.stats.entropy(counts) + (np.count_nonzero(counts) - 1) / (2 * n)
    assert it.entropy_from_samples(x, bias_correction="miller-madow").item() == pytest.approx(h_mm, rel=1e-6)


def test_miller_madow_reduces_bias_on_independent_samples():
    # Monte Carlo, fixed seed: independent X, Y on 4 x 4 categories, n = 100. True MI = 0.
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 4, (400, 100), generator=g)
    y = torch.randint(0, 4, (400, 100), generator=g)
    plug = it.mutual_information_from_samples(x, y).mean().item()
    mm = it.mutual_information_from_samples(x, y, bias_correction="miller-madow").mean().item()
    assert plug == pytest.approx(9 / 200, rel=0.25)  # (Kx-1)(Ky-1)/(2n), the known bias
    assert abs(mm) < 0.25 * plug


@pytest.mark.parametrize("average", ["arithmetic", "geometric", "min", "max"])
def test_nmi_matches_sklearn(gen, average):
    x = torch.randint(0, 5, (300,), generator=gen)
    y = (x * 2 + torch.randint(0, 2, (300,), generator=gen)) % 6
    ref = sklearn_metrics.normalized_mutual_info_score(x.numpy(), y.numpy(), average_method=average)
    got = it.normalized_mutual_information_from_samples(x, y, average=average)
    assert got.item() == pytest.approx(ref, rel=1e-5)
    # the same through the empirical joint table
    joint = torch.zeros(5, 6, dtype=torch.float64)
    joint.index_put_((x, y), torch.ones(300, dtype=torch.float64), accumulate=True)
    assert it.normalized_mutual_information(joint / 300, average=average).item() == pytest.approx(ref, rel=1e-9)


def test_nmi_limits_as_sklearn():
    const = torch.zeros(10, dtype=torch.long)
    other = torch.arange(10) % 3
    for a, b in [(const, const), (const, other)]:
        ref = sklearn_metrics.normalized_mutual_info_score(a.numpy(), b.numpy())
        assert it.normalized_mutual_information_from_samples(a, b).item() == pytest.approx(ref)


# ---------------------------------------------------------------- cross-entropy, KL, JS


def test_cross_entropy_matches_torch_soft_targets(gen):
    z = torch.randn(8, 10, generator=gen, dtype=torch.float64)
    p = random_probs((8, 10), gen, zeros=True)
    ref = F.cross_entropy(z, p, reduction="none")
    close(it.cross_entropy(p, q_logits=z), ref)
    close(it.cross_entropy(p, torch.softmax(z, -1)), ref)
    close(it.cross_entropy(p, q_logits=z, reduction="mean"), ref.mean())


def test_cross_entropy_decomposes_with_scipy(gen):
    p = random_probs((6, 9), gen, zeros=True)
    q = random_probs((6, 9), gen)
    ref = scipy.stats.entropy(p.numpy(), axis=-1) + scipy.stats.entropy(p.numpy(), q.numpy(), axis=-1)
    close(it.cross_entropy(p, q), ref)
    close(it.cross_entropy(p_logits=p.log(), q_logits=q.log()), ref)


def test_kl_matches_scipy_and_torch(gen):
    p = random_probs((6, 12), gen, zeros=True)
    q = random_probs((6, 12), gen)
    ref = scipy.special.rel_entr(p.numpy(), q.numpy()).sum(-1)
    close(it.kl_divergence(p, q), ref)
    close(it.kl_divergence(p, q, base=2), ref / math.log(2))
    # torch's kl_div takes (log q, p): the argument order users trip over
    close(it.kl_divergence(p, q_logits=q.log() + 1.0), F.kl_div(q.log(), p, reduction="none").sum(-1))
    close(it.kl_divergence(p_logits=p.log(), q_logits=q.log()), ref)
    close(
        it.kl_divergence(p, q, reduction="mean"),
        F.kl_div(q.log(), p, reduction="batchmean"),
    )


def test_kl_infinite_and_zero_cases_as_rel_entr():
    p = torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64)
    q = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    assert it.kl_divergence(p, q).item() == math.inf == scipy.special.rel_entr(p.numpy(), q.numpy()).sum()
    assert it.kl_divergence(q, p).item() == pytest.approx(math.log(2))
    assert it.kl_divergence(p, p).item() == 0.0


def test_kl_broadcasts(gen):
    p = random_probs((5, 4), gen)
    q = random_probs((4,), gen)
    ref = scipy.special.rel_entr(p.numpy(), q.numpy()[None]).sum(-1)
    close(it.kl_divergence(p, q), ref)


def test_js_matches_scipy_squared(gen):
    p = random_probs((7, 8), gen, zeros=True)
    q = random_probs((7, 8), gen, zeros=True)
    ref = scipy.spatial.distance.jensenshannon(p.numpy(), q.numpy(), axis=-1) ** 2
    close(it.js_divergence(p, q), ref)
    close(it.js_divergence(p_logits=p.log(), q_logits=q.log()), ref)
    ref2 = scipy.spatial.distance.jensenshannon(p.numpy(), q.numpy(), axis=-1, base=2) ** 2
    close(it.js_divergence(p, q, base=2), ref2)


def test_js_weighted_is_entropy_difference(gen):
    p = random_probs((5, 6), gen, zeros=True)
    q = random_probs((5, 6), gen)
    w = (0.3, 0.7)
    m = w[0] * p + w[1] * q
    ent = lambda a: scipy.stats.entropy(a.numpy(), axis=-1)
    ref = ent(m) - w[0] * ent(p) - w[1] * ent(q)
    close(it.js_divergence(p, q, weights=w), ref)
    close(it.js_divergence(p, q, weights=(1.0, 0.0)), np.zeros(5))


# ---------------------------------------------------------------- binary cross-entropy


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_bce_logits_matches_torch(gen, reduction):
    z = torch.randn(20, 3, generator=gen, dtype=torch.float64) * 30
    y = torch.rand(20, 3, generator=gen, dtype=torch.float64)
    w = torch.rand(3, generator=gen, dtype=torch.float64)
    pw = torch.rand(3, generator=gen, dtype=torch.float64) * 3
    ref = F.binary_cross_entropy_with_logits(z, y, weight=w, pos_weight=pw, reduction=reduction)
    got = it.binary_cross_entropy(logits=z, target=y, weight=w, pos_weight=pw, reduction=reduction)
    close(got, ref)


def test_bce_probabilities_matches_torch(gen):
    p = torch.rand(30, generator=gen, dtype=torch.float64) * 0.98 + 0.01
    y = (torch.rand(30, generator=gen) > 0.5).double()
    close(it.binary_cross_entropy(p, y, reduction="none"), F.binary_cross_entropy(p, y, reduction="none"))
    # exact 0/1 predictions that agree with the target cost nothing (no clamp at 1e-7)
    edge = it.binary_cross_entropy(torch.tensor([0.0, 1.0]), torch.tensor([0.0, 1.0]), reduction="none")
    assert edge.tolist() == [0.0, 0.0]
    assert it.binary_cross_entropy(torch.tensor([0.0]), torch.tensor([1.0])).item() == math.inf
