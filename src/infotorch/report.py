"""A self-contained interactive HTML report of a monitor run: the records as a table, the
dynamics of every measure per layer, and the information plane, in one file (Plotly embedded,
opens offline). ``infotorch report metrics.csv [--out report.html]`` on the command line.

Needs ``pip install 'infotorch[labs]'`` (plotly).
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from .monitor import measure_axis_label, read_records

__all__ = ["write_report"]

_SKIP = {"epoch", "layer", "run", "sigma"}


def _numeric_columns(records: Sequence[Mapping[str, Any]]) -> list[str]:
    cols: list[str] = []
    for r in records:
        for k, val in r.items():
            if k in _SKIP or k in cols:
                continue
            if isinstance(val, (int, float)) and not isinstance(val, bool):
                cols.append(k)
    return cols


def write_report(
    records: Sequence[Mapping[str, Any]] | str | os.PathLike[str],
    path: str | os.PathLike[str] = "report.html",
    *,
    x_key: str = "dsmi_zx",
    y_key: str = "dsmi_zy",
    title: str = "infotorch run",
) -> str:
    """Write the report of ``records`` (a list of dicts, or a ``.csv``/``.json`` written by
    :func:`infotorch.monitor.write_records`) to ``path``; returns the path. The information plane
    plots ``x_key`` against ``y_key`` when both were recorded."""
    try:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("the report needs plotly: pip install 'infotorch[labs]'") from None
    if isinstance(records, (str, os.PathLike)):
        records = read_records(records)
    if not all(isinstance(r, Mapping) for r in records):
        raise ValueError("records must be a list of records (mappings of column to value)")
    rows = [dict(r) for r in records]
    if not rows:
        raise ValueError("records must hold at least one record")
    for i, r in enumerate(rows):
        for k, val in r.items():
            if k in _SKIP or val in (None, "") or isinstance(val, (int, float)):
                continue
            if any(isinstance(o.get(k), (int, float)) and not isinstance(o.get(k), bool) for o in rows):
                raise ValueError(f"column {k!r} of record {i} holds {val!r}, not a number")
    if any("layer" not in r for r in rows):
        raise ValueError("every record must name its layer (a 'layer' column)")
    cols = _numeric_columns(rows)
    plane = any(r.get(x_key) not in (None, "") and r.get(y_key) not in (None, "") for r in rows)
    panels = cols + (["__plane__"] if plane else [])
    if not panels:
        raise ValueError("the records hold no numeric measure to plot")
    ncols = 2
    nrows = math.ceil(len(panels) / ncols)
    titles = [
        measure_axis_label(c)
        if c != "__plane__"
        else f"information plane: {measure_axis_label(x_key)} vs {measure_axis_label(y_key)}"
        for c in panels
    ]
    fig = make_subplots(rows=nrows, cols=ncols, subplot_titles=titles, vertical_spacing=min(0.12, 0.6 / max(nrows, 1)))
    series: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        series.setdefault((str(r.get("run", "")), str(r["layer"])), []).append(r)
    x_of: dict[int, Any] = {}  # records without an epoch: placed by their order in the series
    for items in series.values():
        for j, it in enumerate(items):
            x_of[id(it)] = it["epoch"] if it.get("epoch") not in (None, "") else j
    for i, col in enumerate(panels):
        rr, cc = i // ncols + 1, i % ncols + 1
        for (run, layer), items in series.items():
            name = f"{layer} ({run})" if run else layer
            if col == "__plane__":
                pts = [
                    (float(it[x_key]), float(it[y_key]), x_of[id(it)])
                    for it in items
                    if it.get(x_key) not in (None, "") and it.get(y_key) not in (None, "")
                ]
                if pts:
                    fig.add_trace(
                        go.Scatter(
                            x=[p[0] for p in pts],
                            y=[p[1] for p in pts],
                            mode="lines+markers",
                            name=name,
                            text=[f"epoch {p[2]}" for p in pts],
                            legendgroup=name,
                            showlegend=False,
                        ),
                        row=rr,
                        col=cc,
                    )
                continue
            pts2 = [(x_of[id(it)], it.get(col)) for it in items if it.get(col) not in (None, "")]
            if pts2:
                fig.add_trace(
                    go.Scatter(
                        x=[p[0] for p in pts2],
                        y=[float(p[1]) for p in pts2 if p[1] is not None],
                        mode="lines+markers",
                        name=name,
                        legendgroup=name,
                        showlegend=i == 0,
                    ),
                    row=rr,
                    col=cc,
                )
    fig.update_layout(title=title, height=320 * nrows, template="plotly_white")
    header = sorted({k for r in rows for k in r}, key=lambda k: (k not in ("epoch", "layer", "run"), k))
    table = "<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"
    for r in rows:
        table += "<tr>" + "".join(f"<td>{html.escape(str(r.get(h, '')))}</td>" for h in header) + "</tr>"
    table += "</table>"
    body = fig.to_html(include_plotlyjs=True, full_html=False)
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse;font-size:12px}"
        "td,th{border:1px solid #ccc;padding:2px 6px}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{body}<h2>Records</h2>{table}</body></html>"
    )
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)
    return path
