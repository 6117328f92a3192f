"""What the label store sustains, on SQLite and (when a server is given) PostgreSQL. Prints JSON, one object as
its last line.

- Single-item label actions, each its own committed transaction (one click: the slowest case), with one writer
  and with four writer processes at once.
- At scale (``--ids``, default 100k): bulk-labeling that many items in one action (labels/s), undoing an action
  of half as many (seconds), and what a Streamlit rerun costs a ``Session`` holding that many labels: ``sync``
  with nothing new, ``sync`` after a teammate's one label, ``current_sources``, a full ``refresh``.
- The naive anchor in the same run: plain ``sqlite3`` ``executemany`` of the same tuples into a bare table with
  the same columns, and into a copy of alviz's table with its indexes.

Runs on fresh SQLite files, and on PostgreSQL when ``--pg URL`` or ``ALVIZ_TEST_PG_URL`` is given (a fresh schema
there, dropped afterwards; ``eval "$(scripts/pg_test_server.sh start)"`` starts a local one).

    .venv/bin/python benchmarks/store_throughput.py [--events 500] [--ids 100000] [--pg postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from alviz.embed import Embedding  # noqa: E402
from alviz.pool import Pool  # noqa: E402
from alviz.session import Session  # noqa: E402
from alviz.store import Store, metadata  # noqa: E402


def _writer(url: str, k: int, n: int, ready, go, out) -> None:
    store = Store(url)
    pid = store.project("bench")
    store.add_labels(pid, [f"warm-{k}"], "x", f"w{k}", "single")  # connect and warm up outside the clock
    ready.set()
    go.wait(60)
    t0 = time.perf_counter()
    for i in range(n):
        store.add_labels(pid, [f"item-{k}-{i}"], "cat", f"w{k}", "single")
    out.put((k, time.perf_counter() - t0))
    store.close()


def run(url: str, writers: int, n: int) -> dict:
    ctx = mp.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    readies = [ctx.Event() for _ in range(writers)]
    procs = [ctx.Process(target=_writer, args=(url, k, n, readies[k], go, out)) for k in range(writers)]
    for p in procs:
        p.start()
    for r in readies:
        r.wait(120)
    t0 = time.perf_counter()
    go.set()
    results = [out.get(timeout=600) for _ in procs]
    wall = time.perf_counter() - t0
    for p in procs:
        p.join()
    store = Store(url)
    stored = len(store.events(store.project("bench"))) - writers  # minus the warm-up events
    store.close()
    if stored != writers * n:
        raise SystemExit(f"lost events: stored {stored}, expected {writers * n}")
    return {
        "writers": writers,
        "events": writers * n,
        "seconds": round(wall, 3),
        "events_per_s": round(writers * n / wall, 1),
        "slowest_writer_s": round(max(s for _, s in results), 3),
    }


def _clock(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def at_scale(url: str, n: int) -> dict:
    """Bulk label n items, undo an action of n/2, and a rerun's store reads with n labels, through a Session."""
    ids = np.array([f"item-{i:07d}" for i in range(n)])
    X = np.random.default_rng(0).normal(size=(n, 2)).astype(np.float32)
    pool = Pool(name="bench", ids=ids, vectors=X)
    sess = Session(pool, Embedding(X, None, "precomputed"), Store(url), annotator="alice")
    bulk_s, _ = _clock(lambda: sess.label(np.arange(n), "cat"))
    again_s, _ = _clock(lambda: sess.label(np.arange(n), "dog"))  # the same items again: indexes already full
    sess.label(np.arange(n // 2), "bird")
    undo_s, undone = _clock(sess.undo)
    if undone != n // 2 or sess.label_counts().get("bird", 0) != 0:
        raise SystemExit(f"undo reverted {undone} items, expected {n // 2}")
    idle_s = min(_clock(sess.sync)[0] for _ in range(5))
    teammate = Store(url)
    teammate.add_labels(teammate.project("bench"), [ids[0]], "cat", "bob", "single")
    teammate.close()
    one_s, changed = _clock(sess.sync)
    if not changed or sess.class_names[sess.y[0]] != "cat":
        raise SystemExit("sync missed a teammate's label")
    sources_s, _ = _clock(sess.current_sources)
    refresh_s, _ = _clock(sess.refresh)
    own_s, _ = _clock(lambda: sess.label([1], "cat", source="single"))
    after_own_s, reread = _clock(sess.sync)
    sess.store.close()
    return {
        "ids": n,
        "bulk_label_labels_per_s": round(n / bulk_s),
        "bulk_relabel_labels_per_s": round(n / again_s),
        "undo_s": round(undo_s, 3),
        "undo_items": undone,
        "sync_nothing_new_s": round(idle_s, 4),
        "sync_one_new_label_s": round(one_s, 4),
        "sync_after_own_label_s": round(after_own_s, 4),
        "sync_after_own_label_read_the_store": reread,
        "single_label_s": round(own_s, 4),
        "current_sources_s": round(sources_s, 3),
        "full_refresh_s": round(refresh_s, 3),
    }


def naive_anchor(folder: Path, n: int) -> dict:
    """Plain sqlite3 executemany of the tuples alviz writes: into a bare table, and into alviz's indexed table."""
    stamp = "2026-01-01 00:00:00.000000"
    out = {}
    for name, indexed in (("bare_table", False), ("alviz_table", True)):
        path = folder / f"anchor-{name}.db"
        if indexed:  # the same DDL alviz creates, written by SQLAlchemy once, then plain sqlite3 from here on
            engine = create_engine(f"sqlite:///{path}")
            metadata.create_all(engine)
            engine.dispose()
        con = sqlite3.connect(path, isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        if not indexed:
            con.execute(
                "CREATE TABLE label_events (id INTEGER PRIMARY KEY, project_id INTEGER, action_id INTEGER, "
                "item_id TEXT, label TEXT, annotator TEXT, source TEXT, created_at TEXT)"
            )
        rows = [(1, 1, f"item-{i:07d}", "cat", "alice", "bulk", stamp) for i in range(n)]
        t0 = time.perf_counter()
        con.execute("BEGIN IMMEDIATE")
        con.executemany(
            "INSERT INTO label_events (project_id, action_id, item_id, label, annotator, source, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        con.execute("COMMIT")
        out[f"{name}_labels_per_s"] = round(n / (time.perf_counter() - t0))
        con.close()
    return out


def _pg_schema(server: str):
    """A fresh schema on the server and a URL that uses it; returns (url, drop)."""
    name = f"bench_{uuid.uuid4().hex[:12]}"
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as con:
        con.execute(text(f"CREATE SCHEMA {name}"))
    url = make_url(server).update_query_dict({"options": f"-csearch_path={name}"}).render_as_string(False)

    def drop() -> None:
        with engine.connect() as con:
            con.execute(text(f"DROP SCHEMA {name} CASCADE"))
        engine.dispose()

    return url, drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500, help="single-item actions per writer")
    parser.add_argument("--writers", type=int, default=4, help="writer processes in the concurrent run")
    parser.add_argument("--ids", type=int, default=100_000, help="items bulk-labeled at scale (undo: half)")
    parser.add_argument("--pg", default=os.environ.get("ALVIZ_TEST_PG_URL"), help="PostgreSQL URL (optional)")
    args = parser.parse_args()

    report: dict = {
        "what": "single: one-item actions, each its own committed transaction; at_scale: bulk label, undo and "
        "a rerun's sync through a Session; naive_anchor: plain sqlite3 executemany of the same rows",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "single": {},
        "at_scale": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        report["naive_anchor_sqlite"] = naive_anchor(Path(tmp), args.ids)
        report["at_scale"]["sqlite"] = at_scale(f"sqlite:///{Path(tmp) / 'scale.db'}", args.ids)
        for writers in (1, args.writers):
            url = f"sqlite:///{Path(tmp) / f'bench-{writers}.db'}"
            report["single"].setdefault("sqlite", []).append(run(url, writers, args.events))
    if args.pg:
        url, drop = _pg_schema(args.pg)
        try:
            report["at_scale"]["postgresql"] = at_scale(url, args.ids)
            engine = create_engine(url)
            with engine.connect() as con:
                report["postgresql_version"] = con.execute(text("SHOW server_version")).scalar()
            engine.dispose()
        finally:
            drop()
        for writers in (1, args.writers):
            url, drop = _pg_schema(args.pg)
            try:
                report["single"].setdefault("postgresql", []).append(run(url, writers, args.events))
            finally:
                drop()
    else:
        report["postgresql"] = "skipped: pass --pg URL, set ALVIZ_TEST_PG_URL or run scripts/pg_test_server.sh start"
    report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(report))


if __name__ == "__main__":
    main()
