"""The measure registry: one namespace of names and aliases, no silent shadowing; the built-in
measures against the functions they wrap."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import infotorch as it
from infotorch.measures import MeasureContext, get_measure, register_measure, unregister_measure


def test_names_and_aliases_cannot_shadow_each_other():
    f = lambda ctx: 0.0
    with pytest.raises(ValueError, match="already registered"):
        register_measure("dsmi", f, label="mine")  # an alias of dsmi_zy
    with pytest.raises(ValueError, match="name of another measure"):
        register_measure("foo", f, label="foo", aliases=("dse",))
    with pytest.raises(ValueError, match="lowercase"):
        register_measure("foo", f, label="foo", aliases=("f-o",))
    register_measure("foo", f, label="foo", aliases=("Bar",))  # aliases are case-insensitive
    assert get_measure("BAR").name == "foo"
    unregister_measure("foo")
    with pytest.raises(ValueError, match="unknown measure"):
        get_measure("bar")
    try:
        register_measure("dsmi", f, label="mine", overwrite=True)  # takes the alias over, explicitly
        assert get_measure("dsmi").label == "mine"
        assert "dsmi" not in get_measure("dsmi_zy").aliases and get_measure("dsmi_y").name == "dsmi_zy"
    finally:
        unregister_measure("dsmi")
        register_measure(
            "dsmi_zy",
            get_measure("dsmi_zy").fn,
            label="DSMI(Z; Y)",
            needs=("labels",),
            description=get_measure("dsmi_zy").description,
            aliases=("dsmi", "dsmi_y"),
            overwrite=True,
        )
    assert get_measure("dsmi").name == "dsmi_zy"
    assert get_measure("DSE").name == "dse"  # case-insensitive lookup


def test_builtin_measures_equal_the_functions_they_wrap():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(90) % 3
    z = torch.randn(90, 4, generator=g, dtype=torch.float64) + 2 * torch.eye(3, 4, dtype=torch.float64)[y]
    ctx = MeasureContext(z, labels=y, sigma=1.5)
    k = it.DiffusionKernel.from_points(z, 1.5)
    assert get_measure("dse").compute(ctx) == pytest.approx(float(k.entropy(solver="exact")), rel=1e-12)
    assert get_measure("dsmi_zy").compute(ctx) == pytest.approx(float(k.mutual_information(y)), rel=1e-12)
    assert get_measure("knn_mi_zy").compute(ctx) == pytest.approx(
        float(it.knn_mutual_information_discrete(z, y)) / math.log(2), rel=1e-12
    )
    assert ctx.solver == "exact"  # as dse-dsmi, whatever N (the CLI's default max-n is 10000)
    assert get_measure("adaptive_dse").compute(ctx) == pytest.approx(
        float(it.adaptive_diffusion_spectral_entropy(z, k=15, t=3)), rel=1e-12
    )
    assert get_measure("knn_dse").name == "adaptive_dse"


def test_a_wrong_batch_dim_leaves_no_hook_and_the_training_mode():
    from infotorch.monitor import InformationMonitor

    model = nn.Sequential(nn.Linear(4, 3))
    model.train()
    with pytest.raises(ValueError, match="batch_dim"):
        InformationMonitor(model, ["0"], batch_dim=2).measure(torch.randn(30, 4))
    assert model.training and not model[0]._forward_hooks


def test_rel_entr_propagates_nan_and_negative_p():
    with it.validation(False):
        assert math.isnan(float(it.kl_divergence(torch.tensor([math.nan, 1.0]), torch.tensor([0.5, 0.5]))))
        assert math.isnan(float(it.kl_divergence(torch.tensor([-0.5, 1.5]), torch.tensor([0.5, 0.5]))))
        assert float(it.kl_divergence(torch.tensor([0.0, 1.0]), torch.tensor([0.0, 1.0]))) == 0.0
