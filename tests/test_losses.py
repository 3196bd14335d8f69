"""Label smoothing and distillation against torch.nn.functional and the seed's formulas."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import infotorch as it
from infotorch.nn import DistillationLoss, LabelSmoothingCrossEntropy


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("use_weight", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.6])
def test_label_smoothing_indices_matches_torch(gen, reduction, use_weight, smoothing):
    z = torch.randn(12, 5, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 5, (12,), generator=gen)
    y[[2, 7]] = -100
    w = torch.rand(5, generator=gen, dtype=torch.float64) + 0.1 if use_weight else None
    ref = F.cross_entropy(z, y, weight=w, label_smoothing=smoothing, reduction=reduction)
    got = LabelSmoothingCrossEntropy(smoothing, weight=w, reduction=reduction)(z, y)
    torch.testing.assert_close(got, ref)


def test_label_smoothing_spatial_and_custom_ignore_index(gen):
    z = torch.randn(2, 4, 3, 3, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 4, (2, 3, 3), generator=gen)
    y[0, 0, 0] = 9
    ref = F.cross_entropy(z, y, ignore_index=9, label_smoothing=0.2)
    got = it.label_smoothing_cross_entropy(z, y, smoothing=0.2, ignore_index=9)
    torch.testing.assert_close(got, ref)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_label_smoothing_soft_targets_matches_torch(gen, reduction):
    z = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    t = torch.softmax(torch.randn(6, 4, generator=gen, dtype=torch.float64), -1)
    w = torch.rand(4, generator=gen, dtype=torch.float64)
    ref = F.cross_entropy(z, t, weight=w, label_smoothing=0.3, reduction=reduction)
    got = it.label_smoothing_cross_entropy(z, t, smoothing=0.3, weight=w, reduction=reduction)
    torch.testing.assert_close(got, ref)


def test_label_smoothing_matches_seed_formula(gen):
    # The reference's LabelSmoothingCrossEntropy: ((1-ε) onehot + ε/K) · (-log_softmax)
    z = torch.randn(9, 7, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 7, (9,), generator=gen)
    q = (1 - 0.1) * F.one_hot(y, 7) + 0.1 / 7
    seed = -(q * torch.log_softmax(z, -1)).sum(-1).mean()
    torch.testing.assert_close(it.label_smoothing_cross_entropy(z, y, smoothing=0.1), seed)


def test_label_smoothing_all_ignored_is_zero_not_nan():
    z = torch.randn(3, 4, requires_grad=True)
    y = torch.full((3,), -100)
    loss = it.label_smoothing_cross_entropy(z, y)
    loss.backward()
    assert loss.item() == 0.0 and torch.all(z.grad == 0)


def test_label_smoothing_moves_with_module_device():
    # the weight is a buffer: .to() moves and casts it with the module, and the loss uses it
    w = torch.tensor([1.0, 2.0, 0.5])
    m = LabelSmoothingCrossEntropy(0.1, weight=w)
    assert "weight" in dict(m.named_buffers())
    m = m.to(torch.float64)
    assert m.weight.dtype == torch.float64 and torch.equal(m.weight, w.double())
    z, y = torch.randn(5, 3, dtype=torch.float64), torch.tensor([0, 1, 2, 1, 0])
    ref = F.cross_entropy(z, y, weight=w.double(), label_smoothing=0.1)
    torch.testing.assert_close(m(z, y), ref)
    if torch.cuda.is_available():
        mc = m.to("cuda")
        assert mc.weight.device.type == "cuda"
        torch.testing.assert_close(mc(z.cuda(), y.cuda()).cpu(), ref)


def _seed_distillation(s, t, y, temperature, alpha):
    hard = F.cross_entropy(s, y)
    soft = (
        F.kl_div(torch.log_softmax(s / temperature, -1), torch.softmax(t / temperature, -1), reduction="batchmean")
        * temperature**2
    )
    return alpha * hard + (1 - alpha) * soft


@pytest.mark.parametrize("temperature,alpha", [(1.0, 0.5), (3.0, 0.5), (5.0, 0.1), (2.0, 1.0)])
def test_distillation_matches_seed(gen, temperature, alpha):
    s = torch.randn(16, 10, generator=gen, dtype=torch.float64)
    t = torch.randn(16, 10, generator=gen, dtype=torch.float64) * 3
    y = torch.randint(0, 10, (16,), generator=gen)
    got = DistillationLoss(temperature, alpha)(s, t, y)
    torch.testing.assert_close(got, _seed_distillation(s, t, y, temperature, alpha))


def test_distillation_sequences_ignore_index(gen):
    s = torch.randn(2, 5, 7, generator=gen, dtype=torch.float64)
    t = torch.randn(2, 5, 7, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 7, (2, 5), generator=gen)
    y[1, 3:] = -100
    keep = y != -100
    ref = _seed_distillation(s[keep], t[keep], y[keep], 2.0, 0.3)
    got = it.distillation_loss(s, t, y, temperature=2.0, alpha=0.3)
    torch.testing.assert_close(got, ref)
    per = it.distillation_loss(s, t, y, temperature=2.0, alpha=0.3, reduction="none")
    assert per.shape == (2, 5) and torch.all(per[~keep] == 0)


def test_distillation_soft_only_and_t_squared_scaling(gen):
    s = torch.randn(4, 6, generator=gen, dtype=torch.float64)
    t = torch.randn(4, 6, generator=gen, dtype=torch.float64)
    T = 4.0
    kl = it.kl_divergence(p_logits=t / T, q_logits=s / T).mean()
    torch.testing.assert_close(DistillationLoss(T)(s, t), kl * T * T)


def test_loss_errors():
    z = torch.randn(3, 4)
    with pytest.raises(ValueError, match="smoothing must lie in"):
        LabelSmoothingCrossEntropy(1.5)
    with pytest.raises(ValueError, match=r"target must hold class indices in \[0, 3\]"):
        it.label_smoothing_cross_entropy(z, torch.tensor([0, 4, 1]))
    with pytest.raises(ValueError, match="target of class indices must have shape"):
        it.label_smoothing_cross_entropy(z, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="weight must have shape"):
        it.label_smoothing_cross_entropy(z, torch.tensor([0, 1, 2]), weight=torch.ones(3))
    with pytest.raises(ValueError, match="temperature must be a positive"):
        DistillationLoss(temperature=0.0)
    with pytest.raises(ValueError, match="same shape"):
        it.distillation_loss(z, torch.randn(3, 5), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="alpha must be 0 when no target"):
        it.distillation_loss(z, z, alpha=0.5)
