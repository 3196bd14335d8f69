"""Variational MI estimators on the 20-D vs 20-D Gaussian (I = 2.877 nats) beside the kNN estimators.
Never part of the tests.

    python benchmarks/bench_variational.py [--sizes 2000 10000] [--seeds 5] [--threads 1]
        [--bounds infonce smile dv nwj mine js alpha_tuba] [--big-bounds infonce dv]

rho = 0.5 in each of 20 coordinate pairs, so I = -10 log(1 - 0.25) = 2.8768 nats. Each
configuration runs once per seed (draws 0..seeds-1) with the defaults of
``infotorch.variational.estimate_mutual_information``; the table gives the mean bias, the spread
(standard deviation over seeds), and the mean CPU (process) and wall seconds per estimate. For the
variational rows the estimate is the default overfitting-corrected value; the held-out bound of
the same run (``.held_out``, the lower bound) is in its own column.
torch-mist (the peer of the issue) runs in its own environment when ``--mist-python`` names one
(``python -m venv .mist-venv && .mist-venv/bin/pip install torch==2.13.0 torch-mist``).
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import time
import warnings

import torch

import infotorch.knn as knn
from infotorch.variational import estimate_mutual_information

RHO, D = 0.5, 20
TRUTH = -0.5 * D * math.log(1 - RHO**2)


def draw(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, D, generator=g, dtype=torch.float64)
    y = RHO * x + math.sqrt(1 - RHO**2) * torch.randn(n, D, generator=g, dtype=torch.float64)
    return x, y


def timed(fn) -> tuple[float, float, float, float]:
    """(value, held-out value or NaN, CPU s, wall s)."""
    c, w = time.process_time(), time.perf_counter()
    out = fn()
    value, held = (float(out[0]), float(out[1])) if isinstance(out, tuple) else (float(out), math.nan)
    return value, held, time.process_time() - c, time.perf_counter() - w


def variational(bound: str):
    def run(x, y, s):
        r = estimate_mutual_information(x, y, bound=bound, seed=s)
        return r.estimate, r.held_out

    return run


MIST_SCRIPT = r"""
import json, sys, time, math, torch
from torch_mist import estimate_mi
torch.set_num_threads(int(sys.argv[3]))
n, seeds = int(sys.argv[1]), int(sys.argv[2])
rho, d = 0.5, 20
out = {}
for est in ("infonce", "smile"):
    rows = []
    for seed in range(seeds):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(n, d, generator=g, dtype=torch.float64)
        y = rho * x + math.sqrt(1 - rho**2) * torch.randn(n, d, generator=g, dtype=torch.float64)
        c, w = time.process_time(), time.perf_counter()
        value = estimate_mi(data=(x.float().numpy(), y.float().numpy()), estimator=est, verbose=False)
        value = value[0] if isinstance(value, tuple) else value
        rows.append((float(value), time.process_time() - c, time.perf_counter() - w))
    out[est] = rows
print(json.dumps(out))
"""


def torch_mist(python: str, n: int, seeds: int, threads: int) -> dict:
    import json
    import os
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "mist.py")
        with open(path, "w") as fh:
            fh.write(MIST_SCRIPT)
        proc = subprocess.run([python, path, str(n), str(seeds), str(threads)], capture_output=True, text=True)
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        print(f"torch-mist failed: {proc.stderr[-800:]}")
        return {}


def beyond_normal(n: int, seeds: int) -> None:
    """The tasks of benchmarks/beyond_normal.py: the variational default beside the kNN "auto"."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from beyond_normal import TASKS

    print(f"N = {n}, mean of {seeds} seed(s); ✗: |est - truth| > max(0.1, 0.1 truth)")
    print("| task | truth | variational infonce (corrected) | its held-out bound | kNN auto | CPU s (variational) |")
    print("|---|---|---|---|---|---|")
    hits = [0, 0, 0]
    for task in TASKS:
        truth = task.truth
        rows = []
        for seed in range(seeds):
            x, y = task.sample(n, seed)
            xt, yt = torch.from_numpy(x), torch.from_numpy(y)
            c = time.process_time()
            r = estimate_mutual_information(xt, yt, seed=seed)
            cpu = time.process_time() - c
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                k = float(knn.mutual_information_continuous(xt, yt))
            rows.append((float(r.estimate), float(r.held_out), k, cpu))
        cells = []
        for i in range(3):
            est = statistics.fmean(row[i] for row in rows)
            ok = abs(est - truth) <= max(0.1, 0.1 * truth)
            hits[i] += ok
            cells.append(f"{est:.3f}{'' if ok else ' ✗'}")
        cpu = statistics.fmean(row[3] for row in rows)
        print(f"| {task.name} | {truth:.3f} | " + " | ".join(cells) + f" | {cpu:.1f} |", flush=True)
    print("| **within, of 10** | | " + " | ".join(str(h) for h in hits) + " | |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--bounds", nargs="*", default=["infonce", "smile", "dv", "nwj", "mine", "js", "alpha_tuba"])
    ap.add_argument("--big-bounds", nargs="*", default=["infonce", "smile", "dv"])
    ap.add_argument("--mist-python", default=None, help="python of an environment with torch-mist")
    ap.add_argument("--beyond-normal", type=int, default=0, metavar="N", help="the Beyond-Normal tasks at N points")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.beyond_normal:
        beyond_normal(args.beyond_normal, args.seeds)
        return
    print(
        f"# {platform.machine()}, {torch.get_num_threads()} thread(s), torch {torch.__version__}; truth {TRUTH:.4f} nats"
    )
    print("| N | estimator | mean estimate | bias | spread (sd) | held-out bound (bias) | CPU s | wall s |")
    print("|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        methods: dict[str, object] = {
            f"variational {b}": variational(b) for b in (args.bounds if n <= 2000 else args.big_bounds)
        }
        methods["kNN ksg_mutual_information"] = lambda x, y, s: knn.ksg_mutual_information(x, y)
        methods["kNN mutual_information_continuous"] = lambda x, y, s: knn.mutual_information_continuous(x, y)
        for name, fn in methods.items():
            rows = []
            for seed in range(args.seeds):
                x, y = draw(n, seed)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    rows.append(timed(lambda: fn(x, y, seed)))
            est = [r[0] for r in rows]
            mean = statistics.fmean(est)
            sd = statistics.stdev(est) if len(est) > 1 else float("nan")
            held = statistics.fmean(r[1] for r in rows)
            held_txt = f"{held:.3f} ({held - TRUTH:+.3f})" if math.isfinite(held) else "—"
            cpu = statistics.fmean(r[2] for r in rows)
            wall = statistics.fmean(r[3] for r in rows)
            print(
                f"| {n} | {name} | {mean:.3f} | {mean - TRUTH:+.3f} | {sd:.3f} | {held_txt} | {cpu:.1f} | {wall:.1f} |",
                flush=True,
            )
        if args.mist_python:
            for est, rows in torch_mist(args.mist_python, n, args.seeds, args.threads).items():
                vals = [r[0] for r in rows]
                mean = statistics.fmean(vals)
                sd = statistics.stdev(vals) if len(vals) > 1 else float("nan")
                cpu = statistics.fmean(r[1] for r in rows)
                wall = statistics.fmean(r[2] for r in rows)
                print(
                    f"| {n} | torch-mist {est} | {mean:.3f} | {mean - TRUTH:+.3f} | {sd:.3f} | — | {cpu:.1f} | {wall:.1f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
