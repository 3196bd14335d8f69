"""The tensor-level spectral core: DiffusionKernel, the core functions and the cache.

References: the dse-dsmi drop-in (itself checked against dse-dsmi in test_spectral.py), a dense
eigendecomposition written here, closed forms (identity kernel: log2 N), unit conversion."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import infotorch as it
from infotorch.compat import dse_dsmi as compat
from infotorch.spectral import (
    DiffusionKernel,
    adjacency_spectral_entropy,
    adjacency_spectral_mutual_information,
    cluster_references,
    diffusion_spectral_entropy,
    diffusion_spectral_mutual_information,
    spectrum_entropy,
)
from infotorch.spectral import cache as spectral_cache

D = torch.float64
G = torch.Generator().manual_seed(0)
LABELS = torch.arange(120) % 3
X = torch.randn(120, 5, generator=G, dtype=D) + 2.0 * torch.eye(3, 5, dtype=D)[LABELS]


@pytest.mark.parametrize("t", [0, 1, 2, 7.5])
def test_core_dse_equals_the_drop_in_and_a_dense_reference(t):
    core = diffusion_spectral_entropy(X, 1.5, t)
    assert float(core) == pytest.approx(compat.diffusion_spectral_entropy(X.numpy(), 1.5, t, max_N=None), rel=1e-12)
    # from scratch: eigenvalues of D^-1/2 G D^-1/2, p ∝ |λ|^t, entropy in bits
    d2 = ((X[:, None] - X[None]) ** 2).sum(-1)
    g = torch.exp(-d2 / (2 * 1.5**2))
    deg = g.sum(1)
    lam = torch.linalg.eigvalsh(g / torch.sqrt(deg[:, None] * deg[None, :])).abs() ** t
    p = lam / lam.sum()
    ref = float(-(p[p > 0] * torch.log2(p[p > 0])).sum())
    assert float(core) == pytest.approx(ref, rel=1e-9)


def test_core_dsmi_asmi_and_ase_equal_the_drop_in():
    lab = LABELS.numpy()
    assert float(diffusion_spectral_mutual_information(X, LABELS, 1.5)) == pytest.approx(
        compat.diffusion_spectral_mutual_information(X.numpy(), lab, gaussian_kernel_sigma=1.5)[0], rel=1e-12
    )
    for graph, flags in (("gaussian", {}), ("anisotropic", {"anisotropic": True}), ("knn", {"use_knn": True})):
        assert float(adjacency_spectral_entropy(X, 1.5, graph=graph)) == pytest.approx(
            compat.adjacency_spectral_entropy(X.numpy(), 1.5, **flags), rel=1e-9
        )
        assert float(adjacency_spectral_mutual_information(X, LABELS, 1.5, graph=graph)) == pytest.approx(
            compat.adjacency_spectral_mutual_information(X.numpy(), lab, gaussian_kernel_sigma=1.5, **flags)[0],
            rel=1e-9,
        )


def test_one_kernel_serves_every_measure_and_its_blocks():
    k = DiffusionKernel.from_points(X, 1.5)
    assert float(k.entropy()) == pytest.approx(float(diffusion_spectral_entropy(X, 1.5)), rel=1e-12)
    assert float(k.mutual_information(LABELS)) == pytest.approx(
        float(diffusion_spectral_mutual_information(X, LABELS, 1.5)), rel=1e-12
    )
    idx = torch.nonzero(LABELS == 1).reshape(-1)
    assert float(k.block(idx).entropy()) == pytest.approx(float(diffusion_spectral_entropy(X[idx], 1.5)), rel=1e-12)
    assert k.resolve_solver("auto") == "exact"
    assert float(k.entropy(solver="lanczos")) == pytest.approx(float(k.entropy()), abs=5e-3)
    assert math.isfinite(float(k.entropy(solver="chebyshev")))


def test_units_types_and_devices():
    bits = diffusion_spectral_entropy(X, 1.5)
    nats = diffusion_spectral_entropy(X, 1.5, base=math.e)
    assert float(nats) == pytest.approx(float(bits) * math.log(2), rel=1e-12)
    assert diffusion_spectral_entropy(X.float(), 1.5).dtype == torch.float32
    assert diffusion_spectral_entropy(X.half(), 1.5).dtype == torch.float16  # computed in float32
    assert float(diffusion_spectral_entropy(X, 1e-3)) == pytest.approx(math.log2(120), rel=1e-9)  # identity kernel
    assert float(spectrum_entropy(torch.ones(8), base=2)) == pytest.approx(3.0)
    med = diffusion_spectral_entropy(X)  # sigma="median"
    assert float(med) == pytest.approx(float(diffusion_spectral_entropy(X, it.median_distance(X))), rel=1e-12)


def test_core_refuses_numpy_and_dse_dsmi_keywords_with_a_pointer():
    with pytest.raises(TypeError, match="compat.dse_dsmi"):
        diffusion_spectral_entropy(X.numpy(), 1.5)
    with pytest.raises(TypeError):
        diffusion_spectral_entropy(X, gaussian_kernel_sigma=1.5)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="solver must be one of"):
        diffusion_spectral_entropy(X, 1.5, solver="magic")
    with pytest.raises(ValueError, match="t must be a finite number >= 0"):
        diffusion_spectral_entropy(X, 1.5, -1)
    with pytest.raises(ValueError, match="one label per point"):
        diffusion_spectral_mutual_information(X, LABELS[:10], 1.5)


def test_the_fingerprint_is_taken_only_with_a_cache(tmp_path, monkeypatch):
    calls = []
    real = spectral_cache.data_fingerprint
    monkeypatch.setattr(spectral_cache, "data_fingerprint", lambda x: calls.append(1) or real(x))
    diffusion_spectral_entropy(X, 1.5)
    compat.diffusion_spectral_entropy(X.numpy(), 1.5)
    assert calls == []
    path = tmp_path / "eig.npz"
    first = diffusion_spectral_entropy(X, 1.5, cache=path)
    again = diffusion_spectral_entropy(X, 1.5, cache=path)
    assert calls and float(first) == float(again) == pytest.approx(float(diffusion_spectral_entropy(X, 1.5)), rel=1e-12)
    with pytest.raises(ValueError, match="was computed for"):
        diffusion_spectral_entropy(X + 1e-3, 1.5, cache=path)


@pytest.mark.parametrize("damage", ["truncate", "flip", "nan", "zeros", "short", "empty_path"])
def test_damaged_caches_are_refused_naming_the_file(tmp_path, damage):
    path = tmp_path / "eig.npz"
    if damage == "empty_path":
        with pytest.raises(ValueError, match="non-empty"):
            compat.diffusion_spectral_entropy(X.numpy(), 1.5, eigval_save_path="")
        return
    meta = spectral_cache.provenance("diffusion", 1.5, X)
    values = {"nan": torch.full((120,), float("nan")), "zeros": torch.zeros(120), "short": torch.ones(5)}.get(
        damage, torch.linspace(0.1, 1, 120)
    )
    spectral_cache.save_spectrum(path, values, meta)
    raw = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "flip":
        path.write_bytes(raw[:100] + bytes(b ^ 0xFF for b in raw[100:400]) + raw[400:])
    with pytest.raises(ValueError, match="eigenvalue cache"):
        diffusion_spectral_entropy(X, 1.5, cache=path)


def test_cluster_references_as_dse_dsmi():
    assert torch.equal(cluster_references(LABELS), LABELS)
    scalars = torch.linspace(0, 1, 120, dtype=D)
    binned = cluster_references(scalars, 4)
    assert binned.unique().numel() == 4 and bool((binned.diff() >= 0).all())
    ref = compat._clusters(np.linspace(0, 1, 120), 120, None, 4, None).reshape(-1)
    assert np.array_equal(binned.numpy(), ref)


def test_batched_subsets_equal_one_by_one_and_threads_are_restored():
    from infotorch.spectral import small_problem_threads, subset_mutual_information
    from infotorch.spectral.graphs import anisotropic_normalize

    k = DiffusionKernel.from_points(X, 1.5)
    g = k.affinity

    def one(idx):  # each subset's DSE from its own block, no batching
        blk = g[idx][:, idx].clone()
        lam = torch.linalg.eigvalsh(anisotropic_normalize(blk))
        return spectrum_entropy(lam)

    balanced = torch.arange(120) % 4
    for labels in (LABELS, balanced, torch.cat([torch.zeros(70), torch.ones(50)]).long()):
        ref = subset_mutual_information(labels, one, num_repetitions=3, seed=0)
        assert float(k.mutual_information(labels, num_repetitions=3)) == pytest.approx(float(ref), rel=1e-10)
    before = torch.get_num_threads()
    with small_problem_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), small_problem_threads(1):
        raise RuntimeError("restored even on error")
    assert torch.get_num_threads() == before


def test_auto_solver_by_size_device_and_memory(monkeypatch, tmp_path):
    import infotorch.spectral.entropy as ent
    from infotorch.spectral import choose_solver

    monkeypatch.setattr(ent, "_free_bytes", lambda device: 10**12)
    assert choose_solver(8000) == "exact" and choose_solver(8001) == "matrix-free"
    assert choose_solver(200_000) == "matrix-free" and choose_solver(200_001) == "nystrom"
    assert choose_solver(16000, device="cuda") == "exact" and choose_solver(16001, device="cuda") == "matrix-free"
    assert choose_solver(10**6, device="cuda") == "matrix-free"  # a GPU affords the N² passes
    monkeypatch.setattr(ent, "_free_bytes", lambda device: 10**9)  # 1 GB free: no dense 8000 x 8000
    with pytest.warns(RuntimeWarning, match="needs about 1.4 GiB for 8000 points"):
        assert choose_solver(8000) == "matrix-free"
    assert choose_solver(6000) == "exact" and choose_solver(8000, check_memory=False) == "exact"
    assert choose_solver(8000, element_size=4) == "exact"  # float32 matrices fit
    monkeypatch.setattr(ent, "_free_bytes", lambda device: 1)  # a cache decides by N alone
    x = torch.randn(300, 3, generator=torch.Generator().manual_seed(0), dtype=D)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        h = diffusion_spectral_entropy(x, 1.0, cache=tmp_path / "spectrum.npz")
    assert float(h) == pytest.approx(float(diffusion_spectral_entropy(x, 1.0, solver="exact")), rel=1e-12)
    monkeypatch.setattr(ent, "_free_bytes", lambda device: None)  # unknown: by size only
    assert choose_solver(8000) == "exact"
    assert choose_solver(100, "slq") == "lanczos" and choose_solver(100, "nystrom") == "nystrom"
    with pytest.raises(ValueError, match="solver"):
        choose_solver(100, "fast")


def test_points_solvers_that_never_form_the_kernel():
    x = torch.randn(600, 16, generator=torch.Generator().manual_seed(5), dtype=D)
    exact = float(diffusion_spectral_entropy(x, 4.0, solver="exact"))
    assert float(diffusion_spectral_entropy(x, 4.0, solver="matrix-free")) == pytest.approx(exact, rel=1e-2)
    assert float(diffusion_spectral_entropy(x, 4.0, solver="nystrom")) == pytest.approx(exact, rel=2e-2)
    with pytest.raises(ValueError, match="computes none"):
        diffusion_spectral_entropy(x, 4.0, solver="nystrom", cache="/tmp/never.npz")
