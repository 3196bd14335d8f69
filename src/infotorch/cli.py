"""The ``infotorch`` command. No math of its own: it parses, calls the library, prints.

Errors from the library (``ValueError``/``TypeError``) become one line on stderr and exit
code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import json
import math
import os
import re
import sys
import warnings
import zipfile
from collections.abc import Sequence
from typing import Any, NoReturn, TextIO

import numpy as np
import torch

from . import CORE_MODULES, __version__
from ._progress import Progress

__all__ = ["build_parser", "devices", "load_array", "main", "measure_table"]


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
    (r"\mathrm{mean}", "mean"),
    (r"\sigma", "σ"),
    (r"\mu", "μ"),
    (r"\tau", "τ"),
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
    plain = re.sub(r":math:`([^`]*)`", lambda m: _plain_math(m.group(1)), first)
    # math the plain-text map cannot render is dropped rather than shown as LaTeX
    first = plain if "\\" not in plain else re.sub(r"\s*:math:`[^`]*`", "", first)
    first = first.split(". ", 1)[0].rstrip(".") + "."
    first = re.sub(r":(?:func|class|mod):`~?([^`]*)`", r"\1", first)
    first = re.sub(r"\s*\[\d+\]_", "", first)
    return re.sub(r"\s+", " ", first.replace("``", "")).strip()


def measure_table() -> list[tuple[str, str, str]]:
    """``(name, module, summary)`` for every public function of the core modules."""
    rows = []
    for mod_name in CORE_MODULES:
        module = importlib.import_module(f"infotorch.{mod_name}")
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isfunction(obj):  # measures, not types
                rows.append((name, mod_name, _summary(obj)))
    return rows


def _print_table(rows: Sequence[Sequence[str]], header: Sequence[str], out: TextIO) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    print(line.rstrip(), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip(), file=out)


def _finite_or_none(value: Any, path: str, bad: list[str]) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        bad.append(f"{path}={value}")
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v, f"{path}.{k}" if path else str(k), bad) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(v, f"{path}[{i}]", bad) for i, v in enumerate(value)]
    return value


def strict_json(report: dict[str, Any]) -> str:
    """One JSON document that a strict parser accepts: values that are not finite become ``null``,
    named under ``"not_finite"`` with their value (``inf``, ``nan``)."""
    bad: list[str] = []
    clean = _finite_or_none(dict(report), "", bad)
    if bad:
        clean["not_finite"] = bad
    return json.dumps(clean, allow_nan=False)


def _cmd_info(args: argparse.Namespace, out: TextIO) -> int:
    print(f"infotorch {__version__} (torch {torch.__version__})", file=out)
    print(f"devices: {', '.join(devices())}", file=out)
    print("", file=out)
    _print_table(measure_table(), ("measure", "module", "what it computes"), out)
    return 0


# ---------------------------------------------------------------------- loading


def load_array(spec: str, name: str) -> np.ndarray:
    """Load ``FILE`` or ``FILE:KEY`` from .npy, .npz, .pt (``weights_only=True``) or .csv; never unpickles."""
    path, key = spec, None
    if not os.path.exists(spec) and ":" in spec:
        path, key = spec.rsplit(":", 1)
    if not os.path.exists(path):
        raise ValueError(f"{name}: no such file {path!r}")
    ext = os.path.splitext(path)[1].lower()
    kind = _sniff(path)
    if ext in (".npy", ".npz") and kind is not None and kind != ext:
        raise ValueError(f"{name}: {path!r} is a {kind} file named {ext}; rename it or pass the right file")
    if ext == ".npy":
        _check_npy_header(path, name)
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, EOFError, OSError) as exc:
            raise ValueError(f"{name}: {path!r} is not a plain numeric .npy array ({exc})") from None
    elif ext == ".npz":
        try:
            with np.load(path, allow_pickle=False) as data:
                names = list(data.files)
                if key is None:
                    if len(names) != 1:
                        raise ValueError(f"{name}: {path!r} holds arrays {names}; choose one as {path}:NAME")
                    key = names[0]
                if key not in names:
                    raise ValueError(f"{name}: {path!r} has no array {key!r}; it holds {names}")
                arr = data[key]
        except ValueError as exc:
            if str(exc).startswith(name):
                raise
            raise ValueError(f"{name}: {path!r} could not be read without unpickling ({exc})") from None
        except (EOFError, OSError, zipfile.BadZipFile, KeyError) as exc:
            raise ValueError(f"{name}: {path!r} is not a readable .npz archive ({type(exc).__name__}: {exc})") from None
    elif ext in (".pt", ".pth"):
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # weights_only refuses anything but tensors and plain containers
            raise ValueError(f"{name}: {path!r} is not a tensor file loadable with weights_only=True ({exc})") from None
        if isinstance(obj, dict):
            if key is None:
                if len(obj) != 1:
                    raise ValueError(f"{name}: {path!r} holds {sorted(obj)}; choose one as {path}:KEY")
                key = next(iter(obj))
            if key not in obj:
                raise ValueError(f"{name}: {path!r} has no entry {key!r}; it holds {sorted(obj)}")
            obj = obj[key]
        if not isinstance(obj, torch.Tensor):
            raise ValueError(f"{name}: {path!r} must hold a tensor, got {type(obj).__name__}")
        arr = obj.detach().cpu().numpy()
    elif ext == ".csv":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy warns on an empty file; the check below says it in one line
            try:
                arr = np.loadtxt(path, delimiter=",", ndmin=2)
            except ValueError as first:
                if not _csv_header(path):  # a bad cell or a ragged row: never dropped silently
                    raise ValueError(f"{name}: {path!r} is not a numeric CSV table ({first})") from None
                try:
                    arr = np.loadtxt(path, delimiter=",", ndmin=2, skiprows=1)
                except ValueError as exc:
                    raise ValueError(f"{name}: {path!r} is not a numeric CSV table ({exc})") from None
        if arr.size == 0:
            raise ValueError(f"{name}: {path!r} holds no numbers")
    else:
        raise ValueError(f"{name}: unsupported file type {ext or '(none)'!r}; use .npy, .npz, .pt or .csv")
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name}: {path!r} must hold numbers, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise ValueError(f"{name}: {path!r} holds complex numbers ({arr.dtype}); give real values")
    if arr.size == 0:
        raise ValueError(f"{name}: {path!r} holds an empty array of shape {arr.shape}")
    return np.asarray(arr)


def _csv_header(path: str) -> bool:
    """Whether the first line of a CSV file is a header: no field of it reads as a number."""
    with open(path, encoding="utf-8", errors="replace") as f:
        first = f.readline()
    fields = [c.strip() for c in first.strip().split(",")]
    if not any(fields):
        return False
    for c in fields:
        try:
            float(c)
        except ValueError:
            continue
        return False
    return True


def _sniff(path: str) -> str | None:
    """``".npy"`` or ``".npz"`` by the file's magic bytes (None for anything else)."""
    with open(path, "rb") as f:
        head = f.read(6)
    if head == b"\x93NUMPY":
        return ".npy"
    if head[:4] == b"PK\x03\x04":
        return ".npz"
    return None


def _check_npy_header(path: str, name: str) -> None:
    """Refuse a ``.npy`` whose header declares more data than the file holds, before allocating it."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _fortran, dtype = reader(f)
            offset = f.tell()
    except (ValueError, EOFError, OSError) as exc:
        raise ValueError(f"{name}: {path!r} is not a readable .npy array ({exc})") from None
    declared = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize if shape else dtype.itemsize
    available = os.path.getsize(path) - offset
    if declared > available:
        raise ValueError(
            f"{name}: {path!r} declares shape {shape} of {dtype} ({declared} bytes) but holds {available} bytes: "
            "truncated or corrupt"
        )


def _as_matrix(arr: np.ndarray, name: str) -> np.ndarray:
    if arr.ndim < 2:
        raise ValueError(f"{name} must be (N, D) with one row per sample, got shape {arr.shape}")
    return arr.reshape(arr.shape[0], -1)


def _as_labels(arr: np.ndarray, n: int) -> np.ndarray:
    flat = arr.reshape(-1) if (arr.ndim == 1 or (arr.ndim == 2 and 1 in arr.shape)) else None
    if flat is None:
        raise ValueError(f"labels must be one class label per sample, got shape {arr.shape}; use --inputs for vectors")
    if flat.shape[0] != n:
        raise ValueError(f"labels must hold one label per embedding: {flat.shape[0]} labels for {n} embeddings")
    if np.issubdtype(flat.dtype, np.floating):
        if not np.all(np.isfinite(flat)) or not np.all(flat == np.round(flat)):
            raise ValueError("labels must be integer class labels; for continuous references use --inputs")
    return flat.astype(np.int64)


def _measure_names() -> list[str]:
    from .measures import available_measures

    return list(available_measures())


def _sigma_arg(text: str) -> float | str:
    if text.strip().lower() == "median":
        return "median"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'median' or a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected 'median' or a positive finite number, got {text!r}")
    return value


def _cmd_measure(args: argparse.Namespace, out: TextIO) -> int:
    import time

    from .measures import MeasureContext, get_measure, resolve_measure_names

    t0 = time.perf_counter()
    z = _as_matrix(load_array(args.embeddings, "embeddings"), "embeddings")
    labels = _as_labels(load_array(args.labels, "labels"), z.shape[0]) if args.labels else None
    inputs = _as_matrix(load_array(args.inputs, "inputs"), "inputs") if args.inputs else None
    if inputs is not None and inputs.shape[0] != z.shape[0]:
        raise ValueError(f"inputs must hold one row per embedding: {inputs.shape[0]} rows for {z.shape[0]} embeddings")
    if args.measure:
        try:
            wanted = list(resolve_measure_names(m.strip() for m in args.measure.split(",") if m.strip()))
        except ValueError as exc:
            raise ValueError(f"--measure: {exc}") from None
        if not wanted:
            raise ValueError(
                f"--measure names no measure (got {args.measure!r}); choose from {', '.join(_measure_names())}"
            )
    else:
        wanted = ["dse"] + (["dsmi_zy"] if labels is not None else []) + (["dsmi_zx"] if inputs is not None else [])
    for m in wanted:
        for need in get_measure(m).needs:
            if (labels if need == "labels" else inputs) is None:
                raise ValueError(f"--measure {m} needs --{need} FILE")
    if "noisy_mi_zx" in wanted and args.noise_std is None:
        raise ValueError("--measure noisy_mi_zx needs --noise-std S, the std of the layer's Gaussian noise")
    if args.noise_std is not None and not (math.isfinite(args.noise_std) and args.noise_std > 0):
        raise ValueError(f"--noise-std must be a positive finite number, got {args.noise_std}")
    if args.max_n < 2:
        raise ValueError(f"--max-n must be at least 2, got {args.max_n}")
    if not (math.isfinite(args.t) and args.t >= 0):
        raise ValueError(f"--t must be a finite number >= 0, got {args.t}")
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: CUDA is not available on this machine; use --device cpu")
    dtype = torch.float32 if args.dtype == "float32" else torch.float64
    zt = torch.as_tensor(np.ascontiguousarray(z), dtype=dtype, device=device)
    ctx = MeasureContext(
        zt,
        labels=None if labels is None else torch.as_tensor(labels),
        inputs=None if inputs is None else torch.as_tensor(np.ascontiguousarray(inputs), dtype=torch.float64),
        sigma=args.sigma,
        t=args.t,
        n_clusters=args.clusters,
        seed=args.seed,
        max_n=args.max_n,
        noise_std=args.noise_std,
    )
    results: dict[str, float] = {}
    progress = Progress(len(wanted), description="measuring")
    try:
        for m in wanted:  # one context: the kernel is built once for all the spectral measures
            progress.update(f"measuring {m}")
            results[m] = get_measure(m).compute(ctx)
            progress.advance()
    finally:
        progress.close()
    sigma_used = ctx.cache["kernel"].sigma if "kernel" in ctx.cache else args.sigma
    report = {
        "embeddings": args.embeddings,
        "n": int(z.shape[0]),
        "d": int(z.shape[1]),
        "sigma": sigma_used,
        "t": args.t,
        "device": str(device),
        "dtype": args.dtype,
        "unit": "bits",
        "measures": results,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    if args.json:
        print(strict_json(report), file=out)
        return 0
    rows = [(m, get_measure(m).label, repr(v)) for m, v in results.items()]
    header = ("measure", "what", "value (bits)")
    if out.isatty():
        try:
            from rich.console import Console
            from rich.table import Table

            table = Table(title=f"{args.embeddings}: N={z.shape[0]}, D={z.shape[1]}, sigma={sigma_used}, t={args.t}")
            for h in header:
                table.add_column(h)
            for r in rows:
                table.add_row(*r)
            Console(file=out).print(table)
            return 0
        except ImportError:
            pass
    print(
        f"{args.embeddings}: N={z.shape[0]}, D={z.shape[1]}, sigma={sigma_used}, t={args.t}, device={device}", file=out
    )
    _print_table(rows, header, out)
    return 0


def _cmd_report(args: argparse.Namespace, out: TextIO) -> int:
    from .report import write_report

    if not os.path.exists(args.records):
        raise ValueError(f"records: no such file {args.records!r}")
    path = write_report(args.records, args.out, x_key=args.x, y_key=args.y, title=args.title or args.records)
    print(path, file=out)
    return 0


def _cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    from .demo import run_demo

    summary = run_demo(args.epochs, args.out, seed=args.seed, shuffled=not args.no_shuffled, stream=out)
    for run, info in summary["runs"].items():
        print(
            f"{run}: test accuracy {info['final_test_accuracy']:.3f}, DSMI(Z;Y) of the last hidden layer "
            f"{info['dsmi_zy_first']:.3f} -> {info['dsmi_zy_last']:.3f} bits",
            file=out,
        )
    return 0


def _cmd_lab(args: argparse.Namespace, out: TextIO) -> int:
    from .labs import run_line, run_sphere

    if args.lab == "sphere":
        report = run_sphere(
            args.n, args.dim, alpha=args.alpha, sigma=args.sigma, starts=args.starts, seed=args.seed, out_dir=args.out
        )
        rows = [
            (k, repr(report[k])) for k in ("n", "energy", "reference", "gap", "relative_gap", "entropy", "evaluations")
        ]
    else:
        extra: dict[str, Any] = {
            "window": args.window,
            "interpolation": args.interpolation,
            "epsilon": args.epsilon,
            "optimizer": args.optimizer,
            "temperature": args.temperature,
            "k": args.k,
        }
        if args.step_size is not None:
            extra["step_size"] = args.step_size
        report = run_line(
            args.n,
            args.steps,
            potential=args.potential,
            maximize=not args.minimize,
            seed=args.seed,
            out_dir=args.out,
            **extra,
        )
        rows = [
            (k, repr(report[k]))
            for k in (
                "n",
                "steps",
                "potential",
                "entropy_start",
                "entropy_end",
                "min_gap",
                "max_gap",
                "gap_ratio",
                "epsilon",
                "interpolation",
            )
        ]
        if "note" in report:
            rows.append(("note", report["note"]))
    if args.json:
        print(strict_json(report), file=out)
    else:
        _print_table(rows, ("quantity", "value"), out)
        print(f"wrote {report['html']} and {report['png']}", file=out)
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse with its errors in one line on stderr (exit 2), like every other error of the CLI."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message.splitlines()[0] if message else 'invalid arguments'}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="infotorch",
        description="Information-theoretic measures for PyTorch models and saved embeddings.",
    )
    parser.add_argument("--version", action="version", version=f"infotorch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    info = sub.add_parser("info", help="print the version, the devices seen and the measures")
    info.set_defaults(func=_cmd_info)

    m = sub.add_parser(
        "measure",
        help="measure saved embeddings (DSE, DSMI, ...)",
        description="Measure saved embeddings: .npy, .npz (FILE:NAME), .pt (tensor, loaded with weights_only=True) "
        "or .csv. Defaults: DSE, plus DSMI(Z;Y) with --labels and DSMI(Z;X) with --inputs. All values in bits.",
    )
    m.add_argument("embeddings", help="(N, D) embeddings file (FILE or FILE:KEY)")
    m.add_argument("--labels", help="class labels, one per embedding (FILE or FILE:KEY)")
    m.add_argument("--inputs", help="inputs, one row per embedding, for DSMI(Z;X) (FILE or FILE:KEY)")
    m.add_argument("--measure", help=f"comma-separated, from: {', '.join(_measure_names())}")
    m.add_argument("--t", type=float, default=1, help="diffusion time (default 1)")
    m.add_argument(
        "--sigma",
        type=_sigma_arg,
        default=10.0,
        help="Gaussian kernel bandwidth, a number or 'median' (default 10, as dse-dsmi)",
    )
    m.add_argument("--max-n", type=int, default=10000, help="subsample above this many points (default 10000)")
    m.add_argument("--clusters", type=int, default=10, help="clusters of the inputs for DSMI(Z;X) (default 10)")
    m.add_argument("--seed", type=int, default=0, help="random seed of subsampling (default 0)")
    m.add_argument(
        "--noise-std",
        type=float,
        default=None,
        help="std of the additive Gaussian noise of a noisy layer, for --measure noisy_mi_zx",
    )
    m.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    m.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:1, ...")
    m.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    m.set_defaults(func=_cmd_measure)

    d = sub.add_parser(
        "demo",
        help="train a small MLP on digits and watch its information dynamics",
        description="Train an MLP on scikit-learn's bundled digits (no download) with an InformationMonitor on its "
        "hidden layers, once on the true labels and once on shuffled labels; write metrics.csv, dynamics.png "
        "and information_plane.png to --out.",
    )
    d.add_argument("--epochs", type=int, default=30)
    d.add_argument("--out", default="infotorch-demo", help="output folder (default ./infotorch-demo)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--no-shuffled", action="store_true", help="skip the shuffled-label run")
    d.set_defaults(func=_cmd_demo)

    rep = sub.add_parser("report", help="a self-contained interactive HTML page of a monitor run's records")
    rep.add_argument("records", help="metrics.csv or .json written by the monitor or the demo")
    rep.add_argument("--out", default="report.html", help="the page to write (default report.html)")
    rep.add_argument("--x", default="dsmi_zx", help="the information plane's x measure (default dsmi_zx)")
    rep.add_argument("--y", default="dsmi_zy", help="the information plane's y measure (default dsmi_zy)")
    rep.add_argument("--title", default=None, help="the page title (default: the records file)")
    rep.set_defaults(func=_cmd_report)

    lab = sub.add_parser("lab", help="the two entropy labs (line, sphere): interactive HTML pages and PNGs")
    labs = lab.add_subparsers(dest="lab", metavar="LAB", required=True)
    line = labs.add_parser("line", help="points on a line under gradient flow of the interpolated entropy")
    line.add_argument("--n", type=int, default=24, help="number of points (default 24)")
    line.add_argument("--steps", type=int, default=2000, help="gradient steps (default 2000)")
    line.add_argument(
        "--potential",
        default="box",
        choices=("none", "box", "quadratic", "double_well"),
        help="external potential: box [0, 1] (default), none, quadratic k x^2/2, double_well",
    )
    line.add_argument("--minimize", action="store_true", help="minimize the entropy instead of maximizing it")
    line.add_argument("--window", type=int, default=1, help="m of the one-sided m-spacings (default 1)")
    line.add_argument(
        "--interpolation",
        choices=("linear", "step"),
        default="linear",
        help="density between the points: linear (the original; flat along alternating gaps) or step "
        "(constant per gap; reaches the uniform lattice)",
    )
    line.add_argument("--epsilon", type=float, default=1e-6, help="regularizer of the inverse gaps (default 1e-6)")
    line.add_argument(
        "--optimizer",
        choices=("gap", "adam", "sgd"),
        default="gap",
        help="gap: the stable step step_size*d_min^2 (default); adam/sgd: step_size is the learning rate",
    )
    line.add_argument("--step-size", type=float, default=None, help="default 1.8 for gap")
    line.add_argument(
        "--temperature", type=float, default=1.0, help="the layer's temperature tau (it cancels; kept to show it)"
    )
    line.add_argument("--k", type=float, default=1.0, help="strength of the quadratic / double-well potential")
    sphere = labs.add_parser("sphere", help="unit vectors maximizing a Gram entropy: the Thomson problem")
    sphere.add_argument("--n", type=int, default=12, help="number of unit vectors (default 12)")
    sphere.add_argument("--dim", type=int, default=3, help="ambient dimension, at least 2 (default 3)")
    sphere.add_argument("--alpha", type=float, default=2.0, help="order of the matrix Renyi entropy (default 2)")
    sphere.add_argument("--sigma", type=float, default=1.0, help="bandwidth of the Gaussian kernel (default 1)")
    sphere.add_argument("--starts", type=int, default=4, help="random starts of L-BFGS; the best is kept (default 4)")
    for p in (line, sphere):
        p.add_argument("--seed", type=int, default=0, help="random seed of the initial configuration (default 0)")
        p.add_argument("--out", default="infotorch-lab", help="output folder (default ./infotorch-lab)")
        p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
        p.set_defaults(func=_cmd_lab)
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
    except BrokenPipeError:  # stdout closed early (``| head -c 1``): not an error of ours
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (
        ValueError,
        TypeError,
        OSError,
        ImportError,
        KeyError,
        RuntimeError,
        OverflowError,
        ZeroDivisionError,
    ) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"infotorch {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"infotorch {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
