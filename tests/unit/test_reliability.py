"""Labels are never lost: concurrent writers, a writer killed mid-action, a database away for a moment.

Each test runs on a SQLite file and on the PostgreSQL test server, and fails if a single label goes missing
(or is stored twice, or half).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from _helpers import ROOT, hold_sqlite_lock
from _store_workers import writer
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from alviz.embed import Embedding
from alviz.pool import Pool
from alviz.session import Session
from alviz.store import Store, StoreError

WRITERS, PER_WRITER = 4, 500


def rows(url: str, statement: str) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as con:
            return con.execute(text(statement)).fetchall()
    finally:
        engine.dispose()


def latest_labels_by_hand(url: str) -> dict[str, str | None]:
    """item -> label of its highest-id event, computed independently of the Store."""
    got: dict[str, tuple[int, str | None]] = {}
    for eid, item, label in rows(url, "SELECT id, item_id, label FROM label_events"):
        if item not in got or eid > got[item][0]:
            got[item] = (eid, label)
    return {item: label for item, (_, label) in got.items()}


# ----------------------------------------------------------------------------------- concurrent writers


def test_four_processes_labeling_at_once_lose_nothing(store_url):
    ctx = mp.get_context("spawn")
    go = ctx.Event()
    readies = [ctx.Event() for _ in range(WRITERS)]
    procs = [ctx.Process(target=writer, args=(store_url, k, PER_WRITER, readies[k], go)) for k in range(WRITERS)]
    for p in procs:
        p.start()
    for r in readies:
        assert r.wait(60), "a writer did not start"
    go.set()  # all four hammer the database from here on
    for p in procs:
        p.join(120)
        assert p.exitcode == 0, f"writer exited with {p.exitcode}"

    store = Store(store_url)
    pid = store.project("team")
    events = store.events(pid)
    assert len(events) == WRITERS * PER_WRITER
    assert Counter(e["annotator"] for e in events) == {f"writer-{k}": PER_WRITER for k in range(WRITERS)}
    assert len({e["action_id"] for e in events}) == WRITERS * PER_WRITER  # one action each, none merged
    current = store.current_labels(pid)
    assert len(current) == PER_WRITER
    assert current == latest_labels_by_hand(store_url)  # the store's "latest" is the highest event id
    judged = Counter(who for _, who, _, _ in store.judgments(pid))
    assert judged == {f"writer-{k}": PER_WRITER for k in range(WRITERS)}  # everyone's own label is kept
    assert store.project_names() == ["team"]


# ------------------------------------------------------------------------------------- killed mid-action

CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from sqlalchemy import event
    from alviz.store import Store

    url, marker, mode = sys.argv[1:4]
    store = Store(url)
    pid = store.project("p")
    items = [f"item-{i:04d}" for i in range(1000)]
    if mode == "stall":  # stop inside the transaction, after the events are written, before the commit
        @event.listens_for(store.engine, "after_cursor_execute")
        def stall(conn, cursor, statement, params, context, executemany):
            if statement.lstrip().upper().startswith("INSERT INTO LABEL_EVENTS"):
                Path(marker).touch()
                time.sleep(120)
        store.add_labels(pid, items, "cat", "alice", "bulk")
    else:  # bulk-label all 1,000 again and again until killed, wherever that lands
        Path(marker).touch()
        k = 0
        while True:
            store.add_labels(pid, items, f"round-{k}", "alice", "bulk")
            k += 1
    """
)
ITEMS = [f"item-{i:04d}" for i in range(1000)]


def _spawn_child(url: str, tmp_path: Path, mode: str) -> tuple[subprocess.Popen, Path]:
    script, marker = tmp_path / "child.py", tmp_path / f"{mode}.started"
    script.write_text(CHILD)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, str(script), url, str(marker), mode], env=env)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, f"child exited early with {proc.returncode}"
        assert time.monotonic() < deadline, "child never reached the write"
        time.sleep(0.01)
    return proc, marker


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(30) == -signal.SIGKILL


def _resume(url: str, tmp_path: Path) -> Session:
    """What the app does after a restart: open the store, build a session over the pool."""
    pool = Pool(name="p", ids=np.array(ITEMS), vectors=np.random.default_rng(0).normal(size=(1000, 4)))
    return Session(pool, Embedding(pool.vectors, None, "precomputed"), Store(url), annotator="alice")


def test_a_bulk_label_killed_before_its_commit_leaves_no_trace(database, tmp_path):
    before = Store(database.url)
    pid = before.project("p")
    before.add_labels(pid, ITEMS, "dog", "alice", "bulk")
    before.close()

    proc, _ = _spawn_child(database.url, tmp_path, "stall")
    time.sleep(0.2)  # inside the open transaction, its 1,000 events written but not committed
    _kill(proc)

    sess = _resume(database.url, tmp_path)
    assert sess.n_labeled == 1000 and set(sess.label_counts()) == {"dog"}
    assert rows(database.url, "SELECT COUNT(*) FROM label_events")[0][0] == 1000
    assert rows(database.url, "SELECT COUNT(*) FROM actions")[0][0] == 1
    sess.label(np.arange(10), "cat")  # the app goes on: the killed writer holds no lock
    assert sess.store.current_labels(sess.project_id)["item-0000"] == "cat"
    if database.kind == "sqlite":
        path = database.url.removeprefix("sqlite:///")
        assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_writer_killed_at_a_random_moment_leaves_only_whole_actions(database, tmp_path):
    proc, _ = _spawn_child(database.url, tmp_path, "loop")
    time.sleep(random.uniform(0.5, 1.5))
    _kill(proc)

    sess = _resume(database.url, tmp_path)
    per_action = rows(
        database.url,
        "SELECT a.id, a.n_items, COUNT(e.id), COUNT(DISTINCT e.label) FROM actions a "
        "LEFT JOIN label_events e ON e.action_id = a.id GROUP BY a.id, a.n_items ORDER BY a.id",
    )
    assert per_action, "the child stored nothing in 0.5 s or more"
    assert all(n_items == n_events == 1000 and n_labels == 1 for _, n_items, n_events, n_labels in per_action)
    last = rows(database.url, "SELECT label FROM label_events ORDER BY id DESC LIMIT 1")[0][0]
    assert sess.n_labeled == 1000 and set(sess.label_counts()) == {last}  # every item: the last whole action
    assert rows(database.url, "SELECT COUNT(*) FROM label_events")[0][0] == 1000 * len(per_action)
    assert sess.label(np.arange(5), "fresh") == 5


# -------------------------------------------------------------------------------- database away a moment


def test_sqlite_locked_for_a_moment_waits_and_stores(tmp_path):
    path = str(tmp_path / "labels.db")
    store = Store(path, busy_timeout=0.3, backoff=0.2)
    pid = store.project("p")
    holder = hold_sqlite_lock(path, 1.0)  # longer than one busy wait: the retries carry it
    store.add_labels(pid, ["a", "b"], "cat", "alice", "bulk")
    holder.join()
    assert store.current_labels(pid) == {"a": "cat", "b": "cat"}
    assert len(store.events(pid)) == 2


def test_sqlite_locked_too_long_says_so_and_writes_nothing_then_the_retry_stores(tmp_path):
    path = str(tmp_path / "labels.db")
    store = Store(path, retries=2, busy_timeout=0.1, backoff=0.05)
    pid = store.project("p")
    store.add_labels(pid, ["a"], "dog", "alice", "single")
    holder = hold_sqlite_lock(path, 1.5)
    with pytest.raises(StoreError, match="unavailable or busy.*Nothing was written; try again"):
        store.add_labels(pid, ["a", "b"], "cat", "alice", "bulk")
    holder.join()
    assert store.current_labels(pid) == {"a": "dog"}  # not half of the failed action
    store.add_labels(pid, ["a", "b"], "cat", "alice", "bulk")  # the user's retry
    assert store.current_labels(pid) == {"a": "cat", "b": "cat"} and len(store.events(pid)) == 3


def test_a_session_keeps_its_labels_when_the_database_refuses_a_write(tmp_path, vector_pool):
    path = str(tmp_path / "labels.db")
    sess = Session(vector_pool, Embedding(vector_pool.vectors, None, "x"), Store(path, 2, 0.05, 0.1), annotator="a")
    sess.label([0, 1], "left")
    holder = hold_sqlite_lock(path, 1.0)
    with pytest.raises(StoreError):
        sess.label([2, 3], "right")
    holder.join()
    assert sess.n_labeled == 2 and sess.label_counts().get("right", 0) == 0  # the mirror did not run ahead
    assert sess.store.current_labels(sess.project_id) == {"item-000": "left", "item-001": "left"}


def test_postgresql_connections_dropped_between_writes_are_replaced(pg_database):
    store = Store(pg_database.url)
    pid = store.project("p")
    store.add_labels(pid, ["a"], "cat", "alice", "single")
    assert pg_database.terminate_backends() >= 1  # the pooled connection is dead now
    store.add_labels(pid, ["b"], "dog", "alice", "single")
    assert store.current_labels(pid) == {"a": "cat", "b": "dog"}


def test_postgresql_connection_dropped_inside_a_write_stores_it_exactly_once(pg_database):
    """The server drops the connection mid-transaction: the action is retried, and stored once, whole."""
    store = Store(pg_database.url, backoff=0.05)
    pid = store.project("p")
    dropped = []

    @event.listens_for(store.engine, "after_cursor_execute")
    def drop_once(conn, cursor, statement, params, context, executemany):
        if not dropped and statement.lstrip().upper().startswith("INSERT INTO LABEL_EVENTS"):
            dropped.append(pg_database.terminate_backends())

    store.add_labels(pid, [f"i{k}" for k in range(100)], "cat", "alice", "bulk")
    assert dropped == [1]
    assert rows(pg_database.url, "SELECT COUNT(*) FROM label_events")[0][0] == 100
    assert rows(pg_database.url, "SELECT COUNT(*) FROM actions")[0][0] == 1


@pytest.fixture
def own_pg_database(tmp_path):
    from conftest import drop_database, make_database

    db = make_database("postgresql", tmp_path, own=True)
    yield db
    db.allow_connections(True)
    drop_database(db)


def _outage(db, seconds: float) -> threading.Thread:
    """The database refuses every connection for ``seconds``, its open connections cut."""
    db.allow_connections(False)
    db.terminate_backends()

    def reopen() -> None:
        time.sleep(seconds)
        db.allow_connections(True)

    t = threading.Thread(target=reopen)
    t.start()
    return t


def test_postgresql_away_for_a_moment_is_ridden_out(own_pg_database):
    store = Store(own_pg_database.url)  # default retries: about 3.75 s of patience
    pid = store.project("p")
    store.add_labels(pid, ["a"], "cat", "alice", "single")
    outage = _outage(own_pg_database, 1.0)
    store.add_labels(pid, ["b", "c"], "dog", "alice", "bulk")
    outage.join()
    assert store.current_labels(pid) == {"a": "cat", "b": "dog", "c": "dog"}


def test_postgresql_away_too_long_says_so_and_the_retry_stores(own_pg_database):
    store = Store(own_pg_database.url, retries=2, backoff=0.05)
    pid = store.project("p")
    store.add_labels(pid, ["a"], "cat", "alice", "single")
    outage = _outage(own_pg_database, 1.0)
    with pytest.raises(StoreError, match="unavailable or busy.*Nothing was written") as err:
        store.add_labels(pid, ["b", "c"], "dog", "alice", "bulk")
    assert make_url(own_pg_database.url).password not in str(err.value)
    outage.join()
    store.add_labels(pid, ["b", "c"], "dog", "alice", "bulk")
    assert rows(own_pg_database.url, "SELECT COUNT(*) FROM label_events")[0][0] == 3


def test_postgresql_server_restart_while_labeling_loses_nothing(pg_database):
    """A real restart of the test server (pg_ctl restart) in the middle of a stream of labels."""
    if not os.environ.get("ALVIZ_TEST_PG_DIR"):
        pytest.skip("needs ALVIZ_TEST_PG_DIR from scripts/pg_test_server.sh to restart the server")
    store = Store(pg_database.url)
    pid = store.project("p")
    restarted = threading.Event()
    connects = []
    event.listen(store.engine, "connect", lambda *_: connects.append(1))

    def restart() -> None:
        time.sleep(0.3)
        subprocess.run([str(ROOT / "scripts" / "pg_test_server.sh"), "restart"], check=True, capture_output=True)
        restarted.set()

    t = threading.Thread(target=restart)
    t.start()
    n = 0
    deadline = time.monotonic() + 30
    while not restarted.is_set() or n < 50:
        store.add_labels(pid, [f"i{n}"], "cat", "alice", "single")
        n += 1
        assert time.monotonic() < deadline
    t.join()
    assert rows(pg_database.url, "SELECT COUNT(*) FROM label_events")[0][0] == n
    assert len(store.current_labels(pid)) == n
    assert len(connects) >= 1  # the restart cut the pooled connection: the store had to reconnect


# ------------------------------------------------------------------------------ files that would take it down


def _npz_with_header(path: Path, shape: tuple, dtype: str = "<f8") -> Path:
    """An .npz whose X.npy header claims ``shape`` but holds a few bytes (a crafted file)."""
    import io
    import zipfile

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    y = io.BytesIO()
    np.save(y, np.array([0, 1]))
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("X.npy", buf.getvalue() + b"\0" * 64)
        zf.writestr("y.npy", y.getvalue())
    return path


def test_an_npz_whose_header_claims_a_huge_array_is_refused_before_allocating(tmp_path):
    from alviz import datasets

    path = _npz_with_header(tmp_path / "crafted.npz", (10**12, 4))
    assert path.stat().st_size < 1000
    with pytest.raises(ValueError, match="claims a"):
        datasets.load(str(path))


@pytest.mark.parametrize(
    "content",
    [b"PK\x03\x04truncated", b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fort", b"not a numpy file at all"],
    ids=["truncated-zip", "truncated-npy", "garbage"],
)
def test_a_broken_npz_says_what_it_is_and_never_suggests_pickle(tmp_path, content):
    from alviz import datasets

    path = tmp_path / "broken.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="could not be read as a numpy") as err:
        datasets.load(str(path))
    assert "pickle" not in str(err.value)


def test_an_npy_renamed_npz_is_refused_with_a_message(tmp_path):
    from alviz import datasets

    path = tmp_path / "renamed.npz"
    with open(path, "wb") as f:
        np.save(f, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="could not be read"):
        datasets.load(str(path))


@pytest.mark.parametrize(
    "X, y, match",
    [
        (np.zeros((4, 0)), np.array([0, 1, 0, 1]), "at least one row and one feature"),
        (np.random.default_rng(0).normal(size=(4, 2)), np.array([0.1, 2.5, 3.7, 1.2]), "non-integer values"),
    ],
    ids=["zero-features", "continuous-labels"],
)
def test_an_npz_with_no_features_or_continuous_labels_is_refused(tmp_path, X, y, match):
    from alviz import datasets

    np.savez(tmp_path / "d.npz", X=X, y=y)
    with pytest.raises(ValueError, match=match):
        datasets.load(str(tmp_path / "d.npz"))


def _palette_png(path: Path, side: int) -> Path:
    from PIL import Image

    img = Image.new("P", (side, side))
    img.putpalette([k % 256 for k in range(768)])
    img.save(path, optimize=True)
    return path


def test_an_image_over_the_pixel_limit_is_skipped_with_a_note(tmp_path, monkeypatch):
    from PIL import Image

    from alviz import datasets

    monkeypatch.setenv("ALVIZ_MAX_IMAGE_PIXELS", "1000000")
    (tmp_path / "a").mkdir()
    _palette_png(tmp_path / "a" / "huge.png", 2000)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "a" / "small.png")
    pool = datasets.load_image_folder(tmp_path)
    assert pool.ids.tolist() == ["a/small.png"]
    assert any("huge.png (2000x2000 pixels" in n for n in pool.notes)


def test_a_tiny_png_of_144_megapixels_is_skipped_not_decoded(tmp_path):
    from PIL import Image

    from alviz import datasets

    (tmp_path / "a").mkdir()
    bomb = _palette_png(tmp_path / "a" / "bomb.png", 12000)
    assert bomb.stat().st_size < 400_000
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "a" / "small.png")
    assert datasets.load_image_folder(tmp_path).ids.tolist() == ["a/small.png"]


def test_cli_commands_on_broken_files_exit_with_one_line(tmp_path, capsys):
    from alviz.cli import main

    crafted = _npz_with_header(tmp_path / "crafted.npz", (10**12, 4))
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(b"PK\x03\x04cut")
    db = tmp_path / "l.db"
    Store(db).close()
    for argv in (
        ["embed", "--data", str(crafted), "--out", str(tmp_path / "e.npz")],
        ["difficulty", "--data", str(truncated), "--db", str(db), "--out", str(tmp_path / "d.csv")],
        ["export", "--db", str(db), "--out", str(tmp_path / "no" / "such" / "folder" / "labels.csv")],
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, (argv, err)


# --------------------------------------------------------------------------- errors that no retry can fix


def test_a_full_sqlite_database_says_disk_full_at_once(tmp_path):
    store = Store(tmp_path / "l.db", retries=3, backoff=0.01)
    pid = store.project("p")
    store.add_labels(pid, ["a"], "x", "alice", "single")
    store.engine.dispose()
    # SQLite's own page cap: growing past it is the same SQLITE_FULL a full disk gives.
    event.listen(store.engine, "connect", lambda dbapi_conn, _rec: dbapi_conn.execute("PRAGMA max_page_count = 1"))
    with pytest.raises(StoreError, match="full disk") as err:
        store.add_labels(pid, [f"item-{k}" for k in range(5000)], "y", "alice", "bulk")
    assert "try again" not in str(err.value)
    assert store.current_labels(pid) == {"a": "x"}


def test_a_read_only_sqlite_database_says_read_only_at_once(tmp_path):
    db = tmp_path / "l.db"
    Store(db).close()
    store = Store(f"sqlite:///file:{db}?mode=ro&uri=true", retries=3, backoff=0.01)
    with pytest.raises(StoreError, match="read-only") as err:
        store.project("p")
    assert "try again" not in str(err.value)


def test_export_onto_a_full_disk_keeps_the_old_file_and_says_so_in_one_line(tmp_path):
    db = tmp_path / "l.db"
    store = Store(db)
    store.add_labels(store.project("p"), [f"item-{k:06d}" for k in range(5000)], "cat", "alice", "bulk")
    store.close()
    out = tmp_path / "labels.csv"
    out.write_text("the previous export\n")
    # A file-size limit makes writes past 100 KB fail with EFBIG, as a full disk fails them with ENOSPC.
    script = textwrap.dedent(
        f"""
        import resource, signal, sys
        from alviz.cli import main
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
        sys.exit(main(["export", "--db", {str(db)!r}, "--out", {str(out)!r}]))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: Could not write") and proc.stderr.count("\n") == 1, proc.stderr
    assert out.read_text() == "the previous export\n"
    assert sorted(p.name for p in tmp_path.iterdir() if "labels" in p.name) == ["labels.csv"]
