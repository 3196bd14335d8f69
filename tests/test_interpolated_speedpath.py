"""The fused eager path of the interpolated entropy (``_fast_core``, used on plain tensors) against
the reference closed form (``_forward_core``, used under vmap/compile and for double backward)."""

from __future__ import annotations

import concurrent.futures

import pytest
import torch

import infotorch as it
from infotorch.interpolated import _fast_core, _forward_core

D = torch.float64


@pytest.mark.parametrize("window", [1, 2, 3, 8, 50])
@pytest.mark.parametrize("n", [2, 3, 4, 7, 40, 300])
def test_fast_core_matches_the_reference(n, window):
    x = torch.randn(3, n, generator=torch.Generator().manual_seed(n + window), dtype=D)
    x[1] = torch.linspace(-1, 1, n, dtype=D)  # equal gaps: the series branch on every pair
    s = torch.sort(x, -1).values
    eps = torch.full((3, 1), 1e-3, dtype=D, requires_grad=True)
    h0, ds0, p0, _, _ = _forward_core(s, eps, window, need_grad=True)
    (geps0,) = torch.autograd.grad(h0.sum(), eps)
    h1, ds1, geps1, p1 = _fast_core(s, eps.detach(), window, None, True, True)
    torch.testing.assert_close(h1, h0.detach(), rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(ds1, ds0, rtol=1e-11, atol=1e-11)
    torch.testing.assert_close(geps1, geps0, rtol=1e-9, atol=1e-11)
    torch.testing.assert_close(p1 / p1.sum(-1, keepdim=True), p0 / p0.sum(-1, keepdim=True), rtol=1e-13, atol=1e-15)


def test_public_function_fast_path_equals_traced_path():
    # vmap runs the reference branch-free path inside the Function; the plain call the fused one
    x = torch.randn(4, 64, generator=torch.Generator().manual_seed(0), dtype=D)
    for window in (1, 5):
        a = x.clone().requires_grad_(True)
        h = it.interpolated_density_entropy(a, window=window, keepdim=False)
        h.sum().backward()
        g_ref = torch.func.vmap(
            torch.func.grad(lambda r, w=window: it.interpolated_density_entropy(r, window=w, validate=False).sum())
        )(x)
        torch.testing.assert_close(a.grad, g_ref, rtol=1e-10, atol=1e-12)


def test_ties_at_the_extremes_share_the_range_gradient():
    # tied extremes: the in-place end update and the masked (traced) sharing agree
    x = torch.tensor([[0.0, 0.0, 0.3, 0.7, 1.0, 1.0], [0.1, 0.5, 0.2, 0.9, 0.4, 0.0]], dtype=D)
    a = x.clone().requires_grad_(True)
    it.interpolated_density_entropy(a).sum().backward()
    g_ref = torch.func.vmap(torch.func.grad(lambda r: it.interpolated_density_entropy(r, validate=False).sum()))(x)
    assert torch.isfinite(a.grad).all()
    torch.testing.assert_close(a.grad, g_ref, rtol=1e-10, atol=1e-12)


_REAL_POOL = concurrent.futures.ThreadPoolExecutor


class _PoolSpy:
    """Counts the thread pools :func:`_sort_rows` creates (so a test knows its threaded path ran)."""

    created = 0

    def __init__(self, workers):
        type(self).created += 1
        self.pool = _REAL_POOL(workers)

    def __enter__(self):
        return self.pool.__enter__()

    def __exit__(self, *exc):
        return self.pool.__exit__(*exc)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("window", [1, 5])
def test_blocks_of_rows_equal_the_reference(monkeypatch, threads, window):
    # blocks of 2 rows (the last one partial) and, with 2 threads, the argsort split over threads
    import infotorch.interpolated as mod

    monkeypatch.setattr(mod, "_BLOCK_ELEMENTS", 2 * 40)
    monkeypatch.setattr(concurrent.futures, "ThreadPoolExecutor", _PoolSpy)
    _PoolSpy.created = 0
    x = torch.randn(23, 40, generator=torch.Generator().manual_seed(window), dtype=D)
    x[4, :10] = x[4, 10]  # ties inside one row
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a = x.clone().requires_grad_(True)
        h, p, _ = it.interpolated_density(a, window=window)
        (h.sum() + (p * torch.linspace(0, 1, 40, dtype=D)).sum()).backward()
    finally:
        torch.set_num_threads(before)
    assert _PoolSpy.created == (1 if threads == 2 else 0)  # 23 rows of 40: 11.5 blocks, 2 workers

    def ref(r):
        hh, pp, _ = it.interpolated_density(r, window=window, validate=False)
        return hh.sum() + (pp * torch.linspace(0, 1, 40, dtype=D)).sum()

    g_ref = torch.func.vmap(torch.func.grad(ref))(x)  # its backward recomputes by _forward_core
    one_row = [it.interpolated_density(r[None], window=window) for r in x]  # one block each
    h_ref = torch.cat([o[0] for o in one_row])
    p_ref = torch.cat([o[1] for o in one_row])
    torch.testing.assert_close(h, h_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(p, p_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(a.grad, g_ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cpu_sort_equals_torch_sort(monkeypatch, dtype):
    import infotorch.interpolated as mod

    monkeypatch.setattr(mod, "_BLOCK_ELEMENTS", 30)
    monkeypatch.setattr(concurrent.futures, "ThreadPoolExecutor", _PoolSpy)
    _PoolSpy.created = 0
    x = torch.randn(9, 33, generator=torch.Generator().manual_seed(1)).to(dtype)
    x[2, 5:9] = 0.25  # ties
    x[3, 0], x[3, 7], x[5, 1] = float("nan"), -float("inf"), float("inf")
    x[6] = -0.0
    before = torch.get_num_threads()
    for threads in (1, 2):
        torch.set_num_threads(threads)
        try:
            s, perm = mod._sort_rows(x)
        finally:
            torch.set_num_threads(before)
        ref = torch.sort(x, dim=-1).values
        assert perm.dtype == torch.int64
        assert torch.equal(torch.sort(perm, -1).values, torch.arange(33).expand(9, 33))  # a permutation per row
        torch.testing.assert_close(s, ref, equal_nan=True, rtol=0, atol=0)
        torch.testing.assert_close(x.gather(-1, perm), s, equal_nan=True, rtol=0, atol=0)
    assert _PoolSpy.created == 1  # the 2-thread call split the rows (297 values: 9.9 blocks of 30)
