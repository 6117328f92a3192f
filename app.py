"""alviz Streamlit entry: navigation over views/ and the sidebar. Logic lives in the alviz library."""

from __future__ import annotations

import os

import streamlit as st

from alviz.cli import exposure_problems
from alviz.markup import md
from alviz.store import StoreError
from views.panels.identity import identity_sidebar
from views.panels.shared import db_url, model_sidebar, session, store_error


def _count(n: int) -> str:
    """A count that fits a sidebar metric: 1,234 / 27,284 / 100k / 1.20M."""
    if n < 100_000:
        return f"{n:,}"
    return f"{n / 1000:.0f}k" if n < 1_000_000 else f"{n / 1e6:.2f}M"


# An emoji favicon: a material icon here is fetched from a font CDN at run time.
st.set_page_config(page_title="alviz", page_icon="🏷️", layout="wide")

# `streamlit run` with another address skips `alviz app`'s check: refuse here too (ALVIZ_INSECURE=1 overrides).
address = st.get_option("server.address")
if address and not os.environ.get("ALVIZ_INSECURE") and (missing := exposure_problems(address, dict(os.environ))):
    st.error(md(f"alviz listens on {address}, open to the network, but lacks {' and '.join(missing)}."))
    st.stop()

explore = st.Page("views/explore.py", title="Explore", icon=":material/scatter_plot:", default=True, url_path="home")


def _explore_link() -> None:
    """/explore, the link a user guesses from /queue: the default page lives at /, where this sends them."""
    st.switch_page(explore)


nav = st.navigation(
    [
        explore,
        st.Page(_explore_link, title="Explore", url_path="explore", visibility="hidden"),
        st.Page("views/queue.py", title="Queue", icon=":material/checklist:"),
        st.Page("views/train.py", title="Train", icon=":material/show_chart:"),
        st.Page("views/compare.py", title="Compare", icon=":material/compare_arrows:"),
        st.Page("views/data.py", title="Data", icon=":material/folder_open:"),
        st.Page("views/team.py", title="Team", icon=":material/group:"),
    ]
)

with st.sidebar:
    st.title("alviz")
    who = identity_sidebar()
    sess = session() if who else None
    if sess is not None:
        pool = sess.pool
        st.caption(f"Project **{md(sess.project)}** · {db_url().split('://')[0]} store")
        c1, c2 = st.columns(2)
        c1.metric("Items", _count(len(pool)), help=f"{len(pool):,} items")
        c2.metric("Labeled", _count(sess.n_labeled), help=f"{sess.n_labeled:,} labeled")
        counts = {k: v for k, v in sess.label_counts().items() if v}
        if counts:
            st.caption(" · ".join(f"{md(name)}: {n}" for name, n in counts.items()))
        if sess.unknown_items:
            st.caption(f"{sess.unknown_items} stored labels belong to items not in this pool.")
        model_sidebar(sess)

if msg := st.session_state.pop("toast", None):
    st.toast(msg)
if not who:
    st.info("Sign in (in the sidebar) to start labeling.", icon=":material/lock:")
    st.stop()
# coming from another page, the Explore map mounts afresh in the browser (views/panels/map.py: remounted)
st.session_state["page_changed"] = st.session_state.get("page") != nav.title
st.session_state["page"] = nav.title
try:
    nav.run()
except StoreError as exc:  # the database went away mid-page: nothing was written; say so and offer a retry
    store_error(exc)
