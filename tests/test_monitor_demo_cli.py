"""The main job: monitor on a tiny model, the demo in a fast mode, the CLI end to end through
subprocess on files the test writes (references: dse-dsmi's numbers through infotorch.spectral,
checked in test_spectral.py; closed forms of the binned estimates; the files themselves)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from infotorch.compat.dse_dsmi import diffusion_spectral_entropy, diffusion_spectral_mutual_information
from infotorch.monitor import InformationMonitor, binned_codes, read_records, write_records


def strict_json(text: str) -> object:
    """json.loads that refuses NaN / Infinity (every --json output must be strict JSON)."""

    def refuse(name: str) -> object:
        raise ValueError(f"not strict JSON: {name}")

    return json.loads(text, parse_constant=refuse)


pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")


def tiny_model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 3))


def test_monitor_records_match_direct_computation(tmp_path):
    model = tiny_model()
    x = torch.randn(90, 5, generator=torch.Generator().manual_seed(1))
    y = torch.arange(90) % 3
    mon = InformationMonitor(model, {"h1": "1", "h2": "3"}, sigma=2.0)
    rows = mon.measure(x, y, epoch=0, run="r")
    assert [r["layer"] for r in rows] == ["h1", "h2"]
    with torch.no_grad():
        z1 = torch.tanh(model[0](x)).double().numpy()
    assert rows[0]["dse"] == pytest.approx(diffusion_spectral_entropy(z1, gaussian_kernel_sigma=2.0), rel=1e-9)
    ref_mi, _ = diffusion_spectral_mutual_information(z1, y.numpy(), gaussian_kernel_sigma=2.0)
    assert rows[0]["dsmi_zy"] == pytest.approx(ref_mi, rel=1e-9, abs=1e-12)
    for r in rows:
        assert all(math.isfinite(r[k]) for k in ("dse", "dsmi_zy", "dsmi_zx", "binned_mi_zy", "binned_mi_zx"))
        # binned I(X;Z) = H(Z) <= log2 N, and I(Z;Y) <= H(Y) = log2 3
        assert 0 <= r["binned_mi_zx"] <= math.log2(90) * (1 + 1e-6)  # float32 result
        assert -1e-6 <= r["binned_mi_zy"] <= math.log2(3) * (1 + 1e-6)
    mon.detach()
    assert not model[1]._forward_hooks  # hooks removed
    write_records(mon.records, tmp_path / "m.csv")
    write_records(mon.records, tmp_path / "m.json")
    back = read_records(tmp_path / "m.csv")
    assert back[0]["dse"] == pytest.approx(rows[0]["dse"], rel=1e-12)
    assert strict_json((tmp_path / "m.json").read_text())[1]["layer"] == "h2"


def test_monitor_rejects_unknown_layers_and_measures():
    with pytest.raises(ValueError, match="not submodules of the model"):
        InformationMonitor(tiny_model(), ["nope"])
    with pytest.raises(ValueError, match="unknown measure .magic.; choose from dse, dsmi_zy"):
        InformationMonitor(tiny_model(), ["1"], measures=["dse", "magic"])


def test_binned_codes_closed_form():
    z = torch.tensor([[0.0], [0.1], [0.95], [1.0]])
    # two bins over [0, 1]: {0, 0.1} -> bin 0, {0.95, 1.0} -> bin 1
    codes = binned_codes(z, bins=2)
    assert codes[0] == codes[1] and codes[2] == codes[3] and codes[0] != codes[2]


def test_demo_fast_mode(tmp_path):
    from infotorch.demo import run_demo

    summary = run_demo(epochs=4, out_dir=tmp_path, probe=300, progress=False, stream=open(os.devnull, "w"))
    for name in ("metrics.csv", "dynamics.png", "information_plane.png"):
        assert (tmp_path / name).stat().st_size > 1000
    rows = read_records(tmp_path / "metrics.csv")
    assert {r["run"] for r in rows} == {"true labels", "shuffled labels"}
    assert all(math.isfinite(float(r[k])) for r in rows for k in ("dse", "dsmi_zy", "dsmi_zx"))
    true, shuffled = summary["runs"]["true labels"], summary["runs"]["shuffled labels"]
    # the paper's claims: DSMI(Z;Y) of the last hidden layer rises with accuracy on true labels ...
    assert true["final_train_accuracy"] > 0.8
    assert true["dsmi_zy_last"] > true["dsmi_zy_first"] + 0.2
    assert np.corrcoef(true["dsmi_zy"], true["train_accuracy"])[0, 1] > 0.8
    # ... and stays lower when the labels are shuffled (memorization)
    assert max(shuffled["dsmi_zy"]) < true["dsmi_zy_last"] - 0.5


# ------------------------------------------------------------------ CLI end to end


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "infotorch.cli", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 40)
    z = rng.normal(size=(120, 6)) + 4.0 * np.eye(3, 6)[y]
    x = rng.normal(size=(120, 10))
    np.save(d / "z.npy", z)
    np.save(d / "y.npy", y)
    np.savez(d / "all.npz", emb=z, lab=y)
    torch.save(torch.as_tensor(z), d / "z.pt")
    np.savetxt(d / "z.csv", z, delimiter=",", header=",".join(f"f{i}" for i in range(6)), comments="")
    np.save(d / "x.npy", x)
    np.save(d / "nan.npy", np.where(np.arange(12).reshape(2, 6) == 3, np.nan, 1.0))
    np.save(d / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(d / "flat.npy", np.arange(5.0))
    torch.save({"not": "a tensor"}, d / "bad.pt")
    (d / "z.txt").write_text("1,2\n")
    return d, z, y


def test_cli_measure_json_matches_library(files):
    d, z, y = files
    out = run_cli("measure", str(d / "z.npy"), "--labels", str(d / "y.npy"), "--sigma", "2", "--json")
    assert out.returncode == 0, out.stderr
    report = strict_json(out.stdout)  # exactly one JSON document on stdout
    assert report["n"] == 120 and report["unit"] == "bits"
    assert report["measures"]["dse"] == pytest.approx(
        diffusion_spectral_entropy(z, gaussian_kernel_sigma=2.0), rel=1e-9
    )
    ref, _ = diffusion_spectral_mutual_information(z, y, gaussian_kernel_sigma=2.0)
    assert report["measures"]["dsmi_zy"] == pytest.approx(ref, rel=1e-9)


@pytest.mark.parametrize("spec", ["all.npz:emb", "z.pt", "z.csv"])
def test_cli_reads_every_format(files, spec):
    d, z, _ = files
    out = run_cli("measure", str(d / spec), "--sigma", "2", "--json")
    assert out.returncode == 0, out.stderr
    value = strict_json(out.stdout)["measures"]["dse"]
    assert value == pytest.approx(diffusion_spectral_entropy(z, gaussian_kernel_sigma=2.0), rel=1e-6)


def test_cli_table_output_and_inputs(files):
    d, _, _ = files
    out = run_cli(
        "measure",
        str(d / "z.npy"),
        "--labels",
        str(d / "all.npz:lab"),
        "--inputs",
        str(d / "x.npy"),
        "--clusters",
        "3",
        "--measure",
        "dse,dsmi,dsmi_x,ase,cse,renyi",
    )
    assert out.returncode == 0, out.stderr
    for name in ("dse", "dsmi_zy", "dsmi_zx", "ase", "cse", "renyi"):
        assert f"\n{name} " in out.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.npy"], "no such file"),
        (["nan.npy"], "must be finite"),
        (["obj.npy"], "not a plain numeric .npy array"),
        (["flat.npy"], r"must be \(N, D\)"),
        (["bad.pt"], "must hold a tensor"),
        (["z.txt"], "unsupported file type"),
        (["all.npz"], "choose one as"),
        (["z.npy", "--labels", "x.npy"], "one class label per sample"),
        (["z.npy", "--labels", "flat.npy"], "5 labels for 120 embeddings"),
        (["z.npy", "--measure", "dse,wow"], "unknown"),
        (["z.npy", "--measure", "dsmi"], "needs --labels"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(files, args, message):
    d, _, _ = files
    args = [str(d / a) if a.endswith((".npy", ".npz", ".pt", ".txt")) else a for a in args]
    out = run_cli("measure", *args)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    import re

    assert re.search(message, out.stderr), out.stderr
