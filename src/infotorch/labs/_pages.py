"""Self-contained interactive pages (Plotly, its JavaScript embedded: they open offline) and PNGs
(matplotlib) for the two labs."""

from __future__ import annotations

import os
from typing import Any

import torch

from .._plotting import pyplot
from ..interpolated import interpolated_density


def _plotly() -> Any:
    try:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("the lab pages need plotly: pip install 'infotorch[labs]'") from None
    return go, make_subplots


def _frames(n_frames: int, total: int) -> list[int]:
    if total <= n_frames:
        return list(range(total))
    step = (total - 1) / (n_frames - 1)
    return sorted({round(i * step) for i in range(n_frames)})


def _controls(go: Any, labels: list[str]) -> tuple[list[Any], list[Any]]:
    play = dict(
        type="buttons",
        showactive=False,
        x=0.0,
        y=-0.12,
        xanchor="left",
        buttons=[
            dict(
                label="Play",
                method="animate",
                args=[None, {"frame": {"duration": 60, "redraw": True}, "fromcurrent": True}],
            ),
            dict(label="Pause", method="animate", args=[[None], {"frame": {"duration": 0}, "mode": "immediate"}]),
        ],
    )
    slider = dict(
        active=0,
        x=0.12,
        y=-0.12,
        len=0.88,
        currentvalue={"prefix": "step "},
        steps=[
            dict(
                label=lab,
                method="animate",
                args=[[lab], {"frame": {"duration": 0, "redraw": True}, "mode": "immediate"}],
            )
            for lab in labels
        ],
    )
    return [play], [slider]


def _write_page(fig: Any, buttons: list[Any], sliders: list[Any], height: int, out_dir: str, name: str) -> str:
    """Finish the layout (controls, size, theme) and write a self-contained page (Plotly embedded)."""
    fig.update_layout(updatemenus=buttons, sliders=sliders, height=height, template="plotly_white")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, name)
    fig.write_html(path, include_plotlyjs=True, full_html=True)
    return path


def _density(points: torch.Tensor, epsilon: float, interpolation: str = "linear") -> tuple[list[float], list[float]]:
    if interpolation == "step":  # constant on each gap, 1/(gap + eps) normalized
        s = torch.sort(points).values
        gap = s[1:] - s[:-1]
        w = 1.0 / (gap + epsilon)
        p = w / (gap * w).sum()
        xs = torch.stack([s[:-1], s[1:]], -1).reshape(-1)
        return xs.tolist(), p.repeat_interleave(2).tolist()
    _, p, s = interpolated_density(points.unsqueeze(0), epsilon)
    order = torch.argsort(points)
    return s[0].tolist(), p[0][order].tolist()


def line_page(res: dict[str, Any], report: dict[str, Any], out_dir: str, *, epsilon: float) -> str:
    go, make_subplots = _plotly()
    traj, curve = res["trajectory"], res["entropy_curve"]
    idx = _frames(80, traj.shape[0])
    fig = make_subplots(
        rows=2,
        cols=1,
        row_heights=[0.65, 0.35],
        vertical_spacing=0.12,
        subplot_titles=("points and the interpolated density p(x)", "entropy H (nats)"),
    )

    def traces(i: int) -> list[Any]:
        xs, ps = _density(traj[i], epsilon, res.get("interpolation", "linear"))
        return [
            go.Scatter(x=xs, y=ps, mode="lines", name="p(x)", hovertemplate="x=%{x:.4f}<br>p=%{y:.4f}"),
            go.Scatter(
                x=traj[i].tolist(),
                y=[0.0] * traj.shape[1],
                mode="markers",
                name="points",
                marker={"size": 9},
                hovertemplate="x=%{x:.5f}",
            ),
        ]

    for t in traces(idx[0]):
        fig.add_trace(t, row=1, col=1)
    fig.add_trace(go.Scatter(x=list(range(len(curve))), y=curve, mode="lines", name="H"), row=2, col=1)
    fig.add_trace(
        go.Scatter(x=[idx[0]], y=[curve[idx[0]]], mode="markers", name="now", marker={"size": 10}), row=2, col=1
    )
    labels = [str(i) for i in idx]
    fig.frames = [
        go.Frame(data=[*traces(i), go.Scatter(x=[i], y=[curve[i]])], traces=[0, 1, 3], name=str(i)) for i in idx
    ]
    buttons, sliders = _controls(go, labels)
    fig.update_layout(
        title=f"Lab 1: {report['n']} points, potential {report['potential']}, "
        f"{'maximizing' if report['maximize'] else 'minimizing'} H ({res.get('interpolation', 'linear')} density)"
        + (f"<br><sup>{report['note']}</sup>" if "note" in report else ""),
    )
    return _write_page(fig, buttons, sliders, 720, out_dir, "line.html")


def line_png(res: dict[str, Any], report: dict[str, Any], out_dir: str, *, epsilon: float) -> str:
    plt = pyplot("the lab pictures")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
    xs, ps = _density(res["x"], epsilon, res.get("interpolation", "linear"))
    ax1.plot(xs, ps, "-", lw=1.5)
    ax1.plot(res["x"].tolist(), [0.0] * len(xs), "o", ms=4)
    ax1.set_xlabel("x")
    ax1.set_ylabel("p(x)")
    ax1.set_title("final configuration")
    ax2.plot(res["entropy_curve"])
    ax2.set_xlabel("step")
    ax2.set_ylabel("H [nats]")
    ax2.set_title("entropy")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path = os.path.join(out_dir, "line.png")
    os.makedirs(out_dir, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def sphere_page(res: dict[str, Any], report: dict[str, Any], out_dir: str) -> str:
    go, _ = _plotly()
    traj = res["trajectory"]
    idx = _frames(60, len(traj))

    def trace(i: int) -> Any:
        x = traj[i] / traj[i].norm(dim=-1, keepdim=True)
        if x.shape[1] < 3:  # a circle (dim = 2) drawn in the z = 0 plane
            x = torch.nn.functional.pad(x, (0, 3 - x.shape[1]))
        return go.Scatter3d(
            x=x[:, 0].tolist(),
            y=x[:, 1].tolist(),
            z=x[:, 2].tolist(),
            mode="markers",
            marker={"size": 6},
            name="points",
            hovertemplate="(%{x:.4f}, %{y:.4f}, %{z:.4f})",
        )

    fig = go.Figure(data=[trace(idx[0])])
    fig.frames = [go.Frame(data=[trace(i)], name=str(i)) for i in idx]
    buttons, sliders = _controls(go, [str(i) for i in idx])
    ref = report.get("reference")
    fig.update_layout(
        title=f"Lab 2: N = {report['n']}, Coulomb energy {report['energy']:.9f}"
        + (f" (Thomson minimum {ref:.9f})" if ref else ""),
        scene={
            "xaxis": {"range": [-1.1, 1.1]},
            "yaxis": {"range": [-1.1, 1.1]},
            "zaxis": {"range": [-1.1, 1.1]},
            "aspectmode": "cube",
        },
    )
    return _write_page(fig, buttons, sliders, 700, out_dir, "sphere.html")


def sphere_png(res: dict[str, Any], report: dict[str, Any], out_dir: str) -> str:
    plt = pyplot("the lab pictures")
    fig = plt.figure(figsize=(8, 3.6))
    ax = fig.add_subplot(1, 2, 1, projection="3d")
    x = res["x"]
    ax.scatter(x[:, 0].tolist(), x[:, 1].tolist(), x[:, 2].tolist() if x.shape[1] > 2 else [0] * x.shape[0], s=30)
    ax.set_box_aspect((1, 1, 1))
    ax.set_title(f"N = {report['n']}")
    ax2 = fig.add_subplot(1, 2, 2)
    ax2.plot(res["entropy_curve"])
    ax2.set_xlabel("L-BFGS function evaluation")
    ax2.set_ylabel("Gram entropy [nats]")
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    path = os.path.join(out_dir, "sphere.png")
    os.makedirs(out_dir, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
