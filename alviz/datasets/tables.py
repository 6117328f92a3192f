"""Tables of items: a CSV or Parquet file (precomputed embeddings, or texts) and an ``.npz`` with ``X``/``y``.

``load_table`` reads the file (``_read_table``), decides which column plays which part and refuses what cannot
work (``_table_roles``), then builds the pool's arrays with notes on what was used and what was left out
(``_table_pool``).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from alviz.datasets.arrays import read_arrays
from alviz.datasets.paths import TABLE_SUFFIXES, confine
from alviz.pool import UNLABELED, Pool

MIN_ITEMS = 3  # fewer items make no 2-D map (PCA needs 3) and nothing to learn from


def _labels_to_index(values: Sequence, missing: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Map label values to 0..C-1 (missing -> -1); numbers sort numerically, strings alphabetically."""
    present = [v for v, m in zip(values, missing, strict=True) if not m]
    if all(isinstance(v, (int, float, np.integer, np.floating)) for v in present):
        nums = np.asarray(present, dtype=np.float64)
        if not np.all(nums == np.round(nums)):
            raise ValueError("Label column has non-integer numbers; expected class labels (integers or strings).")
        uniq = np.unique(nums.astype(np.int64))
        keys = {float(u): i for i, u in enumerate(uniq)}
        y = [UNLABELED if m else keys[float(v)] for v, m in zip(values, missing, strict=True)]
        return np.asarray(y, dtype=np.int64), [str(u) for u in uniq]
    names = sorted({str(v) for v in present})
    keys = {n: i for i, n in enumerate(names)}
    return np.asarray(
        [UNLABELED if m else keys[str(v)] for v, m in zip(values, missing, strict=True)], dtype=np.int64
    ), names


def _listed(names: Sequence[str], most: int = 10) -> str:
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def _ignored_column_notes(df, names: list[str], ids: np.ndarray, by_id: bool) -> list[str]:
    """Why each of the table's columns ``names`` is not an embedding dimension: true/false values, text, or
    numbers but for a few cells, naming those cells' rows (by id, else by row number counted from 0)."""
    import pandas as pd

    notes = []
    for c in names:
        col = df[c]
        if pd.api.types.is_bool_dtype(col):
            notes.append(f"Ignored column '{c}': true/false values, not embedding numbers.")
            continue
        present = col.notna().to_numpy() & col.astype(str).str.strip().ne("").to_numpy()
        bad = present & pd.to_numeric(col, errors="coerce").isna().to_numpy()
        if bad.sum() < present.sum() - bad.sum():  # mostly numbers: say which cells keep it out
            rows = np.flatnonzero(bad)
            cells = [f"{ids[r]} ({str(col.iloc[r])[:20]!r})" for r in rows]
            where = "rows with id" if by_id else "rows (numbered from 0 after the header)"
            notes.append(
                f"Ignored column '{c}': numeric except {len(rows)} cells, in {where} {_listed(cells)}; "
                "make those cells numbers to use the column."
            )
        else:
            notes.append(f"Ignored column '{c}': text, not numbers.")
    return notes


def load_table(
    path: str | os.PathLike,
    id_column: str | None = None,
    label_column: str | None = None,
    feature_columns: list[str] | None = None,
    text_column: str | None = None,
) -> Pool:
    """A CSV or Parquet table, one row per item: of precomputed embeddings, or of texts.

    id: ``id_column``, else a column named "id", else the row number. Label (ground truth, optional):
    ``label_column``, else a column named "label"; empty cells mean unknown.

    Text: ``text_column``, else a column named "text", makes a text pool (embedded by ``tfidf`` or ``minilm``).
    Rows whose text is empty are dropped, with a note naming them: there is nothing to embed or to show. A text
    pool takes embedding columns only when ``feature_columns`` names them.

    Features (without a text column): ``feature_columns``, else every numeric column other than the id and label;
    notes then list the columns used and, with the reason, those ignored.

    Fewer than ``MIN_ITEMS`` rows are refused: they make no map.
    """
    path = Path(path)
    df = _read_table(path)
    roles = _table_roles(df, path.name, id_column, label_column, feature_columns, text_column)
    return _table_pool(path, df, roles)


def _read_table(path: Path):
    """The table as a DataFrame whose column names are strings; refused unless a CSV or Parquet file with rows."""
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ValueError(f"Expected a .csv or .parquet file; got {path.name!r}.")
    if not path.is_file():
        raise FileNotFoundError(f"Table not found: {path}")
    df = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    if df.empty:
        raise ValueError(f"{path.name} has no rows.")
    df.columns = [str(c) for c in df.columns]
    return df


@dataclass
class _Roles:
    """Which of a table's columns play which part, and notes that say what was chosen."""

    id: str | None
    label: str | None
    text: str | None
    features: list[str]
    picked: bool  # features chosen by alviz (every numeric column), not named by the caller
    ignored: list[str] = field(default_factory=list)  # columns that play no part, when features were picked
    notes: list[str] = field(default_factory=list)


def _table_roles(
    df,
    name: str,
    id_column: str | None,
    label_column: str | None,
    feature_columns: list[str] | None,
    text_column: str | None,
) -> _Roles:
    """The columns' roles: named ones must exist (and features be numeric), else by name ("id", "label", "text") and
    type; refused when neither embedding columns nor a text column are left."""
    import pandas as pd

    columns = list(df.columns)
    named = [c for c in [id_column, label_column, text_column, *(feature_columns or [])] if c is not None]
    missing = [c for c in named if c not in columns]
    if missing:
        raise ValueError(f"{name}: columns {missing} not found; available columns: {columns}.")
    roles = _Roles(
        id=id_column or ("id" if "id" in columns else None),
        label=label_column or ("label" if "label" in columns else None),
        text=text_column or ("text" if "text" in columns else None),
        features=list(feature_columns or []),
        picked=feature_columns is None,
    )
    if not roles.picked:
        not_numeric = [c for c in roles.features if not pd.api.types.is_numeric_dtype(df[c])]
        if not_numeric:
            raise ValueError(f"{name}: feature columns {not_numeric} are not numeric.")
    else:
        _pick_features(df, roles)
    if not roles.features and roles.text is None:
        strings = [c for c in columns if c not in (roles.id, roles.label) and not pd.api.types.is_numeric_dtype(df[c])]
        hint = f" For a text pool, name the text column 'text' (string columns found: {strings})." if strings else ""
        raise ValueError(
            f"{name} has no numeric feature columns to use as embeddings; columns found: {columns}. "
            f"Pass feature_columns, or add numeric embedding columns.{hint}"
        )
    return roles


def _pick_features(df, roles: _Roles) -> None:
    """Every numeric column but the id, the label and a saved row index becomes an embedding dimension; none in a
    text pool, whose numbers are more likely metadata than an embedding."""
    import pandas as pd

    columns = list(df.columns)
    numeric = [c for c in columns if pd.api.types.is_numeric_dtype(df[c]) and not df[c].dtype == bool]
    # "Unnamed: 0" is pandas' saved row index (to_csv without index=False): a counter, not a feature.
    index_cols = [c for c in numeric if c.startswith("Unnamed:")]
    if index_cols and roles.text is None:
        roles.notes.append(f"Ignored saved-index columns {index_cols}.")
    features = [c for c in numeric if c not in (roles.id, roles.label) and c not in index_cols]
    roles.ignored = [c for c in columns if c not in (*numeric, roles.id, roles.label, roles.text)]
    if roles.text is not None:
        if features:
            roles.notes.append(
                f"Text pool: numeric columns {features[:5]}{' …' if len(features) > 5 else ''} are not used as "
                "embeddings (name them as feature_columns to use them)."
            )
        features = []
    roles.features = features


def _table_pool(path: Path, df, roles: _Roles) -> Pool:
    """The pool of a table whose roles are decided: its arrays, checked, and notes on how they were made."""
    X = _feature_matrix(df, roles.features)
    ids = _table_ids(df, roles.id, path.name)
    notes = list(roles.notes)
    if roles.features and roles.picked:
        how = (f"; ids from '{roles.id}'" if roles.id else "") + (
            f"; ground truth from '{roles.label}'" if roles.label else ""
        )
        notes.append(f"Embedding: {len(roles.features)} numeric columns ({_listed(roles.features)}){how}.")
        notes += _ignored_column_notes(df, roles.ignored, ids, roles.id is not None)
    if roles.id is None:
        notes.append(
            f"No id column: labels are keyed by row number (0 to {len(df) - 1}). If rows of {path.name} are later "
            "added, removed or reordered, saved labels land on other items; add an 'id' column to keep them."
        )
    y_true, class_names = _table_labels(df, roles.label, path.name)

    texts = None
    if roles.text is not None:
        texts = _table_texts(path, df, roles.text)
        empty = _empty(texts)
        if empty.all():
            raise ValueError(f"{path.name}: text column {roles.text!r} is empty in every row.")
        if empty.any():
            dropped = ids[empty]
            shown = ", ".join(dropped[:10]) + (f" and {len(dropped) - 10} more" if len(dropped) > 10 else "")
            notes.append(f"Dropped {int(empty.sum())} rows with empty text in column {roles.text!r} (ids: {shown}).")
            keep = ~empty
            ids, texts = ids[keep], texts[keep]
            X = X[keep] if X is not None else None
            y_true = y_true[keep] if y_true is not None else None
        texts = texts.astype(str)

    if len(ids) < MIN_ITEMS:
        rows = f"{len(ids)} row{'' if len(ids) == 1 else 's'}" + (" with text" if texts is not None else "")
        raise ValueError(f"{path.name} has {rows}; alviz needs at least {MIN_ITEMS} items to map and label.")
    return Pool(name=path.stem, ids=ids, vectors=X, texts=texts, y_true=y_true, class_names=class_names, notes=notes)


def _feature_matrix(df, features: list[str]) -> np.ndarray | None:
    """The embedding columns as float32 (None without any); rows with NaN or inf are refused."""
    if not features:
        return None
    # float32 at once: a big table would otherwise pass through a float64 copy twice its size; values beyond
    # float32's range become inf and are refused below like NaN
    with np.errstate(over="ignore"):
        X = df[features].to_numpy(dtype=np.float32)
    bad_rows = ~np.isfinite(X).all(axis=1)
    if bad_rows.any():
        bad_cols = [c for c, bad in zip(features, ~np.isfinite(X).all(axis=0), strict=True) if bad]
        shown = ", ".join(bad_cols[:5]) + (", ..." if len(bad_cols) > 5 else "")
        raise ValueError(
            f"{int(bad_rows.sum())} rows have NaN or inf in embedding columns ({shown}); drop or fill them."
        )
    return X


def _table_ids(df, id_col: str | None, name: str) -> np.ndarray:
    """The items' ids as strings: the id column's, which must be filled and unique, else the row numbers."""
    if id_col is None:
        return np.arange(len(df)).astype(str)
    if df[id_col].isna().any():
        raise ValueError(f"{name}: id column {id_col!r} has {int(df[id_col].isna().sum())} empty cells.")
    ids = df[id_col].astype(str).to_numpy()
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise ValueError(
            f"{name}: id column {id_col!r} has duplicate ids, e.g. {uniq[counts > 1][:5].tolist()}; ids must be unique."
        )
    return ids


def _table_labels(df, label_col: str | None, name: str) -> tuple[np.ndarray | None, list[str]]:
    """(class index per row, -1 where the cell is empty; class names), or (None, []) without a label column."""
    if label_col is None:
        return None, []
    col = df[label_col]
    empty = col.isna().to_numpy() | col.astype(str).str.strip().eq("").to_numpy()
    try:
        return _labels_to_index(col.tolist(), empty)
    except ValueError as e:
        raise ValueError(f"{name}, column {label_col!r}: {e}") from None


def _table_texts(path: Path, df, column: str) -> np.ndarray:
    """The text column as Python strings ("" where missing). A CSV's cells are read again as written ("NA" or
    "null" are words, not missing values); a Parquet file's come from ``df``."""
    import pandas as pd

    if path.suffix.lower() == ".csv":
        col = pd.read_csv(path, usecols=[column], dtype=str, keep_default_na=False)[column]
    else:
        col = df[column]
    return np.array(["" if pd.isna(v) else str(v) for v in col], dtype=object)


def _empty(texts: np.ndarray) -> np.ndarray:
    """Which texts are empty or blank: nothing to embed or to show, so the loader drops their rows."""
    return np.array([not t.strip() for t in texts], dtype=bool)


@dataclass(frozen=True)
class TableColumns:
    """A table's columns as a loading form offers them."""

    columns: list[str]
    text_candidates: list[str]  # string columns other than "id" and "label": what could be a text pool's text


def inspect_table(path: str | os.PathLike, rows: int = 500) -> TableColumns:
    """The columns of a CSV or Parquet table inside the data root, typed from its first ``rows`` rows: cheap enough
    to run as the user types a path, before ``load_table`` reads the whole file."""
    import pandas as pd

    path = confine(path)
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise ValueError(f"Expected a .csv or .parquet file; got {path.name!r}.")
    if path.suffix.lower() == ".csv":
        df = pd.read_csv(path, nrows=rows)
    else:
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)
        first = next(pf.iter_batches(batch_size=rows), None)
        df = (first if first is not None else pf.schema_arrow.empty_table()).to_pandas()
    df.columns = columns = [str(c) for c in df.columns]
    strings = [c for c in columns if c not in ("id", "label") and not pd.api.types.is_numeric_dtype(df[c])]
    return TableColumns(columns, strings)


def empty_texts(path: str | os.PathLike, column: str) -> tuple[int, int]:
    """(rows whose text in ``column`` is empty or blank, rows) of a table inside the data root: the rows that
    ``load_table`` with this text column would drop, read the way it reads them."""
    import pandas as pd

    path = confine(path)
    df = pd.read_parquet(path, columns=[column]) if path.suffix.lower() != ".csv" else None
    texts = _table_texts(path, df, column)
    return int(_empty(texts).sum()), len(texts)


def load_npz_xy(path: str | os.PathLike) -> Pool:
    """An ``.npz`` with ``X`` (N, d) numeric and ``y`` (N,) class labels; optional ``X_test``/``y_test``.

    Optional ``ids`` (N,) str; otherwise ids are row numbers ("0", "1", ...) and "test-0", ... for the test set.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"npz file not found: {path}")
    arrays = read_arrays(path, ("X", "y", "X_test", "y_test", "ids"))
    keys = sorted(arrays)
    if "X" not in keys or "y" not in keys:
        with zipfile.ZipFile(path) as zf:
            found = sorted(n.removesuffix(".npy") for n in zf.namelist())
        raise ValueError(f"{path.name}: expected arrays 'X' (N, d) and 'y' (N,); found keys {found}.")
    if ("X_test" in keys) != ("y_test" in keys):
        raise ValueError(f"{path.name}: 'X_test' and 'y_test' come together; found keys {keys}.")

    def check(x_key: str, y_key: str) -> tuple[np.ndarray, np.ndarray]:
        X, y = arrays[x_key], arrays[y_key]
        if X.ndim != 2 or not np.issubdtype(X.dtype, np.number):
            raise ValueError(f"{path.name}: {x_key} must be a numeric (N, d) array; got {X.dtype} {X.shape}.")
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(f"{path.name}: {y_key} must be (N,) with N={len(X)} like {x_key}; got {y.shape}.")
        if X.shape[0] == 0 or X.shape[1] == 0:
            raise ValueError(f"{path.name}: {x_key} needs at least one row and one feature; got {X.shape}.")
        if np.issubdtype(y.dtype, np.floating) and not (np.isfinite(y).all() and (y == np.round(y)).all()):
            odd = y[~np.isfinite(y) | (y != np.round(y))][0]
            raise ValueError(
                f"{path.name}: {y_key} holds classes, but has non-integer values such as {odd!r}; "
                "continuous targets (regression) are not class labels."
            )
        return X, y

    X, y = check("X", "y")
    has_test = "X_test" in arrays
    ys = [y]
    if has_test:
        X_test, y_test = check("X_test", "y_test")
        if X_test.shape[1] != X.shape[1]:
            raise ValueError(f"{path.name}: X_test has {X_test.shape[1]} columns, X has {X.shape[1]}.")
        ys.append(y_test)
    # One class list for pool and test, so the same class gets the same index in both.
    classes = np.unique(np.concatenate(ys))
    class_names = [str(c) for c in classes]
    ids = arrays["ids"].astype(str) if "ids" in arrays else np.arange(len(X)).astype(str)
    test = None
    if has_test:
        test = Pool(
            name=f"{path.stem}-test",
            ids=np.char.add("test-", np.arange(len(X_test)).astype(str)),
            vectors=X_test,
            y_true=np.searchsorted(classes, y_test),
            class_names=class_names,
        )
    return Pool(
        name=path.stem,
        ids=ids,
        vectors=X,
        y_true=np.searchsorted(classes, y),
        class_names=class_names,
        test=test,
    )
