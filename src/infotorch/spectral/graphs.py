r"""Graphs on point clouds: stable squared distances, Gaussian kernels, the symmetric diffusion
operator and kNN adjacency.

All builders fill one ``N × N`` buffer in place when autograd is off (the peak memory of a
kernel is one matrix, not the five temporaries of a naive build), and fall back to out-of-place
arithmetic when the input requires gradients.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .. import _numerics as nx

__all__ = [
    "anisotropic_normalize",
    "diffusion_operator",
    "gaussian_kernel",
    "knn_adjacency",
    "median_distance",
    "median_distance_of",
    "squared_distances",
]


def squared_distances(x: Tensor) -> Tensor:
    r"""Pairwise squared Euclidean distances :math:`\|x_i - x_j\|^2`, ``(N, N)``.

    The points are centred first (distances are translation invariant), so that
    :math:`\|a\|^2 + \|b\|^2 - 2a\cdot b` does not cancel catastrophically for data far from the
    origin; negative round-off is clipped to 0 and the diagonal is exactly 0.
    """
    xc = x - x.mean(dim=0, keepdim=True)
    sq = (xc * xc).sum(dim=1)
    if nx.needs_grad(x):
        d2 = sq[:, None] + sq[None, :] - 2.0 * (xc @ xc.T)
        d2 = d2.clamp_min(0.0)
        return d2 * (1 - torch.eye(x.shape[0], dtype=d2.dtype, device=d2.device))
    d2 = xc @ xc.T
    d2.mul_(-2.0).add_(sq[:, None]).add_(sq[None, :]).clamp_(min=0.0)
    d2.fill_diagonal_(0.0)
    return d2


def gaussian_kernel(x: Tensor, sigma: float) -> Tensor:
    r"""Gaussian affinities :math:`G_{ij} = \exp(-\|x_i - x_j\|^2 / (2\sigma^2))`, ``(N, N)``.

    The normalizing constant :math:`1/(\sigma\sqrt{2\pi})` of ``dse-dsmi`` is left out: every
    entropy built on the kernel normalizes it away.
    """
    d2 = squared_distances(x)
    scale = -1.0 / (2.0 * float(sigma) ** 2)
    if nx.needs_grad(d2):
        return torch.exp(d2 * scale)
    return d2.mul_(scale).exp_()


def anisotropic_normalize(g: Tensor) -> Tensor:
    r"""The symmetric conjugate :math:`K = D^{-1/2} G D^{-1/2}` with :math:`D = \mathrm{diag}(G\mathbf 1)`.

    ``K`` has the eigenvalues of the diffusion operator :math:`P = D^{-1}G` and is symmetric,
    so :func:`torch.linalg.eigvalsh` applies. In place when autograd is off.
    """
    inv_sqrt = g.sum(dim=1).rsqrt()
    if nx.needs_grad(g):
        return inv_sqrt[:, None] * g * inv_sqrt[None, :]
    return g.mul_(inv_sqrt[:, None]).mul_(inv_sqrt[None, :])


def diffusion_operator(x: Tensor, sigma: float) -> Tensor:
    """The symmetric diffusion operator ``D^{-1/2} G D^{-1/2}`` of the Gaussian kernel of ``x``."""
    return anisotropic_normalize(gaussian_kernel(x, sigma))


def knn_adjacency(d2: Tensor, k: int) -> Tensor:
    r"""Binary kNN adjacency as ``dse-dsmi`` builds it: :math:`A_{ij} = [d_{ij} \le d_{i,(k)}]`.

    :math:`d_{i,(k)}` is the k-th smallest distance in row ``i``, the point itself (distance 0)
    included, so each row has at least ``k`` ones (more on ties). Not symmetric in general.
    """
    n = d2.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"knn must lie in [1, N={n}], got {k}")
    kth = torch.kthvalue(d2, k, dim=1, keepdim=True).values
    return (d2 <= kth).to(d2.dtype)


def median_distance(z: Tensor, max_points: int = 1000) -> float:
    """The median pairwise Euclidean distance of (up to the first ``max_points`` of) the rows of
    ``z``: the ``sigma="median"`` bandwidth rule of the monitor, the metrics and the CLI (1.0 when
    every distance is 0)."""
    return median_distance_of(squared_distances(z[:max_points].to(torch.float64)))


def median_distance_of(d2: Tensor) -> float:
    """The median off-diagonal distance of a squared-distance matrix (1.0 when it is 0): for an
    even count the lower of the two middle values (:func:`torch.median`'s rule; NumPy's median,
    which :mod:`infotorch.compat.dse_dsmi` follows, averages them)."""
    return float(median_distance_tensor(d2.detach()))


def median_distance_tensor(d2: Tensor) -> Tensor:
    """:func:`median_distance_of` as a 0-d tensor that carries the gradient of the median entry
    (so a kernel with the median bandwidth is differentiable as the function it is)."""
    n = d2.shape[0]
    iu = torch.triu_indices(n, n, offset=1, device=d2.device)
    sq = d2[iu[0], iu[1]]
    if sq.numel() == 0:
        return torch.ones((), dtype=d2.dtype, device=d2.device)
    med = sq.median()
    positive = med > 0
    return torch.where(positive, torch.where(positive, med, 1.0).sqrt(), 1.0)
