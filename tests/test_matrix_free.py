"""The matrix-free and Nyström DSE solvers (infotorch.spectral.matrix_free) against the dense
DiffusionKernel: its operator (products), its Lanczos solver (draw for draw) and its exact
eigvalsh entropy (the independent reference)."""

from __future__ import annotations

import os
import socket

import pytest
import torch
from largest_tensor import LargestTensor

from infotorch.spectral import (
    DiffusionKernel,
    diffusion_spectral_mutual_information,
    small_problem_threads,
    subset_mutual_information,
)
from infotorch.spectral.matrix_free import (
    MatrixFreeDiffusionOperator,
    ScaleResult,
    block_rows,
    matrix_free_entropy,
    matrix_free_mutual_information,
    nystrom_entropy,
    slq_settings,
)

F64 = torch.float64


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _shapes(n: int) -> dict[str, torch.Tensor]:
    g = _gen(3)
    centres = 3.0 * torch.randn(8, 16, generator=g, dtype=F64)
    blobs = centres[torch.arange(n) % 8] + 0.4 * torch.randn(n, 16, generator=g, dtype=F64)
    cube = torch.rand(n, 6, generator=g, dtype=F64)
    manifold = (torch.randn(n, 3, generator=g, dtype=F64) @ torch.randn(3, 64, generator=g, dtype=F64)).sin()
    gauss = torch.randn(n, 64, generator=g, dtype=F64)
    half = torch.randn(n // 2, 8, generator=g, dtype=F64)
    duplicated = torch.cat([half, half])  # every point twice
    return {"blobs": blobs, "cube": cube, "manifold": manifold, "gauss": gauss, "duplicated": duplicated}


@pytest.fixture(scope="module")
def shapes_600() -> dict[str, torch.Tensor]:
    return _shapes(600)


@pytest.fixture(scope="module")
def exact_600(shapes_600: dict[str, torch.Tensor]) -> dict[str, float]:
    return {k: float(DiffusionKernel.from_points(x).entropy(solver="exact")) for k, x in shapes_600.items()}


def test_products_equal_the_dense_operator() -> None:
    x = torch.randn(300, 7, generator=_gen(), dtype=F64) + 50.0  # far from the origin: centring matters
    # the independent reference: differences, not the |a|^2 + |b|^2 - 2ab expansion
    g = torch.exp(-((x[:, None, :] - x[None, :, :]) ** 2).sum(-1) / 8.0)
    k = g / g.sum(1).sqrt()[:, None] / g.sum(1).sqrt()[None, :]
    dense = DiffusionKernel.from_points(x, sigma=2.0).operator()
    op = MatrixFreeDiffusionOperator(x, sigma=2.0, block=64)
    v = torch.randn(300, 5, generator=_gen(1), dtype=F64)
    assert (op @ v - k @ v).abs().max() < 1e-12
    assert (op @ v - dense @ v).abs().max() < 1e-8  # the dense build itself varies by ~1e-9 here
    assert (op @ v[:, 0] - k @ v[:, 0]).abs().max() < 1e-12
    assert (op.affinity_matmul(v) - g @ v).abs().max() < 1e-12
    assert torch.allclose(op.degrees, g.sum(1), rtol=1e-13, atol=0)
    assert op.degrees.dtype == F64 and op.shape == (300, 300) and op.dtype == F64


def test_float32_operator_keeps_float64_degrees() -> None:
    x = torch.randn(400, 5, generator=_gen(), dtype=F64)
    op32 = MatrixFreeDiffusionOperator(x.float(), sigma=1.5, block=50)
    op64 = MatrixFreeDiffusionOperator(x, sigma=1.5, block=50)
    assert op32.degrees.dtype == F64 and op32.dtype == torch.float32
    assert torch.allclose(op32.degrees, op64.degrees, rtol=1e-5)
    v = torch.randn(400, 3, generator=_gen(1), dtype=F64)
    assert torch.allclose((op32 @ v.float()).double(), op64 @ v, rtol=0, atol=1e-5)


def test_median_sigma_is_the_dense_rule() -> None:
    x = torch.randn(1200, 4, generator=_gen(), dtype=F64)
    assert MatrixFreeDiffusionOperator(x).sigma == pytest.approx(DiffusionKernel.from_points(x).sigma, rel=1e-12)


def test_matrix_free_slq_is_dense_slq_draw_for_draw() -> None:
    x = torch.randn(400, 12, generator=_gen(), dtype=F64)
    dense = DiffusionKernel.from_points(x).entropy(solver="lanczos", lanczos_steps=20, lanczos_probes=8, seed=5)
    res = matrix_free_entropy(x, steps=20, probes=8, top=100, power_iters=2, seed=5, block=100)
    assert isinstance(res, ScaleResult) and res.solver == "matrix-free"
    assert abs(float(res.value) - float(dense)) < 1e-10
    assert res.products == 20 + 2 + 3  # steps, power iterations, degrees, range, Rayleigh-Ritz


@pytest.fixture(scope="module")
def shapes_2000() -> dict[str, torch.Tensor]:
    return _shapes(2000)


@pytest.mark.parametrize("shape", ["blobs", "cube", "manifold", "gauss", "duplicated"])
def test_matrix_free_within_stated_error(shape: str, shapes_2000: dict) -> None:
    # the "auto" settings at both tolerances against eigvalsh, N = 2000 (one draw: within 2x the
    # stated root-mean-square error, which the measured single draws also stayed within)
    x = shapes_2000[shape]
    exact = float(DiffusionKernel.from_points(x).entropy(solver="exact"))
    for tol in (1e-2, 3e-3):
        res = matrix_free_entropy(x, tol=tol, seed=1)
        assert abs(float(res.value) - exact) <= 2 * tol * exact, tol


@pytest.mark.parametrize("shape", ["blobs", "cube", "manifold", "gauss", "duplicated"])
def test_nystrom_within_stated_error(shape: str, shapes_600: dict, exact_600: dict) -> None:
    res = nystrom_entropy(shapes_600[shape], landmarks=300, steps=30, probes=32)
    assert res.solver == "nystrom" and res.details["landmarks"] == 300
    assert abs(float(res.value) - exact_600[shape]) <= 2e-2 * exact_600[shape]


def test_nystrom_with_every_point_as_landmark_is_exact() -> None:
    x = torch.randn(200, 5, generator=_gen(), dtype=F64)
    exact = float(DiffusionKernel.from_points(x).entropy(solver="exact"))
    res = nystrom_entropy(x, landmarks=200, correction="none", rcond=0.0)
    assert abs(float(res.value) - exact) < 1e-8


def test_nystrom_diagonal_correction_beats_plain_low_rank(shapes_600: dict, exact_600: dict) -> None:
    x = shapes_600["gauss"]
    plain = abs(float(nystrom_entropy(x, landmarks=150, correction="none").value) - exact_600["gauss"])
    fixed = abs(float(nystrom_entropy(x, landmarks=150).value) - exact_600["gauss"])
    assert fixed < plain / 5


def test_no_n_by_n_tensor_is_formed() -> None:
    n, block = 1500, 64
    x = torch.randn(n, 6, generator=_gen(), dtype=F64)
    with LargestTensor() as watch:
        res = matrix_free_entropy(x, sigma=1.0, steps=10, probes=4, top=20, block=block)
    assert res.details["block"] == block
    # the largest tensor is a kernel block (block x N), orders of magnitude below N x N
    assert watch.largest == block * n < n * n // 20
    with LargestTensor() as watch:
        nystrom_entropy(x, sigma=1.0, landmarks=100, steps=10, probes=4, top=20)
    assert watch.largest < n * n // 10


def test_block_from_memory_budget() -> None:
    assert block_rows(1000, 2**20, 8) == 2**20 // (8 * 2001)
    assert block_rows(10, 2**30, 8) == 10 and block_rows(10**6, 1, 8) == 1
    x = torch.randn(2000, 3, generator=_gen(), dtype=F64)
    op = MatrixFreeDiffusionOperator(x, sigma=1.0, memory_budget=8 * (2 * 2000 + 1) * 37)
    assert op.block == 37 and op.max_block_elements == 37 * 2000
    # a large budget still cuts about 18 strips (their diagonal squares: 7 % over the triangle)
    op = MatrixFreeDiffusionOperator(x, sigma=1.0)
    assert op.block == 2000 // 32 + 1 and op.strip_count >= 16
    computed = sum((stop - start) * (2000 - start) for start, stop in op.strips)
    assert computed < 1.08 * 2000 * 2001 / 2


def test_seeds_reproducible() -> None:
    x = torch.randn(300, 8, generator=_gen(), dtype=F64)
    a = matrix_free_entropy(x, steps=10, probes=4, top=10, seed=1).value
    b = matrix_free_entropy(x, steps=10, probes=4, top=10, seed=1).value
    c = matrix_free_entropy(x, steps=10, probes=4, top=10, seed=2).value
    assert torch.equal(a, b) and not torch.equal(a, c)
    p = nystrom_entropy(x, landmarks=50, seed=1).value
    q = nystrom_entropy(x, landmarks=50, seed=1).value
    r = nystrom_entropy(x, landmarks=50, seed=2).value
    assert torch.equal(p, q) and not torch.equal(p, r)


def test_time_zero_base_and_dtype() -> None:
    x = torch.randn(200, 4, generator=_gen(), dtype=torch.float32)
    assert abs(float(matrix_free_entropy(x, t=0, steps=5, probes=2, top=5).value) - 200.0**0 * 7.643856) < 1e-5
    bits = matrix_free_entropy(x, steps=10, probes=4, top=10)
    nats = matrix_free_entropy(x, steps=10, probes=4, top=10, base=torch.e)
    assert bits.value.dtype == torch.float32
    assert abs(float(nats.value) - float(bits.value) * 0.6931471805599453) < 1e-5


def test_errors_are_named() -> None:
    x = torch.randn(50, 3, generator=_gen(), dtype=F64)
    with pytest.raises(ValueError, match="sigma"):
        matrix_free_entropy(x, sigma="mean")
    with pytest.raises(ValueError, match="sigma"):
        MatrixFreeDiffusionOperator(x, sigma=-1.0)
    with pytest.raises(TypeError, match="sigma"):
        nystrom_entropy(x, sigma=True)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="block"):
            MatrixFreeDiffusionOperator(x, sigma=1.0, block=bad)
    with pytest.raises(ValueError, match="memory_budget"):
        MatrixFreeDiffusionOperator(x, sigma=1.0, memory_budget=0)
    with pytest.raises(ValueError, match="steps"):
        matrix_free_entropy(x, steps=0)
    with pytest.raises(ValueError, match="landmarks"):
        nystrom_entropy(x, landmarks=0)
    with pytest.raises(ValueError, match="correction"):
        nystrom_entropy(x, correction="full")
    with pytest.raises(ValueError, match="t must"):
        matrix_free_entropy(x, t=-1)
    op = MatrixFreeDiffusionOperator(x, sigma=1.0)
    with pytest.raises(ValueError, match="v must have shape"):
        op @ torch.ones(49, dtype=F64)


def _blobs_with_labels(n: int, seed: int = 11) -> tuple[torch.Tensor, torch.Tensor]:
    g = _gen(seed)
    y = torch.arange(n) % 3
    return 2.0 * torch.randn(3, 16, generator=g, dtype=F64)[y] + torch.randn(n, 16, generator=g, dtype=F64), y


def test_matrix_free_dsmi_within_slq_error_of_the_exact_dense_dsmi() -> None:
    x, y = _blobs_with_labels(1500)
    exact = float(diffusion_spectral_mutual_information(x, y))
    res = matrix_free_mutual_information(x, y)
    assert isinstance(res, ScaleResult) and res.solver == "matrix-free"
    assert res.details["subsets"] == 3 + 5 and res.details["classes"] == 3  # equal class sizes share draws
    # stated: 5e-4 to 1e-3 bits at this size with the defaults
    assert abs(float(res.value) - exact) < 5e-3
    assert res.sigma == pytest.approx(DiffusionKernel.from_points(x).sigma, rel=1e-12)


def test_matrix_free_dsmi_is_dense_lanczos_dsmi_draw_for_draw() -> None:
    x, y = _blobs_with_labels(600, seed=12)
    kernel = DiffusionKernel.from_points(x)

    def dense_lanczos(idx: torch.Tensor) -> torch.Tensor:  # each subset's block, the dense SLQ solver
        with small_problem_threads(1):  # small problems on a shared CPU: one thread is steadier
            return kernel.block(idx).entropy(solver="lanczos", lanczos_steps=20, lanczos_probes=8, seed=5)

    for seed in (0, 3):
        dense = subset_mutual_information(y, dense_lanczos, num_repetitions=4, seed=seed)
        res = matrix_free_mutual_information(
            x, y, num_repetitions=4, seed=seed, slq_seed=5, steps=20, probes=8, top=100, power_iters=2, block=64
        )
        assert abs(float(res.value) - float(dense)) < 1e-10
        assert res.products == (3 + 4) * (20 + 2 + 3)


def test_matrix_free_dsmi_errors_and_single_point_classes() -> None:
    x = torch.randn(40, 3, generator=_gen(), dtype=F64)
    y = torch.zeros(40, dtype=torch.int64)
    y[0] = 1  # a class of one point: its entropy is 0
    dense = float(diffusion_spectral_mutual_information(x, y, sigma=1.0))
    assert abs(float(matrix_free_mutual_information(x, y, sigma=1.0).value) - dense) < 1e-10  # 40 <= top: exact
    with pytest.raises(ValueError, match="labels must hold one label per point"):
        matrix_free_mutual_information(x, y[:-1])
    with pytest.raises(ValueError, match="power_iters"):
        matrix_free_mutual_information(x, y, power_iters=-1)
    with pytest.raises(ValueError, match="process_group"):
        matrix_free_entropy(x, process_group=object())  # torch.distributed is not initialized here


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _distributed_points() -> torch.Tensor:
    return torch.randn(500, 10, generator=_gen(21), dtype=F64)


def _distributed_worker(rank: int, world: int, port: int, queue: object) -> None:
    """One rank of a gloo group: the DSE and the DSMI of the same points, split over the group."""
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    try:
        dist.init_process_group("gloo", rank=rank, world_size=world)
        group = dist.group.WORLD
        x = _distributed_points()
        res = matrix_free_entropy(x, steps=20, probes=8, top=20, block=64, process_group=group)
        mi = matrix_free_mutual_information(x, torch.arange(500) % 2, steps=15, probes=4, top=10, process_group=group)
        queue.put((rank, float(res.value), res.details["strips"], float(mi.value)))  # type: ignore[attr-defined]
        dist.destroy_process_group()
    except Exception as exc:  # report it to the parent instead of hanging it
        queue.put((rank, repr(exc), None, None))  # type: ignore[attr-defined]


def test_two_gloo_processes_equal_one_process() -> None:
    import torch.distributed as dist
    import torch.multiprocessing as mp

    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch.distributed with the gloo backend is not available")
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_distributed_worker, args=(r, 2, port, queue)) for r in range(2)]
    for p in procs:
        p.start()
    try:
        results = sorted(queue.get(timeout=120) for _ in procs)
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
    for rank, value, _, _ in results:
        assert isinstance(value, float), f"rank {rank} failed: {value}"
    x = _distributed_points()
    single = float(matrix_free_entropy(x, steps=20, probes=8, top=20, block=64).value)
    single_mi = float(matrix_free_mutual_information(x, torch.arange(500) % 2, steps=15, probes=4, top=10).value)
    (mine0, total0), (mine1, total1) = (r[2] for r in results)  # each rank about half of the strips
    assert total0 == total1 > 2 and mine0 + mine1 == total0 and abs(mine0 - mine1) <= 1
    for _, value, _, mi in results:
        assert abs(value - single) < 1e-10
        assert abs(mi - single_mi) < 1e-10


def test_matrix_free_dsmi_across_ranks_needs_a_seed() -> None:
    # an unseeded subset draw differs between ranks; the check comes before any collective
    from infotorch.spectral import matrix_free_mutual_information

    x = torch.randn(20, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="seed must be an integer when process_group"):
        matrix_free_mutual_information(x, torch.arange(20) % 2, seed=None, process_group=object())


def test_auto_settings_follow_the_rule_from_the_target_error() -> None:
    assert slq_settings(1e-2) == {"steps": 15, "probes": 16, "top": 200, "power_iters": 1}
    assert slq_settings(0.5) == slq_settings(1e-2)
    assert slq_settings(5e-3) == {"steps": 15, "probes": 64, "top": 200, "power_iters": 1}
    assert slq_settings(2e-3)["probes"] == 256
    with pytest.raises(ValueError, match="tol must be at least 0.002"):
        slq_settings(1e-3)
    x = torch.randn(300, 5, generator=_gen(), dtype=F64)
    res = matrix_free_entropy(x, sigma=1.0)
    assert {k: res.details[k] for k in ("steps", "probes", "top", "power_iters")} == slq_settings(1e-2)
    assert res.details["tol"] == 1e-2 and res.products == 15 + 1 + 3
    mixed = matrix_free_entropy(x, sigma=1.0, steps=7, tol=2e-3)  # explicit values win over the rule
    assert (mixed.details["steps"], mixed.details["probes"], mixed.details["top"]) == (7, 256, 200)
    with pytest.raises(ValueError, match="probes must be an integer or 'auto'"):
        matrix_free_entropy(x, probes="many")
    with pytest.raises(ValueError, match="tol"):
        matrix_free_entropy(x, tol=-1.0)


def test_front_door_reports_the_solver_that_ran(capsys) -> None:
    from infotorch.spectral import diffusion_spectral_entropy

    x = torch.randn(400, 4, generator=_gen(), dtype=F64)
    exact = diffusion_spectral_entropy(x, sigma=1.0, verbose=True)
    assert "solver='exact' (asked 'auto'), N=400" in capsys.readouterr().err
    mf = diffusion_spectral_entropy(x, sigma=1.0, solver="matrix-free", tol=1e-2, verbose=True)
    err = capsys.readouterr().err
    assert "solver='matrix-free'" in err and "'steps': 15" in err and "19 passes" in err
    assert abs(float(mf) - float(exact)) < 1e-2 * float(exact)


def test_nystrom_float32_factor_matches_float64() -> None:
    # float32 points: the N x m factor stored in float32, widened for each float64 product
    x = torch.randn(800, 16, generator=_gen(3), dtype=F64)
    for correction in ("diagonal", "none"):
        r64 = nystrom_entropy(x, landmarks=200, correction=correction, steps=30, probes=16)
        r32 = nystrom_entropy(x.float(), landmarks=200, correction=correction, steps=30, probes=16)
        assert r32.value.dtype == torch.float32
        assert abs(float(r32.value) - float(r64.value)) < 1e-4 * float(r64.value)
