"""The package's contracts: exports exist, layering (DESIGN.md), import cost, the CLI."""

from __future__ import annotations

import ast
import importlib
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import pytest

import infotorch
from infotorch import cli

SRC = pathlib.Path(infotorch.__file__).parent
CORE = [
    "_validation",
    "_numerics",
    "_samples",
    "counts",
    "knn",
    "_neighbors",
    "variational",
    "measures",
    "discrete",
    "gaussian",
    "noise",
    "losses",
    "interpolated",
    "interpolated_curvature",
    "penalties",
    "spectral",
]
UPPER = {"nn", "metrics", "monitor", "compat", "labs", "cli"}


def test_every_exported_name_exists():
    for name in infotorch.__all__:
        assert hasattr(infotorch, name), name
    for mod in infotorch.CORE_MODULES:
        module = importlib.import_module(f"infotorch.{mod}")
        for name in module.__all__:
            assert getattr(infotorch, name) is getattr(module, name), f"{mod}.{name} not re-exported"
    import infotorch.nn as inn

    for name in inn.__all__:
        assert hasattr(inn, name)


def _imports(path: pathlib.Path) -> set[str]:
    """Every infotorch submodule a file imports, anywhere in it (lazy imports included)."""
    found: set[str] = set()
    package = path.relative_to(SRC.parent).parent.parts  # e.g. ("infotorch", "nn")
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - (node.level - 1)])
                parts = base + (node.module.split(".") if node.module else [])
                names = [[*parts, a.name] for a in node.names]
            elif node.module and node.module.startswith("infotorch"):
                names = [[*node.module.split("."), a.name] for a in node.names]
            else:
                continue
            for n in names:
                if len(n) > 1:
                    found.add(n[1])
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("infotorch."):
                    found.add(a.name.split(".")[1])
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module":
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.add(
                        arg.value.lstrip(".").split(".")[-1] if arg.value.startswith(".") else arg.value.split(".")[-1]
                    )
    return found


def test_core_never_imports_upper_layers():
    for name in CORE:
        for path in [SRC / f"{name}.py", *sorted((SRC / name).glob("**/*.py"))]:
            if path.exists():
                bad = _imports(path) & UPPER
                assert not bad, f"{path.name} imports {bad}"
    for path in sorted((SRC / "nn").glob("**/*.py")):
        bad = _imports(path) & {"metrics", "monitor", "labs", "cli"}
        assert not bad, f"nn/{path.name} imports {bad}"
    for path in sorted((SRC / "metrics").glob("**/*.py")):
        bad = _imports(path) & {"monitor", "labs", "cli", "demo", "callbacks"}
        assert not bad, f"metrics/{path.name} imports {bad}"


def _private_spectral_imports(path: pathlib.Path) -> set[str]:
    """Names a module imports from infotorch.spectral that are private (a leading underscore in
    the module path or the imported name)."""
    bad: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            parts = node.module.split(".")
            rel = node.level > 0
            if "spectral" not in parts or (not rel and parts[0] != "infotorch"):
                continue
            after = parts[parts.index("spectral") + 1 :]
            for alias in node.names:
                if any(p.startswith("_") for p in after) or alias.name.startswith("_"):
                    bad.add(f"{node.module}.{alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if "spectral" in parts and any(p.startswith("_") for p in parts[parts.index("spectral") + 1 :]):
                    bad.add(alias.name)
    return bad


def test_nothing_outside_spectral_imports_its_private_names(tmp_path):
    for path in sorted(SRC.glob("**/*.py")):
        if "spectral" in path.relative_to(SRC).parts:
            continue
        bad = _private_spectral_imports(path)
        assert not bad, f"{path.relative_to(SRC)} imports private spectral names {sorted(bad)}"
    # the check itself catches what it should
    probe = tmp_path / "probe.py"
    probe.write_text("from .spectral._common import spectrum_entropy\nfrom .spectral.kernel import _lanczos_entropy\n")
    assert len(_private_spectral_imports(probe)) == 2


def test_import_loads_only_torch_and_numpy():
    code = (
        "import sys, infotorch; "
        "heavy = [m for m in ('scipy', 'matplotlib', 'sklearn', 'rich', 'torchmetrics', "
        "'plotly', 'torch._dynamo', 'triton', 'infotorch.cli', 'infotorch.metrics') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_lazy_attributes():
    assert infotorch.cli is cli
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        infotorch.nonexistent  # noqa: B018
    # each lazy layer is absent after `import infotorch` and loaded by the first attribute access
    code = (
        "import sys, infotorch; "
        "before = [m for m in ('infotorch.labs', 'infotorch.metrics', 'infotorch.monitor') if m in sys.modules]; "
        "mods = [infotorch.labs, infotorch.metrics, infotorch.monitor]; "
        "after = [m for m in ('infotorch.labs', 'infotorch.metrics', 'infotorch.monitor') if m in sys.modules]; "
        "print(before, after, [m.__name__ for m in mods], 'labs' in sys.modules['infotorch'].__dict__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [
        "[]",
        "['infotorch.labs',",
        "'infotorch.metrics',",
        "'infotorch.monitor']",
        "['infotorch.labs',",
        "'infotorch.metrics',",
        "'infotorch.monitor']",
        "True",
    ]


def test_cli_version_and_help(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"infotorch {infotorch.__version__}"
    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    assert e.value.code == 0 and "info" in capsys.readouterr().out


def test_cli_info_lists_every_measure(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert infotorch.__version__ in out and "cpu" in out
    for name, _, summary in cli.measure_table():
        assert name in out and summary
    assert "entropy" in out and "kl_divergence" in out and "\\" not in out  # no raw LaTeX


def test_cli_without_command_exits_2(capsys):
    assert cli.main([]) == 2
    assert "usage" in capsys.readouterr().err


def test_console_script_runs():
    exe = pathlib.Path(sys.executable).parent / "infotorch"
    if not exe.exists():
        pytest.skip("console script not installed in this environment")
    out = subprocess.run([str(exe), "info"], capture_output=True, text=True, check=True)
    assert "kl_divergence" in out.stdout
    bad = subprocess.run([str(exe), "frobnicate"], capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    json.dumps(cli.measure_table())  # the table is plain data


@pytest.mark.parametrize("delay", [0.05, 0.4, 1.0, 1.2])
def test_console_script_ctrl_c_during_import_is_one_line(delay):
    # A Ctrl-C while the console script is still importing torch (the first second or so)
    # ends with one line on stderr and exit 130, never a traceback from inside ``import torch``.
    exe = pathlib.Path(sys.executable).parent / "infotorch"
    if not exe.exists():
        pytest.skip("console script not installed in this environment")
    if os.name != "posix":
        pytest.skip("SIGINT delivery to a child process is POSIX-only")
    proc = subprocess.Popen([str(exe), "info"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err
    if delay < 0.1:  # torch is still being imported: the one-line path must have run
        assert proc.returncode == 130, (proc.returncode, err)
    if proc.returncode in (0, -signal.SIGINT):
        # it finished before the signal came, or the signal came during the interpreter's
        # shutdown (which restores the default action: the process ends by the signal, silently)
        assert err.strip() == ""
        return
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith(": interrupted"), err


def test_console_script_is_the_launcher_outside_the_package():
    # the launcher must not import infotorch (and so torch) before its try block
    import infotorch_cli

    source = pathlib.Path(infotorch_cli.__file__).read_text()
    head = source.split("def main", 1)[0]
    assert "import infotorch" not in head and "from infotorch" not in head
    assert "KeyboardInterrupt" in source


def test_docs_cite_only_what_users_can_read():
    # internal notes ("the spec", "the seed", ERRATA, ...) are not something a user can look up
    banned = re.compile(
        r"\bthe spec\b|spec's|\bthe seed\b|seed's|\bERRATA\b|reference notes|the document\b|original system",
        re.IGNORECASE,
    )
    files = [
        *sorted(SRC.glob("**/*.py")),
        SRC.parent.parent / "README.md",
        *sorted((SRC.parent.parent / "docs").glob("*.md")),
    ]
    hits = [
        f"{path.name}:{i}: {line.strip()}"
        for path in files
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if banned.search(line)
    ]
    assert not hits, hits
