"""The spectral measures on hostile input (regressions of an independent review). References:
the exact float64 DSE of the same points at ordinary scale (DSE(x, σ) = DSE(x/c, σ/c)), the
scale invariance of the median rule (Euler: x · ∇DSE = 0), torch.autograd.gradcheck, log2 N,
the eigenvalue entropy written out here."""

from __future__ import annotations

import math
import os
import stat

import pytest
import torch
from torch.autograd import gradcheck

import infotorch.spectral as S
from infotorch.spectral.matrix_free import matrix_free_entropy, nystrom_entropy

F64 = torch.float64


def pts(n: int = 200, d: int = 5, seed: int = 0, dtype: torch.dtype = F64) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=F64).to(dtype)


def test_median_bandwidth_is_differentiable_as_the_function_it_is():
    x = pts(7, 3).requires_grad_(True)
    assert gradcheck(lambda z: S.diffusion_spectral_entropy(z), (x,))
    x = pts(50, 3).requires_grad_(True)
    S.diffusion_spectral_entropy(x).backward()  # the median rule makes DSE scale-free
    assert float((x.grad * x).sum()) == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize(("scale", "dtype"), [(1e30, torch.float32), (1e-30, torch.float32), (1e200, F64)])
def test_scalable_solvers_at_extreme_scales(scale, dtype):
    x = pts()
    exact = float(S.diffusion_spectral_entropy(x))
    xs = (x * scale).to(dtype)
    assert float(matrix_free_entropy(xs, tol=1e-2).value) == pytest.approx(exact, rel=1e-2)
    assert float(nystrom_entropy(xs).value) == pytest.approx(exact, rel=1e-2)


@pytest.mark.parametrize("scale", [1e-30, 1e30])
def test_scale_free_graphs_at_extreme_scales(scale):
    x = pts(300, 20, dtype=torch.float32)
    assert float(S.adaptive_diffusion_spectral_entropy(x * scale)) == float(S.adaptive_diffusion_spectral_entropy(x))
    y = pts(200, 5, seed=1, dtype=torch.float32)
    assert float(S.adjacency_spectral_entropy(y * scale, graph="knn")) == float(
        S.adjacency_spectral_entropy(y, graph="knn")
    )


def test_lanczos_refuses_a_gradient_and_auto_keeps_it():
    x = pts(40, 3).requires_grad_(True)
    kernel = S.DiffusionKernel.from_points(x)
    with pytest.raises(ValueError, match="solver='lanczos' is not differentiable"):
        kernel.entropy(solver="lanczos")
    kernel.entropy(solver="auto").backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all())


def test_kernel_mutual_information_checks_its_labels():
    kernel = S.DiffusionKernel.from_points(pts())
    with pytest.raises(ValueError, match="100 labels for 200 points"):
        kernel.mutual_information(torch.arange(100) % 3)
    with pytest.raises(TypeError, match="labels must be integer class labels"):
        kernel.mutual_information(["a"] * 200)


def test_time_limits_on_every_solver():
    x = pts(300)
    for solver in ("exact", "lanczos"):
        assert float(S.diffusion_spectral_entropy(x, t=0, solver=solver)) == pytest.approx(math.log2(300), abs=1e-12)
        assert float(S.diffusion_spectral_entropy(x, t=1e300, solver=solver)) == pytest.approx(0.0, abs=1e-9)
    assert float(matrix_free_entropy(x, t=1e300, tol=1e-2).value) == pytest.approx(0.0, abs=1e-9)


def test_spectrum_entropy_in_log_space_at_t_one():
    assert float(S.spectrum_entropy(torch.tensor([1e308, 1e308], dtype=F64))) == pytest.approx(1.0, abs=1e-12)
    assert float(S.spectrum_entropy(torch.tensor([6e4, 6e4], dtype=torch.float16))) == pytest.approx(1.0, abs=1e-3)
    assert float(S.spectrum_entropy(torch.zeros(4, dtype=F64))) == 0.0
    with pytest.raises(ValueError, match="eigvals must be finite"):
        S.spectrum_entropy(torch.tensor([1.0, math.nan]))


def test_bad_arguments_are_named():
    x = pts(50)
    with pytest.raises(ValueError, match="x must be finite"):
        S.binned_shannon_entropy(torch.tensor([[0.0], [math.nan]]))
    with pytest.raises(ValueError, match="bins_per_dim must be a positive integer"):
        S.binned_shannon_entropy(x, 2.5)
    with pytest.raises(ValueError, match="rcond must be a number in"):
        nystrom_entropy(x, rcond=math.nan)
    with pytest.raises(ValueError, match="lanczos_steps must be a positive integer"):
        S.DiffusionKernel.from_points(x).entropy(solver="lanczos", lanczos_steps=2.7)
    with pytest.raises(ValueError, match="knn must be a positive integer"):
        S.adjacency_spectral_entropy(x, graph="knn", knn=2.5)
    with pytest.raises(ValueError, match="max_median_points must be an integer"):
        S.DiffusionKernel.from_points(x, max_median_points=-5)


def test_renyi_in_half_precision_integers_and_extreme_scales():
    x = pts(300, 5, dtype=torch.float32)
    ref = float(S.matrix_renyi_entropy(x, 1.5))
    half = S.matrix_renyi_entropy(x.half(), 1.5)
    assert half.dtype == torch.float16 and float(half) == pytest.approx(
        float(S.matrix_renyi_entropy(x.half().float(), 1.5)), rel=1e-3
    )
    assert float(S.matrix_renyi_entropy(x * 1e30, 2.0, sigma=1e30)) == pytest.approx(
        float(S.matrix_renyi_entropy(x, 2.0)), rel=1e-5
    )
    assert math.isfinite(ref)
    ints = S.matrix_renyi_entropy(torch.randint(0, 5, (30, 3), generator=torch.Generator().manual_seed(0)), 2.0)
    assert ints.dtype == torch.get_default_dtype() and math.isfinite(float(ints))


def test_cache_files_are_readable_as_the_umask_allows(tmp_path):
    from infotorch.spectral import cache

    path = tmp_path / "ev.npz"
    cache.save_eigvals(str(path), torch.tensor([1.0, 0.5]), {"kind": "dse"}, "float64")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask


def test_numpy_scalar_bandwidth_is_a_number():
    import numpy as np

    x = pts(50, 3)
    assert float(S.diffusion_spectral_entropy(x, sigma=np.float32(1))) == float(
        S.diffusion_spectral_entropy(x, sigma=1.0)
    )


def test_spectrum_entropy_under_vmap_equals_a_loop():
    from torch.func import vmap

    import infotorch

    ev = torch.rand(4, 6, dtype=F64, generator=torch.Generator().manual_seed(3))
    with infotorch.validation(False):
        for t in (1, 2, 0.5):
            batched = vmap(lambda e, t=t: S.spectrum_entropy(e, t))(ev)
            torch.testing.assert_close(batched, torch.stack([S.spectrum_entropy(e, t) for e in ev]))
