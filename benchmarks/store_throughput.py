"""Label events per second the store sustains: one writer, and four writer processes at once.

Every event is its own action and its own committed transaction (one click labeling one item: the slowest
case; a bulk action of N items costs about one commit). Runs on a fresh SQLite file, and on PostgreSQL when
``--pg URL`` or ``ALVIZ_TEST_PG_URL`` is given (a fresh schema there, dropped afterwards). Prints JSON.

    .venv/bin/python benchmarks/store_throughput.py [--events 500] [--pg postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from alviz.store import Store  # noqa: E402


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
    parser.add_argument("--events", type=int, default=500, help="events per writer")
    parser.add_argument("--writers", type=int, default=4, help="writer processes in the concurrent run")
    parser.add_argument("--pg", default=os.environ.get("ALVIZ_TEST_PG_URL"), help="PostgreSQL URL (optional)")
    args = parser.parse_args()

    report: dict = {
        "what": "single-item label actions, each its own committed transaction",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "results": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for writers in (1, args.writers):
            url = f"sqlite:///{Path(tmp) / f'bench-{writers}.db'}"
            report["results"].setdefault("sqlite", []).append(run(url, writers, args.events))
    if args.pg:
        server_version = None
        for writers in (1, args.writers):
            url, drop = _pg_schema(args.pg)
            try:
                report["results"].setdefault("postgresql", []).append(run(url, writers, args.events))
                if server_version is None:
                    engine = create_engine(url)
                    with engine.connect() as con:
                        server_version = con.execute(text("SHOW server_version")).scalar()
                    engine.dispose()
            finally:
                drop()
        report["postgresql_version"] = server_version
    else:
        report["postgresql"] = "skipped: pass --pg URL or set ALVIZ_TEST_PG_URL"
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
