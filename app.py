"""alviz Streamlit entry: navigation over views/ and the sidebar. Logic lives in the alviz library."""

from __future__ import annotations

import streamlit as st

from views._shared import annotator, db_url, session

st.set_page_config(page_title="alviz", page_icon=":material/label:", layout="wide")

nav = st.navigation(
    [
        st.Page("views/explore.py", title="Explore", icon=":material/scatter_plot:", default=True),
        st.Page("views/queue.py", title="Queue", icon=":material/checklist:"),
        st.Page("views/train.py", title="Train", icon=":material/show_chart:"),
        st.Page("views/compare.py", title="Compare", icon=":material/compare_arrows:"),
        st.Page("views/data.py", title="Data", icon=":material/folder_open:"),
    ]
)

with st.sidebar:
    st.title("alviz")
    annotator()  # seeds the default before the widget reads it
    st.text_input("Annotator", key="annotator", help="Stored with every label you give.")
    sess = session()
    if sess is not None:
        pool = sess.pool
        st.caption(f"Project **{sess.project}** · {db_url().split('://')[0]} store")
        c1, c2 = st.columns(2)
        c1.metric("Items", f"{len(pool):,}")
        c2.metric("Labeled", f"{sess.n_labeled:,}")
        counts = {k: v for k, v in sess.label_counts().items() if v}
        if counts:
            st.caption(" · ".join(f"{name}: {n}" for name, n in counts.items()))
        if sess.unknown_items:
            st.caption(f"{sess.unknown_items} stored labels belong to items not in this pool.")

nav.run()
