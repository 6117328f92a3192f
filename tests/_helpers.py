"""Helpers shared by tests in more than one folder (unit/, app/, e2e/): plain values and functions, no fixtures.

Importable as ``_helpers`` from any test folder: pytest puts ``tests/`` (the folder of the top conftest.py) on
sys.path.
"""

from __future__ import annotations

import importlib.util
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from alviz.embed import EMBEDDERS

ROOT = Path(__file__).resolve().parent.parent  # the checkout: app.py, views/, alviz/, README.md
APP = str(ROOT / "app.py")


def app_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> Path:
    """Point the app at the bundled sample with a PCA map (no UMAP) and this test's own label database and cache;
    ``env`` adds or overrides ALVIZ_* variables. Returns the label database's path."""
    db = tmp_path / "labels.db"
    defaults = {"ALVIZ_UMAP": "0", "ALVIZ_DB": str(db), "ALVIZ_DATA": "sample", "ALVIZ_CACHE": str(tmp_path / "cache")}
    for k, v in {**defaults, **env}.items():
        monkeypatch.setenv(k, v)
    return db


# security: strings that would run or render as markup if a page showed them unescaped
HOSTILE = "<img src=x onerror=alert(1)>"
HOSTILE_2 = "[click](javascript:alert(1)) :material/warning: **bold**"


# ------------------------------------------------------------------------- embedders: optional extras, texts


def installed(method: str) -> bool:
    return all(importlib.util.find_spec(p) is not None for p in EMBEDDERS[method].packages)


def needs(method: str):
    """Skip, with the reason, when the embedder's optional extra is not installed (CI installs only [dev])."""
    info = EMBEDDERS[method]
    return pytest.mark.skipif(not installed(method), reason=f"{method} needs `{info.install_command}`")


TEXTS = {
    "cat1": "the cat sat on the mat and purred at the cat",
    "cat2": "a cat purred on the mat, then the cat slept",
    "cat3": "my cat likes the warm mat and purred all day",
    "car1": "the car engine roared on the highway at speed",
    "car2": "a fast car with a loud engine on the highway",
    "car3": "the highway was full of cars, every engine loud",
}


# ------------------------------------------------------------------------ reliability: a busy SQLite database


def hold_sqlite_lock(path: str, seconds: float) -> threading.Thread:
    """Another program takes the database's write lock for a while (e.g. a backup, a long import)."""
    locked = threading.Event()

    def hold() -> None:
        con = sqlite3.connect(path, isolation_level=None)
        con.execute("BEGIN EXCLUSIVE")
        locked.set()
        time.sleep(seconds)
        con.execute("ROLLBACK")
        con.close()

    t = threading.Thread(target=hold)
    t.start()
    locked.wait(5)
    return t
