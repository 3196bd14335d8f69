"""The monitor and the CLI before and after the architecture change, and the training-step
overhead of a monitor.

1. Training-step overhead: one SGD step of a small MLP on a batch of 128, (a) without a monitor,
   (b) with a monitor that has measured once (its hooks are now attached only during the probe
   pass), (c) with the hooks attached for the whole run (``attach()``, the old behaviour).
   Interleaved in one process; median of repeats.
2. ``InformationMonitor.measure()`` and ``infotorch measure`` (DSE + DSMI(Z;Y) + DSMI(Z;X)) of this
   checkout against an earlier checkout (``--before PATH``, a git worktree of the commit before
   the change, e.g. ``git worktree add /tmp/old 965ad80``), each in a fresh subprocess,
   interleaved.

Usage: ``python benchmarks/bench_monitor.py [--before /tmp/old] [--repeats 5]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def step_overhead(repeats: int) -> dict[str, float]:
    from infotorch.monitor import InformationMonitor

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(128, 64), torch.randint(0, 10, (128,))
    probe_x, probe_y = torch.randn(300, 64), torch.randint(0, 10, (300,))

    def steps(n: int = 200) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return (time.perf_counter() - t0) / n * 1e6

    measured = InformationMonitor(model, ["1", "3"], measures=["dse"])
    measured.measure(probe_x, probe_y, epoch=0)  # hooks live only during this pass
    held = InformationMonitor(model, ["1", "3"], measures=["dse"]).attach()
    held.measure(probe_x, probe_y, epoch=0)
    held.detach()
    steps(50)  # warm-up (allocator, autograd graph caches)
    times: dict[str, list[float]] = {"no monitor": [], "monitor (hooks only while measuring)": [], "hooks attached": []}
    for _ in range(repeats):
        times["no monitor"].append(steps())
        times["monitor (hooks only while measuring)"].append(steps())  # the measured monitor holds no hooks
        held.attach()
        times["hooks attached"].append(steps())
        held.detach()
    return {k: statistics.median(v) for k, v in times.items()}


MEASURE_SNIPPET = r"""
import sys, time, torch
sys.path.insert(0, {src!r})
from torch import nn
from infotorch.monitor import InformationMonitor
torch.manual_seed(0)
torch.set_num_threads({threads})
model = nn.Sequential(nn.Linear(64, 512), nn.Tanh(), nn.Linear(512, 256), nn.Tanh(), nn.Linear(256, 10))
x, y = torch.randn({n}, 64), torch.randint(0, 10, ({n},))
mon = InformationMonitor(model, ["1", "3"], measures=["dse", "dsmi_zy", "dsmi_zx"])
mon.measure(x, y, epoch=0)  # warm-up (clusters of the inputs are computed once and reused)
t0 = time.perf_counter(); mon.measure(x, y, epoch=1); print(time.perf_counter() - t0)
"""


def run_measure(src: str, n: int, threads: int) -> float:
    out = subprocess.run(
        [sys.executable, "-c", MEASURE_SNIPPET.format(src=src, n=n, threads=threads)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def run_cli(src: str, files: tuple[str, str, str], threads: int) -> float:
    emb, lab, inp = files
    code = (
        f"import sys, torch; sys.path.insert(0, {src!r}); torch.set_num_threads({threads}); "
        "from infotorch.cli import main; "
        f"sys.exit(main(['measure', {emb!r}, '--labels', {lab!r}, '--inputs', {inp!r}, '--json']))"
    )
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", default=None, help="a checkout of the earlier commit (its src/ is used)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, threads {args.threads}")
    print("\n| training step (MLP 64-256-256-10, batch 128) | µs per step (median) |\n|---|---|")
    for k, val in step_overhead(args.repeats).items():
        print(f"| {k} | {val:.0f} |")
    if args.before is None:
        return
    now, before = os.path.join(HERE, "src"), os.path.join(args.before, "src")
    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        emb, lab, inp = (os.path.join(tmp, f) for f in ("z.npy", "y.npy", "x.npy"))
        y = rng.integers(0, 10, args.n)
        np.save(emb, rng.normal(size=(args.n, 256)) + 3 * np.eye(10, 256)[y])
        np.save(lab, y)
        np.save(inp, rng.normal(size=(args.n, 32)))
        rows = {"monitor.measure() (2 layers, DSE + 2 DSMI)": ([], []), "infotorch measure (DSE + 2 DSMI)": ([], [])}
        for _ in range(args.repeats):
            for label, (b, a) in rows.items():
                if label.startswith("monitor"):
                    b.append(run_measure(before, args.n, args.threads))
                    a.append(run_measure(now, args.n, args.threads))
                else:
                    b.append(run_cli(before, (emb, lab, inp), args.threads))
                    a.append(run_cli(now, (emb, lab, inp), args.threads))
    print(f"\n| N = {args.n} | before (s) | after (s) | before / after |\n|---|---|---|---|")
    for label, (b, a) in rows.items():
        mb, ma = statistics.median(b), statistics.median(a)
        print(f"| {label} | {mb:.3f} | {ma:.3f} | {mb / ma:.2f} |")


if __name__ == "__main__":
    main()
