"""torch.func.vmap and torch.compile parity for the core measures, with the global validation
switch off (the value checks read data, which vmap and compile cannot). Reference: the same
function on the whole batch (every measure is batched along its leading dims), and autograd."""

from __future__ import annotations

import pytest
import torch

import infotorch as it

D = torch.float64
G = torch.Generator().manual_seed(0)
Z = torch.randn(6, 5, generator=G, dtype=D)
W = torch.randn(6, 5, generator=G, dtype=D)
T = torch.randn(6, 3, 4, generator=G, dtype=D)

CASES = {
    "entropy(logits)": (lambda z, w: it.entropy(logits=z), (Z, W)),
    "entropy(p)": (lambda z, w: it.entropy(z.softmax(-1)), (Z, W)),
    "kl(p, q)": (lambda z, w: it.kl_divergence(z.softmax(-1), w.softmax(-1)), (Z, W)),
    "kl(logits)": (lambda z, w: it.kl_divergence(p_logits=z, q_logits=w), (Z, W)),
    "cross_entropy": (lambda z, w: it.cross_entropy(z.softmax(-1), q_logits=w), (Z, W)),
    "js": (lambda z, w: it.js_divergence(z.softmax(-1), w.softmax(-1)), (Z, W)),
    "binary_entropy": (lambda z, w: it.binary_entropy(logits=z), (Z, W)),
    "mutual_information(logits)": (lambda t, w: it.mutual_information(logits=t), (T, W)),
    "conditional_entropy(logits)": (lambda t, w: it.conditional_entropy(logits=t), (T, W)),
    "gaussian_entropy": (lambda z, w: it.gaussian_entropy(z.exp()), (Z, W)),
    "kl_normal": (lambda z, w: it.kl_normal(z, w, w, z), (Z, W)),
    "interpolated_density_entropy": (lambda z, w: it.interpolated_density_entropy(z, keepdim=False), (Z, W)),
}


@pytest.fixture(autouse=True)
def _validation_off():
    with it.validation(False):
        yield


@pytest.mark.parametrize("name", list(CASES))
def test_vmap_equals_the_batched_call(name):
    fn, (a, b) = CASES[name]
    torch.testing.assert_close(torch.func.vmap(fn)(a, b), fn(a, b))


@pytest.mark.parametrize("name", ["entropy(logits)", "kl(logits)", "js", "interpolated_density_entropy"])
def test_vmap_of_grad_equals_autograd(name):
    fn, (a, b) = CASES[name]
    per_row = torch.func.vmap(torch.func.grad(lambda r, s: fn(r, s).sum()))(a, b)
    x = a.clone().requires_grad_(True)
    fn(x, b).sum().backward()
    torch.testing.assert_close(per_row, x.grad)


def test_interpolated_hessian_by_torch_func_equals_the_structured_one():
    x = Z[0]
    h = torch.func.jacrev(torch.func.jacrev(lambda r: it.interpolated_density_entropy(r, 1e-6).sum()))(x)
    torch.testing.assert_close(h, it.interpolated_density_entropy_hessian(x, epsilon=1e-6), rtol=1e-8, atol=1e-10)


def test_default_validation_still_refuses_bad_input_and_the_switch_restores():
    bad = torch.tensor([0.5, 0.6])
    with it.validation(True):
        with pytest.raises(ValueError, match="sum to 1"):
            it.entropy(bad)
    assert it.get_default_validate() is False  # the fixture's block is restored
    assert torch.isfinite(it.entropy(bad))  # unchecked inside validation(False)
    with pytest.raises(TypeError, match="True or False"):
        it.set_default_validate("no")


@pytest.mark.parametrize("name", ["entropy(logits)", "kl(p, q)", "js", "interpolated_density_entropy"])
def test_compile_parity(name):
    fn, (a, b) = CASES[name]
    compiled = torch.compile(fn, backend="aot_eager", fullgraph=False)
    torch.testing.assert_close(compiled(a, b), fn(a, b))
