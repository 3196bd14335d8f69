"""The one place that checks inputs and phrases errors.

Every public function calls these at its boundary. Each check raises :class:`ValueError`
(bad values, shapes) or :class:`TypeError` (bad types) with one sentence: the argument's name,
what was expected and what was given, e.g. ``"p must sum to 1 along dim -1 (max deviation
0.031)"``.

Checks that only read metadata (types, shapes, ``dim``, ``base``, ``reduction``) always run.
Checks that read values (NaN/Inf, negativity, normalization) run when ``validate=True`` and
can be switched off in hot loops with ``validate=False``, as ``validate_args`` does in
:mod:`torch.distributions`; on CUDA they synchronize the device.
"""

from __future__ import annotations

import math
import numbers
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "check_base",
    "check_broadcastable",
    "check_choice",
    "check_dim",
    "check_dims",
    "check_finite",
    "check_in_unit_interval",
    "check_integer_samples",
    "check_logits",
    "check_positive",
    "check_positive_number",
    "check_probabilities",
    "check_reduction",
    "check_same_shape",
    "check_symmetric_matrix",
    "ensure_tensor",
    "exactly_one",
    "get_default_validate",
    "resolve_validate",
    "set_default_validate",
    "sum_tolerance",
    "validation",
]

REDUCTIONS = ("none", "mean", "sum")

_DEFAULT_VALIDATE = True


def set_default_validate(value: bool) -> None:
    """Turn the value checks of every measure on (default) or off for calls that pass no
    ``validate=``, as :func:`torch.distributions.Distribution.set_default_validate_args` does.

    Off, the checks that read data (finite, normalized, non-negative) are skipped, which is what
    :func:`torch.func.vmap` and :func:`torch.compile` need; shapes and options are still checked.
    """
    global _DEFAULT_VALIDATE
    if not isinstance(value, bool):
        raise TypeError(f"value must be True or False, got {value!r}")
    _DEFAULT_VALIDATE = value


def get_default_validate() -> bool:
    """Whether measures check their inputs' values when ``validate=`` is not given."""
    return _DEFAULT_VALIDATE


class validation:
    """``with infotorch.validation(False): ...`` switches the default value checks within a block
    (restored on exit, also after an exception)."""

    def __init__(self, enabled: bool) -> None:
        if not isinstance(enabled, bool):
            raise TypeError(f"enabled must be True or False, got {enabled!r}")
        self.enabled = enabled
        self._previous = _DEFAULT_VALIDATE

    def __enter__(self) -> validation:
        self._previous = get_default_validate()
        set_default_validate(self.enabled)
        return self

    def __exit__(self, *exc: object) -> None:
        set_default_validate(self._previous)


def _truth(t: Tensor) -> bool:
    """``bool(t)`` for a check; under ``torch.func.vmap`` (where a data-dependent check cannot
    run) a RuntimeError that says how to switch the checks off."""
    try:
        return bool(t)
    except RuntimeError as exc:
        if "vmap" in str(exc) or "data-dependent" in str(exc):
            raise RuntimeError(
                "infotorch's input checks read the data, which torch.func.vmap cannot; run the call inside "
                "`with infotorch.validation(False):` (or pass validate=False)"
            ) from exc
        raise


def resolve_validate(validate: bool | None) -> bool:
    """A function's ``validate=`` argument: ``None`` means the default switch."""
    return _DEFAULT_VALIDATE if validate is None else bool(validate)


def _describe(x: Any) -> str:
    if isinstance(x, Tensor):
        return f"a tensor of shape {tuple(x.shape)} and dtype {x.dtype}"
    return f"{type(x).__name__} {x!r}" if not hasattr(x, "shape") else type(x).__name__


def ensure_tensor(x: Any, name: str) -> Tensor:
    """Refuse anything but a real :class:`torch.Tensor` (numpy arrays get a hint; complex
    tensors are refused: no measure here is defined on complex values)."""
    if isinstance(x, Tensor):
        if x.is_complex():
            raise TypeError(f"{name} must be real, got a complex tensor of dtype {x.dtype}")
        return x
    hint = " (convert it with torch.as_tensor)" if hasattr(x, "__array__") else ""
    raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}{hint}")


def exactly_one(name_a: str, a: Any, name_b: str, b: Any) -> None:
    """Exactly one of two alternative arguments must be given."""
    if (a is None) == (b is None):
        which = "both" if a is not None else "neither"
        raise ValueError(f"either {name_a} or {name_b} must be given, but not both (got {which})")


def check_dim(x: Tensor, dim: Any, name: str = "dim") -> int:
    """``dim`` must be an int in ``[-x.ndim, x.ndim)``; returns it unchanged."""
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {_describe(dim)}")
    if x.ndim == 0:
        raise ValueError(f"{name}={dim} needs a tensor with at least one dimension, got a scalar")
    dim = int(dim)
    if not -x.ndim <= dim < x.ndim:
        raise ValueError(
            f"{name} must be in [{-x.ndim}, {x.ndim - 1}] for a tensor of shape {tuple(x.shape)}, got {dim}"
        )
    return dim


def check_dims(x: Tensor, dims: Any, name: str = "dims") -> tuple[int, int]:
    """``dims`` must be two distinct valid dimensions of ``x``; returns them non-negative."""
    if not isinstance(dims, Sequence) or len(dims) != 2:
        raise TypeError(f"{name} must be a pair of ints, got {_describe(dims)}")
    if x.ndim < 2:
        raise ValueError(f"{name} needs a joint table with at least 2 dimensions, got shape {tuple(x.shape)}")
    a = check_dim(x, dims[0], name) % x.ndim
    b = check_dim(x, dims[1], name) % x.ndim
    if a == b:
        raise ValueError(f"{name} must name two different dimensions, got {tuple(dims)}")
    return a, b


def check_finite(x: Tensor, name: str) -> None:
    """No NaN and no ±Inf anywhere in ``x``."""
    x = x.detach()
    if (x.is_floating_point() or x.is_complex()) and x.numel():
        # one reduction in the common case: the max magnitude is finite iff every entry is
        if _truth(torch.isfinite(x.abs().amax())):
            return
        bad = ~torch.isfinite(x)
        if _truth(bad.any()):
            n_nan = int(torch.isnan(x).sum())
            n_inf = int(bad.sum()) - n_nan
            raise ValueError(f"{name} must be finite, got {n_nan} NaN and {n_inf} infinite value(s)")


def sum_tolerance(dtype: torch.dtype, k: int) -> float:
    """Tolerance on ``|Σ p − 1|`` for ``k`` probabilities stored in ``dtype``.

    ``max(1e-6, 4 · eps(dtype) · sqrt(k))``: probabilities rounded to ``dtype`` and normalized
    in it drift by about ``eps · sqrt(k)``; 1e-6 is the floor :mod:`torch.distributions` uses.
    """
    eps = torch.finfo(dtype).eps if dtype.is_floating_point else 0.0
    return max(1e-6, 4.0 * eps * math.sqrt(max(k, 1)))


def _dims_text(dim: int | tuple[int, ...]) -> str:
    return f"dim {dim}" if isinstance(dim, int) else f"dims {tuple(dim)}"


def check_probabilities(p: Tensor, name: str, dim: int | tuple[int, ...]) -> None:
    """Finite, non-negative and summing to 1 along ``dim`` within :func:`sum_tolerance`.

    Two reductions and one device synchronization: the float64 sums (NaN or Inf anywhere
    makes a sum non-finite) and the global minimum.
    """
    p = p.detach()
    if p.numel() == 0:
        return
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    k = 1
    for d in dims:
        k *= p.shape[d]
    total = p.sum(dim=dims, dtype=torch.float64)
    stats = torch.stack(
        [(total - 1.0).abs().amax(), p.amin().to(torch.float64), torch.isfinite(total).all().double()]
    ).tolist()
    deviation, minimum, finite = stats
    if not finite:
        check_finite(p, name)
    if minimum < 0:
        raise ValueError(f"{name} must be non-negative probabilities, got a minimum of {minimum:.4g}")
    if deviation > sum_tolerance(p.dtype, k):
        raise ValueError(
            f"{name} must sum to 1 along {_dims_text(dim)} (max deviation {deviation:.3g}); "
            f"pass logits= for unnormalized scores"
        )


def check_logits(z: Tensor, name: str, dim: int | tuple[int, ...]) -> None:
    """Logits: no NaN, no +Inf, and at least one entry above -Inf along ``dim``.

    ``-inf`` entries are allowed: they are masked classes with probability exactly 0. One
    reduction (the max along ``dim``, which NaN, +Inf and all-``-inf`` slices all make
    non-finite) and one synchronization in the common case.
    """
    z = z.detach()
    if not z.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {z.dtype}")
    if z.numel() == 0:
        return
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    top = z.amax(dim=dims)
    if _truth(torch.isfinite(top).all()):
        return
    if _truth(torch.isnan(z).any()):
        raise ValueError(f"{name} must not contain NaN, got {int(torch.isnan(z).sum())} NaN(s)")
    if _truth(torch.isposinf(z).any()):
        raise ValueError(f"{name} must not contain +inf (-inf masks a class; +inf is undefined)")
    raise ValueError(
        f"{name} must have at least one finite entry along {_dims_text(dim)}, got a slice that is all -inf"
    )


def check_in_unit_interval(x: Tensor, name: str) -> None:
    """Finite values in ``[0, 1]`` (Bernoulli probabilities, soft binary targets)."""
    x = x.detach()
    check_finite(x, name)
    if x.numel() and _truth(((x < 0) | (x > 1)).any()):
        raise ValueError(f"{name} must lie in [0, 1], got values in [{float(x.min()):.4g}, {float(x.max()):.4g}]")


def check_positive(x: Tensor, name: str) -> None:
    """Finite and strictly positive everywhere."""
    x = x.detach()
    check_finite(x, name)
    if x.numel() and _truth((x <= 0).any()):
        raise ValueError(f"{name} must be positive, got a minimum of {float(x.min()):.4g}")


def check_positive_number(value: Any, name: str) -> float:
    """A finite real number > 0 (a temperature, a bandwidth, an epsilon); returns it as a float."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a positive finite number, got {value!r}") from None
    if not (x > 0 and math.isfinite(x)):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return x


def check_base(base: Any) -> float:
    """``base`` is ``"e"``/``None``/``math.e`` or any finite float > 0 other than 1 (also as a
    string such as ``"2"``, so that configuration values paste).

    Returns ``ln(base)``, the divisor that converts nats to the unit of ``base``.
    """
    if base is None or (isinstance(base, str) and base.strip() == "e"):
        return 1.0
    if isinstance(base, str):
        try:
            base = float(base)
        except ValueError:
            raise TypeError(f"base must be 'e' or a positive number other than 1, got {base!r}") from None
    if isinstance(base, bool) or not isinstance(base, numbers.Real):
        raise TypeError(f"base must be 'e' or a positive number other than 1, got {base!r}")
    b = float(base)
    if not math.isfinite(b) or b <= 0 or b == 1.0:
        raise ValueError(f"base must be 'e' or a positive number other than 1, got {base!r}")
    return 1.0 if b == math.e else math.log(b)


def check_choice(value: Any, choices: Sequence[Any], name: str) -> Any:
    """``value`` if it is one of ``choices``; otherwise a ValueError naming ``name`` and the choices."""
    try:
        ok = value in choices
    except TypeError:  # unhashable or incomparable
        ok = False
    if not ok or (isinstance(value, bool) and not any(isinstance(c, bool) for c in choices)):
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {listed}, got {value!r}")
    return value


def check_reduction(reduction: Any, allowed: Sequence[str] = REDUCTIONS) -> str:
    """``reduction`` is one of ``allowed``."""
    if not isinstance(reduction, str) or reduction not in allowed:
        options = " | ".join(repr(a) for a in allowed)
        raise ValueError(f"reduction must be one of {options}, got {reduction!r}")
    return reduction


def check_broadcastable(a: Tensor, b: Tensor, name_a: str, name_b: str) -> tuple[int, ...]:
    """Shapes of ``a`` and ``b`` broadcast together; returns the broadcast shape."""
    try:
        return tuple(torch.broadcast_shapes(a.shape, b.shape))
    except RuntimeError:
        raise ValueError(
            f"{name_a} and {name_b} must have broadcastable shapes, got {tuple(a.shape)} and {tuple(b.shape)}"
        ) from None


def check_same_shape(a: Tensor, b: Tensor, name_a: str, name_b: str) -> None:
    """``a`` and ``b`` have exactly the same shape."""
    if a.shape != b.shape:
        raise ValueError(f"{name_a} and {name_b} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")


def check_integer_samples(x: Tensor, name: str) -> None:
    """Integer-coded (or bool) samples with at least one observation along the last dim."""
    if x.is_floating_point() or x.is_complex():
        raise TypeError(
            f"{name} must hold integer codes (an integer or bool tensor), got dtype {x.dtype}; "
            f"bin continuous values first (e.g. torch.bucketize)"
        )
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError(f"{name} must hold at least one sample along its last dimension, got shape {tuple(x.shape)}")


def check_symmetric_matrix(m: Tensor, name: str) -> None:
    """Square in its last two dimensions and symmetric to a dtype-aware tolerance."""
    m = m.detach()
    if m.ndim < 2 or m.shape[-1] != m.shape[-2]:
        raise ValueError(f"{name} must be a (..., d, d) matrix, got shape {tuple(m.shape)}")
    check_finite(m, name)
    if m.numel() == 0:
        return
    scale = float(m.abs().amax()) or 1.0
    asym = float((m - m.transpose(-1, -2)).abs().amax())
    tol = 100 * torch.finfo(m.dtype).eps * scale if m.is_floating_point() else 0.0
    if asym > tol:
        raise ValueError(f"{name} must be symmetric, got a max asymmetry of {asym:.3g}")


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn_user(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` attributed to the first caller outside the package, whatever the depth
    of the library frames in between (a measure called by the monitor, the CLI or directly)."""
    level, frame = 2, sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    warnings.warn(message, category, stacklevel=level)
