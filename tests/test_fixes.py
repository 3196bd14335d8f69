"""Regression tests for what independent checks found (each failed before its fix).

References: mpmath at 50 digits, scipy.special.rel_entr and torch.nn.functional.kl_div, scipy's
differential_entropy consistency setting, hand-computed softmax entropies, dense linear algebra
(torch.linalg.solve), dse-dsmi itself, torchmetrics' own MulticlassAccuracy.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch
from torch import nn

import infotorch as it

D = torch.float64


# ------------------------------------------------------------------ 1, 2: KL with subnormal q, KL near p = q


def test_kl_with_subnormal_q_is_finite_with_finite_gradient():
    q = torch.softmax(torch.tensor([0.0, -90.0]), 0)  # (1, 8.2e-40): subnormal in float32
    p = torch.tensor([0.5, 0.5], requires_grad=True)
    kl = it.kl_divergence(p, q)
    ref = torch.nn.functional.kl_div(q.log(), p.detach(), reduction="sum")
    assert math.isfinite(float(kl)) and float(kl) == pytest.approx(float(ref), rel=1e-6)
    assert float(kl) == pytest.approx(44.3069, abs=1e-3)
    kl.backward()
    assert torch.isfinite(p.grad).all()
    # the logits form agrees
    logits_form = it.kl_divergence(p.detach(), q_logits=torch.tensor([0.0, -90.0]))
    assert float(logits_form) == pytest.approx(float(kl), rel=1e-6)
    # +inf only where q = 0 < p
    assert float(it.kl_divergence(torch.tensor([0.5, 0.5]), torch.tensor([1.0, 0.0]))) == math.inf


@pytest.mark.parametrize(
    "x, y",
    [(1.0, 1 - 1e-13), (0.3, 0.3 * (1 + 3e-12)), (0.5, 0.5 + 1e-16), (2.0, 1e-308), (1e-300, 1e-10), (0.7, 0.2)],
)
def test_rel_entr_terms_keep_full_precision(x, y):
    # scipy gh-20710's cases: 1e-13 relative against a 50-digit evaluation
    mpmath.mp.dps = 50
    ref = float(mpmath.mpf(x) * mpmath.log(mpmath.mpf(x) / mpmath.mpf(y)))
    got = float(it.kl_divergence(torch.tensor([x], dtype=D), torch.tensor([y], dtype=D), validate=False))
    assert got == pytest.approx(ref, rel=1e-13, abs=0.0)


# ------------------------------------------------------------------ 3, 4: the interpolated entropy's epsilon


def test_default_epsilon_is_scale_aware_at_a_million_points():
    # scipy's differential_entropy consistency setting: n = 1e6, window ~ sqrt(n), within 0.5 %
    x = torch.randn(10**6, generator=torch.Generator().manual_seed(0), dtype=D)
    truth = 0.5 * math.log(2 * math.pi * math.e)
    h = float(it.interpolated_density_entropy(x, window=1000))
    assert abs(h - truth) / truth < 5e-3
    # the absolute epsilon of the original definition is still available (and is what biased it)
    h_abs = float(it.interpolated_density_entropy(x, 1e-6, window=1000))
    assert abs(h_abs - truth) / truth > 0.03


def test_default_epsilon_scales_exactly_and_survives_extreme_spans():
    x = torch.randn(64, generator=torch.Generator().manual_seed(1), dtype=D)
    h = float(it.interpolated_density_entropy(x))
    for c in (1e-30, 1e-5, 7.0, 1e30, 1e300):
        assert float(it.interpolated_density_entropy(c * x)) == pytest.approx(h + math.log(c), rel=1e-9, abs=1e-9)
    for dt, top in ((torch.float64, 1e308), (torch.float32, 3e38)):
        t = torch.tensor([-top, 0.0, 0.5 * top, top], dtype=dt, requires_grad=True)
        out = it.interpolated_density_entropy(t)
        out.sum().backward()
        assert torch.isfinite(out).all() and torch.isfinite(t.grad).all()
    tiny = (1e-30 * torch.randn(16, generator=torch.Generator().manual_seed(2))).requires_grad_(True)
    it.interpolated_density_entropy(tiny).sum().backward()
    assert torch.isfinite(tiny.grad).all()


def test_default_epsilon_gradient_is_exact():
    x = torch.randn(2, 7, generator=torch.Generator().manual_seed(3), dtype=D).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: it.interpolated_density_entropy(t), (x,))
    assert torch.autograd.gradcheck(lambda t: it.interpolated_density_entropy(t, window=2), (x,))


def test_epsilon_below_the_dtype_range_is_refused():
    x = torch.randn(10)
    with pytest.raises(ValueError, match="epsilon must be at least"):
        it.interpolated_density_entropy(x, epsilon=1e-40)
    # in float64 the same epsilon is representable
    assert torch.isfinite(it.interpolated_density_entropy(x.double(), epsilon=1e-40)).all()


def test_empty_rows_and_bad_kernel_options():
    assert it.interpolated_density_entropy(torch.zeros(3, 0)).shape == (3, 1)
    x = torch.randn(50, dtype=D)
    with pytest.raises(ValueError, match="bandwidth is too small"):
        it.interpolated_density_entropy(x, interpolation="gaussian_kernel", bandwidth=1e-12)
    with pytest.raises(ValueError, match="bandwidth must be"):
        it.interpolated_density_entropy(x, interpolation="gaussian_kernel", bandwidth=0.0)
    with pytest.raises(ValueError, match="points_per_bandwidth"):
        it.interpolated_density_entropy(x, interpolation="gaussian_kernel", points_per_bandwidth=0)


# ------------------------------------------------------------------ 6: pruning by the signed importance


def test_pruning_signed_importance_on_a_hand_checked_model():
    # hidden = x (3 units), logits = W h. Unit 0 sharpens the output (removing it raises H:
    # negative importance), unit 1 flattens it (removing it lowers H: positive), unit 2 is unused.
    model = nn.Sequential(nn.Linear(3, 3, bias=False), nn.Identity(), nn.Linear(3, 2, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(3))
        model[2].weight.copy_(torch.tensor([[3.0, -1.0, 0.0], [0.0, 0.0, 0.0]]))
    x = torch.ones(4, 3)

    def h_of(logit0: float) -> float:  # entropy of softmax([logit0, 0]) by hand
        p = 1 / (1 + math.exp(-logit0))
        return -(p * math.log(p) + (1 - p) * math.log(1 - p))

    full, no0, no1, no2 = h_of(2.0), h_of(-1.0), h_of(3.0), h_of(2.0)
    importance = it.pruning.output_entropy_change(model, "1", x)
    torch.testing.assert_close(importance, torch.tensor([full - no0, full - no1, full - no2]))
    assert importance[0] < 0 < importance[1] and importance[2] == 0
    signed = it.pruning.prune_by_entropy(model, "1", x, amount=1, criterion="output")
    assert signed.pruned.tolist() == [0]  # the lowest signed importance
    signed.handle.remove()
    absolute = it.pruning.prune_by_entropy(model, "1", x, amount=1, criterion="output-abs")
    assert absolute.pruned.tolist() == [2]  # the smallest change
    absolute.handle.remove()
    with pytest.raises(ValueError, match="at least one sample"):
        it.pruning.prune_by_entropy(model, "1", x[:0], amount=1)


# ------------------------------------------------------------------ 7: the reference snippets paste


def test_reference_snippets_paste():
    from infotorch.nn import VAE, LabelSmoothingCrossEntropy, VariationalIB

    z, y = torch.randn(6, 4, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1, 2, 3, 0, 1])
    ref = nn.CrossEntropyLoss(label_smoothing=0.1)(z, y)
    torch.testing.assert_close(LabelSmoothingCrossEntropy(epsilon=0.1)(z, y), ref)
    with pytest.raises(ValueError, match="not both"):
        LabelSmoothingCrossEntropy(0.2, epsilon=0.1)
    p = torch.tensor([0.25, 0.75])
    torch.testing.assert_close(it.entropy(p, base="2"), it.entropy(p, base=2))
    torch.testing.assert_close(it.entropy(p, base="e"), it.entropy(p))
    logits, target = torch.tensor([-1.0, 2.0]), torch.tensor([0.0, 1.0])
    torch.testing.assert_close(
        it.binary_cross_entropy(logits, target, from_logits=True),
        nn.functional.binary_cross_entropy_with_logits(logits, target),
    )
    assert VariationalIB(4, 2, 3, hidden=8).beta == 1.0
    vae = VAE(6, 2, hidden=8)
    x_recon, mu, log_var = vae(torch.rand(5, 6))
    assert x_recon.shape == (5, 6) and bool(((x_recon >= 0) & (x_recon <= 1)).all())
    assert mu.shape == log_var.shape == (5, 2)


# ------------------------------------------------------------------ 8: the banded Fisher metric


@pytest.mark.parametrize("window", [1, 2, 3])
def test_banded_fisher_and_its_banded_solve(window):
    x = torch.randn(3, 14, generator=torch.Generator().manual_seed(window), dtype=D)
    fm = it.interpolated_density_fisher(x, window=window)
    dense = fm.dense()
    torch.testing.assert_close(dense, dense.transpose(-1, -2))
    assert float(torch.linalg.eigvalsh(dense).min()) > -1e-12  # PSD
    torch.testing.assert_close(dense.sum(-1), torch.zeros(3, 14, dtype=D), atol=1e-9, rtol=0)  # translation-null
    if window == 1:  # tridiagonal, with the diagonal approximation on its diagonal
        torch.testing.assert_close(torch.diagonal(dense, dim1=-2, dim2=-1), it.interpolated_density_fisher_diag(x))
        perm = fm.perm
        in_sorted = dense.gather(-2, perm.unsqueeze(-1).expand(-1, -1, 14)).gather(
            -1, perm.unsqueeze(-2).expand(-1, 14, -1)
        )
        assert float(in_sorted.triu(2).abs().max()) == 0.0
    # the natural-gradient step solves (F + λI) dx = grad H (λ = damping × mean diagonal), minus its
    # translation part, checked by a dense solve
    damping = 1e-3
    xx = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(it.interpolated_density_entropy(xx, 1e-6, window=window).sum(), xx)
    dense = it.interpolated_density_fisher(x, 1e-6, window=window).dense()
    lam = damping * torch.diagonal(dense, dim1=-2, dim2=-1).mean(-1)
    sol = torch.linalg.solve(
        dense + lam[:, None, None] * torch.eye(14, dtype=D), (g - g.mean(-1, keepdim=True)).unsqueeze(-1)
    )
    sol = sol.squeeze(-1)
    expected = x + 0.1 * (sol - sol.mean(-1, keepdim=True))
    got = it.natural_gradient_step(x, 0.1, damping=damping, fisher="banded", epsilon=1e-6, window=window)
    torch.testing.assert_close(got, expected)
    # scale-free with the default (relative) epsilon: scaling x scales the step
    for c in (1e-5, 1.0, 1e4):
        xs = x * c
        for kind in ("diagonal", "banded"):
            stepped = it.natural_gradient_step(xs, 0.1, fisher=kind, window=window)
            ref = it.natural_gradient_step(x, 0.1, fisher=kind, window=window) * c
            assert torch.isfinite(stepped).all()
            torch.testing.assert_close(stepped, ref, rtol=1e-6, atol=1e-9 * c)


# ------------------------------------------------------------------ 9: the penalty protocol's majorizer default


def test_psd_majorizer_hvp_defaults_to_the_exact_hvp():
    from infotorch.penalties import AnalyticPenalty, SoftmaxAssignmentSparsityPenalty

    class Quadratic(AnalyticPenalty):  # P = ½ tᵀ A t with a dense PSD A = [[1, -1], [-1, 1]]
        A = torch.tensor([[1.0, -1.0], [-1.0, 1.0]], dtype=D)

        def value(self, target, rho):
            return 0.5 * target @ self.A @ target

        def grad_target(self, target, rho):
            return self.A @ target

        def grad_rho(self, target, rho):
            return torch.zeros(1, dtype=D)

        def hessian_diag(self, target, rho):
            return torch.diagonal(self.A)

        def hvp(self, target, rho, vec):
            return self.A @ vec

    pen, t, rho, vec = Quadratic(), torch.zeros(2, dtype=D), torch.zeros(1, dtype=D), torch.tensor([1.0, -1.0], dtype=D)
    torch.testing.assert_close(pen.psd_majorizer_hvp(t, rho, vec), torch.tensor([2.0, -2.0], dtype=D))
    assert pen.dispatch_tier() is pen.tier
    soft = SoftmaxAssignmentSparsityPenalty
    assert soft.PYTHON_WRAPPER == "SoftmaxAssignmentSparsityPenalty" and soft.ROW_BLOCK_DIAGONAL is True


# ------------------------------------------------------------------ 10, 12: dse-dsmi drop-in gaps


def test_t_zero_lists_and_verbose_labels_as_dse_dsmi(capsys):
    dse_dsmi = pytest.importorskip("dse_dsmi")
    from infotorch.compat import dse_dsmi as ours

    x = np.random.RandomState(0).randn(120, 4)
    y = np.random.RandomState(1).randint(0, 3, 120)
    assert ours.diffusion_spectral_entropy(x, t=0) == pytest.approx(math.log2(120), rel=1e-12)
    assert ours.diffusion_spectral_entropy(x, t=0) == pytest.approx(
        dse_dsmi.diffusion_spectral_entropy(x, t=0), rel=1e-9
    )
    assert ours.diffusion_spectral_entropy(x.tolist()) == pytest.approx(
        dse_dsmi.diffusion_spectral_entropy(x.tolist()), rel=1e-9
    )
    big_t = ours.diffusion_spectral_entropy(x, t=1e300)
    assert math.isfinite(big_t) and big_t >= 0
    ours.diffusion_spectral_mutual_information(x, y.tolist(), verbose=True)
    assert "np.int64" not in capsys.readouterr().err


# ------------------------------------------------------------------ 11: softplus temperature init


def test_softplus_temperature_initialization():
    from infotorch.nn import InterpolatedDensityEntropy

    torch.manual_seed(0)
    raws = torch.stack(
        [InterpolatedDensityEntropy(softplus_temperature=True).temperature_raw.detach() for _ in range(400)]
    )
    assert abs(float(raws.mean())) < 0.02 and float(raws.std()) == pytest.approx(0.1, rel=0.15)  # N(0, 0.1)
    layer = InterpolatedDensityEntropy(softplus_temperature=True, temperature=1000.0)
    assert float(layer.tau()) == pytest.approx(1000.0)


# ------------------------------------------------------------------ 13: metrics in a MetricCollection


def test_metrics_sit_in_a_collection_beside_accuracy_and_default_to_median_sigma():
    torchmetrics = pytest.importorskip("torchmetrics")
    from torchmetrics.classification import MulticlassAccuracy

    from infotorch.metrics import (
        DiffusionSpectralEntropy,
        DiffusionSpectralMutualInformation,
        Entropy,
        MatrixRenyiEntropy,
    )

    g = torch.Generator().manual_seed(0)
    batches = [(torch.randn(40, 3, generator=g), torch.randint(0, 3, (40,), generator=g)) for _ in range(3)]
    coll = torchmetrics.MetricCollection({"acc": MulticlassAccuracy(3), "h": Entropy(logits=True)})
    alone = Entropy(logits=True)
    for z, y in batches:
        coll.update(z, y)
        alone.update(z)
    out = coll.compute()
    torch.testing.assert_close(out["h"], alone.compute())
    # the spectral metrics together under the default compute groups, each equal to itself alone
    makers = {
        "dse": lambda: DiffusionSpectralEntropy(),
        "dse50": lambda: DiffusionSpectralEntropy(max_samples=50),
        "dsmi": lambda: DiffusionSpectralMutualInformation(),
        "renyi": lambda: MatrixRenyiEntropy(),
    }
    spectral = torchmetrics.MetricCollection({k: f() for k, f in makers.items()})
    for z, y in batches:
        spectral.update(z, y)
    together = spectral.compute()
    for k, f in makers.items():
        m = f()
        for z, y in batches:
            m.update(z, y)
        torch.testing.assert_close(together[k], m.compute())
    # "median" is the default: the same number as an explicit median bandwidth
    zs = torch.cat([z for z, _ in batches])
    explicit = DiffusionSpectralEntropy(gaussian_kernel_sigma=it.median_distance(zs))
    explicit.update(zs)
    torch.testing.assert_close(together["dse"], explicit.compute())


# ------------------------------------------------------------------ 14: an odd batch in the MI loss


def test_mutual_information_loss_takes_an_odd_batch():
    from infotorch.nn import MutualInformationLoss

    g = torch.Generator().manual_seed(0)
    x = torch.randn(9, 2, 3, generator=g, dtype=D)
    stds = torch.ones_like(x)
    y = x + torch.randn(x.shape, generator=g, dtype=D)
    mask = torch.ones(9, 2, dtype=torch.bool)
    loss = MutualInformationLoss()(torch.zeros_like(x), stds, mask, x, y)
    expected = MutualInformationLoss()(torch.zeros_like(x)[:8], stds[:8], mask[:8], x[:8], y[:8])
    torch.testing.assert_close(loss, expected)
    with pytest.raises(ValueError, match="even"):
        MutualInformationLoss(odd_batch="error")(torch.zeros_like(x), stds, mask, x, y)


def test_step_interpolation_closed_form_and_gradcheck():
    # the density 1/(gap + eps) normalized on each gap: H = -Σ gap · p log p, computed directly
    x = torch.tensor([0.0, 0.1, 0.4, 0.5, 1.3], dtype=D)
    gaps = torch.diff(x)
    p = (1 / gaps) / (gaps * (1 / gaps)).sum()
    ref = float(-(gaps * p * torch.log(p)).sum())
    assert float(it.interpolated_density_entropy(x, 1e-15, "step")) == pytest.approx(ref, rel=1e-12)
    xs = torch.randn(2, 6, generator=torch.Generator().manual_seed(0), dtype=D).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: it.interpolated_density_entropy(t, interpolation="step"), (xs,))
    with pytest.raises(ValueError, match="window=1"):
        it.interpolated_density_entropy(x, interpolation="step", window=2)
