"""Explore page: the map, colored by what matters now; lasso a cluster, look at it, label it in one action."""

from __future__ import annotations

import os
from contextlib import nullcontext

import numpy as np
import streamlit as st

from alviz import neighbors
from alviz.figures import LAYER_COLORS
from alviz.mapframe import Coloring, Ring, class_coloring, value_coloring
from alviz.markup import md
from alviz.scores import SCORES
from alviz.session import Session
from alviz.store import StoreError
from views.panels.actions import label_action, undo_button
from views.panels.items import show_items
from views.panels.map import clear_selection, picked_row, point_map, remounted, selected_rows
from views.panels.shared import get_projector, pca_map, require_session

# "Color by" label -> what it colors by: the classes, then every per-item score in the library's table
COLOR_BY = {"Label": "label", "Predicted class": "predicted"} | {info.label: n for n, info in SCORES.items()}
BUSY = {  # what a score waits for, the first time, by what it needs
    "committee": "Training a committee of 5 models on your labels (once per model)…",
    "flip": "Embedding the mirrored images (once)…",
}
GALLERY_MAX = 60
NEW_CLASS = "➕ New class…"
BULK_RULE = (
    "Starts empty unless the model is sure of the whole group: at least 90% of the items predicted one class, "
    "with a mean confidence of at least 0.9. Then that class is preselected; check it before you label."
)

sess: Session = require_session()
pool = sess.pool
map_key = f"{pool.content_hash()}-{sess.embedding_method}"
umap_enabled = os.environ.get("ALVIZ_UMAP", "1") != "0"


def _umap_key() -> str | None:
    """The background UMAP job of this embedding; requested (and its key hashed) once per session."""
    if not umap_enabled:
        return None
    cached = st.session_state.get("umap_job")
    if cached is None or cached[0] != map_key:
        cached = (map_key, get_projector().request(sess.X))
        st.session_state["umap_job"] = cached
    return cached[1]


@st.fragment(run_every=2)
def _wait_for_umap(key: str) -> None:
    """Polls the background UMAP job; when it finishes, rerun so the map swaps in."""
    status = get_projector().status(key)
    if status == "running":
        share, stage = get_projector().progress(key)
        st.progress(min(max(share, 0.0), 1.0), text=f"UMAP map in the background ({md(stage)}); PCA meanwhile.")
    elif status == "done":
        st.rerun()
    else:
        st.caption(md(f"UMAP failed ({status.removeprefix('failed: ')}); showing PCA."))


def _coordinates() -> tuple[np.ndarray, str]:
    key = _umap_key()
    Z = get_projector().result(key) if key else None
    if Z is not None and st.session_state.get("projection", "UMAP") == "UMAP":
        st.session_state.pop("umap_waiting", None)
        return Z, "UMAP"
    try:
        return pca_map(sess.X, map_key), "PCA"
    except ValueError as exc:  # a pool too small to map, say: one line, not a traceback
        st.error(md(str(exc)))
        st.stop()


def _needs(mode: str) -> frozenset[str]:
    """What a coloring needs (scores.SCORES); the class colorings need nothing that a pool may lack."""
    return SCORES[mode].needs if mode in SCORES else frozenset()


def _label_coloring(mode: str) -> Coloring:
    ps = sess.pseudo if mode == "label" and sess.use_pseudo and sess.pseudo is not None else None
    pseudo = None if ps is None else (ps.rows, ps.classes)
    return class_coloring(sess.y, sess.class_names, pseudo)


def _colors(mode: str) -> tuple[Coloring, str]:
    """The coloring for the chosen mode and a note, falling back to labels when it can't be computed."""
    if mode == "label":
        return _label_coloring(mode), ""
    if mode == "predicted":
        if sess.predicted is None:
            note = "No model yet: train one (Train page) to color by prediction. Showing labels."
            return _label_coloring("label"), note
        return class_coloring(sess.predicted, sess.class_names), ""
    needs = _needs(mode)
    busy = next((msg for need, msg in BUSY.items() if need in needs), None)
    try:
        with st.spinner(busy) if busy else nullcontext():
            values = sess.score(mode)
    except ValueError as exc:  # consistency without images to mirror: say why, show labels
        return _label_coloring("label"), md(f"{exc} Showing labels.")
    if values is None:
        need = "a label" if "labels" in needs else "a trained model"
        return _label_coloring("label"), f"This coloring needs {need} first. Showing labels."
    return value_coloring(values, mode), ""


def _label_form(rows: np.ndarray, key: str, what: str) -> None:
    """Model mix, class picker and the one-action label button for a set of rows."""
    # the model's class is preselected only when it is sure of the whole group (Session.confident_class)
    default = sess.confident_class(rows)
    pred = sess.predicted
    if pred is not None:
        counts = np.bincount(pred[rows], minlength=len(sess.class_names))
        order = np.argsort(-counts)[:4]
        mix = " · ".join(f"{md(sess.class_names[c])} {counts[c] / len(rows):.0%}" for c in order if counts[c])
        st.caption(f"Model predicts: {mix}")
    already = int(sess.labeled[rows].sum())
    if already:
        st.caption(f"{already} of them already have a label; labeling replaces it (undo restores it).")
    options = [*sess.class_names, NEW_CLASS]
    choice = st.selectbox(
        "Class",
        options,
        index=None if default is None else min(default, len(options) - 1),
        placeholder="Choose a class for all of them…",
        key=f"{key}_class",
        help=BULK_RULE,
    )
    name = st.text_input("New class name", key=f"{key}_new_class") if choice == NEW_CLASS else choice
    if st.button(f"Label {len(rows):,} {what}", type="primary", key=f"{key}_label", disabled=not name):
        label_action(
            lambda: sess.label(rows, name, source="bulk"),
            lambda n: f"Labeled {n:,} items as “{md(name)}”.",
            then=lambda: _labeled(key),
        )


def _labeled(key: str) -> None:
    """After a bulk label: the similar items were found for the old labels; a labeled lasso is done."""
    st.session_state.pop("similar", None)
    if key == "bulk":
        clear_selection("map")


def _picked_panel() -> None:
    """The item last clicked on the map: its id and, for images and texts, the item itself."""
    row = picked_row("map")
    if row is None or row >= len(pool):
        return
    label = sess.class_names[sess.y[row]] if sess.y[row] >= 0 else "unlabeled"
    text = f"Clicked: **{md(str(pool.ids[row]))}** (row {row}) · {md(label)}"
    if sess.predicted is not None:
        text += f" · model: {md(sess.class_names[sess.predicted[row]])}"
    st.caption(text)
    show_items(pool, [row], scale=4, chars=500, ids=False)  # the id is in the caption


def _selection_panel(rows: np.ndarray) -> None:
    if len(rows) == 0:
        st.info("Draw a lasso or a box around points on the map to select them, then label them all at once.")
        return
    st.markdown(f"**{len(rows):,} items selected**")
    neighbors.warm(sess.X, seed=sess.seed)  # a big pool's neighbour index builds while the user looks
    _label_form(rows, "bulk", "items")
    _gallery(rows)
    c1, c2 = st.columns([1, 2], vertical_alignment="bottom")
    n_similar = int(c1.number_input("How many", 5, 2000, 50, step=25, key="similar_n"))
    if c2.button("Find more like these", key="find_similar", help="Nearest unlabeled items in embedding space"):
        st.session_state["similar"] = sess.more_like(rows, n_similar)
        st.session_state["similar_how"] = sess.last_neighbor_search
        st.rerun(scope="fragment")


def _similar_panel() -> None:
    similar = st.session_state.get("similar")
    if similar is None:
        return
    similar = similar[~sess.labeled[similar]]
    with st.container(border=True):
        st.markdown(f"**{len(similar):,} similar unlabeled items** (rings on the map)")
        if st.session_state.get("similar_how") == "exact (index building)":
            st.caption("Found by exact search: this pool's neighbour index is still building; later searches use it.")
        if len(similar) == 0:
            st.caption("All of them are labeled now.")
        else:
            _label_form(similar, "similar", "similar items")
            _gallery(similar)
        if st.button("Clear similar items", key="clear_similar"):
            st.session_state.pop("similar")
            st.rerun(scope="fragment")


def _gallery(rows: np.ndarray) -> None:
    shown = rows
    if len(rows) > GALLERY_MAX:  # an even sample of the selection, not just its first rows
        shown = np.sort(np.random.default_rng(0).choice(rows, GALLERY_MAX, replace=False))
    show_items(pool, shown, caption=f"{len(shown)} of {len(rows)}" if len(shown) < len(rows) else None)


@st.fragment
def map_and_selection() -> None:
    try:  # a map interaction reruns only this fragment: labels from another tab or a teammate must show here
        changed = sess.sync()  # and in the sidebar alike, so a change reruns the whole page (once)
    except StoreError:
        changed = False  # the page's full run says that the store is away
    if changed:
        st.rerun()
    top = st.columns([3, 1])
    options = [k for k, v in COLOR_BY.items() if pool.images is not None or "flip" not in _needs(v)]
    if st.session_state.get("color_by") not in (None, *options):  # chosen on an image pool, now gone
        st.session_state.pop("color_by")
    mode = COLOR_BY[top[0].radio("Color by", options, horizontal=True, key="color_by")]
    umap_job = _umap_key()
    if umap_job and get_projector().status(umap_job) == "done":  # offer the choice only once there is one
        # UMAP swaps in by itself only while nothing is selected; under a selection it waits for the user
        busy = len(selected_rows("map", len(pool))) > 0
        if "projection" not in st.session_state or (st.session_state.get("umap_waiting") and not busy):
            st.session_state["projection"] = "PCA" if busy else "UMAP"
            st.session_state["umap_waiting"] = busy
        top[1].radio("Layout", ["UMAP", "PCA"], horizontal=True, key="projection")
    Z, layout = _coordinates()
    about = st.empty()  # always one slot (see the page's end)
    if st.session_state.get("umap_waiting"):
        about.info("The UMAP map is ready: switch to it with **Layout** above (your selection stays selected).")
    elif layout == "PCA":
        about.caption("PCA map: a quick preview whose clusters may still split on the UMAP map.")
    coloring, note = _colors(mode)
    colors_note = st.empty()
    if note:
        colors_note.caption(note)
    rings = []
    q = sess.last_query
    if q is not None and st.session_state.get("show_last_query", True):
        rings.append(Ring(f"last query ({q.strategy})", LAYER_COLORS[0], q.rows[~sess.labeled[q.rows]]))
    if st.session_state.get("similar") is not None:
        rings.append(Ring("similar items", LAYER_COLORS[1], st.session_state["similar"]))
    left, right = st.columns([5, 3])
    with left:
        point_map("map", f"{map_key}-{layout}", Z, coloring, rings, ids=pool.ids)
        st.caption(f"Map: {layout} · {len(pool):,} items · {sess.n_labeled:,} labeled")
        if q is not None:
            st.checkbox("Ring the items of the last query", value=True, key="show_last_query")
        _picked_panel()
    with right:
        _selection_panel(selected_rows("map", len(pool)))
        _similar_panel()
        undo_button(sess, "undo")
        _edit_classes()


def _edit_classes() -> None:
    """Rename or merge classes mid-project; to split one, lasso part of it and label it with a new class."""
    in_use = [n for n, c in sess.label_counts().items() if c]
    if not in_use:
        return
    with st.expander("Edit classes"):
        mode = st.radio("Action", ["Rename", "Merge into"], horizontal=True, key="edit_mode")
        old = st.selectbox("Class", in_use, key="edit_old")
        if mode == "Rename":
            new = st.text_input("New name", key="edit_new")
        else:
            new = st.selectbox("Into", [n for n in sess.class_names if n != old], key="edit_into")
        if st.button(mode, key="edit_apply", disabled=not new):
            label_action(
                lambda: sess.rename_class(old, new) if mode == "Rename" else sess.merge_classes(old, new),
                lambda n: f"{n} items moved from “{md(old)}” to “{md(new)}”; undo reverts it.",
            )
        st.caption("To split a class, lasso part of it and label that part with a new class.")


st.header("Explore")
if st.session_state.pop("page_changed", False):
    remounted("map")
umap_job = _umap_key()
# Slots that are always there, filled or not: when UMAP finishes, nothing below moves, so the browser keeps
# its widgets as they are (a class name typed but not yet submitted would be lost by a remount).
with st.container():
    if umap_job and get_projector().status(umap_job) != "done":
        _wait_for_umap(umap_job)
map_and_selection()
