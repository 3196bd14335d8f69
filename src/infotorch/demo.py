"""The demo: an MLP learns scikit-learn's bundled digits while an :class:`InformationMonitor`
watches its hidden layers; a second run on shuffled labels (memorization) for contrast.

What it shows (the DSE paper's qualitative result, Liao, Liu et al. 2024): DSMI(Z; Y) of the last
hidden layer rises with accuracy when the labels carry structure, and stays lower when the
network can only memorize shuffled labels. Needs ``pip install 'infotorch[demo]'`` (scikit-learn
for the data, matplotlib for the pictures; no download).
"""

from __future__ import annotations

import os
import sys
import time
from collections import OrderedDict
from typing import Any, TextIO

import numpy as np
import torch
from torch import nn

from ._progress import Progress
from .monitor import InformationMonitor, plot_dynamics, plot_information_plane, write_records

__all__ = ["load_digits_tensors", "make_mlp", "run_demo"]

LAYERS = {"hidden 1": "act1", "hidden 2": "act2"}


def load_digits_tensors() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's bundled 8×8 digits (1797 images, no download): inputs in [0, 1], labels."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("the demo needs scikit-learn: pip install 'infotorch[demo]'") from None
    data = load_digits()
    x = torch.as_tensor(data.data, dtype=torch.float32) / 16.0
    y = torch.as_tensor(data.target, dtype=torch.int64)
    return x, y


def make_mlp(seed: int, widths: tuple[int, int] = (48, 24)) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(
        OrderedDict(
            fc1=nn.Linear(64, widths[0]),
            act1=nn.Tanh(),
            fc2=nn.Linear(widths[0], widths[1]),
            act2=nn.Tanh(),
            out=nn.Linear(widths[1], 10),
        )
    )


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(-1) == y).float().mean())


def _train_run(
    run: str,
    labels: torch.Tensor,
    data: dict[str, torch.Tensor],
    epochs: int,
    seed: int,
    probe: int,
    out: TextIO,
    progress: Progress,
) -> list[dict[str, Any]]:
    model = make_mlp(seed)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    x_tr, x_te, y_te = data["x_train"], data["x_test"], data["y_test"]
    y_tr = labels
    x_probe, y_probe = x_tr[:probe], y_tr[:probe]
    monitor = InformationMonitor(model, LAYERS, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    rows: list[dict[str, Any]] = []
    # no `with monitor:`: its hooks are attached for each probe pass only, so training steps pay nothing
    for epoch in range(epochs + 1):
        if epoch > 0:
            model.train()
            perm = torch.randperm(x_tr.shape[0], generator=gen)
            for start in range(0, x_tr.shape[0], 64):
                idx = perm[start : start + 64]
                loss = nn.functional.cross_entropy(model(x_tr[idx]), y_tr[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        model.eval()
        extra = {
            "run": run,
            "train_accuracy": _accuracy(model, x_tr, y_tr),
            "accuracy": _accuracy(model, x_te, y_te),
        }
        measured = monitor.measure(x_probe, y_probe, epoch=epoch, **extra)
        rows.extend(measured)
        last = measured[-1]
        print(
            f"{run:<15} {epoch:>5} {extra['train_accuracy']:>9.3f} {extra['accuracy']:>8.3f} "
            f"{last['dse']:>10.3f} {last['dsmi_zy']:>12.3f} {last['dsmi_zx']:>12.3f}",
            file=out,
            flush=True,
        )
        progress.advance(f"{run}: epoch {epoch}/{epochs}")
    return rows


def run_demo(
    epochs: int = 30,
    out_dir: str | os.PathLike[str] = "infotorch-demo",
    *,
    seed: int = 0,
    probe: int = 600,
    shuffled: bool = True,
    stream: TextIO | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train, monitor, and write ``metrics.csv``, ``dynamics.png``, ``information_plane.png`` in ``out_dir``.

    Returns a summary: the paths written, the final accuracies and DSMI(Z; Y) of the last hidden
    layer per run, and the wall time.
    """
    if int(epochs) < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    stream = stream or sys.stdout
    t0 = time.perf_counter()
    torch.set_num_threads(max(1, min(torch.get_num_threads(), os.cpu_count() or 1)))
    x, y = load_digits_tensors()
    perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))
    x, y = x[perm], y[perm]
    n_train = 1300
    data = {"x_train": x[:n_train], "y_train": y[:n_train], "x_test": x[n_train:], "y_test": y[n_train:]}
    runs = [("true labels", data["y_train"])]
    if shuffled:
        shuffled_labels = data["y_train"][torch.randperm(n_train, generator=torch.Generator().manual_seed(seed + 1))]
        runs.append(("shuffled labels", shuffled_labels))
    print(
        f"{'run':<15} {'epoch':>5} {'train acc':>9} {'test acc':>8} {'DSE(Z2)':>10} {'DSMI(Z2;Y)':>12} {'DSMI(Z2;X)':>12}",
        file=stream,
    )
    bar = Progress(len(runs) * (epochs + 1), progress, description="training")
    records: list[dict[str, Any]] = []
    try:
        for run, labels in runs:
            records.extend(_train_run(run, labels, data, int(epochs), seed, probe, stream, bar))
    finally:
        bar.close()
    out = os.fspath(out_dir)
    os.makedirs(out, exist_ok=True)
    paths = {
        "metrics": os.path.join(out, "metrics.csv"),
        "dynamics": os.path.join(out, "dynamics.png"),
        "information_plane": os.path.join(out, "information_plane.png"),
    }
    write_records(records, paths["metrics"])
    plot_dynamics(records, paths["dynamics"], title="MLP on digits: information dynamics of the hidden layers")
    plot_information_plane(records, paths["information_plane"], title="Information plane (DSMI, bits)")
    summary: dict[str, Any] = {"paths": paths, "seconds": time.perf_counter() - t0, "runs": {}}
    last_layer = list(LAYERS)[-1]
    for run, _ in runs:
        rows = [r for r in records if r["run"] == run and r["layer"] == last_layer]
        summary["runs"][run] = {
            "final_train_accuracy": rows[-1]["train_accuracy"],
            "final_test_accuracy": rows[-1]["accuracy"],
            "dsmi_zy_first": rows[0]["dsmi_zy"],
            "dsmi_zy_last": rows[-1]["dsmi_zy"],
            "dsmi_zy": [r["dsmi_zy"] for r in rows],
            "train_accuracy": [r["train_accuracy"] for r in rows],
        }
    print(f"wrote {', '.join(paths.values())} in {summary['seconds']:.1f} s", file=stream)
    return summary


def _numpy_safe(obj: Any) -> Any:  # pragma: no cover - helper for JSON output
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    return obj
