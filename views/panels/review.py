"""Panels of the Train page that help decide what to fix and when to stop (logic in alviz.insight)."""

from __future__ import annotations

from functools import partial

import numpy as np
import streamlit as st

from alviz import geometry, insight, provenance
from alviz.figures import coverage_figure, source_curves_figure, stability_figure
from alviz.markup import md
from alviz.session import Session
from views.panels.actions import label_action
from views.panels.items import show_items

DISPUTED_SHOWN = 12


@st.cache_data(show_spinner=False, max_entries=8)
def _radius(_X: np.ndarray, key: str) -> float:
    return insight.typical_radius(_X)


def stopping_panel(sess: Session, stabilities: list[float]) -> None:
    st.subheader("When to stop")
    advice = insight.stop_advice(stabilities)
    if stabilities:
        st.plotly_chart(stability_figure(stabilities), key="stability")
    (st.success if advice.stop else st.caption)(advice.reason)
    st.caption(f"Measured on a fixed sample of {len(sess.stop_rows):,} items, refitting each round's model.")


def coverage_panel(sess: Session, labels_at_rounds: list[np.ndarray]) -> None:
    st.subheader("Coverage")
    radius = _radius(sess.X, f"{sess.pool.content_hash()}-{sess.embedding_method}")
    masks = [y >= 0 for y in labels_at_rounds]
    if masks:
        coverage = [insight.coverage(sess.X, m, radius) for m in masks]
        st.plotly_chart(coverage_figure([int(m.sum()) for m in masks], coverage), key="coverage")
    st.caption(
        f"An item counts as covered when a labeled item lies within {radius:.2f} of it in embedding space "
        "(the median distance between an item and its nearest neighbor)."
    )
    if sess.predicted is not None and sess.n_labeled:
        near = np.sqrt(geometry.min_sqdist(sess.X, sess.X[sess.labeled])) <= radius
        pred = sess.predicted
        rows = [
            (name, int((pred == c).sum()), float(near[pred == c].mean()))
            for c, name in enumerate(sess.class_names)
            if (pred == c).any()
        ]
        st.dataframe(
            {"predicted class": [r[0] for r in rows], "items": [r[1] for r in rows], "covered": [r[2] for r in rows]},
            hide_index=True,
            column_config={"covered": st.column_config.ProgressColumn("covered", min_value=0.0, max_value=1.0)},
        )


def disputed_panel(sess: Session) -> None:
    st.subheader("Bulk labels the model disputes")
    disputed = sess.disputed_bulk()
    if disputed is None:
        st.caption("Train a model first.")
        return
    if len(disputed.rows) == 0:
        st.caption("None: the model agrees (or is unsure) on every bulk label.")
        return
    st.caption(
        f"{len(disputed.rows)} lasso labels that the model now contradicts with ≥ 80% confidence, most doubtful "
        "first. Keep confirms the label (stored as a single decision); the other button takes the model's class."
    )
    for i in range(min(DISPUTED_SHOWN, len(disputed.rows))):
        row = int(disputed.rows[i])
        given, pred = sess.class_names[disputed.given[i]], sess.class_names[disputed.predicted[i]]
        c = st.columns([1, 3, 2, 2], vertical_alignment="center")
        with c[0]:
            show_items(sess.pool, [row], pad=0, chars=0, ids=False)  # the id is in the next column
        c[1].text(f"{sess.pool.ids[row]}: labeled {given}; model says {pred} ({disputed.confidence[i]:.0%})")
        with c[2]:
            if st.button(f"Keep {md(given)}", key=f"keep_{row}"):
                label_action(partial(sess.label, [row], given, source="single"))
        with c[3]:
            if st.button(f"Change to {md(pred)}", key=f"fix_{row}", type="primary"):
                label_action(partial(sess.label, [row], pred, source="single"))


def provenance_panel(sess: Session) -> None:
    """Where the current labels came from: lasso, single clicks, queue answers, accepted suggestions."""
    sources = sess.current_sources()
    if not sources:
        return
    st.subheader("Where the labels came from")
    by_source: dict[str, list[int]] = {}
    for item, src in sources.items():
        row = sess.pool.index_of([item])
        if len(row):  # labels of items outside this pool are counted in the sidebar instead
            by_source.setdefault(src, []).append(int(row[0]))
    table = {"source": [], "labels": [], "classes": []}
    for src, rws in sorted(by_source.items(), key=lambda kv: -len(kv[1])):
        table["source"].append(src)
        table["labels"].append(len(rws))
        table["classes"].append(len(np.unique(sess.y[rws])))
    st.dataframe(table, hide_index=True)
    st.caption(f"{sum(table['labels']):,} current labels, by how they were given.")
    n_rounds = len(sess.history())
    if n_rounds == 0:
        return
    embedding = f"{sess.pool.content_hash()}-{sess.embedding_method}"
    curves = _source_curves(sess, sess.store.url, sess.project, n_rounds, embedding)
    st.markdown("**Learning curves by label source**")
    st.plotly_chart(source_curves_figure(curves), key="source_curves")
    st.caption(
        f"Left: for each source, the same model trained on that source's labels alone, as they stood at each "
        f"round, and its {curves.metric} against how many labels the source had (dotted: all labels together). "
        "At the same number of labels, a line below the others means that source's labels teach the model "
        "less, or mislead it: a lasso that swept in items of other classes shows this way (see the disputed "
        "bulk labels above). No point while a source has labels of one class only. Right: labels per source "
        "at each round."
    )


@st.cache_data(show_spinner="Replaying the rounds by label source…", max_entries=8)
def _source_curves(_sess: Session, db: str, project: str, n_rounds: int, embedding: str) -> provenance.SourceCurves:
    """Past rounds never change: keyed by the project and how many rounds it has (and the embedding)."""
    return provenance.session_source_curves(_sess)
