"""Bad input gets a clear ValueError/TypeError that names the argument (reference: the
contract in DESIGN.md's Errors section)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import infotorch as it

P = torch.tensor([0.2, 0.3, 0.5])


@pytest.mark.parametrize(
    "call, exc, pattern",
    [
        (
            lambda: it.entropy(torch.tensor([0.5, 0.6])),
            ValueError,
            r"p must sum to 1 along dim -1 \(max deviation 0.1",
        ),
        (lambda: it.entropy(torch.tensor([1.2, -0.2])), ValueError, "p must be non-negative"),
        (lambda: it.entropy(torch.tensor([0.5, math.nan])), ValueError, "p must be finite, got 1 NaN"),
        (
            lambda: it.entropy(torch.tensor([0.5, math.inf])),
            ValueError,
            "p must be finite, got 0 NaN and 1 infinite",
        ),
        (lambda: it.entropy(P, logits=P), ValueError, "either p or logits must be given, but not both"),
        (lambda: it.entropy(), ValueError, r"either p or logits .* \(got neither\)"),
        (
            lambda: it.entropy(np.array([0.5, 0.5])),
            TypeError,
            "p must be a torch.Tensor, got ndarray.*torch.as_tensor",
        ),
        (lambda: it.entropy(P, dim=1), ValueError, r"dim must be in \[-1, 0\]"),
        (lambda: it.entropy(P, dim=0.5), TypeError, "dim must be an int"),
        (
            lambda: it.entropy(P, base=1),
            ValueError,
            "base must be 'e' or a positive number other than 1, got 1",
        ),
        (lambda: it.entropy(P, base=-2), ValueError, "base must be"),
        (lambda: it.entropy(P, base="two"), TypeError, "base must be"),
        (
            lambda: it.entropy(P, reduction="avg"),
            ValueError,
            "reduction must be one of 'none' | 'mean' | 'sum', got 'avg'",
        ),
        (lambda: it.entropy(logits=torch.tensor([math.nan, 0.0])), ValueError, "logits must not contain NaN"),
        (
            lambda: it.entropy(logits=torch.tensor([math.inf, 0.0])),
            ValueError,
            r"logits must not contain \+inf",
        ),
        (lambda: it.entropy(logits=torch.tensor([-math.inf, -math.inf])), ValueError, "all -inf"),
        (
            lambda: it.entropy(logits=torch.tensor([1, 2])),
            TypeError,
            "logits must be a floating-point tensor",
        ),
        (
            lambda: it.kl_divergence(P, torch.tensor([0.5, 0.5])),
            ValueError,
            r"p and q must have broadcastable shapes, got \(3,\) and \(2,\)",
        ),
        (lambda: it.kl_divergence(P, torch.tensor([0.5, 0.6, 0.1])), ValueError, "q must sum to 1"),
        (
            lambda: it.cross_entropy(P, q_logits=torch.tensor([0.0, math.nan, 1.0])),
            ValueError,
            "q_logits must not contain NaN",
        ),
        (
            lambda: it.js_divergence(P, P, weights=(0.7, 0.7)),
            ValueError,
            "weights must be two non-negative numbers summing to 1",
        ),
        (
            lambda: it.joint_entropy(torch.full((2, 2), 0.3)),
            ValueError,
            r"joint must sum to 1 along dims \(0, 1\)",
        ),
        (lambda: it.mutual_information(P), ValueError, "at least 2 dimensions"),
        (
            lambda: it.mutual_information(torch.full((2, 2), 0.25), dims=(0, 0)),
            ValueError,
            "two different dimensions",
        ),
        (
            lambda: it.mutual_information_from_samples(torch.rand(4), torch.rand(4)),
            TypeError,
            "x must hold integer codes",
        ),
        (
            lambda: it.mutual_information_from_samples(
                torch.zeros(4, dtype=torch.long), torch.zeros(5, dtype=torch.long)
            ),
            ValueError,
            r"x and y must have the same shape, got \(4,\) and \(5,\)",
        ),
        (
            lambda: it.mutual_information_from_samples(
                torch.zeros(4, dtype=torch.long),
                torch.zeros(4, dtype=torch.long),
                bias_correction="jackknife",
            ),
            ValueError,
            "bias_correction must be None or 'miller-madow'",
        ),
        (
            lambda: it.entropy_from_samples(torch.zeros(0, dtype=torch.long)),
            ValueError,
            "at least one sample",
        ),
        (
            lambda: it.normalized_mutual_information(torch.eye(2) / 2, average="median"),
            ValueError,
            "average must be one of",
        ),
        (
            lambda: it.binary_cross_entropy(torch.tensor([1.5]), torch.tensor([1.0])),
            ValueError,
            r"p must lie in \[0, 1\]",
        ),
        (
            lambda: it.binary_cross_entropy(logits=torch.tensor([0.0]), target=torch.tensor([2.0])),
            ValueError,
            r"target must lie in \[0, 1\]",
        ),
        (
            lambda: it.binary_cross_entropy(logits=torch.tensor([0.0])),
            TypeError,
            "missing the required argument target",
        ),
        (lambda: it.binary_entropy(torch.tensor([-0.1])), ValueError, r"p must lie in \[0, 1\]"),
    ],
)
def test_errors_name_the_argument(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_validate_false_skips_value_checks():
    # an unnormalized input is the caller's business with validate=False
    assert torch.isfinite(it.entropy(torch.tensor([0.5, 0.6]), validate=False))
    # metadata checks still run
    with pytest.raises(ValueError, match="reduction"):
        it.entropy(P, reduction="avg", validate=False)


def test_tolerance_is_dtype_aware():
    # float16 probabilities rounded from a valid distribution are accepted
    p = torch.softmax(torch.randn(1000, generator=torch.Generator().manual_seed(0)), -1)
    assert torch.isfinite(it.entropy(p.half()))
    assert torch.isfinite(it.entropy(p.bfloat16()))
    # but a 1e-4 error in float64 is refused
    with pytest.raises(ValueError, match="max deviation 0.0001"):
        it.entropy(torch.tensor([0.5, 0.5001], dtype=torch.float64))
