"""The ``infotorch`` command. No math of its own: it parses, calls the library, prints.

Errors from the library (``ValueError``/``TypeError``) become one line on stderr and exit
code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import re
import sys
from collections.abc import Sequence
from typing import TextIO

import torch

from . import CORE_MODULES, __version__

__all__ = ["build_parser", "devices", "main", "measure_table"]


def devices() -> list[str]:
    """Human-readable names of the devices torch can use here."""
    found = ["cpu"]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            found.append(f"cuda:{i} ({torch.cuda.get_device_name(i)})")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return found


_LATEX = [
    (r"\mathrm{KL}", "KL"),
    (r"\mathrm{avg}", "avg"),
    (r"\mathrm{CE}", "CE"),
    (r"\mathrm{softmax}", "softmax"),
    (r"\tfrac12", "½"),
    (r"\log\det", "log det"),
    (r"\sum_{x,y}", "Σ_xy"),
    (r"\sum_k", "Σ_k"),
    (r"\log", "log"),
    (r"\det", "det"),
    (r"\mid", "|"),
    (r"\|", "||"),
    (r"\alpha", "α"),
    (r"\pi", "π"),
    (r"\Sigma", "Σ"),
    (r"\varepsilon", "ε"),
    (r"\,", ""),
    (r"\ ", " "),
    ("[2]_", ""),
    ("[1]_", ""),
]


def _plain_math(text: str) -> str:
    for latex, plain in _LATEX:
        text = text.replace(latex, plain)
    return text


def _summary(obj: object) -> str:
    doc = inspect.getdoc(obj) or ""
    first = doc.strip().split("\n\n", 1)[0].replace("\n", " ")
    first = re.sub(r":math:`([^`]*)`", lambda m: _plain_math(m.group(1)), first)
    first = re.sub(r":(?:func|class|mod):`~?([^`]*)`", r"\1", first)
    first = re.sub(r"\s*\[\d+\]_", "", first)
    return re.sub(r"\s+", " ", first.replace("``", "")).strip()


def measure_table() -> list[tuple[str, str, str]]:
    """``(name, module, summary)`` for every public function of the core modules."""
    rows = []
    for mod_name in CORE_MODULES:
        module = importlib.import_module(f"infotorch.{mod_name}")
        for name in module.__all__:
            rows.append((name, mod_name, _summary(getattr(module, name))))
    return rows


def _print_table(rows: Sequence[Sequence[str]], header: Sequence[str], out: TextIO) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    print(line.rstrip(), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip(), file=out)


def _cmd_info(args: argparse.Namespace, out: TextIO) -> int:
    print(f"infotorch {__version__} (torch {torch.__version__})", file=out)
    print(f"devices: {', '.join(devices())}", file=out)
    print("", file=out)
    _print_table(measure_table(), ("measure", "module", "what it computes"), out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="infotorch",
        description="Information-theoretic measures for PyTorch models and saved embeddings.",
    )
    parser.add_argument("--version", action="version", version=f"infotorch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    info = sub.add_parser("info", help="print the version, the devices seen and the measures")
    info.set_defaults(func=_cmd_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``infotorch`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args, sys.stdout))
    except (ValueError, TypeError, OSError) as exc:
        print(f"infotorch {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
