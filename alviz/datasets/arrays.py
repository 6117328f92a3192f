"""Reading arrays from files alviz did not write: a user's ``.npy``/``.npz`` (checked before a byte is trusted) and
the IDX files of MNIST-like datasets."""

from __future__ import annotations

import gzip
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

# IDX type byte -> big-endian numpy dtype (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT").
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


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
