"""The two entropy labs of the interpolated density entropy: points on a line under the
interpolated density entropy (:mod:`infotorch.labs.line`) and unit vectors maximizing a Gram
entropy on the sphere, the Thomson problem (:mod:`infotorch.labs.sphere`). ``infotorch lab line``
and ``infotorch lab sphere`` run them and write self-contained HTML pages and PNGs."""

from .line import predicted_quadratic_equilibrium, run_line, simulate_line
from .sphere import THOMSON_ENERGY, coulomb_energy, optimize_sphere, run_sphere

__all__ = [
    "THOMSON_ENERGY",
    "coulomb_energy",
    "optimize_sphere",
    "predicted_quadratic_equilibrium",
    "run_line",
    "run_sphere",
    "simulate_line",
]
