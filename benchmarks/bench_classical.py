"""Classical measures: infotorch against scipy and the seed's clamp-based formulation.

Runs both in one process over a (4096, 1000) batch of distributions and prints a Markdown
table (median wall time of repeated runs, ratio peer / infotorch, and the largest absolute
error against a float64 reference). Also times `import infotorch` against `import torch`.

    python benchmarks/bench_classical.py [--rows 4096] [--cols 1000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np
import scipy.special
import scipy.stats
import torch

import infotorch as it


def timeit_pair(a: Callable[[], object], b: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median wall time of ``a`` and ``b``, interleaved so that drift hits both alike."""
    a(), b()  # warm-up
    ta, tb = [], []
    for _ in range(repeat):
        for fn, acc in ((a, ta), (b, tb)):
            t0 = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - t0)
    return statistics.median(ta), statistics.median(tb)


# The information_theory_reference.md formulations (clamp at 1e-10), made batch-aware (dim=-1)
# so that they compute the same quantity.
def seed_entropy(p: torch.Tensor) -> torch.Tensor:
    p = torch.clamp(p, min=1e-10)
    return -torch.sum(p * torch.log(p), dim=-1)


def seed_kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    p = torch.clamp(p, min=1e-10)
    q = torch.clamp(q, min=1e-10)
    return torch.sum(p * (torch.log(p) - torch.log(q)), dim=-1)


def make_data(rows: int, cols: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(rows, cols, generator=g, dtype=torch.float64) * 2
    z[:, : cols // 10] = -torch.inf  # 10% exact zeros, as in sparse / masked outputs
    p = torch.softmax(z, -1)
    q = torch.softmax(torch.randn(rows, cols, generator=g, dtype=torch.float64) * 2, -1)
    return p, q


def import_times(repeat: int = 5) -> tuple[float, float]:
    def run(stmt: str) -> float:
        code = f"import time; t=time.perf_counter(); {stmt}; print(time.perf_counter()-t)"
        return statistics.median(
            float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
            for _ in range(repeat)
        )

    return run("import torch"), run("import torch, infotorch")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=4096)
    ap.add_argument("--cols", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=21)
    args = ap.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    p64, q64 = make_data(args.rows, args.cols)
    p32, q32 = p64.float(), q64.float()
    pn, qn = p64.numpy(), q64.numpy()
    ref_h = scipy.stats.entropy(pn, axis=-1)
    ref_kl = scipy.special.rel_entr(pn, qn).sum(-1)

    def err(x: object, ref: np.ndarray) -> float:
        if isinstance(x, torch.Tensor):
            x = x.detach().double().numpy()
        return float(np.abs(np.asarray(x, dtype=np.float64) - ref).max())

    rows = []

    def row(
        task: str,
        ours: Callable[[], torch.Tensor],
        peer_name: str,
        peer: Callable[[], object],
        ref: np.ndarray,
    ) -> None:
        t_ours, t_peer = timeit_pair(ours, peer, args.repeat)
        rows.append(
            (
                task,
                f"{t_ours * 1e3:.2f}",
                peer_name,
                f"{t_peer * 1e3:.2f}",
                f"{t_peer / t_ours:.2f}",
                f"{err(ours(), ref):.1e}",
                f"{err(peer(), ref):.1e}",
            )
        )

    row(
        "entropy f64",
        lambda: it.entropy(p64, validate=False),
        "scipy.stats.entropy",
        lambda: scipy.stats.entropy(pn, axis=-1),
        ref_h,
    )
    row(
        "entropy f64 (validate=True)",
        lambda: it.entropy(p64),
        "scipy.stats.entropy",
        lambda: scipy.stats.entropy(pn, axis=-1),
        ref_h,
    )
    row(
        "entropy f32",
        lambda: it.entropy(p32, validate=False),
        "seed clamp 1e-10",
        lambda: seed_entropy(p32),
        ref_h,
    )
    row(
        "KL f64",
        lambda: it.kl_divergence(p64, q64, validate=False),
        "scipy.special.rel_entr",
        lambda: scipy.special.rel_entr(pn, qn).sum(-1),
        ref_kl,
    )
    row(
        "KL f32",
        lambda: it.kl_divergence(p32, q32, validate=False),
        "seed clamp 1e-10",
        lambda: seed_kl(p32, q32),
        ref_kl,
    )

    zs = torch.log(p32).clone().requires_grad_(True)

    def ours_fb() -> torch.Tensor:
        h = it.entropy(logits=zs)
        h.sum().backward()
        return h

    def seed_fb() -> torch.Tensor:
        h = seed_entropy(torch.softmax(zs, -1))
        h.sum().backward()
        return h

    row("entropy(logits) f32 fwd+bwd", ours_fb, "seed clamp (softmax, autograd)", seed_fb, ref_h)
    t_torch, t_it = import_times()

    # Where the clamp changes the answer: tiny probabilities and disjoint supports (float64).
    tiny = torch.full((1000,), 1e-13, dtype=torch.float64)
    tiny[0] = 1 - 999e-13
    h_true = float(scipy.stats.entropy(tiny.numpy()))
    disjoint_p = torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64)
    disjoint_q = torch.tensor([0.5, 0.0, 0.5], dtype=torch.float64)
    hard = [
        ("entropy, 999 entries of 1e-13", h_true, float(it.entropy(tiny)), float(seed_entropy(tiny))),
        (
            "KL(p||q), q = 0 < p (true: inf)",
            float("inf"),
            float(it.kl_divergence(disjoint_p, disjoint_q)),
            float(seed_kl(disjoint_p, disjoint_q)),
        ),
    ]

    print(
        f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}, python {platform.python_version()}"
    )
    print(f"batch: ({args.rows}, {args.cols}), 10% exact zeros per row; median of {args.repeat}\n")
    print("| task | infotorch ms | peer | peer ms | peer/infotorch | infotorch max err | peer max err |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print("\n| hard case | scipy | infotorch | seed clamp |\n|---|---|---|---|")
    for name, ref, ours, seed in hard:
        print(f"| {name} | {ref:.6g} | {ours:.6g} | {seed:.6g} |")
    print(f"\nimport torch: {t_torch:.3f} s; import torch + infotorch: {t_it:.3f} s (+{t_it - t_torch:.3f} s)")


if __name__ == "__main__":
    main()
