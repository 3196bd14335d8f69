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

3. ``measure()`` time per layer width D and probe count N (one layer, the default measures:
   DSE, DSMI(Z; Y), DSMI(Z; X), both binned estimates), without and with a reduction to 64 dims
   (PCA, Gaussian random projection), and the DSE each records; then the effect of the reduction
   on DSE for a structured layer (tanh of 32-D inputs) and a full-rank one (isotropic noise).
4. The monitor's total cost against training time: the demo's schedule (``infotorch demo``) and
   a small CNN (two conv layers, 28 x 28 synthetic images), with several cadences and settings.

Usage: ``python benchmarks/bench_monitor.py [--before /tmp/old] [--repeats 5]
[--sections overhead,scale,effect,cost] [--threads 2]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

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


# ---------------------------------------------------------------------- measure() at scale

SCALE_WIDTHS = (64, 256, 1024, 2048)
SCALE_PROBES = (250, 500, 1000)
REDUCED = 64


def mixture_inputs(n: int, dim: int = 32, classes: int = 10, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` inputs of a ``classes``-component Gaussian mixture in ``dim`` dims, and their labels."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    centres = 2.0 * torch.randn(classes, dim, generator=g)
    return centres[y] + torch.randn(n, dim, generator=g), y


def layer_model(width: int, kind: str, seed: int = 0) -> nn.Module:
    """One hidden layer of ``width`` units: ``"tanh"`` = tanh(W x + b) of the 32-D inputs
    (structured: about 32 effective dims), ``"full"`` = W x with x padded by isotropic noise to
    ``width`` dims (a flat spectrum, the hard case for any reduction)."""
    torch.manual_seed(seed)
    if kind == "tanh":
        return nn.Sequential(nn.Linear(32, width), nn.Tanh())

    class Full(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Linear(32, width)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            noise = torch.randn(x.shape[0], width, generator=torch.Generator().manual_seed(seed + 1))
            return self.proj(x) + noise

    return nn.Sequential(Full())


def time_measure(width: int, n: int, reduction: tuple[str, int] | None, kind: str, repeats: int) -> tuple[float, float]:
    """Median seconds of ``measure()`` (default measures, one layer) after a warm-up call (which
    clusters the inputs once), and the DSE it records."""
    from infotorch.monitor import InformationMonitor

    x, y = mixture_inputs(n)
    model = layer_model(width, kind)
    opts: dict = {} if reduction is None else {"projection": reduction[0], "width": reduction[1]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the binned baseline's saturation warning
        mon = InformationMonitor(model, {"h": "0" if kind == "full" else "1"}, **opts)
        row = mon.measure(x, y, epoch=0)[0]
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            mon.measure(x, y, epoch=1)
            times.append(time.perf_counter() - t0)
    return statistics.median(times), float(row["dse"])


def scale_table(repeats: int) -> None:
    print(
        f"\n| N | D | measure() s | + PCA {REDUCED} s | + random {REDUCED} s | DSE | DSE PCA {REDUCED} | "
        f"DSE random {REDUCED} |\n|---|---|---|---|---|---|---|---|"
    )
    for n in SCALE_PROBES:
        for d in SCALE_WIDTHS:
            cells = [time_measure(d, n, r, "tanh", repeats) for r in (None, ("pca", REDUCED), ("random", REDUCED))]
            times = " | ".join(f"{t:.3f}" for t, _ in cells)
            dses = " | ".join(f"{v:.3f}" for _, v in cells)
            print(f"| {n} | {d} | {times} | {dses} |", flush=True)


def dse_effect_table(n: int = 1000, seeds: int = 5) -> None:
    """DSE with and without reduction on both kinds of layer, several target widths: the change
    of DSE (bits) with PCA, and its mean and standard deviation over ``seeds`` random projections."""
    from infotorch.measures import MeasureContext, get_measure
    from infotorch.monitor import InformationMonitor, reduce_width

    targets = (16, 64, 256)
    head = " | ".join(f"PCA {w} | random {w}" for w in targets)
    print(f"\n| layer (N = {n}) | D | DSE | {head} |\n|---|---|---|" + "---|" * (2 * len(targets)))
    x, _ = mixture_inputs(n)
    dse = get_measure("dse")

    def value(z: torch.Tensor) -> float:
        return dse.compute(MeasureContext(z, kernel_dtype=torch.float64))

    for kind in ("tanh", "full"):
        for d in (256, 1024, 2048):
            model = layer_model(d, kind)
            z = next(iter(InformationMonitor(model, ["0" if kind == "full" else "1"]).embeddings(x).values()))
            base = value(z)
            cells = []
            for w in targets:
                cells.append(f"{value(reduce_width(z, w, 'pca')) - base:+.3f}")
                shifts = [value(reduce_width(z, w, "random", seed=s)) - base for s in range(seeds)]
                spread = statistics.stdev(shifts) if len(shifts) > 1 else 0.0
                cells.append(f"{statistics.mean(shifts):+.3f} ± {spread:.3f}")
            print(f"| {kind} | {d} | {base:.3f} | {' | '.join(cells)} |", flush=True)


# ---------------------------------------------------------------------- cost against training


def timed_training(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    mon: object,
    x: torch.Tensor,
    y: torch.Tensor,
    probes: tuple[torch.Tensor, torch.Tensor],
    epochs: int,
    every: int,
) -> tuple[float, list[float]]:
    """Epochs of minibatch training (batch 64, a seeded shuffle), ``mon.measure`` on ``probes``
    after every ``every``-th epoch and the last (epoch 0: before training): seconds of training
    and of each measurement."""
    gen = torch.Generator().manual_seed(0)
    n = x.shape[0]
    train_s, monitor_s = 0.0, []
    for epoch in range(epochs + 1):
        t0 = time.perf_counter()
        if epoch > 0:
            model.train()
            order = torch.randperm(n, generator=gen)
            for start in range(0, n, 64):
                idx = order[start : start + 64]
                loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        t1 = time.perf_counter()
        if epoch % every == 0 or epoch == epochs:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                mon.measure(*probes, epoch=epoch)  # type: ignore[attr-defined]
            monitor_s.append(time.perf_counter() - t1)
        train_s += t1 - t0
    return train_s, monitor_s


def demo_cost(every: int, probe: int, measures: tuple[str, ...] | None, epochs: int = 30) -> tuple[float, list[float]]:
    """The demo's schedule (``infotorch demo``: 30 epochs of Adam on 1300 digits, batch 64, two
    runs, the monitor on both hidden layers every epoch, 600 probes): seconds of training and of
    each ``measure()`` with the given cadence, probes and measures."""
    from infotorch.demo import LAYERS, load_digits_tensors, make_mlp
    from infotorch.monitor import MEASURES, InformationMonitor

    x, y = load_digits_tensors()
    perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(0))
    x, y = x[perm][:1300], y[perm][:1300]
    train_s, monitor_s = 0.0, []
    for run in range(2):
        labels = y if run == 0 else y[torch.randperm(1300, generator=torch.Generator().manual_seed(1))]
        model = make_mlp(0)
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        mon = InformationMonitor(model, LAYERS, measures=measures or MEASURES)
        t, m = timed_training(model, opt, mon, x, labels, (x[:probe], labels[:probe]), epochs, every)
        train_s += t
        monitor_s += m
    return train_s, monitor_s


class SmallCNN(nn.Module):
    """Two conv layers on 28 x 28 images: conv(1->16) relu pool, conv(16->32) relu pool, linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.pool2 = nn.MaxPool2d(2)
        self.head = nn.Linear(32 * 7 * 7, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.pool1(torch.relu(self.conv1(x)))
        h = self.pool2(torch.relu(self.conv2(h)))
        return self.head(h.flatten(1))


def synthetic_images(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """10 classes of 28 x 28 images: a class template (smooth random blobs) plus pixel noise."""
    g = torch.Generator().manual_seed(seed)
    templates = nn.functional.avg_pool2d(torch.randn(10, 1, 28, 28, generator=g), 5, 1, 2)
    y = torch.randint(0, 10, (n,), generator=g)
    return templates[y] + 1.5 * torch.randn(n, 1, 28, 28, generator=g), y


def cnn_cost(
    every: int, probe: int, epochs: int, reduce: tuple[str, int] | None, n_train: int = 6000
) -> tuple[float, list[float], float]:
    """Seconds of training the small CNN (batch 64, SGD with momentum) and of ``measure()`` (both
    pooled conv maps, flattened: 3136 and 1568 features; default measures) one by one, and the
    final accuracy on held-out images."""
    from infotorch.monitor import InformationMonitor

    x, y = synthetic_images(n_train + 1000)
    x_tr, y_tr, x_te, y_te = x[:n_train], y[:n_train], x[n_train:], y[n_train:]
    torch.manual_seed(0)
    model = SmallCNN()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    opts: dict = {} if reduce is None else {"projection": reduce[0], "width": reduce[1]}
    mon = InformationMonitor(model, ["pool1", "pool2"], **opts)
    train_s, monitor_s = timed_training(model, opt, mon, x_tr, y_tr, (x_te[:probe], y_te[:probe]), epochs, every)
    with torch.no_grad():
        model.eval()
        acc = float((model(x_te).argmax(1) == y_te).float().mean())
    return train_s, monitor_s, acc


def cost_table(cnn_epochs: int, n_train: int) -> None:
    print(
        "\n| schedule | measurements | training s | monitor s | first measurement s | later ones s (median) "
        "| monitor / training |\n|---|---|---|---|---|---|---|"
    )

    def line(label: str, train_s: float, times: list[float]) -> None:
        mo = sum(times)
        print(
            f"| {label} | {len(times)} | {train_s:.2f} | {mo:.2f} | {times[0]:.3f} | "
            f"{statistics.median(times[1:]):.3f} | {100 * mo / train_s:.0f} % |",
            flush=True,
        )

    for label, every, probe, measures in (
        ("demo default: every epoch, 600 probes, default measures", 1, 600, None),
        ("demo, every 10 epochs", 10, 600, None),
        ("demo, every 10 epochs, 300 probes, DSE + DSMI(Z;Y)", 10, 300, ("dse", "dsmi_zy")),
        ("demo, first and last epoch only, 300 probes, DSE + DSMI(Z;Y)", 30, 300, ("dse", "dsmi_zy")),
    ):
        line(label, *demo_cost(every, probe, measures))
    for label, every, reduce in (
        ("every epoch", 1, None),
        (f"every epoch, random {REDUCED}", 1, ("random", REDUCED)),
        (f"every epoch, PCA {REDUCED}", 1, ("pca", REDUCED)),
        ("every 2 epochs", 2, None),
        (f"every 2 epochs, random {REDUCED}", 2, ("random", REDUCED)),
        (f"every 5 epochs, random {REDUCED}", 5, ("random", REDUCED)),
    ):
        tr, times, acc = cnn_cost(every, 500, cnn_epochs, reduce, n_train)
        line(f"CNN, {cnn_epochs} epochs of {n_train} images, 500 probes, {label} (test acc {acc:.2f})", tr, times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", default=None, help="a checkout of the earlier commit (its src/ is used)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--sections", default="overhead", help="comma-separated: overhead, scale, effect, cost")
    ap.add_argument("--cnn-epochs", type=int, default=5)
    ap.add_argument("--cnn-train", type=int, default=6000, help="training images per CNN epoch")
    args = ap.parse_args()
    sections = set(args.sections.split(","))
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, threads {args.threads}")
    if "overhead" in sections:
        print("\n| training step (MLP 64-256-256-10, batch 128) | µs per step (median) |\n|---|---|")
        for k, val in step_overhead(args.repeats).items():
            print(f"| {k} | {val:.0f} |")
    if "scale" in sections:
        scale_table(args.repeats)
    if "effect" in sections:
        dse_effect_table()
    if "cost" in sections:
        cost_table(args.cnn_epochs, args.cnn_train)
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
