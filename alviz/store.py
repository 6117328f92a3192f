"""Persistence: every label is an append-only event, committed the moment it is given.

SQLite file by default (WAL, so readers never block the writer), PostgreSQL (psycopg 3) by URL, any other
SQLAlchemy URL at your own risk. Current labels are derived from events (the latest event per item wins; a
NULL label means "unlabeled", which is how undo is recorded), so history is never lost.

Guarantees, each covered by tests on both databases (tests/unit/test_store.py, tests/unit/test_reliability.py):

- An action (one click: 1 item or 10,000) is one transaction: stored whole or not at all, also when the
  process is killed mid-write.
- Concurrent writers (processes, machines) never lose an event. SQLite writers take the write lock up
  front (``BEGIN IMMEDIATE``) and wait for each other (busy timeout); PostgreSQL writers lock their project's
  row first (one row per transaction, always first: nothing can deadlock), so an undo never clobbers a label
  given at the same moment.
- A project's events commit in id order on both databases (one writer per project at a time), so whoever has
  seen event N has seen every event before it: ``changes_since(N)`` is exact, and a session catches up by
  reading only what is new. Bulk writes are plain ``executemany`` of tuples; an undo is a few set-based
  statements, whatever its size.
- A busy or vanished database is retried with backoff (dropped pooled connections are detected by a
  pre-ping); when it stays away, ``StoreError`` says so and nothing was written. Every write carries a
  request key, so a retry after a commit whose acknowledgement was lost does not store the action twice.
- Schema migrations (``MIGRATIONS``) bring an older database up to date when it is opened; a database
  written by a newer alviz is refused with a clear message instead of being damaged.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import repeat
from pathlib import Path
from typing import TypeVar

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    inspect,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

SCHEMA_VERSION = 5

# Where a label came from. Human judgments: single (one item on the map), bulk (a lasso), queue (picked in the
# queue with no suggestion shown), accepted (the model's suggestion, accepted), corrected (a suggestion was shown
# and the annotator chose another class), qc (a blind second label for quality control), import (from a file).
# Not judgments of their own: resolve (a reviewer settles a conflict), pseudo (the model's own label), undo
# (restores the label an undone action replaced), rename (a class renamed or merged).
SOURCES = ("single", "bulk", "queue", "accepted", "corrected", "qc", "import", "resolve", "pseudo", "undo", "rename")
JUDGMENTS = ("single", "bulk", "queue", "accepted", "corrected", "qc", "import")
# Second opinions: judgments that count in agreement and conflicts but never become an item's current label
# (a blind QC label must not overwrite the label it checks; a reviewer's "resolve" settles a disagreement).
OPINIONS = ("qc",)
# Extra numbers a round may carry (v3): the model of the human labels alone, the model with pseudo-labels too,
# and how many pseudo-labels it used, so the learning curve can show both.
ROUND_EXTRAS = ("accuracy_human", "accuracy_pseudo", "n_pseudo")
MAX_ITEM_ID = 1024
MAX_LABEL = 255
MAX_ANNOTATOR = 255

metadata = MetaData()
projects = Table(
    "projects",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("settings", Text, nullable=True),  # v2: JSON object (QC routing, ...)
)
actions = Table(
    "actions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project_id", ForeignKey("projects.id"), nullable=False, index=True),
    Column("annotator", String(255), nullable=False),
    Column("source", String(32), nullable=False),
    Column("n_items", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("undone_by", Integer, nullable=True),
    Column("request_key", String(36), nullable=True),  # v2: makes a retried write idempotent
    Index("ix_actions_request_key", "request_key", unique=True),
    Index("ix_actions_project_latest", "project_id", "id"),  # v4: a project's newest action, on PostgreSQL too
)
label_events = Table(
    "label_events",
    metadata,
    Column("id", Integer, primary_key=True),
    # v4: no index on project_id or item_id alone (the composite below serves both); each index costs every
    # bulk label about a fifth of its speed.
    Column("project_id", ForeignKey("projects.id"), nullable=False),
    Column("action_id", ForeignKey("actions.id"), nullable=False, index=True),
    Column("item_id", String(MAX_ITEM_ID), nullable=False),
    Column("label", String(MAX_LABEL), nullable=True),
    Column("annotator", String(MAX_ANNOTATOR), nullable=False),
    Column("source", String(32), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # v5: an import attributed to its importer keeps here who the file said gave the label (NULL otherwise)
    Column("imported_from", String(MAX_ANNOTATOR), nullable=True),
    Index("ix_label_events_project_item", "project_id", "item_id", "id"),  # v2: latest event per item
)
rounds = Table(
    "rounds",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project_id", ForeignKey("projects.id"), nullable=False, index=True),
    Column("round", Integer, nullable=False),
    Column("n_labeled", Integer, nullable=False),
    Column("accuracy", Float, nullable=True),
    Column("metric", String(64), nullable=False),
    Column("annotator", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("request_key", String(36), nullable=True),  # v2
    Column("accuracy_human", Float, nullable=True),  # v3
    Column("accuracy_pseudo", Float, nullable=True),  # v3
    Column("n_pseudo", Integer, nullable=True),  # v3
    Index("ix_rounds_request_key", "request_key", unique=True),
)
schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)

# Statements run on every write and every rerun, built once: building them per call cost more than running them.
_ACTION_LAST_EVENT = select(func.max(label_events.c.id)).where(label_events.c.action_id == bindparam("action_id"))
_NEWEST_EVENT = select(func.max(label_events.c.id)).where(
    label_events.c.action_id
    == select(actions.c.id)
    .where(actions.c.project_id == bindparam("project_id"), actions.c.n_items > 0)
    .order_by(actions.c.id.desc())
    .limit(1)
    .scalar_subquery()
)

T = TypeVar("T")


class StoreError(RuntimeError):
    """The database could not be reached or written; nothing was changed."""


@dataclass(frozen=True)
class Written:
    """Where one write landed: its action, how many items it changed, and the project's newest event id just
    before it and just after it (both -1 when a retry found the write already committed). A reader that had
    seen ``prev_event_id`` and applies this write itself has seen ``last_event_id``."""

    action_id: int
    n_items: int
    prev_event_id: int
    last_event_id: int


def _now() -> datetime:
    return datetime.now(UTC)


def normalize_url(db: str | Path) -> str:
    """A SQLAlchemy URL from a URL or a plain file path (``postgresql://`` means psycopg 3)."""
    db = str(db)
    if db.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + db.split("://", 1)[1]
    return db if "://" in db else f"sqlite:///{Path(db).expanduser().resolve()}"


# ---------------------------------------------------------------------------------------------- migrations


def _add_column(conn: Connection, table: Table, name: str) -> None:
    """ALTER TABLE ... ADD COLUMN for a column of ``table`` as the current metadata defines it."""
    if name in {c["name"] for c in inspect(conn).get_columns(table.name)}:
        return
    col = table.c[name]
    kind = col.type.compile(dialect=conn.dialect)
    conn.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {name} {kind}"))


def _migrate_2(conn: Connection) -> None:
    """v1 (alviz 0.1: no version table) -> v2: project settings, request keys, latest-per-item index."""
    schema_version.create(conn, checkfirst=True)
    _add_column(conn, projects, "settings")
    _add_column(conn, actions, "request_key")
    _add_column(conn, rounds, "request_key")
    for table, index in (
        (actions, "ix_actions_request_key"),
        (rounds, "ix_rounds_request_key"),
        (label_events, "ix_label_events_project_item"),
    ):
        next(ix for ix in table.indexes if ix.name == index).create(conn, checkfirst=True)


def _migrate_3(conn: Connection) -> None:
    """v2 -> v3: a round records the accuracy with and without pseudo-labels (older rounds keep NULL)."""
    for name in ROUND_EXTRAS:
        _add_column(conn, rounds, name)


def _migrate_4(conn: Connection) -> None:
    """v3 -> v4: drop the two label_events indexes the composite (project, item, id) index makes redundant
    (they halved bulk-label speed), and index a project's newest action (the cheap "anything new?" check)."""
    for name in ("ix_label_events_project_id", "ix_label_events_item_id"):
        conn.execute(text(f"DROP INDEX IF EXISTS {name}"))
    next(ix for ix in actions.indexes if ix.name == "ix_actions_project_latest").create(conn, checkfirst=True)


def _migrate_5(conn: Connection) -> None:
    """v4 -> v5: an imported label keeps the annotator its file named, when the label is the importer's (older
    events keep NULL)."""
    _add_column(conn, label_events, "imported_from")


# version -> the function that upgrades a database from version - 1 to it. Version 1 is the schema alviz 0.1
# created (no schema_version table). Add a function here whenever the tables change; never edit an old one.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {2: _migrate_2, 3: _migrate_3, 4: _migrate_4, 5: _migrate_5}


def _version(conn: Connection) -> int:
    """The schema version of the database behind ``conn``: 0 when it has no alviz tables yet."""
    tables = set(inspect(conn).get_table_names())
    if "schema_version" in tables:
        return int(conn.scalar(select(func.max(schema_version.c.version))) or 1)
    return 1 if "label_events" in tables else 0


# ---------------------------------------------------------------------------------------------------- store


class Store:
    """Labels, actions, settings and training rounds of any number of projects in one database.

    ``retries`` attempts with exponential backoff from ``backoff`` seconds ride out a database that is away for
    a moment (about 0.25 + 0.5 + 1 + 2 = 3.75 s with the defaults); ``busy_timeout`` is how long SQLite waits
    for another writer's lock before that counts as one failed attempt.
    """

    def __init__(
        self, url: str | Path = "alviz.db", retries: int = 5, backoff: float = 0.25, busy_timeout: float = 5.0
    ) -> None:
        self.url = normalize_url(url)
        self.retries = max(1, int(retries))
        self.backoff = backoff
        kwargs: dict = {"pool_pre_ping": True}  # a dropped pooled connection is replaced, not handed out
        if self.url.startswith("postgresql") and "connect_timeout" not in self.url:
            kwargs["connect_args"] = {"connect_timeout": 5}  # an unreachable host fails in seconds, not minutes
        try:
            self.engine: Engine = create_engine(self.url, **kwargs)
        except ImportError as exc:  # e.g. psycopg missing
            raise StoreError(
                f"Cannot open {self.url.split('://')[0]} databases: {exc}. "
                "For PostgreSQL install the extra: pip install 'alviz[postgres]'."
            ) from exc
        self.dialect = self.engine.dialect.name
        if self.dialect == "sqlite":
            ms = int(busy_timeout * 1000)
            event.listen(self.engine, "connect", lambda dbapi_conn, _rec: _sqlite_connect(dbapi_conn, ms))
            event.listen(self.engine, "begin", _sqlite_begin)
        self._retry(self._migrate)

    # plumbing ---------------------------------------------------------------------------------------------
    @property
    def where(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def _retry(self, fn: Callable[[], T]) -> T:
        """Run fn; on a busy or vanished database, wait and try again, then fail with a clear message."""
        for attempt in range(self.retries):
            try:
                return fn()
            except OperationalError as exc:
                if (why := _permanent(exc)) is not None:  # retrying cannot help: say what is wrong at once
                    raise StoreError(f"The label database ({self.where}) {why}. Nothing was written.") from exc
                if attempt == self.retries - 1:
                    raise StoreError(
                        f"The label database ({self.where}) is unavailable or busy: {_reason(exc)}. "
                        "Nothing was written; try again."
                    ) from exc
                time.sleep(self.backoff * 2**attempt)
            except DBAPIError as exc:  # not a passing condition (a file that is no database, a constraint): no retry
                raise StoreError(
                    f"The label database ({self.where}) refused the operation: {_reason(exc)}. Nothing was written."
                ) from exc
        raise AssertionError("unreachable")

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction: SQLite takes the write lock at BEGIN (so it waits instead of failing midway)."""
        with self.engine.connect() as conn:
            conn.execution_options(alviz_write=True)
            with conn.begin():
                yield conn

    def _lock_project(self, conn: Connection, project_id: int) -> None:
        """PostgreSQL: lock the project's row, so the project's writers take turns (SQLite is serialized by
        BEGIN IMMEDIATE already) and its events commit in id order, which ``changes_since`` relies on. One row
        per transaction, always first: no deadlock possible."""
        if self.dialect == "sqlite":
            return
        stmt = select(projects.c.id).where(projects.c.id == project_id).with_for_update()
        if conn.execute(stmt).first() is None:
            raise ValueError(f"No project with id {project_id} in this database.")

    def _migrate(self) -> None:
        with self.engine.connect() as conn:
            if _version(conn) == SCHEMA_VERSION:
                return
        with self._write() as conn:
            if self.dialect == "postgresql":  # one migrator at a time; DDL is transactional there
                conn.execute(text("SELECT pg_advisory_xact_lock(4242170501)"))
            version = _version(conn)
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"The label database ({self.where}) has schema version {version}, written by a newer alviz; "
                    f"this alviz understands versions up to {SCHEMA_VERSION}. Upgrade alviz to open it."
                )
            if version == 0:
                metadata.create_all(conn)
                conn.execute(insert(schema_version).values(version=SCHEMA_VERSION, applied_at=_now()))
                return
            for v in range(version + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[v](conn)
                conn.execute(insert(schema_version).values(version=v, applied_at=_now()))

    def schema_version(self) -> int:
        def run() -> int:
            with self.engine.connect() as conn:
                return _version(conn)

        return self._retry(run)

    def _all(self, stmt) -> list:
        with self.engine.connect() as conn:
            return [r[0] if len(r) == 1 else tuple(r) for r in conn.execute(stmt)]

    def _plain(self, stmt) -> list[tuple]:
        """The rows as the driver gives them, for columns that need no conversion (integers and strings; not
        dates, which SQLite stores as text): SQLAlchemy's row objects dominated a read of a long event log."""
        with self.engine.connect() as conn:
            return conn.execute(stmt).cursor.fetchall()

    def _dicts(self, stmt) -> list[dict]:
        def run() -> list[dict]:
            with self.engine.connect() as conn:
                return [dict(r._mapping) for r in conn.execute(stmt)]

        return self._retry(run)

    # projects -------------------------------------------------------------------------------------------
    def project(self, name: str) -> int:
        """Id of the project with this name, created if new."""
        name = str(name).strip()
        if not name or len(name) > 255:
            raise ValueError(f"A project name needs 1 to 255 characters; got {len(name)}.")

        def run() -> int:
            with self.engine.connect() as conn:  # the usual case, without taking the write lock
                pid = conn.scalar(select(projects.c.id).where(projects.c.name == name))
            if pid is not None:
                return int(pid)
            for _ in range(3):
                try:
                    with self._write() as conn:
                        pid = conn.scalar(select(projects.c.id).where(projects.c.name == name))
                        if pid is None:
                            pid = conn.execute(
                                insert(projects).values(name=name, created_at=_now())
                            ).inserted_primary_key[0]
                        return int(pid)
                except IntegrityError:  # created by another writer at the same moment: read theirs
                    continue
            raise AssertionError(f"project {name!r} could not be created or found")

        return self._retry(run)

    def project_names(self) -> list[str]:
        return self._retry(lambda: self._all(select(projects.c.name).order_by(projects.c.id)))

    def settings(self, project_id: int) -> dict:
        """The project's settings (a JSON object; {} when none were saved)."""
        raw = self._retry(lambda: self._all(select(projects.c.settings).where(projects.c.id == project_id)))
        if not raw:
            raise ValueError(f"No project with id {project_id} in this database.")
        return json.loads(raw[0]) if raw[0] else {}

    def update_settings(self, project_id: int, **values) -> dict:
        """Merge ``values`` into the project's settings (None removes a key); returns the new settings."""

        def run() -> dict:
            with self._write() as conn:
                row = conn.execute(
                    select(projects.c.settings).where(projects.c.id == project_id).with_for_update()
                ).first()
                if row is None:
                    raise ValueError(f"No project with id {project_id} in this database.")
                current = json.loads(row[0]) if row[0] else {}
                current.update(values)
                current = {k: v for k, v in current.items() if v is not None}
                conn.execute(update(projects).where(projects.c.id == project_id).values(settings=json.dumps(current)))
                return current

        return self._retry(run)

    # labels -----------------------------------------------------------------------------------------------
    def add_labels(
        self,
        project_id: int,
        item_ids: Sequence[str],
        labels: Sequence[str | None] | str | None,
        annotator: str,
        source: str,
    ) -> int:
        """Store one labeling action (all its items or none, in one transaction); returns the action id."""
        return self.write_labels(project_id, item_ids, labels, annotator, source).action_id

    def write_labels(
        self,
        project_id: int,
        item_ids: Sequence[str],
        labels: Sequence[str | None] | str | None,
        annotator: str,
        source: str,
    ) -> Written:
        """``add_labels``, telling also where the action's events sit in the project's log (see ``Written``)."""
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}; got {source!r}")
        if len(item_ids) == 0:
            raise ValueError("No items to label: the selection is empty.")
        if labels is None or isinstance(labels, str):
            labels = [labels] * len(item_ids)
        if len(labels) != len(item_ids):
            raise ValueError(f"{len(item_ids)} items but {len(labels)} labels")
        annotator = _annotator(annotator)
        return self._add_action(project_id, item_ids, labels, annotator, None, annotator, source)

    def import_labels(
        self,
        project_id: int,
        item_ids: Sequence[str],
        labels: Sequence[str | None],
        annotators: Sequence[str | None] | None = None,
        given_at: Sequence[datetime | None] | None = None,
        importer: str = "anonymous",
        imported_from: Sequence[str | None] | None = None,
    ) -> int:
        """Store labels from elsewhere as one action of ``importer`` (undoable as one), source "import".

        Each event keeps who gave it (``annotators``; the importer where missing) and when (``given_at``, tz-aware
        or UTC; now where missing), and, in ``imported_from``, who the file said gave it when that is not who the
        event is attributed to (NULL where missing). Returns the action id.
        """
        n = len(item_ids)
        if n == 0:
            raise ValueError("Nothing to import: no rows.")
        for name, seq in (
            ("labels", labels),
            ("annotators", annotators),
            ("given_at", given_at),
            ("imported_from", imported_from),
        ):
            if seq is not None and len(seq) != n:
                raise ValueError(f"{n} items but {len(seq)} {name}")
        importer = _annotator(importer)
        who = importer if annotators is None else [_annotator(a) if a else importer for a in annotators]
        when = None
        if given_at is not None:
            when = [None if t is None else t.replace(tzinfo=UTC) if t.tzinfo is None else t for t in given_at]
        origin = None
        if imported_from is not None and any(imported_from):
            names = {a: _annotator(a) if a and str(a).strip() else None for a in set(imported_from)}
            origin = [names[a] for a in imported_from]
        return self._add_action(project_id, item_ids, labels, who, when, importer, "import", origin).action_id

    def rename_labels(self, project_id: int, item_ids: Sequence[str], label: str, renamer: str) -> Written:
        """A class rename or merge: give ``item_ids`` the ``label`` in one action of ``renamer`` (source
        "rename"), each new event keeping the annotator of the item's current label (the renamer where the item
        has none). The edit is the renamer's (``rename_edits``); the labels stay whoever gave them. One read of
        the items' current annotators, then the bulk write."""
        if len(item_ids) == 0:
            raise ValueError("No items to label: the selection is empty.")
        renamer = _annotator(renamer)
        ev = label_events.c
        stmt = select(ev.item_id, ev.annotator).where(ev.id.in_(self._latest_per_item(project_id)))
        owner = dict(self._retry(lambda: self._all(stmt)))
        who = [owner.get(str(i), renamer) for i in item_ids]
        return self._add_action(project_id, item_ids, [label] * len(item_ids), who, None, renamer, "rename")

    def rename_edits(self, project_id: int) -> dict[str, int]:
        """Per renamer: items relabeled by their class renames and merges that are not undone."""
        act = actions.c
        stmt = (
            select(act.annotator, func.sum(act.n_items))
            .where(act.project_id == project_id, act.source == "rename", act.undone_by.is_(None))
            .group_by(act.annotator)
        )
        return self._retry(lambda: {who: int(n) for who, n in self._all(stmt)})

    def _add_action(
        self,
        project_id: int,
        item_ids: Sequence[str],
        labels: Sequence[str | None],
        annotators: str | list[str],
        given_at: list[datetime | None] | None,
        annotator: str,
        source: str,
        imported_from: list[str | None] | None = None,
    ) -> Written:
        """One action and its events in one transaction. Rows go to the driver as plain tuples in one
        ``executemany``: SQLAlchemy's dict rows, processed per row, managed 31k labels/s on SQLite. The
        ``imported_from`` column is written only when given (an import); other writes leave it NULL."""
        item_ids = [i if type(i) is str else str(i) for i in item_ids]
        if not all(item_ids) or max(map(len, item_ids)) > MAX_ITEM_ID:
            bad = next(i for i in item_ids if not i or len(i) > MAX_ITEM_ID)
            raise ValueError(f"An item id needs 1 to {MAX_ITEM_ID} characters; got {bad[:40]!r}...")
        names = {lab: None if lab is None else str(lab) for lab in set(labels)}  # validated once per class
        for lab in names.values():
            if lab is not None and (not lab.strip() or len(lab) > MAX_LABEL):
                raise ValueError(f"A label needs 1 to {MAX_LABEL} characters; got {lab[:40]!r}.")
        labels = [names[lab] for lab in labels]
        key = str(uuid.uuid4())
        n = len(item_ids)
        dialect = self.engine.dialect
        to_db = label_events.c.created_at.type.dialect_impl(dialect).bind_processor(dialect) or (lambda t: t)
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        columns = ["project_id", "action_id", "item_id", "label", "annotator", "source", "created_at"]
        if imported_from is not None:
            columns.append("imported_from")
        sql = f"INSERT INTO label_events ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"

        def run() -> Written:
            now = _now()
            with self._write() as conn:
                done = conn.scalar(select(actions.c.id).where(actions.c.request_key == key))
                if done is not None:  # an earlier attempt committed, only its acknowledgement was lost
                    return Written(int(done), n, -1, -1)
                self._lock_project(conn, project_id)
                prev = self._last_event_id(conn, project_id)
                aid = conn.execute(
                    insert(actions).values(
                        project_id=project_id,
                        annotator=annotator,
                        source=source,
                        n_items=n,
                        created_at=now,
                        request_key=key,
                    )
                ).inserted_primary_key[0]
                stamp = to_db(now)
                who = repeat(annotators) if isinstance(annotators, str) else annotators
                when = repeat(stamp) if given_at is None else [stamp if t is None else to_db(t) for t in given_at]
                # psycopg 3 pipelines an executemany; on PostgreSQL the per-row foreign-key checks dominate anyway
                # (COPY and arrays through unnest measured no clear gain)
                rows = zip(repeat(project_id), repeat(aid), item_ids, labels, who, repeat(source), when)
                if imported_from is not None:
                    rows = (row + (origin,) for row, origin in zip(rows, imported_from, strict=True))
                rows = list(rows)
                conn.exec_driver_sql(sql, rows)
                last = conn.scalar(_ACTION_LAST_EVENT, {"action_id": aid})
                return Written(int(aid), n, prev, int(last))

        return self._retry(run)

    def _last_event_id(self, conn: Connection, project_id: int) -> int:
        """The project's newest event id: the newest event of its newest action that has any, found through
        two index lookups (events commit in id order per project, so that event is the project's newest)."""
        return int(conn.scalar(_NEWEST_EVENT, {"project_id": project_id}) or 0)

    def _latest_per_item(self, project_id: int):
        """Each item's newest event that sets its current label (second opinions do not)."""
        return (
            select(func.max(label_events.c.id))
            .where(label_events.c.project_id == project_id, label_events.c.source.not_in(OPINIONS))
            .group_by(label_events.c.item_id)
        )

    def current_labels(self, project_id: int) -> dict[str, str]:
        """item id -> label, from the latest event of each item (items whose latest event unlabels are absent)."""
        stmt = select(label_events.c.item_id, label_events.c.label).where(
            label_events.c.id.in_(self._latest_per_item(project_id)), label_events.c.label.is_not(None)
        )
        return self._retry(lambda: dict(self._all(stmt)))

    def current_events(self, project_id: int) -> list[dict]:
        """The event behind each current label: item_id, label, annotator, source, created_at, id."""
        ev = label_events.c
        stmt = (
            select(ev.item_id, ev.label, ev.annotator, ev.source, ev.created_at, ev.id)
            .where(ev.id.in_(self._latest_per_item(project_id)), ev.label.is_not(None))
            .order_by(ev.id)
        )
        return self._dicts(stmt)

    def last_event_id(self, project_id: int) -> int:
        """The id of the project's newest event (0 when none): changes whenever anyone labels. Two index
        lookups whatever the size of the log: cheap enough for every rerun."""

        def run() -> int:
            with self.engine.connect() as conn:
                return self._last_event_id(conn, project_id)

        return self._retry(run)

    def changes_since(self, project_id: int, after_event_id: int) -> list[tuple[int, str, str | None, str]]:
        """The project's events newer than ``after_event_id``, oldest first: (id, item_id, label, source).
        Exact because a project's events commit in id order; costs what is new, not the whole log."""
        ev = label_events.c
        # "+ 0" keeps the planner off the (project, item, id) index, which would scan the whole project's log:
        # the primary key range holds just the new events.
        stmt = (
            select(ev.id, ev.item_id, ev.label, ev.source)
            .where(ev.id > after_event_id, ev.project_id + 0 == project_id)
            .order_by(ev.id)
        )
        return self._retry(lambda: self._plain(stmt))

    def current_state(self, project_id: int) -> tuple[int, list[tuple[str, str, str]]]:
        """(newest event id, [(item_id, label, source)] of every current label as of that event): what a
        session loads once, then keeps up to date with ``changes_since``."""
        ev = label_events.c

        def run() -> tuple[int, list[tuple[str, str, str]]]:
            with self.engine.connect() as conn:
                # the plain max (a scan of the project's index entries, as the query below makes anyway): exact
                # also for logs written before v4, whose concurrent PostgreSQL writers could interleave ids
                upto = int(conn.scalar(select(func.max(ev.id)).where(ev.project_id == project_id)) or 0)
                latest = (
                    select(func.max(ev.id))
                    .where(ev.project_id == project_id, ev.id <= upto, ev.source.not_in(OPINIONS))
                    .group_by(ev.item_id)
                )
                stmt = select(ev.item_id, ev.label, ev.source).where(ev.id.in_(latest), ev.label.is_not(None))
                return upto, conn.execute(stmt).cursor.fetchall()  # strings only: no conversion

        return self._retry(run)

    def revision(self, project_id: int) -> tuple[int, int]:
        """(newest action id, newest event id): changes with every write to the project's labels, undo included.
        A cache key for anything derived from them."""

        def run() -> tuple[int, int]:
            with self.engine.connect() as conn:
                a = conn.scalar(select(func.max(actions.c.id)).where(actions.c.project_id == project_id))
                return int(a or 0), self._last_event_id(conn, project_id)

        return self._retry(run)

    def label_names(self, project_id: int) -> list[str]:
        """Every label ever given in the project, in the order each was first given."""
        stmt = (
            select(label_events.c.label)
            .where(label_events.c.project_id == project_id, label_events.c.label.is_not(None))
            .group_by(label_events.c.label)
            .order_by(func.min(label_events.c.id))
        )
        return self._retry(lambda: self._all(stmt))

    def judgments(self, project_id: int, sources: Sequence[str] = JUDGMENTS) -> list[tuple[str, str, str, int]]:
        """Each annotator's own current label per item: (item_id, annotator, label, event id), oldest first.

        Only events of ``sources`` from actions that are not undone count, so an undone label is no opinion, and
        the labels an undo restores (given by someone else) are not attributed to the one who undid.
        """
        ev, act = label_events.c, actions.c
        latest = (
            select(func.max(ev.id))
            .join(actions, act.id == ev.action_id)
            .where(ev.project_id == project_id, ev.source.in_(list(sources)), act.undone_by.is_(None))
            .group_by(ev.item_id, ev.annotator)
        )
        stmt = (
            select(ev.item_id, ev.annotator, ev.label, ev.id)
            .where(ev.id.in_(latest), ev.label.is_not(None))
            .order_by(ev.id)
        )
        return self._retry(lambda: self._all(stmt))

    def annotator_counts(self, project_id: int) -> list[dict]:
        """Per annotator: events, distinct items, and events per source; busiest first."""
        ev = label_events.c
        stmt = (
            select(ev.annotator, ev.source, func.count().label("events"), func.count(ev.item_id.distinct()))
            .where(ev.project_id == project_id)
            .group_by(ev.annotator, ev.source)
        )
        items_stmt = (
            select(ev.annotator, func.count(ev.item_id.distinct()))
            .where(ev.project_id == project_id, ev.source != "undo")
            .group_by(ev.annotator)
        )

        def run() -> list[dict]:
            out: dict[str, dict] = {}
            with self.engine.connect() as conn:
                for who, source, n, _ in conn.execute(stmt):
                    row = out.setdefault(who, {"annotator": who, "events": 0, "items": 0, "by_source": {}})
                    row["events"] += int(n)
                    row["by_source"][source] = int(n)
                for who, n in conn.execute(items_stmt):
                    out[who]["items"] = int(n)
            return sorted(out.values(), key=lambda r: (-r["events"], r["annotator"]))

        return self._retry(run)

    def imports(self, project_id: int) -> list[dict]:
        """The project's imports, oldest first: action id, who imported (``importer``), when, how many labels,
        whether undone, the annotators the labels are attributed to, and the file's annotators kept in
        ``imported_from`` (those of an import attributed to its importer)."""
        act, ev = actions.c, label_events.c
        done = select(act.id, act.annotator, act.created_at, act.n_items, act.undone_by).where(
            act.project_id == project_id, act.source == "import"
        )
        who = (
            select(ev.action_id, ev.annotator, ev.imported_from)
            .where(ev.action_id.in_(done.with_only_columns(act.id)))  # by the action_id index
            .group_by(ev.action_id, ev.annotator, ev.imported_from)
        )

        def run() -> list[dict]:
            with self.engine.connect() as conn:
                out = {
                    int(aid): {
                        "action_id": int(aid),
                        "importer": importer,
                        "created_at": at,
                        "labels": int(n),
                        "undone": undone is not None,
                        "annotators": set(),
                        "imported_from": set(),
                    }
                    for aid, importer, at, n, undone in conn.execute(done)
                }
                for aid, annotator, origin in conn.execute(who):
                    if int(aid) in out:
                        out[int(aid)]["annotators"].add(annotator)
                        if origin is not None:
                            out[int(aid)]["imported_from"].add(origin)
            rows = [out[k] for k in sorted(out)]
            for r in rows:
                r["annotators"], r["imported_from"] = sorted(r["annotators"]), sorted(r["imported_from"])
            return rows

        return self._retry(run)

    def undo_last(self, project_id: int, annotator: str) -> int:
        """Revert this annotator's latest labeling action that is not undone yet; returns items reverted.

        Items relabeled since by a later action keep that later label: undo never clobbers newer work.
        """
        return self.undo_action(project_id, annotator).n_items

    def undo_action(self, project_id: int, annotator: str) -> Written:
        """``undo_last``, telling also where the undo's events sit in the log (``Written``; action id 0 when
        there was nothing to undo).

        Three statements whatever the action's size: one INSERT ... SELECT writes, per item of the action whose
        latest live event is still the action's, an undo event restoring the label of the item's latest live
        event before it. "Live": of an action that is neither an undo nor undone, so that undoing twice walks
        back two actions and an undone label never comes back.
        """
        annotator = _annotator(annotator)
        key = str(uuid.uuid4())
        act, ev = actions.c, label_events.c

        def run() -> Written:
            with self._write() as conn:
                done = conn.execute(select(act.id, act.n_items).where(act.request_key == key)).first()
                if done is not None:
                    return Written(int(done[0]), int(done[1]), -1, -1)
                self._lock_project(conn, project_id)
                found = conn.execute(
                    select(act.id, act.source)
                    .where(
                        act.project_id == project_id,
                        act.annotator == annotator,
                        act.source != "undo",
                        act.undone_by.is_(None),
                    )
                    .order_by(act.id.desc())
                    .limit(1)
                ).first()
                if found is None:
                    return Written(0, 0, -1, -1)
                aid, undone_source = found
                prev = self._last_event_id(conn, project_id)
                now = _now()
                undo_id = conn.execute(
                    insert(actions).values(
                        project_id=project_id,
                        annotator=annotator,
                        source="undo",
                        n_items=0,  # set below, once the restored items are counted
                        created_at=now,
                        request_key=key,
                    )
                ).inserted_primary_key[0]
                mine = (
                    select(ev.item_id, func.min(ev.id).label("first"))
                    .where(ev.action_id == aid)
                    .group_by(ev.item_id)
                    .subquery("mine")
                )
                e, a = label_events.alias("e"), actions.alias("a")

                def live(*columns, where=()):
                    """The item's events of live actions (by the (project, item, id) index)."""
                    return (
                        select(*columns)
                        .select_from(e.join(a, a.c.id == e.c.action_id))
                        .where(
                            e.c.project_id == project_id,
                            e.c.item_id == mine.c.item_id,
                            a.c.source != "undo",
                            a.c.undone_by.is_(None),
                            # a second opinion is not a relabel: it neither blocks nor is the label restored
                            # (undoing one withdraws it: its action is marked undone below, no label changes)
                            e.c.source.not_in(OPINIONS),
                            *where,
                        )
                    )

                # Scalar subqueries with ORDER BY ... LIMIT 1 run per item as a backward index scan on both
                # databases; an EXISTS became an anti-join that PostgreSQL, before its statistics catch up
                # with a bulk insert, ran as nested sequential scans (minutes at 50k items).
                before = live(e.c.id, where=[e.c.action_id != aid]).order_by(e.c.id.desc()).limit(1)
                newest = live(e.c.action_id).order_by(e.c.id.desc()).limit(1)
                prior = (
                    select(mine.c.item_id, mine.c.first, before.scalar_subquery().label("before_id"))
                    .where(newest.scalar_subquery() == aid)  # not relabeled since
                    .subquery("prior")
                )
                b = label_events.alias("b")  # the event restored: its label, still its giver's (as a rename keeps)
                restore = (
                    select(
                        literal(project_id),
                        literal(undo_id),
                        prior.c.item_id,
                        b.c.label,
                        func.coalesce(b.c.annotator, literal(annotator)),  # nothing before: unlabeled by the undoer
                        literal("undo"),
                        literal(now, DateTime(timezone=True)),
                    )
                    .select_from(prior.outerjoin(b, b.c.id == prior.c.before_id))
                    .order_by(prior.c.first)
                )
                columns = ["project_id", "action_id", "item_id", "label", "annotator", "source", "created_at"]
                if undone_source not in OPINIONS:
                    conn.execute(insert(label_events).from_select(columns, restore))
                # counted, not taken from rowcount (psycopg reports -1 for an INSERT ... SELECT here)
                n, last = conn.execute(select(func.count(), func.max(ev.id)).where(ev.action_id == undo_id)).one()
                conn.execute(update(actions).where(act.id == undo_id).values(n_items=n))
                conn.execute(update(actions).where(act.id == aid).values(undone_by=undo_id))
                return Written(int(undo_id), int(n), prev, int(last or prev))

        return self._retry(run)

    def events(self, project_id: int | None = None) -> list[dict]:
        """Every label event (oldest first) with project name, for export and audit."""
        stmt = select(
            projects.c.name.label("project"),
            label_events.c.item_id,
            label_events.c.label,
            label_events.c.annotator,
            label_events.c.source,
            label_events.c.created_at,
            label_events.c.action_id,
            label_events.c.imported_from,
        ).join(projects, projects.c.id == label_events.c.project_id)
        if project_id is not None:
            stmt = stmt.where(label_events.c.project_id == project_id)
        return self._dicts(stmt.order_by(label_events.c.id))

    def log(self, project_id: int) -> list[tuple[str, str | None, str, datetime]]:
        """The project's events, oldest first, as plain (item_id, label, source, created_at) tuples: what a replay
        needs, without ``events``' project join and dict per row."""
        ev = label_events.c
        stmt = select(ev.item_id, ev.label, ev.source, ev.created_at).where(ev.project_id == project_id).order_by(ev.id)
        return self._retry(lambda: self._all(stmt))

    # rounds -----------------------------------------------------------------------------------------------
    def add_round(
        self,
        project_id: int,
        n_labeled: int,
        accuracy: float | None,
        metric: str,
        annotator: str,
        **extras: float | int | None,
    ) -> int:
        """Record a training round (numbered per project); ``extras`` are any of ``ROUND_EXTRAS``."""
        unknown = set(extras) - set(ROUND_EXTRAS)
        if unknown:
            raise ValueError(f"Unknown round fields {sorted(unknown)}; known: {ROUND_EXTRAS}")
        key = str(uuid.uuid4())

        def run() -> int:
            with self._write() as conn:
                done = conn.scalar(select(rounds.c.round).where(rounds.c.request_key == key))
                if done is not None:
                    return int(done)
                self._lock_project(conn, project_id)  # numbers are per project: no two alike
                last = conn.scalar(select(func.max(rounds.c.round)).where(rounds.c.project_id == project_id))
                number = (last or 0) + 1
                conn.execute(
                    insert(rounds).values(
                        project_id=project_id,
                        round=number,
                        n_labeled=n_labeled,
                        accuracy=accuracy,
                        metric=metric,
                        annotator=_annotator(annotator),
                        created_at=_now(),
                        request_key=key,
                        **extras,
                    )
                )
                return number

        return self._retry(run)

    def rounds(self, project_id: int) -> list[dict]:
        stmt = (
            select(
                rounds.c.round,
                rounds.c.n_labeled,
                rounds.c.accuracy,
                rounds.c.metric,
                rounds.c.created_at,
                *(rounds.c[name] for name in ROUND_EXTRAS),
            )
            .where(rounds.c.project_id == project_id)
            .order_by(rounds.c.round)
        )
        return self._dicts(stmt)

    def close(self) -> None:
        self.engine.dispose()


def _annotator(name: str | None) -> str:
    name = str(name or "").strip() or "anonymous"
    if len(name) > MAX_ANNOTATOR:
        raise ValueError(f"An annotator name may have at most {MAX_ANNOTATOR} characters; got {len(name)}.")
    return name


def _reason(exc: DBAPIError) -> str:
    """The driver's message, first line only (psycopg appends context lines)."""
    return str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc.orig).__name__


# Driver messages of conditions that no retry can fix (SQLite's and PostgreSQL's wording), and what to tell people.
_PERMANENT = (
    (("database or disk is full", "no space left on device", "disk quota exceeded"), "is on a full disk"),
    (("readonly database", "read-only", "read only"), "is read-only here"),
)


def _permanent(exc: DBAPIError) -> str | None:
    """How to say a failure that retrying cannot fix (disk full, read-only), or None for one worth a retry."""
    message = str(exc.orig).lower()
    sqlstate = getattr(exc.orig, "sqlstate", None) or ""
    if sqlstate == "53100":  # PostgreSQL disk_full
        return f"is on a full disk: {_reason(exc)}"
    if sqlstate == "25006":  # read_only_sql_transaction
        return f"is read-only here: {_reason(exc)}"
    for needles, what in _PERMANENT:
        if any(n in message for n in needles):
            return f"{what}: {_reason(exc)}"
    return None


def _sqlite_connect(dbapi_conn, busy_timeout_ms: int) -> None:
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see _sqlite_begin)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers never block the one writer
    cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")  # wait for a concurrent writer instead of failing
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    # Writers take the lock at BEGIN: a deferred transaction that reads, then writes, fails at once with
    # "database is locked" when another writer got in between (no busy wait applies to that upgrade).
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("alviz_write") else "BEGIN")
