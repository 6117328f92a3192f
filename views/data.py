"""Data page: choose a pool and an embedder; see what was loaded."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import streamlit as st

from alviz import datasets
from alviz.embed import available_for, describe, missing_for
from alviz.markup import md
from views.panels.shared import DataSpec, default_spec, get_pool, session

st.header("Data")
spec: DataSpec = st.session_state.setdefault("spec", default_spec())

CHOICES = {
    "Bundled sample (Fashion-MNIST: 2,000 images to label, 1,000 held out)": "sample",
    "Fashion-MNIST (Debian package dataset-fashion-mnist)": "fashion-mnist",
    "scikit-learn digits (1,797 8×8 images: 1,438 to label, 359 held out)": "digits",
    "Image folder on this machine": "folder",
    "Table with embedding columns (CSV / Parquet)": "table",
}


def _kind_of(source: str) -> str:
    """The choice that loaded ``source``, so that the radio opens on the pool in use."""
    if source.lower() in CHOICES.values():
        return source.lower()
    if Path(source).suffix.lower() in (".csv", ".parquet", ".pq"):
        return "table"
    return "folder" if Path(source).is_dir() else "sample"


NO_TEXT = "(none: numeric embedding columns)"


# cached by (path, mtime): the form reruns on every keystroke, the file changes rarely
@st.cache_data(show_spinner=False, max_entries=8)
def _table_columns(path: str, mtime: float) -> datasets.TableColumns:
    return datasets.inspect_table(path)


@st.cache_data(show_spinner=False, max_entries=8)
def _empty_texts(path: str, column: str, mtime: float) -> tuple[int, int]:
    return datasets.empty_texts(path, column)


def text_column_picker(path: str) -> tuple[str | None, bool]:
    """Offer the table's string columns as its text column: (the column or None, whether it can be loaded).

    Without a readable table there is nothing to offer; loading then reports what is wrong."""
    try:
        mtime = datasets.confine(path).stat().st_mtime
        table = _table_columns(path, mtime)
    except (OSError, ValueError, ImportError):
        return None, True
    if not table.text_candidates:
        return None, True
    # a column named "text" is a text pool's by default, so "none" is offered only without one
    options = table.text_candidates if "text" in table.columns else [NO_TEXT, *table.text_candidates]
    index = options.index("text") if "text" in options else 0
    chosen = st.selectbox("Text column (makes a text pool)", options, index=index, key="text_column")
    if chosen == NO_TEXT:
        return None, True
    try:
        empty, rows = _empty_texts(path, chosen, mtime)
    except (OSError, ValueError, KeyError, ImportError):
        return chosen, True
    if empty == rows:
        st.warning(md(f"Column '{chosen}' is empty in every row: there is no text to embed. Choose another column."))
        return chosen, False
    if empty:
        st.info(
            md(f"{empty:,} of {rows:,} rows have an empty text in '{chosen}'; they will be left out of the pool."),
            icon=":material/info:",
        )
    return chosen, True


kind = st.radio("Pool", list(CHOICES), index=list(CHOICES.values()).index(_kind_of(spec.source)), key="data_kind")
choice = CHOICES[kind]
new_spec: DataSpec | None = None

if choice in ("sample", "digits"):
    new_spec = DataSpec(choice)
elif choice == "fashion-mnist":
    if not datasets.fashion_mnist_available():
        st.warning("Fashion-MNIST is not installed. Add it with `sudo apt-get install dataset-fashion-mnist`.")
    else:
        n = st.number_input("Pool size (balanced subset of the 60,000 training images)", 1000, 60000, 10000, 1000)
        new_spec = DataSpec("fashion-mnist", n_pool=int(n))
elif choice == "folder":
    path = st.text_input("Folder path", placeholder="/data/my_images (subfolders per class are optional)")
    if path and (wrong := datasets.wrong_kind(path, "folder")):
        st.error(md(wrong))
    elif path:
        new_spec = DataSpec(str(Path(path).expanduser()))
else:
    path = st.text_input("CSV or Parquet path", placeholder="/data/embeddings.parquet")
    st.caption(
        "Columns: `id` (optional), `label` (optional, ground truth for evaluation), and numeric embedding "
        "columns, or a text column for a text pool (embedded with TF-IDF or MiniLM; empty texts are dropped)."
    )
    if path and (wrong := datasets.wrong_kind(path, "table")):
        st.error(md(wrong))
    elif path:
        source = str(Path(path).expanduser())
        text_column, loadable = text_column_picker(source)
        new_spec = DataSpec(source, text_column=text_column) if loadable else None


def embedder_picker(pool, current: str) -> None:
    """Choose how the pool is embedded. A change re-embeds (progress, epoch and loss shown live while the
    session is rebuilt below) and keeps every label: labels are stored by item id, not by embedding."""
    methods = available_for(pool)
    if len(methods) > 1:
        cols = st.columns([5, 1], vertical_alignment="bottom")
        index = methods.index(current) if current in methods else 0
        choice = cols[0].selectbox("Embedder", methods, index=index, format_func=describe, key="embedder")
        ray_address = os.environ.get("ALVIZ_RAY_ADDRESS")  # a cluster to embed on: same cache entry, so same result
        on_ray = bool(ray_address) and pool.images is not None and choice != "precomputed"
        on_ray = on_ray and st.checkbox(f"Embed on the Ray cluster at {ray_address}", key="embed_on_ray")
        if cols[1].button("Embed", key="embed", disabled=choice == current, width="stretch"):
            if on_ray:
                from alviz.embed.ray_engine import embed_ray

                bar = st.progress(0.0, text=f"Embedding with {choice} on Ray…")
                try:
                    embed_ray(pool, choice, address=ray_address, progress=lambda f, m: bar.progress(min(f, 1.0), m))
                except ValueError as exc:
                    st.error(md(f"Embedding on Ray failed: {exc}"))
                    st.stop()
            old: DataSpec = st.session_state["spec"]
            st.session_state["spec"] = replace(old, method=choice)
            st.session_state.pop("queue", None)
            st.rerun()
    for name, command in missing_for(pool).items():
        st.caption(f"Also possible: {describe(name)}. It needs an optional extra; add it with `{command}`.")


if new_spec is not None and st.button("Load", type="primary", key="load"):
    try:
        pool = get_pool(new_spec)
    except (ValueError, FileNotFoundError, NotADirectoryError) as exc:
        st.error(md(f"Could not load {new_spec.label}: {exc}"))
    else:
        methods = available_for(pool)
        st.session_state["spec"] = replace(new_spec, method=methods[0] if methods else "")
        st.session_state.pop("queue", None)
        st.rerun()

st.divider()
sess = session()
if sess is not None:
    pool = sess.pool
    st.subheader(f"Current pool: {md(pool.name)}")
    info = pool.summary()
    cols = st.columns(4)
    cols[0].metric("Items", f"{info['items']:,}")
    cols[1].metric("Held-out test items", f"{info['test_items']:,}")
    cols[2].metric("Known classes", info["classes"])
    cols[3].metric("Embedding", f"{sess.X.shape[1]}-d")
    st.caption(
        f"Embedder: {sess.embedding_method} · "
        + (
            "ground truth present: used only to measure accuracy, never shown as a label"
            if info["ground_truth"]
            else "no ground truth: accuracy is cross-validated on your labels"
        )
    )
    embedder_picker(pool, sess.embedding_method)
    for note in pool.notes:  # loader notes and license notices: information, not a warning
        st.info(md(note), icon=":material/info:")
