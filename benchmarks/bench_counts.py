"""Bias-corrected entropy estimators from counts: bias and RMSE against the true entropy, and speed.

Accuracy: for Zipf (exponent 1) and Dirichlet(1)-sampled distributions on K = 10, 100, 1000
categories and N = 30 ... 10^5 samples, ``--reps`` multinomial draws per cell (fixed seeds), every
estimator of :mod:`infotorch.counts` with the alphabet size *not* given (``K`` unknown, as for
samples), plus NSB with ``K`` given. Each cell is one batched call over the draws. Prints
Markdown tables of bias and RMSE (nats), and the auto goal (Zipf, K = 1000, N = 100/300/1000) with
more draws.

Speed: 1000 rows of counts (K = 1000, N = 1000, Zipf) in one batched call against a per-row
Python loop of the peers where they import (pyitlib's ``entropy`` estimators, infomeasure's
``entropy``), else of a NumPy/scipy implementation of the same formula per row.

Never part of the tests. Modest by default (2-core machines):

    python benchmarks/bench_counts.py [--reps 100] [--goal-reps 400] [--threads 2] [--peer-python PATH]

The peers live in their own environment (they pin nothing of ours, but they are not test
dependencies): ``make bench-peers`` creates ``.peers-venv`` with pyitlib and infomeasure; pass
``--peer-python .peers-venv/bin/python``. They run in a subprocess on the same count matrices
(as samples, which their APIs take), after ours.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time

import numpy as np
import scipy.special as sp
import torch

from infotorch import counts as C

F64 = torch.float64


def zipf(k: int) -> torch.Tensor:
    p = 1 / torch.arange(1, k + 1, dtype=F64)
    return p / p.sum()


def draw(p: torch.Tensor, n: int, reps: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    probs = p.expand(reps, -1) if p.ndim == 1 else p
    out = torch.zeros(reps, probs.shape[-1], dtype=F64)
    step = max(1, 4_000_000 // n)
    for i in range(0, reps, step):
        idx = torch.multinomial(probs[i : i + step], n, replacement=True, generator=g)
        out[i : i + step].scatter_add_(1, idx, torch.ones_like(idx, dtype=F64))
    return out


def true_entropy(p: torch.Tensor, reps: int) -> torch.Tensor:
    pp = p.expand(reps, -1) if p.ndim == 1 else p
    return -torch.special.xlogy(pp, pp).sum(-1)


def accuracy(reps: int, ks: list[int], ns: list[int]) -> list[dict]:
    rows = []
    for dist in ("zipf", "dirichlet"):
        for k in ks:
            for n in ns:
                r = reps if n <= 10_000 else max(20, reps // 4)
                if dist == "zipf":
                    p = zipf(k)
                else:
                    g = torch.Generator().manual_seed(k)
                    gam = torch._standard_gamma(torch.ones(r, k, dtype=F64), generator=g)
                    p = gam / gam.sum(-1, keepdim=True)
                c = draw(p, n, r, seed=1000 * k + n)
                h = true_entropy(p, r)
                for est in [*C.ENTROPY_ESTIMATORS, "nsb (K given)", "auto (K given)"]:
                    name = est.split(" ")[0]
                    kw = {"num_categories": k} if "K given" in est else {}
                    t0 = time.perf_counter()
                    e = C.entropy_from_counts(c, estimator=name, **kw)
                    dt = time.perf_counter() - t0
                    err = e - h
                    rows.append(
                        dict(
                            dist=dist,
                            K=k,
                            N=n,
                            est=est,
                            bias=float(err.mean()),
                            rmse=float(err.pow(2).mean().sqrt()),
                            finite=bool(torch.isfinite(e).all()),
                            ms=dt * 1000,
                        )
                    )
                print(f"  done {dist} K={k} N={n}", file=sys.stderr, flush=True)
    return rows


def table(rows: list[dict], dist: str, metric: str) -> str:
    ests = list(dict.fromkeys(r["est"] for r in rows))
    cells = sorted({(r["K"], r["N"]) for r in rows if r["dist"] == dist})
    out = [f"| K | N | {' | '.join(ests)} |", "|---|---|" + "---|" * len(ests)]
    for k, n in cells:
        vals = {r["est"]: r[metric] for r in rows if r["dist"] == dist and r["K"] == k and r["N"] == n}
        best = min(abs(vals[e]) for e in ests if "K given" not in e)
        txt = []
        for e in ests:
            s = f"{vals[e]:+.3f}" if metric == "bias" else f"{vals[e]:.3f}"
            txt.append(f"**{s}**" if abs(vals[e]) == best and "K given" not in e else s)
        out.append(f"| {k} | {n} | " + " | ".join(txt) + " |")
    return "\n".join(out)


# ------------------------------------------------------------------ why the auto goal is missed


def pym_entropy(counts: np.ndarray, nd: int = 100, na: int = 200) -> np.ndarray:
    """Posterior mean entropy (nats) under the Pitman-Yor mixture prior "PYM" of Archer, Park and
    Pillow (2014, JMLR 15, 2833-2868, https://jmlr.org/papers/v15/archer14a.html), by direct
    quadrature over a grid of the discount d in (0, 1) and log concentration: the Pitman-Yor
    sampling formula as likelihood, the prior flat in d and ``psi_1(alpha + 1) d alpha`` along
    alpha (flat in the prior mean entropy), and the posterior mean entropy given (d, alpha) in
    closed form (their eq. for E[H | d, alpha, n]). A reference for the benchmark only: the prior
    for power-law tails, which needs no alphabet size."""
    d = (np.arange(nd) + 0.5) / nd
    a = np.exp(np.linspace(np.log(1e-2), np.log(1e6), na))
    dd, aa = (v[..., None] for v in np.meshgrid(d, a, indexing="ij"))
    out = np.empty(len(counts))
    for i, row in enumerate(counts):
        nk = row[row > 0][None, None, :]
        k, n = nk.shape[-1], float(nk.sum())
        log_lik = np.log(aa + np.arange(1, k) * dd).sum(-1) - (sp.gammaln(aa + n) - sp.gammaln(aa + 1))[..., 0]
        log_lik += (sp.gammaln(nk - dd) - sp.gammaln(1 - dd)).sum(-1)
        log_post = log_lik + np.log(sp.polygamma(1, aa + 1) * aa)[..., 0]  # d alpha = alpha d log alpha
        w = np.exp(log_post - log_post.max())
        a2, d2 = aa[..., 0], dd[..., 0]
        mean_h = (
            sp.digamma(a2 + n + 1)
            - (a2 + k * d2) / (a2 + n) * sp.digamma(1 - d2)
            - ((nk - dd) * sp.digamma(nk - dd + 1)).sum(-1) / (a2 + n)
        )
        out[i] = float((w * mean_h).sum() / w.sum())
    return out


def goal_analysis(reps: int) -> None:
    """Bias, spread and RMSE on the auto goal's draws, with what each goal leaves for the bias."""
    p = zipf(1000)
    print("### The auto goal decomposed: Zipf (exponent 1), K = 1000\n")
    print(
        "| N | goal | estimator | bias | sd | RMSE | largest bias the goal allows at this sd |\n"
        "|---|---|---|---|---|---|---|"
    )
    for n, goal in ((100, 0.40), (300, 0.18), (1000, 0.075)):
        c = draw(p, n, reps, seed=99 + n)
        h = float(true_entropy(p, 1)[0])
        cands: dict[str, np.ndarray] = {}
        for est in ("plugin", "chao-shen", "grassberger", "bonachela", "chao-wang-jost", "nsb", "auto"):
            cands[est] = C.entropy_from_counts(c, estimator=est).numpy()
        cands["nsb, K = 1000 given"] = C.entropy_from_counts(c, estimator="nsb", num_categories=1000).numpy()
        cands["PYM (Archer et al. 2014)"] = pym_entropy(c.numpy())
        for name, e in cands.items():
            err = e - h
            sd = float(err.std())
            room = f"{np.sqrt(goal**2 - sd**2):.3f}" if sd < goal else "none"
            print(
                f"| {n} | {goal} | {name} | {err.mean():+.3f} | {sd:.3f} | {np.sqrt((err**2).mean()):.3f} | {room} |",
                flush=True,
            )
    print()


# ------------------------------------------------------------------ speed


def numpy_row(est: str, n: np.ndarray) -> float:
    n = n[n > 0]
    big_n = n.sum()
    if est == "plugin":
        return float(np.log(big_n) - (n * np.log(n)).sum() / big_n)
    if est == "grassberger":
        g = sp.digamma(n) + 0.5 * (-1.0) ** n * (sp.digamma((n + 1) / 2) - sp.digamma(n / 2))
        return float(np.log(big_n) - (n * g).sum() / big_n)
    if est == "chao-shen":
        f1 = min(np.sum(n == 1), big_n - 1)
        pa = (1 - f1 / big_n) * n / big_n
        return float(-np.sum(pa * np.log(pa) / (1 - (1 - pa) ** big_n)))
    raise KeyError(est)


PEER_SCRIPT = r"""
import json, sys, time, warnings, numpy as np
warnings.filterwarnings("ignore")
mode, path = sys.argv[1], sys.argv[2]
data = np.load(path)
out = {}
PYITLIB = ("ML", "JAMES-STEIN", "PERKS", "MINIMAX")
INFOMEASURE = ("discrete", "miller_madow", "grassberger", "chao_shen", "chao_wang_jost", "shrink", "zhang",
               "bonachela", "nsb", "ansb")
def samples(row):
    return np.repeat(np.arange(row.size), row.astype(int))
try:
    from pyitlib import discrete_random_variable as drv
    for est in PYITLIB:
        if mode == "speed":
            t0 = time.perf_counter()
            for row in data:
                drv.entropy(samples(row), estimator=est, base=np.e)
            out["pyitlib " + est + " (loop)"] = time.perf_counter() - t0
            if est in ("ML", "JAMES-STEIN"):  # pyitlib is batched over rows of equal N
                xs = np.stack([samples(row) for row in data])
                t0 = time.perf_counter()
                drv.entropy(xs, estimator=est, base=np.e)
                out["pyitlib " + est + " (its batched call)"] = time.perf_counter() - t0
        else:
            out["pyitlib " + est] = [float(drv.entropy(samples(row), estimator=est, base=np.e)) for row in data]
except Exception as exc:  # noqa: BLE001
    out["pyitlib error"] = repr(exc)
try:
    import infomeasure as im
    for est in INFOMEASURE:
        rows = data if (mode != "speed" or est not in ("nsb", "ansb")) else data[:100]
        t0 = time.perf_counter()
        vals = []
        for row in rows:
            try:
                vals.append(float(im.entropy(samples(row), approach=est, base="e")))
            except Exception:  # noqa: BLE001
                vals.append(float("nan"))
        if mode == "speed":
            out["infomeasure " + est + " (loop)"] = (time.perf_counter() - t0) * (len(data) / len(rows))
        else:
            out["infomeasure " + est] = vals
except Exception as exc:  # noqa: BLE001
    out["infomeasure error"] = repr(exc)
print(json.dumps(out))
"""

#: infotorch's name for each peer estimator (None: no counterpart)
PEER_MAPPING = {
    "pyitlib ML": "plugin",
    "pyitlib JAMES-STEIN": "james-stein",
    "pyitlib PERKS": None,
    "pyitlib MINIMAX": None,
    "infomeasure discrete": "plugin",
    "infomeasure miller_madow": "miller-madow",
    "infomeasure grassberger": "grassberger",
    "infomeasure chao_shen": "chao-shen",
    "infomeasure chao_wang_jost": "chao-wang-jost",
    "infomeasure shrink": "james-stein",
    "infomeasure zhang": "zhang",
    "infomeasure bonachela": "bonachela",
    "infomeasure nsb": "nsb",
    "infomeasure ansb": None,
}


def run_peers(peer_python: str | None, mode: str, arr: np.ndarray) -> dict:
    """Run the peers' estimators in their own environment on the rows of ``arr`` (counts)."""
    if not peer_python:
        return {}
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        np.save(os.path.join(d, "c.npy"), arr)
        script = os.path.join(d, "peer.py")
        with open(script, "w") as fh:
            fh.write(PEER_SCRIPT)
        proc = subprocess.run(
            [peer_python, script, mode, os.path.join(d, "c.npy")], capture_output=True, text=True, timeout=3600
        )
        try:
            return json.loads(proc.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            return {"error": proc.stderr[-500:]}


def median_time(fn, repeat: int) -> float:
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


SPEED_ESTIMATORS = (
    "plugin",
    "miller-madow",
    "grassberger",
    "chao-shen",
    "chao-wang-jost",
    "james-stein",
    "zhang",
    "bonachela",
    "nsb",
    "auto",
)


def speed(peer_python: str | None, repeat: int = 5) -> list[tuple[str, float, str, float]]:
    c = draw(zipf(1000), 1000, 1000, seed=7)
    res = {}
    for est in SPEED_ESTIMATORS:
        C.entropy_from_counts(c, estimator=est)  # warm-up at full size
        res[est] = median_time(lambda: C.entropy_from_counts(c, estimator=est), repeat)
    arr = c.numpy()
    pairs = []
    for est in ("plugin", "grassberger", "chao-shen"):
        pairs.append((est, "NumPy per-row loop", median_time(lambda: [numpy_row(est, row) for row in arr], repeat)))
    peers = run_peers(peer_python, "speed", arr)
    for key, val in peers.items():
        base = key.split(" (")[0]
        ours = PEER_MAPPING.get(base)
        if ours is not None and isinstance(val, float):
            pairs.append((ours, key, val))
        elif not isinstance(val, float):
            print(f"peer note: {key}: {val}", file=sys.stderr)
    return [(est, res[est], peer, t) for est, peer, t in pairs]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reps", type=int, default=100)
    ap.add_argument("--goal-reps", type=int, default=400)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ks", default="10,100,1000")
    ap.add_argument("--ns", default="30,100,300,1000,3000,10000,100000")
    ap.add_argument("--peer-python", default=None, help="python of a throwaway venv with pyitlib/infomeasure")
    ap.add_argument("--skip-accuracy", action="store_true")
    ap.add_argument(
        "--goal-analysis", action="store_true", help="only the auto goal's bias/sd decomposition, with PYM beside"
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.goal_analysis:
        goal_analysis(args.goal_reps)
        return
    print(
        f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, torch {torch.__version__}, "
        f"Python {platform.python_version()}, {args.threads} threads\n"
    )
    # the auto goal
    p = zipf(1000)
    print("### Auto goal: Zipf (exponent 1), K = 1000 not given\n")
    print("| N | goal RMSE | " + " | ".join(C.ENTROPY_ESTIMATORS) + " |")
    print("|---|---|" + "---|" * len(C.ENTROPY_ESTIMATORS))
    peer_rows = []
    for n, goal in ((100, 0.40), (300, 0.18), (1000, 0.075)):
        c = draw(p, n, args.goal_reps, seed=99 + n)
        h = true_entropy(p, args.goal_reps)
        vals = []
        for est in C.ENTROPY_ESTIMATORS:
            e = C.entropy_from_counts(c, estimator=est)
            vals.append(f"{float((e - h).pow(2).mean().sqrt()):.3f}")
        print(f"| {n} | {goal} | " + " | ".join(vals) + " |")
        for key, est_vals in run_peers(args.peer_python, "accuracy", c.numpy()).items():
            if isinstance(est_vals, list):
                e = np.array(est_vals)
                ok = np.isfinite(e)
                rmse = float(np.sqrt(np.mean((e[ok] - float(h[0])) ** 2))) if ok.any() else float("nan")
                peer_rows.append((n, key, rmse, int((~ok).sum()), len(e)))
            else:
                print(f"peer note: {key}: {est_vals}", file=sys.stderr)
    print()
    if peer_rows:
        print("Peers on the same draws (RMSE over their finite estimates; NaN: how many were not finite):\n")
        print("| N | peer estimator | RMSE | not finite |")
        print("|---|---|---|---|")
        for n, key, rmse, bad, tot in peer_rows:
            print(f"| {n} | {key} | {rmse:.3f} | {bad} / {tot} |")
        print()
    print("### Speed: 1000 rows of counts (Zipf K = 1000, N = 1000)\n")
    print("Median of 5 runs each.\n")
    print("| estimator | infotorch batched ms | peer | peer ms | peer / infotorch |")
    print("|---|---|---|---|---|")
    for est, ours, peer, t in speed(args.peer_python):
        print(f"| {est} | {ours * 1000:.1f} | {peer} | {t * 1000:.1f} | {t / ours:.1f} |")
    print()
    if args.skip_accuracy:
        return
    rows = accuracy(args.reps, [int(k) for k in args.ks.split(",")], [int(n) for n in args.ns.split(",")])
    print(f"all estimates finite: {all(r['finite'] for r in rows)}\n")
    for dist in ("zipf", "dirichlet"):
        for metric in ("rmse", "bias"):
            print(f"### {dist}: {metric} (nats), K not given (bold: best of those), {args.reps} draws per cell\n")
            print(table(rows, dist, metric))
            print()


if __name__ == "__main__":
    main()
