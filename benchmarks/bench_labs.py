"""The two labs' cost per step against size, in one process: Lab 1 (interpolated entropy of n
points on a line, O(n log n)) and Lab 2 (Gram entropy of N unit vectors, O(N²) memory and time;
α = 2 through the Frobenius norm, α ≠ 2 through an O(N³) eigendecomposition).

    python benchmarks/bench_labs.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

import infotorch as it


def per_step(fn, x: torch.Tensor, repeat: int) -> float:
    def run() -> None:
        xx = x.detach().requires_grad_(True)
        fn(xx).sum().backward()

    run()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print(
        f"machine: {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}; float64, "
        f"one entropy + gradient evaluation, median of {args.repeat}"
    )
    print("| size | Lab 1 line (n points) ms | Lab 2 sphere α=2 (N points) ms | Lab 2 sphere α=1.5 ms |")
    print("|---|---|---|---|")
    g = torch.Generator().manual_seed(0)
    for size in (64, 256, 1024, 4096):
        line = torch.rand(size, generator=g, dtype=torch.float64)
        sphere = torch.randn(size, 3, generator=g, dtype=torch.float64)
        sphere = sphere / sphere.norm(dim=-1, keepdim=True)
        t_line = per_step(lambda x: it.interpolated_density_entropy(x), line, args.repeat)
        t_s2 = per_step(lambda x: it.matrix_renyi_entropy(x, alpha=2.0), sphere, args.repeat)
        t_s15 = (
            per_step(lambda x: it.matrix_renyi_entropy(x, alpha=1.5), sphere, args.repeat)
            if size <= 1024
            else float("nan")
        )
        print(f"| {size} | {t_line * 1e3:.3f} | {t_s2 * 1e3:.3f} | {t_s15 * 1e3:.3f} |", flush=True)


if __name__ == "__main__":
    main()
