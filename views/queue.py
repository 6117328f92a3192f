"""Queue page: the items a strategy picks next, each with the model's suggestion to accept or correct."""

from __future__ import annotations

import numpy as np
import streamlit as st

from alviz import strategies
from alviz.markup import md
from alviz.session import LOOK_ALIKES, Session
from views.panels.actions import label_action, undo_button
from views.panels.items import item_card, show_items
from views.panels.keys import last_key
from views.panels.qc import SAVED, blind_picker, qc_grid, qc_header, qc_order
from views.panels.shared import require_session, strategy_names

sess: Session = require_session()
pool = sess.pool
st.header("Queue")
qc = qc_order(sess)  # items routed here for a blind second label (Team page), when any: shown and keyed first
qc_box = st.container(border=True) if qc else None

c1, c2, c3 = st.columns([2, 1, 1])
names = strategy_names()
strategy = c1.selectbox(
    "Strategy",
    names,
    index=names.index("auto"),
    key="queue_strategy",
    help="\n".join(f"- **{info.name}**: {info.description}" for info in strategies.ordered()),
)
k = int(c2.number_input("Items", 1, 100, 10, key="queue_k"))
refill = st.session_state.pop("queue_stale", False) and "queue" in st.session_state
if c3.button("Fill queue", type="primary", key="fill_queue") or "queue" not in st.session_state or refill:
    try:
        st.session_state["queue"] = sess.query(strategy, k, seed=sess.n_labeled).tolist()
        st.session_state["queue_from"] = strategy
    except ValueError as exc:
        st.session_state["queue"] = []
        st.error(md(exc))

if sess.proba is None:
    st.caption(
        "No model yet, so the uncertainty strategies pick at random and there are no suggestions. "
        "Label two classes and retrain (Train page)."
    )

# the picked list stays whole: an answered item leaves the page, an undone one comes back in its place
queue = [r for r in st.session_state.get("queue", []) if not sess.labeled[r]]
undo_button(sess, "queue_undo")
if not queue:
    st.success("The queue is empty. Fill it again to get the next items.")
else:
    picked_by = st.session_state.get("queue_from", strategy)  # a strategy, or "difficulty (cluster 3)"
    info = strategies.INFO.get(picked_by)
    st.caption(f"{len(queue)} items picked by **{picked_by}**" + (f": {info.description}." if info else "."))
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
        "Nearest labeled items: " + " · ".join(f"{md(n['label'])} (distance {n['distance']:.2f})" for n in neighbors)
    )
    show_items(pool, [n["row"] for n in neighbors], columns=len(neighbors), chars=0, ids=False)  # named above


def _controls(row: int, show_suggestion: bool = True) -> None:
    """Accept the suggestion, or pick another class: the mouse way to answer."""
    suggestion = None if proba is None else int(np.argmax(proba[row]))
    if suggestion is not None:
        name = sess.class_names[suggestion]
        if show_suggestion:
            st.markdown(f"Suggestion: **{md(name)}** ({proba[row, suggestion]:.0%})")
        if st.button(f"Accept {md(name)}", key=f"accept_{row}", type="primary"):
            label_action(lambda: sess.answer(row, name, suggestion))
    options = list(sess.class_names) or ["(type a class on the Explore page first)"]
    # without a model nothing is preselected: "Set label" must not store a class nobody chose
    pick = st.selectbox(
        "Correct to",
        options,
        key=f"pick_{row}",
        index=suggestion,
        placeholder="Choose a class…",
        label_visibility="collapsed",
    )
    if st.button("Set label", key=f"set_{row}", disabled=not sess.class_names or pick is None):
        label_action(lambda: sess.answer(row, pick, suggestion))


def _focus(row: int, blind: bool = False) -> None:
    """The first item, big, answered with the keyboard: Enter accepts, 1-9 and 0 pick a class, s skips.
    ``blind``: a quality-check item, with no suggestion, whose answer is stored as a second opinion."""
    digits = [str((i + 1) % 10) for i in range(min(10, len(sess.class_names)))]
    suggestion = None if proba is None or blind else int(np.argmax(proba[row]))
    item = str(pool.ids[row])
    press = last_key(["Enter", "s", *digits], key="queue_keys", item=item)
    if press and press.get("n") != st.session_state.get("keys_seen"):
        st.session_state["keys_seen"] = press.get("n")
        key = press.get("key")
        if press.get("item") not in (None, item):  # pressed on a card already answered: never the next one
            st.session_state["toast"] = f"Ignored “{md(key)}”: it was pressed for id {md(press['item'])}."
            st.rerun()
        if key == "Enter" and suggestion is not None:
            name = sess.class_names[suggestion]
            label_action(lambda: sess.answer(row, name, suggestion), f"Enter: id {md(item)} → {md(name)}")
        elif key in digits:
            name = sess.class_names[digits.index(key)]
            said = f"{key}: id {md(item)} → {md(name)}" + (f". {SAVED}" if blind else "")
            label_action(lambda: sess.answer(row, name, suggestion, blind=blind), said)
        elif key == "s" and blind:
            st.session_state["qc_skipped"] = [*(r for r in st.session_state.get("qc_skipped", []) if r != row), row]
            st.rerun()
        elif key == "s":
            full = [r for r in st.session_state["queue"] if r != row]  # answered items stay, for undo
            st.session_state["queue"] = [*full, row]
            st.rerun()
    with st.container(border=True):
        left, right = st.columns([1, 3])
        with left:
            show_items(pool, [row], scale=8, pad=0, chars=600, ids=False)  # the id is on the right
        with right:
            st.caption(f"Now{' (quality check)' if blind else ''}: id {md(pool.ids[row])}")
            if suggestion is not None:
                st.markdown(
                    f"Suggestion: **{md(sess.class_names[suggestion])}** ({proba[row, suggestion]:.0%}) "
                    "· press **Enter** to accept"
                )
            keys = " · ".join(f"**{d}** {md(n)}" for d, n in zip(digits, sess.class_names, strict=False))
            st.markdown(f"{keys} · **s** skip" if keys else "Label a class on the Explore page first.")
            if blind:
                blind_picker(sess, row)
                return
            with st.popover("Why this item?"):
                _why(row)
            _controls(row, show_suggestion=False)
    _look_alikes(row)


def _look_alikes(row: int) -> None:
    """The item with its nearest unlabeled look-alikes: one action labels them all when they show one class."""
    with st.expander("Label it with its look-alikes"):
        n = int(st.columns([1, 4])[0].number_input("Look-alikes", 1, 200, LOOK_ALIKES, key="look_alikes_n"))
        try:
            group = sess.look_alikes(row, n)
        except ValueError as exc:
            st.error(md(exc))
            return
        st.caption(
            f"This item (first) and the {len(group) - 1} unlabeled items nearest to it in the embedding. "
            "When they all show one class, label them in one action; when not, answer the item alone above."
        )
        show_items(pool, group, scale=3)
        if not sess.class_names:
            st.caption("Label a class on the Explore page first.")
            return
        left, right = st.columns([3, 1])
        name = left.selectbox(
            "Class",
            sess.class_names,
            index=sess.confident_class(group),  # empty unless the model is sure of the whole group
            placeholder="Choose the class of all of them…",
            key=f"look_alikes_class_{row}",
            label_visibility="collapsed",
            help="Starts empty unless at least 90% of the group is predicted one class with mean confidence >= 0.9.",
        )
        if right.button(f"Label all {len(group)}", key="look_alikes_label", type="primary", disabled=not name):
            label_action(  # unverified one by one: disputable like a lasso, hence "bulk"
                lambda: sess.label(group, name, source="bulk"), lambda n: f"Labeled {n:,} items as “{md(name)}”."
            )


if qc_box is not None:
    with qc_box:
        qc_header(len(qc))
        _focus(qc[0], blind=True)
        qc_grid(sess, qc[1:])
if not queue:
    st.stop()
if not qc:
    _focus(queue[0])
if proba is not None:
    shown = np.asarray(queue)
    if st.button(
        f"Accept all {len(shown)} suggestions",
        key="bulk_accept",
        help="One action for the whole page: correct the wrong ones first. Undo reverts it whole.",
    ):
        suggested = [sess.class_names[c] for c in proba[shown].argmax(axis=1)]
        label_action(lambda: sess.label_each(shown, suggested, "accepted"), f"Accepted {len(shown)} suggestions.")
rest = queue if qc else queue[1:]  # under quality checks the keys are theirs: the queue is answered by mouse
if rest:
    st.caption("The queue (keys resume after the quality checks)" if qc else "Up next (click to answer out of order)")

PER_ROW = 5
for start in range(0, len(rest), PER_ROW):
    cols = st.columns(PER_ROW)
    for col, row in zip(cols, rest[start : start + PER_ROW], strict=False):
        with col.container(border=True):
            item_card(pool, row)
            with st.popover("Why this item?"):
                _why(row)
            _controls(row)
