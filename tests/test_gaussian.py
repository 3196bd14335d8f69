"""Gaussian entropies and KLs against scipy.stats, torch.distributions and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import torch
from torch.distributions import MultivariateNormal, Normal, kl_divergence

import infotorch as it


def test_gaussian_entropy_diag_matches_scipy(gen):
    std = torch.rand(4, 6, generator=gen, dtype=torch.float64) * 3 + 0.01
    ref = scipy.stats.norm(scale=std.numpy()).entropy().sum(-1)
    torch.testing.assert_close(it.gaussian_entropy(std), torch.as_tensor(ref))
    torch.testing.assert_close(it.gaussian_entropy(log_var=2 * std.log()), torch.as_tensor(ref))
    closed = (0.5 * torch.log(2 * math.pi * math.e * std**2)).sum(-1)
    torch.testing.assert_close(it.gaussian_entropy(std), closed)
    torch.testing.assert_close(it.gaussian_entropy(std, base=2), torch.as_tensor(ref) / math.log(2))


def test_gaussian_entropy_full_cov_matches_scipy(gen):
    a = torch.randn(3, 5, 5, generator=gen, dtype=torch.float64)
    cov = a @ a.transpose(-1, -2) + 0.1 * torch.eye(5, dtype=torch.float64)
    ref = [scipy.stats.multivariate_normal(cov=c.numpy()).entropy() for c in cov]
    torch.testing.assert_close(it.gaussian_entropy(cov=cov), torch.as_tensor(ref))
    torch.testing.assert_close(
        it.gaussian_entropy(cov=cov), MultivariateNormal(torch.zeros(5, dtype=torch.float64), cov).entropy()
    )


def test_gaussian_entropy_scale_property(gen):
    # h(aX) = h(X) + d log|a|
    std = torch.rand(7, generator=gen, dtype=torch.float64) + 0.1
    a = 3.7
    torch.testing.assert_close(it.gaussian_entropy(a * std), it.gaussian_entropy(std) + 7 * math.log(a))


def test_kl_normal_matches_torch_distributions(gen):
    mu1, mu2 = torch.randn(2, 5, 8, generator=gen, dtype=torch.float64)
    lv1, lv2 = torch.randn(2, 5, 8, generator=gen, dtype=torch.float64)
    ref = kl_divergence(Normal(mu1, (0.5 * lv1).exp()), Normal(mu2, (0.5 * lv2).exp())).sum(-1)
    torch.testing.assert_close(it.kl_normal(mu1, lv1, mu2, lv2), ref)
    ref0 = kl_divergence(Normal(mu1, (0.5 * lv1).exp()), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(it.kl_to_standard_normal(mu1, lv1), ref0)
    torch.testing.assert_close(it.kl_to_standard_normal(mu1, lv1, reduction="mean"), ref0.mean())


def test_kl_normal_precise_for_nearly_equal_variances():
    # KL(N(0, e^d) || N(0, 1)) = (e^d - 1 - d)/2 ≈ d²/4 for tiny d; mpmath-free reference:
    # the Taylor series in exact rational steps.
    for d in [1e-3, 1e-6, 1e-9]:
        ref = sum(d**k / math.factorial(k) for k in range(2, 12)) / 2
        got = it.kl_normal(
            torch.zeros(1, dtype=torch.float64),
            torch.tensor([d], dtype=torch.float64),
            torch.zeros(1, dtype=torch.float64),
            torch.zeros(1, dtype=torch.float64),
        )
        assert got.item() == pytest.approx(ref, rel=1e-13)
        # the naive formula loses everything at d = 1e-9
    naive = 0.5 * (math.exp(1e-9) - 1 - 1e-9)
    assert abs(naive - 1e-18 / 4) > 10 * (1e-18 / 4)


def test_kl_normal_broadcasts_prior(gen):
    mu, lv = torch.randn(2, 4, 3, generator=gen, dtype=torch.float64)
    got = it.kl_normal(mu, lv, torch.zeros(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64))
    torch.testing.assert_close(got, it.kl_to_standard_normal(mu, lv))


def test_gaussian_errors():
    with pytest.raises(ValueError, match="exactly one of std, log_var or cov"):
        it.gaussian_entropy()
    with pytest.raises(ValueError, match="std must be positive"):
        it.gaussian_entropy(torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="cov must be symmetric"):
        it.gaussian_entropy(cov=torch.tensor([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="positive definite"):
        it.gaussian_entropy(cov=torch.tensor([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(ValueError, match="broadcastable"):
        it.kl_normal(torch.zeros(3), torch.zeros(3), torch.zeros(4), torch.zeros(4))
    with pytest.raises(ValueError, match="log_var must be finite"):
        it.kl_to_standard_normal(torch.zeros(2), torch.tensor([0.0, np.inf]))
