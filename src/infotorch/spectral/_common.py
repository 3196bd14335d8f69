"""Shared pieces of the spectral measures: the entropy of a spectrum, of a matrix's entries or of
a histogram, in bits (the numpy/float edge and dse-dsmi's subsampling live in compat.dse_dsmi)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .. import _numerics as nx
from .. import _validation as v
from .graphs import anisotropic_normalize

__all__ = [
    "binned_entropy",
    "entropy_bits",
    "matrix_entry_entropy_of_kernel",
    "spectrum_entropy",
]

_LN2 = math.log(2.0)


def entropy_bits(prob: Tensor) -> Tensor:
    r"""Shannon entropy in bits of a probability vector, :math:`-\sum p \log_2 p` (0 log 0 = 0).

    ``dse-dsmi`` adds machine epsilon to every probability before the log; the difference is
    below ``N · 1.2e-14`` bits and is not reproduced.
    """
    return -nx.plogp(prob).sum() / _LN2  # the library's one 0 · log 0 = 0 convention


def spectrum_entropy(eigvals: Tensor, t: float = 1) -> Tensor:
    r"""Entropy in bits of :math:`p_i = |\lambda_i|^t / \sum_j |\lambda_j|^t`.

    ``t = 0`` gives the uniform distribution (``log2 N``, as dse-dsmi, where ``0**0 = 1``); other
    ``t`` are evaluated in log space (``t·log|λ| − logsumexp``), so no power overflows or
    underflows however large ``t`` is (``t → ∞`` tends to the multiplicity of the top eigenvalue).
    """
    mag = eigvals.abs()  # magnitudes (real, also for complex eigenvalues)
    if mag.dtype in (torch.float16, torch.bfloat16):
        mag = mag.float()  # half precision computes in float32
    if v.resolve_validate(None) and not bool(torch.isfinite(mag.detach()).all()):
        raise ValueError("eigvals must be finite, got NaN or inf eigenvalues")
    if t == 0:
        return entropy_bits(torch.full_like(mag, 1.0 / mag.numel()))
    if t == 1:  # the direct ratio where its sum is finite and positive, else the log-space form
        total = mag.sum(-1, keepdim=True)
        ok = torch.isfinite(total) & (total > 0)
        direct = entropy_bits(mag / torch.where(ok, total, 1.0))
        return torch.where(ok.squeeze(-1), direct, _log_space_entropy(mag, 1.0))
    return _log_space_entropy(mag, t)


def _log_space_entropy(mag: Tensor, t: float) -> Tensor:
    """:func:`spectrum_entropy` of magnitudes ``mag`` by ``t·log|λ| - logsumexp``."""
    positive = mag > 0
    log_mag = torch.where(positive, torch.where(positive, mag, 1.0).log(), -torch.inf)
    scaled = log_mag * t
    log_p = scaled - torch.logsumexp(scaled, dim=-1, keepdim=True)
    return entropy_bits(torch.where(positive, log_p.exp(), 0.0))


def quadrature_entropy_bits(nodes: Tensor, weights: Tensor, n: int, t: float) -> Tensor:
    r"""DSE in bits from quadrature nodes :math:`\theta_j` and weights :math:`w_j` of a spectral
    measure of :math:`n` eigenvalues (stochastic Lanczos quadrature): with :math:`m_j = |\theta_j|^t`
    and :math:`M = n \sum_j w_j m_j`, :math:`H = -\sum_j (n w_j m_j / M) \log(m_j / M)`,
    evaluated in log space (``t log|θ|`` and ``logsumexp``), so no power overflows or underflows
    at any ``t``; ``t = 0`` gives ``log2 n`` exactly."""
    nodes, weights = nodes.to(torch.float64), weights.to(torch.float64)
    if t == 0:
        return torch.tensor(math.log2(n), dtype=torch.float64, device=nodes.device)
    mag = nodes.abs()
    alive = (mag > 0) & (weights > 0)
    log_m = torch.where(alive, t * torch.where(alive, mag, 1.0).log(), -torch.inf)
    log_w = torch.where(alive, torch.where(alive, weights, 1.0).log(), -torch.inf)
    log_mass = math.log(n) + torch.logsumexp(log_w + log_m, dim=-1)
    q = torch.where(alive, (math.log(n) + log_w + log_m - log_mass).exp(), 0.0)  # the mass of node j
    plogp = (q * torch.where(alive, log_m - log_mass, 0.0)).sum()
    return -plogp / math.log(2.0)


def matrix_entry_entropy_of_kernel(g: Tensor) -> Tensor:
    r"""Entropy in bits of the entries of the row-stochastic diffusion matrix of kernel ``g``.

    ``dse-dsmi``'s ``matrix_entry_entropy``: :math:`P = \mathrm{diag}(K\mathbf 1)^{-1}K` with
    :math:`K = D^{-1/2}GD^{-1/2}`, probabilities :math:`|P_{ij}| / \sum|P|`.
    """
    k = anisotropic_normalize(g)
    p = k / k.sum(dim=1, keepdim=True)
    entries = p.abs().reshape(-1)
    return entropy_bits(entries / entries.sum())


def binned_entropy(x: Tensor, num_bins_per_dim: int) -> Tensor:
    """``dse-dsmi``'s classic Shannon entropy (CSE): min-max scale each dimension, cut it into
    ``num_bins_per_dim`` equal bins (``np.digitize`` semantics), entropy of the occupied cells."""
    if int(num_bins_per_dim) < 1:
        raise ValueError(f"num_bins_per_dim must be a positive integer, got {num_bins_per_dim!r}")
    lo = x.amin(dim=0, keepdim=True)
    hi = x.amax(dim=0, keepdim=True)
    scaled = (x - lo) / (hi - lo)
    edges = torch.linspace(0, 1, int(num_bins_per_dim) + 1, dtype=x.dtype, device=x.device)[:-1]
    codes = torch.bucketize(scaled.contiguous(), edges, right=True)
    # np.digitize puts NaN (a constant dimension, 0/0) past the last edge
    codes = torch.where(torch.isnan(scaled), torch.full_like(codes, edges.numel()), codes)
    _, counts = torch.unique(codes, dim=0, return_counts=True)
    prob = counts.to(x.dtype) / counts.sum()
    return entropy_bits(prob)
