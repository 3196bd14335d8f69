"""dtype and device behaviour: half precision computes in float32 and returns its own dtype;
results stay on the input's device; non-contiguous inputs; huge and tiny scales. The float64
computation is the reference; CUDA variants skip without a GPU."""

from __future__ import annotations

import math

import pytest
import torch

import infotorch as it
from tests.conftest import TOLERANCE, random_probs

HALF = [torch.float16, torch.bfloat16, torch.float32]


def _cases(gen):
    p = random_probs((4, 7), gen, zeros=True)
    q = random_probs((4, 7), gen)
    z = torch.randn(4, 7, generator=gen, dtype=torch.float64) * 3
    joint = random_probs((4, 12), gen).reshape(4, 3, 4)
    y = torch.rand(4, 7, generator=gen, dtype=torch.float64)
    mu, lv = torch.randn(2, 4, 7, generator=gen, dtype=torch.float64)
    labels = torch.randint(0, 7, (4,), generator=gen)
    return {
        "entropy": (it.entropy, (p,), {}),
        "entropy_logits": (lambda z: it.entropy(logits=z), (z,), {}),
        "binary_entropy": (it.binary_entropy, (y,), {}),
        "cross_entropy": (it.cross_entropy, (p, q), {}),
        "kl": (it.kl_divergence, (p, q), {}),
        "kl_logits": (lambda a, b: it.kl_divergence(p_logits=a, q_logits=b), (z, z.flip(-1)), {}),
        "js": (it.js_divergence, (p, q), {}),
        "joint": (it.joint_entropy, (joint,), {}),
        "conditional": (it.conditional_entropy, (joint,), {}),
        "mi": (it.mutual_information, (joint,), {}),
        "bce": (lambda a, b: it.binary_cross_entropy(logits=a, target=b), (z, y), {}),
        "gauss": (lambda s: it.gaussian_entropy(s), (y + 0.1,), {}),
        "kl_normal": (lambda a, b: it.kl_to_standard_normal(a, b), (mu, lv), {}),
        "ls_ce": (lambda a: it.label_smoothing_cross_entropy(a, labels), (z,), {}),
        "distill": (lambda a, b: it.distillation_loss(a, b, labels), (z, z * 0.5), {}),
    }


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("name", list(_cases(torch.Generator().manual_seed(0))))
def test_low_precision_dtype_and_value(device, dtype, name, gen):
    fn, args, kw = _cases(gen)[name]
    ref = fn(*args, **kw)
    low = [a.to(device=device, dtype=dtype).requires_grad_(True) for a in args]
    out = fn(*low, **kw)
    assert out.dtype == dtype and out.device.type == device
    rtol, atol = TOLERANCE[dtype]
    torch.testing.assert_close(out.double().cpu(), ref, rtol=rtol * 10, atol=atol * 10)
    out.sum().backward()
    for a in low:
        assert a.grad is not None and a.grad.dtype == dtype and torch.isfinite(a.grad).all()


@pytest.mark.parametrize("name", list(_cases(torch.Generator().manual_seed(0))))
def test_device_and_float64(device, name, gen):
    fn, args, kw = _cases(gen)[name]
    ref = fn(*args, **kw)
    out = fn(*[a.to(device) for a in args], **kw)
    assert out.device.type == device and out.dtype == torch.float64
    torch.testing.assert_close(out.cpu(), ref)


def test_samples_on_device(device, gen):
    x = torch.randint(0, 4, (3, 50), generator=gen)
    y = torch.randint(0, 4, (3, 50), generator=gen)
    ref = it.mutual_information_from_samples(x, y)
    out = it.mutual_information_from_samples(x.to(device), y.to(device))
    assert out.device.type == device
    torch.testing.assert_close(out.cpu(), ref)


def test_non_contiguous_inputs(gen):
    p = random_probs((7, 5), gen).T.contiguous().T  # same values, transposed strides
    assert not p.is_contiguous()
    torch.testing.assert_close(it.entropy(p), it.entropy(p.contiguous()))
    joint = random_probs((3, 20), gen).reshape(3, 4, 5).transpose(1, 2)
    torch.testing.assert_close(it.mutual_information(joint), it.mutual_information(joint.contiguous()))


@pytest.mark.parametrize("scale", [1e-30, 1e30])
def test_extreme_logit_scales_are_finite(scale):
    z = torch.tensor([[1.0, -2.0, 0.5, 0.5]], requires_grad=True)
    h = it.entropy(logits=z * scale)
    h.backward()
    assert torch.isfinite(h).all() and torch.isfinite(z.grad).all()
    if scale < 1:
        assert h.item() == pytest.approx(math.log(4))
    else:
        assert h.item() == 0.0


def test_ties_and_duplicates():
    # identical distributions, constant logits, duplicated samples
    p = torch.full((3, 4), 0.25)
    assert torch.all(it.kl_divergence(p, p) == 0)
    assert torch.allclose(it.entropy(logits=torch.zeros(4)), torch.tensor(math.log(4)))
    x = torch.zeros(10, dtype=torch.long)
    assert it.mutual_information_from_samples(x, x).item() == 0.0
