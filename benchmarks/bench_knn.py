"""kNN estimators: accuracy on Beyond-Normal tasks, speed against scikit-learn and a scipy cKDTree
KSG, peak memory, and the bias tables quoted in the docstrings. Never part of the tests.

    python benchmarks/bench_knn.py accuracy [--n 5000] [--seeds 2]
    python benchmarks/bench_knn.py speed [--sizes 10000 100000] [--dims 1 10] [--repeat 3]
        [--runs auto kdtree faiss brute ckdtree sklearn] [--max-seconds 600] [--threads 2]
    python benchmarks/bench_knn.py memory [--n 100000]
    python benchmarks/bench_knn.py bias [--seeds 10]

Speed runs every configuration (our backends, the scipy cKDTree KSG, scikit-learn at 1 + 1) in
a fresh subprocess, interleaved over repeats: wall time of the estimate (median), killed and
reported as "> limit" past ``--max-seconds``, and peak memory (ru_maxrss of that process: total
and growth during the estimate). Ratio = fastest peer / ours (> 1: infotorch is faster).
Memory runs each configuration in its own subprocess (ru_maxrss growth). Everything is float64
on CPU.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from scipy.spatial import cKDTree
from scipy.special import digamma

sys.path.insert(0, str(Path(__file__).parent))
from beyond_normal import TASKS

import infotorch.knn as knn


def ckdtree_ksg(x: np.ndarray, y: np.ndarray, k: int = 3, workers: int = -1) -> float:
    """The KSG estimator (variant 1, max-norm) as users write it with scipy: one tree per space."""
    n = len(x)
    xy = np.hstack([x, y])
    d, _ = cKDTree(xy).query(xy, k=k + 1, p=np.inf, workers=workers)
    r = np.nextafter(d[:, -1], 0)
    nx = cKDTree(x).query_ball_point(x, r, p=np.inf, return_length=True, workers=workers) - 1
    ny = cKDTree(y).query_ball_point(y, r, p=np.inf, return_length=True, workers=workers) - 1
    return float(digamma(k) + digamma(n) - np.mean(digamma(nx + 1) + digamma(ny + 1)))


def standardize(a: np.ndarray) -> np.ndarray:
    return (a - a.mean(0)) / a.std(0)


def machine(threads: int | None = None) -> str:
    import scipy
    import sklearn

    try:
        import faiss

        extra = f", faiss {faiss.__version__}"
    except ImportError:
        extra = ", no faiss"
    return (
        f"{platform.machine()}, {os.cpu_count()} CPUs ({threads or torch.get_num_threads()} torch threads), "
        f"torch {torch.__version__}, Python {platform.python_version()}, scipy {scipy.__version__}, "
        f"scikit-learn {sklearn.__version__}{extra}"
    )


# --------------------------------------------------------------------------- accuracy


def accuracy(n: int, seeds: int) -> None:
    from sklearn.feature_selection import mutual_info_regression

    estimators = {
        "ksg": lambda x, y: knn.ksg_mutual_information(x, y),
        "ksg euclid": lambda x, y: knn.ksg_mutual_information(x, y, metric="euclidean"),
        "ksg2": lambda x, y: knn.ksg_mutual_information(x, y, variant=2),
        "copula": lambda x, y: knn.gaussian_copula_mutual_information(x, y),
        "auto": lambda x, y: knn.mutual_information_continuous(x, y),
    }
    print(f"N = {n}, mean of {seeds} seed(s); within = |est - truth| <= max(0.1, 0.1 truth)")
    print("| task | truth | " + " | ".join(estimators) + " | scipy cKDTree KSG | sklearn KSG (1x1) |")
    print("|---|---" + "|---" * (len(estimators) + 2) + "|")
    hits = dict.fromkeys([*estimators, "ckdtree", "sklearn"], 0)
    for task in TASKS:
        truth = task.truth
        vals: dict[str, list[float]] = {name: [] for name in hits}
        for seed in range(seeds):
            x, y = task.sample(n, seed)
            xt, yt = torch.from_numpy(x), torch.from_numpy(y)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # KSG at 25 x 25 warns, as it should
                for name, f in estimators.items():
                    vals[name].append(float(f(xt, yt)))
            vals["ckdtree"].append(ckdtree_ksg(standardize(x), standardize(y)))
            if task.dx == task.dy == 1:
                vals["sklearn"].append(float(mutual_info_regression(x, y[:, 0], random_state=seed)[0]))
        cells = []
        for name in hits:
            if not vals[name]:
                cells.append("-")
                continue
            est = statistics.mean(vals[name])
            ok = abs(est - truth) <= max(0.1, 0.1 * truth)
            hits[name] += ok
            cells.append(f"{est:.3f}{'' if ok else ' ✗'}")
        print(f"| {task.name} | {truth:.3f} | " + " | ".join(cells) + " |")
    print("| **within, of 10** | | " + " | ".join(str(hits[name]) for name in hits) + " |")
    print("(sklearn: of the 3 tasks that are 1x1)")


# --------------------------------------------------------------------------- speed

OURS = ("auto", "kdtree", "faiss", "brute")
PEERS = ("ckdtree", "sklearn")


def speed_data(n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d))
    return x, 0.6 * x + 0.8 * rng.standard_normal((n, d))


def speed_worker(n: int, d: int, what: str, threads: int) -> None:
    """One configuration in a fresh process: print "ready" after the setup, then one JSON line.

    Peak memory is this process's ru_maxrss (resident set, all allocators, torch's included),
    in total and as growth over the peak reached before the timed call.
    """
    torch.set_num_threads(threads)
    x, y = speed_data(n, d)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    xs, ys = standardize(x), standardize(y)
    warnings.simplefilter("ignore", UserWarning)  # 10 + 10 is the warned-about regime
    if what == "ckdtree":
        run = lambda a, b, *_: ckdtree_ksg(a, b)
        args = (xs, ys)
    elif what == "sklearn":  # imported only here: its thread pools would share the machine with ours
        from sklearn.feature_selection import mutual_info_regression

        run = lambda a, b, *_: float(mutual_info_regression(a, b[:, 0], random_state=0)[0])
        args = (x, y)
    else:
        run = lambda a, b, backend: float(knn.ksg_mutual_information(a, b, backend=backend))
        args = (xt, yt)
    small = tuple(a[:300] for a in args)
    run(*small, what)  # loads scipy / faiss / sklearn and warms the thread pools, outside the timing
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("ready", flush=True)
    t0 = time.perf_counter()
    value = run(*args, what)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "value": value, "peak_mib": peak / 1024, "growth_mib": (peak - base) / 1024}))


def speed_run(n: int, d: int, what: str, threads: int, max_seconds: float) -> dict | None:
    """Run one configuration; ``None`` when it ran past ``max_seconds`` (it is killed)."""
    cmd = [sys.executable, __file__, "_speed_worker", str(n), str(d), what, str(threads)]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != "ready":
            proc.wait()
            raise RuntimeError(f"{what} at N={n}, d={d} failed during setup (exit {proc.returncode})")
        try:
            proc.wait(timeout=max_seconds)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None
        if proc.returncode != 0:
            raise RuntimeError(f"{what} at N={n}, d={d} failed (exit {proc.returncode})")
        return json.loads(proc.stdout.read().strip().splitlines()[-1])


def speed(
    sizes: list[int], repeat: int | None, dims: list[int], whats: list[str], threads: int, max_seconds: float
) -> None:
    """Each configuration in its own process (time limit, peak memory), interleaved over repeats."""
    print(machine(threads))
    print(f"KSG variant 1, max-norm, k = 3; time limit {max_seconds:.0f} s per run; ratio = fastest peer / this")
    print("| N | d | what | s | peak RSS MiB | growth MiB | estimate | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for n in sizes:
        for d in dims:
            todo = [w for w in whats if w != "sklearn" or d == 1]
            reps = repeat if repeat is not None else (3 if n <= 10_000 else 1)
            runs: dict[str, list[dict | None]] = {w: [] for w in todo}
            for _ in range(reps):
                for w in todo:
                    runs[w].append(speed_run(n, d, w, threads, max_seconds))
            med: dict[str, float] = {}
            for w, rs in runs.items():
                if all(r is not None for r in rs):
                    med[w] = statistics.median(r["seconds"] for r in rs if r is not None)
            peer = min((med[w] for w in PEERS if w in med), default=math.nan)
            for w, rs in runs.items():
                done = [r for r in rs if r is not None]
                label = w if w in PEERS else f"infotorch {w}"
                if w not in med:
                    print(f"| {n} | {d}+{d} | {label} | > {max_seconds:.0f} (limit) | | | | |", flush=True)
                    continue
                r = done[-1]
                ratio = "" if w in PEERS else f"{peer / med[w]:.2f}"
                print(
                    f"| {n} | {d}+{d} | {label} | {med[w]:.3f} | {r['peak_mib']:.0f} | {r['growth_mib']:.0f} | "
                    f"{r['value']:.6f} | {ratio} |",
                    flush=True,
                )


# --------------------------------------------------------------------------- memory


def memory_worker(n: int, d: int, fn: str) -> None:
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((n, d)))
    y = x + torch.from_numpy(rng.standard_normal((n, d)))
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    if fn == "ksg":
        value = float(knn.ksg_mutual_information(x, y))
    elif fn == "ksg_brute":
        value = float(knn.ksg_mutual_information(x, y, backend="brute"))
    else:
        value = float(knn.knn_entropy(x))
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
    print(json.dumps({"peak_mib": peak, "seconds": time.perf_counter() - t0, "value": value}))


def memory(n: int, configs: list[str]) -> None:
    print("| function | N | d | backend | peak growth MiB | s |")
    print("|---|---|---|---|---|---|")
    for cfg in configs:
        fn, d = cfg.split(":")
        out = subprocess.run(
            [sys.executable, __file__, "_memory_worker", str(n), d, fn], capture_output=True, text=True, check=True
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        backend = "brute" if fn.endswith("brute") else "auto (kdtree)"
        dims = d if fn == "entropy" else f"{d}+{d}"
        print(
            f"| {fn.split('_')[0]} | {n} | {dims} | {backend} | {r['peak_mib']:.0f} | {r['seconds']:.1f} |", flush=True
        )


# --------------------------------------------------------------------------- bias tables


def bias(seeds: int) -> None:
    def mean_over(f, s=seeds):
        return statistics.mean(f(seed) for seed in range(s))

    def g(seed):
        return torch.Generator().manual_seed(seed)

    print("knn_entropy bias, N(0, I_D), k = 3, Euclidean")
    for d in (1, 5, 10):
        row = []
        for n in (500, 2000, 10000):
            truth = 0.5 * d * math.log(2 * math.pi * math.e)
            row.append(
                mean_over(
                    lambda s: float(knn.knn_entropy(torch.randn(n, d, generator=g(s), dtype=torch.float64))) - truth
                )
            )
        print(d, " ".join(f"{b:+.3f}" for b in row), flush=True)
    print("knn_kl_divergence bias, N(0, I) vs N(0.5, I), k = 1")
    for d in (1, 5):
        row = []
        for n in (1000, 10000):
            truth = d * 0.125

            def one(s):
                gg = g(s)
                a = torch.randn(n, d, generator=gg, dtype=torch.float64)
                b = 0.5 + torch.randn(n, d, generator=gg, dtype=torch.float64)
                return float(knn.knn_kl_divergence(a, b)) - truth

            row.append(mean_over(one))
        print(d, f"truth {d * 0.125:.3f}", " ".join(f"{b:+.3f}" for b in row), flush=True)
    print("KSG / copula on correlated Gaussians (rho per coordinate pair), k = 3")
    for d, n, rho, s in ((1, 2000, 0.6, seeds), (5, 2000, 0.6, seeds), (10, 10000, 0.5, max(2, seeds // 3))):
        truth = -0.5 * d * math.log(1 - rho**2)

        def pair(seed):
            gg = g(seed)
            a = torch.randn(n, d, generator=gg, dtype=torch.float64)
            return a, rho * a + math.sqrt(1 - rho**2) * torch.randn(n, d, generator=gg, dtype=torch.float64)

        cols = {
            "max": lambda a, b: knn.ksg_mutual_information(a, b),
            "euclid": lambda a, b: knn.ksg_mutual_information(a, b, metric="euclidean"),
            "copula": lambda a, b: knn.gaussian_copula_mutual_information(a, b),
        }
        out = {name: mean_over(lambda seed: float(f(*pair(seed))), s) for name, f in cols.items()}
        print(f"{d}x{d} N={n} truth {truth:.3f}", {k: round(v, 3) for k, v in out.items()}, flush=True)
    print("auto at independence, 1x1, N = 2000")
    print(
        mean_over(
            lambda s: float(
                knn.mutual_information_continuous(
                    torch.randn(2000, 1, generator=g(s), dtype=torch.float64),
                    torch.randn(2000, 1, generator=g(s + 99), dtype=torch.float64),
                )
            )
        )
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_memory_worker":
        memory_worker(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_speed_worker":
        speed_worker(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5]))
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["accuracy", "speed", "memory", "bias"])
    p.add_argument("--n", type=int, default=None)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    p.add_argument("--dims", type=int, nargs="+", default=[1, 10])
    p.add_argument("--repeat", type=int, default=None, help="runs per configuration (3 up to N = 10^4, then 1)")
    p.add_argument("--configs", nargs="+", default=["ksg:1", "ksg:10", "entropy:10"])
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads for this run")
    p.add_argument(
        "--runs", nargs="+", default=[*OURS, *PEERS], choices=[*OURS, *PEERS], help="speed: our backends and peers"
    )
    p.add_argument("--max-seconds", type=float, default=600.0, help="speed: time limit of one run")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.what == "accuracy":
        accuracy(a.n or 5000, a.seeds)
    elif a.what == "speed":
        speed(a.sizes, a.repeat, a.dims, a.runs, a.threads or 2, a.max_seconds)
    elif a.what == "memory":
        memory(a.n or 100_000, a.configs)
    else:
        bias(a.seeds)


if __name__ == "__main__":
    main()
