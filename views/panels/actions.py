"""Label actions as every page runs them: the store's refusal shown where the user acted, success said by a
toast on the next run (the page reruns to show the new labels), and one undo for all pages."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from alviz.markup import md
from alviz.session import Session
from alviz.store import StoreError


def label_action(
    act: Callable[[], int],
    toast: str | Callable[[int], str] | None = None,
    then: Callable[[], None] | None = None,
) -> None:
    """Run ``act`` (a Session call that writes labels, returning how many). When it is refused (a bad class
    name: ValueError; the database away: StoreError, and nothing was written) show why and return; else leave
    ``toast`` (text, or made from the count) for the next run, run ``then`` and rerun the page."""
    try:
        n = act()
    except (ValueError, StoreError) as exc:
        st.error(md(exc))
        return
    if toast is not None:
        st.session_state["toast"] = toast(n) if callable(toast) else toast
    if then is not None:
        then()
    st.rerun()


def undo_button(sess: Session, key: str) -> None:
    """One "undo my last label action" for every page that labels: the user's own last action only, restoring
    what it replaced (an undone item goes back to where it was, e.g. the queue)."""
    if st.button("↶ Undo my last label action", key=key, help="Reverts your last label action, and only it."):
        label_action(sess.undo, lambda n: f"Undid your last action: {n} items restored." if n else "Nothing to undo.")
