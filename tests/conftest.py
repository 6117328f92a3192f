"""Shared fixtures: tiny hand-made pools whose right answers are known by construction, real SQLite files."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from dataclasses import dataclass

import numpy as np
import pytest
from sqlalchemy.engine import make_url

from alviz.embed import Embedding
from alviz.pool import Pool
from alviz.session import Session
from alviz.store import Store


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Every test gets its own embedding cache: never read or write ~/.cache/alviz."""
    cache_dir = tmp_path / "alviz-cache"
    monkeypatch.setenv("ALVIZ_CACHE", str(cache_dir))
    return cache_dir


@pytest.fixture(autouse=True)
def _keep_main_module():
    """AppTest leaves the app script as ``__main__``; a process spawned by a later test would then re-run the
    app (and fail to import ``views``) before its own work. Put the real one back after every test."""
    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main


OFFSETS = np.array([-1.0, -0.5, 0.0, 0.5, 1.0, 0.25, -0.25, 0.75])


def blobs(n_per_class: int = 6, n_classes: int = 2, prefix: str = "item") -> tuple[np.ndarray, ...]:
    """Clusters on a line, class c at x = 10 c, with the same y offsets in every class (so y tells nothing
    about the class, exactly). Rows c * n_per_class .. (c + 1) * n_per_class - 1 are class c.
    Returns (ids, X float32, y)."""
    y = np.repeat(np.arange(n_classes), n_per_class)
    X = np.stack([10.0 * y, np.tile(OFFSETS[:n_per_class], n_classes)], axis=1)
    ids = np.array([f"{prefix}-{i:03d}" for i in range(len(y))])
    return ids, X.astype(np.float32), y.astype(np.int64)


@pytest.fixture
def vector_pool() -> Pool:
    """12 items in two clusters (rows 0-5 and 6-11), no ground truth, no test part."""
    ids, X, _ = blobs()
    return Pool(name="blobs", ids=ids, vectors=X)


@pytest.fixture
def pool_with_test() -> Pool:
    """Two clusters with ground truth, and a held-out test pool drawn from the same clusters."""
    ids, X, y = blobs()
    test_ids, X_test, y_test = blobs(n_per_class=4, prefix="test")
    test = Pool(name="blobs-test", ids=test_ids, vectors=X_test, y_true=y_test, class_names=["left", "right"])
    return Pool(name="blobs", ids=ids, vectors=X, y_true=y, class_names=["left", "right"], test=test)


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "labels.db"


@pytest.fixture
def make_session(db_path):
    """Build a Session over a pool with its precomputed vectors, on a fresh Store of the test's database."""

    def make(pool: Pool, annotator: str = "alice", project: str | None = None, db=None) -> Session:
        X_test = pool.test.vectors if pool.test is not None else None
        embedding = Embedding(pool.vectors, X_test, "precomputed")
        return Session(pool, embedding, Store(db or db_path), project=project, annotator=annotator)

    return make


# ------------------------------------------------------------------------------ databases: SQLite and PostgreSQL

PG_ENV = "ALVIZ_TEST_PG_URL"


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def pg_admin_url() -> str:
    """The PostgreSQL server for tests (``scripts/pg_test_server.sh``); skip without one, but never under CI."""
    url = os.environ.get(PG_ENV, "").strip()
    if url:
        return url
    if _ci():
        pytest.fail(f"{PG_ENV} is not set under CI: .ci/run starts PostgreSQL with scripts/pg_test_server.sh.")
    pytest.skip(f'PostgreSQL tests need {PG_ENV}; start a server with: eval "$(scripts/pg_test_server.sh start)"')


@dataclass
class Database:
    """One empty database of either kind; ``url`` is what a Store opens.

    On PostgreSQL each test gets its own schema (search_path in the URL: fast), or with ``own=True`` its own
    database (slower to create, but one that can be closed to connections).
    """

    kind: str  # "sqlite" | "postgresql"
    url: str
    admin_url: str | None = None  # PostgreSQL: the server's maintenance database
    name: str | None = None  # PostgreSQL: the schema (or database) and application_name of this test's clients
    own: bool = False  # PostgreSQL: a database of its own rather than a schema

    def admin(self, sql: str) -> list:
        """Run one statement on the server (PostgreSQL only), autocommit; returns its rows."""
        import psycopg

        with psycopg.connect(_libpq(self.admin_url), autocommit=True) as con:
            cur = con.execute(sql)
            return cur.fetchall() if cur.description else []

    def terminate_backends(self) -> int:
        """Kill every server process serving this test's clients: what a server restart looks like to them."""
        rows = self.admin(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{self.name}'"
        )
        return len(rows)

    def allow_connections(self, allow: bool) -> None:
        """Open or close this test's own database (``own=True``) to new connections."""
        assert self.own, "only a database of its own can be closed"
        self.admin(f"ALTER DATABASE {self.name} ALLOW_CONNECTIONS {'true' if allow else 'false'}")


def _libpq(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as libpq (psycopg) takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def make_database(kind: str, tmp_path, own: bool = False) -> Database:
    if kind == "sqlite":
        return Database("sqlite", f"sqlite:///{tmp_path / 'labels.db'}")
    server = make_url(pg_admin_url())
    name = f"t_{uuid.uuid4().hex}"
    db = Database("postgresql", "", admin_url=server.set(database="postgres").render_as_string(False), name=name)
    query = {"application_name": name}
    if own:
        db.own = True
        db.admin(f"CREATE DATABASE {name}")
        url = server.set(database=name)
    else:
        db.admin_url = server.render_as_string(False)
        db.admin(f"CREATE SCHEMA {name}")
        url = server
        query["options"] = f"-csearch_path={name}"
    db.url = url.update_query_dict(query).render_as_string(hide_password=False)
    return db


def drop_database(db: Database) -> None:
    if db.kind == "postgresql":
        db.terminate_backends()
        db.admin(f"DROP DATABASE IF EXISTS {db.name} WITH (FORCE)" if db.own else f"DROP SCHEMA {db.name} CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path) -> Database:
    """An empty database, once as a SQLite file and once on the PostgreSQL test server."""
    db = make_database(request.param, tmp_path)
    yield db
    drop_database(db)


@pytest.fixture
def store_url(database) -> str:
    return database.url


@pytest.fixture
def pg_database(tmp_path) -> Database:
    """An empty schema on the PostgreSQL test server, for tests of PostgreSQL's own behavior."""
    db = make_database("postgresql", tmp_path)
    yield db
    drop_database(db)


@pytest.fixture(autouse=True, scope="session")
def _app_errors_in_full():
    """.streamlit/config.toml hides error details from the app's users; AppTest failures should still show them."""
    from streamlit import config

    config.set_option("client.showErrorDetails", "full")


@pytest.fixture(scope="module")
def local_ray(request):
    """A local Ray with 2 CPUs for the whole test file, its files in a temporary folder, stopped at the end. Classes
    defined in that file travel to the workers by value (the workers cannot import a test file)."""
    import ray

    temp = tempfile.mkdtemp(prefix="alviz-ray-test-", dir="/tmp")
    ray.init(address="local", num_cpus=2, _temp_dir=temp, include_dashboard=False, log_to_driver=False)
    ray.cloudpickle.register_pickle_by_value(request.module)
    yield
    ray.shutdown()
    shutil.rmtree(temp, ignore_errors=True)
