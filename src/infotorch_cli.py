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
    """Import the command line and run it; a Ctrl-C while it imports or runs is one line, exit 130.

    A Ctrl-C that arrives after the command is done, while the interpreter shuts down, ends the
    process by the signal itself (no output; shells report it as status 130): Python restores the
    default SIGINT action during its shutdown, which no handler can change.
    """
    try:
        from infotorch.cli import main as cli_main

        code = cli_main()
    except KeyboardInterrupt:
        sys.stderr.write("infotorch: interrupted\n")
        code = 130
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
