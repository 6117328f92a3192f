"""The Explore map as a Streamlit component (components v2, no iframe) that keeps its points in the browser.

The frames come from ``alviz.mapframe.MapFeed``: coordinates once per browser and layout, then only what
changed. The map's selection comes back as a trigger (so it is not echoed on every later rerun) and is kept
here, in ``st.session_state[<key>_rows]``, until it is cleared or labeled; AppTest sets that key directly.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import streamlit as st

from alviz.mapframe import Coloring, MapFeed, Ring, decode_selection


def _asset(name: str) -> str:
    return resources.files("alviz").joinpath("web", name).read_text(encoding="utf-8")


@st.cache_resource(show_spinner=False)
def _component():
    return st.components.v2.component("alviz_map", html=_asset("map.html"), css=_asset("map.css"), js=_asset("map.js"))


def _feed(key: str) -> MapFeed:
    return st.session_state.setdefault(f"{key}_feed", MapFeed())


def _on_select(key: str, n: int) -> None:
    payload = (st.session_state.get(key) or {}).get("select")
    rows = decode_selection(payload, n)
    if rows is not None:
        _feed(key).ack = int(payload.get("token", 0))
        st.session_state[f"{key}_rows"] = rows


def _on_resync(key: str) -> None:
    _feed(key).reset()


def _on_pick(key: str) -> None:
    pick = (st.session_state.get(key) or {}).get("pick")
    if pick is not None:
        st.session_state[f"{key}_pick"] = int(pick["row"])


def selected_rows(key: str, n: int) -> np.ndarray:
    """The rows selected on the map (sorted, unique, within a pool of n items); empty when nothing is."""
    rows = np.unique(np.asarray(st.session_state.get(f"{key}_rows", []), dtype=np.int64))
    return rows[(rows >= 0) & (rows < n)]


def picked_row(key: str) -> int | None:
    """The row last clicked on the map, if any."""
    return st.session_state.get(f"{key}_pick")


def remounted(key: str) -> None:
    """The page was left and entered again: the browser built a new map with nothing in it, so the next frame
    is a whole one (instead of a small one, a resync request and a second rerun)."""
    _feed(key).reset()


def clear_selection(key: str) -> None:
    """Forget the selection here and, with the next frame, in the browser."""
    st.session_state.pop(f"{key}_rows", None)
    _feed(key).clear_selection()


def point_map(
    key: str,
    layout: str,
    Z: np.ndarray,
    coloring: Coloring,
    rings: list[Ring] | tuple[Ring, ...] = (),
    ids: np.ndarray | None = None,
) -> None:
    """Mount the map; what it sends back is read with ``selected_rows`` / ``picked_row``."""
    n = len(Z)
    frame = _feed(key).frame(layout, Z, coloring, rings, ids)
    _component()(
        data=frame,
        key=key,
        on_select_change=lambda: _on_select(key, n),
        on_resync_change=lambda: _on_resync(key),
        on_pick_change=lambda: _on_pick(key),
    )
