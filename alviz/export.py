"""Labels out of the store and into it: CSV, Parquet or JSON, with who gave each label and when."""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

import pandas as pd

from alviz.store import Store, normalize_url

FORMATS = (".csv", ".parquet", ".json")
COLUMNS = ["project", "item_id", "label", "annotator", "source", "created_at", "action_id"]
MIME = {".csv": "text/csv", ".parquet": "application/vnd.apache.parquet", ".json": "application/json"}
# Column names an imported file may use for each field (first match wins, case-insensitive).
IMPORT_ALIASES = {
    "item_id": ("item_id", "id", "item", "file", "path", "filename"),
    "label": ("label", "class", "class_name", "category"),
    "annotator": ("annotator", "user", "labeler", "labeller", "rater"),
    "created_at": ("created_at", "time", "timestamp", "labeled_at", "date"),
}


def labels_frame(store: Store, project: str | None = None, history: bool = False) -> pd.DataFrame:
    """Current labels (the latest event per item, unlabeled items dropped), or every event if ``history``."""
    pid = None
    if project is not None:
        if project not in store.project_names():
            raise ValueError(f"No project {project!r} in this database; it has {store.project_names()}.")
        pid = store.project(project)
    df = pd.DataFrame(store.events(pid), columns=COLUMNS)
    if history or df.empty:
        return df
    df = df.groupby(["project", "item_id"], sort=False).tail(1)
    return df[df["label"].notna()].reset_index(drop=True)


def _suffix(fmt: str) -> str:
    fmt = fmt if fmt.startswith(".") else f".{fmt}"
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise ValueError(f"Export format comes from the file suffix: one of {FORMATS}; got {fmt!r}.")
    return fmt


def write_labels(df: pd.DataFrame, out: str | Path | BinaryIO, fmt: str) -> None:
    """Write a labels frame as CSV, Parquet or JSON (records); times as ISO 8601 UTC."""
    fmt = _suffix(fmt)
    df = df.copy()
    df["created_at"] = pd.to_datetime(df["created_at"], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if fmt == ".csv":
        df.to_csv(out, index=False)
    elif fmt == ".parquet":
        df.to_parquet(out, index=False)
    else:
        text = df.to_json(orient="records", indent=1)
        if isinstance(out, (str, Path)):
            Path(out).write_text(text)
        else:
            out.write(text.encode())


def labels_bytes(store: Store, project: str | None, fmt: str, history: bool = False) -> bytes:
    """The export as bytes (for a download button)."""
    buf = io.BytesIO()
    write_labels(labels_frame(store, project, history), buf, fmt)
    return buf.getvalue()


def export_labels(db: str, out: str | Path, project: str | None = None, history: bool = False) -> int:
    """Write the labels to ``out`` (format from its suffix); returns the number of rows written."""
    out = Path(out)
    fmt = _suffix(out.suffix)
    url = normalize_url(db)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        raise FileNotFoundError(f"No label database at {url.removeprefix('sqlite:///')}.")
    store = Store(url)
    try:
        df = labels_frame(store, project, history)
    finally:
        store.close()
    write_labels(df, out, fmt)
    return len(df)


# ------------------------------------------------------------------------------------------------ import


def read_labels(source: str | Path | BinaryIO | bytes, fmt: str | None = None) -> pd.DataFrame:
    """A labels file as a frame with ``item_id``, ``label`` and, when the file has them, ``annotator`` and
    ``created_at`` (UTC). Rows without an item id or label are dropped; their count is in ``df.attrs["skipped"]``.

    Accepts alviz's own exports and most hand-made tables (see ``IMPORT_ALIASES`` for the column names).
    Nothing in the file is executed or unpickled: CSV, Parquet and JSON are read as data only.
    """
    if fmt is None:
        if not isinstance(source, (str, Path)):
            raise ValueError("Give the format (csv, parquet or json) when reading from memory.")
        fmt = Path(source).suffix
    fmt = _suffix(fmt)
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    if isinstance(source, (str, Path)) and not Path(source).is_file():
        raise FileNotFoundError(f"No labels file at {source}.")
    try:
        if fmt == ".csv":
            raw = pd.read_csv(source, dtype=str, keep_default_na=False, na_values=[""])
        elif fmt == ".parquet":
            raw = pd.read_parquet(source)
        else:
            raw = pd.read_json(source, orient="records", dtype=False)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"Could not read the labels file as {fmt[1:].upper()}: {exc}") from None
    lower = {str(c).strip().lower(): c for c in raw.columns}
    picked = {}
    for field, names in IMPORT_ALIASES.items():
        found = next((lower[n] for n in names if n in lower), None)
        if found is not None:
            picked[field] = found
    missing = [f for f in ("item_id", "label") if f not in picked]
    if missing:
        raise ValueError(
            f"A labels file needs an item id and a label column; found no {' or '.join(missing)} column among "
            f"{[str(c) for c in raw.columns]} (accepted names: "
            + "; ".join(f"{f}: {', '.join(IMPORT_ALIASES[f])}" for f in missing)
            + ")."
        )
    df = pd.DataFrame({field: raw[col] for field, col in picked.items()})
    for field in ("item_id", "label", "annotator"):
        if field in df:
            df[field] = df[field].map(lambda v: None if pd.isna(v) else str(v).strip() or None)
    if "created_at" in df:
        df["created_at"] = pd.to_datetime(df["created_at"], utc=True, errors="coerce", format="mixed")
    keep = df["item_id"].notna() & df["label"].notna()
    out = df[keep].reset_index(drop=True)
    out.attrs["skipped"] = int((~keep).sum())
    return out


def import_labels(
    store: Store,
    project: str,
    source: str | Path | BinaryIO | bytes,
    fmt: str | None = None,
    importer: str = "anonymous",
) -> dict:
    """Read a labels file and store it in ``project`` as one undoable action of ``importer``.

    Each label keeps its annotator and time from the file when it has them. Returns counts:
    {"imported", "skipped", "annotators"}.
    """
    df = read_labels(source, fmt)
    if df.empty:
        raise ValueError(
            f"The labels file has no rows with both an item id and a label ({df.attrs['skipped']} skipped)."
        )
    pid = store.project(project)
    annotators = df["annotator"].tolist() if "annotator" in df else None
    given = None
    if "created_at" in df:
        given = [None if pd.isna(t) else t.to_pydatetime() for t in df["created_at"]]
    store.import_labels(pid, df["item_id"].tolist(), df["label"].tolist(), annotators, given, importer=importer)
    who = sorted({a for a in (annotators or []) if a}) or [importer.strip() or "anonymous"]
    return {"imported": len(df), "skipped": df.attrs["skipped"], "annotators": who}
