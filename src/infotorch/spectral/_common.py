"""Shared plumbing of the spectral measures: numpy/tensor edge, validation, subsampling, and
the entropy of a spectrum or of a histogram, in bits."""

from __future__ import annotations

import math
import random
import sys
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .. import _numerics as nx
from .. import _validation as v
from .graphs import anisotropic_normalize

__all__ = [
    "as_embeddings",
    "binned_entropy",
    "entropy_bits",
    "finish",
    "log",
    "matrix_entry_entropy_of_kernel",
    "spectrum_entropy",
    "subsample_indices",
]

_LN2 = math.log(2.0)


def log(verbose: bool, message: str) -> None:
    """Progress messages go to stderr, so that stdout stays clean for data (``--json``)."""
    if verbose:
        print(message, file=sys.stderr, flush=True)


def as_embeddings(x: Any, name: str, dtype: torch.dtype) -> tuple[Tensor, bool, torch.dtype]:
    """``(tensor in dtype, came_from_numpy, dtype to return)`` for an ``(N, D)`` input, N >= 2."""
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    if isinstance(x, Tensor):
        from_numpy, out = False, (x.dtype if x.is_floating_point() else torch.get_default_dtype())
        t = x
    elif isinstance(x, np.ndarray) or hasattr(x, "__array__"):
        arr = np.asarray(x)
        if arr.dtype == object:
            raise TypeError(f"{name} must be a numeric array, got dtype object")
        from_numpy, out = True, torch.float64
        t = torch.from_numpy(np.ascontiguousarray(arr))
    else:
        raise TypeError(f"{name} must be a numpy array or a torch.Tensor, got {type(x).__name__}")
    if t.ndim != 2:
        raise ValueError(f"{name} must be 2-D (N points, D features), got shape {tuple(t.shape)}")
    if t.shape[0] < 2:
        raise ValueError(f"{name} must hold at least 2 points (N >= 2), got N = {t.shape[0]}")
    if t.shape[1] < 1:
        raise ValueError(f"{name} must have at least one feature, got shape {tuple(t.shape)}")
    if t.is_complex():
        raise TypeError(f"{name} must be real, got dtype {t.dtype}")
    t = t.to(dtype)
    v.check_finite(t, name)
    return t, from_numpy, out


def finish(value: Tensor, from_numpy: bool, out_dtype: torch.dtype) -> Any:
    """Python float for numpy callers, a tensor (input dtype, input device) for tensor callers."""
    if from_numpy:
        return float(value.detach().cpu())
    return value.to(out_dtype)


def subsample_indices(
    n: int, max_n: int | None, random_seed: int | None, rng: random.Random | None = None
) -> list[int] | None:
    """``dse-dsmi``'s draw: ``random.seed(seed); random.sample(range(n), k=max_n)`` when ``n > max_n``.

    Made with a private :class:`random.Random`, so the global ``random`` state is untouched;
    with ``random_seed=None`` an unseeded generator (``rng`` if given) is used.
    """
    if max_n is None or n <= max_n:
        return None
    if random_seed is not None:
        rng = random.Random(random_seed)
    elif rng is None:
        rng = random.Random()
    return rng.sample(range(n), k=max_n)


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
    if t == 0:
        return entropy_bits(torch.full_like(mag, 1.0 / mag.numel()))
    if t == 1:
        return entropy_bits(mag / mag.sum())
    positive = mag > 0
    log_mag = torch.where(positive, torch.where(positive, mag, 1.0).log(), -torch.inf)
    scaled = log_mag * t
    log_p = scaled - torch.logsumexp(scaled, dim=-1, keepdim=True)
    return entropy_bits(torch.where(positive, log_p.exp(), 0.0))


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
