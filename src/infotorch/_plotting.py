"""matplotlib on the non-interactive Agg backend, imported on first use (it is an extra)."""

from __future__ import annotations

from typing import Any

__all__ = ["pyplot"]


def pyplot(what: str = "plots") -> Any:
    """``matplotlib.pyplot`` with the Agg backend; an ImportError naming the extra if absent."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(f"{what} need matplotlib: pip install 'infotorch[plot]'") from None
    return plt
