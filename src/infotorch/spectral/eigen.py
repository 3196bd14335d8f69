r"""Spectra: exact (``eigvalsh``), the eigenvalue cache, and two approximations.

* :func:`exact_eigvals`: ``eigvalsh`` for symmetric matrices; the general ``eigvals`` only for a
  non-symmetric input (the kNN adjacency), as ``dse-dsmi`` does.
* the eigenvalue cache lives in :mod:`infotorch.spectral.cache` (re-exported here under its
  older names ``save_eigvals`` / ``load_eigvals`` / ``data_fingerprint``).
* :func:`chebyshev_eigvals`: the ``chebyshev_approx`` option of ``dse-dsmi`` (Chebyshev moments
  of the density of states from Rademacher probes), kept for compatibility; not recommended.
* :func:`lanczos_spectrum`: stochastic Lanczos quadrature (SLQ), nodes and weights of the
  spectral density, for N past what an exact eigendecomposition affords.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from .cache import data_fingerprint, load_eigvals, save_eigvals

__all__ = [
    "chebyshev_eigvals",
    "data_fingerprint",
    "deflated_lanczos_spectrum",
    "exact_eigvals",
    "lanczos_spectrum",
    "load_eigvals",
    "save_eigvals",
]


def exact_eigvals(a: Tensor, symmetric: bool | None = None) -> Tensor:
    """Eigenvalues of ``a``: ``eigvalsh`` when symmetric (real, ascending), else ``eigvals``.

    ``symmetric=None`` decides by exact comparison with the transpose. The general solver
    returns complex eigenvalues; callers use their magnitudes.
    """
    if symmetric is None:
        symmetric = bool(torch.equal(a, a.T))
    if symmetric:
        return torch.linalg.eigvalsh(a)
    return torch.linalg.eigvals(a)


def chebyshev_eigvals(
    a: Tensor,
    *,
    filter_thr: float = 1e-3,
    num_moments: int = 50,
    num_probes: int = 100,
    npts: int = 1001,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""``dse-dsmi``'s Chebyshev density-of-states approximation of a spectrum in [-1, 1].

    Entries with ``|a_ij| < filter_thr`` are zeroed; the moments
    :math:`c_k = \mathrm{tr}\,T_k(A)` are estimated with ``num_probes`` Rademacher probes; the
    integrated density on a grid of ``npts`` points gives eigenvalue counts, and each grid point
    is repeated ``round(count)`` times. Random: ``generator`` makes it repeatable (``dse-dsmi``
    draws from NumPy's global state, so single draws cannot match it). Its authors advise
    against it; so do we (the entropy can move by tens of percent).
    """
    n = a.shape[0]
    m = torch.where(a.abs() < filter_thr, torch.zeros((), dtype=a.dtype, device=a.device), a)
    z = torch.randn(n, num_probes, generator=generator, dtype=a.dtype, device="cpu").sign().to(a.device)
    moments = torch.empty(num_moments, dtype=a.dtype, device=a.device)
    t_prev, t_curr = z, m @ z
    moments[0] = (z * t_prev).sum() / num_probes
    moments[1] = (z * t_curr).sum() / num_probes
    for i in range(2, num_moments):
        t_next = 2 * (m @ t_curr) - t_prev
        t_prev, t_curr = t_curr, t_next
        moments[i] = (z * t_curr).sum() / num_probes
    xx = torch.linspace(-1 + 1e-8, 1 - 1e-8, npts, dtype=a.dtype, device=a.device)
    txx = torch.arccos(xx)
    yy = moments[0] * (txx - math.pi) / 2
    k = torch.arange(1, num_moments, dtype=a.dtype, device=a.device)
    yy = yy + (moments[1:, None] * torch.sin(k[:, None] * txx[None, :]) / k[:, None]).sum(0)
    cdf = yy * (-2 / math.pi)
    pdf = torch.zeros_like(cdf)
    pdf[:-1] = cdf[1:] - cdf[:-1]
    counts = torch.round(n * pdf / pdf.sum())
    keep = counts > 0
    return torch.repeat_interleave(xx[keep], counts[keep].long())


def lanczos_spectrum(
    matvec: Any,
    n: int,
    *,
    steps: int = 80,
    probes: int = 16,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
    project: Any = None,
) -> tuple[Tensor, Tensor]:
    r"""Stochastic Lanczos quadrature: nodes and weights of the spectral density of a symmetric operator.

    For each of ``probes`` Rademacher vectors ``z`` (projected by ``project`` when given, with
    :math:`f(0) = 0` assumed on the projected-out space) the Lanczos recurrence (full
    reorthogonalization, ``steps`` steps) started at :math:`u = z/\|z\|` yields a tridiagonal
    matrix whose eigenpairs :math:`(\theta_j, \tau_j)` give the Gauss quadrature
    :math:`z^\top f(A) z \approx \|z\|^2 \sum_j \tau_{1j}^2 f(\theta_j)`. Averaging over probes,
    :math:`\mathrm{tr} f(A) \approx n \sum w_j f(\theta_j)` with the returned weights ``w``.
    Cost: ``probes · steps`` mat-vecs, memory ``O(n · steps)``.

    References: Ubaru, Chen & Saad, SIAM J. Matrix Anal. Appl. 38(4), 2017,
    https://doi.org/10.1137/16M1104974.
    """
    steps = min(steps, n)
    # All probes advance together, so each step is one matrix-matrix product (K @ Q with Q of
    # shape (n, probes)) instead of `probes` memory-bound matrix-vector products.
    z = torch.randint(0, 2, (n, probes), generator=generator, dtype=torch.int64).to(device=device, dtype=dtype)
    z = 2 * z - 1
    if project is not None:
        z = project(z)
    norm2 = (z * z).sum(0)
    live = norm2 > 0
    q = z / torch.where(live, norm2, torch.ones_like(norm2)).sqrt()
    # the basis is stored probe-major, (probes, steps, n): the reorthogonalization is then two
    # batched matrix-vector products on contiguous rows (an einsum over a (steps, n, probes)
    # basis ran 15-30x slower on CPU, the dominant cost of a sparse operator's quadrature)
    basis = torch.empty(probes, steps, n, dtype=dtype, device=device)
    alpha = torch.zeros(steps, probes, dtype=dtype, device=device)
    beta = torch.zeros(steps, probes, dtype=dtype, device=device)
    k_used = [steps] * probes
    active = live.clone()
    for k in range(steps):
        basis[:, k, :] = q.T
        w = matvec(q)
        alpha[k] = (q * w).sum(0)
        wt = w.T.contiguous()  # (probes, n)
        past = basis[:, : k + 1, :]
        for _ in range(2):  # full reorthogonalization, twice is enough
            coef = torch.bmm(past, wt[:, :, None])  # (probes, k + 1, 1)
            wt = wt - torch.bmm(past.transpose(1, 2), coef).squeeze(-1)
        w = wt.T
        b = torch.linalg.vector_norm(w, dim=0)
        if k + 1 < steps:
            scale = alpha[: k + 1].abs().amax(0).clamp_min(1.0)
            done = active & (b <= 1e-12 * scale)
            for p_idx in torch.nonzero(done).flatten().tolist():
                k_used[p_idx] = k + 1
            active = active & ~done
            beta[k] = torch.where(active, b, torch.zeros_like(b))
            q = torch.where(active, w / torch.where(active, b, torch.ones_like(b)), torch.zeros_like(w))
    nodes, weights = [], []
    for p_idx in range(probes):
        if not bool(live[p_idx]):
            continue
        m = k_used[p_idx]
        t = torch.diag(alpha[:m, p_idx])
        if m > 1:
            off = beta[: m - 1, p_idx]
            t = t + torch.diag(off, 1) + torch.diag(off, -1)
        theta, u = torch.linalg.eigh(t)
        nodes.append(theta)
        weights.append(norm2[p_idx] * u[0] ** 2 / (probes * n))
    return torch.cat(nodes), torch.cat(weights)


def deflated_lanczos_spectrum(
    a: Tensor,
    *,
    top: int = 100,
    power_iters: int = 2,
    steps: int = 80,
    probes: int = 16,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    r"""SLQ after deflating the top of the spectrum (nodes and weights as :func:`lanczos_spectrum`).

    A randomized block Krylov range finder (``top`` + 10 vectors, ``power_iters`` power steps)
    and Rayleigh-Ritz give the leading eigenvalues :math:`\theta_i` of the symmetric ``a``
    (weight ``1/n`` each); SLQ then runs on :math:`PAP` with :math:`P = I - QQ^\top`, whose
    spectrum is the flat remainder. Hutchinson's variance scales with the Frobenius norm of the
    part it estimates, so removing the few large eigenvalues that dominate a diffusion spectrum
    cuts the error by an order of magnitude (measured in BENCHMARKS.md). Assumes ``f(0) = 0``.
    """
    n = a.shape[0]
    width = min(n, top + 10)
    omega = torch.randn(n, width, generator=generator, dtype=a.dtype, device="cpu").to(a.device)
    y = a @ omega
    for _ in range(power_iters):
        y = a @ torch.linalg.qr(y).Q
    q = torch.linalg.qr(y).Q
    theta = torch.linalg.eigvalsh(q.T @ (a @ q))
    if width >= n:
        return theta, torch.full_like(theta, 1.0 / n)

    def project(v: Tensor) -> Tensor:
        return v - q @ (q.T @ v)

    def matvec(v: Tensor) -> Tensor:
        return project(a @ project(v))

    nodes, weights = lanczos_spectrum(
        matvec, n, steps=steps, probes=probes, dtype=a.dtype, device=a.device, generator=generator, project=project
    )
    return torch.cat([theta, nodes]), torch.cat([torch.full_like(theta, 1.0 / n), weights])
