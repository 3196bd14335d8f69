"""A dispatch mode that records the largest tensor any operation produced (tests of memory bounds)."""

from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode


class LargestTensor(TorchDispatchMode):
    """``largest``: the most elements of any tensor produced inside the ``with`` block.

    ``dense_only=True`` counts strided tensors only: a sparse tensor's ``numel`` is its dense
    shape, not what it stores.
    """

    def __init__(self, dense_only: bool = False) -> None:
        super().__init__()
        self.dense_only = dense_only
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        for o in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(o, torch.Tensor) and (not self.dense_only or o.layout == torch.strided):
                self.largest = max(self.largest, o.numel())
        return out
