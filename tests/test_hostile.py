"""Hostile input, as tables (case, expected outcome): the CLI prints one line and exits 2, every
--json document parses with a strict parser, the library raises a named ValueError/TypeError or
returns the exact finite answer. References: the documented contracts (README "Errors")."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
import torch

import infotorch as it
from infotorch import cli


def strict_loads(text: str) -> object:
    def refuse(name: str) -> object:
        raise ValueError(f"not strict JSON: {name}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    x = np.random.default_rng(0).normal(size=(60, 4))
    np.save(d / "ok.npy", x)
    np.savez(d / "ok.npz", a=x)
    (d / "empty.npy").write_bytes(b"")
    raw = (d / "ok.npy").read_bytes()
    (d / "trunc.npy").write_bytes(raw[:200])
    (d / "trunc.npz").write_bytes((d / "ok.npz").read_bytes()[:100])
    (d / "npz_named.npy").write_bytes((d / "ok.npz").read_bytes())
    (d / "npy_named.npz").write_bytes(raw)
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (20000, 20000), }"
    header = header + " " * (118 - len(header)) + "\n"
    (d / "huge.npy").write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode())
    np.save(d / "complex.npy", x.astype(complex))
    (d / "empty.csv").write_text("")
    np.save(d / "labels.npy", np.arange(60) % 3)
    return d


CLI_ERRORS = [
    (["measure", "empty.npy"], "not a readable .npy"),
    (["measure", "trunc.npy"], "truncated or corrupt"),
    (["measure", "trunc.npz"], "not a readable .npz"),
    (["measure", "npz_named.npy"], "is a .npz file named .npy"),
    (["measure", "npy_named.npz"], "is a .npy file named .npz"),
    (["measure", "huge.npy"], "declares shape (20000, 20000)"),
    (["measure", "complex.npy"], "complex numbers"),
    (["measure", "empty.csv"], "holds no numbers"),
    (["measure", "ok.npy", "--sigma", "1e-200"], "sigma must be at least"),
    (["measure", "ok.npy", "--max-n", "0"], "--max-n must be at least 2"),
    (["measure", "ok.npy", "--t", "-1"], "--t must be a finite number >= 0"),
    (["measure", "ok.npy", "--measure", "magic"], "unknown measure 'magic'"),
    (["measure", "ok.npy", "--measure", "dsmi_zy"], "needs --labels"),
    (["lab", "sphere", "--n", "4", "--dim", "1"], "dim must be at least 2"),
    (["lab", "sphere", "--n", "4", "--sigma", "1e-200"], "sigma must be at least"),
]


@pytest.mark.parametrize("argv, message", CLI_ERRORS)
def test_cli_bad_input_is_one_line_and_exit_2(files, argv, message, capsys, monkeypatch):
    monkeypatch.chdir(files)
    if argv[0] == "lab":
        argv = [*argv, "--out", str(files / "lab")]
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in err, err


def test_cli_device_cuda_without_cuda(files, capsys, monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("CUDA is present")
    monkeypatch.chdir(files)
    assert cli.main(["measure", "ok.npy", "--device", "cuda"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["measure", "ok.npy", "--json"],
        ["measure", "ok.npy", "--labels", "labels.npy", "--json", "--sigma", "median"],
        ["measure", "ok.npy", "--json", "--sigma", "1e200"],
        ["measure", "ok.npy", "--json", "--t", "1e80"],
        ["lab", "line", "--n", "6", "--steps", "5", "--optimizer", "sgd", "--step-size", "1e300", "--json"],
        ["lab", "sphere", "--n", "4", "--dim", "2", "--json"],
    ],
)
def test_every_json_output_is_strict_json(files, argv, capsys, monkeypatch):
    monkeypatch.chdir(files)
    if argv[0] == "lab":
        argv = [*argv, "--out", str(files / "lab")]
    assert cli.main(argv) == 0
    doc = strict_loads(capsys.readouterr().out)
    assert isinstance(doc, dict)


def test_strict_json_names_what_is_not_finite():
    doc = strict_loads(cli.strict_json({"a": 1.0, "b": {"c": math.inf}, "d": [math.nan]}))
    assert doc == {"a": 1.0, "b": {"c": None}, "d": [None], "not_finite": ["b.c=inf", "d[0]=nan"]}


# ------------------------------------------------------------------ the library


def test_pairs_of_different_rank_with_a_non_negative_dim_are_refused():
    p, q = torch.tensor([0.2, 0.3, 0.5]), torch.tensor([[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]])
    q0 = torch.full((2, 3), 0.5)  # sums to 1 along dim 0, so only the rank mismatch is wrong
    for fn in (it.kl_divergence, it.js_divergence, it.cross_entropy):
        with pytest.raises(ValueError, match="negative dim"):
            fn(p, q0, dim=0)
        # a negative dim is unambiguous and broadcasts as documented
        out = fn(p, q, dim=-1)
        assert out.shape == (2,) and torch.isfinite(out).all()


def test_masked_logits_keep_finite_values_and_gradients():
    z = torch.tensor([[2.0, 0.0, -math.inf]], requires_grad=True)
    y = torch.tensor([0])
    ours = it.label_smoothing_cross_entropy(z, y, smoothing=0.0)
    ref = torch.nn.functional.cross_entropy(z.detach(), y)
    assert float(ours) == pytest.approx(float(ref), rel=1e-6)
    ours.backward()
    assert torch.isfinite(z.grad).all()
    # a whole -inf row of a joint table (p(x) = 0): finite value, finite gradient
    joint = torch.tensor([[0.5, -0.2], [-math.inf, -math.inf]], requires_grad=True)
    for fn in (it.conditional_entropy, it.mutual_information, it.normalized_mutual_information):
        val = fn(logits=joint)
        (g,) = torch.autograd.grad(val, joint)
        assert torch.isfinite(val) and torch.isfinite(g).all(), fn.__name__


def test_weights_are_checked():
    p, y = torch.tensor([0.2, 0.7]), torch.tensor([0.0, 1.0])
    with pytest.raises(ValueError, match="weight"):
        it.binary_cross_entropy(p, y, weight=torch.tensor([1.0, math.nan]))
    with pytest.raises(ValueError, match="weight"):
        it.binary_cross_entropy(p, y, weight=torch.ones(3))
    with pytest.raises(ValueError, match="pos_weight"):
        it.binary_cross_entropy(logits=p, target=y, pos_weight=torch.ones(3))


def test_mean_over_an_empty_batch_is_refused_not_nan():
    with pytest.raises(ValueError, match="empty"):
        it.entropy(torch.empty(0, 3), reduction="mean")


def test_softmax_penalty_in_half_precision_and_tiny_temperatures():
    from infotorch.penalties import softmax_assignment_entropy

    z = torch.tensor([[1e3, 0.0, -1e3]], dtype=torch.float16)
    h = softmax_assignment_entropy(z, temperature=0.01)
    assert torch.isfinite(h).all() and h.dtype == torch.float16
    z64 = torch.tensor([[1.0, 0.5, 0.0]], dtype=torch.float64)
    assert torch.isfinite(softmax_assignment_entropy(z64, temperature=1e-300)).all()


@pytest.mark.parametrize("t", [-1, math.nan, math.inf])
def test_monitor_options_are_checked(t):
    from torch import nn

    from infotorch.monitor import InformationMonitor

    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh())
    with pytest.raises(ValueError, match="t must be"):
        InformationMonitor(model, ["1"], t=t)
    with pytest.raises(ValueError, match="bins"):
        InformationMonitor(model, ["1"], bins=0)
    with pytest.raises(ValueError, match="sigma"):
        InformationMonitor(model, ["1"], sigma=math.inf)
    mon = InformationMonitor(model, ["1"], measures=["binned_mi_zy"])
    with pytest.raises(ValueError, match="integer class labels"):
        mon.measure(torch.randn(8, 3), torch.full((8,), 0.5))


def test_records_with_nan_write_strict_json(tmp_path):
    from infotorch.monitor import write_records

    write_records([{"epoch": 0, "layer": "a", "dse": math.nan}], tmp_path / "r.json")
    doc = strict_loads(os.fspath(tmp_path / "r.json") and (tmp_path / "r.json").read_text())
    assert doc == [{"epoch": 0, "layer": "a", "dse": None}]


@pytest.mark.parametrize(
    "std_scale, data_scale", [(1e-20, 1e-20), (1e-10, 1e-10), (1e-10, 1.0), (1e20, 1e20), (1e20, 1.0)]
)
def test_noise_layer_losses_at_extreme_scales_are_finite(std_scale, data_scale):
    from infotorch.gaussian import square_mahalanobis_distance
    from infotorch.noise import sub_batch_mutual_information

    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 2, 3, generator=g) * data_scale
    stds = (torch.ones(8, 2, 3) * std_scale).requires_grad_(True)
    y = x + stds.detach() * torch.randn(8, 2, 3, generator=g)
    mask = torch.ones(8, 2, dtype=torch.bool)
    r = sub_batch_mutual_information(torch.zeros_like(x), stds, mask, x, y)
    (grad,) = torch.autograd.grad(r.estimate, stds)
    assert r.estimate.dtype == torch.float32 and torch.isfinite(r.estimate) and torch.isfinite(grad).all()
    assert torch.isfinite(square_mahalanobis_distance(x, y, stds.detach(), mask)).all()
    if std_scale == data_scale:  # the estimate is scale invariant: equal to the unit-scale one (float64 reference)
        ref = sub_batch_mutual_information(
            torch.zeros_like(x).double() / data_scale,
            stds.detach().double() / std_scale,
            mask,
            x.double() / data_scale,
            y.double() / data_scale,
        )
        assert float(r.estimate) == pytest.approx(float(ref.estimate), rel=1e-4)


def test_noise_layer_estimate_beyond_float32_is_a_named_error():
    from infotorch.noise import sub_batch_mutual_information

    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 2, 3, generator=g)
    stds = torch.full((8, 2, 3), 1e-20)
    y = x + stds * torch.randn(8, 2, 3, generator=g)
    with pytest.raises(ValueError, match="exceeds the range of torch.float32"):
        sub_batch_mutual_information(torch.zeros_like(x), stds, torch.ones(8, 2, dtype=torch.bool), x, y)


def test_more_library_edges_named_or_exact():
    x = torch.randn(20, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with pytest.raises(ValueError, match="window must be a positive integer"):
        it.interpolated_density_entropy(torch.randn(10), window=math.inf)
    # fewer than two values: H is constant, its curvature exactly 0
    assert torch.equal(it.interpolated_density_entropy_hessian(torch.randn(1)), torch.zeros(1, 1))
    assert it.interpolated_density_entropy_hessian(torch.randn(0)).shape == (0, 0)
    assert torch.equal(it.interpolated_density_fisher_diag(torch.randn(1)), torch.zeros(1))
    assert it.interpolated_density_entropy_hvp(torch.randn(3, 0), torch.randn(3, 0)).shape == (3, 0)
    # huge and tiny (but representable) scales give the finite, scale-free answer
    ref = it.diffusion_spectral_entropy(x, 1.0)
    assert float(it.diffusion_spectral_entropy(x * 1e200, 1e200)) == pytest.approx(float(ref), rel=1e-9)
    assert float(it.diffusion_spectral_entropy(x * 1e-200)) == pytest.approx(
        float(it.diffusion_spectral_entropy(x)), rel=1e-9
    )
    assert torch.isfinite(it.matrix_renyi_entropy(x, alpha=1e6))


def test_streaming_metrics_refuse_changing_or_empty_input():
    pytest.importorskip("torchmetrics")
    from infotorch.metrics import DiffusionSpectralEntropy, DiffusionSpectralMutualInformation

    m = DiffusionSpectralEntropy()
    m.update(torch.randn(10, 3))
    with pytest.raises(ValueError, match="feature width"):
        m.update(torch.randn(10, 4))
    with pytest.raises(ValueError, match="batch of embeddings"):
        DiffusionSpectralEntropy().update(torch.tensor(1.0))
    empty = DiffusionSpectralEntropy()
    empty.update(torch.randn(0, 3))
    with pytest.raises(ValueError, match="before any update"):
        empty.compute()
    with pytest.raises(ValueError, match="needs the references y"):
        DiffusionSpectralMutualInformation().update(torch.randn(10, 3), None)


def test_complex_inputs_are_type_errors_and_too_many_clusters_a_named_error(files, capsys, monkeypatch):
    with pytest.raises(TypeError, match="must be real"):
        it.entropy(torch.tensor([0.5 + 0j, 0.5 + 0j]))
    with pytest.raises(TypeError, match="must be real"):
        it.kl_divergence(torch.tensor([0.5 + 0j, 0.5]), torch.tensor([0.5, 0.5]))
    monkeypatch.chdir(files)
    assert cli.main(["measure", "ok.npy", "--inputs", "ok.npy", "--clusters", "100"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "n_clusters must lie in [2, N)" in err[0]


# --------------------------------------------------------------------------- review fixes (classical toolbox)


def test_kl_normal_with_tiny_variances():
    import infotorch as it

    mu, lv = torch.tensor([0.3], dtype=torch.float16), torch.tensor([-90.0], dtype=torch.float16)
    assert float(it.kl_normal(mu, lv, mu, lv)) == 0.0
    # closed form: ½ (Δμ² e^{-lv2}) with equal variances; Δμ = 1e-20, lv = -90: ½ · 1e-40 · e^90
    got = it.kl_normal(torch.tensor([1e-20]), torch.tensor([-90.0]), torch.zeros(1), torch.tensor([-90.0]))
    assert float(got) == pytest.approx(0.5 * 1e-40 * math.exp(90), rel=1e-5)
    m1 = torch.tensor([0.0], requires_grad=True)
    it.kl_normal(m1, torch.tensor([-90.0]), torch.zeros(1), torch.tensor([-90.0])).backward()
    assert bool(torch.isfinite(m1.grad).all())


def test_joint_measures_from_large_logits():
    import infotorch as it

    joint = torch.tensor([[1e8, 0.0], [0.0, 1e8]])
    assert float(it.mutual_information(logits=joint)) == pytest.approx(math.log(2), abs=1e-6)
    assert float(it.joint_entropy(logits=joint)) == pytest.approx(math.log(2), abs=1e-6)
    assert float(it.mutual_information(logits=joint / 10)) <= math.log(2) + 1e-6


def test_js_divergence_of_near_identical_float32_distributions():
    from scipy.spatial.distance import jensenshannon

    import infotorch as it

    p, q = torch.tensor([0.3, 0.7]), torch.tensor([0.3003, 0.6997])
    ref = jensenshannon(p.double().numpy(), q.double().numpy()) ** 2  # the float32 inputs, exactly
    assert float(it.js_divergence(p, q)) == pytest.approx(ref, rel=1e-4)
    g = torch.Generator().manual_seed(0)
    a = torch.softmax(torch.randn(200, 6, generator=g), -1)
    b = torch.softmax(a.log() + 1e-3 * torch.randn(200, 6, generator=g), -1)
    assert bool((it.js_divergence(a, b) >= 0).all())


def test_pruning_scores_in_eval_mode_and_keeps_a_unit():
    from torch import nn

    from infotorch.pruning import prune_by_entropy

    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Dropout(0.5), nn.Linear(6, 3))
    x = torch.randn(50, 4)
    stats = m[1].running_mean.clone()
    r1 = prune_by_entropy(m, "2", x, amount=2, criterion="output")
    r1.handle.remove()
    r2 = prune_by_entropy(m, "2", x, amount=2, criterion="output")
    r2.handle.remove()
    assert torch.equal(r1.pruned, r2.pruned) and torch.equal(m[1].running_mean, stats) and m.training
    small = nn.Sequential(nn.Linear(4, 2), nn.ReLU(), nn.Linear(2, 2))
    res = prune_by_entropy(small, "1", x, amount=0.75)
    assert int(res.mask.sum()) == 1


def test_adaptive_epsilon_gradient_is_exact():
    from torch.autograd import gradcheck

    from infotorch.interpolated import interpolated_density_entropy as ide

    x = torch.randn(2, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(1), requires_grad=True)
    assert gradcheck(lambda a: ide(a, 1e-2, adaptive_epsilon=True), (x,))


def test_mixture_entropy_out_of_range_is_named():
    from infotorch.noise import mixture_entropy

    x = torch.randn(8, 2, 3, generator=torch.Generator().manual_seed(0))
    sd = torch.full((8, 2, 3), 1e-20)
    with pytest.raises(ValueError, match="exceeds the range of torch.float32"):
        mixture_entropy(x, torch.randn(4, 2, 3), torch.zeros_like(x), sd)


def test_infonce_with_negative_keys_checks_and_widens():
    from infotorch.nn.contrastive import InfoNCELoss

    q, k, neg = torch.randn(8, 4), torch.randn(8, 4), torch.randn(16, 4)
    loss = InfoNCELoss(normalize=False)
    bad = q.clone()
    bad[0, 0] = math.nan
    with pytest.raises(ValueError, match="query must be finite"):
        loss(bad, k, neg)
    ref = loss(q.double(), k.double(), neg.double())
    half = loss(q.bfloat16(), k.bfloat16(), neg.bfloat16())
    wide = loss(q.bfloat16().float(), k.bfloat16().float(), neg.bfloat16().float())
    assert half.dtype == torch.bfloat16 and float(half) == pytest.approx(float(wide), rel=1e-2)
    assert math.isfinite(float(ref))


def test_small_validation_gaps_of_the_toolbox():
    import infotorch as it
    from infotorch.nn.models import VAE, VariationalIB
    from infotorch.penalties import softmax_assignment_entropy

    with pytest.raises(ValueError, match="at least one category"):
        it.entropy(torch.empty(2, 0))
    with pytest.raises(ValueError, match="dim must be in"):
        softmax_assignment_entropy(torch.randn(3, 4), dim=5)
    with pytest.raises(ValueError, match="beta must be a finite number"):
        VariationalIB(4, 2, 3, beta=math.nan)
    with pytest.raises(ValueError, match="beta must be a finite number"):
        VAE(4, 2, beta=-1.0)


def test_kl_normal_gradients_finite_at_extreme_log_variances():
    import infotorch as it

    lv = torch.tensor([-800.0], dtype=torch.float64, requires_grad=True)
    zero = torch.zeros(1, dtype=torch.float64)
    it.kl_normal(zero, lv, zero, lv).backward()
    assert bool(torch.isfinite(lv.grad).all())
