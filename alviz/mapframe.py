"""The map's wire format: what Python sends the browser map (alviz/web/map.js) and how its selection comes back.

The browser keeps the points. A frame carries the coordinates only when the layout changed (or the browser
asked for a resync), and per-point colors as one uint8 code each: in full once, then as a versioned delta of
the rows whose code changed. A frame is ``b"AVZ1"``, a little-endian uint32 header length, a JSON header, then
the arrays, each 4-byte aligned and named in ``header["arrays"]``. The selection comes back as sorted uint32
ids or an N-bit mask (LSB first), base64, whichever was smaller. No Streamlit here: views/panels/map.py mounts it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from alviz.figures import class_color, tint

MAGIC = b"AVZ1"
IDS_MAX_BYTES = 4_000_000  # item ids travel with the coordinates up to this size; beyond, hover shows row numbers
_DTYPES = {"f4": np.float32, "u4": np.uint32, "u1": np.uint8}
_CODES = {np.dtype(v): k for k, v in _DTYPES.items()}
_VIRIDIS = (
    "#440154",
    "#482878",
    "#3e4989",
    "#31688e",
    "#26828e",
    "#1f9e89",
    "#35b779",
    "#6ece58",
    "#b5de2b",
    "#fde725",
)
VALUE_LEVELS = 254  # codes 0..253 for values, 254 for a missing value
CLASS_SLOTS = 126  # class codes: c, pseudo c + 126, unlabeled 252; more classes share colors
# Unlabeled points are drawn darker than the legend's grey: piles of them read as density up to 1M points.
MAP_UNLABELED = "#a6a6a6"


def encode_frame(header: dict, arrays: Mapping[str, np.ndarray]) -> bytes:
    """One binary frame: magic, header length, JSON header (with the array table), 4-byte aligned arrays.

    Array offsets count from the start of the data section, the first 4-byte boundary after the header.
    """
    table, blobs, offset = [], [], 0
    for name, arr in arrays.items():
        arr = np.ascontiguousarray(arr)
        raw = arr.tobytes()
        table.append({"name": name, "dtype": _CODES[arr.dtype], "offset": offset, "nbytes": len(raw)})
        blobs.append(raw + b"\0" * ((-len(raw)) % 4))
        offset += len(blobs[-1])
    head = json.dumps({**header, "arrays": table}, separators=(",", ":")).encode()
    prefix = MAGIC + len(head).to_bytes(4, "little") + head
    return prefix + b"\0" * ((-len(prefix)) % 4) + b"".join(blobs)


def decode_frame(data: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """The header and named arrays of a frame (the browser's reading of it, for tests and benchmarks)."""
    if data[:4] != MAGIC:
        raise ValueError("not an alviz map frame")
    n = int.from_bytes(data[4:8], "little")
    header = json.loads(data[8 : 8 + n])
    start = 8 + n + (-(8 + n)) % 4
    arrays = {}
    for t in header["arrays"]:
        dtype = np.dtype(_DTYPES[t["dtype"]])
        arrays[t["name"]] = np.frombuffer(data, dtype, t["nbytes"] // dtype.itemsize, start + t["offset"])
    return header, arrays


def decode_selection(payload: Any, n: int) -> np.ndarray | None:
    """Sorted pool rows of a selection the map sent back; None when it belongs to a pool of another size."""
    if not isinstance(payload, Mapping) or int(payload.get("n", -1)) != n:
        return None
    raw = base64.b64decode(payload.get("b64") or "")
    if payload.get("enc") == "bits":
        bits = np.unpackbits(np.frombuffer(raw, np.uint8), bitorder="little")[:n]
        return np.flatnonzero(bits).astype(np.int64)
    rows = np.frombuffer(raw, "<u4").astype(np.int64)
    return np.unique(rows[rows < n])


def _ids_may_fit(ids: np.ndarray) -> bool:
    """Whether the joined ids may fit, estimated from the shortest of the first 1,000: at 1M ids, joining them
    only to find them too big cost a third of a second per layout (hover then shows row numbers)."""
    ids = np.asarray(ids)
    if ids.dtype.kind != "U" or len(ids) == 0:
        return len(ids) * 2 <= IDS_MAX_BYTES
    shortest = int(np.char.str_len(ids[: min(len(ids), 1000)]).min())
    return len(ids) * (shortest + 1) <= IDS_MAX_BYTES


@dataclass
class Coloring:
    """One uint8 code per point and what the codes mean: palette colors, drawing weights, legend or colorbar."""

    codes: np.ndarray
    palette: list[str]
    weights: list[float]
    legend: list[dict] = field(default_factory=list)
    colorbar: dict | None = None


def class_coloring(
    classes: np.ndarray, names: list[str], pseudo: tuple[np.ndarray, np.ndarray] | None = None
) -> Coloring:
    """Codes for class labels (-1 = unlabeled, grey), with pseudo-labeled rows in a pale tint of their class."""
    classes = np.asarray(classes)
    slots = min(max(len(names), 1), CLASS_SLOTS)
    unlabeled = 2 * CLASS_SLOTS
    codes = np.full(len(classes), unlabeled, np.uint8)
    has = classes >= 0
    codes[has] = (classes[has] % slots).astype(np.uint8)
    pseudo_count = 0
    if pseudo is not None and len(pseudo[0]):
        rows, pc = np.asarray(pseudo[0]), np.asarray(pseudo[1])
        free = ~has[rows]
        codes[rows[free]] = (CLASS_SLOTS + pc[free] % slots).astype(np.uint8)
        pseudo_count = int(free.sum())
    palette = [MAP_UNLABELED] * (2 * CLASS_SLOTS + 1)
    weights = [0.45] * len(palette)
    for c in range(slots):
        palette[c], weights[c] = class_color(c), 1.0
        palette[CLASS_SLOTS + c], weights[CLASS_SLOTS + c] = tint(class_color(c)), 0.6
    counts = np.bincount(classes[has], minlength=len(names)) if has.any() else np.zeros(len(names), int)
    legend = [{"label": f"{names[c]} ({counts[c]:,})", "color": class_color(c % slots)} for c in np.flatnonzero(counts)]
    if pseudo_count:
        legend.append({"label": f"pseudo-labeled, pale ({pseudo_count:,})", "color": tint("#555555")})
    if (~has).sum() - pseudo_count > 0:
        legend.append({"label": f"unlabeled ({int((~has).sum()) - pseudo_count:,})", "color": MAP_UNLABELED})
    return Coloring(codes, palette, weights, legend)


def _viridis(levels: int) -> list[str]:
    stops = np.array([[int(h[i : i + 2], 16) for i in (1, 3, 5)] for h in _VIRIDIS], float)
    t = np.linspace(0, len(stops) - 1, levels)
    lo = np.floor(t).astype(int).clip(0, len(stops) - 2)
    rgb = stops[lo] + (stops[lo + 1] - stops[lo]) * (t - lo)[:, None]
    return [f"#{r:02x}{g:02x}{b:02x}" for r, g, b in np.rint(rgb).astype(int)]


def value_coloring(values: np.ndarray, name: str) -> Coloring:
    """Codes for a continuous score on a viridis scale from its minimum to its maximum (NaN: grey)."""
    v = np.asarray(values, np.float32)
    finite = np.isfinite(v)
    lo, hi = (float(v[finite].min()), float(v[finite].max())) if finite.any() else (0.0, 1.0)
    scaled = (v - lo) / ((hi - lo) or 1.0)
    codes = np.full(len(v), VALUE_LEVELS, np.uint8)
    codes[finite] = np.rint(scaled[finite] * (VALUE_LEVELS - 1)).astype(np.uint8)
    palette = [*_viridis(VALUE_LEVELS), MAP_UNLABELED]
    colorbar = {"name": name, "min": f"{lo:.3g}", "max": f"{hi:.3g}", "stops": list(_VIRIDIS)}
    return Coloring(codes, palette, [1.0] * VALUE_LEVELS + [0.45], [], colorbar)


@dataclass
class Ring:
    """Rows drawn with an open ring on top of the points (the last query, similar items)."""

    name: str
    color: str
    rows: np.ndarray


class MapFeed:
    """What one browser has of the map, and the next frame that brings it up to date.

    The feed assumes the browser applied every frame it built; when it did not (a rerun cut short, the page
    remounted the map), the map asks for a resync and ``reset`` makes the next frame a full one.
    """

    def __init__(self) -> None:
        self.layout: str | None = None
        self.codes: np.ndarray | None = None
        self.codes_ver = 0
        self.seq = 0
        self.clear = 0
        self.ack = 0  # the last selection token the server received (the map shows it: a round-trip probe)
        self._last: tuple | None = None

    def reset(self) -> None:
        self.layout, self.codes = None, None

    def clear_selection(self) -> None:
        """The next frame tells the map to drop its selection (after the selected items were labeled)."""
        self.clear += 1

    def frame(
        self,
        layout: str,
        Z: np.ndarray,
        coloring: Coloring,
        rings: list[Ring] | tuple[Ring, ...] = (),
        ids: np.ndarray | None = None,
    ) -> bytes:
        """The next frame: coordinates (and ids) only for a layout the browser lacks, codes whole or as a delta
        against what it has, and the small header (palette, legend, rings, selection clear and ack) always."""
        arrays: dict[str, np.ndarray] = {}
        codes = np.asarray(coloring.codes, np.uint8)
        base = self.codes_ver
        if layout != self.layout or self.codes is None or len(self.codes) != len(Z):
            Z = np.asarray(Z, np.float32)
            arrays["x"], arrays["y"] = Z[:, 0], Z[:, 1]
            if ids is not None and _ids_may_fit(ids):
                text = "\n".join(map(str, ids)).encode()
                if len(text) <= IDS_MAX_BYTES:
                    arrays["ids"] = np.frombuffer(text, np.uint8)
            self.layout = layout
            arrays["codes"] = codes
            self.codes_ver += 1
        else:
            changed = np.flatnonzero(codes != self.codes)
            if len(changed) * 5 >= len(codes):
                arrays["codes"] = codes
                self.codes_ver += 1
            elif len(changed):
                arrays["delta_rows"] = changed.astype(np.uint32)
                arrays["delta_codes"] = codes[changed]
                self.codes_ver += 1
        if "codes" in arrays or "delta_rows" in arrays:
            self.codes = codes.copy()
        ring_meta = []
        for i, ring in enumerate(rings):
            arrays[f"ring{i}"] = np.asarray(ring.rows, np.uint32)
            ring_meta.append({"name": ring.name, "color": ring.color})
        legend = coloring.legend + [{"label": r.name, "color": r.color, "ring": True} for r in rings]
        header = {
            "layout": layout,
            "codes_ver": self.codes_ver,
            "codes_base": base,
            "palette": coloring.palette,
            "weights": coloring.weights,
            "legend": legend,
            "colorbar": coloring.colorbar,
            "rings": ring_meta,
            "clear_selection": self.clear,
            "ack": self.ack,
        }
        ring_bytes = b"".join(np.asarray(r.rows, np.uint32).tobytes() for r in rings)
        # codes_base only matters to a delta: a frame that brings nothing new keeps its sequence number
        state = (json.dumps({**header, "codes_base": None}, sort_keys=True), ring_bytes)
        if "codes" in arrays or "delta_rows" in arrays or state != self._last:
            self.seq += 1
        self._last = state
        return encode_frame({**header, "seq": self.seq}, arrays)
