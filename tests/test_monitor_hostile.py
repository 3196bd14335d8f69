"""The monitor, its records, the callback and the CLI on hostile input (regressions of an
independent review). References: a direct log-sum-exp of the noisy-channel terms written here,
the modules' own train flags, a manual selection of submodules, the files the test writes."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from infotorch.cli import main as cli_main
from infotorch.measures import noisy_channel_mutual_information
from infotorch.monitor import (
    InformationMonitor,
    plot_dynamics,
    plot_information_plane,
    read_records,
    reduce_layer_output,
    write_records,
)
from infotorch.noise import mixture_entropy

F64 = torch.float64


def probes(n: int = 40, d: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.arange(n) % 3


# ---------------------------------------------------------------------- the noisy channel


@pytest.mark.parametrize("scale", [1e4, 1e10, 1e15])
def test_noisy_channel_stays_in_its_range_at_any_spread_to_noise_ratio(scale):
    z = torch.randn(50, 2, dtype=F64, generator=torch.Generator().manual_seed(0))
    # far-apart components: every probe is identified, I = log N exactly
    assert float(noisy_channel_mutual_information(z * scale, 1.0)) == pytest.approx(math.log(50), abs=1e-9)
    assert float(noisy_channel_mutual_information(z, 1.0 / scale)) == pytest.approx(math.log(50), abs=1e-9)


def test_noisy_channel_equals_a_direct_logsumexp():
    z = torch.randn(30, 3, dtype=F64, generator=torch.Generator().manual_seed(1))
    s = 0.7
    e = torch.randn(30, 3, generator=torch.Generator(device="cpu").manual_seed(0 + 0x5EED_1F0), dtype=F64)
    t = z + s * e
    log_p_t = torch.logsumexp(-((t[:, None] - z[None]) ** 2).sum(-1) / (2 * s * s), dim=1) - math.log(30)
    log_own = -(e**2).sum(-1) / 2
    ref = (log_own - log_p_t).mean()  # the normalizers cancel
    assert float(noisy_channel_mutual_information(z, s)) == pytest.approx(float(ref), abs=1e-12)


def test_mixture_entropy_with_tiny_noise_on_large_activations():
    # components 1e8 apart with unit widths: the expanded square alone would cancel to garbage
    g = torch.Generator().manual_seed(2)
    x = 1e8 * torch.randn(20, 1, 2, generator=g, dtype=F64)
    y = x + torch.randn(20, 1, 2, generator=g, dtype=F64)
    stds = torch.ones_like(x)
    h = mixture_entropy(x, y, torch.zeros_like(x), stds, safety_factor=1.0)
    d = ((y[:, None, 0] - x[None, :, 0]) ** 2).sum(-1)  # direct differences, (i, l)
    ref = -(torch.logsumexp(-0.5 * d, dim=1) - math.log(20) - math.log(2 * math.pi)).mean()
    assert float(h) == pytest.approx(float(ref), rel=1e-9)


def test_monitor_noisy_mi_never_exceeds_log2_n():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
    x, y = probes(60)
    row = InformationMonitor(model, ["1"], measures=["noisy_mi_zx"], noise_std=1e-9).measure(x, y)[0]
    assert row["noisy_mi_zx"] <= math.log2(60) + 1e-9


# ---------------------------------------------------------------------- the model's state


def test_measure_restores_the_mode_of_every_submodule():
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    model.train()
    model[1].eval()  # a frozen BatchNorm
    before = [m.training for m in model.modules()]
    InformationMonitor(model, ["2"], measures=["dse"]).measure(*probes())
    assert [m.training for m in model.modules()] == before


def test_bfloat16_model_with_input_measures():
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh()).to(torch.bfloat16)
    x, y = probes(60)
    row = InformationMonitor(model, ["1"], measures=["dse", "dsmi_zx", "knn_mi_zx"]).measure(x.bfloat16(), y)[0]
    assert all(math.isfinite(row[k]) for k in ("dse", "dsmi_zx", "knn_mi_zx"))


def test_inputs_are_clustered_only_for_a_measure_that_uses_clusters():
    # 9 probes cannot make 10 clusters: knn_mi_zx does not need them and must not ask
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3))
    x, y = probes(9)
    row = InformationMonitor(model, ["0"], measures=["knn_mi_zx"]).measure(x, y)[0]
    assert math.isfinite(row["knn_mi_zx"])


# ---------------------------------------------------------------------- choosing layers and outputs


def test_glob_star_stays_inside_one_dotted_segment():
    model = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), 2)
    mon = InformationMonitor(model, ["layers.*"], measures=["dse"])
    assert list(mon.layers) == ["layers.0", "layers.1"]
    deep = InformationMonitor(model, ["layers.**.linear1"], measures=["dse"])
    assert list(deep.layers) == ["layers.0.linear1", "layers.1.linear1"]
    rows = mon.measure(torch.randn(30, 5, 8), torch.arange(30) % 2)
    assert [r["layer"] for r in rows] == ["layers.0", "layers.1"]


def test_a_string_is_one_layer_name_not_its_characters():
    model = nn.Sequential(*[nn.Linear(4, 4) for _ in range(13)])
    assert list(InformationMonitor(model, "12", measures=["dse"]).layers) == ["12"]


def test_a_submodule_that_never_runs_forward_is_named():
    model = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)
    mon = InformationMonitor(model, ["self_attn.out_proj"], measures=["dse"])
    with pytest.raises(ValueError, match=r"'self_attn.out_proj' produced no output.*forward\(\) did not run"):
        mon.measure(torch.randn(20, 5, 8))


@pytest.mark.parametrize(
    ("output", "message"), [(5, r"layer '0' returns a tuple of 2 elements"), ("a", r"output= must be an index")]
)
def test_tuple_output_selector_errors_name_the_layer(output, message):
    model = nn.Sequential(nn.LSTM(4, 6, batch_first=True))
    mon = InformationMonitor(model, ["0"], measures=["dse"], output=output)
    with pytest.raises(ValueError, match=message):
        mon.measure(torch.randn(20, 3, 4))


def test_dict_output_selector_error_names_the_keys():
    class Dicty(nn.Module):
        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"a": x, "b": 2 * x}

    model = nn.Sequential(Dicty())
    mon = InformationMonitor(model, ["0"], measures=["dse"], output="zz")
    with pytest.raises(ValueError, match=r"keys \['a', 'b'\]; output='zz' is not one"):
        mon.measure(torch.randn(20, 4))


def test_feature_dim_out_of_range_is_an_error_not_a_wrap():
    out = torch.randn(20, 7, 5)
    with pytest.raises(ValueError, match="feature_dim must be an integer dim"):
        reduce_layer_output(out, 20, reduction="mean", feature_dim=4)
    manual = out.mean(1)  # the sequence averaged, features last
    assert torch.equal(reduce_layer_output(out, 20, reduction="mean", feature_dim=-1), manual)
    with pytest.raises(TypeError, match="feature_dim must be None or an integer"):
        InformationMonitor(nn.Sequential(nn.Linear(4, 4)), ["0"], feature_dim="a")


def test_options_are_checked_when_the_monitor_is_made():
    model = nn.Sequential(nn.Linear(4, 4))
    with pytest.raises(TypeError, match="noise_std"):
        InformationMonitor(model, ["0"], noise_std="a")
    with pytest.raises(ValueError, match="n_clusters must be an integer >= 2"):
        InformationMonitor(model, ["0"], n_clusters=2.5)
    with pytest.raises(TypeError, match="seed must be an integer"):
        InformationMonitor(model, ["0"], seed=None, width=2)


def test_extra_columns_cannot_overwrite_the_record():
    mon = InformationMonitor(nn.Sequential(nn.Linear(4, 4)), ["0"], measures=["dse"])
    with pytest.raises(ValueError, match=r"\['layer'\] are columns of the record itself"):
        mon.measure(*probes(), layer="oops")


def test_nan_embeddings_name_the_layer():
    model = nn.Sequential(nn.Linear(4, 4))
    with torch.no_grad():
        model[0].weight.fill_(math.nan)
    with pytest.raises(ValueError, match=r"layer '0': the embeddings .* NaN or inf"):
        InformationMonitor(model, ["0"], measures=["dse"]).measure(*probes())


# ---------------------------------------------------------------------- records and plots


def test_to_json_and_to_csv_write_what_they_say(tmp_path):
    mon = InformationMonitor(nn.Sequential(nn.Linear(4, 4)), ["0"], measures=["dse"])
    mon.measure(*probes(), epoch=0, run="01")
    mon.to_json(tmp_path / "rec.txt")
    assert json.loads((tmp_path / "rec.txt").read_text())[0]["layer"] == "0"
    mon.to_csv(tmp_path / "rec.json")
    assert (tmp_path / "rec.json").read_text().startswith("epoch,layer,")
    write_records(mon.records, tmp_path / "rec.JSON")
    assert json.loads((tmp_path / "rec.JSON").read_text())[0]["run"] == "01"
    back = read_records(tmp_path / "rec.json", format="csv")
    assert back[0]["layer"] == "0" and back[0]["run"] == "01"  # names stay text


def test_plots_of_other_measures_and_of_records_without_epochs(tmp_path):
    mon = InformationMonitor(nn.Sequential(nn.Linear(4, 4)), ["0"], measures=["knn_mi_zy", "binned_mi_zy"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        mon.measure(*probes())
        mon.measure(*probes(seed=1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns of empty axes ("No artists with labels")
        plot_dynamics(mon.records, tmp_path / "d.png")  # no epochs: in record order
    assert (tmp_path / "d.png").stat().st_size > 0
    plot_information_plane(mon.records, tmp_path / "p.png", x_key="binned_mi_zy", y_key="knn_mi_zy")
    assert (tmp_path / "p.png").stat().st_size > 0
    with pytest.raises(ValueError, match="no measure or accuracy column"):
        plot_dynamics([{"epoch": 0, "layer": "a"}], tmp_path / "e.png")
    with pytest.raises(ValueError, match="no row with both"):
        plot_information_plane([], tmp_path / "e.png")


# ---------------------------------------------------------------------- the CLI


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = cli_main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("measure", ["binned_mi_zx", "cse", "dse"])
def test_cli_refuses_nan_embeddings_for_every_measure(tmp_path, capsys, measure):
    z = np.random.default_rng(0).normal(size=(30, 3))
    z[4, 1] = np.nan
    np.save(tmp_path / "z.npy", z)
    code, _, err = cli(capsys, "measure", str(tmp_path / "z.npy"), "--measure", measure)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "NaN or inf" in err


def test_cli_csv_with_a_bad_first_row_is_an_error_not_a_header(tmp_path, capsys):
    (tmp_path / "gap.csv").write_text("1,,3\n4,5,6\n7,8,9\n1,1,1\n")
    code, _, err = cli(capsys, "measure", str(tmp_path / "gap.csv"), "--json")
    assert code == 2 and "not a numeric CSV table" in err
    (tmp_path / "head.csv").write_text("a,b\n" + "".join(f"{i},{i * i % 7}\n" for i in range(12)))
    code, out, _ = cli(capsys, "measure", str(tmp_path / "head.csv"), "--json")
    assert code == 0 and json.loads(out)["n"] == 12  # a real header is skipped


def test_cli_empty_measure_list_and_noise_std(tmp_path, capsys):
    np.save(tmp_path / "z.npy", np.random.default_rng(0).normal(size=(30, 2)))
    code, _, err = cli(capsys, "measure", str(tmp_path / "z.npy"), "--measure", ",")
    assert code == 2 and "names no measure" in err
    code, _, err = cli(capsys, "measure", str(tmp_path / "z.npy"), "--measure", "noisy_mi_zx")
    assert code == 2 and "--noise-std" in err
    code, out, _ = cli(
        capsys, "measure", str(tmp_path / "z.npy"), "--measure", "noisy_mi_zx", "--noise-std", "1e-9", "--json"
    )
    assert code == 0 and json.loads(out)["measures"]["noisy_mi_zx"] == pytest.approx(math.log2(30), abs=1e-9)


def test_cli_argument_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        cli_main(["measure", "x.npy", "--sigma", "0"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--sigma" in err


def test_library_warnings_point_at_the_callers_line():
    import infotorch.knn as knn

    x = torch.randn(60, 10, dtype=F64)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        knn.ksg_mutual_information(x, x + torch.randn(60, 10, dtype=F64))
        model = nn.Sequential(nn.Linear(4, 4))
        InformationMonitor(model, ["0"], measures=["binned_mi_zy"]).measure(*probes())
    files = {w.filename for w in rec if issubclass(w.category, UserWarning)}
    assert files == {__file__}


def test_report_on_awkward_records(tmp_path, capsys):
    pytest.importorskip("plotly")
    from infotorch.report import write_report

    recs = [{"layer": "a", "dse": 1.0}, {"layer": "a", "dse": 1.5}]  # no epoch column
    page = write_report(recs, tmp_path / "r.html")
    assert "1.5" in open(page, encoding="utf-8").read()
    with pytest.raises(ValueError, match=r"column 'dse' of record 1 holds 'oops', not a number"):
        write_report([{"layer": "a", "dse": 1.0}, {"layer": "a", "dse": "oops"}], tmp_path / "r.html")
    (tmp_path / "extra.csv").write_text("epoch,layer,dse\n0,a,1.0\n1,a,1.2,9\n")
    code, _, err = cli(capsys, "report", str(tmp_path / "extra.csv"), "--out", str(tmp_path / "x.html"))
    assert code == 2 and "line 3 has more cells than the header" in err
    (tmp_path / "obj.json").write_text('{"layer": "a"}')
    code, _, err = cli(capsys, "report", str(tmp_path / "obj.json"), "--out", str(tmp_path / "x.html"))
    assert code == 2 and "JSON list of records" in err


def test_a_module_used_twice_in_one_forward_is_refused():
    class Shared(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1, self.fc2, self.act = nn.Linear(4, 4), nn.Linear(4, 4), nn.Tanh()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.act(self.fc2(self.act(self.fc1(x))))

    mon = InformationMonitor(Shared(), ["act"], measures=["dse"])
    with pytest.raises(ValueError, match="'act' ran 2 times in one forward pass"):
        mon.measure(*probes())


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("encoder.**.mlp", ["encoder.mlp", "encoder.a.mlp", "encoder.b.inner.mlp"]),
        ("encoder.*.mlp", ["encoder.a.mlp"]),
        ("a[]]b", ["a]b"]),
        ("a[!x]b", ["a]b"]),  # a negated class never matches the dot
        ("x+y", ["x+y"]),
    ],
)
def test_glob_patterns_as_fnmatch_within_segments(pattern, expected):
    from infotorch.monitor import _select_layers

    names = ["encoder.mlp", "encoder.a.mlp", "encoder.b.inner.mlp", "a]b", "a.b", "x+y", "xy"]
    modules = {"": nn.Identity(), **{n: nn.Identity() for n in names}}
    assert list(_select_layers([pattern], modules)) == expected
