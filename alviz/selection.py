"""Turn a Plotly selection event (as Streamlit hands it over) into pool row ids.

The map carries each point's global row id in ``customdata``; ``point_index`` counts within one trace
and collides across traces, so it is used only when no customdata came back. Streamlit gives either an
attribute-style object or, in AppTest and after a rerun, a plain dict; customdata arrives as a scalar,
a one-element list, or Plotly 7's ``{"0": id}``. All of that is handled here, in one pure function.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def _get(obj: Any, key: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(key)
    try:
        return obj[key]
    except (KeyError, TypeError, IndexError):
        return getattr(obj, key, None)


def _row_of(point: Any) -> int | None:
    cd = _get(point, "customdata")
    if isinstance(cd, Mapping):  # Plotly 7 px custom_data: {"0": id}
        cd = cd.get("0", next(iter(cd.values()), None))
    elif isinstance(cd, (list, tuple)):
        cd = cd[0] if cd else None
    if cd is None:
        cd = _get(point, "point_index")
        if cd is None:
            cd = _get(point, "pointIndex")
    try:
        value = float(cd)
    except (TypeError, ValueError):
        return None
    return int(value) if value.is_integer() else None


def rows_from_selection(event: Any, n_rows: int | None = None) -> np.ndarray:
    """Sorted unique row ids of the selected points; empty when nothing (or nothing valid) is selected."""
    points = _get(_get(event, "selection"), "points") or []
    rows = {r for r in (_row_of(p) for p in points) if r is not None and r >= 0}
    if n_rows is not None:
        rows = {r for r in rows if r < n_rows}
    return np.array(sorted(rows), dtype=np.int64)
