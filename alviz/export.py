"""Labels out of the store and into it: CSV, Parquet or JSON, with who gave each label and when."""

from __future__ import annotations

import io
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import pandas as pd

from alviz.store import OPINIONS, Store, normalize_url

FORMATS = (".csv", ".parquet", ".json")
# An import's size, checked before it is read in full (Parquet: from its metadata, i.e. after decompression):
# a few KB of compressed Parquet can otherwise expand to millions of rows and hold the write lock for minutes.
MAX_IMPORT_ROWS = int(os.environ.get("ALVIZ_MAX_IMPORT_ROWS") or 200_000)
MAX_IMPORT_BYTES = int(os.environ.get("ALVIZ_MAX_IMPORT_MB") or 64) * 2**20
# A spreadsheet runs a cell that starts with one of these as a formula; a CSV export prefixes it with "'"
# (and one more "'" on cells that already look escaped, so import can undo it exactly).
_FORMULA = re.compile(r"^'*[=+\-@\t\r]")
COLUMNS = ["project", "item_id", "label", "annotator", "source", "created_at", "action_id"]
# A full history also tells, per imported label attributed to its importer, whom the file named (empty otherwise).
HISTORY_COLUMNS = [*COLUMNS, "imported_from"]
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
    df = pd.DataFrame(store.events(pid), columns=HISTORY_COLUMNS if history else COLUMNS)
    if history or df.empty:
        return df
    df = df[~df["source"].isin(OPINIONS)]  # a QC second opinion is in the history, not a current label
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
        for col in df.columns:  # text columns; the map leaves numbers and times alone
            df[col] = df[col].map(lambda v: "'" + v if isinstance(v, str) and _FORMULA.match(v) else v)
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
    if not out.parent.is_dir():
        raise FileNotFoundError(f"No folder {out.parent} to write {out.name} into.")
    # A temporary file renamed into place: a full disk or a crash leaves the old file (or none), never half of one.
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(fd)
    try:
        write_labels(df, tmp, fmt)
        os.replace(tmp, out)
    except OSError as exc:
        raise OSError(f"Could not write {out}: {exc.strerror or exc}; nothing was written.") from None
    finally:
        Path(tmp).unlink(missing_ok=True)
    return len(df)


# ------------------------------------------------------------------------------------------------ import


class _TooBig(ValueError):
    def __init__(self, what: str) -> None:
        super().__init__(
            f"The labels file is too large to import: {what}. An import takes at most {MAX_IMPORT_ROWS:,} rows "
            f"and {MAX_IMPORT_BYTES / 2**20:.0f} MB (ALVIZ_MAX_IMPORT_ROWS, ALVIZ_MAX_IMPORT_MB): split it. "
            "Nothing was imported."
        )


def _read_raw(source: BinaryIO | str | Path, fmt: str) -> pd.DataFrame:
    """The file as a frame of data, refused before it is read in full when it is too large."""
    if isinstance(source, (str, Path)):
        size = Path(source).stat().st_size
    else:
        size = source.seek(0, io.SEEK_END)
        source.seek(0)
    if size > MAX_IMPORT_BYTES:
        raise _TooBig(f"{size / 2**20:.1f} MB")
    if fmt == ".parquet":
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(source).metadata
        unpacked = sum(meta.row_group(k).total_byte_size for k in range(meta.num_row_groups))
        if meta.num_rows > MAX_IMPORT_ROWS or unpacked > MAX_IMPORT_BYTES:
            raise _TooBig(f"{meta.num_rows:,} rows, {unpacked / 2**20:.1f} MB uncompressed")
        if not isinstance(source, (str, Path)):
            source.seek(0)
        return pd.read_parquet(source)
    if fmt == ".json":
        return pd.read_json(source, orient="records", dtype=False)
    chunks, n = [], 0
    for chunk in pd.read_csv(source, dtype=str, keep_default_na=False, na_values=[""], chunksize=50_000):
        n += len(chunk)
        if n > MAX_IMPORT_ROWS:
            raise _TooBig(f"more than {MAX_IMPORT_ROWS:,} rows")
        chunks.append(chunk)
    raw = pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame()
    # Undo the export's spreadsheet guard (see write_labels): "'=x" was written for "=x".
    for col in raw.columns:
        raw[col] = raw[col].map(lambda v: v[1:] if isinstance(v, str) and v[:1] == "'" and _FORMULA.match(v) else v)
    return raw


def _missing(v: object) -> bool:
    return pd.api.types.is_scalar(v) and bool(pd.isna(v))


def read_labels(source: str | Path | BinaryIO | bytes, fmt: str | None = None) -> pd.DataFrame:
    """A labels file as a frame with ``item_id``, ``label`` and, when the file has them, ``annotator`` and
    ``created_at`` (UTC). Rows without an item id or label, or with a NUL character, are dropped; their count is in
    ``df.attrs["skipped"]``. Item ids are kept exactly as written (spaces too); labels and names are trimmed.

    Accepts alviz's own exports and most hand-made tables (see ``IMPORT_ALIASES`` for the column names).
    Nothing in the file is executed or unpickled: CSV, Parquet and JSON are read as data only. Files larger
    than ``MAX_IMPORT_ROWS``/``MAX_IMPORT_BYTES`` and times that are not dates are refused with ``ValueError``.
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
        raw = _read_raw(source, fmt)
    except _TooBig:
        raise
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
    df["item_id"] = df["item_id"].map(lambda v: None if _missing(v) or not str(v).strip() else str(v))
    for field in ("label", "annotator"):
        if field in df:
            df[field] = df[field].map(lambda v: None if _missing(v) else str(v).strip() or None)
    if "created_at" in df:
        given = df["created_at"].map(lambda v: not _missing(v) and bool(str(v).strip()))
        df["created_at"] = pd.to_datetime(df["created_at"], utc=True, errors="coerce", format="mixed")
        bad = given & df["created_at"].isna()
        if bad.any():
            shown = raw[picked["created_at"]][bad].head(3)
            rows = ", ".join(f"row {k + 1}: {str(v)[:30]!r}" for k, v in shown.items())
            raise ValueError(
                f"{int(bad.sum())} rows have a time that is not a date ({rows}); fix or empty those cells. "
                "Nothing was imported."
            )
    keep = df["item_id"].notna() & df["label"].notna()
    for field in ("item_id", "label", "annotator"):  # PostgreSQL refuses NUL in text; SQLite would keep it
        if field in df:
            keep &= ~df[field].map(lambda v: isinstance(v, str) and "\0" in v).astype(bool)
    out = df[keep].reset_index(drop=True)
    out.attrs["skipped"] = int((~keep).sum())
    return out


def import_labels(
    store: Store,
    project: str,
    source: str | Path | BinaryIO | bytes,
    fmt: str | None = None,
    importer: str = "anonymous",
    keep_annotators: bool = False,
    pool_ids: Sequence[str] | None = None,
    classes: Sequence[str] = (),
) -> dict:
    """Read a labels file and store it in ``project`` as one undoable action of ``importer``.

    The labels are the importer's: a file cannot speak for someone else; each event keeps the file's annotator in
    ``imported_from``. Only with ``keep_annotators`` (an admin, or the command line, which reaches the database
    anyway) does each label keep the file's annotator as its own. Times from the file are kept. Returns counts:
    {"imported", "skipped", "annotators", "imported_from", "unknown_ids", "new_classes"}, where ``unknown_ids``
    counts ids not in ``pool_ids`` (when given) and ``new_classes`` the labels neither in ``classes`` nor already
    in the project.
    """
    df = read_labels(source, fmt)
    if df.empty:
        raise ValueError(
            f"The labels file has no rows with both an item id and a label ({df.attrs['skipped']} skipped)."
        )
    pid = store.project(project)
    known_classes = set(classes) | set(store.label_names(pid))
    # a blank cell is None or, in a string column, NaN: either way nobody
    named = [a if isinstance(a, str) else None for a in df["annotator"]] if "annotator" in df else None
    from_file = sorted({a for a in named if a}) if named else []
    annotators = named if keep_annotators else None
    given = None
    if "created_at" in df:
        given = [None if pd.isna(t) else t.to_pydatetime() for t in df["created_at"]]
    origin = None if keep_annotators else named
    store.import_labels(
        pid, df["item_id"].tolist(), df["label"].tolist(), annotators, given, importer=importer, imported_from=origin
    )
    who = sorted({a for a in (annotators or []) if a}) or [importer.strip() or "anonymous"]
    unknown = 0 if pool_ids is None else int((~df["item_id"].isin(set(pool_ids))).sum())
    return {
        "imported": len(df),
        "skipped": df.attrs["skipped"],
        "annotators": who,
        "imported_from": [] if keep_annotators else from_file,
        "unknown_ids": unknown,
        "new_classes": sorted(set(df["label"]) - known_classes),
    }


def import_summary(result: dict) -> str:
    """One line for people: "imported 312 labels, 4 for ids not in this pool, 1 new class (x)"."""
    parts = [f"imported {result['imported']:,} labels"]
    if result.get("skipped"):
        parts.append(f"skipped {result['skipped']:,} rows (no item id or label, or a NUL character)")
    if result.get("unknown_ids"):
        parts.append(f"{result['unknown_ids']:,} for ids not in this pool")
    if new := result.get("new_classes"):
        shown = ", ".join(new[:5]) + (" …" if len(new) > 5 else "")
        parts.append(f"{len(new)} new class{'es' if len(new) > 1 else ''} ({shown})")
    if result.get("imported_from"):
        parts.append(f"as yours, not as the file's annotators ({', '.join(result['imported_from'][:5])})")
    return ", ".join(parts)
