"""VIB, VAE and entropy-based pruning on scikit-learn's bundled digits (small real data), and the
torchmetrics classes, including their DDP synchronization over two gloo processes."""

from __future__ import annotations

import math
import os
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

import infotorch as it
from infotorch.compat.dse_dsmi import diffusion_spectral_entropy, diffusion_spectral_mutual_information
from infotorch.nn import VAE, VariationalIB
from infotorch.pruning import neuron_entropy, output_entropy_change, prune_by_entropy
from infotorch.spectral import matrix_renyi_entropy

sklearn_datasets = pytest.importorskip("sklearn.datasets")
torchmetrics = pytest.importorskip("torchmetrics")


@pytest.fixture(scope="module")
def digits():
    data = sklearn_datasets.load_digits()
    x = torch.as_tensor(data.data, dtype=torch.float32) / 16.0
    y = torch.as_tensor(data.target)
    return x, y


def test_vib_learns_digits_and_terms_are_per_example(digits):
    x, y = digits
    torch.manual_seed(0)
    vib = VariationalIB(64, 8, 10, beta=1e-3, hidden=64)
    opt = torch.optim.Adam(vib.parameters(), lr=3e-3)
    for _ in range(12):
        for idx in torch.randperm(1500).split(100):
            terms = vib.loss(x[idx], y[idx])
            opt.zero_grad()
            terms["loss"].backward()
            opt.step()
    vib.eval()
    with torch.no_grad():
        acc = (vib(x[1500:])[0].argmax(-1) == y[1500:]).float().mean()
        terms = vib.loss(x[1500:], y[1500:])
        mu, lv = vib.encode(x[1500:])
    assert acc > 0.85
    # the named terms: cross-entropy per example (torch's mean) and the per-example KL
    logits = vib(x[1500:])[0]
    torch.testing.assert_close(terms["task"], nn.functional.cross_entropy(logits, y[1500:]))
    torch.testing.assert_close(terms["kl"], (0.5 * (mu**2 + lv.exp() - 1 - lv)).sum(-1).mean())
    torch.testing.assert_close(terms["loss"], terms["task"] + 1e-3 * terms["kl"])


def test_vae_negative_elbo_terms_and_training(digits):
    x, _ = digits
    torch.manual_seed(0)
    vae = VAE(64, 4, hidden=64)
    opt = torch.optim.Adam(vae.parameters(), lr=3e-3)
    first = vae.loss(x[:500])["loss"].item()
    for _ in range(5):
        for idx in torch.randperm(1500).split(100):
            loss = vae.loss(x[idx])["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
    vae.eval()
    with torch.no_grad():
        terms = vae.loss(x[1500:])
        _recon, mu, _lv = vae(x[1500:])
        logits = vae.decoder_logits(mu)
    assert terms["loss"].item() < 0.8 * first
    ref_rec = nn.functional.binary_cross_entropy_with_logits(logits, x[1500:], reduction="sum") / x[1500:].shape[0]
    torch.testing.assert_close(terms["reconstruction"], ref_rec)
    torch.testing.assert_close(terms["loss"], terms["reconstruction"] + terms["kl"])
    assert torch.all((vae.decode(mu) >= 0) & (vae.decode(mu) <= 1))


def test_neuron_entropy_closed_forms():
    n = 1024
    a = torch.stack(
        [torch.zeros(n), torch.arange(n) % 4 / 3.0, torch.rand(n, generator=torch.Generator().manual_seed(0))], 1
    )
    h = neuron_entropy(a, bins=4)
    assert h[0] == 0.0  # constant unit
    assert h[1] == pytest.approx(2.0)  # uniform over 4 bins: log2 4
    assert 1.9 < h[2] <= 2.0
    # conv maps: units along dim 1, positions as samples
    fm = torch.randn(8, 3, 5, 5)
    fm[:, 1] = 0.7
    assert neuron_entropy(fm, bins=8)[1] == 0.0


def test_prune_by_entropy_removes_dead_units_first(digits):
    x, y = digits
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        loss = nn.functional.cross_entropy(model(x[:1500]), y[:1500])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():  # kill 6 units: they never fire
        model[0].bias[:6] = -1e3
    acc = lambda: (model(x[1500:]).argmax(-1) == y[1500:]).float().mean().item()
    before = acc()
    res = prune_by_entropy(model, "1", x[:1500], amount=6)
    assert set(res.pruned.tolist()) == set(range(6))
    assert acc() == pytest.approx(before)  # dead units carried nothing
    res.handle.remove()
    # the output criterion: a dead unit changes nothing when removed
    change = output_entropy_change(model, "1", x[:300], absolute=True)
    assert torch.all(change[:6] == 0) and torch.all(change[6:].max() > 0)
    res2 = prune_by_entropy(model, "1", x[:300], amount=0.5, criterion="output-abs")
    assert int(res2.mask.sum()) == 16 and set(range(6)) <= set(res2.pruned.tolist())
    res2.handle.remove()
    with pytest.raises(ValueError, match="amount must be a fraction"):
        prune_by_entropy(model, "1", x[:10], amount=1.5)


# ------------------------------------------------------------------ metrics


def test_streaming_metrics_equal_one_shot(digits):
    from infotorch.metrics import (
        DiffusionSpectralEntropy,
        DiffusionSpectralMutualInformation,
        DiscreteMutualInformation,
        Entropy,
        MatrixRenyiEntropy,
    )

    x, y = digits
    z, labels = x[:400].double(), y[:400]
    dse, dsmi, renyi = (
        DiffusionSpectralEntropy(3.0),
        DiffusionSpectralMutualInformation(3.0),
        MatrixRenyiEntropy(2.0, 3.0),
    )
    for zb, yb in zip(z.split(64), labels.split(64), strict=True):
        dse.update(zb)
        dsmi.update(zb, yb)
        renyi.update(zb)
    assert dse.compute().item() == pytest.approx(diffusion_spectral_entropy(z.numpy(), 3.0), rel=1e-9)
    ref, _ = diffusion_spectral_mutual_information(z.numpy(), labels.numpy(), gaussian_kernel_sigma=3.0)
    assert dsmi.compute().item() == pytest.approx(ref, rel=1e-9)
    assert renyi.compute().item() == pytest.approx(matrix_renyi_entropy(z, 2.0, 3.0).item(), rel=1e-9)
    logits = torch.randn(100, 7, generator=torch.Generator().manual_seed(0))
    ent = Entropy(logits=True, base=2)
    for b in logits.split(30):
        ent.update(b)
    assert ent.compute().item() == pytest.approx(
        it.entropy(logits=logits.double(), base=2).mean().item(), rel=1e-6
    )  # float32 input
    a, b = torch.randint(0, 4, (300,)), torch.randint(0, 5, (300,))
    mim = DiscreteMutualInformation(4, 5, bias_correction="miller-madow")
    for i in range(0, 300, 70):
        mim.update(a[i : i + 70], b[i : i + 70])
    ref = it.mutual_information_from_samples(a, b, bias_correction="miller-madow").item()
    assert mim.compute().item() == pytest.approx(ref, rel=1e-5, abs=1e-7)


def test_reservoir_is_bounded_and_seeded():
    from infotorch.metrics import DiffusionSpectralEntropy

    def run(seed):
        m = DiffusionSpectralEntropy(1.0, max_samples=50, seed=seed)
        for b in torch.randn(10, 20, 3, generator=torch.Generator().manual_seed(0)).double():
            m.update(b)
        return m

    m = run(0)
    assert sum(t.shape[0] for t in m.z) == 50 and int(m.seen) == 200
    assert run(0).compute().item() == m.compute().item()
    # a uniform sample: over many seeds each of 200 rows is kept with probability 50/200
    hits = torch.zeros(200)
    data = torch.arange(200, dtype=torch.float64).reshape(10, 20, 1)
    for seed in range(200):
        r = DiffusionSpectralEntropy(1.0, max_samples=50, seed=seed)
        for b in data:
            r.update(b)
        hits[torch.cat(r.z).long().reshape(-1)] += 1
    assert abs(float(hits[:50].mean()) - 50.0) < 8 and abs(float(hits[150:].mean()) - 50.0) < 8
    # algorithm R keeps late rows too (not just the first 50)
    late = torch.randn(10, 20, 3, generator=torch.Generator().manual_seed(0)).double().reshape(200, 3)[50:]
    kept = torch.cat(m.z)
    assert any(bool((kept == row).all(1).any()) for row in late)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, z: torch.Tensor, y: torch.Tensor, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        from infotorch.metrics import (
            DiffusionSpectralEntropy,
            DiffusionSpectralMutualInformation,
            DiscreteMutualInformation,
        )

        shard = slice(rank * z.shape[0] // world, (rank + 1) * z.shape[0] // world)
        dse, dsmi, mim = (
            DiffusionSpectralEntropy(2.0),
            DiffusionSpectralMutualInformation(2.0),
            DiscreteMutualInformation(3, 3),
        )
        for zb, yb in zip(z[shard].split(25), y[shard].split(25), strict=True):
            dse.update(zb)
            dsmi.update(zb, yb)
            mim.update(yb, (yb + 1) % 3)
        values = [dse.compute().item(), dsmi.compute().item(), mim.compute().item()]
        if rank == 0:
            np.save(out, np.array(values))
    finally:
        dist.destroy_process_group()


def test_metrics_sync_across_two_gloo_processes(tmp_path):
    rng = np.random.default_rng(0)
    y = torch.as_tensor(np.repeat(np.arange(3), 40))
    z = torch.as_tensor(rng.normal(size=(120, 4)) + 3.0 * np.eye(3, 4)[y.numpy()])
    out = str(tmp_path / "ddp.npy")
    mp.start_processes(_ddp_worker, args=(2, _free_port(), z, y, out), nprocs=2, join=True, start_method="spawn")
    dse, dsmi, mi = np.load(out)
    assert dse == pytest.approx(diffusion_spectral_entropy(z.numpy(), 2.0), rel=1e-9)
    ref, _ = diffusion_spectral_mutual_information(z.numpy(), y.numpy(), gaussian_kernel_sigma=2.0)
    assert dsmi == pytest.approx(ref, rel=1e-9)
    assert mi == pytest.approx(math.log(3), rel=1e-9)  # y -> (y+1)%3 is a bijection on balanced labels


def test_lightning_callback_needs_lightning():
    try:
        import lightning  # noqa: F401
    except ImportError:
        try:
            import pytorch_lightning  # noqa: F401
        except ImportError:
            with pytest.raises(ImportError, match=r"infotorch\[lightning\]"):
                import infotorch.callbacks  # noqa: F401
            return
    from infotorch.callbacks import InformationMonitorCallback

    assert InformationMonitorCallback(["0"], (torch.zeros(4, 2), None)).every == 1


# --------------------------------------------------------------------------- review fixes (metrics, registry)


def test_reservoir_stays_bounded_under_forward_and_merge():
    from infotorch.metrics import MatrixRenyiEntropy

    m = MatrixRenyiEntropy(max_samples=10)
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        m(torch.randn(30, 3, generator=g))  # forward: the batch value and the global update
    assert sum(t.shape[0] for t in m.z) == 10
    a, b = MatrixRenyiEntropy(max_samples=4), MatrixRenyiEntropy(max_samples=4)
    a.update(torch.arange(4.0).reshape(4, 1))
    b.update(torch.arange(4.0, 8.0).reshape(4, 1))
    a.merge_state(b)
    a.update(torch.tensor([[100.0], [101.0], [102.0]]))
    held = torch.cat(a.z).reshape(-1)
    assert held.numel() == 4 and held.unique().numel() == 4


def test_reset_reservoir_equals_a_fresh_one():
    from infotorch.metrics import MatrixRenyiEntropy

    x = torch.randn(50, 3, generator=torch.Generator().manual_seed(1))
    m = MatrixRenyiEntropy(max_samples=10)
    m.update(x)
    first = m.compute()
    m.reset()
    m.update(x)
    assert torch.equal(m.compute(), first)


def test_entropy_metric_before_update_and_list_labels():
    from infotorch.metrics import DiscreteMutualInformation, Entropy

    with pytest.raises(ValueError, match=r"compute\(\) called before any update\(\)"):
        Entropy().compute()
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        DiscreteMutualInformation(2, 2).update([0, 1], [0, 1])


def test_registry_takes_a_string_as_one_name():
    from infotorch.measures import MeasureContext, register_measure, resolve_measure_names, unregister_measure

    assert resolve_measure_names("dse") == ("dse",)
    m = register_measure("zz_review", lambda ctx: 0.0, label="x", aliases="zz_alias", needs="labels")
    try:
        assert m.aliases == ("zz_alias",) and m.needs == ("labels",)
    finally:
        unregister_measure("zz_review")
    z = torch.randn(40, 3)
    with pytest.raises(ValueError, match="max_n must be None or an integer >= 2"):
        MeasureContext(z, max_n=0)
    with pytest.raises(ValueError, match="inputs must hold one row per embedding"):
        MeasureContext(z, inputs=torch.randn(30, 2))
    with pytest.raises(ValueError, match="got a scalar"):
        MeasureContext(torch.tensor(1.0))
