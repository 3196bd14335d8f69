"""SoftmaxAssignmentSparsityPenalty: closed-form operators against torch.func, one process per
measurement (so that peak memory, the growth of the process's max RSS, is its own).

* hvp at N = 4096 rows, K = 512, float32 and float64, against a forward-over-reverse HVP of the
  value (torch.func.jvp of torch.func.grad);
* the batched dense Hessian (N, K, K) against torch.func.vmap(torch.func.hessian) per row, at
  N = 256 rows (the (N, K, K) output alone is N·K²·8 bytes);
* the Gershgorin majorizer diagonal (O(N·K log K)) against the abs row sums of the dense Hessian.

    python benchmarks/bench_penalties.py [--rows 4096] [--k 512] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time

import torch
from torch.func import grad, hessian, jvp, vmap


def entropy_value(z: torch.Tensor, tau: float) -> torch.Tensor:
    a = torch.softmax(z / tau, -1)
    return -(a * torch.log_softmax(z / tau, -1)).sum()


def worker(task: str, side: str, rows: int, k: int, dtype: str, repeat: int) -> None:
    from infotorch.penalties import SoftmaxAssignmentSparsityPenalty

    dt = getattr(torch, dtype)
    g = torch.Generator().manual_seed(0)
    z = (torch.randn(rows, k, generator=g, dtype=torch.float64) * 2).to(dt)
    vec = torch.randn(rows, k, generator=g, dtype=torch.float64).to(dt)
    tau = 0.7
    pen = SoftmaxAssignmentSparsityPenalty(k, tau)
    rho = torch.zeros(1, dtype=torch.float64)
    if task == "hvp":
        fn = (
            (lambda: pen.hvp(z, rho, vec))
            if side == "infotorch"
            else (lambda: jvp(grad(lambda t: entropy_value(t, tau)), (z,), (vec,))[1])
        )
    elif task == "dense":
        scale = 1.0 / tau**2
        fn = (
            (lambda: pen.row_dense_hessian(z, scale))
            if side == "infotorch"
            else (lambda: vmap(hessian(lambda t: entropy_value(t, tau)))(z))
        )
    else:  # majorizer diagonal
        fn = (
            (lambda: pen.psd_majorizer_abs_row_sums(z, 1.0))
            if side == "infotorch"
            else (lambda: pen.row_dense_hessian(z, 1.0).abs().sum(-1))
        )
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
    torch.save(out.to(torch.float64), f"/tmp/_bench_pen_{task}_{side}_{dtype}.pt")
    print(json.dumps({"seconds": statistics.median(times), "peak_mib": peak}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=4096)
    ap.add_argument("--dense-rows", type=int, default=256)
    ap.add_argument("--k", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--worker", nargs=3, metavar=("TASK", "SIDE", "DTYPE"))
    args = ap.parse_args()
    if args.worker:
        task, side, dtype = args.worker
        rows = args.dense_rows if task in ("dense", "major") else args.rows
        worker(task, side, rows, args.k, dtype, args.repeat)
        return
    print(
        f"machine: {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}; "
        f"K = {args.k}, median of {args.repeat}"
    )
    print(
        "| operator | rows | dtype | infotorch s | peer | peer s | speed-up | infotorch MiB | peer MiB | max rel diff |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    peers = {"hvp": "torch.func jvp(grad)", "dense": "vmap(torch.func.hessian)", "major": "dense |H| row sums"}
    for task in ("hvp", "dense", "major"):
        for dtype in ("float32", "float64"):
            res = {}
            for side in ("infotorch", "peer"):
                cmd = [
                    sys.executable,
                    __file__,
                    "--worker",
                    task,
                    side,
                    dtype,
                    "--rows",
                    str(args.rows),
                    "--dense-rows",
                    str(args.dense_rows),
                    "--k",
                    str(args.k),
                    "--repeat",
                    str(args.repeat),
                ]
                res[side] = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
            a = torch.load(f"/tmp/_bench_pen_{task}_infotorch_{dtype}.pt")
            b = torch.load(f"/tmp/_bench_pen_{task}_peer_{dtype}.pt")
            diff = float((a - b).abs().max() / b.abs().max())
            rows = args.rows if task == "hvp" else args.dense_rows
            i, p = res["infotorch"], res["peer"]
            print(
                f"| {task} | {rows} | {dtype} | {i['seconds']:.4f} | {peers[task]} | {p['seconds']:.4f} | "
                f"{p['seconds'] / i['seconds']:.1f} | {i['peak_mib']:.0f} | {p['peak_mib']:.0f} | {diff:.1e} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
