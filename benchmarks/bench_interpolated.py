"""Interpolated density entropy, forward+backward in float32 on CPU: infotorch's custom autograd
Function against (a) a per-row, per-point Python loop of the spec (the seed's style, autograd
backward), (b) plain autograd of a vectorized forward, (c) torch.sort alone (the floor). With
--bias: the estimator's bias against the true entropy for window m = 1..16 (one-sided m-spacings)
next to scipy.stats.differential_entropy, on N(0,1), Uniform(0,1), Exp(1) samples.

    python benchmarks/bench_interpolated.py [--repeat 5]
    python benchmarks/bench_interpolated.py --bias [--n 1024] [--reps 20]
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--bias", action="store_true")
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--reps", type=int, default=20)
    args = ap.parse_args()
    if args.bias:
        bias(args.n, args.reps)
    else:
        speed(args.repeat)


if __name__ == "__main__":
    main()
