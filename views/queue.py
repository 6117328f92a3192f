"""Queue page: the items a strategy picks next, each with the model's suggestion to accept or correct."""

from __future__ import annotations

import numpy as np
import streamlit as st

from alviz.gallery import montage
from alviz.session import Session
from views._shared import require_session, strategy_names

sess: Session = require_session()
pool = sess.pool
st.header("Queue")

c1, c2, c3 = st.columns([2, 1, 1])
names = strategy_names()
strategy = c1.selectbox(
    "Strategy",
    names,
    index=names.index("auto"),
    key="queue_strategy",
    help="auto adapts to your budget: typical items of uncovered clusters while labels are few, "
    "diverse uncertain items later.",
)
k = int(c2.number_input("Items", 1, 100, 10, key="queue_k"))
refill = st.session_state.pop("queue_stale", False) and "queue" in st.session_state
if c3.button("Fill queue", type="primary", key="fill_queue") or "queue" not in st.session_state or refill:
    try:
        st.session_state["queue"] = sess.query(strategy, k, seed=sess.n_labeled).tolist()
        st.session_state["queue_from"] = strategy
    except ValueError as exc:
        st.session_state["queue"] = []
        st.error(str(exc))

if sess.proba is None:
    st.caption(
        "No model yet, so the uncertainty strategies pick at random and there are no suggestions. "
        "Label two classes and retrain (Train page)."
    )

queue = [r for r in st.session_state.get("queue", []) if not sess.labeled[r]]
st.session_state["queue"] = queue
if not queue:
    st.success("The queue is empty. Fill it again to get the next items.")
    st.stop()

st.caption(f"{len(queue)} items picked by **{st.session_state.get('queue_from', strategy)}**.")
if sess.last_query is not None and sess.last_query.reason:
    st.caption(f"auto chose: {sess.last_query.reason}.")
proba = sess.proba


def _why(row: int) -> None:
    """Strategy, rank, the model's doubt and the nearest labeled items: why this item is asked about."""
    why = sess.why(row)
    lines = []
    if "rank" in why:
        lines.append(f"Picked by **{why['strategy']}**, rank {why['rank']} of {why['of']}.")
    if "auto" in why:
        lines.append(f"auto: {why['auto']}.")
    if "entropy" in why:
        lines.append(f"Model doubt: entropy {why['entropy']:.2f} nats, top-two margin {why['margin']:.2f}.")
    st.markdown("  \n".join(lines) or "No model yet.")
    neighbors = why["neighbors"]
    if not neighbors:
        st.caption("Nothing is labeled yet.")
        return
    st.caption(
        "Nearest labeled items: " + " · ".join(f"{n['label']} (distance {n['distance']:.2f})" for n in neighbors)
    )
    if pool.images is not None:
        st.image(montage(pool.images[[n["row"] for n in neighbors]], columns=len(neighbors), scale=2))


def _store(row: int, name: str, source: str) -> None:
    try:
        sess.label([row], name, source=source)
    except ValueError as exc:
        st.error(str(exc))


PER_ROW = 5
for start in range(0, len(queue), PER_ROW):
    cols = st.columns(PER_ROW)
    for col, row in zip(cols, queue[start : start + PER_ROW], strict=False):
        with col.container(border=True):
            if pool.images is not None:
                st.image(montage(pool.images[[row]], columns=1, scale=4, pad=0))
            elif pool.texts is not None:
                st.text(str(pool.texts[row])[:300])
            st.caption(f"id {pool.ids[row]}")
            with st.popover("Why this item?"):
                _why(row)
            suggestion = None
            if proba is not None:
                suggestion = int(np.argmax(proba[row]))
                name = sess.class_names[suggestion]
                st.markdown(f"Suggestion: **{name}** ({proba[row, suggestion]:.0%})")
                if st.button(f"Accept {name}", key=f"accept_{row}", type="primary"):
                    _store(row, name, "accepted")
                    st.rerun()
            options = list(sess.class_names)
            if not options:
                options = ["(type a class on the Explore page first)"]
            pick = st.selectbox(
                "Correct to",
                options,
                key=f"pick_{row}",
                index=suggestion if suggestion is not None else 0,
                label_visibility="collapsed",
            )
            if st.button("Set label", key=f"set_{row}", disabled=not sess.class_names):
                _store(row, pick, "queue")
                st.rerun()
