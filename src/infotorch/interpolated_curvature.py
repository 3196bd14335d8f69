r"""Curvature of the interpolated density entropy: Hessian-vector products, the exact Hessian
(banded plus rank two, in O(n)), the diagonal and the full banded Fisher metric, natural-gradient
steps and the adaptive gradient clip. The entropy itself is :mod:`infotorch.interpolated`.
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import torch
from torch import Tensor

from . import _validation as v
from .interpolated import (
    _forward_core,
    _inverse_spacings,
    _pad_left,
    _pad_right,
    _point_weights,
    _prepare,
    interpolated_density_entropy,
)

__all__ = [
    "BandedFisher",
    "StructuredHessian",
    "interpolated_density_entropy_hessian",
    "interpolated_density_entropy_hvp",
    "interpolated_density_entropy_structured_hessian",
    "interpolated_density_fisher",
    "interpolated_density_fisher_diag",
    "min_gap_gradient_clip_hook",
    "natural_gradient_step",
]


def _entropy_sum(x: Tensor, **kw: Any) -> Tensor:
    return interpolated_density_entropy(x, keepdim=False, **kw).sum()


def interpolated_density_entropy_hvp(x: Tensor, vec: Tensor, **kw: Any) -> Tensor:
    r"""Hessian-vector product :math:`(\nabla^2_x H)\,v` per row, O(n) after the sort (double
    backward of the closed-form gradient). ``kw`` as :func:`interpolated_density_entropy`."""
    x = v.ensure_tensor(x, "x")
    vec = v.ensure_tensor(vec, "v")
    v.check_same_shape(x, vec, "x", "v")
    if x.ndim == 0 or x.shape[-1] < 2:  # fewer than two values: H is constant, its Hessian 0
        return torch.zeros_like(vec)
    with torch.enable_grad():
        xx = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(_entropy_sum(xx, **kw), xx, create_graph=True)
        (hv,) = torch.autograd.grad(g, xx, vec)
    return hv


def _band_to_dense(band: Tensor) -> Tensor:
    """``(R, n, n)`` from a band ``(R, 2b + 1, n)`` with ``band[:, k + b, i] = M[i, i + k]``."""
    r, width, n = band.shape
    b = (width - 1) // 2
    m = torch.zeros(r, n, n, dtype=band.dtype, device=band.device)
    idx = torch.arange(n, device=band.device)
    for k in range(-b, b + 1):
        keep = (idx + k >= 0) & (idx + k < n)
        m[:, idx[keep], idx[keep] + k] = band[:, k + b, idx[keep]]
    return m


class StructuredHessian(NamedTuple):
    """``hessian(sorted) = banded(band) + low_rank @ coefficients @ low_rankᵀ`` per row.

    ``band`` ``(R, 2b + 1, n)`` holds ``band[:, k + b, i] = M[i, i + k]`` of the banded part
    ``M`` (``b = 2·window + 1``); ``low_rank`` ``(R, n, 2)``, ``coefficients`` ``(R, 2, 2)``;
    ``perm`` sorts each row (sorted index ``i`` is input index ``perm[:, i]``).
    """

    band: Tensor
    low_rank: Tensor
    coefficients: Tensor
    perm: Tensor

    def dense_sorted(self) -> Tensor:
        """The ``(R, n, n)`` Hessian in sorted order."""
        m = _band_to_dense(self.band)
        return m + self.low_rank @ self.coefficients @ self.low_rank.transpose(-1, -2)

    def dense(self) -> Tensor:
        """The ``(R, n, n)`` Hessian in the input's order."""
        h = self.dense_sorted()
        inv = torch.argsort(self.perm, dim=-1)
        n = h.shape[-1]
        h = h.gather(-2, inv.unsqueeze(-1).expand(-1, -1, n))
        return h.gather(-1, inv.unsqueeze(-2).expand(-1, n, -1))


def interpolated_density_entropy_structured_hessian(
    x: Tensor, *, epsilon: float | None = None, window: int = 1
) -> StructuredHessian:
    """The exact Hessian of each row in its O(n) banded-plus-rank-two form (see
    :func:`interpolated_density_entropy_hessian`)."""
    return _hessian(x, epsilon, window)


def interpolated_density_entropy_hessian(
    x: Tensor, *, structured: bool = False, epsilon: float | None = None, window: int = 1
) -> Any:
    r"""The exact Hessian of H in each row, in O(n) work and storage (structured form).

    In sorted order it is **banded plus rank two**. With :math:`H = \log Z - A/Z`, both
    :math:`Z` and :math:`A` are sums of local terms (term ``i`` involves :math:`s_{i-m}..s_{i+m+1}`):

    .. math::
        \nabla^2 H = \underbrace{\tfrac1Z\big[(1 + \tfrac AZ)\nabla^2 Z - \nabla^2 A\big]}_{M,\ \text{banded}}
        + \tfrac1Z(\nabla Z\,q^\top + q\,\nabla Z^\top) - \tfrac1{Z^2}\nabla Z\,\nabla Z^\top,
        \qquad q = \nabla(A/Z).

    ``M`` has half-width ``b = 2·window + 1`` (3 for ``window = 1``: a
    "pentadiagonal" band misses the coupling of :math:`s_{i-1}` and :math:`s_{i+2}` through
    :math:`g(w_i, w_{i+1})`; the normalization :math:`Z` adds the rank-two part). Its band is
    read off ``2b + 1`` coloured Hessian-vector products of :math:`Z` and :math:`A` (the column
    groups ``j ≡ c mod (2b + 1)`` do not overlap within a band), so the cost is O(n) per row.
    Returns the dense ``(..., n, n)`` Hessian in the input's order (O(n²) memory);
    :func:`interpolated_density_entropy_structured_hessian` returns the O(n) structured form
    (``structured=True`` here is its deprecated spelling).

    ``epsilon`` as :func:`~infotorch.interpolated.interpolated_density_entropy` (the same default,
    so ``hessian(x) @ v`` equals :func:`interpolated_density_entropy_hvp` ``(x, v)`` with the
    same arguments): an absolute epsilon gives the exact Hessian; with the default relative
    epsilon (proportional to the row's range) that epsilon is held at its value at ``x``, leaving
    out its own dependence on the range (about 1e-7 relative on random rows, more where gaps are
    comparable to epsilon).
    """
    if structured:
        warnings.warn(
            "structured=True is deprecated: use interpolated_density_entropy_structured_hessian(x)",
            FutureWarning,
            stacklevel=2,
        )
        return _hessian(x, epsilon, window)
    rows_shape = v.ensure_tensor(x, "x").shape
    n = rows_shape[-1] if len(rows_shape) else 0
    if len(rows_shape) and n < 2:  # fewer than two values: H is constant
        return torch.zeros(*rows_shape, n, dtype=x.dtype, device=x.device)
    return _hessian(x, epsilon, window).dense().reshape(*rows_shape[:-1], n, n).to(x.dtype)


def _hessian(x: Tensor, epsilon: float | None, window: int) -> StructuredHessian:
    rows, eps, _, _batch = _prepare(x, epsilon, False, False)
    n = rows.shape[-1]
    window = int(window)
    sorted_rows, perm = torch.sort(rows.detach(), dim=-1)
    b = 2 * window + 1
    ncol = 2 * b + 1
    with torch.enable_grad():
        s = sorted_rows.clone().requires_grad_(True)
        _, _, _, z, a_sum = _forward_core(s, eps, window, need_grad=False)
        (gz,) = torch.autograd.grad(z.sum(), s, create_graph=True)
        (ga,) = torch.autograd.grad(a_sum.sum(), s, create_graph=True)
        idx = torch.arange(n, device=s.device)
        band_z = torch.zeros(rows.shape[0], ncol, n, dtype=s.dtype, device=s.device)
        band_a = torch.zeros_like(band_z)
        for c in range(ncol):
            u = (idx % ncol == c).to(s.dtype).expand_as(s)
            (hz,) = torch.autograd.grad(gz, s, u, retain_graph=True)
            (ha,) = torch.autograd.grad(ga, s, u, retain_graph=True)
            k = (c - idx + b) % ncol - b  # row i meets column j ≡ c at offset k = j − i
            band_z[:, k + b, idx] = hz.detach()
            band_a[:, k + b, idx] = ha.detach()
    z, a_sum, gz, ga = z.detach(), a_sum.detach(), gz.detach(), ga.detach()
    band = ((1 + a_sum / z).unsqueeze(-1) * band_z - band_a) / z.unsqueeze(-1)
    q = (ga - (a_sum / z) * gz) / z
    low_rank = torch.stack([gz, q], dim=-1)
    zz = z.reshape(-1)
    coefficients = torch.stack(
        [torch.stack([-1 / zz**2, 1 / zz], -1), torch.stack([1 / zz, torch.zeros_like(zz)], -1)], -2
    )
    return StructuredHessian(band, low_rank, coefficients, perm)


def interpolated_density_fisher_diag(x: Tensor, epsilon: float | None = None, *, window: int = 1) -> Tensor:
    r"""The diagonal Fisher approximation of the entropy's curvature, in the input's order.

    :math:`\tilde I_{ii} = \frac{1}{Z^2}\big(d_{i-1}^{-2} + d_i^{-2}\big)`
    (one term at the ends), with :math:`Z` computed from the unscaled weights (τ cancels), in the
    input's order. Positive, O(n); it scales as :math:`1/c^2` when the values are scaled by
    :math:`c`, as the Hessian does. Rows of fewer than two values give 0."""
    rows, eps, out, batch = _prepare(x, epsilon, False, False)
    if rows.shape[-1] < 2:
        return torch.zeros_like(rows).reshape(*batch, -1).to(out)
    s, perm = torch.sort(rows.detach(), -1)
    inv_plus, inv_minus, _, _ = _inverse_spacings(s, eps, int(window))
    w = _point_weights(inv_plus, inv_minus)
    delta = s[..., 1:] - s[..., :-1]
    z = 0.5 * (delta * (w[..., :-1] + w[..., 1:])).sum(-1, keepdim=True)
    z = torch.where(z > 0, z, w.amax(-1, keepdim=True))  # zero-range rows, as the forward guards them
    fisher = _pad_right(inv_plus * inv_plus) + _pad_left(inv_minus * inv_minus)
    fisher = fisher / (z * z)
    return torch.zeros_like(fisher).scatter(-1, perm, fisher).reshape(*batch, -1).to(out)


class BandedFisher(NamedTuple):
    """The banded Fisher metric of :func:`interpolated_density_fisher` per row, in sorted order.

    ``band`` ``(R, 2b + 1, n)`` holds ``band[:, k + b, i] = F[i, i + k]`` (``b = window``);
    ``perm`` sorts each row (sorted index ``i`` is input index ``perm[:, i]``)."""

    band: Tensor
    perm: Tensor

    def dense(self) -> Tensor:
        """The ``(R, n, n)`` matrix in the input's order (O(n²) memory: for tests and small n)."""
        m = _band_to_dense(self.band)
        n = m.shape[-1]
        inv = torch.argsort(self.perm, dim=-1)
        m = m.gather(-2, inv.unsqueeze(-1).expand(-1, -1, n))
        return m.gather(-1, inv.unsqueeze(-2).expand(-1, n, -1))


def interpolated_density_fisher(x: Tensor, epsilon: float | None = None, *, window: int = 1) -> BandedFisher:
    r"""The full banded Fisher metric; for ``window = 1`` its diagonal is
    :func:`interpolated_density_fisher_diag` (for wider windows the two place the m-spacing terms
    on different points, so they differ).

    Each spacing :math:`g` between sorted points :math:`a < b` (the one-sided m-spacings of
    ``window``; the plain gaps for ``window = 1``) with inverse :math:`u_g = 1/(d_g + \epsilon)`
    contributes :math:`\frac{u_g^2}{2Z^2}(e_b - e_a)(e_b - e_a)^\top`, so

    .. math::
        F = \frac1{2Z^2}\sum_g u_g^2\,(e_b - e_a)(e_b - e_a)^\top,

    a weighted graph Laplacian: symmetric positive semi-definite, banded with half-width
    ``window`` in sorted order, null on the translation ``(1, …, 1)`` (as the entropy is
    translation invariant), and for ``window = 1`` tridiagonal with the diagonal
    :math:`(u_{i-1}^2 + u_i^2)/Z^2` of the diagonal approximation. Scaling the values by ``c``
    (and epsilon with them) scales it by :math:`1/c^2`, as the Hessian. Stored in O(n·window).
    """
    rows, eps, _, _ = _prepare(x, epsilon, False, False)
    window = int(window)
    s, perm = torch.sort(rows.detach(), -1)
    n = s.shape[-1]
    inv_plus, inv_minus, kp, km = _inverse_spacings(s, eps, window)
    w = _point_weights(inv_plus, inv_minus)
    delta = s[..., 1:] - s[..., :-1]
    z = 0.5 * (delta * (w[..., :-1] + w[..., 1:])).sum(-1, keepdim=True)
    z = torch.where(z > 0, z, w.amax(-1, keepdim=True))
    band = torch.zeros(rows.shape[0], 2 * window + 1, n, dtype=s.dtype, device=s.device)
    idx = torch.arange(n - 1, device=s.device)
    # plus spacing i: from i to i + k_plus; minus spacing j: from j + 1 - k_minus to j + 1
    for start, k, u in ((idx, kp.long(), inv_plus), (idx + 1 - km.long(), km.long(), inv_minus)):
        c = 0.5 * u * u / (z * z)
        end = start + k
        band[:, window].index_add_(1, start, c)
        band[:, window].index_add_(1, end, c)
        for kk in range(1, window + 1):
            sel = k == kk
            if bool(sel.any()):
                band[:, window + kk].index_add_(1, start[sel], -c[:, sel])
                band[:, window - kk].index_add_(1, end[sel], -c[:, sel])
    return BandedFisher(band, perm)


def _banded_solve(band: Tensor, rhs: Tensor) -> Tensor:
    """Solve ``A y = rhs`` for symmetric positive-definite banded ``A`` (``band`` as in
    :class:`BandedFisher`), batched over rows, by the banded Cholesky factorization ``A = L Lᵀ``:
    O(n·b²) work, O(n·b) memory."""
    r, width, n = band.shape
    b = (width - 1) // 2
    # L[i, i - k] for k = 0..b, stored as lo[:, k, i]
    lo = torch.zeros(r, b + 1, n, dtype=band.dtype, device=band.device)
    for i in range(n):
        for k in range(min(b, i), 0, -1):
            j = i - k  # L[i, j] = (A[i, j] - sum_{l} L[i, l] L[j, l]) / L[j, j]
            acc = band[:, b - k, i].clone()
            for t in range(1, b + 1 - k):
                if j - t >= 0:
                    acc = acc - lo[:, k + t, i] * lo[:, t, j]
            lo[:, k, i] = acc / lo[:, 0, j]
        diag = band[:, b, i] - (lo[:, 1 : min(b, i) + 1, i] ** 2).sum(-1)
        if bool((diag <= 0).any()):
            raise ValueError("the damped Fisher metric is not positive definite at this precision; increase damping")
        lo[:, 0, i] = diag.sqrt()
    y = torch.zeros_like(rhs)
    for i in range(n):  # forward: L y = rhs
        acc = rhs[:, i].clone()
        for k in range(1, min(b, i) + 1):
            acc = acc - lo[:, k, i] * y[:, i - k]
        y[:, i] = acc / lo[:, 0, i]
    out = torch.zeros_like(rhs)
    for i in range(n - 1, -1, -1):  # backward: Lᵀ out = y
        acc = y[:, i].clone()
        for k in range(1, min(b, n - 1 - i) + 1):
            acc = acc - lo[:, k, i + k] * out[:, i + k]
        out[:, i] = acc / lo[:, 0, i]
    return out


def natural_gradient_step(
    x: Tensor,
    lr: float = 0.1,
    *,
    maximize: bool = True,
    damping: float = 1e-3,
    fisher: str = "diagonal",
    **kw: Any,
) -> Tensor:
    r"""One natural-gradient step on the entropy (ascent by default):
    :math:`x \pm \eta\,(F + \lambda I)^{-1} \nabla H` (``+`` to maximize).

    ``fisher="diagonal"``: :func:`interpolated_density_fisher_diag` (a division).
    ``fisher="banded"``: the full banded metric of :func:`interpolated_density_fisher`, solved in
    float64 by a banded Cholesky factorization in O(n·window²) (a Python loop over the n points;
    use it for rows of up to a few thousand values). ``damping`` is relative: :math:`\lambda` is
    ``damping`` (1e-3) times the row's mean Fisher diagonal, so the step does not depend on the
    data's scale (a Levenberg-style damping: the metric's weakest directions are nearly singular); it makes the translation-null metric positive definite, and the translation component
    (on which H does not depend) is removed from the step. ``epsilon`` and ``window`` (in ``kw``)
    are those of the entropy, for the gradient and the metric alike. Returns the new values (no
    autograd graph)."""
    x = v.ensure_tensor(x, "x")
    v.check_choice(fisher, ("diagonal", "banded"), "fisher")
    damping = v.check_positive_number(damping, "damping")
    with torch.enable_grad():
        xx = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(_entropy_sum(xx, **kw), xx)
    eps, window = kw.get("epsilon"), kw.get("window", 1)
    if fisher == "diagonal":
        f = interpolated_density_fisher_diag(x, eps, window=window)
        step = g / (f + damping * f.mean(-1, keepdim=True))
    else:
        fm = interpolated_density_fisher(x, eps, window=window)
        band = fm.band.to(torch.float64).clone()
        mid = (band.shape[1] - 1) // 2
        band[:, mid] += damping * band[:, mid].mean(-1, keepdim=True)
        rows_g = g.reshape(-1, g.shape[-1]).to(band.dtype).gather(-1, fm.perm)
        rows_g = rows_g - rows_g.mean(-1, keepdim=True)  # H is translation invariant: Σ g = 0
        sol = _banded_solve(band, rows_g)
        sol = sol - sol.mean(-1, keepdim=True)
        step = torch.zeros_like(sol).scatter(-1, fm.perm, sol).reshape(g.shape).to(g.dtype)
    return (x.detach() + lr * step) if maximize else (x.detach() - lr * step)


def min_gap_gradient_clip_hook(x: Tensor, base_clip: float = 1.0, epsilon: float = 1e-6) -> Any:
    r"""Register a gradient hook on ``x`` whose bound shrinks with the squared smallest gap (an adaptive clip).

    It clamps the gradient elementwise to
    :math:`\pm\,\mathrm{clamp}(\text{base\_clip}\cdot d_{\min}^2,\, 10^{-4},\, 10^4)` per row, with
    :math:`d_{\min}` the row's smallest gap (plus epsilon) at the time of the backward pass: the
    gradient grows like :math:`1/d^2`, so the bound shrinks with it (an adaptive clip).
    Returns the hook handle (``handle.remove()`` undoes it)."""
    x = v.ensure_tensor(x, "x")
    if not x.requires_grad:
        raise ValueError("x must require grad to carry a gradient-clipping hook")

    def hook(grad: Tensor) -> Tensor:
        s = torch.sort(x.detach(), dim=-1).values
        d_min = (s[..., 1:] - s[..., :-1]).amin(-1, keepdim=True) + epsilon
        clip = (base_clip * d_min * d_min).clamp(1e-4, 1e4)
        return torch.maximum(torch.minimum(grad, clip), -clip)

    return x.register_hook(hook)
