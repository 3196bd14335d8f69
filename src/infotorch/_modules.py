"""Helpers for the state of ``nn.Module`` s that the library runs on a user's behalf."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch import nn


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """``model`` in eval mode (no dropout, frozen batch statistics) for the block, then every
    submodule's own mode restored (``model.train(was_training)`` would put a frozen submodule,
    e.g. a BatchNorm kept in eval, back in training)."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, mode in modes:
            m.training = mode
