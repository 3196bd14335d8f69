"""Identities and bounds with hypothesis (references: the identities themselves, Cover & Thomas
ch. 2): chain rule, MI = H(X)+H(Y)-H(X,Y) >= 0, 0 <= JS <= log 2, KL >= 0 with equality iff
equal, 0 <= H <= log K, units."""

from __future__ import annotations

import math

import torch
from hypothesis import assume, given
from hypothesis import strategies as st

import infotorch as it

ATOL = 1e-10


@st.composite
def distributions(draw, min_k=1, max_k=8, zeros=True):
    k = draw(st.integers(min_k, max_k))
    weights = draw(st.lists(st.floats(0.0, 1.0) if zeros else st.floats(1e-3, 1.0), min_size=k, max_size=k))
    x = torch.tensor(weights, dtype=torch.float64)
    assume(x.sum() > 1e-3)
    return x / x.sum()


@st.composite
def joints(draw):
    kx, ky = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    w = draw(st.lists(st.floats(0.0, 1.0), min_size=kx * ky, max_size=kx * ky))
    x = torch.tensor(w, dtype=torch.float64).reshape(kx, ky)
    assume(x.sum() > 1e-3)
    return x / x.sum()


@given(distributions())
def test_entropy_bounds(p):
    h = it.entropy(p).item()
    assert -ATOL <= h <= math.log(p.numel()) + ATOL


@given(distributions(min_k=2))
def test_entropy_units(p):
    assert math.isclose(it.entropy(p, base=2).item() * math.log(2), it.entropy(p).item(), rel_tol=1e-12, abs_tol=1e-15)


@given(joints())
def test_chain_rule_and_mi_identity(joint):
    hxy = it.joint_entropy(joint).item()
    hx = it.entropy(joint.sum(-1)).item()
    hy = it.entropy(joint.sum(-2)).item()
    hy_x = it.conditional_entropy(joint).item()
    hx_y = it.conditional_entropy(joint, dims=(-1, -2)).item()
    mi = it.mutual_information(joint).item()
    assert math.isclose(hxy, hx + hy_x, abs_tol=1e-9)
    assert math.isclose(hxy, hy + hx_y, abs_tol=1e-9)
    assert math.isclose(mi, hx + hy - hxy, abs_tol=1e-9)
    assert mi >= -ATOL and hy_x >= 0.0  # conditional entropy is exactly non-negative
    assert hy_x <= hy + 1e-9  # conditioning reduces entropy
    assert math.isclose(mi, it.mutual_information(joint.T).item(), abs_tol=1e-9)  # symmetry


@given(distributions(), distributions())
def test_independent_joint_has_zero_mi(px, py):
    assert abs(it.mutual_information(torch.outer(px, py)).item()) < 1e-9


@given(st.data())
def test_js_bounds_and_symmetry(data):
    k = data.draw(st.integers(1, 8))
    p = data.draw(distributions(min_k=k, max_k=k))
    q = data.draw(distributions(min_k=k, max_k=k))
    js = it.js_divergence(p, q).item()
    assert -ATOL <= js <= math.log(2) + ATOL
    assert math.isclose(js, it.js_divergence(q, p).item(), abs_tol=1e-12)
    assert it.js_divergence(p, q, base=2).item() <= 1 + 1e-12


@given(st.data())
def test_kl_nonnegative_zero_iff_equal(data):
    k = data.draw(st.integers(1, 8))
    p = data.draw(distributions(min_k=k, max_k=k))
    q = data.draw(distributions(min_k=k, max_k=k, zeros=False))
    kl = it.kl_divergence(p, q).item()
    assert kl >= -ATOL
    assert abs(it.kl_divergence(p, p).item()) <= ATOL
    if kl <= 1e-12:
        assert torch.allclose(p, q, atol=1e-5)
    # Gibbs: cross-entropy is at least the entropy
    assert it.cross_entropy(p, q).item() >= it.entropy(p).item() - ATOL


@given(st.lists(st.floats(-30, 30), min_size=1, max_size=10), st.floats(-50, 50))
def test_entropy_of_logits_shift_invariant(z, c):
    z = torch.tensor(z, dtype=torch.float64)
    assert math.isclose(it.entropy(logits=z).item(), it.entropy(logits=z + c).item(), abs_tol=1e-9)


@given(
    st.lists(st.floats(-5, 5), min_size=1, max_size=6),
    st.lists(st.floats(-5, 5), min_size=1, max_size=6),
)
def test_gaussian_kl_nonnegative(mu, lv):
    n = min(len(mu), len(lv))
    mu_t, lv_t = torch.tensor(mu[:n], dtype=torch.float64), torch.tensor(lv[:n], dtype=torch.float64)
    assert it.kl_to_standard_normal(mu_t, lv_t).item() >= 0.0
    assert it.kl_normal(mu_t, lv_t, mu_t, lv_t).item() == 0.0


@given(st.lists(st.integers(0, 4), min_size=2, max_size=60), st.integers(0, 2**31))
def test_mi_from_samples_identities(xs, seed):
    x = torch.tensor(xs)
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (len(xs),), generator=g)
    mi = it.mutual_information_from_samples(x, y).item()
    hx = it.entropy_from_samples(x).item()
    hy = it.entropy_from_samples(y).item()
    assert -1e-7 <= mi <= min(hx, hy) + 1e-6
    assert math.isclose(it.mutual_information_from_samples(x, x).item(), hx, rel_tol=1e-5, abs_tol=1e-6)
