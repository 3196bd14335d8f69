"""Contrastive losses over the bounds of :mod:`infotorch.variational`: :class:`InfoNCELoss`."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .. import _numerics as nx
from .. import _validation as v
from ..variational import _infonce_rows, _scores

__all__ = ["InfoNCELoss"]


class InfoNCELoss(nn.Module):
    r"""The InfoNCE (CPC / SimCLR / CLIP) loss: ``log N - infonce(scores)`` per row, from embeddings or scores.

    The conventions of the InfoNCE loss proposed for :mod:`torch.nn` (and of ``info-nce-pytorch``):
    ``forward(query, positive_key)`` with ``query[i]`` and ``positive_key[i]`` ``(N, D)`` a positive
    pair; the other keys of the batch are the negatives; embeddings are L2-normalized
    (``normalize=True``), so the logits are cosine similarities divided by ``temperature``; the loss
    of row ``i`` is ``cross_entropy(logits[i], i)``. ``negative_keys`` ``(M, D)`` adds an explicit
    shared set of negatives instead (MoCo): row ``i`` scores its positive against the ``M``
    negatives, target 0. ``forward(scores=s)`` takes a ready ``(..., N, N)`` score matrix
    (``s[i, j] = f(x_i, y_j)``, positives on the diagonal) as logits, unscaled.

    ``symmetric=True`` is CLIP's loss: the mean of the row (query -> key) and column
    (key -> query) losses, elementwise before the reduction. ``reduction="mean"`` (default) |
    ``"sum"`` | ``"none"`` (one value per row, shape ``(..., N)``).

    The loss of a batch is at least 0, and ``log N - loss`` is the InfoNCE lower bound on
    ``I(query; key)`` in nats (:func:`infotorch.variational.infonce`), which never exceeds ``log N``.

    Examples
    --------
    >>> import math, torch
    >>> from infotorch.nn.contrastive import InfoNCELoss
    >>> from infotorch.variational import infonce
    >>> q, k = torch.randn(8, 16), torch.randn(8, 16)
    >>> loss = InfoNCELoss(temperature=0.1)(q, k)
    >>> logits = torch.nn.functional.normalize(q, dim=-1) @ torch.nn.functional.normalize(k, dim=-1).T / 0.1
    >>> torch.allclose(loss, torch.nn.functional.cross_entropy(logits, torch.arange(8)))
    True
    >>> s = torch.randn(8, 8)
    >>> torch.allclose(InfoNCELoss()(scores=s), math.log(8) - infonce(s))
    True
    """

    def __init__(
        self,
        temperature: float = 0.1,
        symmetric: bool = False,
        *,
        normalize: bool = True,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        self.temperature = v.check_positive_number(temperature, "temperature")
        self.symmetric = bool(symmetric)
        self.normalize = bool(normalize)
        self.reduction = v.check_reduction(reduction)

    def forward(
        self,
        query: Tensor | None = None,
        positive_key: Tensor | None = None,
        negative_keys: Tensor | None = None,
        *,
        scores: Tensor | None = None,
    ) -> Tensor:
        if scores is not None:
            if query is not None or positive_key is not None or negative_keys is not None:
                raise ValueError("give either scores= or embeddings (query, positive_key), not both")
            logits = scores
        else:
            if query is None or positive_key is None:
                raise ValueError("query and positive_key must both be given (or scores= alone)")
            query = v.ensure_tensor(query, "query")
            positive_key = v.ensure_tensor(positive_key, "positive_key")
            v.check_same_shape(query, positive_key, "query", "positive_key")
            if query.ndim < 2:
                raise ValueError(f"query must have shape (..., N, D), got {tuple(query.shape)}")
            if self.normalize:
                query = nn.functional.normalize(query, dim=-1)
                positive_key = nn.functional.normalize(positive_key, dim=-1)
            if negative_keys is not None:
                return self._explicit_negatives(query, positive_key, negative_keys)
            logits = query @ positive_key.transpose(-1, -2) / self.temperature
        return self._from_logits(logits)

    def _from_logits(self, logits: Tensor) -> Tensor:
        rows = self._row_losses(logits)
        if self.symmetric:
            rows = 0.5 * (rows + self._row_losses(logits.transpose(-1, -2)))
        return _reduce(rows, self.reduction)

    @staticmethod
    def _row_losses(logits: Tensor) -> Tensor:
        """Per-row cross-entropy ``-(infonce row term)``; the checks (square, N >= 2, NaN) are the core's."""
        s, out = _scores(logits, v.resolve_validate(None))
        return (-_infonce_rows(s)).to(out)

    def _explicit_negatives(self, query: Tensor, positive_key: Tensor, negative_keys: Tensor) -> Tensor:
        if self.symmetric:
            raise ValueError("symmetric=True needs in-batch negatives; got negative_keys")
        negative_keys = v.ensure_tensor(negative_keys, "negative_keys")
        if negative_keys.ndim != 2 or negative_keys.shape[-1] != query.shape[-1]:
            raise ValueError(f"negative_keys must have shape (M, {query.shape[-1]}), got {tuple(negative_keys.shape)}")
        if self.normalize:
            negative_keys = nn.functional.normalize(negative_keys, dim=-1)
        if v.resolve_validate(None):
            for name, t in (("query", query), ("positive_key", positive_key), ("negative_keys", negative_keys)):
                v.check_finite(t, name)
        out = query.dtype
        wide = nx.compute_dtype(query.dtype, positive_key.dtype, negative_keys.dtype)  # half computes in float32
        q, k, neg = query.to(wide), positive_key.to(wide), negative_keys.to(wide)
        positive = (q * k).sum(-1, keepdim=True)
        logits = torch.cat([positive, q @ neg.transpose(-1, -2)], dim=-1) / self.temperature
        rows = torch.logsumexp(logits - logits[..., :1], dim=-1)  # relative to the positive: exact at any offset
        return _reduce(rows, self.reduction).to(out)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, symmetric={self.symmetric}, reduction={self.reduction!r}"


def _reduce(rows: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return rows.mean()
    if reduction == "sum":
        return rows.sum()
    return rows
