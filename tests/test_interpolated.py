"""Interpolated density entropy against a 50-digit mpmath evaluation of the formal definition,
plain autograd of a straightforward implementation, torch.func.hessian, closed forms (equal
spacing: log(s_n − s_1)), scipy quadrature for the kernel mode, and the spec's invariances."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import scipy.integrate
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.autograd import gradcheck, gradgradcheck

import infotorch as it
from infotorch.interpolated import _g_parts
from infotorch.nn import InterpolatedDensityEntropy

D = torch.float64
mpmath.mp.dps = 50


def mp_entropy(values, eps=1e-6):
    """The formal definition in 50-digit arithmetic."""
    s = sorted(mpmath.mpf(float(v)) for v in values)
    n = len(s)
    e = mpmath.mpf(eps)
    d = [s[i + 1] - s[i] for i in range(n - 1)]
    inv = [1 / (di + e) for di in d]
    w = [inv[0]] + [(inv[i - 1] + inv[i]) / 2 for i in range(1, n - 1)] + [inv[-1]]
    z = sum((w[i] + w[i + 1]) * d[i] / 2 for i in range(n - 1))
    p = [wi / z for wi in w]
    phi = lambda t: t * t * (mpmath.log(t) - mpmath.mpf(1) / 2)
    h = mpmath.mpf(0)
    for i in range(n - 1):
        a, b = p[i], p[i + 1]
        g = a * mpmath.log(a) if a == b else (phi(b) - phi(a)) / (2 * (b - a))
        h -= d[i] * g
    return float(h)


def naive(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """The definition written plainly (autograd reference; no near-equal branch needed for random data)."""
    s, _ = torch.sort(x, -1)
    d = s[..., 1:] - s[..., :-1]
    inv = 1 / (d + eps)
    w = torch.cat([inv[..., :1], 0.5 * (inv[..., :-1] + inv[..., 1:]), inv[..., -1:]], -1)
    z = (d * (w[..., :-1] + w[..., 1:]) / 2).sum(-1, keepdim=True)
    p = w / z
    a, b = p[..., :-1], p[..., 1:]
    phi = lambda t: t * t * (torch.log(t) - 0.5)
    return -(d * (phi(b) - phi(a)) / (2 * (b - a))).sum(-1, keepdim=True)


@pytest.mark.parametrize("seed", range(4))
def test_matches_high_precision_reference(seed):
    x = torch.randn(40, generator=torch.Generator().manual_seed(seed), dtype=D) * (seed + 1)
    got = float(it.interpolated_density_entropy(x, epsilon=1e-6))
    assert got == pytest.approx(mp_entropy(x.tolist()), rel=1e-9)


def test_not_doubled_as_the_seed_snippet():
    # ERRATA 1: the seed's _phi_integral drops the 1/2 (it returns twice the value)
    x = torch.randn(50, generator=torch.Generator().manual_seed(0), dtype=D)
    got = float(it.interpolated_density_entropy(x, epsilon=1e-6))
    ref = mp_entropy(x.tolist())
    assert got == pytest.approx(ref, rel=1e-9) and abs(got - 2 * ref) > 0.1


def test_series_branch_is_exact_and_smooth():
    # g(a, b) on both sides of the series switch (|r| = 0.1) against mpmath
    for r in (1e-12, 1e-6, 0.05, 0.0999999, 0.1, 0.1000001, 0.3):
        a, b = 1.0 - r, 1.0 + r
        g, ga, gb = _g_parts(torch.tensor([a], dtype=D), torch.tensor([b], dtype=D))
        am, bm = mpmath.mpf(a), mpmath.mpf(b)
        f = lambda t: t * mpmath.log(t)
        ref = mpmath.quad(f, [am, bm]) / (bm - am)
        # partials of the mean of t·log t over [a, b], from the closed antiderivative in 50 digits
        prim = lambda t: t * t * (2 * mpmath.log(t) - 1) / 4
        mean = lambda u, w: (prim(w) - prim(u)) / (w - u)
        ref_a = mpmath.diff(lambda u: mean(u, bm), am)
        ref_b = mpmath.diff(lambda w: mean(am, w), bm)
        assert float(g) == pytest.approx(float(ref), rel=1e-14, abs=1e-15)
        assert float(ga) == pytest.approx(float(ref_a), rel=1e-9, abs=1e-12)
        assert float(gb) == pytest.approx(float(ref_b), rel=1e-9, abs=1e-12)


def test_closed_forms_and_invariances():
    x = torch.linspace(-2, 5, 11, dtype=D)
    assert float(it.interpolated_density_entropy(x, epsilon=1e-14)) == pytest.approx(math.log(7.0), rel=1e-12)
    y = torch.randn(30, generator=torch.Generator().manual_seed(1), dtype=D)
    h = float(it.interpolated_density_entropy(y, epsilon=1e-14))
    assert float(it.interpolated_density_entropy(y + 123.0, epsilon=1e-14)) == pytest.approx(h, rel=1e-10)
    assert float(it.interpolated_density_entropy(3.0 * y, epsilon=1e-14)) == pytest.approx(h + math.log(3.0), rel=1e-10)
    perm = torch.randperm(30, generator=torch.Generator().manual_seed(2))
    assert float(it.interpolated_density_entropy(y[perm])) == pytest.approx(
        float(it.interpolated_density_entropy(y)), rel=1e-14
    )


def test_temperature_has_no_effect_and_zero_gradient():
    x = torch.randn(3, 20, generator=torch.Generator().manual_seed(3), dtype=D)
    for soft in (False, True):
        layer = InterpolatedDensityEntropy(temperature=0.3, softplus_temperature=soft).double()
        h = layer(x)
        h.sum().backward()
        param = layer.temperature_raw if soft else layer.temperature
        assert param.grad is not None and float(param.grad) == 0.0
        torch.testing.assert_close(h, it.interpolated_density_entropy(x, epsilon=1e-6))
    assert "epsilon" in dict(InterpolatedDensityEntropy().named_buffers())


def test_gradients_against_autograd_and_gradcheck():
    x = torch.randn(4, 25, generator=torch.Generator().manual_seed(4), dtype=D)
    a = x.clone().requires_grad_(True)
    it.interpolated_density_entropy(a, epsilon=1e-6).sum().backward()
    b = x.clone().requires_grad_(True)
    naive(b).sum().backward()
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-9, atol=1e-11)
    xs = torch.randn(2, 6, generator=torch.Generator().manual_seed(5), dtype=D).requires_grad_(True)
    for window in (1, 2, 3):
        assert gradcheck(lambda t, w=window: it.interpolated_density_entropy(t, window=w), (xs,))
        assert gradgradcheck(lambda t, w=window: it.interpolated_density_entropy(t, window=w), (xs,))


def test_hvp_and_hessian_against_torch_func():
    x = torch.randn(9, generator=torch.Generator().manual_seed(6), dtype=D)
    full = torch.func.hessian(lambda t: naive(t).sum())(x)
    vec = torch.randn(9, generator=torch.Generator().manual_seed(7), dtype=D)
    torch.testing.assert_close(
        it.interpolated_density_entropy_hvp(x, vec, epsilon=1e-6), full @ vec, rtol=1e-8, atol=1e-10
    )
    dense = it.interpolated_density_entropy_hessian(x, epsilon=1e-6)  # the naive reference's epsilon
    torch.testing.assert_close(dense, full, rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(dense.sum(-1), torch.zeros(9, dtype=D), atol=1e-10, rtol=0)  # H·1 = 0
    # the structure: band of half-width 3 plus rank two, in sorted order
    sh = it.interpolated_density_entropy_structured_hessian(x, epsilon=1e-6)
    perm = sh.perm[0]
    sorted_full = full[perm][:, perm]
    assert sh.band.shape == (1, 7, 9) and sh.low_rank.shape == (1, 9, 2)
    torch.testing.assert_close(sh.dense_sorted()[0], sorted_full, rtol=1e-8, atol=1e-10)
    banded = sorted_full - (sh.low_rank @ sh.coefficients @ sh.low_rank.transpose(-1, -2))[0]
    far = torch.ones(9, 9, dtype=torch.bool).triu(4) | torch.ones(9, 9, dtype=torch.bool).tril(-4)
    assert banded[far].abs().max() < 1e-9 * sorted_full.abs().max()  # nothing outside the band
    assert sorted_full[0, 8].abs() > 1e-6  # while the Hessian itself is dense
    # several rows at once
    xb = torch.randn(3, 8, generator=torch.Generator().manual_seed(12), dtype=D)
    dense_b = it.interpolated_density_entropy_hessian(xb, epsilon=1e-6)
    for r in range(3):
        torch.testing.assert_close(
            dense_b[r], torch.func.hessian(lambda t: naive(t).sum())(xb[r]), rtol=1e-8, atol=1e-10
        )
    # other windows: against autograd's double backward of the closed-form gradient
    for window in (2, 3):
        ref = torch.autograd.functional.hessian(
            lambda t, w=window: it.interpolated_density_entropy(t, window=w, epsilon=1e-6).sum(), x
        )
        torch.testing.assert_close(
            it.interpolated_density_entropy_hessian(x, window=window, epsilon=1e-6), ref, rtol=1e-7, atol=1e-9
        )


def test_fisher_diag_and_natural_gradient():
    x = torch.randn(2, 15, generator=torch.Generator().manual_seed(8), dtype=D)
    f = it.interpolated_density_fisher_diag(x, epsilon=1e-6)
    assert (f > 0).all()
    torch.testing.assert_close(it.interpolated_density_fisher_diag(3 * x, epsilon=3e-6), f / 9)
    # the default (relative) epsilon scales with the data by itself
    torch.testing.assert_close(it.interpolated_density_fisher_diag(3 * x), it.interpolated_density_fisher_diag(x) / 9)
    # the Hessian scales the same way
    h1 = torch.func.hessian(lambda t: naive(t).sum())(x[0])
    h3 = torch.func.hessian(lambda t: naive(t, 3e-6).sum())(3 * x[0])
    torch.testing.assert_close(h3, h1 / 9, rtol=1e-8, atol=1e-10)
    before = it.interpolated_density_entropy(x)
    after = it.interpolated_density_entropy(it.natural_gradient_step(x, lr=1e-3))
    assert (after > before).all()


def test_min_gap_clip_hook():
    x = torch.tensor([[0.0, 1e-3, 1.0, 2.0]], dtype=D, requires_grad=True)
    handle = it.min_gap_gradient_clip_hook(x, base_clip=1.0)
    it.interpolated_density_entropy(x).sum().backward()
    clip = max(1e-4, (1e-3 + 1e-6) ** 2)
    assert float(x.grad.abs().max()) <= clip + 1e-15
    handle.remove()


def test_return_density_in_input_order():
    x = torch.tensor([[3.0, 0.0, 1.0, 0.5]], dtype=D)
    _h, p, s = it.interpolated_density(x)
    with pytest.warns(FutureWarning, match="return_density"):
        old = it.interpolated_density_entropy(x, return_density=True)
    assert all(torch.equal(a, b) for a, b in zip(old, (_h, p, s), strict=True))
    assert torch.equal(s, torch.tensor([[0.0, 0.5, 1.0, 3.0]], dtype=D))
    sorted_p = p[0, torch.argsort(x[0])]
    mass = ((sorted_p[:-1] + sorted_p[1:]) / 2 * (s[0, 1:] - s[0, :-1])).sum()
    assert float(mass) == pytest.approx(1.0, rel=1e-12)
    assert float(p[0, 1]) > float(p[0, 0])  # the point in the cluster has more density than the outlier


def test_edges():
    # n < 2: 0 with zero gradient
    one = torch.tensor([[2.0]], requires_grad=True)
    h = it.interpolated_density_entropy(one)
    h.sum().backward()
    assert float(h) == 0.0 and float(one.grad) == 0.0
    # ties, duplicates, all equal
    for vals in ([0.0, 0.0, 1.0, 1.0, 2.0], [5.0] * 6):
        t = torch.tensor(vals, requires_grad=True)
        out = it.interpolated_density_entropy(t)
        out.sum().backward()
        assert torch.isfinite(out).all() and torch.isfinite(t.grad).all()
    assert float(it.interpolated_density_entropy(torch.full((6,), 5.0, dtype=D), epsilon=1e-6)) == pytest.approx(
        math.log(5e-6)
    )
    # huge and tiny scales stay finite
    base = torch.randn(3, 20, generator=torch.Generator().manual_seed(9))
    for scale in (1e-8, 1e8):
        t = (base * scale).requires_grad_(True)
        out = it.interpolated_density_entropy(t, adaptive_epsilon=True)
        out.sum().backward()
        assert torch.isfinite(out).all() and torch.isfinite(t.grad).all()
    with pytest.raises(ValueError, match="x must be finite"):
        it.interpolated_density_entropy(torch.tensor([0.0, math.nan]))
    with pytest.raises(ValueError, match="interpolation must be one of"):
        it.interpolated_density_entropy(torch.zeros(3), interpolation="cubic")
    with pytest.raises(ValueError, match="window must be a positive integer"):
        it.interpolated_density_entropy(torch.zeros(3), window=0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision(dtype, device):
    x = (
        torch.randn(4, 64, generator=torch.Generator().manual_seed(10))
        .to(device=device, dtype=dtype)
        .requires_grad_(True)
    )
    h = it.interpolated_density_entropy(x)
    assert h.dtype == dtype and h.device.type == device and torch.isfinite(h).all()
    h.sum().backward()
    assert torch.isfinite(x.grad).all()
    ref = it.interpolated_density_entropy(x.detach().float())
    torch.testing.assert_close(h.float(), ref, rtol=2e-2, atol=2e-2)


def test_float64_accumulation_and_shapes(device):
    x = torch.randn(2, 3, 50, generator=torch.Generator().manual_seed(11)).to(device)
    h32 = it.interpolated_density_entropy(x)
    h64 = it.interpolated_density_entropy(x, accumulate_float64=True)
    assert h32.shape == (2, 3, 1) and h64.dtype == torch.float32 and h64.device.type == device
    torch.testing.assert_close(h32, h64, rtol=1e-4, atol=1e-4)
    assert it.interpolated_density_entropy(x, keepdim=False).shape == (2, 3)


def test_gaussian_kernel_mode_against_scipy_quad():
    x = torch.tensor([0.0, 0.3, 1.1, 2.0, 2.2, 4.0], dtype=D)
    h = float(it.interpolated_density_entropy(x, interpolation="gaussian_kernel", epsilon=1e-6))
    s = np.sort(x.numpy())
    inv = 1 / (np.diff(s) + 1e-6)
    w = np.concatenate([[inv[0]], 0.5 * (inv[:-1] + inv[1:]), [inv[-1]]])
    w = w / w.sum()
    bw = (s[-1] - s[0]) / (len(s) - 1) + 1e-6

    def pdf(t):
        return float(np.sum(w * np.exp(-0.5 * ((t - s) / bw) ** 2)) / (bw * math.sqrt(2 * math.pi)))

    total = scipy.integrate.quad(pdf, s[0] - 12 * bw, s[-1] + 12 * bw, limit=200, epsabs=1e-13)[0]
    assert total == pytest.approx(1.0, abs=1e-10)  # normalized by Σw (ERRATA 3)
    ref = -scipy.integrate.quad(
        lambda t: pdf(t) * math.log(pdf(t)), s[0] - 12 * bw, s[-1] + 12 * bw, limit=400, epsabs=1e-13
    )[0]
    assert h == pytest.approx(ref, rel=1e-9)
    xg = x.clone().requires_grad_(True)
    assert gradcheck(lambda t: it.interpolated_density_entropy(t, interpolation="gaussian_kernel"), (xg,))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-100, 100), min_size=2, max_size=30), st.floats(-50, 50))
def test_properties(values, shift):
    x = torch.tensor(values, dtype=D)
    h = float(it.interpolated_density_entropy(x, epsilon=1e-9))
    span = float(x.max() - x.min())
    if span > 1e-3:
        assert h <= math.log(span) + 1e-9  # uniform on [s_1, s_n] is the maximum
        assert float(it.interpolated_density_entropy(x + shift, epsilon=1e-9)) == pytest.approx(h, rel=1e-6, abs=1e-6)
    assert math.isfinite(h)


def test_hessian_and_hvp_share_their_default_epsilon():
    x = torch.randn(2, 8, generator=torch.Generator().manual_seed(3), dtype=D) * 1e-6
    vec = torch.randn(2, 8, generator=torch.Generator().manual_seed(4), dtype=D)
    hv = it.interpolated_density_entropy_hvp(x, vec)
    dense = it.interpolated_density_entropy_hessian(x)
    # the default (relative) epsilon held fixed in the Hessian: agreement to its stated 1e-7-ish
    torch.testing.assert_close(
        (dense @ vec.unsqueeze(-1)).squeeze(-1), hv, rtol=1e-5, atol=1e-5 * float(hv.abs().max())
    )
