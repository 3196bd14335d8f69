"""The adaptive-bandwidth kNN diffusion kernel (infotorch.spectral.adaptive) against a dense
construction written here from its definition (all pairwise differences, argsort, the max
symmetrization, the alpha normalization), its exact entropy against eigvalsh of that matrix."""

from __future__ import annotations

import math

import pytest
import torch
from largest_tensor import LargestTensor

from infotorch.spectral import AdaptiveDiffusionOperator, adaptive_diffusion_spectral_entropy, small_problem_threads

F64 = torch.float64


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _dense_reference(x: torch.Tensor, k: int, alpha: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """K and S = D'^-1/2 K^(alpha) D'^-1/2 from the definition, with N x N matrices."""
    n = x.shape[0]
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    others = d2.clone()
    others.fill_diagonal_(math.inf)
    nbrs = torch.argsort(others, dim=1, stable=True)[:, :k]  # ties: the smaller index
    sigma = others.gather(1, nbrs)[:, -1].sqrt()
    a = torch.zeros(n, n, dtype=F64)
    for i in range(n):
        for j in nbrs[i].tolist():
            scale = float(sigma[i] * sigma[j])
            if float(d2[i, j]) == 0.0:
                a[i, j] = 1.0  # copies: the limit of the kernel as the bandwidths go to 0
            elif scale > 0:
                a[i, j] = math.exp(-float(d2[i, j]) / scale)
    kern = torch.maximum(a, a.T)  # union of the kNN neighbourhoods
    kern.fill_diagonal_(1.0)
    deg = kern.sum(1)
    k_alpha = kern / (deg[:, None] * deg[None, :]) ** alpha
    deg_alpha = k_alpha.sum(1)
    return kern, k_alpha / (deg_alpha[:, None] * deg_alpha[None, :]).sqrt()


def _entropy_bits(s: torch.Tensor, t: float) -> float:
    with small_problem_threads(1):  # small eigenproblems on a shared CPU: one thread is steadier
        lam = torch.linalg.eigvalsh(s).abs() ** t
    p = lam / lam.sum()
    p = p[p > 0]
    return float(-(p * p.log2()).sum())


@pytest.mark.parametrize("neighbors", ["brute", "kdtree"])
@pytest.mark.parametrize("backend", ["scipy", "torch"])
def test_sparse_kernel_equals_the_dense_construction(neighbors: str, backend: str) -> None:
    x = torch.randn(300, 6, generator=_gen(), dtype=F64) + 20.0
    kern, s = _dense_reference(x, 10)
    op = AdaptiveDiffusionOperator(x, k=10, neighbors=neighbors, sparse_backend=backend)
    assert op.neighbor_search == neighbors and op.sparse_backend == backend
    assert (op.affinity().to_dense() - kern).abs().max() < 1e-12
    assert (op.dense() - s).abs().max() < 1e-12
    v = torch.randn(300, 4, generator=_gen(1), dtype=F64)
    assert (op @ v - s @ v).abs().max() < 1e-12
    assert (op @ v[:, 0] - s @ v[:, 0]).abs().max() < 1e-12
    assert torch.allclose(op.degrees, kern.sum(1), rtol=1e-14, atol=0)


@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_other_alphas(alpha: float) -> None:
    x = torch.randn(200, 3, generator=_gen(2), dtype=F64)
    _, s = _dense_reference(x, 7, alpha)
    assert (AdaptiveDiffusionOperator(x, k=7, alpha=alpha).dense() - s).abs().max() < 1e-12


def test_high_dimensional_search_is_exact() -> None:
    # D = 64: brute force (the tree is for few dimensions), candidates re-measured in float64
    x = torch.randn(400, 64, generator=_gen(3), dtype=F64)
    kern, _ = _dense_reference(x, 15)
    op = AdaptiveDiffusionOperator(x)
    assert op.neighbor_search == "brute" and op.k == 15
    assert (op.affinity().to_dense() - kern).abs().max() < 1e-12
    # float32 points search in float32, then measure the candidates in float64
    op32 = AdaptiveDiffusionOperator(x.float())
    ref32, _ = _dense_reference(x.float().double(), 15)
    assert (op32.affinity().to_dense() - ref32).abs().max() < 1e-12 and op32.dtype == torch.float32


def test_exact_entropy_is_eigvalsh_of_the_dense_operator() -> None:
    x = torch.randn(300, 4, generator=_gen(4), dtype=F64)
    _, s = _dense_reference(x, 15)
    for t in (1.0, 3.0):
        h = adaptive_diffusion_spectral_entropy(x, t=t, solver="exact")
        assert abs(float(h) - _entropy_bits(s, t)) < 1e-10
    nats = adaptive_diffusion_spectral_entropy(x, solver="exact", base=math.e)
    assert abs(float(nats) - _entropy_bits(s, 3.0) * math.log(2)) < 1e-10
    assert float(adaptive_diffusion_spectral_entropy(x, solver="auto")) == float(
        adaptive_diffusion_spectral_entropy(x, solver="exact")
    )


def test_slq_within_its_stated_error_at_2000_points() -> None:
    g = _gen(5)
    x = (torch.randn(2000, 4, generator=g, dtype=F64) @ torch.randn(4, 32, generator=g, dtype=F64)).sin()
    op = AdaptiveDiffusionOperator(x)
    exact = _entropy_bits(op.dense(), 3.0)
    slq = float(adaptive_diffusion_spectral_entropy(x, solver="slq"))
    # stated: 5e-3 to 1e-2 bits rms at N = 2000; three times that bounds one draw
    assert abs(slq - exact) < 3e-2
    assert abs(float(adaptive_diffusion_spectral_entropy(x, solver="slq", sparse_backend="torch")) - slq) < 1e-9


def test_duplicated_points_are_finite_and_follow_the_rule() -> None:
    base = torch.randn(60, 3, generator=_gen(6), dtype=F64)
    triples = torch.cat([base, base, base])  # every point three times
    for k in (2, 4):  # k = 2: every sigma is 0 (both neighbours are copies); k = 4: none is
        op = AdaptiveDiffusionOperator(triples, k=k)
        assert bool((op.sigmas == 0).all()) == (k == 2)
        kern, s = _dense_reference(triples, k)
        assert (op.affinity().to_dense() - kern).abs().max() < 1e-12
        assert (op.dense() - s).abs().max() < 1e-12
        for solver in ("exact", "slq"):
            h = float(adaptive_diffusion_spectral_entropy(triples, k=k, solver=solver))
            assert math.isfinite(h) and 0 <= h <= math.log2(180) + 1e-9
    # k = 2 with every sigma 0: three copies form a block of ones, 60 blocks, P has 60 unit eigenvalues
    assert abs(float(adaptive_diffusion_spectral_entropy(triples, k=2, solver="exact")) - math.log2(60)) < 1e-9
    mixed = torch.cat([base, base[:20]])  # some points twice
    kern, s = _dense_reference(mixed, 5)
    op = AdaptiveDiffusionOperator(mixed, k=5)
    assert (op.dense() - s).abs().max() < 1e-12 and bool((op.sigmas > 0).all())


def test_stored_entries_never_exceed_n_times_2k_plus_1() -> None:
    g = _gen(7)
    sphere = torch.nn.functional.normalize(torch.randn(500, 3, generator=g, dtype=F64), dim=1)
    hub = torch.cat([sphere, torch.zeros(1, 3, dtype=F64)])  # the centre is everyone's nearest point
    clouds = {
        "gauss": torch.randn(800, 10, generator=g, dtype=F64),
        "hub": hub,
        "duplicates": torch.cat([sphere[:100]] * 5),
        "line": torch.arange(300, dtype=F64)[:, None],
    }
    for name, x in clouds.items():
        for k in (1, 5, 15):
            op = AdaptiveDiffusionOperator(x, k=k)
            n = x.shape[0]
            assert n * (k + 1) <= op.nnz <= n * (2 * k + 1), (name, k, op.nnz)
            dense = op.affinity().to_dense()
            assert torch.equal(dense, dense.T), name


def test_no_n_by_n_tensor_on_the_slq_path() -> None:
    n = 1500
    x = torch.randn(n, 4, generator=_gen(8), dtype=F64)
    with LargestTensor(dense_only=True) as watch:
        h = adaptive_diffusion_spectral_entropy(x, solver="slq", neighbors="brute", block=64, steps=10, probes=8)
    assert math.isfinite(float(h))
    assert watch.largest < n * n // 10


def test_k_capped_time_zero_dtype_and_errors() -> None:
    x = torch.randn(10, 2, generator=_gen(9), dtype=F64)
    assert AdaptiveDiffusionOperator(x, k=15).k == 9
    assert float(adaptive_diffusion_spectral_entropy(x, k=15)) == float(adaptive_diffusion_spectral_entropy(x, k=9))
    y = torch.randn(500, 3, generator=_gen(10), dtype=F64)
    for solver in ("exact", "slq"):
        assert abs(float(adaptive_diffusion_spectral_entropy(y, t=0, solver=solver)) - math.log2(500)) < 1e-9
    h32 = adaptive_diffusion_spectral_entropy(y.float(), solver="exact")
    assert h32.dtype == torch.float32
    assert abs(float(h32) - float(adaptive_diffusion_spectral_entropy(y, solver="exact"))) < 1e-4
    with pytest.raises(ValueError, match="k must"):
        AdaptiveDiffusionOperator(y, k=0)
    with pytest.raises(ValueError, match="alpha"):
        AdaptiveDiffusionOperator(y, alpha=-1.0)
    with pytest.raises(TypeError, match="alpha"):
        AdaptiveDiffusionOperator(y, alpha="one")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="neighbors"):
        AdaptiveDiffusionOperator(y, neighbors="ball")
    with pytest.raises(ValueError, match="sparse_backend"):
        AdaptiveDiffusionOperator(y, sparse_backend="cupy")
    with pytest.raises(ValueError, match="solver"):
        adaptive_diffusion_spectral_entropy(y, solver="lanczos")
    with pytest.raises(ValueError, match="probes"):
        adaptive_diffusion_spectral_entropy(y, solver="slq", probes=0)
    with pytest.raises(ValueError, match="t must"):
        adaptive_diffusion_spectral_entropy(y, t=-1)
    with pytest.raises(TypeError, match="x must"):
        adaptive_diffusion_spectral_entropy(y.numpy())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="v must have shape"):
        AdaptiveDiffusionOperator(y) @ torch.ones(499, dtype=F64)


def test_ties_beyond_the_candidates_give_the_same_graph_on_every_search() -> None:
    # 40 copies of each of 10 points (k = 15: every k-th distance is a tie among 39 copies, more
    # than the candidates hold) and a 4-D grid with k = 2 (8 neighbours tied at distance 1):
    # the searches return different tied candidates; the exact recomputation of those rows
    # (ties by index) makes the kernels identical, checked against a from-scratch kNN here
    g = torch.Generator().manual_seed(0)
    dup = torch.randn(10, 3, generator=g, dtype=torch.float64).repeat_interleave(40, 0)
    dup = dup[torch.randperm(400, generator=g)]
    grid = torch.cartesian_prod(*[torch.arange(5.0, dtype=torch.float64)] * 4)
    for x, k in ((dup, 15), (grid, 2)):
        ops = [AdaptiveDiffusionOperator(x, k=k, neighbors=s) for s in ("brute", "kdtree")]
        d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
        d2.fill_diagonal_(float("inf"))
        idx = torch.arange(x.shape[0]).expand_as(d2)
        order = torch.sort(d2, dim=1, stable=True).indices[:, :k]  # distance, then index
        ref = idx.gather(1, order)
        for op in ops:
            assert torch.equal(op.neighbor_indices, ref)
        assert torch.equal(ops[0].dense(), ops[1].dense())
