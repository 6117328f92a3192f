"""Streamlit glue shared by the pages: cached resources and the user's current session.

Only UI state lives in st.session_state; labels live in the store, reached through the Session.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import streamlit as st

from alviz import datasets, strategies
from alviz.embed import Embedding, available_for, embed
from alviz.markup import md
from alviz.pool import Pool
from alviz.projection import BackgroundProjector, pca_2d
from alviz.session import Session
from alviz.store import Store, StoreError, normalize_url
from views.panels.identity import annotator


@dataclass(frozen=True)
class DataSpec:
    """What the user chose to load: hashable, so it keys the caches."""

    source: str  # "sample", "fashion-mnist", "digits", a folder path, or a table path
    method: str = ""  # embedder; "" means the pool's default
    n_pool: int | None = None
    text_column: str | None = None  # a table's text column, when it is not named "text"

    @property
    def label(self) -> str:
        return self.source if self.n_pool is None else f"{self.source} ({self.n_pool} items)"


def default_spec() -> DataSpec:
    return DataSpec(os.environ.get("ALVIZ_DATA", "sample"))


def db_url() -> str:
    return normalize_url(os.environ.get("ALVIZ_DB", "alviz.db"))


@st.cache_resource(show_spinner=False)
def get_store(url: str) -> Store:
    return Store(url)


@st.cache_resource(show_spinner=False)
def get_projector() -> BackgroundProjector:
    return BackgroundProjector()


@st.cache_resource(show_spinner="Loading the pool…", max_entries=4)
def get_pool(spec: DataSpec) -> Pool:
    kwargs = {"n_pool": spec.n_pool} if spec.n_pool and spec.source == "fashion-mnist" else {}
    if spec.text_column:
        kwargs["text_column"] = spec.text_column
    bar = st.empty()  # an image folder reports each decoded file; other sources load in one step
    try:
        return datasets.load(spec.source, progress=lambda f, m: bar.progress(min(max(f, 0.0), 1.0), text=m), **kwargs)
    finally:
        bar.empty()


@st.cache_resource(show_spinner=False, max_entries=4)
def _cached_embedding(spec: DataSpec, method: str, _pool: Pool) -> Embedding:
    bar = st.progress(0.0, text=f"Embedding with {method}…")
    try:
        return embed(_pool, method, progress=lambda f, msg: bar.progress(min(max(f, 0.0), 1.0), text=msg))
    finally:
        bar.empty()


def get_embedding(spec: DataSpec, pool: Pool) -> Embedding:
    methods = available_for(pool)
    if not methods:
        raise ValueError(f"No embedder can handle a pool of {pool.kind} yet.")
    method = spec.method if spec.method in methods else methods[0]
    return _cached_embedding(spec, method, pool)


@st.cache_data(show_spinner=False, max_entries=8)
def pca_map(_X: np.ndarray, key: str) -> np.ndarray:
    return pca_2d(_X)


def session() -> Session | None:
    """The user's session for the chosen data, built on first use; None (with a message shown) on failure."""
    spec: DataSpec = st.session_state.setdefault("spec", default_spec())
    key = (spec, db_url())
    current: Session | None = st.session_state.get("session")
    if current is not None and st.session_state.get("session_key") == key:
        current.set_annotator(annotator())
        try:
            current.sync()  # teammates' labels since the last run
        except StoreError as exc:
            st.warning(md(f"Showing the labels as last read: {exc}"))
        return current
    try:
        pool = get_pool(spec)
        emb = get_embedding(spec, pool)
        sess = Session(pool, emb, get_store(db_url()), annotator=annotator())
    except StoreError as exc:
        st.error(md(exc))
        return None
    except (ValueError, FileNotFoundError, NotADirectoryError) as exc:
        st.error(md(f"Could not open {spec.label}: {exc}"))
        st.page_link("views/data.py", label="Choose other data", icon=":material/folder_open:")
        return None
    st.session_state["session"] = sess
    st.session_state["session_key"] = key
    return sess


def store_error(exc: StoreError) -> None:
    """The database failed mid-page: say so, offer a retry; nothing was written (StoreError guarantees it)."""
    st.error(md(exc), icon=":material/cloud_off:")
    st.button("Retry", key="store_retry", type="primary")  # a click reruns the page


def require_session() -> Session:
    sess = session()
    if sess is None:
        st.stop()
    return sess


def strategy_names() -> list[str]:
    """Registered strategies, the most useful first (the registry's rank)."""
    return [info.name for info in strategies.ordered()]


def model_sidebar(sess: Session) -> None:
    """Sidebar settings of the learning loop, and the background retrain they trigger."""
    with st.expander("Model", expanded=False):
        default = int(os.environ.get("ALVIZ_RETRAIN_EVERY", "20"))
        label = "Retrain after every … new labels (0 = only on request)"
        sess.set_retrain_every(int(st.number_input(label, 0, 1000, default, 5, key="retrain_every")))
        sess.set_pseudo(  # a change retrains in the background
            st.toggle(
                "Train on pseudo-labels too",
                key="use_pseudo",
                help="Confident predictions, with a bar set per class from your labels; "
                "never stored or exported as labels.",
            )
        )
    if sess.due_for_retrain():
        sess.retrain_in_background()
    if sess.retraining:
        _retrain_status(sess)


@st.fragment(run_every=1)
def _retrain_status(sess: Session) -> None:
    job = sess.finished_retrain()
    if job is None:
        if sess.retraining:
            st.caption(":material/progress_activity: Retraining in the background…")
        return
    exc = job.exception()
    if exc is not None:
        st.session_state["toast"] = f"Background retraining failed: {md(str(exc))}"
    else:
        r = job.result()
        acc = "" if r["accuracy"] is None else f": {r['metric']} {r['accuracy']:.1%}"
        st.session_state["toast"] = f"Retrained on {r['n_labeled']} labels (round {r['round']}){acc}."
    st.session_state["queue_stale"] = True  # the queue was picked by the old model
    st.rerun()
