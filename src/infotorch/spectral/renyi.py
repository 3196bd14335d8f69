r"""Matrix-based Rényi α-entropy, joint entropy and mutual information (Giraldo, Rao & Príncipe).

For a normalized Gram matrix :math:`A` (positive semi-definite, unit trace) with eigenvalues
:math:`\lambda_i`,

.. math::
    S_\alpha(A) = \frac{1}{1-\alpha} \log_2 \sum_i \lambda_i^\alpha, \qquad
    S_\alpha(A, B) = S_\alpha\!\Big(\frac{A \circ B}{\mathrm{tr}(A \circ B)}\Big), \qquad
    I_\alpha(A; B) = S_\alpha(A) + S_\alpha(B) - S_\alpha(A, B).

:math:`\alpha \to 1` gives the von Neumann entropy :math:`-\sum \lambda_i \log_2 \lambda_i`; near
1 the cumulant series of :math:`\log\sum\lambda^{1+\delta}` replaces the quotient, so the value
is smooth through :math:`\alpha = 1`. For :math:`\alpha = 2`, :math:`\sum\lambda^2 = \|A\|_F^2`
needs no eigendecomposition and is differentiable everywhere; other orders go through
:func:`torch.linalg.eigvalsh`, differentiable where the eigenvalues are distinct. All functions
are differentiable in the points and usable as training losses.

References
----------
.. [1] L. G. Sanchez Giraldo, M. Rao and J. C. Príncipe, "Measures of Entropy From Data Using
       Infinitely Divisible Kernels", IEEE Trans. Inf. Theory 61(1), 2015 (arXiv 2012).
       https://doi.org/10.1109/TIT.2014.2370058
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from .. import _validation as v
from .graphs import squared_distances
from .kernel import _out_dtype, safe_units

__all__ = [
    "matrix_renyi_entropy",
    "matrix_renyi_joint_entropy",
    "matrix_renyi_mutual_information",
    "normalized_gram",
]

_KERNELS = ("gaussian", "linear")
_SERIES_BELOW = 1e-4  # |alpha - 1| under which the cumulant series is used


def normalized_gram(x: Tensor, sigma: float = 1.0, kernel: str = "gaussian") -> Tensor:
    r"""Unit-trace Gram matrix of ``(N, D)`` points (Gaussian or cosine kernel).

    :math:`A_{ij} = \frac1N \frac{K_{ij}}{\sqrt{K_{ii}K_{jj}}}`.

    ``kernel="gaussian"``: :math:`K_{ij} = \exp(-\|x_i - x_j\|^2 / 2\sigma^2)` (so ``A = K/N``);
    ``"linear"``: :math:`K = XX^\top` (the cosine Gram; rows must be non-zero).
    """
    x = v.ensure_tensor(x, "x")
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"x must be 2-D (N points, D features), got shape {tuple(x.shape)}")
    if kernel not in _KERNELS:
        raise ValueError(f"kernel must be one of {_KERNELS}, got {kernel!r}")
    if x.is_complex():
        raise TypeError(f"x must be a real tensor, got dtype {x.dtype}")
    if not x.is_floating_point() or x.dtype in (torch.float16, torch.bfloat16):
        x = x.to(torch.float32 if x.is_floating_point() else torch.get_default_dtype())  # half computes in float32
    v.check_finite(x, "x")
    n = x.shape[0]
    if kernel == "gaussian":
        # A(x, σ) = A(x/c, σ/c): points whose squares would leave the dtype's range in units of c
        x, scaled, _ = safe_units(x, v.check_positive_number(sigma, "sigma"))
        s = float(scaled)
        if 2 * s * s < torch.finfo(x.dtype if x.is_floating_point() else torch.float32).tiny:
            raise ValueError(
                f"sigma must be at least {math.sqrt(torch.finfo(x.dtype).tiny):.3g} for {x.dtype}, got {sigma!r}"
            )
        d2 = squared_distances(x)
        return torch.exp(d2 * (-1.0 / (2 * s * s))) / n
    x = x / x.detach().abs().amax(dim=1, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)  # cosine: per-row scale
    k = x @ x.T
    diag = k.diagonal()
    if bool((diag <= 0).any()):
        raise ValueError("x must have no zero rows for the linear (cosine) kernel")
    inv = diag.rsqrt()
    return inv[:, None] * k * inv[None, :] / n


def _check_alpha(alpha: Any) -> float:
    return v.check_positive_number(alpha, "alpha")


def _entropy_of_gram(a_mat: Tensor, alpha: float, log_base: float) -> Tensor:
    """S_alpha of a unit-trace PSD matrix, in the unit of ``log_base``."""
    if alpha == 2.0:
        return -torch.log((a_mat * a_mat).sum()) / log_base
    lam = torch.linalg.eigvalsh(a_mat).clamp_min(0.0)  # projection on the PSD cone (round-off)
    lam = lam / lam.sum()
    positive = lam > 0
    one = torch.ones((), dtype=lam.dtype, device=lam.device)
    log_lam = torch.where(positive, lam, one).log()
    delta = alpha - 1.0
    if abs(delta) < _SERIES_BELOW:
        # -(1/δ) log Σ λ e^{δ log λ} = -(κ1 + κ2 δ/2 + κ3 δ²/6 + O(δ³)), cumulants of log λ under λ
        m1 = (lam * log_lam).sum()
        m2 = (lam * log_lam**2).sum()
        m3 = (lam * log_lam**3).sum()
        k2 = m2 - m1 * m1
        k3 = m3 - 3 * m1 * m2 + 2 * m1**3
        return -(m1 + k2 * delta / 2 + k3 * delta * delta / 6) / log_base
    # log Σ λ^α in log space (logsumexp of α log λ): no power underflows for large α
    scaled = torch.where(positive, alpha * log_lam, -torch.inf)
    return torch.logsumexp(scaled, dim=-1) / (1.0 - alpha) / log_base


def matrix_renyi_entropy(
    x: Tensor,
    alpha: float = 2.0,
    sigma: float = 1.0,
    *,
    kernel: str = "gaussian",
    base: float | str | None = 2,
) -> Tensor:
    r"""Matrix-based Rényi α-entropy of ``(N, D)`` points, in bits by default.

    Between 0 (all points equal) and :math:`\log N` (orthogonal rows with the linear kernel, or
    :math:`\sigma \to 0`). Returns a 0-d tensor on the input's device and dtype.

    Examples
    --------
    >>> import torch
    >>> from infotorch.spectral import matrix_renyi_entropy
    >>> matrix_renyi_entropy(torch.eye(8), alpha=1.5, kernel="linear")   # orthogonal rows: log2 8
    tensor(3.)
    """
    a = _check_alpha(alpha)
    log_base = math.log(2.0) if base == 2 else v.check_base(base)
    x = v.ensure_tensor(x, "x")
    gram = normalized_gram(x, sigma, kernel)
    return _entropy_of_gram(gram, a, log_base).to(_out_dtype(x))


def matrix_renyi_joint_entropy(
    x: Tensor,
    y: Tensor,
    alpha: float = 2.0,
    sigma_x: float = 1.0,
    sigma_y: float = 1.0,
    *,
    kernel: str = "gaussian",
    base: float | str | None = 2,
) -> Tensor:
    r"""Joint matrix-based Rényi entropy of paired points, from the Hadamard product of their Grams.

    :math:`S_\alpha(A \circ B / \mathrm{tr}(A \circ B))`."""
    a, log_base, ga, gb = _paired_grams(x, y, alpha, sigma_x, sigma_y, kernel, base)
    joint = ga * gb
    return _entropy_of_gram(joint / joint.trace(), a, log_base).to(_out_dtype(x))


def _paired_grams(
    x: Tensor, y: Tensor, alpha: float, sigma_x: float, sigma_y: float, kernel: str, base: Any
) -> tuple[float, float, Tensor, Tensor]:
    """Validated ``(alpha, ln base, A, B)`` for a pair of point sets."""
    a = _check_alpha(alpha)
    log_base = math.log(2.0) if base == 2 else v.check_base(base)
    x, y = v.ensure_tensor(x, "x"), v.ensure_tensor(y, "y")
    if x.ndim == 0 or y.ndim == 0 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must hold the same number of points, got {x.shape[0]} and {y.shape[0]}")
    return a, log_base, normalized_gram(x, sigma_x, kernel), normalized_gram(y, sigma_y, kernel)


def matrix_renyi_mutual_information(
    x: Tensor,
    y: Tensor,
    alpha: float = 2.0,
    sigma_x: float = 1.0,
    sigma_y: float = 1.0,
    *,
    kernel: str = "gaussian",
    base: float | str | None = 2,
) -> Tensor:
    r"""Matrix-based Rényi mutual information :math:`S_\alpha(A) + S_\alpha(B) - S_\alpha(A, B)`.

    Examples
    --------
    >>> import torch
    >>> from infotorch.spectral import matrix_renyi_mutual_information
    >>> x = torch.randn(50, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> same = matrix_renyi_mutual_information(x, x)
    >>> noise = torch.randn(50, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    >>> bool(same > matrix_renyi_mutual_information(x, noise))
    True
    """
    a, log_base, ga, gb = _paired_grams(x, y, alpha, sigma_x, sigma_y, kernel, base)
    joint = ga * gb
    value = (
        _entropy_of_gram(ga, a, log_base)
        + _entropy_of_gram(gb, a, log_base)
        - _entropy_of_gram(joint / joint.trace(), a, log_base)
    )
    return value.to(_out_dtype(x))
