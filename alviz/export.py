"""Export labels from the store to CSV, Parquet or JSON, with who gave each label and when."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from alviz.store import Store, normalize_url

FORMATS = (".csv", ".parquet", ".json")


def labels_frame(store: Store, project: str | None = None, history: bool = False) -> pd.DataFrame:
    """Current labels (the latest event per item, unlabeled items dropped), or every event if ``history``."""
    pid = None
    if project is not None:
        if project not in store.project_names():
            raise ValueError(f"No project {project!r} in this database; it has {store.project_names()}.")
        pid = store.project(project)
    cols = ["project", "item_id", "label", "annotator", "source", "created_at", "action_id"]
    df = pd.DataFrame(store.events(pid), columns=cols)
    if history or df.empty:
        return df
    df = df.groupby(["project", "item_id"], sort=False).tail(1)
    return df[df["label"].notna()].reset_index(drop=True)


def export_labels(db: str, out: str | Path, project: str | None = None, history: bool = False) -> int:
    """Write the labels to ``out`` (format from its suffix); returns the number of rows written."""
    out = Path(out)
    if out.suffix not in FORMATS:
        raise ValueError(f"Export format comes from the file suffix: one of {FORMATS}; got {out.name!r}.")
    url = normalize_url(db)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        raise FileNotFoundError(f"No label database at {url.removeprefix('sqlite:///')}.")
    df = labels_frame(Store(url), project, history)
    df["created_at"] = pd.to_datetime(df["created_at"]).dt.strftime("%Y-%m-%dT%H:%M:%S.%f")
    if out.suffix == ".csv":
        df.to_csv(out, index=False)
    elif out.suffix == ".parquet":
        df.to_parquet(out, index=False)
    else:
        df.to_json(out, orient="records", indent=1)
    return len(df)
