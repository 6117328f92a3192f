"""Train page panel: where the hard work lies (logic in alviz.difficulty), exportable and queueable."""

from __future__ import annotations

import numpy as np
import streamlit as st

from alviz.markup import md
from alviz.session import Session
from views.panels.items import show_items

HARDEST_SHOWN = 10


def difficulty_panel(sess: Session) -> None:
    st.subheader("Where the hard items are")
    st.caption(
        "Difficulty = the mean of two doubts scaled to 0-1: uncertainty (entropy of a 5-model committee's mean "
        "prediction: the item lies between classes) and disagreement (how much the committee's members differ: "
        "the labels so far do not pin it down). Clusters (k-means on the embedding) are ranked by expected work "
        "left, the summed difficulty of their unlabeled items. Pick one below to see and queue its hardest items."
    )
    state = (sess.n_labeled, len(sess.history()), len(sess.class_names))
    if st.button("Rank items and clusters by difficulty", key="rank_difficulty"):
        try:
            with st.spinner("Training a committee of 5 models and ranking the pool…"):
                st.session_state["difficulty"] = (state, sess.difficulty())
        except ValueError as exc:
            st.warning(md(exc))
    cached = st.session_state.get("difficulty")
    if cached is None:
        return
    at, result = cached
    if at != state:
        st.caption("Labels changed since this ranking: press the button again for a fresh one.")
    clusters = result.clusters
    st.dataframe(
        clusters.head(10),
        hide_index=True,
        column_config={
            "mean_difficulty": st.column_config.ProgressColumn(
                "mean difficulty", min_value=0.0, max_value=1.0, format="%.2f"
            ),
            "hard_share": st.column_config.NumberColumn(
                "in hardest 10%", format="percent", help="share of its items among the pool's hardest tenth"
            ),
            "mostly_predicted": st.column_config.TextColumn("mostly predicted"),
            "expected_work": st.column_config.NumberColumn("expected work", format="%.1f"),
            "predicted_share": st.column_config.NumberColumn("predicted share", format="percent"),
        },
        key="difficulty_clusters",
    )
    c1, c2 = st.columns(2)
    c1.download_button(
        "Download items (CSV)",
        result.items.to_csv(index=False).encode(),
        file_name=f"{sess.project}-difficulty-items.csv",
        mime="text/csv",
        key="dl_difficulty_items",
    )
    c2.download_button(
        "Download clusters (CSV)",
        clusters.to_csv(index=False).encode(),
        file_name=f"{sess.project}-difficulty-clusters.csv",
        mime="text/csv",
        key="dl_difficulty_clusters",
    )
    choice = st.selectbox(
        "Cluster",
        clusters["cluster"].tolist(),
        format_func=lambda g: _describe(clusters, g),
        key="difficulty_cluster",
    )
    rows = _hardest_unlabeled(sess, result, int(choice))
    if not len(rows):
        st.caption("Every item of this cluster is labeled.")
        return
    show_items(sess.pool, rows, columns=len(rows))
    if st.button(f"Queue its {len(rows)} hardest unlabeled items", key="queue_hardest"):
        st.session_state["queue"] = rows.tolist()
        st.session_state["queue_from"] = f"difficulty (cluster {int(choice)})"
        st.switch_page("views/queue.py")


def _describe(clusters, g) -> str:
    row = clusters.loc[clusters["cluster"] == g].iloc[0]
    return (
        f"cluster {g}: {row['items']:,} items, {row['labeled']:,} labeled, mostly {md(row['mostly_predicted'])}, "
        f"expected work {row['expected_work']:.1f}"
    )


def _hardest_unlabeled(sess: Session, result, g: int) -> np.ndarray:
    items = result.items
    mine = items[(items["cluster"] == g) & items["label"].isna()].head(HARDEST_SHOWN)
    rows = sess.pool.index_of(mine["item_id"].tolist())
    return rows[~sess.labeled[rows]]
