r"""The eigenvalue cache: an ``.npz`` file with the spectrum and what it was computed from.

Written atomically (temporary file + ``os.replace``), read with ``allow_pickle=False``. The
provenance (kind of operator, sigma, N, D, the random seed of an approximation, and a SHA-256
fingerprint of the data) is recorded, and a cache whose provenance differs from what the caller
expects is refused with a ``ValueError`` naming the file, as is a truncated or corrupt file or
one whose eigenvalues are not finite, all zero, or not N of them. The fingerprint is computed
only by :func:`provenance`, i.e. only when a cache path is given.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import zipfile
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = ["data_fingerprint", "load_eigvals", "load_spectrum", "provenance", "save_eigvals", "save_spectrum"]


def provenance(kind: str, sigma: float, x: Tensor | None, seed: int | None = None) -> dict[str, Any]:
    """What a cached spectrum is computed from (``x=None``: only kind, sigma and seed are known)."""
    meta: dict[str, Any] = {"kind": kind, "sigma": float(sigma), "n": None, "d": None, "fingerprint": None}
    if seed is not None:
        meta["seed"] = int(seed)
    if x is not None:
        meta.update(n=int(x.shape[0]), d=int(x.shape[1]), fingerprint=data_fingerprint(x))
    return meta


def _check_path(path: Any) -> str:
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise ValueError(f"the eigenvalue cache path must be a non-empty file name, got {path!r}")
    return os.fspath(path)


def data_fingerprint(x: Tensor) -> str:
    """SHA-256 of the data's float64 bytes (C order): what an eigenvalue cache was built from."""
    arr = np.ascontiguousarray(x.detach().to("cpu", torch.float64).numpy())
    return hashlib.sha256(arr.tobytes()).hexdigest()


def save_eigvals(path: str | os.PathLike[str], eigvals: Tensor, meta: dict[str, Any], precision: Any) -> None:
    """Write eigenvalues and their provenance to ``path`` atomically (temp file + ``os.replace``)."""
    path = _check_path(path)
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    values = eigvals.detach().cpu().numpy().astype(precision)
    fields: dict[str, Any] = {f"meta_{k}": np.asarray(v) for k, v in meta.items()}
    fields["eigvals"] = values
    fd, tmp = tempfile.mkstemp(prefix=".eigvals-", suffix=".npz", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **fields)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would hide a shared cache from its readers
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_eigvals(path: str | os.PathLike[str], expected: dict[str, Any]) -> Tensor:
    """Read a cache, refusing pickled content and any provenance field that differs from ``expected``.

    ``expected`` holds the fields that can be checked (``None`` values are skipped: with no
    embeddings given, only the kind and sigma can be compared). A cache without provenance
    (written by ``dse-dsmi``) is accepted only when nothing but kind and sigma is expected.
    """
    path = _check_path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            if "eigvals" not in data.files:
                raise ValueError(f"eigenvalue cache {path!r} has no 'eigvals' array")
            eigvals = np.asarray(data["eigvals"], dtype=np.float64)
            stored = {k[5:]: data[k].item() for k in data.files if k.startswith("meta_")}
    except ValueError as exc:
        if "pickle" in str(exc).lower() or "object" in str(exc).lower():
            raise ValueError(f"eigenvalue cache {path!r} holds pickled objects; refusing to load it") from None
        raise ValueError(f"eigenvalue cache {path!r} could not be read: {exc}") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise ValueError(f"eigenvalue cache {path!r} could not be read (truncated or corrupt?): {exc}") from None
    if eigvals.ndim != 1 or eigvals.size == 0 or not np.all(np.isfinite(eigvals)) or not np.any(eigvals):
        raise ValueError(
            f"eigenvalue cache {path!r} holds no usable spectrum (empty, not finite or all zero); delete it"
        )
    checks = {k: v for k, v in expected.items() if v is not None}
    if not stored:
        data_keys = {"n", "d", "fingerprint"} & checks.keys()
        if data_keys:
            raise ValueError(
                f"eigenvalue cache {path!r} records no provenance, so it cannot be matched to these "
                f"embeddings; delete it, or pass embedding_vectors=None to load it as is"
            )
        return torch.from_numpy(eigvals)
    for key, want in checks.items():
        have = stored.get(key)
        if isinstance(want, float) or isinstance(have, float):
            same = have is not None and math.isclose(float(have), float(want), rel_tol=1e-12)
        else:
            same = have == want
        if not same:
            raise ValueError(
                f"eigenvalue cache {path!r} was computed for {key}={have!r}, not {key}={want!r}; "
                f"delete it or choose another eigval_save_path"
            )
    want_n = expected.get("n")
    if want_n is not None and eigvals.size != int(want_n) and expected.get("kind", "").find("chebyshev") < 0:
        raise ValueError(
            f"eigenvalue cache {path!r} holds {eigvals.size} eigenvalues for N = {want_n} points; delete it"
        )
    return torch.from_numpy(eigvals)


def save_spectrum(
    path: str | os.PathLike[str], eigvals: Tensor, meta: dict[str, Any], precision: Any = np.float64
) -> None:
    """Write a spectrum and its provenance (:func:`provenance`) to ``path``."""
    save_eigvals(path, eigvals, meta, precision)


def load_spectrum(path: str | os.PathLike[str], expected: dict[str, Any]) -> Tensor:
    """Read a spectrum written by :func:`save_spectrum`, checked against ``expected``."""
    return load_eigvals(path, expected)
