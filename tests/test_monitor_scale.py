"""The monitor at scale: where and in which dtype it computes, width reduction, probes gathered
across torch.distributed ranks, and known-truth checks of its estimators.

References: the float64 computation of the same embeddings; numpy's SVD for PCA; the
Johnson-Lindenstrauss distortion bound; one process measuring all the probes; I(Z; Y) of a
Gaussian mixture by Simpson's rule on a grid (scipy), Gaussian entropies and the MI of a Gaussian
channel in closed form."""

from __future__ import annotations

import json
import math
import os
import socket
import time
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from infotorch.measures import MeasureContext, get_measure
from infotorch.monitor import InformationMonitor, reduce_width

MEASURES = ["dse", "dsmi_zy", "dsmi_zx", "knn_mi_zy", "binned_mi_zy", "binned_mi_zx"]


def mlp(dtype: torch.dtype = torch.float32, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 40), nn.Tanh(), nn.Linear(40, 30), nn.ReLU()).to(dtype)


def probes(n: int = 80, seed: int = 1, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = torch.randn(n, 6, generator=g, dtype=torch.float64) + 1.5 * torch.eye(3, 6, dtype=torch.float64)[y]
    return x.to(dtype), y


def values(row: dict) -> dict[str, float]:
    return {k: v for k, v in row.items() if isinstance(v, float)}


# ------------------------------------------------------------------ device and dtype


@pytest.mark.parametrize("model_dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_embeddings_keep_float32_or_more(model_dtype):
    if model_dtype == torch.float16:
        model = nn.Sequential(nn.Identity())  # half matmul on the CPU is not everywhere: feed half values
    else:
        model = mlp(model_dtype)
    x, _ = probes(dtype=model_dtype)
    z = InformationMonitor(model, ["0"]).embeddings(x)["0"]
    with torch.no_grad():
        ref = model[0](x)
    assert z.dtype == (torch.float64 if model_dtype == torch.float64 else torch.float32)
    assert z.device == x.device
    torch.testing.assert_close(z, ref.to(z.dtype), rtol=0, atol=0)  # an exact upcast
    assert InformationMonitor(model, ["0"], dtype=torch.float64).embeddings(x)["0"].dtype == torch.float64


def test_half_maps_are_upcast_before_the_mean():
    maps = torch.randn(20, 4, 16, 16, generator=torch.Generator().manual_seed(0)).half() * 30
    model = nn.Sequential(nn.Identity())
    z = InformationMonitor(model, ["0"], reduction="mean").embeddings(maps)["0"]
    assert z.dtype == torch.float32
    torch.testing.assert_close(z, maps.double().mean((2, 3)).float(), rtol=1e-6, atol=1e-6)


def test_float32_embeddings_give_the_float64_values():
    # the kernel is built in float64 from the float32 embeddings: the same numbers as float64
    model = mlp()
    x, y = probes()
    lo = InformationMonitor(model, {"h": "1"}, measures=MEASURES, sigma="median").measure(x, y, epoch=0)[0]
    hi = InformationMonitor(model, {"h": "1"}, measures=MEASURES, dtype=torch.float64).measure(x, y, epoch=0)[0]
    for key, val in values(hi).items():
        assert lo[key] == pytest.approx(val, rel=1e-12, abs=1e-12), key
    # ... and those of a from-scratch float64 context on the same activations
    with torch.no_grad():
        z = torch.tanh(model[0](x)).double()
    ref = get_measure("dse").compute(MeasureContext(z))
    assert lo["dse"] == pytest.approx(ref, rel=1e-12)
    # a float32 kernel: the same to float32 round-off (measured: 2e-8 and 6e-7 relative)
    f32 = InformationMonitor(model, {"h": "1"}, measures=["dse", "dsmi_zy"], kernel_dtype=torch.float32)
    row = f32.measure(x, y, epoch=0)[0]
    assert row["dse"] == pytest.approx(hi["dse"], rel=1e-5)
    assert row["dsmi_zy"] == pytest.approx(hi["dsmi_zy"], rel=1e-5, abs=1e-6)


def test_device_dtype_and_width_options_are_checked():
    model = mlp()
    with pytest.raises(ValueError, match="dtype must be torch.float32 or torch.float64, got torch.float16"):
        InformationMonitor(model, ["1"], dtype=torch.float16)
    with pytest.raises(ValueError, match="kernel_dtype must be"):
        InformationMonitor(model, ["1"], kernel_dtype=torch.int64)
    with pytest.raises(TypeError, match="device must be None, a string or a torch.device, got int"):
        InformationMonitor(model, ["1"], device=0)
    for bad in (0, -3):
        with pytest.raises(ValueError, match=f"width must be None or a positive integer, got {bad}"):
            InformationMonitor(model, ["1"], width=bad)
    for bad in (2.5, True, "64"):
        with pytest.raises(TypeError, match="width must be None or a positive integer"):
            InformationMonitor(model, ["1"], width=bad)
    with pytest.raises(ValueError, match="projection must be 'random' or 'pca', got 'svd'"):
        InformationMonitor(model, ["1"], width=8, projection="svd")
    with pytest.raises(TypeError, match="gather must be True or False"):
        InformationMonitor(model, ["1"], gather=1)
    with pytest.raises(ValueError, match="hold no probe"):
        InformationMonitor(model, ["1"]).measure(torch.zeros(0, 6))
    with pytest.raises(ValueError, match="width must be None or a positive integer, got 0"):
        reduce_width(torch.zeros(4, 3), 0)


def test_device_option_moves_the_embeddings():
    model = mlp()
    x, y = probes()
    mon = InformationMonitor(model, ["1"], measures=["dse"], device="cpu")
    assert mon.embeddings(x)["1"].device.type == "cpu"
    assert mon.measure(x, y, epoch=0)[0]["dse"] > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device present")
def test_cuda_records_equal_the_cpu_records():
    x, y = probes()
    for dtype, rel in ((torch.float64, 1e-9), (torch.float32, 1e-4)):
        cpu = InformationMonitor(mlp(dtype), {"h": "1", "r": "3"}, measures=MEASURES)
        gpu_model = mlp(dtype).cuda()
        gpu = InformationMonitor(gpu_model, {"h": "1", "r": "3"}, measures=MEASURES)
        emb = gpu.embeddings(x.to(dtype).cuda())
        assert all(z.is_cuda and z.dtype == dtype for z in emb.values())
        ref = cpu.measure(x.to(dtype), y, epoch=0)
        got = gpu.measure(x.to(dtype).cuda(), y, epoch=0)
        for r, g in zip(ref, got, strict=True):
            for key in ("sigma", "dse", "dsmi_zy", "dsmi_zx", "knn_mi_zy"):
                assert g[key] == pytest.approx(r[key], rel=rel, abs=rel), key


# ------------------------------------------------------------------ width reduction


def pairwise(a: np.ndarray) -> np.ndarray:
    return np.sqrt(((a[:, None, :] - a[None, :, :]) ** 2).sum(-1))


@pytest.mark.parametrize("n, d", [(40, 300), (300, 40)])  # the Gram and the covariance paths
def test_pca_equals_a_numpy_svd_projection(n, d):
    g = torch.Generator().manual_seed(2)
    z = torch.randn(n, d, generator=g, dtype=torch.float64) @ torch.randn(d, d, generator=g, dtype=torch.float64)
    width = 7
    got = reduce_width(z.float(), width, "pca")
    assert got.shape == (n, width) and got.dtype == torch.float32
    a = z.numpy()
    ac = a - a.mean(0)
    u, s, _ = np.linalg.svd(ac, full_matrices=False)
    ref = u[:, :width] * s[:width]
    np.testing.assert_allclose(pairwise(got.double().numpy()), pairwise(ref), rtol=1e-5, atol=1e-4 * s[0])
    np.testing.assert_allclose(np.abs(got.double().numpy()), np.abs(ref), rtol=1e-4, atol=1e-4 * s[0])  # up to signs
    mon = InformationMonitor(nn.Sequential(nn.Identity()), ["0"], measures=["dse"], width=width, projection="pca")
    row = mon.measure(z, epoch=0)[0]
    assert row["width"] == width
    assert row["explained_variance"] == pytest.approx(float((s[:width] ** 2).sum() / (s**2).sum()), rel=1e-10)
    assert row["dse"] == pytest.approx(get_measure("dse").compute(MeasureContext(torch.as_tensor(ref))), rel=1e-8)


def test_random_projection_preserves_distances_within_the_jl_bound():
    n, d, width, eps = 40, 2000, 512, 0.3
    # Dasgupta & Gupta (2003): width >= 4 ln n / (eps^2/2 - eps^3/3) keeps every squared
    # distance within 1 +- eps with probability >= 1 - 1/n
    assert width >= 4 * math.log(n) / (eps**2 / 2 - eps**3 / 3)
    z = torch.randn(n, d, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    p = reduce_width(z, width, "random", seed=5)
    iu = np.triu_indices(n, 1)
    ratio = (pairwise(p.numpy()) ** 2)[iu] / (pairwise(z.numpy()) ** 2)[iu]
    assert ratio.min() > 1 - eps and ratio.max() < 1 + eps
    assert abs(ratio.mean() - 1) < 0.02  # unbiased: E ||R^T u||^2 = ||u||^2
    torch.testing.assert_close(reduce_width(z, width, "random", seed=5), p, rtol=0, atol=0)  # seeded
    assert not torch.equal(reduce_width(z, width, "random", seed=6), p)


def test_the_monitor_uses_one_projection_per_layer_across_epochs():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 200), nn.Tanh(), nn.Linear(200, 200), nn.Tanh())
    x, y = probes()
    mon = InformationMonitor(model, ["1", "3"], measures=["dse", "dsmi_zy"], width=16)
    first, again = mon.measure(x, y, epoch=0), mon.measure(x, y, epoch=1)
    for a, b in zip(first, again, strict=True):
        assert a["width"] == 16 and a["dse"] == b["dse"] and a["dsmi_zy"] == b["dsmi_zy"]
    other = InformationMonitor(model, ["1", "3"], measures=["dse", "dsmi_zy"], width=16).measure(x, y, epoch=0)
    assert [r["dse"] for r in other] == [r["dse"] for r in first]  # a fresh monitor: the same matrices
    # the matrices of the two layers differ (a seed per layer), each is the documented draw
    p1, p3 = (mon._projections[(k, 200, "cpu", torch.float32)] for k in ("1", "3"))
    assert not torch.equal(p1, p3)
    assert p1.std().item() == pytest.approx(1 / math.sqrt(16), rel=0.05)


def test_width_at_least_the_layer_width_is_a_no_op():
    model = mlp()
    x, y = probes()
    plain = InformationMonitor(model, {"h": "1"}, measures=MEASURES).measure(x, y, epoch=0)[0]
    for projection in ("random", "pca"):
        same = InformationMonitor(model, {"h": "1"}, measures=MEASURES, width=40, projection=projection)
        row = same.measure(x, y, epoch=0)[0]
        assert row["width"] == 40 and "explained_variance" not in row
        assert values(row) == {**values(plain)}
    z = torch.randn(5, 3)
    assert reduce_width(z, 3) is z


# ------------------------------------------------------------------ torch.distributed


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SPLIT = (37, 43)  # unequal halves: the gather pads and trims


def _ddp_measures() -> list[str]:
    return ["dse", "dsmi_zy", "dsmi_zx", "knn_mi_zy", "binned_mi_zy"]


def _ddp_worker(rank: int, world: int, port: int, out_dir: str) -> None:
    import datetime

    import torch.distributed as dist

    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=datetime.timedelta(seconds=60))
    try:
        x, y = probes(sum(SPLIT), dtype=torch.float64)
        lo = sum(SPLIT[:rank])
        mine = slice(lo, lo + SPLIT[rank])
        mon = InformationMonitor(mlp(torch.float64), {"h": "1", "r": "3"}, measures=_ddp_measures(), n_clusters=4)
        rows = mon.measure(x[mine], y[mine], epoch=0)
        pca = InformationMonitor(mlp(torch.float64), {"h": "1"}, measures=["dse"], width=5, projection="pca")
        rows += pca.measure(x[mine], y[mine], epoch=1)
        with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
            json.dump(rows, f)
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(
    not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
    reason="torch.distributed with gloo is not available",
)
def test_two_gloo_ranks_record_what_one_process_records(tmp_path):
    import torch.multiprocessing as mp

    ctx = mp.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=False)
    deadline = time.monotonic() + 120
    while not ctx.join(timeout=1):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail("the two ranks did not finish in 120 s")
    x, y = probes(sum(SPLIT), dtype=torch.float64)
    one = InformationMonitor(mlp(torch.float64), {"h": "1", "r": "3"}, measures=_ddp_measures(), n_clusters=4)
    ref = one.measure(x, y, epoch=0)
    ref += InformationMonitor(mlp(torch.float64), {"h": "1"}, measures=["dse"], width=5, projection="pca").measure(
        x, y, epoch=1
    )
    for rank in (0, 1):
        got = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert [r["layer"] for r in got] == [r["layer"] for r in ref]
        for g, r in zip(got, ref, strict=True):
            assert set(g) == set(r)
            for key, val in values(r).items():
                assert g[key] == pytest.approx(val, rel=1e-9, abs=1e-12), (rank, g["layer"], key)


# ------------------------------------------------------------------ known truths


def gaussian_mixture_mi(means: np.ndarray, s: float) -> float:
    """I(Z; Y) in nats for Y uniform over the rows of ``means`` (C, 2) and Z | Y=c ~ N(mu_c, s^2 I):
    log C + E[log p(Y | Z)], the integral by Simpson's rule on a 1201 x 1201 grid."""
    from scipy.integrate import simpson
    from scipy.special import logsumexp

    grid = np.linspace(means.min() - 9 * s, means.max() + 9 * s, 1201)
    pts = np.stack(np.meshgrid(grid, grid, indexing="ij"), -1)
    c = len(means)
    log_joint = np.stack(
        [-((pts - m) ** 2).sum(-1) / (2 * s * s) - math.log(2 * math.pi * s * s * c) for m in means]
    )  # log p(z, c)
    log_post = log_joint - logsumexp(log_joint, axis=0)
    integrand = (np.exp(log_joint) * log_post).sum(0)
    return math.log(c) + float(simpson(simpson(integrand, x=grid, axis=1), x=grid))


def triangle(sep: float) -> np.ndarray:
    angle = 2 * np.pi * np.arange(3) / 3
    return sep * np.stack([np.cos(angle), np.sin(angle)], 1)


def mixture(sep: float, n: int = 1500, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    y = torch.arange(n) % 3
    noise = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return torch.as_tensor(triangle(sep))[y] + noise, y


def test_gaussian_mixture_mi_with_the_labels():
    pytest.importorskip("scipy")
    truth = gaussian_mixture_mi(triangle(1.5), 1.0)  # 0.689 nats, well below log 3 = 1.099
    assert 0.6 < truth < 0.8
    z, y = mixture(1.5)  # N = 1500, three classes of 500
    identity = nn.Sequential(nn.Identity())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 900 cells for 1500 probes: not saturated, no warning
        row = InformationMonitor(identity, ["0"], measures=["knn_mi_zy", "binned_mi_zy"]).measure(z, y)[0]
    # Ross's kNN estimate (k = 3) at N = 1500: within 0.05 nats (measured: -0.006)
    assert row["knn_mi_zy"] * math.log(2) == pytest.approx(truth, abs=0.05)
    # the binned plug-in is biased upward and bounded by H(Y) of the probes (log2 3 bits here)
    h_y = math.log2(3)
    assert truth / math.log(2) < row["binned_mi_zy"] <= h_y + 1e-12
    # saturated: every probe its own bin, the value is H(Y) whatever Z, and it says so
    with pytest.warns(UserWarning, match="saturated"):
        sat = InformationMonitor(identity, ["0"], measures=["binned_mi_zy"], bins=100000).measure(z, y)[0]
    assert sat["binned_mi_zy"] == pytest.approx(h_y, rel=1e-12)


def test_dsmi_is_not_shannon_but_grows_with_separation():
    seps = (0.5, 1.5, 3.0)
    rows = [
        InformationMonitor(nn.Sequential(nn.Identity()), ["0"], measures=["dsmi_zy"]).measure(*mixture(s, 600))[0]
        for s in seps
    ]
    dsmi = [r["dsmi_zy"] for r in rows]
    assert dsmi[0] < dsmi[1] < dsmi[2] <= math.log2(3) + 0.05


def test_knn_entropy_and_a_noisy_linear_layer_against_closed_forms():
    class NoisyLinear(nn.Module):
        """T = A x + N(0, s^2 I), fresh noise from its own generator."""

        def __init__(self, a: torch.Tensor, s: float) -> None:
            super().__init__()
            self.a, self.s, self.gen = a, s, torch.Generator().manual_seed(7)

        def forward(self, x):
            return x @ self.a.T + self.s * torch.randn(x.shape, generator=self.gen, dtype=x.dtype)

    a = torch.tensor([[2.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    s = 0.8
    model = nn.Sequential(NoisyLinear(a, s))
    x = torch.randn(2000, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    row = InformationMonitor(model, ["0"], measures=["knn_mi_zx", "knn_entropy"]).measure(x, epoch=0)[0]
    cov = a @ a.T + s * s * torch.eye(2, dtype=torch.float64)
    # X ~ N(0, I): I(X; T) = 1/2 log det(A A^T + s^2 I) / det(s^2 I); h(T) = 1/2 log det(2 pi e cov)
    mi = 0.5 * math.log(float(torch.linalg.det(cov)) / s**4)
    h = 0.5 * math.log(float(torch.linalg.det(2 * math.pi * math.e * cov)))
    # N = 2000 (measured: +0.027 and +0.029 nats)
    assert row["knn_mi_zx"] * math.log(2) == pytest.approx(mi, abs=0.05)
    assert row["knn_entropy"] * math.log(2) == pytest.approx(h, abs=0.05)
