"""Quality-control block for the Queue page: items a teammate labeled, routed here for a blind second label.

The first of them is the Queue's keyboard card (keys answer what is shown first); the next few follow here,
answered with the mouse. A QC label is a second opinion: the teammate's label stays until a reviewer
resolves a disagreement on the Team page.
"""

from __future__ import annotations

import streamlit as st

from alviz.markup import md
from alviz.session import Session
from alviz.store import StoreError
from views.panels.actions import label_action
from views.panels.items import item_card

SHOWN = 4  # after the keyboard card
SAVED = "Saved as your second opinion; the current label stays until a reviewer settles any disagreement."


def qc_order(sess: Session) -> list[int]:
    """Rows waiting for this person's blind second label, skipped ones last; [] when none (or unreadable)."""
    try:
        rows = sess.qc_rows().tolist()
    except StoreError as exc:
        st.warning(md(f"Quality-control items could not be read: {exc}"))
        return []
    if not rows or not sess.class_names:
        return []
    skipped = [r for r in st.session_state.get("qc_skipped", []) if r in rows]
    return [r for r in rows if r not in skipped] + skipped


def qc_header(n: int) -> None:
    st.markdown(f"**Quality check: {n} items** labeled by a teammate wait for your own label. Keys answer these first.")
    st.caption("Their label and the model's suggestion are hidden, so that your label is independent. " + SAVED)


def qc_grid(sess: Session, rows: list[int]) -> None:
    """The quality-check items after the keyboard card, each with its own picker."""
    if not rows:
        return
    pool = sess.pool
    cols = st.columns(SHOWN)
    for col, row in zip(cols, rows[:SHOWN], strict=False):
        with col.container(border=True):
            item_card(pool, row)
            blind_picker(sess, row)


def blind_picker(sess: Session, row: int) -> None:
    """Answer one quality check with the mouse: any class, nothing preselected, stored as a second opinion."""
    pick = st.selectbox(
        "Your label",
        sess.class_names,
        index=None,
        placeholder="Your label…",
        key=f"qc_pick_{row}",
        label_visibility="collapsed",
    )
    if st.button("Set label", key=f"qc_set_{row}", disabled=pick is None):
        said = f"id {md(sess.pool.ids[row])} → {md(pick)}. {SAVED}"
        label_action(lambda: sess.answer(row, pick, None, blind=True), said)
