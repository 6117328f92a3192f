"""Loaders that turn data on disk into a ``Pool``.

Sources: the bundled Fashion-MNIST sample, the full Fashion-MNIST from Debian's ``dataset-fashion-mnist``,
scikit-learn's digits, a folder of images (subfolders = classes), a CSV/Parquet table of embeddings, and an
``.npz`` with ``X``/``y``. Every loader returns numpy arrays inside a ``Pool`` and raises ``ValueError`` or
``FileNotFoundError`` saying what it expected and what it found.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alviz.pool import UNLABELED, Pool

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
SAMPLE_FILE = "fashion_mnist_sample.npz"
MIN_ITEMS = 3  # fewer items make no 2-D map (PCA needs 3) and nothing to learn from

# IDX type byte -> big-endian numpy dtype (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT").
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


# ------------------------------------------------------------------------------------- user's numpy files


def _memory_budget() -> int:
    """The most one array from a user's file may take: half the machine's memory."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError):
        return 4 * 2**30


def _check_npy_header(fp, name: str, stored: int, where: str) -> None:
    """Refuse an array, from its header alone, that holds Python objects or claims more bytes than are stored
    (a crafted header) or than memory allows."""
    version = np.lib.format.read_magic(fp)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read(fp)
    if dtype.hasobject:
        raise ValueError(f"{where}: arrays must be numeric or string, not Python objects ({name} is {dtype}).")
    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize  # Python ints: no overflow on crafted shapes
    if nbytes > stored:
        raise ValueError(f"{where}: {name} claims a {shape} {dtype} array ({nbytes:,} bytes) but holds {stored:,}.")
    if nbytes > _memory_budget():
        raise ValueError(
            f"{where}: {name} would take {nbytes / 2**30:.1f} GB, more than half of this machine's memory."
        )


def read_arrays(path: str | os.PathLike, names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Arrays of a user's ``.npz`` (those in ``names``, else all), or the one array of a ``.npy`` as ``"X"``.

    Every header is checked before its array is read (``_check_npy_header``); a file that is no numpy file, is cut
    short or needs more memory than is free raises ``ValueError`` saying so, never numpy's advice to unpickle.
    """
    path = Path(path)
    where = path.name
    try:
        if path.suffix.lower() == ".npy":
            with open(path, "rb") as fp:
                _check_npy_header(fp, "X", path.stat().st_size, where)
            return {"X": np.load(path, allow_pickle=False)}
        with zipfile.ZipFile(path) as zf:
            members = {i.filename.removesuffix(".npy"): i for i in zf.infolist() if i.filename.endswith(".npy")}
            wanted = [k for k in members if names is None or k in names]
            for k in wanted:
                with zf.open(members[k]) as fp:
                    _check_npy_header(fp, k, members[k].file_size, where)
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in wanted}
    except MemoryError:
        raise ValueError(f"{where}: not enough memory to load its arrays.") from None
    except (OSError, EOFError, zipfile.BadZipFile, ValueError) as exc:
        if str(exc).startswith(where):
            raise
        raise ValueError(f"{where} could not be read as a numpy {path.suffix or '.npz'} file ({exc}).") from None


# --------------------------------------------------------------------------------------------- helpers


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (as used by MNIST / Fashion-MNIST), gzip-compressed or plain."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path}")
    with path.open("rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    with gzip.open(path, "rb") if gz else path.open("rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file: expected magic 00 00 <type> <ndim>, got {data[:4].hex()}.")
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        raise ValueError(f"{path}: header says shape {shape} ({expected} bytes), file has {len(data)} bytes.")
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="))  # native byte order, and a writable copy


def balanced_indices(y: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of a seeded subset of ``n`` items with (as nearly as possible) equal counts per class.

    When ``n`` is not a multiple of the number of classes, the remainder goes to randomly chosen classes.
    """
    y = np.asarray(y)
    classes, counts = np.unique(y, return_counts=True)
    if n > len(y):
        raise ValueError(f"Asked for a subset of {n} items, but only {len(y)} are available.")
    rng = np.random.default_rng(seed)
    per_class = np.full(len(classes), n // len(classes))
    per_class[rng.choice(len(classes), n % len(classes), replace=False)] += 1
    short = [str(c) for c, have, want in zip(classes, counts, per_class, strict=True) if have < want]
    if short:
        raise ValueError(f"Cannot take {n} balanced items: classes {short} have fewer than {per_class.max()}.")
    picked = [rng.choice(np.flatnonzero(y == c), k, replace=False) for c, k in zip(classes, per_class, strict=True)]
    return np.sort(np.concatenate(picked))


def _stratified_split(y: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, test_idx): ``test_fraction`` of each class (rounded) goes to test; -1 rows stay in train.

    Each class keeps at least one item in train so the model can still learn it.
    """
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1); got {test_fraction}.")
    rng = np.random.default_rng(seed)
    test = []
    for c in np.unique(y[y >= 0]):
        rows = np.flatnonzero(y == c)
        k = min(int(round(test_fraction * len(rows))), len(rows) - 1)
        test.append(rng.choice(rows, k, replace=False))
    test_idx = np.sort(np.concatenate(test)) if test else np.array([], dtype=np.int64)
    train_idx = np.setdiff1d(np.arange(len(y)), test_idx)
    return train_idx, test_idx.astype(np.int64)


def _subset(pool_kwargs: dict, rows: np.ndarray) -> dict:
    """The same Pool arguments restricted to ``rows`` (arrays only; names and lists are kept)."""
    return {k: (v[rows] if isinstance(v, np.ndarray) else v) for k, v in pool_kwargs.items()}


def _sample_dir() -> Path:
    env = os.environ.get("ALVIZ_SAMPLE_DATA")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "sample_data"


# ------------------------------------------------------------------------------------ built-in datasets


def fashion_mnist_available() -> bool:
    """True when Debian's ``dataset-fashion-mnist`` files are installed."""
    return all((FASHION_MNIST_DIR / f).is_file() for f in _fashion_files("train") + _fashion_files("t10k"))


def _fashion_files(split: str) -> list[str]:
    return [f"{split}-images-idx3-ubyte.gz", f"{split}-labels-idx1-ubyte.gz"]


def load_sample() -> Pool:
    """The bundled balanced Fashion-MNIST subset: 2,000 pool images and 1,000 held-out test images.

    Ids use the index in the original Fashion-MNIST files, so labels made on the sample carry over to the
    full dataset loaded by ``load_fashion_mnist``.
    """
    where = _sample_dir()
    path = where if where.is_file() else where / SAMPLE_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"Sample data not found at {path}. Set ALVIZ_SAMPLE_DATA to the folder holding {SAMPLE_FILE}, "
            "or rebuild it with `python scripts/make_sample.py` (needs `apt-get install dataset-fashion-mnist`)."
        )
    with np.load(path, allow_pickle=False) as z:
        need = {"pool_images", "pool_labels", "pool_source_index", "test_images", "test_labels"}
        need |= {"test_source_index", "class_names"}
        missing = sorted(need - set(z.files))
        if missing:
            raise ValueError(f"{path} lacks keys {missing}; it has {sorted(z.files)}.")
        d = {k: z[k] for k in need}
    class_names = [str(c) for c in d["class_names"]]
    test = Pool(
        name="sample-test",
        ids=np.char.add("fmnist-test-", d["test_source_index"].astype(str)),
        images=d["test_images"],
        y_true=d["test_labels"],
        class_names=class_names,
    )
    return Pool(
        name="sample",
        ids=np.char.add("fmnist-train-", d["pool_source_index"].astype(str)),
        images=d["pool_images"],
        y_true=d["pool_labels"],
        class_names=class_names,
        test=test,
        notes=["Fashion-MNIST (c) Zalando SE, MIT License; balanced subset, see sample_data/."],
    )


def load_fashion_mnist(n_pool: int | None = None, n_test: int | None = None, seed: int = 0) -> Pool:
    """Fashion-MNIST from Debian's ``dataset-fashion-mnist`` (60k train as pool, 10k t10k as test).

    ``n_pool`` / ``n_test`` take a balanced, seeded subset of each split; None keeps the whole split.
    """
    if not fashion_mnist_available():
        raise FileNotFoundError(
            f"Fashion-MNIST files not found in {FASHION_MNIST_DIR} (expected "
            f"{_fashion_files('train') + _fashion_files('t10k')}). "
            "Install them with `sudo apt-get install dataset-fashion-mnist`."
        )

    def split(name: str, prefix: str, n: int | None, pool_name: str) -> Pool:
        images = read_idx(FASHION_MNIST_DIR / f"{name}-images-idx3-ubyte.gz")
        labels = read_idx(FASHION_MNIST_DIR / f"{name}-labels-idx1-ubyte.gz").astype(np.int64)
        if len(images) != len(labels):
            raise ValueError(f"Fashion-MNIST {name}: {len(images)} images but {len(labels)} labels.")
        rows = np.arange(len(labels)) if n is None else balanced_indices(labels, n, seed)
        return Pool(
            name=pool_name,
            ids=np.char.add(prefix, rows.astype(str)),
            images=images[rows],
            y_true=labels[rows],
            class_names=list(FASHION_MNIST_CLASSES),
        )

    name = "fashion-mnist" if n_pool is None else f"fashion-mnist-{n_pool}"
    pool = split("train", "fmnist-train-", n_pool, name)
    pool.test = split("t10k", "fmnist-test-", n_test, f"{name}-test")
    pool.notes.append("Fashion-MNIST (c) Zalando SE, MIT License.")
    return pool


def load_digits_pool(test_fraction: float = 0.2, seed: int = 0) -> Pool:
    """scikit-learn's 1,797 8x8 digits as uint8 images, with a stratified held-out test pool."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    # load_digits pixels are counts 0..16; scale to the 0..255 range every image embedder expects.
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    y = digits.target.astype(np.int64)
    kw = {"ids": np.array([f"digits-{i}" for i in range(len(y))]), "images": images, "y_true": y}
    class_names = [str(d) for d in range(10)]
    train, test = _stratified_split(y, test_fraction, seed)
    test_pool = None
    if len(test):
        test_pool = Pool(name="digits-test", class_names=class_names, **_subset(kw, test))
    return Pool(name="digits", class_names=class_names, test=test_pool, **_subset(kw, train))


# ---------------------------------------------------------------------------------------- image folder

_GRAY_MODES = {"1", "L", "LA", "La", "I", "F"}
EMBEDDING_FILES = ("embeddings.npz", "embeddings.npy")  # bring-your-own vectors at the top of an image folder
_JUNK_FILES = {"thumbs.db", "desktop.ini"}


def _max_image_pixels() -> int:
    """Pixels per image alviz decodes at most (``ALVIZ_MAX_IMAGE_PIXELS``; 40 MP, a large camera's photo)."""
    return int(os.environ.get("ALVIZ_MAX_IMAGE_PIXELS") or 40_000_000)


class ImageTooLarge(ValueError):
    """An image with more pixels than alviz decodes (``ALVIZ_MAX_IMAGE_PIXELS``): "WxH pixels, limit N pixels"."""

    def __init__(self, width: int, height: int, limit: int):
        super().__init__(f"{width}x{height} pixels, limit {limit:,} pixels")


def _image_to_array(path: Path, size: int) -> np.ndarray:
    """Open one image and return it as uint8 (size, size) gray or (size, size, 3) RGB, aspect kept, padded."""
    from PIL import Image, ImageOps

    with Image.open(path) as img:
        img.draft(img.mode, (size, size))  # JPEG only: decode at reduced scale, much faster for photos
        limit = _max_image_pixels()
        if img.width * img.height > limit:  # a few KB of PNG can claim gigabytes once decoded
            raise ImageTooLarge(img.width, img.height, limit)
        img.load()
        if max(img.size) > 4 * size:  # shrink before converting: a big RGBA copy costs 4 bytes a pixel
            img.thumbnail((4 * size, 4 * size), Image.Resampling.BOX)
        img = ImageOps.exif_transpose(img)
        mode = img.mode
        if mode in ("I", "F") or mode.startswith("I;16"):
            # 16/32-bit data (microscopy, scans) rarely fills its range: stretch each image to 0..255,
            # or a 12-bit image would come out nearly black.
            a = np.asarray(img, dtype=np.float64)
            lo, hi = float(a.min()), float(a.max())
            a = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)
            arr = np.round(a).astype(np.uint8)
        elif mode in ("1", "L"):
            arr = np.asarray(img.convert("L"))
        else:
            # Transparent pixels composite on white (how viewers show them); P, CMYK, etc. go through RGBA.
            rgba = np.asarray(img.convert("RGBA"), dtype=np.float64)
            alpha = rgba[..., 3:] / 255.0
            arr = np.round(rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
            # Gray-alpha, and palette images whose palette is gray (common in GIFs), stay gray.
            if mode in ("LA", "La") or (mode in ("P", "PA") and (arr == arr[..., :1]).all()):
                arr = arr[..., 0]
    h, w = arr.shape[:2]
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    small = np.asarray(Image.fromarray(arr).resize((nw, nh), Image.Resampling.LANCZOS))
    # Pad with the image's own border color, so the bars carry no signal an embedder could latch onto.
    border = np.concatenate([small[0], small[-1], small[:, 0], small[:, -1]])
    fill = np.median(border, axis=0).astype(np.uint8)
    out = np.empty((size, size) + small.shape[2:], dtype=np.uint8)
    out[...] = fill
    top, left = (size - nh) // 2, (size - nw) // 2
    out[top : top + nh, left : left + nw] = small
    return out


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
                inside = _inside_data_root(path)
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


_DECODE_VERSION = 1  # bump when _image_to_array's output changes, so no stale decoded copy is served


def _folder_key(root: Path, files: list[Path], size: int) -> str:
    """A digest of what decoding depends on: every file's relative path, byte size and mtime, and the options."""
    h = hashlib.sha1(f"v{_DECODE_VERSION}|{size}|{_max_image_pixels()}".encode())
    for f in files:
        try:
            st = f.stat()
            h.update(f"\0{f.relative_to(root).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}".encode())
        except OSError:  # vanished or unreadable: decoding reports it; the key just has to differ
            h.update(f"\0{f.relative_to(root).as_posix()}\0?".encode())
    return f"folder-{h.hexdigest()[:24]}"


def _decoded_dir() -> Path:
    from alviz.embed.cache import default_cache_dir

    return default_cache_dir() / "folders"


def _load_decoded(key: str) -> _Decoded | None:
    from alviz.embed import cache

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
    from alviz.embed import cache

    if d.images is None:
        return  # nothing readable: the load fails and there is nothing worth keeping
    text = {name: np.array(values, dtype=str) for name, values in (("skipped", d.skipped), ("too_large", d.too_large))}
    try:
        cache.save(_decoded_dir(), key, {"ids": np.array(d.ids, dtype=str), "images": d.images, **text})
    except OSError:
        pass


def _stack(arrays: list[np.ndarray]) -> np.ndarray | None:
    """One array of the images: gray only if every image is; a gray image joins a color set as R=G=B."""
    if not arrays:
        return None
    if all(a.ndim == 2 for a in arrays):
        return np.stack(arrays)
    return np.stack([np.repeat(a[..., None], 3, axis=2) if a.ndim == 2 else a for a in arrays])


def _decode_files(root: Path, files: list[Path], size: int, progress: Callable[[float, str], None] | None) -> _Decoded:
    from PIL import Image

    out, arrays = _Decoded([], None, [], []), []
    step = max(1, len(files) // 200)  # about 200 progress updates, however large the folder
    for i, f in enumerate(files):
        rel = f.relative_to(root).as_posix()
        if progress is not None and i % step == 0:
            progress(i / max(len(files), 1), f"Decoding images: {i:,} of {len(files):,}")
        try:
            arr = _image_to_array(f, size)
        except (ImageTooLarge, Image.DecompressionBombError) as exc:  # PIL's own bomb check: over 2x its limit
            out.too_large.append(f"{rel} ({exc})")
            continue
        except (OSError, ValueError, SyntaxError, MemoryError):
            out.skipped.append(rel)
            continue
        out.ids.append(rel)
        arrays.append(arr)
    out.images = _stack(arrays)
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
    if emb_path is not None and not _inside_data_root(emb_path):
        notes.append(f"Ignored {emb_path.name}: it links outside the data root.")
        emb_path = None
    if emb_path is not None:
        kw["vectors"], note = read_folder_embeddings(emb_path, kw["ids"])
        notes.append(note)
    test_pool = None
    if test_fraction:
        if y_true is None:
            raise ValueError(f"test_fraction={test_fraction} needs ground truth, but {root} has no class subfolders.")
        train, test = _stratified_split(y_true, test_fraction, seed)
        if len(test):
            test_pool = Pool(name=f"{root.name}-test", class_names=class_names, **_subset(kw, test))
            kw = _subset(kw, train)
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


# ------------------------------------------------------------------------------------------ tables, npz


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
    import pandas as pd

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise ValueError(f"Expected a .csv or .parquet file; got {path.name!r}.")
    if not path.is_file():
        raise FileNotFoundError(f"Table not found: {path}")
    df = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    if df.empty:
        raise ValueError(f"{path.name} has no rows.")
    columns = [str(c) for c in df.columns]
    df.columns = columns

    named = [c for c in [id_column, label_column, text_column, *(feature_columns or [])] if c is not None]
    missing = [c for c in named if c not in columns]
    if missing:
        raise ValueError(f"{path.name}: columns {missing} not found; available columns: {columns}.")
    id_col = id_column or ("id" if "id" in columns else None)
    label_col = label_column or ("label" if "label" in columns else None)
    text_col = text_column or ("text" if "text" in columns else None)

    notes, ignored = [], []
    if feature_columns is not None:
        features = list(feature_columns)
        not_numeric = [c for c in features if not pd.api.types.is_numeric_dtype(df[c])]
        if not_numeric:
            raise ValueError(f"{path.name}: feature columns {not_numeric} are not numeric.")
    else:
        numeric = [c for c in columns if pd.api.types.is_numeric_dtype(df[c]) and not df[c].dtype == bool]
        # "Unnamed: 0" is pandas' saved row index (to_csv without index=False): a counter, not a feature.
        index_cols = [c for c in numeric if c.startswith("Unnamed:")]
        if index_cols and text_col is None:
            notes.append(f"Ignored saved-index columns {index_cols}.")
        features = [c for c in numeric if c not in (id_col, label_col) and c not in index_cols]
        ignored = [c for c in columns if c not in (*numeric, id_col, label_col, text_col)]
        if text_col is not None:
            if features:
                notes.append(
                    f"Text pool: numeric columns {features[:5]}{' …' if len(features) > 5 else ''} are not used as "
                    "embeddings (name them as feature_columns to use them)."
                )
            features = []
    if not features and text_col is None:
        strings = [c for c in columns if c not in (id_col, label_col) and not pd.api.types.is_numeric_dtype(df[c])]
        hint = f" For a text pool, name the text column 'text' (string columns found: {strings})." if strings else ""
        raise ValueError(
            f"{path.name} has no numeric feature columns to use as embeddings; columns found: {columns}. "
            f"Pass feature_columns, or add numeric embedding columns.{hint}"
        )

    X = None
    if features:
        # float32 at once: a 1M x 256 table would pass through a 2 GB float64 copy; values beyond float32's range
        # become inf and are refused below like NaN
        with np.errstate(over="ignore"):
            X = df[features].to_numpy(dtype=np.float32)
        bad_rows = ~np.isfinite(X).all(axis=1)
        if bad_rows.any():
            bad_cols = [c for c, bad in zip(features, ~np.isfinite(X).all(axis=0), strict=True) if bad]
            shown = ", ".join(bad_cols[:5]) + (", ..." if len(bad_cols) > 5 else "")
            raise ValueError(
                f"{int(bad_rows.sum())} rows have NaN or inf in embedding columns ({shown}); drop or fill them."
            )

    if id_col is None:
        ids = np.arange(len(df)).astype(str)
    else:
        if df[id_col].isna().any():
            raise ValueError(f"{path.name}: id column {id_col!r} has {int(df[id_col].isna().sum())} empty cells.")
        ids = df[id_col].astype(str).to_numpy()
        uniq, counts = np.unique(ids, return_counts=True)
        if (counts > 1).any():
            raise ValueError(
                f"{path.name}: id column {id_col!r} has duplicate ids, e.g. {uniq[counts > 1][:5].tolist()}; "
                "ids must be unique."
            )

    if features and feature_columns is None:
        roles = (f"; ids from '{id_col}'" if id_col else "") + (
            f"; ground truth from '{label_col}'" if label_col else ""
        )
        notes.append(f"Embedding: {len(features)} numeric columns ({_listed(features)}){roles}.")
        notes += _ignored_column_notes(df, ignored, ids, id_col is not None)
    if id_col is None:
        notes.append(
            f"No id column: labels are keyed by row number (0 to {len(df) - 1}). If rows of {path.name} are later "
            "added, removed or reordered, saved labels land on other items; add an 'id' column to keep them."
        )

    y_true, class_names = None, []
    if label_col is not None:
        col = df[label_col]
        empty = col.isna().to_numpy() | col.astype(str).str.strip().eq("").to_numpy()
        try:
            y_true, class_names = _labels_to_index(col.tolist(), empty)
        except ValueError as e:
            raise ValueError(f"{path.name}, column {label_col!r}: {e}") from None

    texts = None
    if text_col is not None:
        col = df[text_col]
        if suffix == ".csv":  # read the texts again as written: "NA" or "null" are words, not missing values
            col = pd.read_csv(path, usecols=[text_col], dtype=str, keep_default_na=False)[text_col]
        texts = np.array(["" if pd.isna(v) else str(v) for v in col], dtype=object)
        empty = np.array([not t.strip() for t in texts])
        if empty.all():
            raise ValueError(f"{path.name}: text column {text_col!r} is empty in every row.")
        if empty.any():
            dropped = ids[empty]
            shown = ", ".join(dropped[:10]) + (f" and {len(dropped) - 10} more" if len(dropped) > 10 else "")
            notes.append(f"Dropped {int(empty.sum())} rows with empty text in column {text_col!r} (ids: {shown}).")
            keep = ~empty
            ids, texts = ids[keep], texts[keep]
            X = X[keep] if X is not None else None
            y_true = y_true[keep] if y_true is not None else None
        texts = texts.astype(str)

    if len(ids) < MIN_ITEMS:
        rows = f"{len(ids)} row{'' if len(ids) == 1 else 's'}" + (" with text" if texts is not None else "")
        raise ValueError(f"{path.name} has {rows}; alviz needs at least {MIN_ITEMS} items to map and label.")
    return Pool(name=path.stem, ids=ids, vectors=X, texts=texts, y_true=y_true, class_names=class_names, notes=notes)


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


# -------------------------------------------------------------------------------------------- dispatch


def data_root() -> Path | None:
    """``ALVIZ_DATA_ROOT`` (resolved): the only folder the app may load from; None means anywhere (one local user)."""
    root = os.environ.get("ALVIZ_DATA_ROOT", "").strip()
    return Path(root).expanduser().resolve() if root else None


def _inside_data_root(path: Path) -> bool:
    root = data_root()
    return root is None or path.resolve().is_relative_to(root)


def _confine(path: Path) -> Path:
    """``path`` (relative paths count from the data root), refused when it resolves outside the data root:
    no way out through ``..`` or symlinks. Files that link outside are also skipped inside folders."""
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
        path = _confine(Path(source).expanduser())
        is_dir, is_file = path.is_dir(), path.is_file()
    except (ValueError, OSError):
        return None  # loading reports it
    name = Path(source).name or str(source)
    if kind == "folder" and is_file:
        other = "choose the table option" if path.suffix.lower() in (".csv", ".parquet", ".pq") else "give a folder"
        return f"'{name}' is a file, not a folder of images: {other}."
    if kind == "table" and is_dir:
        return f"'{name}' is a folder, not a CSV or Parquet table: choose the image folder option for a folder."
    return None


_ACCEPTED = '"sample", "fashion-mnist", "digits", a folder of images, a .csv or .parquet table, or an .npz with X/y'


def load(source: str | os.PathLike, progress: Callable[[float, str], None] | None = None, **kwargs) -> Pool:
    """Load a pool by name or path; ``kwargs`` go to the matching loader, ``progress`` to an image folder's."""
    key = str(source).strip()
    named = {"sample": load_sample, "fashion-mnist": load_fashion_mnist, "digits": load_digits_pool}
    if key.lower() in named:
        return named[key.lower()](**kwargs)
    path = _confine(Path(key).expanduser())
    if path.is_dir():
        return load_image_folder(path, progress=progress, **kwargs)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".parquet", ".pq"):
        return load_table(path, **kwargs)
    if suffix == ".npz":
        return load_npz_xy(path, **kwargs)
    if not path.exists() and not suffix:
        raise ValueError(f"Unknown data source {key!r}: no such folder. Expected {_ACCEPTED}.")
    raise ValueError(f"Cannot load {key!r}. Expected {_ACCEPTED}.")
