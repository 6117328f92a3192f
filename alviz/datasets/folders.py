"""A folder of images as a pool: subfolders name the classes, decoded images are cached by the folder's content,
and an embeddings file beside the images may bring its own vectors."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alviz import cache
from alviz.datasets.arrays import read_arrays
from alviz.datasets.images import ImageTooLarge, image_to_array, max_image_pixels, stack_images
from alviz.datasets.paths import inside_data_root
from alviz.datasets.splits import stratified_split, subset
from alviz.pool import UNLABELED, Pool

EMBEDDING_FILES = ("embeddings.npz", "embeddings.npy")  # bring-your-own vectors at the top of an image folder
_JUNK_FILES = {"thumbs.db", "desktop.ini"}


def _list_files(root: Path, passed: list[str] | None = None) -> list[Path]:
    """All non-hidden files under ``root``, sorted, hidden folders pruned. Files that resolve outside the data
    root are left out; symlink loops and names that are not valid UTF-8 too, each with a line in ``passed``."""
    found, passed = [], [] if passed is None else passed
    own_cache = _decoded_dir().parent.resolve()  # alviz's cache is never data, even when it sits in the folder
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not d.startswith(".") and d != "__MACOSX" and (Path(dirpath) / d).resolve() != own_cache
        )
        for f in sorted(filenames):
            if f.startswith(".") or f.lower() in _JUNK_FILES:
                continue
            path = Path(dirpath) / f
            try:
                str(path.relative_to(root)).encode()  # ids must be text: caches hash them, the store keeps them
                inside = inside_data_root(path)
            except UnicodeEncodeError:
                passed.append(f"{ascii(str(path.relative_to(root)))} (not UTF-8)")
                continue
            except (RuntimeError, OSError):  # a symlink loop (RuntimeError before Python 3.13)
                passed.append(f"{path.relative_to(root)} (a symlink loop)")
                continue
            if inside:
                found.append(path)
    return found


@dataclass
class _Decoded:
    """What decoding a folder's files gave: readable images (by id) and the files passed over, with why."""

    ids: list[str]
    images: np.ndarray | None  # (n, size, size[, 3]) uint8; None when nothing was readable
    skipped: list[str]
    too_large: list[str]


_DECODE_VERSION = 1  # bump when image_to_array's output changes, so no stale decoded copy is served


def _folder_key(root: Path, files: list[Path], size: int) -> str:
    """A digest of what decoding depends on: every file's relative path, byte size and mtime, and the options."""

    def parts():
        yield f"v{_DECODE_VERSION}|{size}|{max_image_pixels()}"
        for f in files:
            try:
                st = f.stat()
                yield f"\0{f.relative_to(root).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}"
            except OSError:  # vanished or unreadable: decoding reports it; the key just has to differ
                yield f"\0{f.relative_to(root).as_posix()}\0?"

    return cache.make_key("folder", parts(), length=24)


def _decoded_dir() -> Path:
    return cache.default_cache_dir() / "folders"


def _load_decoded(key: str) -> _Decoded | None:
    got = cache.load(_decoded_dir(), key)
    if got is None or len(got["ids"]) != len(got["images"]):
        return None
    return _Decoded(
        ids=[str(i) for i in got["ids"]],
        images=got["images"],
        skipped=[str(s) for s in got["skipped"]],
        too_large=[str(s) for s in got["too_large"]],
    )


def _save_decoded(key: str, d: _Decoded) -> None:
    """Keep the decoded images for the next load; a full or read-only disk only costs that speed-up."""
    if d.images is None:
        return  # nothing readable: the load fails and there is nothing worth keeping
    text = {name: np.array(values, dtype=str) for name, values in (("skipped", d.skipped), ("too_large", d.too_large))}
    try:
        cache.save(_decoded_dir(), key, {"ids": np.array(d.ids, dtype=str), "images": d.images, **text})
    except OSError:
        pass


def _decode_files(root: Path, files: list[Path], size: int, progress: Callable[[float, str], None] | None) -> _Decoded:
    from PIL import Image

    out, arrays = _Decoded([], None, [], []), []
    step = max(1, len(files) // 200)  # about 200 progress updates, however large the folder
    for i, f in enumerate(files):
        rel = f.relative_to(root).as_posix()
        if progress is not None and i % step == 0:
            progress(i / max(len(files), 1), f"Decoding images: {i:,} of {len(files):,}")
        try:
            arr = image_to_array(f, size)
        except (ImageTooLarge, Image.DecompressionBombError) as exc:  # PIL's own bomb check: over 2x its limit
            out.too_large.append(f"{rel} ({exc})")
            continue
        except (OSError, ValueError, SyntaxError, MemoryError):
            out.skipped.append(rel)
            continue
        out.ids.append(rel)
        arrays.append(arr)
    out.images = stack_images(arrays)
    if progress is not None:
        progress(1.0, f"Decoded {len(out.ids):,} of {len(files):,} files")
    return out


def load_image_folder(
    path: str | os.PathLike,
    size: int = 64,
    test_fraction: float = 0.0,
    seed: int = 0,
    embeddings: str | os.PathLike | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> Pool:
    """Every readable image under ``path``, resized (aspect kept, padded) to ``size`` x ``size`` uint8.

    Decoding is the slow part (large photos), so the decoded images are cached on disk by the folder's content
    (each file's path, size and modification time, plus ``size``): an unchanged folder reloads without
    decoding, and any added, removed or edited file decodes the folder again. ``progress(fraction, message)``
    is called as files are decoded.

    Top-level subfolders name the classes (ground truth, for evaluation only); images directly in ``path``
    have unknown class (-1). With no subfolders there is no ground truth. ``test_fraction`` > 0 holds out a
    stratified share of the labeled images as the test pool.

    Bring your own embedding: ``embeddings`` (else ``embeddings.npz`` or ``embeddings.npy`` at the top of the
    folder) becomes ``pool.vectors``, offered as the 'precomputed' embedder. See ``read_folder_embeddings``.
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"Image folder not found: expected a directory, got {root}.")
    if size < 1:
        raise ValueError(f"size must be a positive number of pixels; got {size}.")
    skipped: list[str] = []
    files = [f for f in _list_files(root, skipped) if f.relative_to(root).as_posix().lower() not in EMBEDDING_FILES]
    key = _folder_key(root, files, size)
    decoded = _load_decoded(key)
    if decoded is None:
        decoded = _decode_files(root, files, size, progress)
        _save_decoded(key, decoded)
    elif progress is not None:
        progress(1.0, f"{len(files):,} images unchanged since the last load: decoded copy reused")
    ids, images, too_large = decoded.ids, decoded.images, decoded.too_large
    skipped += decoded.skipped
    groups = [rel.split("/")[0] if "/" in rel else None for rel in ids]
    if images is None:
        what = f"; unreadable: {', '.join(skipped[:10])}" if skipped else ""
        what += f"; too large to decode: {', '.join(too_large[:10])}" if too_large else ""
        n = len(skipped) + len(too_large)
        raise ValueError(f"No readable images found in {root} (looked at {n} files{what}).")

    notes = []
    if skipped:
        shown = ", ".join(skipped[:10]) + (f" and {len(skipped) - 10} more" if len(skipped) > 10 else "")
        notes.append(f"Skipped {len(skipped)} unreadable files: {shown}")
    if too_large:
        shown = ", ".join(too_large[:10]) + (f" and {len(too_large) - 10} more" if len(too_large) > 10 else "")
        notes.append(f"Skipped {len(too_large)} images too large to decode: {shown}")
    class_names = sorted({g for g in groups if g is not None})
    y_true = None
    if class_names:
        index = {c: i for i, c in enumerate(class_names)}
        y_true = np.array([index[g] if g is not None else UNLABELED for g in groups], dtype=np.int64)
        n_top = groups.count(None)
        notes.append(f"Classes from subfolders: {', '.join(class_names)}.")
        if n_top:
            notes.append(f"{n_top} images at the top level have no class.")

    kw = {"ids": np.array(ids), "images": images, "y_true": y_true}
    emb_path = (
        Path(embeddings)
        if embeddings is not None
        else next((root / f for f in EMBEDDING_FILES if (root / f).is_file()), None)
    )
    if emb_path is not None and not inside_data_root(emb_path):
        notes.append(f"Ignored {emb_path.name}: it links outside the data root.")
        emb_path = None
    if emb_path is not None:
        kw["vectors"], note = read_folder_embeddings(emb_path, kw["ids"])
        notes.append(note)
    test_pool = None
    if test_fraction:
        if y_true is None:
            raise ValueError(f"test_fraction={test_fraction} needs ground truth, but {root} has no class subfolders.")
        train, test = stratified_split(y_true, test_fraction, seed)
        if len(test):
            test_pool = Pool(name=f"{root.name}-test", class_names=class_names, **subset(kw, test))
            kw = subset(kw, train)
    return Pool(name=root.name, class_names=class_names, test=test_pool, notes=notes, **kw)


def read_folder_embeddings(path: str | os.PathLike, ids: np.ndarray) -> tuple[np.ndarray, str]:
    """(vectors (N, d) float32 in the order of ``ids``, a note) from an embeddings file beside an image folder.

    ``.npz``: ``X`` (M, d) and ``ids`` (M,), the image paths relative to the folder, exactly what
    ``alviz embed --data FOLDER --out FOLDER/embeddings.npz`` writes; rows are matched by id, extra rows (say, of
    images that could not be read) are ignored, and every image needs a row. Without ``ids`` (and for ``.npy``,
    which holds ``X`` alone) the rows must follow the images in sorted path order, one per readable image.
    NaN or inf anywhere is refused, naming the images.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Embeddings file not found: {path}")
    arrays = read_arrays(path, ("X", "ids"))
    if "X" not in arrays:
        raise ValueError(f"{path.name}: expected arrays 'X' (N, d) and 'ids' (N,); found {sorted(arrays)}.")
    X = arrays["X"]
    emb_ids = arrays["ids"].astype(str) if "ids" in arrays else None
    if X.ndim != 2 or not np.issubdtype(X.dtype, np.number):
        raise ValueError(f"{path.name}: X must be a numeric (N, d) array; got {X.dtype} {X.shape}.")
    if emb_ids is None:
        if len(X) != len(ids):
            raise ValueError(
                f"{path.name} has {len(X)} rows but the folder has {len(ids)} readable images; without 'ids' the "
                "rows must be the images in sorted path order. Save ids with it (np.savez(..., X=X, ids=paths))."
            )
        vectors, how = X, "rows taken in sorted path order"
    else:
        if len(emb_ids) != len(X):
            raise ValueError(f"{path.name}: 'ids' has {len(emb_ids)} entries but X has {len(X)} rows.")
        row = {i: r for r, i in enumerate(emb_ids)}
        absent = [i for i in ids if i not in row]
        if absent:
            shown = ", ".join(absent[:5]) + (f" and {len(absent) - 5} more" if len(absent) > 5 else "")
            raise ValueError(f"{path.name} has no row for {len(absent)} of the folder's images ({shown}).")
        vectors = X[[row[i] for i in ids]]
        extra = len(X) - len(ids)
        how = "rows matched by id" + (f"; {extra} rows for other files ignored" if extra else "")
    bad = ~np.isfinite(vectors).all(axis=1)
    if bad.any():
        shown = ", ".join(np.asarray(ids)[bad][:5])
        raise ValueError(
            f"{path.name} has NaN or inf in the rows of {int(bad.sum())} images ({shown}); fix or drop them."
        )
    return vectors.astype(np.float32), f"Embeddings from {path.name}: {vectors.shape[1]}-d, {how}."
