"""Sub-batch mutual information of a noise layer: infotorch against a direct broadcast
implementation (the reference formula evaluated pair by pair with autograd), forward+backward in
float32 on CPU, (B, S, E) = (16, 128, 768). Each variant runs in its own subprocess so that its
peak memory (ru_maxrss growth) is its own; the ratio is reported in the parent.

    python benchmarks/bench_gaussian.py [--shape 16 128 768] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import resource
import statistics
import subprocess
import sys
import time

import torch


def naive_mi(
    mu: torch.Tensor, stds: torch.Tensor, mask: torch.Tensor, x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """The estimator written directly: (B/2, B/2, S, E) pairwise tensors, both directions."""
    b = x.shape[0] // 2
    m = (mask[:b] & mask[b:]).to(x.dtype)
    var = stds.square()
    var = var + 100.0 * torch.finfo(var.dtype).eps * var[var > 0].min().detach()
    centers = x + mu
    total = []
    for ev, comp in ((slice(0, b), slice(b, 2 * b)), (slice(b, 2 * b), slice(0, b))):
        diff = y[ev].unsqueeze(1) - centers[comp].unsqueeze(0)  # (B1, B2, S, E)
        logd = -0.5 * (diff.square() / var[comp].unsqueeze(0)).sum(-1) - 0.5 * torch.log(2 * math.pi * var[comp]).sum(
            -1
        )
        neg_log_p = -(torch.logsumexp(logd, dim=1) - math.log(b))  # (B1, S)
        cond = 0.5 * torch.log(2 * math.pi * math.e * var[ev]).sum(-1)
        total.append(neg_log_p - cond)
    per = torch.cat(total)
    mm = torch.cat([m, m])
    return (per * mm).sum() / mm.sum()


def worker(kind: str, shape: list[int], repeat: int) -> None:
    from infotorch.gaussian import mutual_information_sub_batch

    torch.manual_seed(0)
    b, s, e = shape
    x = torch.randn(b, s, e)
    mu = (0.1 * torch.randn(b, s, e)).requires_grad_(True)
    stds = (0.5 + torch.rand(b, s, e)).requires_grad_(True)
    y = x + mu.detach() + stds.detach() * torch.randn(b, s, e)
    mask = torch.ones(b, s, dtype=torch.bool)
    fn = mutual_information_sub_batch if kind == "infotorch" else naive_mi
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times, value = [], 0.0
    for _ in range(repeat + 1):
        mu.grad = stds.grad = None
        t0 = time.perf_counter()
        out = fn(mu, stds, mask, x, y)
        out.backward()
        times.append(time.perf_counter() - t0)
        value = float(out)
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024  # MiB
    print(json.dumps({"seconds": statistics.median(times[1:]), "value": value, "peak_mib": peak}))


def bias_table() -> None:
    from infotorch.gaussian import mutual_information_sub_batch

    print("| B (components M = B/2) | E | upper | lower | true | bias of the estimate |")
    print("|---|---|---|---|---|---|")
    for b in (16, 32, 64, 256, 512):
        for e in (1, 4, 16):
            g = torch.Generator().manual_seed(0)
            x = torch.randn(b, 8, e, generator=g, dtype=torch.float64)
            stds = torch.ones(b, 8, e, dtype=torch.float64)
            y = x + stds * torch.randn(b, 8, e, generator=g, dtype=torch.float64)
            mask = torch.ones(b, 8, dtype=torch.bool)
            est, bounds = mutual_information_sub_batch(torch.zeros_like(x), stds, mask, x, y, return_bounds=True)
            true = e / 2 * math.log(2.0)
            print(
                f"| {b} ({b // 2}) | {e} | {float(est):.3f} | {float(bounds['lower']):.3f} | {true:.3f} "
                f"| {float(est) - true:+.3f} |"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--shape", type=int, nargs=3, default=[16, 128, 768])
    ap.add_argument("--batches", type=int, nargs="+", default=[16, 32, 64], help="B values to run at (S, E) of --shape")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--worker", choices=["infotorch", "naive"])
    ap.add_argument("--bias", action="store_true", help="print the estimator's bias against the Gaussian closed form")
    args = ap.parse_args()
    if args.bias:
        bias_table()
        return
    if args.worker:
        worker(args.worker, args.shape, args.repeat)
        return
    _, s, e = args.shape
    print(
        f"machine: {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}; "
        f"(S, E) = ({s}, {e}), float32, forward+backward, median of {args.repeat}"
    )
    print(
        "| B | infotorch s | naive s | speed-up | infotorch peak MiB | naive peak MiB | value infotorch | value naive |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for b in args.batches:
        res = {}
        for kind in ("infotorch", "naive"):
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--worker",
                    kind,
                    "--shape",
                    str(b),
                    str(s),
                    str(e),
                    "--repeat",
                    str(args.repeat),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            res[kind] = json.loads(out.stdout)
        i, n = res["infotorch"], res["naive"]
        print(
            f"| {b} | {i['seconds']:.4f} | {n['seconds']:.4f} | {n['seconds'] / i['seconds']:.2f} | {i['peak_mib']:.0f} "
            f"| {n['peak_mib']:.0f} | {i['value']:.4f} | {n['value']:.4f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
