"""Interpolated density entropy, forward+backward in float32 on CPU: infotorch's custom autograd
Function against (a) a per-row, per-point Python loop of the spec (the seed's style, autograd
backward), (b) plain autograd of a vectorized forward, (c) torch.sort alone (the floor). With
--bias: the estimator's bias against the true entropy for window m = 1..16 (one-sided m-spacings)
next to scipy.stats.differential_entropy, on N(0,1), Uniform(0,1), Exp(1) samples.

    python benchmarks/bench_interpolated.py [--repeat 5]
    python benchmarks/bench_interpolated.py --bias [--n 1024] [--reps 20]
    python benchmarks/bench_interpolated.py --vs-scipy [--repeat 7] [--threads 1] [--before OLD.py]

--vs-scipy: the 1-D speed table of BENCHMARKS.md. torch.sort (forward), the sort
infotorch uses on the CPU (NumPy's vectorized argsort and a gather, forward),
scipy.stats.differential_entropy on torch tensors (SCIPY_ARRAY_API=1, autograd through it) and
infotorch at window 1, 8, 16, float32 forward+backward, interleaved in one process (median), and
the RMSE of each against the true N(0,1) entropy. ``--before OLD.py`` also times an older copy of
src/infotorch/interpolated.py (e.g. ``git show HEAD:src/infotorch/interpolated.py > OLD.py``).
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import time
from collections.abc import Callable

import torch

import infotorch as it


def per_row_loop(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """The spec's definition in its reference style: Python loops over rows and points."""
    out = []
    for row in x:
        s, _ = torch.sort(row)
        n = s.shape[0]
        d = [s[i + 1] - s[i] + eps for i in range(n - 1)]
        w = [1 / d[0]] + [0.5 * (1 / d[i - 1] + 1 / d[i]) for i in range(1, n - 1)] + [1 / d[-1]]
        z = sum((w[i] + w[i + 1]) * (s[i + 1] - s[i]) / 2 for i in range(n - 1))
        h = 0.0
        for i in range(n - 1):
            a, b = w[i] / z, w[i + 1] / z
            delta = s[i + 1] - s[i]
            if abs(float((b - a).detach())) < 1e-10:
                h = h - delta * a * torch.log(a)
            else:
                h = h - delta * (b * b * (torch.log(b) - 0.5) - a * a * (torch.log(a) - 0.5)) / (2 * (b - a))
        out.append(h)
    return torch.stack(out).unsqueeze(-1)


def vectorized_autograd(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    s, _ = torch.sort(x, -1)
    d = s[..., 1:] - s[..., :-1]
    inv = 1 / (d + eps)
    w = torch.cat([inv[..., :1], 0.5 * (inv[..., :-1] + inv[..., 1:]), inv[..., -1:]], -1)
    z = (d * (w[..., :-1] + w[..., 1:]) / 2).sum(-1, keepdim=True)
    p = w / z
    a, b = p[..., :-1], p[..., 1:]
    phi = lambda t: t * t * (torch.log(t) - 0.5)
    diff = b - a
    near = diff.abs() < 1e-10
    safe = torch.where(near, torch.ones_like(diff), diff)
    g = torch.where(near, a * torch.log(a), (phi(b) - phi(a)) / (2 * safe))
    return -(d * g).sum(-1, keepdim=True)


def own_forward_autograd(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """infotorch's own vectorized forward (series branch included), differentiated by plain autograd."""
    from infotorch.interpolated import _forward_core

    s, _ = torch.sort(x, -1)
    e = torch.full((x.shape[0], 1), eps, dtype=x.dtype)
    return _forward_core(s, e, 1, need_grad=False)[0]


def fwd_bwd(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> Callable[[], None]:
    def run() -> None:
        xx = x.detach().requires_grad_(True)
        fn(xx).sum().backward()

    return run


def timeit(fn: Callable[[], object], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def speed(repeat: int) -> None:
    print(
        f"machine: {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}; float32, "
        f"forward+backward, median of {repeat}"
    )
    print(
        "| (B, n) | torch.sort s | infotorch s | infotorch / sort | autograd of the same forward s | / infotorch "
        "| simpler vectorized autograd s | / sort | per-row loop s | loop / infotorch |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for b, n in ((32, 256), (256, 1024), (64, 16384)):
        x = torch.randn(b, n, generator=torch.Generator().manual_seed(0))
        t_sort = timeit(lambda: torch.sort(x, -1), repeat)
        t_ours = timeit(fwd_bwd(lambda t: it.interpolated_density_entropy(t), x), repeat)
        t_auto = timeit(fwd_bwd(vectorized_autograd, x), repeat)
        t_own = timeit(fwd_bwd(own_forward_autograd, x), repeat)
        if (b, n) == (32, 256):
            t_loop = timeit(fwd_bwd(per_row_loop, x), 1)
            loop = f"{t_loop:.3f} | {t_loop / t_ours:.0f}"
        else:
            loop = "not run (minutes) | -"
        print(
            f"| ({b}, {n}) | {t_sort:.5f} | {t_ours:.5f} | {t_ours / t_sort:.2f} | {t_own:.5f} | {t_own / t_ours:.2f} "
            f"| {t_auto:.5f} | {t_auto / t_sort:.2f} | {loop} |",
            flush=True,
        )


def bias(n: int, reps: int) -> None:
    import scipy.stats

    dists = {
        "N(0,1)": (
            lambda g: torch.randn(reps, n, generator=g, dtype=torch.float64),
            0.5 * math.log(2 * math.pi * math.e),
        ),
        "Uniform(0,1)": (lambda g: torch.rand(reps, n, generator=g, dtype=torch.float64), 0.0),
        "Exp(1)": (lambda g: -torch.log(torch.rand(reps, n, generator=g, dtype=torch.float64)), 1.0),
    }
    print(f"n = {n}, {reps} samples each; mean (sd) of the estimate minus the true entropy, nats")
    windows = (1, 2, 4, 8, 16)
    print("| distribution | true H | " + " | ".join(f"window {m}" for m in windows) + " | scipy differential_entropy |")
    print("|---|---|" + "---|" * (len(windows) + 1))
    for name, (draw, truth) in dists.items():
        x = draw(torch.Generator().manual_seed(0))
        cells = []
        for m in windows:
            h = it.interpolated_density_entropy(x, window=m, keepdim=False) - truth
            cells.append(f"{float(h.mean()):+.3f} ({float(h.std()):.3f})")
        ref = torch.as_tensor(scipy.stats.differential_entropy(x.numpy(), axis=-1)) - truth
        cells.append(f"{float(ref.mean()):+.3f} ({float(ref.std()):.3f})")
        print(f"| {name} | {truth:.3f} | " + " | ".join(cells) + " |", flush=True)


SIZES = ((32, 256), (256, 1024), (1024, 1024), (64, 16384), (8, 262144))
WINDOWS = (1, 8, 16)


def _load_before(path: str) -> Callable[..., torch.Tensor]:
    """An older copy of interpolated.py, loaded as a module of the installed package."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("infotorch._interpolated_before", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.interpolated_density_entropy  # type: ignore[no-any-return]


def vs_scipy(repeat: int, before: str | None) -> None:
    import os

    os.environ.setdefault("SCIPY_ARRAY_API", "1")
    import warnings

    import scipy.stats

    warnings.filterwarnings("ignore", message="torch.asarray")
    probe = torch.randn(2, 64, requires_grad=True)
    h_probe = scipy.stats.differential_entropy(probe, axis=-1)
    assert isinstance(h_probe, torch.Tensor) and h_probe.requires_grad, "scipy does not run on torch tensors here"
    old = _load_before(before) if before else None
    print(
        f"machine: {platform.machine()}, {torch.get_num_threads()} thread(s), torch {torch.__version__}, "
        f"scipy {scipy.__version__}; float32, forward+backward, median of {repeat} interleaved runs, ms"
    )
    from infotorch.interpolated import _sort_rows

    cols = ["torch.sort", "our sort", "scipy (torch)"] + [f"window={m}" for m in WINDOWS]
    if old is not None:
        cols += [f"before window={m}" for m in WINDOWS]
    print("| (B, n) | " + " | ".join(cols) + " | best infotorch / sort | worst window / scipy |")
    print("|---|" + "---|" * (len(cols) + 2))
    for b, n in SIZES:
        x = torch.randn(b, n, generator=torch.Generator().manual_seed(0))
        fns: dict[str, Callable[[], object]] = {
            "torch.sort": lambda: torch.sort(x, -1),
            "our sort": lambda: _sort_rows(x),  # what infotorch's forward sorts with on the CPU
            "scipy (torch)": fwd_bwd(lambda t: scipy.stats.differential_entropy(t, axis=-1), x),
        }
        for m in WINDOWS:
            fns[f"window={m}"] = fwd_bwd(lambda t, m=m: it.interpolated_density_entropy(t, window=m), x)
        if old is not None:
            for m in WINDOWS:
                fns[f"before window={m}"] = fwd_bwd(lambda t, m=m: old(t, window=m), x)
        times: dict[str, list[float]] = {k: [] for k in fns}
        for f in fns.values():
            f()
        for _ in range(repeat):
            for k, f in fns.items():
                t0 = time.perf_counter()
                f()
                times[k].append(time.perf_counter() - t0)
        med = {k: 1e3 * statistics.median(v) for k, v in times.items()}
        ours = [med[f"window={m}"] for m in WINDOWS]
        print(
            f"| ({b}, {n}) | "
            + " | ".join(f"{med[k]:.1f}" for k in cols)
            + f" | {min(ours) / med['torch.sort']:.2f} | {max(ours) / med['scipy (torch)']:.2f} |",
            flush=True,
        )
    truth = 0.5 * math.log(2 * math.pi * math.e)
    print("\nRMSE against the true N(0,1) entropy (1.4189 nats), float32, 20 rows per size")
    print("| n | scipy (torch) | " + " | ".join(f"window={m}" for m in WINDOWS) + " |")
    print("|---|" + "---|" * (len(WINDOWS) + 1))
    for n in sorted({n for _, n in SIZES}):
        x = torch.randn(20, n, generator=torch.Generator().manual_seed(1))
        cells = [scipy.stats.differential_entropy(x, axis=-1)]
        cells += [it.interpolated_density_entropy(x, window=m, keepdim=False) for m in WINDOWS]
        rmse = [float(((c.double() - truth) ** 2).mean().sqrt()) for c in cells]
        print(f"| {n} | " + " | ".join(f"{r:.4f}" for r in rmse) + " |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--bias", action="store_true")
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--vs-scipy", action="store_true")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave it)")
    ap.add_argument("--before", default=None, help="an older interpolated.py to time beside (--vs-scipy)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.vs_scipy:
        vs_scipy(args.repeat, args.before)
    elif args.bias:
        bias(args.n, args.reps)
    else:
        speed(args.repeat)


if __name__ == "__main__":
    main()
