"""Quality-control block for the Queue page: items a teammate labeled, routed here for a blind second label."""

from __future__ import annotations

import streamlit as st

from alviz.gallery import montage
from alviz.markup import md
from alviz.session import Session
from alviz.store import StoreError

SHOWN = 5


def qc_block(sess: Session) -> None:
    """Shown only when the project routes items for quality control (Team page) and some wait for this person."""
    try:
        rows = sess.qc_rows()
    except StoreError as exc:
        st.warning(md(f"Quality-control items could not be read: {exc}"))
        return
    if len(rows) == 0 or not sess.class_names:
        return
    pool = sess.pool
    with st.container(border=True):
        st.markdown(f"**Quality check: {len(rows)} items** labeled by a teammate wait for your own label.")
        st.caption("Their label and the model's suggestion are hidden, so that your label is independent.")
        cols = st.columns(SHOWN)
        for col, row in zip(cols, rows[:SHOWN], strict=False):
            with col:
                if pool.images is not None:
                    st.image(montage(pool.images[[row]], columns=1, scale=4, pad=0))
                elif pool.texts is not None:
                    st.text(str(pool.texts[row])[:300])
                st.caption(f"id {md(pool.ids[row])}")
                pick = st.selectbox(
                    "Your label", sess.class_names, index=None, key=f"qc_pick_{row}", label_visibility="collapsed"
                )
                if st.button("Set label", key=f"qc_set_{row}", disabled=pick is None):
                    try:
                        sess.label([row], pick, source="qc")
                    except (ValueError, StoreError) as exc:
                        st.error(md(exc))
                    else:
                        st.rerun()
