"""How items look on every page: an image pool shows pictures, a text pool the start of each text, a pool of
vectors only the ids. One place, so that a new kind of pool is taught to every page at once."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import streamlit as st

from alviz.gallery import montage
from alviz.markup import md
from alviz.pool import Pool

TEXTS_SHOWN = 20  # texts take a line each: more would push the page's controls out of sight


def show_items(
    pool: Pool,
    rows: Sequence[int] | np.ndarray,
    *,
    columns: int = 10,
    scale: int = 2,
    pad: int = 1,
    width: int | str = "content",
    chars: int = 200,
    caption: str | None = None,
    ids: bool = True,
) -> None:
    """``rows`` of ``pool``: images tiled in one picture (cheaper to send than one each) with ``caption`` under
    it, else the first ``chars`` characters of each text, else (with ``ids``) the ids. ``chars=0`` or
    ``ids=False`` leave that kind out where the page shows it already."""
    rows = np.atleast_1d(np.asarray(rows, dtype=np.int64))
    if len(rows) == 0:
        return
    if pool.images is not None:
        st.image(montage(pool.images[rows], columns=columns, scale=scale, pad=pad), caption=caption, width=width)
    elif pool.texts is not None and chars:
        for r in rows[:TEXTS_SHOWN]:
            st.text(str(pool.texts[r])[:chars])
    elif pool.texts is None and ids:
        st.caption(" · ".join(md(str(pool.ids[r])) for r in rows))


def item_card(pool: Pool, row: int, scale: int = 4, chars: int = 300) -> None:
    """One item as a small card: its image or the start of its text, then its id."""
    show_items(pool, [row], scale=scale, pad=0, chars=chars, ids=False)
    st.caption(f"id {md(pool.ids[row])}")
