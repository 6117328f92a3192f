"""The anchor for benchmarks/interaction.py: a plain Streamlit + Plotly labeling map, written the obvious way.

One ``go.Scattergl`` trace on the same PCA coordinates alviz shows (``alviz.projection.pca_2d`` of the pool's
default embedding), one numeric color per point, ``st.plotly_chart(on_select=..., selection_mode=("lasso",
"box"))``, and a button that labels the selection with a new class and reruns, which resends the recolored
figure. Nothing here is optimized on purpose: it is the cost a first version pays.

The data source comes in ``ANCHOR_DATA`` (a table path or "fashion-mnist"). The page says
"selection #K: N points selected" after the K-th selection event, and the figure's title names the last class
labeled ("anchor-K"), so the driver can tell when each action has come back.
"""

from __future__ import annotations

import os

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from alviz import datasets
from alviz.embed import available_for, embed
from alviz.projection import pca_2d

st.set_page_config(page_title="anchor", layout="wide")


@st.cache_resource(show_spinner="Loading…")
def coordinates(source: str) -> np.ndarray:
    pool = datasets.load(source)
    emb = embed(pool, available_for(pool)[0])
    return pca_2d(emb.X)


def count_selection() -> None:
    st.session_state["events"] = st.session_state.get("events", 0) + 1


Z = coordinates(os.environ["ANCHOR_DATA"])
n = len(Z)
if "codes" not in st.session_state:
    st.session_state["codes"] = np.full(n, -1, dtype=np.int16)
    st.session_state["names"] = []
codes: np.ndarray = st.session_state["codes"]
names: list[str] = st.session_state["names"]

fig = go.Figure(
    go.Scattergl(
        x=Z[:, 0],
        y=Z[:, 1],
        mode="markers",
        marker={"color": codes, "colorscale": "Turbo", "cmin": -1, "cmax": max(len(names), 1), "size": 3},
    )
)
title = f"{n:,} points · last class: {names[-1]}" if names else f"{n:,} points · no labels yet"
fig.update_layout(title=title, dragmode="lasso", height=600, margin={"l": 10, "r": 10, "t": 40, "b": 10})

left, right = st.columns([5, 3])
with left:
    event = st.plotly_chart(fig, key="map", on_select=count_selection, selection_mode=("lasso", "box"))
points = event["selection"]["points"] if event else []
rows = np.unique(np.array([p["point_index"] for p in points], dtype=np.int64))
with right:
    st.markdown(f"selection #{st.session_state.get('events', 0)}: **{len(rows):,} points selected**")
    if st.button("Label selected as a new class", type="primary", disabled=len(rows) == 0):
        names.append(f"anchor-{len(names) + 1}")
        codes[rows] = len(names) - 1
        st.rerun()
