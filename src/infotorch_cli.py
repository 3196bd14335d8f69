"""Launcher of the ``infotorch`` console script.

It lives outside the :mod:`infotorch` package on purpose: importing the package imports
PyTorch, which takes a second or more, and a Ctrl-C in that second must end with one line on
stderr (exit 130) like a Ctrl-C anywhere else in the command line, not with a traceback from
inside ``import torch``. Everything else is :func:`infotorch.cli.main`.
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> int:
    """Import the command line and run it; a Ctrl-C during the import is one line, exit 130."""
    try:
        from infotorch.cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("infotorch: interrupted\n")
        return 130
    return cli_main()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
