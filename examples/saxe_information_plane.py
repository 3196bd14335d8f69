"""Saxe et al. (ICLR 2018), "On the information bottleneck theory of deep learning", section 2:
with the binning estimator a tanh network shows the "compression" phase of Shwartz-Ziv & Tishby
(2017) in the last layers and a ReLU network does not; with a noise-based estimate of I(X; T)
the picture changes.

Data: all 4096 12-bit inputs; the label is a documented stand-in for Tishby's rule (which is a
spherically symmetric function of the 12 bits thresholded to balance the classes): with
z = 2x - 1, y = 1[Σ_i z_i z_{i+1 mod 12} + 0.5 Σ_i c_i z_i > median], c a fixed ±1 pattern.
Network: 12-10-7-5-4-3-2 (the paper's widths), tanh or ReLU, trained by full-batch Adam on 85 % of
the inputs; every `--every` epochs the monitor records, per hidden layer,

* binned I(X; T) = H(bin(T)) and binned I(T; Y) (30 equal bins over each layer's range, the
  paper's estimator: `binned_mi_zx`, `binned_mi_zy`);
* the noisy-channel I(X; T) for T + N(0, s² I) (`noisy_mi_zx`, Goldfeld et al. 2019), s = 0.1.

Usage: python examples/saxe_information_plane.py [--epochs 1500] [--every 50] [--out docs/img]
Writes saxe_tanh.png, saxe_relu.png (binned planes) and saxe_noise.png, and prints a summary:
the change of binned I(X; T) of the last hidden layer from its maximum to the end of training.
"""

from __future__ import annotations

import argparse
import os

import torch
from torch import nn

from infotorch.monitor import InformationMonitor, plot_information_plane


def dataset() -> tuple[torch.Tensor, torch.Tensor]:
    bits = ((torch.arange(4096)[:, None] >> torch.arange(12)) & 1).float()
    z = 2 * bits - 1
    c = torch.tensor([1, -1, 1, 1, -1, -1, 1, -1, 1, 1, -1, 1], dtype=torch.float32)
    score = (z * z.roll(1, dims=1)).sum(1) + 0.5 * (z * c).sum(1)
    y = (score > score.median()).long()
    return bits, y


def run(activation: str, epochs: int, every: int, seed: int) -> list[dict]:
    torch.manual_seed(seed)
    act = nn.Tanh if activation == "tanh" else nn.ReLU
    widths = [12, 10, 7, 5, 4, 3]
    layers: list[nn.Module] = []
    for a, b in zip(widths[:-1], widths[1:], strict=True):
        layers += [nn.Linear(a, b), act()]
    model = nn.Sequential(*layers, nn.Linear(widths[-1], 2))
    x, y = dataset()
    perm = torch.randperm(4096, generator=torch.Generator().manual_seed(seed))
    train = perm[: int(0.85 * 4096)]
    names = {f"layer {i + 1}": str(2 * i + 1) for i in range(len(widths) - 1)}
    mon = InformationMonitor(
        model, names, measures=["binned_mi_zx", "binned_mi_zy", "noisy_mi_zx"], bins=30, noise_std=0.1, seed=seed
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(epochs + 1):
        if epoch:
            loss = nn.functional.cross_entropy(model(x[train]), y[train])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if epoch % every == 0:
            with torch.no_grad():
                acc = float((model(x).argmax(1) == y).float().mean())
            mon.measure(x, y, epoch=epoch, run=activation, accuracy=acc)
    return mon.records


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=1500)
    ap.add_argument("--every", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="docs/img")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    import warnings

    warnings.simplefilter("ignore", UserWarning)  # the saturation warning of the binned I(T; Y) at 4096 probes
    summary = []
    all_records = []
    for activation in ("tanh", "relu"):
        records = run(activation, args.epochs, args.every, args.seed)
        all_records += records
        plot_information_plane(
            records, os.path.join(args.out, f"saxe_{activation}.png"), x_key="binned_mi_zx", y_key="binned_mi_zy"
        )
        last = [r for r in records if r["layer"] == "layer 5"]
        hx = [r["binned_mi_zx"] for r in last]
        nx_ = [r["noisy_mi_zx"] for r in last]
        summary.append(
            f"{activation}: last hidden layer binned I(X;T) max {max(hx):.3f} -> end {hx[-1]:.3f} bits "
            f"({hx[-1] - max(hx):+.3f}); noisy I(X;T) max {max(nx_):.3f} -> end {nx_[-1]:.3f} bits "
            f"({nx_[-1] - max(nx_):+.3f}); final accuracy {last[-1]['accuracy']:.3f}"
        )
    plot_information_plane(
        all_records, os.path.join(args.out, "saxe_noise.png"), x_key="noisy_mi_zx", y_key="binned_mi_zy"
    )
    print("\n".join(summary))


if __name__ == "__main__":
    main()
