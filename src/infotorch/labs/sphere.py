r"""Lab 2: the spherical Gram entropy and the Thomson problem.

N unit vectors in :math:`\mathbb R^d` maximize the matrix-based Rényi α-entropy of the Gaussian
kernel of their positions, :math:`S_\alpha(K/N)` with :math:`K_{ij} = \exp(-\|x_i - x_j\|^2/2\sigma^2)`.
For :math:`\alpha = 2` this is :math:`-\log\sum_{ij}K_{ij}^2 + 2\log N`: minimizing a Gaussian
pair energy, a repulsion between the points. Configurations that are *universally optimal*
(Cohn & Kumar, J. AMS 20(1), 2007, https://doi.org/10.1090/S0894-0347-06-00546-7) minimize
every completely monotone pair potential of the squared distance at once, the Gaussian and the
Coulomb one alike: the triangle (N = 3), tetrahedron (4), octahedron (6) and icosahedron (12).
There the entropy optimum *is* the Thomson minimum, and its Coulomb energy matches the published
table. For N = 5 and 8 no universal optimum exists: the Gaussian optimum depends on σ and is not
the Coulomb one (for N = 8 the Thomson minimum is a square antiprism, for N = 5 a triangular
bipyramid), so a gap remains, reported by :func:`run_sphere`.

Optimization: L-BFGS (strong Wolfe line search) on unnormalized vectors ``y`` with
``x = y/|y|`` (the normalized parameterization), float64, from several random starts; it
converges to machine precision where fixed-step Adam stalls near 1e-3. Cost O(N²·d) per step.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch
from torch import Tensor

from ..spectral.renyi import matrix_renyi_entropy

__all__ = ["THOMSON_ENERGY", "coulomb_energy", "optimize_sphere", "run_sphere"]

#: Published minimal Coulomb energies of the Thomson problem (Wales & Ulker, Phys. Rev. B 74,
#: 212101, 2006, https://doi.org/10.1103/PhysRevB.74.212101; the Cambridge Cluster Database).
THOMSON_ENERGY = {
    2: 0.500000000,
    3: 1.732050808,
    4: 3.674234614,
    5: 6.474691495,
    6: 9.985281374,
    7: 14.452977414,
    8: 19.675287861,
    9: 25.759986531,
    10: 32.716949460,
    11: 40.596450510,
    12: 49.165253058,
}


def coulomb_energy(x: Tensor) -> Tensor:
    r""":math:`\sum_{i<j} 1/\|x_i - x_j\|` of the rows of ``x``."""
    n = x.shape[0]
    iu = torch.triu_indices(n, n, offset=1)
    d = (x[iu[0]] - x[iu[1]]).norm(dim=-1)
    return (1.0 / d).sum()


def _entropy(y: Tensor, alpha: float, sigma: float) -> Tensor:
    x = y / y.norm(dim=-1, keepdim=True)
    return matrix_renyi_entropy(x, alpha=alpha, sigma=sigma, base=math.e)


def optimize_sphere(
    n: int,
    dim: int = 3,
    *,
    alpha: float = 2.0,
    sigma: float = 1.0,
    starts: int = 4,
    max_steps: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """Maximize the Gram entropy of ``n`` unit vectors in R^dim from ``starts`` random starts.

    Returns the best configuration ``x`` (n, dim), its entropy (nats), the trajectory of that
    start (the iterate at each function evaluation, up to 400) and the entropy along it.
    """
    if n < 2:
        raise ValueError(f"n must be at least 2, got {n}")
    if dim < 2:
        raise ValueError(f"dim must be at least 2, got {dim}")
    if starts < 1:
        raise ValueError(f"starts must be at least 1, got {starts}")
    gen = torch.Generator().manual_seed(seed)
    best: dict[str, Any] | None = None
    for _ in range(starts):
        res = _one_start(torch.randn(n, dim, generator=gen, dtype=torch.float64), alpha, sigma, max_steps)
        if best is None or res["entropy"] > best["entropy"]:
            best = res
    assert best is not None
    return best


def _one_start(y0: Tensor, alpha: float, sigma: float, max_steps: int) -> dict[str, Any]:
    """L-BFGS from one start; every function evaluation is recorded (up to 400) as a frame."""
    y = y0.clone().requires_grad_(True)
    opt = torch.optim.LBFGS(
        [y],
        lr=1.0,
        max_iter=20,
        history_size=50,
        tolerance_grad=1e-15,
        tolerance_change=1e-16,
        line_search_fn="strong_wolfe",
    )
    traj = [(y.detach() / y.detach().norm(dim=-1, keepdim=True)).clone()]
    curve = [float(_entropy(y.detach(), alpha, sigma))]

    def closure() -> Tensor:
        opt.zero_grad()
        loss = -_entropy(y, alpha, sigma)
        loss.backward()
        if len(traj) < 400:
            traj.append(y.detach().clone())
            curve.append(-float(loss.detach()))
        return loss

    for step in range(max_steps):
        before = float(_entropy(y.detach(), alpha, sigma))
        opt.step(closure)
        with torch.no_grad():
            y /= y.norm(dim=-1, keepdim=True)  # stay on the sphere; the entropy is unchanged
        h = float(_entropy(y.detach(), alpha, sigma))
        if abs(h - before) <= 1e-15 * max(1.0, abs(h)) and step > 2:
            break
    x = y.detach() / y.detach().norm(dim=-1, keepdim=True)
    return {"x": x, "entropy": float(_entropy(x, alpha, sigma)), "trajectory": traj, "entropy_curve": curve}


def run_sphere(
    n: int = 12,
    dim: int = 3,
    *,
    alpha: float = 2.0,
    sigma: float = 1.0,
    starts: int = 4,
    seed: int = 0,
    out_dir: str | None = None,
) -> dict[str, Any]:
    """Run the lab; returns the JSON-able report (``n``, ``energy``, ``reference``, ``gap``, …) and
    writes ``sphere.html`` and ``sphere.png`` to ``out_dir`` when given."""
    t0 = time.perf_counter()
    res = optimize_sphere(n, dim, alpha=alpha, sigma=sigma, starts=starts, seed=seed)
    energy = float(coulomb_energy(res["x"]))
    reference = THOMSON_ENERGY.get(n) if dim == 3 else None
    report: dict[str, Any] = {
        "lab": "sphere",
        "n": n,
        "dim": dim,
        "alpha": alpha,
        "sigma": sigma,
        "starts": starts,
        "entropy": res["entropy"],
        "energy": energy,
        "reference": reference,
        "gap": None if reference is None else energy - reference,
        "relative_gap": None if reference is None else (energy - reference) / reference,
        "evaluations": len(res["entropy_curve"]) - 1,
        "seconds": time.perf_counter() - t0,
    }
    if out_dir is not None:
        from ._pages import sphere_page, sphere_png

        report["html"] = sphere_page(res, report, out_dir)
        report["png"] = sphere_png(res, report, out_dir)
    return report
