"""The interpolated density entropy as a layer."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from .. import _validation as v
from ..interpolated import interpolated_density, interpolated_density_entropy

__all__ = ["InterpolatedDensityEntropy"]


class InterpolatedDensityEntropy(nn.Module):
    r"""Differentiable entropy of the piecewise-linear density interpolated between the values of
    each row; see :func:`infotorch.interpolated_density_entropy`.

    ``epsilon`` is a registered buffer (an absolute 1e-6 by default, as the original layer;
    ``epsilon=None`` uses the functional's scale-aware 1e-6 times each row's mean gap);
    ``temperature`` a trainable parameter, 1.0 by default (or, with ``softplus_temperature=True``,
    ``tau = softplus(temperature_raw)`` with ``temperature_raw`` drawn from N(0, 0.1) unless a
    ``temperature`` is given). The entropy does not depend on the temperature (it cancels in the
    normalization; its gradient is exactly 0): it is a parameter for compatibility with the
    original layer's interface, not because it changes anything.
    Input ``(n,)`` or ``(..., n)``; output ``(..., 1)`` (``keepdim=False``: ``(...)``);
    ``forward(x, return_density=True)`` returns ``(H, p, s)``.

    Examples
    --------
    >>> import torch
    >>> from infotorch.nn import InterpolatedDensityEntropy
    >>> layer = InterpolatedDensityEntropy()
    >>> layer(torch.randn(4, 32)).shape
    torch.Size([4, 1])
    """

    epsilon: Tensor

    def __init__(
        self,
        epsilon: float | None = 1e-6,
        temperature: float | None = None,
        interpolation_type: str = "linear",
        *,
        softplus_temperature: bool = False,
        window: int = 1,
        adaptive_epsilon: bool = False,
        accumulate_float64: bool = False,
        bandwidth: float | None = None,
        keepdim: bool = True,
    ) -> None:
        super().__init__()
        # epsilon=None: the functional's scale-aware default (1e-6 times each row's mean gap)
        self.relative_epsilon = epsilon is None
        eps_value = 1e-6 if epsilon is None else v.check_positive_number(epsilon, "epsilon")
        self.register_buffer("epsilon", torch.tensor(eps_value))
        self.softplus_temperature = softplus_temperature
        if softplus_temperature:
            if temperature is None:  # tau_raw ~ N(0, 0.1), tau = softplus(tau_raw) (global RNG, as nn.Linear)
                self.temperature_raw = nn.Parameter(torch.randn(()) * 0.1)
            else:
                t = v.check_positive_number(temperature, "temperature")
                # softplus^{-1}(t) = t + log(1 - e^{-t}), without overflow for large t
                raw = t + math.log(-math.expm1(-t))
                self.temperature_raw = nn.Parameter(torch.tensor(raw))
        else:
            t = 1.0 if temperature is None else v.check_positive_number(temperature, "temperature")
            self.temperature = nn.Parameter(torch.tensor(t))
        self.interpolation_type = interpolation_type
        self.window, self.adaptive_epsilon, self.accumulate_float64 = window, adaptive_epsilon, accumulate_float64
        self.bandwidth, self.keepdim = bandwidth, keepdim

    def tau(self) -> Tensor:
        """The temperature in use (``softplus(temperature_raw)`` with the softplus option)."""
        if self.softplus_temperature:
            return nn.functional.softplus(self.temperature_raw)
        return self.temperature

    def forward(self, x: Tensor, return_density: bool = False) -> Any:
        """The entropy; with ``return_density=True`` (the original layer's option) the named tuple
        ``(entropy, density, support)`` of :func:`infotorch.interpolated_density`."""
        fn = interpolated_density if return_density else interpolated_density_entropy
        return fn(
            x,
            None if self.relative_epsilon else float(self.epsilon),
            self.interpolation_type,
            temperature=self.tau(),
            window=self.window,
            adaptive_epsilon=self.adaptive_epsilon,
            accumulate_float64=self.accumulate_float64,
            bandwidth=self.bandwidth,
            keepdim=self.keepdim,
        )

    def extra_repr(self) -> str:
        return f"epsilon={float(self.epsilon)}, interpolation_type={self.interpolation_type!r}, window={self.window}"
