"""DSE at scale: the matrix-free SLQ and Nyström solvers against the exact eigvalsh answer, and
their time and peak memory (one subprocess per configuration, ru_maxrss), with dse-dsmi's
max_N-subsampled value beside them.

    .venv/bin/python benchmarks/bench_spectral_scale.py errors 4000 8000
    .venv/bin/python benchmarks/bench_spectral_scale.py scale 10000 30000
    .venv/bin/python benchmarks/bench_spectral_scale.py solvers 10000 30000
    .venv/bin/python benchmarks/bench_spectral_scale.py nystrom-large 1000000
    .venv/bin/python benchmarks/bench_spectral_scale.py adaptive 10000 100000
    .venv/bin/python benchmarks/bench_spectral_scale.py tolerance 4000 gauss [SEEDS] ['[[20, 16, 100, 1]]']
    .venv/bin/python benchmarks/bench_spectral_scale.py config '{"solver": "matrix-free-tol", "tol": 0.01, "n": 100000, "data": "gauss"}'

``adaptive``: the adaptive-bandwidth kNN kernel (k = 15, t = 3, alpha = 1, SLQ 30 steps x 32
probes): the time of the neighbour search, of the sparse kernel and of the quadrature, peak
memory, stored entries; with the exact eigvalsh value beside it up to N = 10^4.

Data: standard Gaussian points in D = 256 (a flat kernel spectrum, the hard case for a low-rank
kernel) and a 4-D manifold in D = 256 (sin of a random linear image), float32 inputs, seed 1.
Results: BENCHMARKS.md ("DSE at scale").
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

import torch

D = 256


def data(n: int, kind: str) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    if kind == "gauss":
        return torch.randn(n, D, generator=g)
    if kind == "blobs":  # 10 Gaussian clusters, centres 4 apart on average per coordinate
        centres = 4.0 * torch.randn(10, D, generator=g) / D**0.5 * 4
        return centres[torch.arange(n) % 10] + torch.randn(n, D, generator=g)
    if kind == "duplicated":  # every point twice
        half = torch.randn((n + 1) // 2, D, generator=g)
        return half.repeat(2, 1)[:n]
    return (torch.randn(n, 4, generator=g) @ torch.randn(4, D, generator=g)).sin()


# (steps, probes, top, power_iters) of the error-against-cost study ("tolerance")
SLQ_CONFIGS = [(15, 16, 50, 1), (20, 16, 100, 1), (30, 32, 100, 2), (30, 64, 200, 2)]


def tolerance(n: int, kind: str, seeds: int, configs: list | None = None) -> None:
    """The exact value, then every ``configs`` entry (default SLQ_CONFIGS) over ``seeds`` seeds:
    error, passes, time."""
    torch.set_num_threads(2)
    from infotorch.spectral import DiffusionKernel
    from infotorch.spectral.matrix_free import matrix_free_entropy

    x = data(n, kind)
    t0 = time.perf_counter()
    exact = float(DiffusionKernel.from_points(x.double()).entropy(solver="exact"))
    print(json.dumps({"n": n, "data": kind, "exact": exact, "seconds": round(time.perf_counter() - t0, 1)}))
    for steps, probes, top, power in configs or SLQ_CONFIGS:
        errors, secs = [], []
        for seed in range(seeds):
            t0 = time.perf_counter()
            r = matrix_free_entropy(x, steps=steps, probes=probes, top=top, power_iters=power, seed=seed)
            secs.append(time.perf_counter() - t0)
            errors.append(float(r.value) - exact)
        rms = (sum(e * e for e in errors) / len(errors)) ** 0.5
        row = {"n": n, "data": kind, "config": [steps, probes, top, power], "passes": r.products}
        row.update(rms=rms, rel=rms / abs(exact), worst=max(abs(e) for e in errors), errors=errors)
        print(json.dumps({**row, "seconds": round(sum(secs) / len(secs), 2)}), flush=True)


def one(config: dict) -> dict:
    """Run one configuration in this process; returns value, seconds, peak RSS (MiB)."""
    torch.set_num_threads(2)
    from infotorch.spectral import DiffusionKernel
    from infotorch.spectral.matrix_free import MatrixFreeDiffusionOperator, matrix_free_entropy, nystrom_entropy

    x = data(config["n"], config["data"])
    t0 = time.perf_counter()
    solver = config["solver"]
    extra: dict = {}
    if solver == "exact":
        value = float(DiffusionKernel.from_points(x.double()).entropy(solver="exact"))
    elif solver == "lanczos":
        value = float(DiffusionKernel.from_points(x).entropy(solver="lanczos"))
    elif solver == "matrix-free":
        r = matrix_free_entropy(x, steps=config["steps"], probes=config["probes"], top=config["top"])
        value, extra = float(r.value), {"passes": r.products, "block": r.details["block"]}
    elif solver == "matrix-free-tol":  # the "auto" settings for a target relative error
        r = matrix_free_entropy(
            x, tol=config["tol"], seed=config.get("seed", 0), progress=config.get("progress", False)
        )
        value = float(r.value)
        extra = {"passes": r.products, **{k: r.details[k] for k in ("block", "steps", "probes", "top", "power_iters")}}
    elif solver == "matrix-free-pass":  # the time of one pass (degrees), for extrapolation
        op = MatrixFreeDiffusionOperator(x)
        value, extra = float(op.trace()), {"block": op.block}
    elif solver == "nystrom":
        steps, probes, top = config.get("steps", 40), config.get("probes", 32), config.get("top", 100)
        value = float(nystrom_entropy(x, landmarks=config["landmarks"], steps=steps, probes=probes, top=top).value)
    elif solver == "adaptive":  # the sparse kNN kernel, SLQ on it
        from infotorch.spectral import AdaptiveDiffusionOperator
        from infotorch.spectral.adaptive import _slq_bits

        op = AdaptiveDiffusionOperator(x)
        t1 = time.perf_counter()
        value = float(_slq_bits(op, 3.0, 30, 32, 0))
        extra = {
            "knn_s": round(op.timings["neighbors"], 2),
            "kernel_s": round(op.timings["kernel"], 2),
            "slq_s": round(time.perf_counter() - t1, 2),
            "nnz": op.nnz,
            "search": op.neighbor_search,
        }
    elif solver == "adaptive-exact":
        from infotorch.spectral import adaptive_diffusion_spectral_entropy

        value = float(adaptive_diffusion_spectral_entropy(x, solver="exact"))
    elif solver == "dse-dsmi":
        from dse_dsmi import diffusion_spectral_entropy as dse

        from infotorch.spectral.matrix_free import median_sigma

        # dse-dsmi's default max_N = 10000 subsampling, at the bandwidth the other solvers use
        # (the median rule on the first 1000 points; dse-dsmi's own default sigma is 10)
        sigma = median_sigma(x, 1000)
        extra["sigma"] = sigma
        value = float(dse(x.double().numpy(), gaussian_kernel_sigma=sigma))
    else:
        raise ValueError(solver)
    seconds = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {**config, "value": value, "seconds": round(seconds, 2), "peak_mib": round(rss), **extra}


def run(config: dict) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "one", json.dumps(config)], capture_output=True, text=True, check=True
    )
    res = json.loads(out.stdout.strip().splitlines()[-1])
    print(json.dumps(res), flush=True)
    return res


FAST_MF = {"solver": "matrix-free", "steps": 30, "probes": 64, "top": 200}


def main() -> None:
    mode = sys.argv[1]
    if mode == "one":
        print(json.dumps(one(json.loads(sys.argv[2]))))
        return
    if mode == "config":  # config JSON: one configuration in a subprocess, e.g. the 10^5 runs
        run(json.loads(sys.argv[2]))
        return
    if mode == "tolerance":  # tolerance N KIND [SEEDS [CONFIGS as JSON]]
        configs = json.loads(sys.argv[5]) if len(sys.argv) > 5 else None
        tolerance(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 3, configs)
        return
    sizes = [int(a) for a in sys.argv[2:]]
    for n in sizes:
        for kind in ("gauss", "manifold"):
            if mode == "adaptive":
                configs = [{"solver": "adaptive"}]
                if n <= 10000:
                    configs.append({"solver": "adaptive-exact"})
            elif mode == "errors":
                configs = [{"solver": "exact"}, FAST_MF, {"solver": "nystrom", "landmarks": 2000}]
            elif mode == "solvers":  # the "choosing a solver" table: every solver's time and memory
                configs = [{"solver": "matrix-free-tol", "tol": tol} for tol in (1e-2, 3e-3)]
                configs.append({"solver": "nystrom", "landmarks": 2000})
                if n <= 10000:
                    configs.insert(0, {"solver": "exact"})
            elif mode == "nystrom-large":  # the front door's memory-bounded Nyström above 2e5 points
                configs = [{"solver": "nystrom", "landmarks": 500, "steps": 30, "probes": 8, "top": 50}]
            else:
                configs = [
                    {"solver": "matrix-free-pass"},
                    {"solver": "nystrom", "landmarks": 2000},
                    {"solver": "dse-dsmi"},
                ]
                if n <= 30000:  # the full-data value dse-dsmi's subsample is compared with
                    configs.insert(1, FAST_MF)
            for c in configs:
                run({**c, "n": n, "data": kind})


if __name__ == "__main__":
    main()
