"""A progress bar on stderr for the command line and the demo: rich when it is installed and
stderr is a terminal, otherwise nothing (stdout stays clean for tables and JSON)."""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["Progress"]


class Progress:
    """``Progress(total)``; ``update(description)``, ``advance(description=None)``, ``close()``."""

    def __init__(self, total: int, enabled: bool = True, description: str = "working") -> None:
        self._bar: Any = None
        if enabled and sys.stderr.isatty():
            try:
                from rich.progress import Progress as RichProgress

                self._bar = RichProgress(transient=True)
                self._bar.start()
                self._task = self._bar.add_task(description, total=total)
            except ImportError:
                self._bar = None

    def update(self, description: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, description=description)

    def advance(self, description: str | None = None) -> None:
        if self._bar is not None:
            if description is not None:
                self._bar.update(self._task, description=description)
            self._bar.advance(self._task)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
