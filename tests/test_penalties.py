"""SoftmaxAssignmentSparsityPenalty against torch.func (grad, hessian, jvp of hessian) in float64,
the document's stated facts (diag, quadratic form, H·1 = 0, D ⪰ H ⪰?, D ⪰ 0, Fisher PSD, the
(0.95, 0.05) counterexample), grad_rho by finite differences, schedules by their closed forms."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.func import grad, hessian, jacfwd

from infotorch.nn import SoftmaxAssignmentEntropy
from infotorch.penalties import (
    AnalyticPenalty,
    PenaltyTier,
    ScalarWeightSchedule,
    SoftmaxAssignmentSparsityPenalty,
)

D = torch.float64


def reference_value(
    z_flat: torch.Tensor, k: int, tau: float, lam: float, row_w: torch.Tensor | None = None
) -> torch.Tensor:
    """λ Σ_i w_i H(softmax(z_i/τ)) written plainly for torch.func."""
    z = z_flat.reshape(-1, k)
    a = torch.softmax(z / tau, -1)
    h = -(a * torch.log(a)).sum(-1)
    if row_w is not None:
        h = h * row_w
    return lam * h.sum()


CASES = [(3, 0.7, 1.0, 0.0), (5, 1.0, 0.5, 0.3), (8, 2.5, 2.0, -1.2), (2, 1.0, 1.0, 0.0)]


@pytest.mark.parametrize("k, tau, weight, rho", CASES)
def test_value_grad_hessian_hvp_against_torch_func(k, tau, weight, rho):
    g = torch.Generator().manual_seed(k)
    n = 4
    z = torch.randn(n * k, generator=g, dtype=D) * 2
    row_w = torch.rand(n, generator=g, dtype=D) + 0.5
    pen = SoftmaxAssignmentSparsityPenalty(k, tau, weight=weight, row_weights=row_w)
    r = torch.tensor([rho], dtype=D)
    lam = weight * math.exp(rho)
    f = lambda t: reference_value(t, k, tau, lam, row_w)
    torch.testing.assert_close(pen.value(z, r), f(z))
    torch.testing.assert_close(pen.grad_target(z, r), grad(f)(z))
    full = hessian(f)(z)
    torch.testing.assert_close(pen.hessian_diag(z, r), full.diagonal())
    vec = torch.randn(n * k, generator=g, dtype=D)
    torch.testing.assert_close(pen.hvp(z, r, vec), full @ vec)
    # the same through the (N, K) layout, shapes preserved
    assert pen.hvp(z.reshape(n, k), r, vec.reshape(n, k)).shape == (n, k)
    # per-row dense blocks equal the block diagonal of the full Hessian (row weights and λ in scale)
    blocks = pen.row_dense_hessian(z.reshape(n, k), 1.0)
    for i in range(n):
        scale = lam / tau**2 * float(row_w[i])
        torch.testing.assert_close(blocks[i] * scale, full[i * k : (i + 1) * k, i * k : (i + 1) * k])


@pytest.mark.parametrize("k, tau", [(3, 0.7), (6, 1.3)])
def test_third_derivative_slices_against_torch_func(k, tau):
    z = torch.randn(k, generator=torch.Generator().manual_seed(1), dtype=D)
    pen = SoftmaxAssignmentSparsityPenalty(k, tau)
    scale = 1.7
    f = lambda t: (scale * tau**2) * reference_value(t, k, tau, 1.0)
    torch.testing.assert_close(pen.row_dense_hessian(z, scale), hessian(f)(z))
    third = jacfwd(hessian(f))(z)  # (K, K, K): ∂H_kj/∂z_w at [k, j, w]
    fisher = lambda t: (
        scale * (torch.diag(torch.softmax(t / tau, -1)) - torch.outer(*(2 * [torch.softmax(t / tau, -1)])))
    )
    dfisher = jacfwd(fisher)(z)
    for w in range(k):
        torch.testing.assert_close(pen.row_dense_hessian_logit_derivative(z, scale, w), third[..., w])
        torch.testing.assert_close(pen.row_fisher_metric_logit_derivative(z, scale, w), dfisher[..., w])
        # majorizer derivative: Σ_j sign(H_kj) ∂H_kj/∂z_w, against autograd of Σ_j |H_kj|
        dmaj = jacfwd(lambda t: hessian(f)(t).abs().sum(-1))(z)
        torch.testing.assert_close(pen.row_psd_majorizer_logit_derivative(z, scale, w).diagonal(), dmaj[:, w])
    torch.testing.assert_close(pen.row_fisher_metric(z, scale), fisher(z))


def rows_for_psd_checks() -> torch.Tensor:
    g = torch.Generator().manual_seed(7)
    k = 6
    near_uniform = torch.randn(200, k, generator=g, dtype=D) * 1e-3
    random = torch.randn(200, k, generator=g, dtype=D) * 3
    one_hot = torch.randn(200, k, generator=g, dtype=D)
    one_hot[:, 0] += 25.0
    return torch.cat([near_uniform, random, one_hot])


def test_gershgorin_majorizer_is_psd_and_dominates():
    z = rows_for_psd_checks()
    pen = SoftmaxAssignmentSparsityPenalty(z.shape[1], 0.8)
    h = pen.row_dense_hessian(z, 1.0)
    d = pen.row_psd_majorizer(z, 1.0)
    # abs row sums by the O(K log K) route equal the dense ones
    torch.testing.assert_close(pen.psd_majorizer_abs_row_sums(z, 1.0), h.abs().sum(-1), rtol=1e-10, atol=0)
    scale = h.abs().amax(dim=(-2, -1), keepdim=True).squeeze(-1).squeeze(-1).clamp_min(1e-300)
    assert (torch.linalg.eigvalsh(d - h).amin(-1) >= -1e-12 * scale).all()
    assert (d.diagonal(dim1=-2, dim2=-1) >= 0).all()
    # the Hessian itself is indefinite on near-uniform rows (entropy is concave in a)
    assert (torch.linalg.eigvalsh(h[:200]).amin(-1) < 0).all()
    # H·1 = 0: gauge null
    torch.testing.assert_close(h.sum(-1), torch.zeros_like(h.sum(-1)), atol=1e-12, rtol=0)
    # the Fisher metric is PSD
    fisher = pen.row_fisher_metric(z, 1.0)
    assert (torch.linalg.eigvalsh(fisher).amin(-1) >= -1e-15).all()


def test_document_counterexample():
    pen = SoftmaxAssignmentSparsityPenalty(2, 1.0)
    z = torch.log(torch.tensor([0.95, 0.05], dtype=D))
    h = pen.row_dense_hessian(z, 1.0)
    g = pen.row_fisher_metric(z, 1.0)
    assert h[0, 0].item() == pytest.approx(0.0784, abs=5e-5)
    assert g[0, 0].item() == pytest.approx(0.0475, abs=1e-12)
    assert torch.linalg.eigvalsh(g - h).amin() < 0  # G does not majorize H
    d = pen.row_psd_majorizer(z, 1.0)
    assert torch.linalg.eigvalsh(d - h).amin() >= -1e-15  # D does


def test_psd_majorizer_operators_and_defaults():
    k, n = 4, 3
    z = torch.randn(n * k, generator=torch.Generator().manual_seed(3), dtype=D)
    pen = SoftmaxAssignmentSparsityPenalty(k, 1.2, weight=0.7)
    r = torch.tensor([0.4], dtype=D)
    d = pen.psd_majorizer_diag(z, r)
    torch.testing.assert_close(
        d.reshape(n, k), pen.psd_majorizer_abs_row_sums(z.reshape(n, k), 0.7 * math.exp(0.4) / 1.44)
    )
    vec = torch.randn(n * k, dtype=D)
    torch.testing.assert_close(pen.psd_majorizer_hvp(z, r, vec), d * vec)
    assert pen.tier is PenaltyTier.psi and pen.kind_tag == "softmax_assignment_sparsity" and pen.rho_count == 1

    class Ridge(AnalyticPenalty):  # the protocol's defaults on a convex penalty
        def value(self, t, rho):
            return 0.5 * math.exp(float(rho[0])) * (t * t).sum()

        def grad_target(self, t, rho):
            return math.exp(float(rho[0])) * t

        def grad_rho(self, t, rho):
            return self.value(t, rho).reshape(1)

        def hessian_diag(self, t, rho):
            return torch.full_like(t, math.exp(float(rho[0])))

    ridge = Ridge()
    t = torch.randn(5, dtype=D)
    torch.testing.assert_close(ridge.hvp(t, r, vec[:5]), math.exp(0.4) * vec[:5])
    torch.testing.assert_close(ridge.psd_majorizer_hvp(t, r, vec[:5]), math.exp(0.4) * vec[:5])


def test_grad_rho_by_finite_differences():
    k = 5
    z = torch.randn(3 * k, generator=torch.Generator().manual_seed(4), dtype=D)
    pen = SoftmaxAssignmentSparsityPenalty(k, 0.9, weight=1.3)
    rho, h = 0.25, 1e-6
    fd = (pen.value(z, torch.tensor([rho + h], dtype=D)) - pen.value(z, torch.tensor([rho - h], dtype=D))) / (2 * h)
    assert pen.grad_rho(z, torch.tensor([rho], dtype=D)).item() == pytest.approx(fd.item(), rel=1e-8)
    assert pen.grad_rho(z, torch.tensor([rho], dtype=D)).item() == pytest.approx(
        pen.value(z, torch.tensor([rho], dtype=D)).item()
    )


def test_strength_in_log_space_and_refusals():
    z = torch.zeros(4, dtype=D)
    pen = SoftmaxAssignmentSparsityPenalty(2, 1.0, weight=-2.0)
    assert pen.value(z, torch.tensor([1.0], dtype=D)).item() == pytest.approx(-2.0 * math.e * 2 * math.log(2))
    with pytest.raises(ValueError, match="rho must be finite"):
        pen.value(z, torch.tensor([math.nan], dtype=D))
    with pytest.raises(ValueError, match="overflow"):
        pen.value(z, torch.tensor([800.0], dtype=D))
    assert SoftmaxAssignmentSparsityPenalty(2, 1.0, weight=0.0).value(z, torch.tensor([800.0], dtype=D)).item() == 0.0


def test_stable_for_huge_logits():
    k = 4
    z = torch.tensor([1e4, -1e4, 0.0, 3.0, 5e3, 5e3, -2e4, 0.0], dtype=D)
    pen = SoftmaxAssignmentSparsityPenalty(k, 1.0)
    r = torch.zeros(1, dtype=D)
    for out in (
        pen.value(z, r),
        pen.grad_target(z, r),
        pen.hessian_diag(z, r),
        pen.hvp(z, r, torch.ones(8, dtype=D)),
        pen.psd_majorizer_diag(z, r),
        pen.row_dense_hessian(z.reshape(2, k), 1.0),
    ):
        assert torch.isfinite(out).all()
    # one dominant atom: entropy ~0; two equal dominant atoms: log 2
    assert pen.value(z[:4], r).item() == pytest.approx(0.0, abs=1e-300)
    assert pen.value(z[4:], r).item() == pytest.approx(math.log(2))


@pytest.mark.parametrize(
    "kind, kw, expected",
    [
        ("geometric", {}, [0.1, 0.19, 0.271, 0.3439]),
        ("linear", {"steps": 5}, [0.1, 0.28, 0.46, 0.64, 0.82, 1.0, 1.0]),
        ("reciprocal_iter", {}, [0.1, 0.55, 0.7, 0.775]),
    ],
)
def test_schedules_closed_forms(kind, kw, expected):
    s = ScalarWeightSchedule(0.1, 1.0, kind=kind, **kw)
    assert [round(s.current_weight(i), 12) for i in range(len(expected))] == pytest.approx(expected)


@given(
    st.floats(0, 10), st.floats(0, 10), st.integers(0, 500), st.sampled_from(["geometric", "linear", "reciprocal_iter"])
)
def test_schedules_stay_between_endpoints(w0, w1, it, kind):
    s = ScalarWeightSchedule(w0, w1, kind=kind, steps=7)
    w = s.current_weight(it)
    assert min(w0, w1) - 1e-12 <= w <= max(w0, w1) + 1e-12


def test_schedule_attachment_and_apply():
    sched = ScalarWeightSchedule(0.1, 1.0, kind="reciprocal_iter", iter_count=1)
    pen = SoftmaxAssignmentSparsityPenalty(3, 1.0).with_weight_schedule(sched)
    assert pen.weight == pytest.approx(0.55)
    pen.apply_schedule(2)
    assert pen.weight == pytest.approx(0.7) and sched.iter_count == 3


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: ScalarWeightSchedule(0.1, 1.0, rate=1.0), r"rate must lie in \(0, 1\)"),
        (lambda: ScalarWeightSchedule(0.1, 1.0, kind="linear"), "steps must be given"),
        (lambda: ScalarWeightSchedule(-0.1, 1.0), "w_start must be a finite number >= 0"),
        (lambda: ScalarWeightSchedule(0.1, math.inf), "w_end must be a finite number"),
        (lambda: ScalarWeightSchedule(0.1, 1.0, kind="cosine"), "kind must be one of"),
        (lambda: SoftmaxAssignmentSparsityPenalty(0, 1.0), "k_atoms must be a positive integer"),
        (lambda: SoftmaxAssignmentSparsityPenalty(3, 0.0), "temperature must be a positive"),
        (
            lambda: SoftmaxAssignmentSparsityPenalty(3, 1.0).value(torch.zeros(7), torch.zeros(1)),
            "not a whole number of rows",
        ),
        (
            lambda: SoftmaxAssignmentSparsityPenalty(3, 1.0).value(torch.zeros(2, 3), torch.zeros(2)),
            "rho must hold exactly 1",
        ),
        (
            lambda: SoftmaxAssignmentSparsityPenalty(3, 1.0).row_dense_hessian_logit_derivative(torch.zeros(3), 1.0, 3),
            "w must be an atom index",
        ),
    ],
)
def test_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_nn_module_matches_penalty_value_and_autograd():
    z = torch.randn(5, 4, generator=torch.Generator().manual_seed(9), dtype=D, requires_grad=True)
    loss = SoftmaxAssignmentEntropy(temperature=0.6, weight=0.8)(z)
    pen = SoftmaxAssignmentSparsityPenalty(4, 0.6, weight=0.8)
    r = torch.zeros(1, dtype=D)
    torch.testing.assert_close(loss, pen.value(z.detach(), r))
    loss.backward()
    torch.testing.assert_close(z.grad, pen.grad_target(z.detach(), r))
