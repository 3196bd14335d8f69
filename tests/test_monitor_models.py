"""The monitor on any model: conv maps, sequences in either layout, tuple/dict outputs, layers by
glob or type. References: manual flatten / mean / token selection of the captured outputs, and
the measure of those embeddings computed directly."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from infotorch.measures import MeasureContext, get_measure
from infotorch.monitor import InformationMonitor, reduce_layer_output

G = torch.Generator().manual_seed(0)


class TinyCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1)
        self.head = nn.Linear(6 * 8 * 8, 3)

    def forward(self, x):
        return self.head(torch.relu(self.conv2(torch.relu(self.conv1(x)))).flatten(1))


def test_conv_reductions_equal_a_manual_flatten_and_mean():
    torch.manual_seed(0)
    model = TinyCNN()
    x = torch.randn(40, 1, 8, 8, generator=G)
    with torch.no_grad():
        maps = model.conv2(torch.relu(model.conv1(x)))  # (40, 6, 8, 8)
    flat = InformationMonitor(model, ["conv2"], measures=["dse"]).embeddings(x)["conv2"]
    torch.testing.assert_close(flat, maps.reshape(40, -1))  # float32 activations stay float32
    mean = InformationMonitor(model, ["conv2"], measures=["dse"], reduction="mean").embeddings(x)["conv2"]
    torch.testing.assert_close(mean, maps.mean((2, 3)))
    # by type: both conv layers, and the measured value equals the measure of those embeddings
    mon = InformationMonitor(model, [nn.Conv2d], measures=["dse"], reduction="mean")
    assert list(mon.layers) == ["conv1", "conv2"]
    row = mon.measure(x, epoch=0)[1]
    ref = get_measure("dse").compute(MeasureContext(mean.double()))  # the kernel in float64
    assert row["dse"] == pytest.approx(ref, rel=1e-12)


def test_sequence_batch_first_false_and_token_selection():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16, batch_first=False, dropout=0.0)
    model = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
    x = torch.randn(5, 30, 8, generator=G)  # (S, B, E)
    y = torch.arange(30) % 3
    with pytest.raises(ValueError, match=r"y has 30 labels .* set batch_dim=1"):
        InformationMonitor(model, ["layers.?"], measures=["dse"]).measure(x, y)
    mon = InformationMonitor(model, ["layers.?"], measures=["dse"], batch_dim=1, reduction=("token", 0))
    assert list(mon.layers) == ["layers.0", "layers.1"]
    emb = mon.embeddings(x)
    model.eval()
    with torch.no_grad():
        first = model.layers[0](x)  # (S, B, E)
    torch.testing.assert_close(emb["layers.0"], first[0])
    mean = InformationMonitor(model, ["layers.0"], measures=["dse"], batch_dim=1, reduction="mean").embeddings(x)
    torch.testing.assert_close(mean["layers.0"], first.mean(0))
    rows = InformationMonitor(model, ["layers.1"], measures=["dse", "dsmi_zy"], batch_dim=1).measure(x, y, epoch=0)
    assert set(rows[0]) >= {"dse", "dsmi_zy"}


def test_tuple_and_dict_outputs_with_a_selector():
    class Two(nn.Module):
        def forward(self, x):
            return {"a": x * 2, "b": x - 1}

    class Pair(nn.Module):
        def forward(self, x):
            return x + 1, x * 3

    model = nn.Sequential(Pair())
    x = torch.randn(12, 3, generator=G, dtype=torch.float64)
    second = InformationMonitor(model, ["0"], measures=["dse"], output=1).embeddings(x)["0"]
    torch.testing.assert_close(second, x * 3)
    holder = nn.Module()
    holder.two = Two()
    wrapped = nn.Sequential()
    wrapped.add_module("two", Two())
    with pytest.raises(ValueError, match="choose one with output=KEY"):
        InformationMonitor(wrapped, ["two"], measures=["dse"]).embeddings(x)
    got = InformationMonitor(wrapped, ["two"], measures=["dse"], output="b").embeddings(x)["two"]
    torch.testing.assert_close(got, x - 1)


def test_reduce_layer_output_errors_name_the_layer_and_shape():
    with pytest.raises(ValueError, match=r"'enc' output of shape \(4, 7\)"):
        reduce_layer_output(torch.zeros(4, 7), 7, 0, layer="enc")
    with pytest.raises(ValueError, match="reduction must be"):
        InformationMonitor(nn.Sequential(nn.Linear(2, 2)), ["0"], reduction="max")
    with pytest.raises(ValueError, match="no submodule name matches"):
        InformationMonitor(nn.Sequential(nn.Linear(2, 2)), ["enc*"])


def test_noisy_channel_mi_against_closed_forms():
    import math

    from infotorch.measures import noisy_channel_mutual_information

    # components far apart: T identifies X, I = log N; all equal: I = 0 (to Monte-Carlo error)
    far = 100.0 * torch.arange(50, dtype=torch.float64).reshape(50, 1)
    assert float(noisy_channel_mutual_information(far, 1.0)) == pytest.approx(math.log(50), abs=1e-9)
    same = torch.zeros(50, 3, dtype=torch.float64)
    assert abs(float(noisy_channel_mutual_information(same, 1.0))) < 0.05
    # X ~ N(0, 1) per dim, T = X + N(0, 1): I = d/2 log 2 for X over many probes
    z = torch.randn(3000, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    assert float(noisy_channel_mutual_information(z, 1.0)) == pytest.approx(math.log(2), abs=0.05)
    # through the monitor: a noisy linear layer, bits
    model = nn.Sequential(nn.Linear(2, 2))
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(2))
        model[0].bias.zero_()
    mon = InformationMonitor(model, ["0"], measures=["noisy_mi_zx"], noise_std=1.0)
    row = mon.measure(z.float(), epoch=0)[0]
    assert row["noisy_mi_zx"] == pytest.approx(1.0, abs=0.08)  # log2(2) bits
    with pytest.raises(ValueError, match="noise_std"):
        InformationMonitor(model, ["0"], measures=["noisy_mi_zx"]).measure(z.float(), epoch=0)


def test_lightning_trainer_logs_the_records_through_log_dict(tmp_path):
    pl = pytest.importorskip("lightning.pytorch")
    import csv

    from infotorch.callbacks import InformationMonitorCallback

    class Tiny(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))

        def forward(self, x):
            return self.net(x)

        def training_step(self, batch, _idx):
            x, y = batch
            return nn.functional.cross_entropy(self.net(x), y)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    torch.manual_seed(0)
    x = torch.randn(64, 4, generator=G)
    y = torch.arange(64) % 3
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
    cb = InformationMonitorCallback(
        {"hidden": "net.1"}, (x, y), measures=["dse", "dsmi_zy"], out_dir=str(tmp_path / "out")
    )

    def fit(module, data, callback, epochs, logger):
        pl.Trainer(
            max_epochs=epochs,
            logger=logger,
            callbacks=[callback],
            accelerator="cpu",
            enable_progress_bar=False,
            enable_model_summary=False,
            enable_checkpointing=False,
        ).fit(module, data)

    logger = pl.loggers.CSVLogger(str(tmp_path), name="run")
    fit(Tiny(), loader, cb, 2, logger)
    with open(f"{logger.log_dir}/metrics.csv", newline="") as f:
        logged = [r for r in csv.DictReader(f) if r.get("info/hidden/dse")]
    assert len(logged) == 2
    for row, rec in zip(logged, cb.monitor.records, strict=True):
        # logged as float64: the logger's file holds the records' own numbers
        assert float(row["info/hidden/dse"]) == pytest.approx(rec["dse"], rel=1e-12)
        assert float(row["info/hidden/dsmi_zy"]) == pytest.approx(rec["dsmi_zy"], rel=1e-12)
    assert (tmp_path / "out" / "metrics.csv").exists()
    # a float64 module with a float32 probe: the probe takes the module's dtype
    cb64 = InformationMonitorCallback({"hidden": "net.1"}, (x, y), measures=["dse"])
    loader64 = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x.double(), y), batch_size=16)
    fit(Tiny().double(), loader64, cb64, 1, False)
    assert len(cb64.monitor.records) == 1 and math.isfinite(cb64.monitor.records[0]["dse"])


def test_a_plain_writer_receives_every_value():
    class Recorder:
        def __init__(self) -> None:
            self.calls: list[tuple[str, float, int]] = []

        def add_scalar(self, tag, value, step):
            self.calls.append((tag, value, step))

    rec = Recorder()
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh())
    mon = InformationMonitor(model, ["1"], measures=["dse"], writer=rec)
    row = mon.measure(torch.randn(30, 3, generator=G), epoch=4)[0]
    assert ("info/1/dse", row["dse"], 4) in rec.calls and ("info/1/sigma", row["sigma"], 4) in rec.calls
    with pytest.raises(TypeError, match="add_scalar"):
        InformationMonitor(model, ["1"], writer=object())


def test_report_page_holds_every_record_and_plot(tmp_path):
    pytest.importorskip("plotly")
    import json as _json

    from infotorch import cli
    from infotorch.monitor import write_records

    records = [
        {"epoch": e, "layer": layer, "run": "r", "dse": 1.0 + e, "dsmi_zy": 0.1 * e, "dsmi_zx": 0.2 * e}
        for e in range(3)
        for layer in ("h1", "h2")
    ]
    write_records(records, tmp_path / "m.csv")
    assert cli.main(["report", str(tmp_path / "m.csv"), "--out", str(tmp_path / "r.html")]) == 0
    text = (tmp_path / "r.html").read_text()
    assert '<script src="http' not in text and "plotly" in text.lower()  # self-contained
    # every record is in the table, and the figure holds one trace per layer and panel
    assert text.count("<tr>") == len(records) + 1
    start = text.index("Plotly.newPlot(")
    data, _ = _json.JSONDecoder().raw_decode(text, text.index("[", start))
    names = {(d["name"], d.get("xaxis", "x")) for d in data}
    assert len(data) == 2 * 4 and {n for n, _ in names} == {"h1 (r)", "h2 (r)"}  # dse, dsmi_zy, dsmi_zx, plane
    assert cli.main(["report", str(tmp_path / "missing.csv")]) == 2
