"""The two labs: each claim of the specification as a test (references: the published Thomson
table, the continuum force balance, log(b − a)), the CLI, and the pages in headless Chromium."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys

import pytest
import torch

from infotorch.labs import (
    THOMSON_ENERGY,
    coulomb_energy,
    predicted_quadratic_equilibrium,
    run_line,
    run_sphere,
    simulate_line,
)


def strict_json(text: str) -> object:
    """json.loads that refuses NaN / Infinity (every --json output must be strict JSON)."""

    def refuse(name: str) -> object:
        raise ValueError(f"not strict JSON: {name}")

    return json.loads(text, parse_constant=refuse)


pytest.importorskip("plotly")
pytest.importorskip("matplotlib")


@pytest.mark.parametrize("n", [3, 4, 6, 12])
def test_sphere_reaches_the_thomson_minimum(n):
    report = run_sphere(n)
    assert abs(report["energy"] - THOMSON_ENERGY[n]) / THOMSON_ENERGY[n] < 1e-9


def test_sphere_gaps_where_no_universal_optimum_exists():
    # N = 8: the Gaussian-kernel optimum is not the square antiprism (Coulomb); a gap remains
    assert run_sphere(8)["relative_gap"] > 1e-5
    # N = 5: at small sigma the Gaussian optimum is not the triangular bipyramid
    assert run_sphere(5, sigma=0.5)["relative_gap"] > 1e-3


def test_coulomb_energy_closed_form():
    tetra = torch.tensor([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=torch.float64) / math.sqrt(3)
    assert float(coulomb_energy(tetra)) == pytest.approx(6 / math.sqrt(8 / 3), rel=1e-15)


def test_line_box_maximum_is_the_uniform_lattice():
    res = simulate_line(12, 2000, potential="box", box=(0.0, 1.0))
    assert res["max_gap"] / res["min_gap"] < 1.1
    assert res["entropy_curve"][-1] == pytest.approx(math.log(1.0), abs=1e-4)
    x = torch.sort(res["x"]).values
    assert float(x[0]) == pytest.approx(0.0, abs=1e-6) and float(x[-1]) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("window", [1, 2, 3])
def test_line_linear_objective_is_flat_along_alternating_gaps(window):
    # The reason the linear lab pairs points beyond n = 12: a 2:1 alternation of the gaps gives
    # every interior point the same weight, so it costs only a boundary term (computed directly).
    import infotorch as it

    n = 24
    lattice = torch.linspace(0, 1, n, dtype=torch.float64)
    gaps = torch.tensor([1.0, 2.0] * (n // 2), dtype=torch.float64)[: n - 1]
    alternating = torch.cat([torch.zeros(1, dtype=torch.float64), gaps.cumsum(0)])
    alternating = alternating / alternating[-1]
    h_lat = float(it.interpolated_density_entropy(lattice, 1e-9, window=window))
    h_alt = float(it.interpolated_density_entropy(alternating, 1e-9, window=window))
    assert h_lat == pytest.approx(0.0, abs=1e-12)  # log(b - a), the maximum
    assert 0 < h_lat - h_alt < 2e-3  # a 2:1 alternation is nearly free
    # the step density sees it: log-gap concavity (Jensen), mean log(gap) below log(mean gap)
    h_step_alt = float(it.interpolated_density_entropy(alternating, 1e-9, "step"))
    assert h_lat - h_step_alt > 0.05


@pytest.mark.parametrize("n, steps", [(16, 800), (24, 800), (64, 2000)])
def test_line_step_density_reaches_the_lattice(n, steps):
    res = simulate_line(n, steps, potential="box", interpolation="step")
    assert res["max_gap"] / res["min_gap"] < 1.05
    assert res["entropy_curve"][-1] == pytest.approx(0.0, abs=1e-3)


def test_line_linear_report_states_the_flat_direction():
    report = run_line(16, 50)
    assert "flat direction" in report["note"] and report["interpolation"] == "linear"
    assert "note" not in run_line(16, 50, interpolation="step")


def test_line_minimizing_collapses_until_epsilon():
    res = simulate_line(12, 1500, potential="none", maximize=False)
    assert res["min_gap"] <= res["epsilon"]  # the collapse reaches the epsilon scale
    assert res["entropy_curve"][-1] < res["entropy_curve"][0] - 1.0


def test_line_temperature_has_no_effect():
    a = simulate_line(10, 300, potential="box", temperature=0.1)
    b = simulate_line(10, 300, potential="box", temperature=10.0)
    assert torch.equal(a["trajectory"], b["trajectory"])


def test_line_quadratic_equilibrium_matches_the_force_balance():
    n, k = 16, 1.0
    res = simulate_line(n, 3000, potential="quadratic", k=k)
    pred = predicted_quadratic_equilibrium(n, k)
    assert float(res["x"].std()) == pytest.approx(pred["std"], rel=0.15)
    assert abs(float(res["x"].mean())) < 0.1 * pred["std"]


def test_line_double_well_and_callable_potentials():
    dw = simulate_line(12, 500, potential="double_well", k=5.0)
    assert (dw["x"].abs() < 2.0).all()
    custom = simulate_line(12, 500, potential=lambda x: (x.abs() ** 3).sum())
    assert torch.isfinite(custom["x"]).all()
    with pytest.raises(ValueError, match="potential must be one of"):
        simulate_line(5, 1, potential="cubic")


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _render(html: str, shot: str, tmp) -> str:
    exe = _chromium()
    if exe is None:
        pytest.skip("headless Chromium is not installed and could not be installed (Debian package 'chromium')")
    cmd = [
        exe,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp}",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=8000",
        "--window-size=1000,800",
        f"--screenshot={shot}",
        "file://" + os.path.abspath(html),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    return out.stderr


@pytest.mark.parametrize("lab", ["line", "sphere"])
def test_pages_are_self_contained_and_render(lab, tmp_path):
    report = run_line(10, 200, out_dir=str(tmp_path)) if lab == "line" else run_sphere(6, out_dir=str(tmp_path))
    html = report["html"]
    text = open(html, encoding="utf-8").read()
    import re

    assert not re.search(r"<script[^>]*src=[\"']https?://", text)  # nothing fetched: the JS is embedded
    assert "plotly" in text.lower() and len(text) > 1_000_000
    # the animation: the figure's frames, decoded from the page, one per slider step
    start = text.index("Plotly.addFrames(")
    frames, _ = json.JSONDecoder().raw_decode(text, text.index("[", start))
    expected = min(80, 201) if lab == "line" else None
    assert len(frames) > 1 and all(f["data"] and "name" in f for f in frames)
    if expected is not None:
        assert len(frames) == expected
    layout_start = text.index("Plotly.newPlot(")
    assert text.count('"method":"animate"', layout_start) >= len(frames)  # a slider step per frame
    assert os.path.getsize(report["png"]) > 10_000
    shot = str(tmp_path / f"{lab}.png.shot.png")
    log = _render(html, shot, tmp_path / "profile")
    assert "Uncaught" not in log and "SyntaxError" not in log, log[-2000:]
    import matplotlib.image

    img = matplotlib.image.imread(shot)
    assert img.std() > 0.02  # not blank


def test_cli_lab_json(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "infotorch.cli", "lab", "sphere", "--n", "4", "--out", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    report = strict_json(out.stdout)
    assert {"n", "energy", "reference", "gap"} <= set(report)
    assert report["n"] == 4 and abs(report["gap"]) < 1e-8
    assert (tmp_path / "sphere.html").exists() and (tmp_path / "sphere.png").exists()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "infotorch.cli",
            "lab",
            "line",
            "--n",
            "8",
            "--steps",
            "100",
            "--out",
            str(tmp_path),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert strict_json(out.stdout)["lab"] == "line" and (tmp_path / "line.html").exists()
