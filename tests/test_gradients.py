"""gradcheck / gradgradcheck (float64) for every differentiable function, at distributions
with zeros too. Reference: torch.autograd's finite differences."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

import infotorch as it
from tests.conftest import random_probs

D = torch.float64


def check(fn: Callable, *inputs: torch.Tensor, second: bool = True) -> None:
    inputs = tuple(x.detach().clone().requires_grad_(True) for x in inputs)
    assert gradcheck(fn, inputs)
    if second:
        assert gradgradcheck(fn, inputs)


def embed(free: torch.Tensor, template: torch.Tensor) -> torch.Tensor:
    """Place the free (positive) entries into a copy of template, keeping its zeros fixed."""
    out = torch.zeros_like(template, dtype=free.dtype)
    return out.masked_scatter(template > 0, free)


@pytest.fixture
def pz(gen):
    return random_probs((3, 6), gen, zeros=True)


@pytest.fixture
def q(gen):
    return random_probs((3, 6), gen)


def test_entropy_grads(pz, gen):
    check(lambda f: it.entropy(embed(f, pz), validate=False), pz[pz > 0])
    z = torch.randn(3, 6, generator=gen, dtype=D)
    check(lambda x: it.entropy(logits=x), z)
    zm = z.clone()
    zm[:, 2] = -math.inf  # masked class: probability exactly 0
    check(lambda x: it.entropy(logits=x), zm)
    check(lambda x: it.binary_entropy(x.sigmoid()), z)
    check(lambda x: it.binary_entropy(logits=x), z)


def test_zero_probabilities_give_finite_gradients(pz, q):
    for fn in (
        lambda p, q: it.entropy(p, validate=False).sum(),
        lambda p, q: it.kl_divergence(p, q, validate=False).sum(),
        lambda p, q: it.kl_divergence(p, p.detach(), validate=False).sum(),
        lambda p, q: it.cross_entropy(p, q, validate=False).sum(),
        lambda p, q: it.js_divergence(p, q, validate=False).sum(),
        lambda p, q: it.mutual_information(p.reshape(3, 2, 3), validate=False).sum(),
        lambda p, q: it.conditional_entropy(p.reshape(3, 2, 3), validate=False).sum(),
    ):
        p_ = pz.clone().requires_grad_(True)
        q_ = (pz * 0.5 + q * 0.5).requires_grad_(True)
        fn(p_, q_).backward()
        assert torch.isfinite(p_.grad).all()
        assert q_.grad is None or torch.isfinite(q_.grad).all()


def test_cross_entropy_and_kl_grads(pz, q, gen):
    check(lambda a, b: it.cross_entropy(a, b, validate=False), pz, q)  # linear in p: zeros fine
    check(lambda b: it.kl_divergence(pz, b, validate=False), q)
    check(lambda f, b: it.kl_divergence(embed(f, pz), b, validate=False), pz[pz > 0], q)
    za, zb = torch.randn(2, 3, 6, generator=gen, dtype=D)
    check(lambda a, b: it.kl_divergence(p_logits=a, q_logits=b), za, zb)
    check(lambda a, b: it.cross_entropy(p_logits=a, q_logits=b), za, zb)
    check(lambda b: it.cross_entropy(pz, q_logits=b), zb)


def test_js_grads(pz, q, gen):
    qz = q.clone()
    qz[:, 1] = 0  # supports differ
    check(
        lambda f, g: it.js_divergence(embed(f, pz), embed(g, qz), validate=False),
        pz[pz > 0],
        qz[qz > 0],
    )
    za, zb = torch.randn(2, 3, 6, generator=gen, dtype=D)
    check(lambda a, b: it.js_divergence(p_logits=a, q_logits=b, weights=(0.2, 0.8)), za, zb)


def test_joint_measures_grads(gen):
    joint = random_probs((2, 12), gen, zeros=True).reshape(2, 3, 4)
    free = joint[joint > 0]
    for fn in (it.joint_entropy, it.conditional_entropy, it.mutual_information):
        check(lambda f, fn=fn: fn(embed(f, joint), validate=False), free)
    z = torch.randn(2, 3, 4, generator=gen, dtype=D)
    for fn in (it.joint_entropy, it.conditional_entropy, it.mutual_information):
        check(lambda x, fn=fn: fn(logits=x), z)
    check(lambda x: it.normalized_mutual_information(logits=x), z)


def test_bce_grads(gen):
    z = torch.randn(10, generator=gen, dtype=D) * 4
    y = torch.rand(10, generator=gen, dtype=D)
    check(lambda x, t: it.binary_cross_entropy(logits=x, target=t), z, y)
    check(lambda p, t: it.binary_cross_entropy(p, t), z.sigmoid(), y)


def test_gaussian_grads(gen):
    std = torch.rand(3, 4, generator=gen, dtype=D) + 0.2
    check(lambda s: it.gaussian_entropy(s), std)
    check(lambda lv: it.gaussian_entropy(log_var=lv), std.log())
    a = torch.randn(2, 3, 3, generator=gen, dtype=D)
    eye = torch.eye(3, dtype=D)
    check(lambda m: it.gaussian_entropy(cov=m @ m.transpose(-1, -2) + eye), a)
    mu1, mu2 = torch.randn(2, 3, 4, generator=gen, dtype=D)
    lv1 = torch.randn(3, 4, generator=gen, dtype=D)
    lv2 = lv1 + torch.randn(3, 4, generator=gen, dtype=D) * 0.05  # both branches of expm1mx
    check(lambda a, b, c, d: it.kl_normal(a, b, c, d), mu1, lv1, mu2, lv2)
    check(lambda m, lv: it.kl_to_standard_normal(m, lv), mu1, lv1 * 0.01)
    check(lambda m, lv: it.kl_to_standard_normal(m, lv), mu1, lv1)


def test_loss_grads(gen):
    z = torch.randn(5, 4, generator=gen, dtype=D)
    y = torch.tensor([0, 3, -100, 1, 2])
    w = torch.rand(4, generator=gen, dtype=D) + 0.5
    check(lambda x: it.label_smoothing_cross_entropy(x, y, smoothing=0.2, weight=w), z)
    t = torch.randn(5, 4, generator=gen, dtype=D)
    check(lambda s, tt: it.distillation_loss(s, tt, y, temperature=2.0, alpha=0.4), z, t)
