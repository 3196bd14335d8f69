"""The variational information bottleneck (Alemi et al. 2017) and the VAE (Kingma & Welling 2014).

Both return their loss as named terms on one per-example scale (means over the batch of
per-example quantities), so the terms can be logged, weighted and compared directly.
"""

from __future__ import annotations

import math
from typing import Any

from torch import Tensor, nn

from ..discrete import binary_cross_entropy
from ..gaussian import kl_to_standard_normal
from ..losses import label_smoothing_cross_entropy

__all__ = ["VAE", "VariationalIB"]


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _reparameterize(mu: Tensor, log_var: Tensor, sample: bool) -> Tensor:
    if not sample:
        return mu
    return mu + (0.5 * log_var).exp() * mu.new_empty(mu.shape).normal_()


def _check_beta(beta: Any) -> float:
    """The KL weight: a finite number >= 0."""
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not (math.isfinite(beta) and beta >= 0):
        raise ValueError(f"beta must be a finite number >= 0, got {beta!r}")
    return float(beta)


class VariationalIB(nn.Module):
    r"""Variational information bottleneck (Alemi et al., ICLR 2017): a stochastic encoder
    :math:`p(z|x) = \mathcal N(\mu(x), \mathrm{diag}\,\sigma^2(x))`, a classifier on :math:`z`,
    and the loss :math:`\mathrm{CE}(y, \hat y(z)) + \beta\,\mathrm{KL}(p(z|x)\,\|\,\mathcal N(0, I))`.

    Both terms are per-example means (a common implementation divides a summed KL by the batch size
    while averaging the cross-entropy; here the KL is summed over latent dimensions and averaged
    over examples, the same scale as the cross-entropy): :meth:`loss` returns
    ``{"loss", "task", "kl"}`` in nats per example. In eval mode the encoder mean is used.
    ``beta`` defaults to 1.0, as in the reference implementation; Alemi et al. report the best
    accuracy near ``beta = 1e-3`` on MNIST, so expect to lower it.

    Examples
    --------
    >>> import torch
    >>> from infotorch.nn import VariationalIB
    >>> vib = VariationalIB(input_dim=8, latent_dim=2, output_dim=3, beta=1e-3, hidden=16)
    >>> terms = vib.loss(torch.randn(5, 8), torch.tensor([0, 1, 2, 0, 1]))
    >>> sorted(terms)
    ['kl', 'loss', 'task']
    """

    def __init__(self, input_dim: int, latent_dim: int, output_dim: int, beta: float = 1.0, hidden: int = 256) -> None:
        super().__init__()
        self.beta = _check_beta(beta)
        self.encoder = _mlp([input_dim, hidden, 2 * latent_dim])
        self.decoder = _mlp([latent_dim, hidden, output_dim])

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mu, log_var = self.encoder(x).chunk(2, dim=-1)
        return mu, log_var

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(logits, mu, log_var)``; ``z`` is sampled in training mode, the mean in eval mode."""
        mu, log_var = self.encode(x)
        return self.decoder(_reparameterize(mu, log_var, self.training)), mu, log_var

    def loss(self, x: Tensor, y: Tensor) -> dict[str, Tensor]:
        logits, mu, log_var = self(x)
        task = label_smoothing_cross_entropy(logits, y, smoothing=0.0)
        kl = kl_to_standard_normal(mu, log_var, reduction="mean")
        return {"loss": task + self.beta * kl, "task": task, "kl": kl}


class VAE(nn.Module):
    r"""Variational autoencoder (Kingma & Welling, ICLR 2014) for data in [0, 1] (Bernoulli
    likelihood): :meth:`loss` returns ``{"loss", "reconstruction", "kl"}``, the negative ELBO per
    example and its two terms (reconstruction summed over features, KL over latent dimensions,
    both averaged over the batch), in nats. The decoder outputs logits and the reconstruction is
    :func:`infotorch.binary_cross_entropy` from logits (no sigmoid-then-log, exact for any logit);
    :meth:`decode` applies the sigmoid. ``beta`` weights the KL (β-VAE; 1 is the ELBO).

    Examples
    --------
    >>> import torch
    >>> from infotorch.nn import VAE
    >>> vae = VAE(input_dim=8, latent_dim=2, hidden=16)
    >>> sorted(vae.loss(torch.rand(4, 8)))
    ['kl', 'loss', 'reconstruction']
    """

    def __init__(self, input_dim: int, latent_dim: int, hidden: int = 512, beta: float = 1.0) -> None:
        super().__init__()
        self.beta = _check_beta(beta)
        self.encoder = _mlp([input_dim, hidden, 2 * latent_dim])
        self.decoder_logits = _mlp([latent_dim, hidden, input_dim])

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mu, log_var = self.encoder(x).chunk(2, dim=-1)
        return mu, log_var

    def decode(self, z: Tensor) -> Tensor:
        """Mean of the Bernoulli likelihood, in [0, 1]."""
        return self.decoder_logits(z).sigmoid()

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(x_recon, mu, log_var)`` as the reference returns them: ``x_recon`` the Bernoulli
        means in [0, 1] (the sigmoid of :attr:`decoder_logits`); ``z`` is sampled in training
        mode, the mean in eval mode."""
        logits, mu, log_var = self._forward_logits(x)
        return logits.sigmoid(), mu, log_var

    def _forward_logits(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        mu, log_var = self.encode(x)
        return self.decoder_logits(_reparameterize(mu, log_var, self.training)), mu, log_var

    def loss(self, x: Tensor) -> dict[str, Tensor]:
        logits, mu, log_var = self._forward_logits(x)
        rec = binary_cross_entropy(logits=logits, target=x, reduction="none").sum(-1).mean()
        kl = kl_to_standard_normal(mu, log_var, reduction="mean")
        return {"loss": rec + self.beta * kl, "reconstruction": rec, "kl": kl}
