"""A Lightning callback around :class:`infotorch.monitor.InformationMonitor`.

Needs ``pip install 'infotorch[lightning]'`` (``lightning``; ``pytorch_lightning`` works too).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

try:
    import lightning.pytorch as pl
except ImportError:  # pragma: no cover - depends on the environment
    try:
        import pytorch_lightning as pl  # type: ignore[no-redef]
    except ImportError:
        raise ImportError("infotorch.callbacks needs Lightning: pip install 'infotorch[lightning]'") from None

from .monitor import InformationMonitor, dynamics_panels, plot_dynamics, plot_information_plane

__all__ = ["InformationMonitorCallback"]


class InformationMonitorCallback(pl.Callback):
    """Measure the named layers on a fixed probe set ``(x, y)`` every ``every_n_epochs`` training
    epochs (at the end of epochs 0, n, 2n, ... counted from 0) and log the values through ``LightningModule.log_dict`` (keys ``info/<layer>/<measure>``),
    so every logger of the trainer (TensorBoard, CSV, W&B, MLflow) receives them; at the end of
    fitting write ``metrics.csv``, ``dynamics.png`` and ``information_plane.png`` to ``out_dir``
    (if given). Other keyword arguments go to :class:`InformationMonitor`; ``gather`` defaults to
    False here, since every rank of a distributed run measures the same probe set. The probe pass
    calls the LightningModule itself, so it must define ``forward``."""

    def __init__(
        self,
        layers: Sequence[str] | Mapping[str, str],
        probe: tuple[Tensor, Tensor | None],
        *,
        every_n_epochs: int = 1,
        out_dir: str | None = None,
        **monitor_kwargs: Any,
    ) -> None:
        super().__init__()
        if isinstance(every_n_epochs, bool) or not isinstance(every_n_epochs, int) or every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be a positive integer, got {every_n_epochs!r}")
        self.layers, self.probe, self.every = layers, probe, every_n_epochs
        self.out_dir, self.monitor_kwargs = out_dir, {"gather": False, **monitor_kwargs}
        self.monitor: InformationMonitor | None = None

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        self.monitor = InformationMonitor(pl_module, self.layers, **self.monitor_kwargs)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if self.monitor is None or trainer.current_epoch % self.every:
            return
        x, y = self.probe
        # the probe in the module's device and (for floating inputs) its floating dtype
        dtype = getattr(pl_module, "dtype", None)
        if x.is_floating_point() and isinstance(dtype, torch.dtype) and dtype.is_floating_point:
            x = x.to(device=pl_module.device, dtype=dtype)
        else:
            x = x.to(pl_module.device)
        rows = self.monitor.measure(x, y, epoch=trainer.current_epoch)
        # float64 tensors: Lightning would store a Python float as float32 and round the records
        values = {
            f"info/{row['layer']}/{key}": torch.tensor(value, dtype=torch.float64)
            for row in rows
            for key, value in row.items()
            if isinstance(value, float) and key != "epoch"
        }
        if values:
            pl_module.log_dict(values, on_step=False, on_epoch=True)

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        if self.monitor is None:
            return
        self.monitor.detach()
        if self.out_dir and self.monitor.records:
            os.makedirs(self.out_dir, exist_ok=True)
            self.monitor.to_csv(os.path.join(self.out_dir, "metrics.csv"))
            if dynamics_panels(self.monitor.records):
                plot_dynamics(self.monitor.records, os.path.join(self.out_dir, "dynamics.png"))
            if any("dsmi_zx" in r and "dsmi_zy" in r for r in self.monitor.records):
                plot_information_plane(self.monitor.records, os.path.join(self.out_dir, "information_plane.png"))
