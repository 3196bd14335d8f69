"""Known-truth mutual-information tasks re-created from the "Beyond Normal" benchmark.

P. Czyż, F. Grabowski, J. E. Vogt, N. Beerenwinkel and A. Marx, "Beyond Normal: On the Evaluation
of Mutual Information Estimators", NeurIPS 2023 (package ``benchmark-mi``). Its package needs
jax 0.4.33 and numpy < 2, so the distributions are re-created here from the paper: multivariate
normal (dense: every off-diagonal correlation 0.5; sparse: a few interacting pairs), multivariate
Student-t (same dispersion, ``df`` degrees of freedom), and the MI-preserving transforms half-cube
(``x |x|^{1/2}`` per coordinate), asinh (per coordinate) and spiral (a rotation of the first two
coordinates of x by an angle proportional to ``|x|^2``). Truths are closed forms: the Gaussian
log-determinants, plus the Student-t correction (entropy of the multivariate t).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import digamma, gammaln


def gaussian_mi(cov: np.ndarray, dx: int) -> float:
    """I(X; Y) = 1/2 [log det S_xx + log det S_yy - log det S] for a joint Gaussian."""
    ld = lambda m: np.linalg.slogdet(m)[1]
    return 0.5 * (ld(cov[:dx, :dx]) + ld(cov[dx:, dx:]) - ld(cov))


def student_entropy_offset(d: int, df: float) -> float:
    """Entropy of a d-dim Student-t minus 1/2 log det of its dispersion."""
    a = (df + d) / 2
    return gammaln(df / 2) + d / 2 * math.log(df * math.pi) - gammaln(a) + a * (digamma(a) - digamma(df / 2))


def student_mi(cov: np.ndarray, dx: int, df: float) -> float:
    """MI of a multivariate t: Gaussian MI of the dispersion plus the entropy-offset difference."""
    dy = cov.shape[0] - dx
    off = student_entropy_offset(dx, df) + student_entropy_offset(dy, df) - student_entropy_offset(dx + dy, df)
    return gaussian_mi(cov, dx) + off


def dense_cov(dx: int, dy: int, a: float = 0.5) -> np.ndarray:
    d = dx + dy
    return (1 - a) * np.eye(d) + a * np.ones((d, d))


def sparse_cov(dx: int, dy: int, pairs: int = 2, rho: float = 0.8) -> np.ndarray:
    cov = np.eye(dx + dy)
    for i in range(pairs):
        cov[i, dx + i] = cov[dx + i, i] = rho
    return cov


def half_cube(x: np.ndarray) -> np.ndarray:
    return x * np.sqrt(np.abs(x))


def spiral(x: np.ndarray, speed: float = 0.5) -> np.ndarray:
    theta = speed * (x**2).sum(1)
    c, s = np.cos(theta), np.sin(theta)
    out = x.copy()
    out[:, 0] = c * x[:, 0] - s * x[:, 1]
    out[:, 1] = s * x[:, 0] + c * x[:, 1]
    return out


@dataclass(frozen=True)
class Task:
    name: str
    dx: int
    dy: int
    cov: np.ndarray
    df: float | None = None  # Student-t degrees of freedom (None: Gaussian)
    fx: Callable[[np.ndarray], np.ndarray] | None = None
    fy: Callable[[np.ndarray], np.ndarray] | None = None

    @property
    def truth(self) -> float:
        return gaussian_mi(self.cov, self.dx) if self.df is None else student_mi(self.cov, self.dx, self.df)

    def sample(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        z = rng.multivariate_normal(np.zeros(self.cov.shape[0]), self.cov, size=n)
        if self.df is not None:
            z = z / np.sqrt(rng.chisquare(self.df, size=(n, 1)) / self.df)
        x, y = z[:, : self.dx], z[:, self.dx :]
        if self.fx is not None:
            x = self.fx(x)
        if self.fy is not None:
            y = self.fy(y)
        return x, y


TASKS = [
    Task("normal 1x1 (rho 0.75)", 1, 1, np.array([[1.0, 0.75], [0.75, 1.0]])),
    Task("normal dense 2x2", 2, 2, dense_cov(2, 2)),
    Task("normal dense 5x5", 5, 5, dense_cov(5, 5)),
    Task("normal dense 25x25", 25, 25, dense_cov(25, 25)),
    Task("normal sparse 25x25", 25, 25, sparse_cov(25, 25)),
    Task("student-t 1x1 (df 1)", 1, 1, np.eye(2), df=1.0),
    Task("student-t 2x2 (df 2)", 2, 2, np.eye(4), df=2.0),
    Task("half-cube dense 5x5", 5, 5, dense_cov(5, 5), fx=half_cube, fy=half_cube),
    Task("asinh student-t 1x1 (df 1)", 1, 1, np.eye(2), df=1.0, fx=np.arcsinh, fy=np.arcsinh),
    Task("spiral sparse 3x3", 3, 3, sparse_cov(3, 3), fx=spiral),
]
