"""Plotly figures for the views (learning curves, confusion matrix, comparisons) and the class colors that
the map (alviz/mapframe.py) shares with them. Built from plain arrays, deterministically."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative

UNLABELED_COLOR = "#c8c8c8"
LAYER_COLORS = ("#111111", "#d62728")
PALETTE = qualitative.Plotly + qualitative.D3[1::2] + qualitative.Alphabet


def class_color(c: int) -> str:
    return PALETTE[c % len(PALETTE)]


def tint(hex_color: str, amount: float = 0.6) -> str:
    """The color mixed with white: pale enough to read as 'not a human label', still the class's hue."""
    r, g, b = (int(hex_color.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4))
    r, g, b = (round(v + (255 - v) * amount) for v in (r, g, b))
    return f"#{r:02x}{g:02x}{b:02x}"


def count_axis(values) -> dict:
    """An x axis of whole counts: over a span of a few counts (one round so far) Plotly's automatic half-steps
    would print each count twice, so the ticks step by one there."""
    values = [v for v in values if v is not None]
    axis = {"tickformat": ",d"}
    if values and max(values) - min(values) < 6:
        axis["dtick"] = 1
    return axis


def learning_curve_figure(curves: dict[str, tuple[list[int], list[float]]], y_title: str = "accuracy") -> go.Figure:
    """One line per named curve: accuracy against number of labels."""
    fig = go.Figure()
    for name, (x, y) in curves.items():
        dash = "dash" if name.startswith("random") else None
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=name, line={"dash": dash}))
    fig.update_layout(
        xaxis_title="labels",
        xaxis=count_axis([v for x, _ in curves.values() for v in x]),
        yaxis_title=y_title,
        height=380,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        yaxis={"rangemode": "tozero"},
    )
    return fig


def suggestion_figure(rows: list[dict]) -> go.Figure:
    """Share of the model's suggestions the annotators accepted, per window between rounds (from
    ``Session.suggestion_curve``), with the number answered on hover; windows with no answer are left out."""
    rows = [r for r in rows if r["accuracy"] is not None]
    x = [r["n_labeled"] for r in rows]
    fig = go.Figure(
        go.Scatter(
            x=x,
            y=[r["accuracy"] for r in rows],
            mode="lines+markers",
            name="suggestions accepted",
            customdata=[[r["accepted"], r["accepted"] + r["corrected"]] for r in rows],
            hovertemplate="%{customdata[0]} of %{customdata[1]} accepted<br>%{y:.0%}<extra></extra>",
        )
    )
    fig.update_layout(
        xaxis_title="labels at the end of the window",
        xaxis_tickformat=",d",
        yaxis_title="suggestion accuracy",
        yaxis={"range": [0, 1.02], "tickformat": ".0%"},
        height=300,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
    )
    return fig


def stability_figure(stabilities: list[float], threshold: float = 0.99) -> go.Figure:
    """The share of predictions that changed from one round to the next (``Session.stability_curve`` gives the
    share that stayed), from round 2 on, with the line under which ``insight.stop_advice`` says stop."""
    rounds = list(range(2, len(stabilities) + 2))
    fig = go.Figure(go.Scatter(x=rounds, y=[1 - s for s in stabilities], mode="lines+markers"))
    fig.add_hline(y=1 - threshold, line_dash="dot", annotation_text=f"stop line ({1 - threshold:.0%})")
    return _small_share_chart(fig, "round", "d", "share of predictions that changed")


def coverage_figure(n_labels: list[int], coverage: list[float]) -> go.Figure:
    """The share of the pool near a label (``insight.coverage``) against the number of labels, round by round."""
    fig = go.Figure(go.Scatter(x=n_labels, y=coverage, mode="lines+markers", name="overall"))
    return _small_share_chart(fig, "labels", ",d", "pool near a label")


def _small_share_chart(fig: go.Figure, x_title: str, x_format: str, y_title: str) -> go.Figure:
    """The layout of the Train page's half-width charts of a share (0-100%)."""
    fig.update_layout(
        height=260,
        margin={"l": 10, "r": 10, "t": 20, "b": 10},
        xaxis_title=x_title,
        xaxis_tickformat=x_format,
        yaxis_title=y_title,
        yaxis_tickformat=".0%",
    )
    return fig


def confusion_figure(cm: np.ndarray, names: list[str]) -> go.Figure:
    """Row-normalized confusion matrix (true class down, predicted across), counts on hover."""
    totals = cm.sum(axis=1, keepdims=True)
    keep = totals[:, 0] > 0
    cm, totals = cm[keep], totals[keep]
    rows = [n for n, k in zip(names, keep, strict=True) if k]
    frac = cm / np.maximum(totals, 1)
    fig = go.Figure(
        go.Heatmap(
            z=frac,
            x=names,
            y=rows,
            customdata=cm,
            colorscale="Blues",
            zmin=0,
            zmax=1,
            hovertemplate="true %{y}<br>predicted %{x}<br>%{customdata} items (%{z:.0%})<extra></extra>",
        )
    )
    fig.update_layout(
        xaxis_title="predicted",
        yaxis_title="true",
        height=460,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        yaxis={"autorange": "reversed"},
    )
    return fig


def compare_figure(result: dict) -> go.Figure:
    """Mean learning curve of each simulated strategy with a ±1 std band; random dashed as the reference."""
    fig = go.Figure()
    for i, (name, s) in enumerate(result["strategies"].items()):
        x = s["n_labeled"]
        mean, std = np.asarray(s["accuracy_mean"]), np.asarray(s["accuracy_std"])
        color = "#555555" if name == "random" else class_color(i)
        fig.add_trace(
            go.Scatter(
                x=x + x[::-1],
                y=np.concatenate([mean + std, (mean - std)[::-1]]),
                fill="toself",
                fillcolor=color,
                opacity=0.15,
                line={"width": 0},
                hoverinfo="skip",
                showlegend=False,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=mean,
                mode="lines+markers",
                name=f"{name} (AUC {s['auc']:.3f})",
                line={"color": color, "dash": "dash" if name == "random" else None},
            )
        )
    fig.update_layout(
        xaxis_title="labels",
        xaxis_tickformat=",d",
        yaxis_title="test accuracy",
        height=440,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"},
    )
    return fig


SOURCE_COLORS = {
    "all sources": "#333333",
    "bulk": "#d62728",
    "single": "#1f77b4",
    "queue": "#2ca02c",
    "accepted": "#9467bd",
    "corrected": "#ff7f0e",
    "qc": "#8c564b",
    "import": "#e377c2",
    "resolve": "#17becf",
}


def source_curves_figure(curves) -> go.Figure:
    """Learning curves split by label source (an ``alviz.provenance.SourceCurves``): left, the accuracy of a
    model trained on each source's labels alone against that source's number of labels (all sources together
    in dark grey); right, the labels of each source at each round, stacked."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, column_widths=[0.62, 0.38], horizontal_spacing=0.1)
    names = ["all sources", *curves.sources]
    for i, name in enumerate(names):
        color = SOURCE_COLORS.get(name, class_color(i + 5))
        pts = [(n, a, r) for n, a, r in zip(curves.counts[name], curves.accuracy[name], curves.rounds, strict=True)]
        pts = [p for p in pts if p[1] is not None]
        fig.add_trace(
            go.Scatter(
                x=[p[0] for p in pts],
                y=[p[1] for p in pts],
                customdata=[p[2] for p in pts],
                mode="lines+markers",
                name=name,
                legendgroup=name,
                showlegend=bool(pts),
                line={"color": color, "dash": "dot" if name == "all sources" else None},
                hovertemplate=f"{name}<br>round %{{customdata}}: %{{x:,d}} labels<br>%{{y:.1%}}<extra></extra>",
            ),
            row=1,
            col=1,
        )
        if name != "all sources":
            fig.add_trace(
                go.Bar(
                    x=curves.rounds,
                    y=curves.counts[name],
                    name=name if pts else f"{name} (one class: no curve)",
                    legendgroup=name,
                    showlegend=not pts,  # its line has no point, so the bars carry the legend entry
                    marker_color=color,
                    hovertemplate=f"{name}<br>round %{{x}}: %{{y:,d}} labels<extra></extra>",
                ),
                row=1,
                col=2,
            )
    fig.update_layout(
        barmode="stack",
        height=340,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"},
    )
    fig.update_xaxes(title_text="labels from the source", tickformat=",d", row=1, col=1)
    fig.update_yaxes(title_text=curves.metric, tickformat=".0%", rangemode="tozero", row=1, col=1)
    # whole rounds only: without a step plotly put ticks at 1, 1.5, 2... that read "1 1 2 2 3"
    step = max(1, len(curves.rounds) // 10)
    fig.update_xaxes(title_text="round", tickformat="d", tickmode="linear", dtick=step, row=1, col=2)
    fig.update_yaxes(title_text="labels", tickformat=",d", row=1, col=2)
    return fig
