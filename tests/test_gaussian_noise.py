"""Gaussian entropy floors, mixture entropy and the sub-batch MI: against a brute-force numpy /
scipy log-sum-exp, the Gaussian closed form I = E/2·log(1 + s²/σ²), Jensen's inequality, and
gradcheck in float64."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.autograd import gradcheck

from infotorch.gaussian import (
    gaussian_entropy_log_loss,
    gaussian_mixture_entropy,
    masked_negative_log_mean,
    mutual_information_sub_batch,
    square_mahalanobis_distance,
)
from infotorch.nn import MutualInformationLoss
from infotorch.noise import sub_batch_mutual_information

D = torch.float64
HALF_LOG_2PIE = 0.5 * math.log(2 * math.pi * math.e)


def rand(*shape, seed=0, scale=1.0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=D) * scale


@given(st.lists(st.floats(1e-3, 1e3), min_size=1, max_size=20))
def test_jensen_relation(stds):
    s = torch.tensor(stds, dtype=D)
    assert float(gaussian_entropy_log_loss(s)) + HALF_LOG_2PIE >= float(masked_negative_log_mean(s)) - 1e-12


def test_entropy_floors_closed_forms_and_masks():
    s = torch.tensor([[0.5, 2.0], [4.0, 8.0]], dtype=D)
    assert float(gaussian_entropy_log_loss(s)) == pytest.approx(-np.log([0.5, 2, 4, 8]).mean() - HALF_LOG_2PIE)
    token_mask = torch.tensor([True, False])
    assert float(gaussian_entropy_log_loss(s, token_mask)) == pytest.approx(-np.log([0.5, 2]).mean() - HALF_LOG_2PIE)
    assert float(masked_negative_log_mean(s, token_mask)) == pytest.approx(-math.log(1.25))
    # an empty mask is 0, not nan, and an exact zero std stays finite
    assert float(gaussian_entropy_log_loss(s, torch.zeros(2, dtype=torch.bool))) == 0.0
    assert math.isfinite(float(gaussian_entropy_log_loss(torch.tensor([0.0, 1.0]))))


def test_square_mahalanobis_formula():
    x, y, s = rand(3, 4, 5, seed=1), rand(3, 4, 5, seed=2), rand(3, 4, 5, seed=3).abs() + 0.1
    mask = torch.rand(3, 4, generator=torch.Generator().manual_seed(4)) > 0.3
    got = square_mahalanobis_distance(x, y, s, mask)
    var = s.numpy() ** 2
    eps = 100.0 * np.finfo(np.float64).eps * var[mask.numpy()].min()
    ref = 0.5 * ((x.numpy() - y.numpy()) ** 2 / (var + eps)).sum(-1) * mask.numpy()
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-13)
    # a zero variance is bounded by the relative epsilon, not infinite
    s0 = s.clone()
    s0[0, 0, 0] = 0.0
    assert torch.isfinite(square_mahalanobis_distance(x, y, s0, None)).all()


def brute_force_entropy(clean, transformed, means, stds, mask, safety=100.0):
    """Independent numpy/scipy implementation: every (i, l, s) density in full, log-sum-exp."""
    c, y, m, s = (t.numpy() for t in (clean, transformed, means, stds))
    var = s**2
    var = var + safety * np.finfo(np.float64).eps * var[var > 0].min()
    b1, n_s, _ = y.shape
    vals = []
    for i in range(b1):
        for pos in range(n_s):
            if mask is not None and not mask[i, pos]:
                continue
            mu = c[:, pos] + m[:, pos]
            logd = -0.5 * ((y[i, pos] - mu) ** 2 / var[:, pos]).sum(-1) - 0.5 * np.log(2 * np.pi * var[:, pos]).sum(-1)
            vals.append(-(scipy.special.logsumexp(logd) - np.log(len(mu))))
    return float(np.mean(vals))


def test_mixture_entropy_matches_brute_force():
    clean, transformed = rand(6, 3, 4, seed=1), rand(5, 3, 4, seed=2, scale=2.0)
    means, stds = rand(6, 3, 4, seed=3, scale=0.3), rand(6, 3, 4, seed=4).abs() + 0.2
    mask = torch.tensor([[1, 1, 0], [1, 0, 1], [1, 1, 1], [0, 0, 1], [1, 1, 1]], dtype=torch.bool)
    losses = {}
    got = gaussian_mixture_entropy(clean, transformed, means, stds, mask, losses)
    assert float(got) == pytest.approx(brute_force_entropy(clean, transformed, means, stds, mask.numpy()), rel=1e-10)
    assert set(losses) == {
        "gaussian_mixture_mahalanobis_distance_loss",
        "gaussian_mixture_log_constants_and_determinant_loss",
    }
    # masked positions change nothing
    t2 = transformed.clone()
    t2[~mask] = 1e6
    assert float(gaussian_mixture_entropy(clean, t2, means, stds, mask)) == pytest.approx(float(got), rel=1e-12)
    # far from the origin: same entropy after shifting everything
    shifted = gaussian_mixture_entropy(clean + 1e4, transformed + 1e4, means, stds, mask)
    assert float(shifted) == pytest.approx(float(got), rel=1e-6)


def test_mi_matches_gaussian_closed_form():
    # X ~ N(0, s² I_E), mu = 0, constant sigma: I = E/2 log(1 + s²/sigma²) per token
    b, n_s, e, s, sig = 512, 8, 4, 1.0, 1.0
    x = rand(b, n_s, e, seed=10, scale=s)
    stds = torch.full((b, n_s, e), sig, dtype=D)
    y = x + stds * rand(b, n_s, e, seed=11)
    mask = torch.ones(b, n_s, dtype=torch.bool)
    truth = e / 2 * math.log(1 + s * s / (sig * sig))
    losses = {}
    with pytest.warns(FutureWarning, match="return_bounds"):  # the original-name adapter keeps it, deprecated
        est, bounds = mutual_information_sub_batch(
            torch.zeros_like(x), stds, mask, x, y, losses=losses, return_bounds=True
        )
    result = sub_batch_mutual_information(torch.zeros_like(x), stds, mask, x, y, bounds=True)
    assert float(result.estimate) == float(est) and float(result.lower) == float(bounds["lower"])
    assert set(result.component_losses) == set(losses)
    assert abs(float(est) - truth) < 0.1  # measured bias at 256 components, d = 4: +0.03
    assert float(bounds["lower"]) <= truth + 0.05 and float(bounds["upper"]) >= truth - 0.05
    assert float(bounds["lower"]) <= math.log(b // 2 + 1)
    assert float(losses["mutual_information_loss"]) == float(est)
    assert set(losses) == {
        "gaussian_mixture_mahalanobis_distance_loss",
        "gaussian_mixture_log_constants_and_determinant_loss",
        "gaussian_mixture_entropy_loss",
        "mutual_information_loss",
        "std_log_loss",
    }
    # H(Y) estimate against its closed form E/2 log(2πe(s²+σ²))
    assert float(losses["gaussian_mixture_entropy_loss"]) == pytest.approx(
        e / 2 * math.log(2 * math.pi * math.e * 2), abs=0.1
    )


def test_mi_bias_shrinks_with_sub_batch():
    e = 4
    truth = e / 2 * math.log(2)
    biases = []
    for b in (16, 64, 256):
        x = rand(b, 16, e, seed=b)
        stds = torch.ones(b, 16, e, dtype=D)
        y = x + rand(b, 16, e, seed=b + 1)
        biases.append(
            float(mutual_information_sub_batch(torch.zeros_like(x), stds, torch.ones(b, 16, dtype=torch.bool), x, y))
            - truth
        )
    assert biases[0] > biases[1] > biases[2] > -0.05


def test_masks_and_combination():
    b, n_s, e = 6, 4, 3
    x, mu = rand(b, n_s, e, seed=1), rand(b, n_s, e, seed=2, scale=0.1)
    stds = rand(b, n_s, e, seed=3).abs() + 0.5
    y = x + mu + stds * rand(b, n_s, e, seed=4)
    mask = torch.rand(b, n_s, generator=torch.Generator().manual_seed(5)) > 0.3
    a = mutual_information_sub_batch(mu, stds, mask, x, y, True)
    c = mutual_information_sub_batch(mu, stds, mask, x, y, False)
    assert torch.isfinite(a) and torch.isfinite(c)

    # both against a brute-force loop: each masked token of one half evaluated under the mixture
    # of the other half's components masked at its position (scipy's logsumexp), minus H(Y|X)
    def brute(mask_a, mask_b):
        values = []
        centers = (x + mu).numpy()
        var = (stds**2).numpy()
        for ev, comp, m_ev, m_comp in (
            (slice(0, 3), slice(3, 6), mask_a, mask_b),
            (slice(3, 6), slice(0, 3), mask_b, mask_a),
        ):
            ye, ce, ve = y[ev].numpy(), centers[comp], var[comp]
            for k in range(3):
                for pos in range(n_s):
                    if not m_ev[k, pos]:
                        continue
                    js = [j for j in range(3) if m_comp[j, pos]]
                    logs = [
                        float(scipy.stats.multivariate_normal(ce[j, pos], np.diag(ve[j, pos])).logpdf(ye[k, pos]))
                        for j in js
                    ]
                    log_p = scipy.special.logsumexp(logs) - math.log(len(js))
                    cond = 0.5 * np.log(2 * math.pi * math.e * var[ev][k, pos]).sum()
                    values.append(-log_p - cond)
        return float(np.mean(values))

    both = mask[:3] & mask[3:]
    assert float(a) == pytest.approx(brute(both, both), rel=1e-9)
    assert float(c) == pytest.approx(brute(mask[:3], mask[3:]), rel=1e-9)
    assert abs(float(a) - float(c)) > 1e-6  # the two rules differ here
    # with combine, unmasked token positions of either half do not matter
    y2 = y.clone()
    y2[:3][~both] = 99.0
    assert float(mutual_information_sub_batch(mu, stds, mask, x, y2, True)) == pytest.approx(float(a), rel=1e-12)
    # feature-level mask of the same information as the token mask gives the same value
    feat = mask.unsqueeze(-1).expand(b, n_s, e)
    assert float(mutual_information_sub_batch(mu, stds, feat, x, y, True)) == pytest.approx(float(a), rel=1e-12)
    loss = MutualInformationLoss()
    assert float(loss(mu, stds, mask, x, y)) == pytest.approx(float(a), rel=1e-12)
    assert "std_log_loss" in loss.last_losses


def test_gradcheck_all():
    b, n_s, e = 4, 2, 3
    x, mu, y = rand(b, n_s, e, seed=1), rand(b, n_s, e, seed=2, scale=0.2), rand(b, n_s, e, seed=3)
    stds = rand(b, n_s, e, seed=4).abs() + 0.5
    mask = torch.tensor([[True, True], [True, False], [True, True], [True, True]])
    args = tuple(t.clone().requires_grad_(True) for t in (mu, stds, x, y))
    assert gradcheck(lambda m, s, xx, yy: mutual_information_sub_batch(m, s, mask, xx, yy), args)
    assert gradcheck(lambda m, s, xx, yy: gaussian_mixture_entropy(xx, yy, m, s, mask), args)
    assert gradcheck(lambda s: gaussian_entropy_log_loss(s, mask), (args[1],))
    assert gradcheck(lambda s: masked_negative_log_mean(s, mask), (args[1],))
    assert gradcheck(lambda xx, yy, s: square_mahalanobis_distance(xx, yy, s, mask), (args[2], args[3], args[1]))


def test_low_precision_is_finite():
    x = rand(8, 4, 6, seed=1).float()
    stds = torch.full((8, 4, 6), 0.5)
    y = x + stds * rand(8, 4, 6, seed=2).float()
    mask = torch.ones(8, 4, dtype=torch.bool)
    for dt in (torch.float16, torch.bfloat16):
        args = [t.to(dt).requires_grad_(True) for t in (torch.zeros_like(x), stds, x, y)]
        out = mutual_information_sub_batch(args[0], args[1], mask, args[2], args[3])
        assert out.dtype == dt and torch.isfinite(out)
        out.backward()
        assert all(torch.isfinite(a.grad).all() for a in args[1:])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"b": 1}, "at least 2"),
        ({"b": 5}, "must be even"),
        ({"mismatch": True}, "must have the shape of stds"),
        ({"bad_mask": True}, "noise_mask must have the shape of the stds"),
        ({"negative": True}, "must be non-negative"),
        ({"nan": True}, "must be finite"),
    ],
)
def test_documented_errors(kwargs, message):
    b = kwargs.get("b", 4)
    x = rand(b, 2, 3)
    stds = torch.ones(b, 2, 3, dtype=D)
    mask = torch.ones(b, 2, dtype=torch.bool)
    y = x.clone()
    if kwargs.get("mismatch"):
        y = rand(b, 2, 4)
    if kwargs.get("bad_mask"):
        mask = torch.ones(b, 3, dtype=torch.bool)
    if kwargs.get("negative"):
        stds[0, 0, 0] = -1
    if kwargs.get("nan"):
        x[0, 0, 0] = math.nan
    with pytest.raises(ValueError, match=message):
        mutual_information_sub_batch(torch.zeros_like(x), stds, mask, x, y)
