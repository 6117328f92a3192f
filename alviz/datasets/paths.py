"""The data root: the one folder the app may load from (``ALVIZ_DATA_ROOT``), and the checks that keep loading
inside it. This is a security boundary: every path a user types goes through ``confine`` before it is opened."""

from __future__ import annotations

import os
from pathlib import Path

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


def data_root() -> Path | None:
    """``ALVIZ_DATA_ROOT`` (resolved): the only folder the app may load from; None means anywhere (one local user)."""
    root = os.environ.get("ALVIZ_DATA_ROOT", "").strip()
    return Path(root).expanduser().resolve() if root else None


def inside_data_root(path: Path) -> bool:
    """Whether ``path`` resolves (symlinks followed) inside the data root; always True without one."""
    root = data_root()
    return root is None or path.resolve().is_relative_to(root)


def confine(path: str | os.PathLike) -> Path:
    """``path`` (relative paths count from the data root), refused with ``ValueError`` when it resolves outside the
    data root: no way out through ``..`` or symlinks. Files that link outside are also skipped inside folders."""
    path = Path(path)
    root = data_root()
    if root is None:
        return path
    if not path.is_absolute():
        path = root / path
    if not path.resolve().is_relative_to(root):
        raise ValueError(
            f"{str(path)!r} is outside the data root {root} (ALVIZ_DATA_ROOT); choose a folder or file inside it."
        )
    return path


def wrong_kind(source: str | os.PathLike, kind: str) -> str | None:
    """Why ``source`` is not a ``kind`` ("folder" of images or "table"), or None when it may be one (or does not
    exist: loading says so). A table typed as an image folder, or a folder typed as a table, would otherwise load
    as the other kind."""
    try:
        path = confine(Path(source).expanduser())
        is_dir, is_file = path.is_dir(), path.is_file()
    except (ValueError, OSError):
        return None  # loading reports it
    name = Path(source).name or str(source)
    if kind == "folder" and is_file:
        other = "choose the table option" if path.suffix.lower() in TABLE_SUFFIXES else "give a folder"
        return f"'{name}' is a file, not a folder of images: {other}."
    if kind == "table" and is_dir:
        return f"'{name}' is a folder, not a CSV or Parquet table: choose the image folder option for a folder."
    return None
