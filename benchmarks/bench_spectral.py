"""Spectral measures: infotorch against dse-dsmi 1.1, in one process, on CPU.

DSE and DSMI (10 balanced classes, as in a class-balanced evaluation set) of N uniform points in D = 256 dimensions, float64 and
float32; median wall time of interleaved runs, ratio dse-dsmi / infotorch, relative difference
of the values. `--approx` instead measures the stochastic Lanczos quadrature (SLQ) estimate
against the exact DSE at N = 2000, 8000, 16000 (Gaussian blobs, sigma at the median distance).

    python benchmarks/bench_spectral.py [--sizes 500 1000 2000 4000] [--repeat 3]
    python benchmarks/bench_spectral.py --approx [--approx-sizes 2000 8000 16000]
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch

from infotorch.compat.dse_dsmi import diffusion_spectral_entropy, diffusion_spectral_mutual_information

warnings.filterwarnings("ignore")


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    # Let the BLAS thread pools of the previous call (NumPy's OpenBLAS, torch's OpenMP) stop
    # spinning first: back-to-back calls on 2 cores otherwise slow whichever side runs second.
    time.sleep(0.3)
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def compare(sizes: list[int], repeat: int) -> None:
    import dse_dsmi

    print(
        f"machine: {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
        f"numpy {np.__version__}, dse-dsmi 1.1"
    )
    print(
        "| measure | N | value (bits) | dse-dsmi s | infotorch f64 s | ratio f64 | abs diff f64 | infotorch f32 s "
        "| ratio f32 | abs diff f32 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n in sizes:
        rng = np.random.default_rng(n)
        x = rng.uniform(0, 1, (n, 256))
        y = np.uint8(rng.permutation(np.arange(n) % 10)).reshape(n, 1)  # 10 balanced classes
        cases = {
            "DSE": (
                lambda: dse_dsmi.diffusion_spectral_entropy(x),
                lambda: diffusion_spectral_entropy(x),
                lambda: diffusion_spectral_entropy(x, dtype=torch.float32),
            ),
            "DSMI": (
                lambda: dse_dsmi.diffusion_spectral_mutual_information(x, y)[0],
                lambda: diffusion_spectral_mutual_information(x, y)[0],
                lambda: diffusion_spectral_mutual_information(x, y, dtype=torch.float32)[0],
            ),
        }
        for name, (ref, ours64, ours32) in cases.items():
            ours64(), ours32()  # warm-up
            t_ref, t64, t32 = [], [], []
            for _ in range(repeat):
                a, v_ref = timed(ref)
                b, v64 = timed(ours64)
                c, v32 = timed(ours32)
                t_ref.append(a), t64.append(b), t32.append(c)
            r, s64, s32 = statistics.median(t_ref), statistics.median(t64), statistics.median(t32)
            d64 = abs(float(v64) - float(v_ref))
            d32 = abs(float(v32) - float(v_ref))
            print(
                f"| {name} | {n} | {float(v_ref):.6f} | {r:.3f} | {s64:.3f} | {r / s64:.2f} | {d64:.1e} | {s32:.3f} "
                f"| {r / s32:.2f} | {d32:.1e} |",
                flush=True,
            )


def approx(sizes: list[int]) -> None:
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print("| N | exact DSE (bits) | exact s | SLQ (80 steps x 16 probes) | SLQ s | rel error | peak RSS GiB |")
    print("|---|---|---|---|---|---|---|")
    for n in sizes:
        rng = np.random.default_rng(1)
        centers = rng.normal(size=(10, 16)) * 4
        x = centers[rng.integers(0, 10, n)] + rng.normal(size=(n, 16))
        sub = x[rng.choice(n, 500, replace=False)]
        sigma = float(np.median(np.linalg.norm(sub[:, None] - sub[None], axis=-1)))
        xt = torch.as_tensor(x)
        t_exact, exact = timed(lambda: diffusion_spectral_entropy(xt, gaussian_kernel_sigma=sigma, max_N=None))
        t_slq, slq = timed(
            lambda: diffusion_spectral_entropy(xt, gaussian_kernel_sigma=sigma, max_N=None, eigensolver="lanczos")
        )
        err = abs(float(slq) - float(exact)) / abs(float(exact))
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB (Linux)
        print(
            f"| {n} | {float(exact):.6f} | {t_exact:.1f} | {float(slq):.6f} | {t_slq:.1f} | {err:.1e} | {rss:.1f} |",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 2000, 4000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--approx", action="store_true")
    ap.add_argument("--approx-sizes", type=int, nargs="+", default=[2000, 8000, 16000])
    args = ap.parse_args()
    if args.approx:
        approx(args.approx_sizes)
    else:
        compare(args.sizes, args.repeat)


if __name__ == "__main__":
    main()
