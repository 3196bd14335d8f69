"""Variational MI bounds (``infotorch.variational``) and ``infotorch.nn.contrastive.InfoNCELoss``.

Independent references:
* jointly Gaussian (x, y), D coordinates with correlation rho each: I = -D/2 log(1 - rho^2), and the
  optimal critic is the log density ratio log p(x, y) / (p(x) p(y)) in closed form; every lower
  bound evaluated with it reaches I within its Monte-Carlo spread (InfoNCE: min(I, log N)), and
  CLUB with the true log p(y | x) equals D rho^2 / (1 - rho^2) (I plus the lautum information);
* orderings the theory gives (DV >= NWJ, DV >= JS, InfoNCE <= log N) for arbitrary scores;
* ``torch.nn.functional.cross_entropy`` over the score rows (and torch's own InfoNCE loss if the
  installed torch has one); brute-force leave-one-out sums; gradcheck in float64.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from infotorch import variational as vb
from infotorch.nn.contrastive import InfoNCELoss

RHO, D = 0.5, 2
TRUTH = -0.5 * D * math.log(1 - RHO**2)


def gaussian_pairs(b: int, n: int, d: int = D, rho: float = RHO, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, n, d, generator=g, dtype=torch.float64)
    y = rho * x + math.sqrt(1 - rho**2) * torch.randn(b, n, d, generator=g, dtype=torch.float64)
    return x, y


def log_ratio(x: torch.Tensor, y: torch.Tensor, rho: float = RHO) -> torch.Tensor:
    """log p(x_i, y_j) / (p(x_i) p(y_j)) for unit-variance coordinates with correlation rho."""
    c = 1 - rho**2
    d = x.shape[-1]
    xx = (x**2).sum(-1).unsqueeze(-1)
    yy = (y**2).sum(-1).unsqueeze(-2)
    return -0.5 * d * math.log(c) - (rho**2 * xx - 2 * rho * x @ y.transpose(-1, -2) + rho**2 * yy) / (2 * c)


def log_conditional(x: torch.Tensor, y: torch.Tensor, rho: float = RHO) -> torch.Tensor:
    """log p(y_j | x_i) = log N(y_j; rho x_i, (1 - rho^2) I)."""
    c = 1 - rho**2
    d = x.shape[-1]
    sq = ((y.unsqueeze(-3) - rho * x.unsqueeze(-2)) ** 2).sum(-1)
    return -0.5 * d * math.log(2 * math.pi * c) - sq / (2 * c)


@pytest.fixture(scope="module")
def optimal() -> tuple[torch.Tensor, torch.Tensor]:
    x, y = gaussian_pairs(24, 400)
    return log_ratio(x, y), log_conditional(x, y)


def _within_spread(values: torch.Tensor, target: float, slack: float = 0.01) -> None:
    mean, se = float(values.mean()), float(values.std()) / math.sqrt(values.numel())
    assert abs(mean - target) <= 4 * se + slack, (mean, target, se)


# --------------------------------------------------------------------------- closed forms


@pytest.mark.parametrize(
    "name, fn",
    [
        ("dv", lambda s: vb.donsker_varadhan(s)),
        ("nwj at 1 + log r", lambda s: vb.nwj(s + 1.0)),
        ("tuba", lambda s: vb.tuba(s, 0.0)),
        ("tuba, baseline moved into the critic", lambda s: vb.tuba(s + 0.7, 0.7)),
        ("alpha_tuba 0.5", lambda s: vb.alpha_tuba(s, 0.0, alpha=0.5)),
        ("alpha_tuba 0", lambda s: vb.alpha_tuba(s, 0.0, alpha=0.0)),
        ("smile", lambda s: vb.smile(s, clip=5.0)),
        ("js", lambda s: vb.js_bound(s)),
        ("mine", lambda s: vb.mine(s)[0]),
        ("infonce", lambda s: vb.infonce(s)),
    ],
)
def test_optimal_critic_reaches_the_truth(optimal, name, fn):
    ratio, _ = optimal
    _within_spread(fn(ratio), min(TRUTH, math.log(ratio.shape[-1])), slack=0.02)


def test_infonce_saturates_at_log_n():
    # I = 5 * 2.08 = 10.4 nats >> log 16: the optimal critic gives (almost) exactly log N
    x, y = gaussian_pairs(8, 16, d=5, rho=0.99)
    value = vb.infonce(log_ratio(x, y, rho=0.99))
    ceiling = vb.infonce_ceiling(16)
    assert bool((value <= ceiling + 1e-12).all())
    assert float(value.mean()) > ceiling - 0.05


def test_upper_bounds_with_the_true_conditional(optimal):
    _, cond = optimal
    # CLUB with the true conditional = I + lautum information = D rho^2 / (1 - rho^2)
    _within_spread(vb.club(cond), D * RHO**2 / (1 - RHO**2), slack=0.01)
    # leave-one-out: >= I in expectation, tight for large N
    values = vb.leave_one_out_bound(cond)
    _within_spread(values, TRUTH, slack=0.03)
    assert float(vb.club(cond).mean()) >= TRUTH


# --------------------------------------------------------------------------- identities and orderings


def test_orderings_for_arbitrary_scores():
    s = 2.0 * torch.randn(10, 12, 12, dtype=torch.float64)
    dv = vb.donsker_varadhan(s)
    assert bool((dv >= vb.nwj(s) - 1e-12).all())  # log z <= z / e
    assert bool((dv >= vb.js_bound(s) - 1e-12).all())  # log z <= z - 1
    assert bool((vb.infonce(s) <= math.log(12) + 1e-12).all())
    torch.testing.assert_close(vb.smile(s, clip=None), dv)
    torch.testing.assert_close(vb.smile(s, clip=1e6), dv)
    torch.testing.assert_close(vb.tuba(s, 1.0), vb.nwj(s))
    torch.testing.assert_close(vb.js_bound(s), vb.tuba(s, 0.0))
    torch.testing.assert_close(vb.mine(s)[0], dv)
    torch.testing.assert_close(vb.donsker_varadhan(s + 5.0), dv)


def test_infonce_is_log_n_minus_cross_entropy():
    s = torch.randn(7, 9, 9, dtype=torch.float64)
    ce = torch.stack([F.cross_entropy(b, torch.arange(9)) for b in s])
    torch.testing.assert_close(vb.infonce(s), math.log(9) - ce)
    loss = InfoNCELoss(reduction="none")(scores=s)
    torch.testing.assert_close(loss, F.cross_entropy(s.transpose(1, 2), torch.arange(9).expand(7, 9), reduction="none"))


@pytest.mark.skipif(not hasattr(torch.nn, "InfoNCELoss"), reason="this torch has no torch.nn.InfoNCELoss")
def test_matches_torch_infonce_loss():  # pragma: no cover - depends on the torch version
    q, k = torch.randn(6, 5, dtype=torch.float64), torch.randn(6, 5, dtype=torch.float64)
    ours = InfoNCELoss(temperature=0.07)(q, k)
    torch.testing.assert_close(ours, torch.nn.InfoNCELoss(temperature=0.07)(q, k))


def test_alpha_tuba_against_brute_force():
    s = torch.randn(2, 6, 6, dtype=torch.float64) * 3
    a = torch.randn(2, 6, dtype=torch.float64)
    alpha, n = 0.3, 6
    out = []
    for b in range(2):
        joint, marg = [], []
        for i in range(n):
            for k in range(n):
                if k == i:
                    continue
                others = [j for j in range(n) if j != k]
                m = torch.exp(s[b, i, others]).mean()
                joint.append(s[b, i, i] - torch.log(alpha * m + (1 - alpha) * torch.exp(a[b, i])))
            m_loo = torch.exp(s[b, i, [j for j in range(n) if j != i]]).mean()
            base = alpha * m_loo + (1 - alpha) * torch.exp(a[b, i])
            marg += [torch.exp(s[b, i, j]) / base for j in range(n) if j != i]
        out.append(1 + torch.stack(joint).mean() - torch.stack(marg).mean())
    torch.testing.assert_close(vb.alpha_tuba(s, a, alpha=alpha), torch.stack(out))


def test_leave_one_out_logsumexp_is_stable():
    s = torch.tensor([[1000.0, 0.0, -3.0], [5.0, 5.0, 5.0], [-2.0, 1e-9, 800.0]], dtype=torch.float64)
    got = vb._leave_one_out_logsumexp(s)
    for i in range(3):
        for k in range(3):
            ref = torch.logsumexp(s[i, [j for j in range(3) if j != k]], 0)
            torch.testing.assert_close(got[i, k], ref)


def test_batched_equals_loop_and_reductions_and_base():
    s = torch.randn(3, 4, 8, 8, dtype=torch.float64)
    for fn in (vb.infonce, vb.nwj, vb.donsker_varadhan, vb.smile, vb.js_bound, vb.club, vb.leave_one_out_bound):
        batched = fn(s)
        assert batched.shape == (3, 4)
        loop = torch.stack([torch.stack([fn(s[i, j]) for j in range(4)]) for i in range(3)])
        torch.testing.assert_close(batched, loop)
        torch.testing.assert_close(fn(s, reduction="mean"), batched.mean())
        torch.testing.assert_close(fn(s, reduction="sum"), batched.sum())
        torch.testing.assert_close(fn(s, base=2), batched / math.log(2))
    assert vb.infonce_ceiling(s) == math.log(8)


def test_dtype_preserved_and_half_computes_in_float32():
    s = torch.randn(8, 8)
    assert vb.infonce(s).dtype == torch.float32
    h = vb.donsker_varadhan(s.half())
    assert h.dtype == torch.float16
    torch.testing.assert_close(h.float(), vb.donsker_varadhan(s), atol=2e-3, rtol=2e-3)


def test_large_scores_do_not_overflow():
    s = torch.full((6, 6), -50.0, dtype=torch.float32)
    s.fill_diagonal_(500.0)
    for fn in (vb.infonce, vb.donsker_varadhan, vb.smile, vb.alpha_tuba):
        assert bool(torch.isfinite(fn(s)))


# --------------------------------------------------------------------------- gradients


@pytest.mark.parametrize(
    "fn",
    [
        vb.infonce,
        vb.nwj,
        vb.donsker_varadhan,
        lambda s: vb.smile(s, clip=1.0, gradient="value"),
        lambda s: vb.js_bound(s, gradient="value"),
        lambda s: vb.tuba(s, 0.3),
        lambda s: vb.alpha_tuba(s, 0.2, alpha=0.4),
        vb.club,
        vb.leave_one_out_bound,
    ],
)
def test_gradcheck(fn):
    s = torch.randn(2, 5, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(fn, (s,))


def test_tuba_gradient_reaches_the_baseline():
    s = torch.randn(5, 5, dtype=torch.float64)
    a = torch.randn(5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda b: vb.tuba(s, b), (a,))
    assert torch.autograd.gradcheck(lambda b: vb.alpha_tuba(s, b, alpha=0.5), (a,))


def test_straight_through_gradients():
    s = torch.randn(6, 6, dtype=torch.float64, requires_grad=True)
    (g_smile,) = torch.autograd.grad(vb.smile(s), s)
    (g_js,) = torch.autograd.grad(vb._js_objective(s), s)
    torch.testing.assert_close(g_smile, g_js)
    (g_jsb,) = torch.autograd.grad(vb.js_bound(s), s)
    torch.testing.assert_close(g_jsb, g_js)


def test_mine_gradient_uses_the_moving_average():
    s = torch.randn(6, 6, dtype=torch.float64, requires_grad=True)
    log_ma = torch.tensor(0.4, dtype=torch.float64)
    value, new = vb.mine(s, log_ma, momentum=0.25)
    lme = vb._log_mean_exp_off_diagonal(s)
    ref_new = torch.log(0.75 * math.exp(0.4) + 0.25 * torch.exp(lme.detach()))
    torch.testing.assert_close(new, ref_new)
    (g,) = torch.autograd.grad(value, s)
    (g_joint,) = torch.autograd.grad(s.diagonal().mean(), s)
    (g_lme,) = torch.autograd.grad(lme, s)
    torch.testing.assert_close(g, g_joint - torch.exp(lme.detach() - ref_new) * g_lme)
    torch.testing.assert_close(value, vb.donsker_varadhan(s))


def test_mine_moving_average_module():
    ma = vb.MINEMovingAverage(momentum=0.5)
    s1, s2 = torch.randn(8, 8), torch.randn(8, 8) + 1
    ma(s1)
    first = ma.log_moving_average.clone()
    torch.testing.assert_close(first, vb._log_mean_exp_off_diagonal(s1))
    ma(s2)
    assert not torch.equal(ma.log_moving_average, first)
    ma.eval()
    kept = ma.log_moving_average.clone()
    ma(s1)
    assert torch.equal(ma.log_moving_average, kept)
    assert "log_moving_average" in ma.state_dict()


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: vb.infonce(torch.randn(3, 4)), ValueError, "scores must be a square"),
        (lambda: vb.nwj(torch.randn(4)), ValueError, "scores must be a square"),
        (lambda: vb.donsker_varadhan(torch.randn(1, 1)), ValueError, "scores must hold N >= 2"),
        (lambda: vb.smile(torch.tensor([[0.0, float("nan")], [1.0, 2.0]])), ValueError, "scores must be finite"),
        (lambda: vb.infonce([[0.0, 1.0], [1.0, 0.0]]), TypeError, "scores must be a torch.Tensor"),
        (lambda: vb.infonce(torch.ones(3, 3, dtype=torch.long)), TypeError, "scores must be a floating-point"),
        (lambda: vb.smile(torch.randn(3, 3), clip=0.0), ValueError, "clip must be a positive"),
        (lambda: vb.smile(torch.randn(3, 3), gradient="x"), ValueError, "gradient must be one of"),
        (lambda: vb.alpha_tuba(torch.randn(3, 3), alpha=1.5), ValueError, "alpha must be in"),
        (lambda: vb.tuba(torch.randn(3, 3), torch.zeros(4)), ValueError, "log_baseline must broadcast"),
        (lambda: vb.mine(torch.randn(3, 3), momentum=2.0), ValueError, "momentum must be in"),
        (lambda: vb.infonce(torch.randn(3, 3), base=1), ValueError, "base must be"),
        (lambda: vb.infonce(torch.randn(3, 3), reduction="avg"), ValueError, "reduction must be one of"),
        (lambda: vb.SeparableCritic(2, 2, cosine=True, temperature=0.0), ValueError, "temperature must be a positive"),
        (lambda: InfoNCELoss(temperature=-1.0), ValueError, "temperature must be a positive"),
        (lambda: InfoNCELoss()(scores=torch.randn(2, 3)), ValueError, "scores must be a square"),
        (lambda: vb.estimate_mutual_information(torch.randn(10, 2), torch.randn(9, 2)), ValueError, "same number"),
        (
            lambda: vb.estimate_mutual_information(torch.randn(10, 2), torch.randn(10, 2), bound="x"),
            ValueError,
            "bound",
        ),
        (
            lambda: vb.estimate_mutual_information(torch.randn(10, 2), torch.randn(10, 2), critic="x"),
            ValueError,
            "critic",
        ),
    ],
)
def test_errors_name_the_argument(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_validate_false_skips_the_nan_check():
    s = torch.tensor([[0.0, float("nan")], [1.0, 2.0]])
    assert torch.isnan(vb.donsker_varadhan(s, validate=False))


# --------------------------------------------------------------------------- critics and the loss


def test_critic_shapes_and_batching():
    x, y = torch.randn(3, 5, 4), torch.randn(3, 6, 2)
    for critic in (
        vb.SeparableCritic(4, 2, hidden=8, embed_dim=4),
        vb.ConcatCritic(4, 2, hidden=8),
        vb.BilinearCritic(4, 2),
    ):
        s = critic(x, y)
        assert s.shape == (3, 5, 6)
        torch.testing.assert_close(s[1], critic(x[1], y[1]))
    cos = vb.SeparableCritic(4, 2, hidden=8, embed_dim=4, cosine=True, temperature=0.5)
    assert float(cos(x, y).detach().abs().max()) <= 2.0 + 1e-5


def test_concat_critic_is_an_mlp_on_the_concatenation():
    torch.manual_seed(0)
    c = vb.ConcatCritic(3, 2, hidden=8, layers=2)
    x, y = torch.randn(4, 3), torch.randn(5, 2)
    w = torch.cat([c.first_x.weight, c.first_y.weight], dim=1)
    pairs = torch.cat([x.unsqueeze(1).expand(4, 5, 3), y.unsqueeze(0).expand(4, 5, 2)], dim=-1)
    ref = c.rest(torch.relu(pairs @ w.T + c.first_x.bias)).squeeze(-1)
    torch.testing.assert_close(c(x, y), ref)


def test_infonce_loss_conventions():
    torch.manual_seed(0)
    q, k = torch.randn(8, 5), torch.randn(8, 5)
    qn, kn = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
    logits = qn @ kn.T / 0.2
    target = torch.arange(8)
    torch.testing.assert_close(InfoNCELoss(0.2)(q, k), F.cross_entropy(logits, target))
    sym = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))  # CLIP
    torch.testing.assert_close(InfoNCELoss(0.2, symmetric=True)(q, k), sym)
    assert InfoNCELoss(0.2, reduction="none")(q, k).shape == (8,)
    torch.testing.assert_close(
        InfoNCELoss(0.2, reduction="sum")(q, k), F.cross_entropy(logits, target, reduction="sum")
    )
    torch.testing.assert_close(InfoNCELoss(normalize=False, temperature=1.0)(q, k), F.cross_entropy(q @ k.T, target))
    neg = torch.randn(11, 5)
    nn_ = F.normalize(neg, dim=-1)
    lg = torch.cat([(qn * kn).sum(-1, keepdim=True), qn @ nn_.T], dim=1) / 0.2
    torch.testing.assert_close(InfoNCELoss(0.2)(q, k, neg), F.cross_entropy(lg, torch.zeros(8, dtype=torch.long)))
    s = torch.randn(8, 8)
    torch.testing.assert_close(InfoNCELoss()(scores=s), math.log(8) - vb.infonce(s))
    with pytest.raises(ValueError, match="symmetric"):
        InfoNCELoss(symmetric=True)(q, k, neg)


# --------------------------------------------------------------------------- the estimator


@pytest.fixture(scope="module")
def small_task() -> tuple[torch.Tensor, torch.Tensor, float]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2000, 2, generator=g)
    y = 0.8 * x + 0.6 * torch.randn(2000, 2, generator=g)
    return x, y, -math.log(1 - 0.8**2)


def test_estimator_defaults_reach_a_known_mi(small_task):
    x, y, truth = small_task
    before = torch.random.get_rng_state()
    r = vb.estimate_mutual_information(x, y, max_epochs=40)
    assert torch.equal(torch.random.get_rng_state(), before)  # the global RNG is untouched
    assert abs(float(r.estimate) - truth) < 0.15
    assert r.ceiling == math.log(1000) and r.n_train == r.n_test == 1000
    assert len(r.train_curve) == len(r.test_curve) == r.epochs
    assert r.test_curve[r.best_epoch] == float(r.held_out)
    assert r.correction == "overfit"
    assert float(r.estimate) == pytest.approx(0.5 * (float(r.held_out) + float(r.train_value)), rel=1e-12)
    assert r.estimate.dtype == torch.float64
    again = vb.estimate_mutual_information(x, y, max_epochs=40)
    assert float(again.estimate) == float(r.estimate)  # seeded
    plain = vb.estimate_mutual_information(x, y, max_epochs=40, correction="none")
    assert float(plain.estimate) == float(plain.held_out) == float(r.held_out)


def test_training_split_value_recomputed_independently(small_task):
    # the split is the seeded permutation; the training-split InfoNCE of the returned critic,
    # recomputed here with F.cross_entropy over the score rows, standardized with the train stats
    x, y, _ = small_task
    r = vb.estimate_mutual_information(x, y, max_epochs=5, seed=4)
    perm = torch.randperm(2000, generator=torch.Generator().manual_seed(4))
    xs, ys = x.double()[perm][:1000], y.double()[perm][:1000]
    xs = (xs - xs.mean(0)) / xs.std(0, correction=0)
    ys = (ys - ys.mean(0)) / ys.std(0, correction=0)
    with torch.no_grad():
        scores = r.critic(xs.float(), ys.float()).double()
    ref = math.log(1000) - torch.nn.functional.cross_entropy(scores, torch.arange(1000)).item()
    assert float(r.train_value) == pytest.approx(ref, abs=1e-5)


def test_overfit_correction_is_checked(small_task):
    x, y, _ = small_task
    with pytest.raises(ValueError, match="correction"):
        vb.estimate_mutual_information(x[:100], y[:100], correction="aic")


@pytest.mark.parametrize("bound", ["smile", "mine", "js", "nwj", "alpha_tuba"])
def test_estimator_runs_every_bound(small_task, bound):
    x, y, truth = small_task
    r = vb.estimate_mutual_information(x[:600], y[:600], bound=bound, max_epochs=15, patience=15)
    assert r.ceiling is None
    assert math.isfinite(float(r.estimate))
    # the high-variance bounds train less well at the shared default learning rate: only sanity here
    assert 0.1 < float(r.estimate) < truth + 0.3


def test_estimator_options(small_task, capsys):
    x, y, _ = small_task
    g = torch.Generator().manual_seed(3)
    r = vb.estimate_mutual_information(
        x[:400, 0], y[:400, 0], critic="concat", max_epochs=2, generator=g, progress=True, device="cpu"
    )
    assert r.epochs == 2 and r.ceiling == math.log(200)
    assert "epoch 2/2" in capsys.readouterr().err
    critic = vb.BilinearCritic(2, 2)
    r = vb.estimate_mutual_information(x[:400], y[:400], critic=critic, max_epochs=3, eval_batch_size=50)
    assert r.critic is critic and r.ceiling == math.log(50)


# --------------------------------------------------------------------------- hostile inputs (review fixes)


def test_alpha_tuba_with_tied_maxima_at_huge_scores():
    # alpha = 1 is invariant to a common offset of the scores: a constant matrix gives exactly 0
    assert float(vb.alpha_tuba(torch.full((16, 16), 1e30), alpha=1.0)) == 0.0
    s = torch.randn(12, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    s = torch.round(2 * s)  # many ties at the row maxima
    for alpha in (0.5, 1.0):
        ref = vb.alpha_tuba(s, alpha=alpha)
        # a large common offset shifts m by the offset; with the learned baseline shifted as well
        # (log_baseline = offset) the bound is unchanged
        shifted = vb.alpha_tuba(s + 1e6, 1e6, alpha=alpha)
        assert float(shifted) == pytest.approx(float(ref), abs=1e-8)


def test_alpha_tuba_gradients_finite_at_alpha_zero_and_huge_negative_scores():
    s = torch.full((8, 8), -1e30, dtype=torch.float64, requires_grad=True)
    vb.alpha_tuba(s, 0.0, alpha=0.0).backward()
    assert bool(torch.isfinite(s.grad).all())
    s2 = torch.full((8, 8), -1e30, dtype=torch.float64, requires_grad=True)
    vb.alpha_tuba(s2, 0.0, alpha=0.5).backward()
    assert bool(torch.isfinite(s2.grad).all())


def test_infonce_and_club_exact_at_any_common_offset():
    # a function of x (here a constant) cancels: InfoNCE and CLUB of a constant matrix are 0
    assert float(vb.infonce(torch.full((16, 16), 1e30, dtype=torch.float64))) == pytest.approx(0.0, abs=1e-12)
    assert float(vb.club(torch.full((16, 16), 1e8))) == 0.0
    s = torch.randn(16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    ref = math.log(16) - F.cross_entropy(s, torch.arange(16))
    assert float(vb.infonce(s + 1e12)) == pytest.approx(float(ref), abs=1e-3)


def test_mine_moving_average_round_trips_through_a_state_dict():
    m = vb.MINEMovingAverage(momentum=0.1)
    m(torch.randn(32, 32))
    fresh = vb.MINEMovingAverage(momentum=0.1)
    fresh.load_state_dict(m.state_dict())
    assert torch.equal(fresh.log_moving_average, m.log_moving_average)


def test_mine_refuses_a_moving_average_of_another_batch_shape():
    with pytest.raises(ValueError, match="log_moving_average must have the batch shape"):
        vb.mine(torch.randn(4, 4), torch.zeros(3))
    vb.mine(torch.randn(2, 4, 4), torch.zeros(2))  # the batch shape: fine
    vb.mine(torch.randn(2, 4, 4), torch.tensor(0.0))  # one value: fine


def test_cosine_critic_is_finite_in_half_precision():
    torch.manual_seed(0)
    critic = vb.SeparableCritic(3, 2, hidden=8, embed_dim=4, cosine=True).half()
    out = critic(torch.randn(4, 3).half(), torch.randn(4, 2).half())
    assert out.dtype == torch.float16 and bool(torch.isfinite(out).all())
    assert bool((out.abs() <= 1 / critic.temperature + 1e-2).all())


def test_complex_log_baseline_is_refused():
    with pytest.raises(TypeError, match="log_baseline must be a real tensor"):
        vb.tuba(torch.randn(4, 4), torch.zeros(4, dtype=torch.complex64))
