"""Shared fixtures: devices (CUDA skipped when absent), dtype tolerances, hypothesis profile."""

from __future__ import annotations

import os

import pytest
import torch
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=[
            pytest.mark.cuda,
            pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device present"),
        ],
    ),
]

#: (rtol, atol) for comparing a result computed in ``dtype`` with a float64 reference.
TOLERANCE = {
    torch.float64: (1e-10, 1e-12),
    torch.float32: (1e-5, 1e-6),
    torch.float16: (2e-3, 2e-3),
    torch.bfloat16: (2e-2, 2e-2),
}


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(1234)


def random_probs(
    shape: tuple[int, ...], gen: torch.Generator, zeros: bool = False, dtype=torch.float64
) -> torch.Tensor:
    """Random distributions along the last dim; ``zeros`` knocks out about a third of entries."""
    x = torch.rand(shape, generator=gen, dtype=torch.float64) + 0.05
    if zeros:
        mask = torch.rand(shape, generator=gen) < 0.33
        mask[..., 0] = False
        x = x.masked_fill(mask, 0.0)
    return (x / x.sum(-1, keepdim=True)).to(dtype)
