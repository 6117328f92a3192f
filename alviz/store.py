"""Persistence: every label is an append-only event, committed the moment it is given.

SQLite file by default (WAL, so readers never block the writer), any SQLAlchemy URL otherwise.
Current labels are derived from events (the latest event per item wins; a NULL label means
"unlabeled", which is how undo is recorded), so history is never lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

SOURCES = ("single", "bulk", "queue", "accepted", "undo", "import")

metadata = MetaData()
projects = Table(
    "projects",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
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
)
label_events = Table(
    "label_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project_id", ForeignKey("projects.id"), nullable=False, index=True),
    Column("action_id", ForeignKey("actions.id"), nullable=False, index=True),
    Column("item_id", String(1024), nullable=False, index=True),
    Column("label", String(255), nullable=True),
    Column("annotator", String(255), nullable=False),
    Column("source", String(32), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
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
)

T = TypeVar("T")


class StoreError(RuntimeError):
    """The database could not be reached or written; nothing was changed."""


def _now() -> datetime:
    return datetime.now(UTC)


def normalize_url(db: str | Path) -> str:
    """A SQLAlchemy URL from a URL or a plain file path."""
    db = str(db)
    return db if "://" in db else f"sqlite:///{Path(db).expanduser().resolve()}"


class Store:
    """Labels, actions and training rounds of any number of projects in one database."""

    def __init__(self, url: str | Path = "alviz.db", retries: int = 3) -> None:
        self.url = normalize_url(url)
        self.retries = retries
        self.engine: Engine = create_engine(self.url)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._retry(lambda: metadata.create_all(self.engine))

    def _retry(self, fn: Callable[[], T]) -> T:
        """Run fn; on a busy or vanished database, wait and try again, then fail with a clear message."""
        for attempt in range(self.retries):
            try:
                return fn()
            except OperationalError as exc:
                if attempt == self.retries - 1:
                    raise StoreError(
                        f"The label database ({self.engine.url.render_as_string(hide_password=True)}) is "
                        f"unavailable or busy: {exc.orig}. Nothing was written; try again."
                    ) from exc
                time.sleep(0.2 * 2**attempt)
            except DBAPIError as exc:  # not a passing condition (a file that is no database, a constraint): no retry
                raise StoreError(
                    f"The label database ({self.engine.url.render_as_string(hide_password=True)}) refused the "
                    f"operation: {exc.orig}. Nothing was written."
                ) from exc
        raise AssertionError("unreachable")

    # projects -------------------------------------------------------------------------------------
    def project(self, name: str) -> int:
        """Id of the project with this name, created if new."""

        def run() -> int:
            with self.engine.begin() as conn:
                pid = conn.scalar(select(projects.c.id).where(projects.c.name == name))
                if pid is None:
                    pid = conn.execute(insert(projects).values(name=name, created_at=_now())).inserted_primary_key[0]
                return int(pid)

        return self._retry(run)

    def project_names(self) -> list[str]:
        return self._retry(lambda: self._all(select(projects.c.name).order_by(projects.c.id)))

    def _all(self, stmt) -> list:
        with self.engine.connect() as conn:
            return [r[0] if len(r) == 1 else r for r in conn.execute(stmt)]

    # labels -----------------------------------------------------------------------------------------
    def add_labels(
        self,
        project_id: int,
        item_ids: Sequence[str],
        labels: Sequence[str | None] | str | None,
        annotator: str,
        source: str,
    ) -> int:
        """Store one labeling action (all its items or none, in one transaction); returns the action id."""
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}; got {source!r}")
        if not item_ids:
            raise ValueError("No items to label: the selection is empty.")
        if labels is None or isinstance(labels, str):
            labels = [labels] * len(item_ids)
        if len(labels) != len(item_ids):
            raise ValueError(f"{len(item_ids)} items but {len(labels)} labels")
        annotator = annotator.strip() or "anonymous"

        def run() -> int:
            now = _now()
            with self.engine.begin() as conn:
                aid = conn.execute(
                    insert(actions).values(
                        project_id=project_id, annotator=annotator, source=source, n_items=len(item_ids), created_at=now
                    )
                ).inserted_primary_key[0]
                rows = [
                    {
                        "project_id": project_id,
                        "action_id": aid,
                        "item_id": str(i),
                        "label": lab,
                        "annotator": annotator,
                        "source": source,
                        "created_at": now,
                    }
                    for i, lab in zip(item_ids, labels, strict=True)
                ]
                conn.execute(insert(label_events), rows)
                return int(aid)

        return self._retry(run)

    def current_labels(self, project_id: int) -> dict[str, str]:
        """item id -> label, from the latest event of each item (items whose latest event unlabels are absent)."""
        latest = (
            select(func.max(label_events.c.id))
            .where(label_events.c.project_id == project_id)
            .group_by(label_events.c.item_id)
        )
        stmt = select(label_events.c.item_id, label_events.c.label).where(
            label_events.c.id.in_(latest), label_events.c.label.is_not(None)
        )
        return self._retry(lambda: dict(self._all(stmt)))

    def label_names(self, project_id: int) -> list[str]:
        """Every label ever given in the project, in the order each was first given."""
        stmt = (
            select(label_events.c.label)
            .where(label_events.c.project_id == project_id, label_events.c.label.is_not(None))
            .group_by(label_events.c.label)
            .order_by(func.min(label_events.c.id))
        )
        return self._retry(lambda: self._all(stmt))

    def undo_last(self, project_id: int, annotator: str) -> int:
        """Revert this annotator's latest labeling action that is not undone yet; returns items reverted.

        Items relabeled since by a later action keep that later label: undo never clobbers newer work.
        """
        annotator = annotator.strip() or "anonymous"

        def run() -> int:
            with self.engine.begin() as conn:
                act = conn.execute(
                    select(actions.c.id)
                    .where(
                        actions.c.project_id == project_id,
                        actions.c.annotator == annotator,
                        actions.c.source != "undo",
                        actions.c.undone_by.is_(None),
                    )
                    .order_by(actions.c.id.desc())
                    .limit(1)
                ).first()
                if act is None:
                    return 0
                aid = act[0]
                ev = label_events.c
                items = [r[0] for r in conn.execute(select(ev.item_id).where(ev.action_id == aid))]
                restore: list[tuple[str, str | None]] = []
                for item in items:
                    # The item's live history: undone actions and undo events drop out, so that undoing twice
                    # walks back two actions (the latest live event always holds the current label).
                    history = conn.execute(
                        select(ev.action_id, ev.label)
                        .join(actions, actions.c.id == ev.action_id)
                        .where(
                            ev.project_id == project_id,
                            ev.item_id == item,
                            actions.c.source != "undo",
                            actions.c.undone_by.is_(None),
                        )
                        .order_by(ev.id.desc())
                    ).all()
                    if history[0][0] != aid:
                        continue  # relabeled since: keep the newer label
                    before = next((lab for a, lab in history if a < aid), None)
                    restore.append((item, before))
                now = _now()
                undo_id = conn.execute(
                    insert(actions).values(
                        project_id=project_id, annotator=annotator, source="undo", n_items=len(restore), created_at=now
                    )
                ).inserted_primary_key[0]
                if restore:
                    conn.execute(
                        insert(label_events),
                        [
                            {
                                "project_id": project_id,
                                "action_id": undo_id,
                                "item_id": item,
                                "label": lab,
                                "annotator": annotator,
                                "source": "undo",
                                "created_at": now,
                            }
                            for item, lab in restore
                        ],
                    )
                conn.execute(update(actions).where(actions.c.id == aid).values(undone_by=undo_id))
                return len(restore)

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
        ).join(projects, projects.c.id == label_events.c.project_id)
        if project_id is not None:
            stmt = stmt.where(label_events.c.project_id == project_id)
        stmt = stmt.order_by(label_events.c.id)

        def run() -> list[dict]:
            with self.engine.connect() as conn:
                return [dict(r._mapping) for r in conn.execute(stmt)]

        return self._retry(run)

    # rounds -----------------------------------------------------------------------------------------
    def add_round(self, project_id: int, n_labeled: int, accuracy: float | None, metric: str, annotator: str) -> int:
        def run() -> int:
            with self.engine.begin() as conn:
                last = conn.scalar(select(func.max(rounds.c.round)).where(rounds.c.project_id == project_id))
                number = (last or 0) + 1
                conn.execute(
                    insert(rounds).values(
                        project_id=project_id,
                        round=number,
                        n_labeled=n_labeled,
                        accuracy=accuracy,
                        metric=metric,
                        annotator=annotator.strip() or "anonymous",
                        created_at=_now(),
                    )
                )
                return number

        return self._retry(run)

    def rounds(self, project_id: int) -> list[dict]:
        stmt = (
            select(rounds.c.round, rounds.c.n_labeled, rounds.c.accuracy, rounds.c.metric, rounds.c.created_at)
            .where(rounds.c.project_id == project_id)
            .order_by(rounds.c.round)
        )

        def run() -> list[dict]:
            with self.engine.connect() as conn:
                return [dict(r._mapping) for r in conn.execute(stmt)]

        return self._retry(run)

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers never block the one writer
    cur.execute("PRAGMA busy_timeout=5000")  # wait for a concurrent writer instead of failing at once
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()
