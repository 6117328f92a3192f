"""The store: append-only label events, atomic actions, clear errors, migrations, exports.

Every test that is not about one database's own features runs twice: on a SQLite file and on the
PostgreSQL test server (``database`` fixture in conftest.py).
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from datetime import UTC, datetime

import pandas as pd
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from alviz import store as store_module
from alviz.export import export_labels, labels_frame
from alviz.store import SCHEMA_VERSION, Store, StoreError


@pytest.fixture
def store(store_url):
    s = Store(store_url)
    yield s
    s.close()


def sql(url: str, statement: str) -> list:
    engine = create_engine(url)
    try:
        with engine.begin() as con:
            result = con.execute(text(statement))
            return result.fetchall() if result.returns_rows else []
    finally:
        engine.dispose()


def count(url: str, table: str) -> int:
    return sql(url, f"SELECT COUNT(*) FROM {table}")[0][0]


# ----------------------------------------------------------------------------------------------- events


def test_events_round_trip_with_who_what_and_when(store):
    pid = store.project("p")
    t0 = datetime.now(UTC).replace(tzinfo=None)
    store.add_labels(pid, ["a", "b"], ["cat", "dog"], "alice", "bulk")
    t1 = datetime.now(UTC).replace(tzinfo=None)
    events = store.events(pid)
    got = [(e["project"], e["item_id"], e["label"], e["annotator"], e["source"]) for e in events]
    assert got == [("p", "a", "cat", "alice", "bulk"), ("p", "b", "dog", "alice", "bulk")]
    as_utc = [e["created_at"].astimezone(UTC) if e["created_at"].tzinfo else e["created_at"] for e in events]
    assert all(t0 <= t.replace(tzinfo=None) <= t1 for t in as_utc)


def test_current_label_is_the_latest_event(store):
    pid = store.project("p")
    store.add_labels(pid, ["a", "b"], "cat", "alice", "bulk")
    store.add_labels(pid, ["a"], "dog", "bob", "single")
    assert store.current_labels(pid) == {"a": "dog", "b": "cat"}


def test_current_events_say_who_gave_each_current_label(store):
    pid = store.project("p")
    store.add_labels(pid, ["a", "b"], "cat", "alice", "bulk")
    store.add_labels(pid, ["a"], "dog", "bob", "single")
    got = {e["item_id"]: (e["label"], e["annotator"], e["source"]) for e in store.current_events(pid)}
    assert got == {"a": ("dog", "bob", "single"), "b": ("cat", "alice", "bulk")}


def test_a_null_label_unlabels_the_item(store):
    pid = store.project("p")
    store.add_labels(pid, ["a", "b"], "cat", "alice", "bulk")
    store.add_labels(pid, ["a"], None, "alice", "import")
    assert store.current_labels(pid) == {"b": "cat"}


def test_a_project_is_created_once_and_found_again(store):
    assert store.project("p") == store.project("p") != store.project("q")
    assert store.project_names() == ["p", "q"]


def test_projects_keep_their_labels_apart(store):
    p, q = store.project("p"), store.project("q")
    store.add_labels(p, ["a"], "cat", "alice", "bulk")
    store.add_labels(q, ["a"], "dog", "alice", "bulk")
    assert (store.current_labels(p), store.current_labels(q)) == ({"a": "cat"}, {"a": "dog"})


def test_project_settings_are_merged_and_kept(store_url):
    s = Store(store_url)
    pid = s.project("p")
    assert s.settings(pid) == {}
    s.update_settings(pid, qc_fraction=0.1, qc_seed=3)
    s.update_settings(pid, qc_fraction=0.2)
    s.close()
    again = Store(store_url)
    assert again.settings(again.project("p")) == {"qc_fraction": 0.2, "qc_seed": 3}
    assert again.update_settings(pid, qc_seed=None) == {"qc_fraction": 0.2}


def test_adding_no_items_is_refused(store):
    with pytest.raises(ValueError, match="selection is empty"):
        store.add_labels(store.project("p"), [], "cat", "alice", "bulk")


def test_an_unknown_source_is_refused(store):
    with pytest.raises(ValueError, match="source must be one of"):
        store.add_labels(store.project("p"), ["a"], "cat", "alice", "lasso")


def test_a_label_too_long_for_the_column_is_refused_before_writing(store, store_url):
    with pytest.raises(ValueError, match="1 to 255 characters"):
        store.add_labels(store.project("p"), ["a", "b"], ["cat", "x" * 256], "alice", "bulk")
    assert count(store_url, "label_events") == 0


def test_labels_of_another_length_than_items_are_refused_and_nothing_is_written(store, store_url):
    with pytest.raises(ValueError, match="2 items but 1 labels"):
        store.add_labels(store.project("p"), ["a", "b"], ["cat"], "alice", "bulk")
    assert (count(store_url, "actions"), count(store_url, "label_events")) == (0, 0)


POISON = {
    "sqlite": [
        "CREATE TRIGGER poison BEFORE INSERT ON label_events WHEN NEW.item_id = 'poison' "
        "BEGIN SELECT RAISE(ABORT, 'poisoned row'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN IF NEW.item_id = 'poison' THEN "
        "RAISE EXCEPTION 'poisoned row'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER poison BEFORE INSERT ON label_events FOR EACH ROW EXECUTE FUNCTION poison()",
    ],
}


def test_an_action_that_fails_midway_writes_nothing(store, database):
    """A real database-side failure on the second row rolls back the action and its first row."""
    pid = store.project("p")
    for statement in POISON[database.kind]:
        sql(database.url, statement)
    with pytest.raises(StoreError, match="poisoned row"):
        store.add_labels(pid, ["fine", "poison"], "cat", "alice", "bulk")
    assert (count(database.url, "actions"), count(database.url, "label_events")) == (0, 0)


def test_a_blank_annotator_is_recorded_as_anonymous(store):
    pid = store.project("p")
    store.add_labels(pid, ["a"], "cat", "   ", "single")
    assert store.events(pid)[0]["annotator"] == "anonymous"


def test_undo_is_recorded_as_events_not_deleted(store):
    pid = store.project("p")
    store.add_labels(pid, ["a"], "cat", "alice", "bulk")
    store.undo_last(pid, "alice")
    assert [(e["label"], e["source"]) for e in store.events(pid)] == [("cat", "bulk"), (None, "undo")]


def test_undo_walks_back_one_action_at_a_time(store):
    pid = store.project("p")
    for label in ["cat", "dog", "bird"]:
        store.add_labels(pid, ["a"], label, "alice", "single")
    seen = []
    for _ in range(3):
        store.undo_last(pid, "alice")
        seen.append(store.current_labels(pid).get("a"))
    assert seen == ["dog", "cat", None]


def test_undo_does_not_bring_back_a_label_its_annotator_undid(store):
    pid = store.project("p")
    store.add_labels(pid, ["a"], "cat", "alice", "single")
    store.add_labels(pid, ["a"], "dog", "bob", "single")
    store.undo_last(pid, "alice")  # alice takes back her cat; bob's dog stays
    store.undo_last(pid, "bob")
    assert store.current_labels(pid) == {}


def test_label_names_come_in_the_order_first_given(store):
    pid = store.project("p")
    store.add_labels(pid, ["z"], "zebra", "alice", "single")
    store.add_labels(pid, ["a"], "apple", "alice", "single")
    store.add_labels(pid, ["z", "y"], "zebra", "alice", "bulk")
    assert store.label_names(pid) == ["zebra", "apple"]


def test_rounds_are_numbered_per_project(store):
    p, q = store.project("p"), store.project("q")
    store.add_round(p, 4, 0.5, "test accuracy", "alice")
    store.add_round(q, 2, None, "no model yet", "alice")
    store.add_round(p, 8, 0.75, "test accuracy", "alice")
    assert [(r["round"], r["n_labeled"], r["accuracy"]) for r in store.rounds(p)] == [(1, 4, 0.5), (2, 8, 0.75)]


def test_last_event_id_moves_whenever_anyone_labels(store):
    pid = store.project("p")
    assert store.last_event_id(pid) == 0
    store.add_labels(pid, ["a"], "cat", "alice", "single")
    first = store.last_event_id(pid)
    store.add_labels(pid, ["b"], "dog", "bob", "single")
    assert store.last_event_id(pid) > first > 0


# --------------------------------------------------------------------------------------- team views of it


def test_judgments_are_each_annotators_own_latest_label(store):
    pid = store.project("p")
    store.add_labels(pid, ["a", "b"], "cat", "alice", "bulk")
    store.add_labels(pid, ["a"], "dog", "bob", "single")
    store.add_labels(pid, ["b"], "bird", "alice", "single")
    got = sorted((i, who, lab) for i, who, lab, _ in store.judgments(pid))
    assert got == [("a", "alice", "cat"), ("a", "bob", "dog"), ("b", "alice", "bird")]


def test_an_undone_label_is_no_judgment_and_an_undo_is_nobodys(store):
    pid = store.project("p")
    store.add_labels(pid, ["a"], "cat", "alice", "single")
    store.add_labels(pid, ["a"], "dog", "bob", "single")
    store.undo_last(pid, "bob")  # restores alice's cat, as an event of bob's
    assert [(i, who, lab) for i, who, lab, _ in store.judgments(pid)] == [("a", "alice", "cat")]


def test_model_labels_and_resolutions_are_not_judgments(store):
    pid = store.project("p")
    store.add_labels(pid, ["a"], "cat", "alice", "single")
    store.add_labels(pid, ["b"], "cat", "model", "pseudo")
    store.add_labels(pid, ["a"], "dog", "carol", "resolve")
    assert [(i, who) for i, who, _, _ in store.judgments(pid)] == [("a", "alice")]


def test_annotator_counts_per_person_and_source(store):
    pid = store.project("p")
    store.add_labels(pid, ["a", "b", "c"], "cat", "alice", "bulk")
    store.add_labels(pid, ["a"], "dog", "alice", "single")
    store.add_labels(pid, ["d"], "dog", "bob", "queue")
    counts = {r["annotator"]: r for r in store.annotator_counts(pid)}
    assert (counts["alice"]["events"], counts["alice"]["items"]) == (4, 3)
    assert counts["alice"]["by_source"] == {"bulk": 3, "single": 1}
    assert (counts["bob"]["events"], counts["bob"]["items"]) == (1, 1)


# ---------------------------------------------------------------------------------------------- import


def test_import_keeps_who_gave_each_label_and_when(store):
    pid = store.project("p")
    when = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    store.import_labels(pid, ["a", "b"], ["cat", "dog"], ["alice", None], [when, None], importer="carol")
    events = {e["item_id"]: e for e in store.events(pid)}
    assert (events["a"]["annotator"], events["b"]["annotator"]) == ("alice", "carol")
    assert events["a"]["created_at"].replace(tzinfo=None) == when.replace(tzinfo=None)
    assert {e["source"] for e in events.values()} == {"import"}


def test_an_import_keeps_the_files_annotator_in_imported_from_the_label_stays_the_importers(store):
    pid = store.project("p")
    store.add_labels(pid, ["c"], "cat", "carol", "bulk")
    store.import_labels(pid, ["a", "b"], ["cat", "dog"], importer="mallory", imported_from=["alice", None])
    events = {e["item_id"]: e for e in store.events(pid)}
    assert [(events[i]["annotator"], events[i]["imported_from"]) for i in "abc"] == [
        ("mallory", "alice"),
        ("mallory", None),
        ("carol", None),  # a label given here names no file
    ]
    (imp,) = store.imports(pid)
    assert (imp["importer"], imp["labels"], imp["annotators"], imp["imported_from"], imp["undone"]) == (
        "mallory",
        2,
        ["mallory"],
        ["alice"],
        False,
    )
    assert store.undo_last(pid, "mallory") == 2 and store.imports(pid)[0]["undone"]


def test_an_import_is_one_action_its_importer_can_undo(store):
    pid = store.project("p")
    store.add_labels(pid, ["a"], "cat", "carol", "single")
    store.import_labels(pid, ["a", "b"], ["dog", "dog"], ["alice", "bob"], importer="carol")
    assert store.undo_last(pid, "carol") == 2
    assert store.current_labels(pid) == {"a": "cat"}


# ------------------------------------------------------------------------------------------ concurrency


def test_two_stores_on_one_database_see_each_others_writes(store_url):
    first, second = Store(store_url), Store(store_url)
    first.add_labels(first.project("p"), ["a"], "cat", "alice", "bulk")
    second.add_labels(second.project("p"), ["b"], "dog", "bob", "bulk")
    expected = {"a": "cat", "b": "dog"}
    assert first.current_labels(first.project("p")) == second.current_labels(second.project("p")) == expected


def test_a_retry_after_a_lost_acknowledgement_stores_the_action_once(store, monkeypatch):
    """The commit went through but the reply was lost: the retry finds its request key and stops there."""
    pid = store.project("p")
    real_write = store._write
    lost = []

    @contextmanager
    def flaky_write():
        with real_write() as conn:
            yield conn
        if not lost:  # committed; now pretend the connection died before we heard so
            lost.append(1)
            raise OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(store, "_write", flaky_write)
    monkeypatch.setattr(store, "backoff", 0.01)
    aid = store.add_labels(pid, ["a", "b"], "cat", "alice", "bulk")
    assert lost and [e["action_id"] for e in store.events(pid)] == [aid, aid]


def test_sqlite_runs_in_wal_mode(tmp_path):
    path = tmp_path / "labels.db"
    Store(path).project("p")
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# ------------------------------------------------------------------------------------------- migrations

# The tables exactly as alviz 0.1 created them (no schema_version table), per dialect.
V1_SCHEMA = {
    "sqlite": """
CREATE TABLE projects (id INTEGER NOT NULL, name VARCHAR(255) NOT NULL, created_at DATETIME NOT NULL,
    PRIMARY KEY (id), UNIQUE (name));
CREATE TABLE actions (id INTEGER NOT NULL, project_id INTEGER NOT NULL, annotator VARCHAR(255) NOT NULL,
    source VARCHAR(32) NOT NULL, n_items INTEGER NOT NULL, created_at DATETIME NOT NULL, undone_by INTEGER,
    PRIMARY KEY (id), FOREIGN KEY(project_id) REFERENCES projects (id));
CREATE INDEX ix_actions_project_id ON actions (project_id);
CREATE TABLE rounds (id INTEGER NOT NULL, project_id INTEGER NOT NULL, round INTEGER NOT NULL,
    n_labeled INTEGER NOT NULL, accuracy FLOAT, metric VARCHAR(64) NOT NULL, annotator VARCHAR(255) NOT NULL,
    created_at DATETIME NOT NULL, PRIMARY KEY (id), FOREIGN KEY(project_id) REFERENCES projects (id));
CREATE INDEX ix_rounds_project_id ON rounds (project_id);
CREATE TABLE label_events (id INTEGER NOT NULL, project_id INTEGER NOT NULL, action_id INTEGER NOT NULL,
    item_id VARCHAR(1024) NOT NULL, label VARCHAR(255), annotator VARCHAR(255) NOT NULL, source VARCHAR(32) NOT NULL,
    created_at DATETIME NOT NULL, PRIMARY KEY (id), FOREIGN KEY(project_id) REFERENCES projects (id),
    FOREIGN KEY(action_id) REFERENCES actions (id));
CREATE INDEX ix_label_events_project_id ON label_events (project_id);
CREATE INDEX ix_label_events_item_id ON label_events (item_id);
CREATE INDEX ix_label_events_action_id ON label_events (action_id)
""",
    "postgresql": """
CREATE TABLE projects (id SERIAL NOT NULL, name VARCHAR(255) NOT NULL, created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (id), UNIQUE (name));
CREATE TABLE actions (id SERIAL NOT NULL, project_id INTEGER NOT NULL, annotator VARCHAR(255) NOT NULL,
    source VARCHAR(32) NOT NULL, n_items INTEGER NOT NULL, created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    undone_by INTEGER, PRIMARY KEY (id), FOREIGN KEY(project_id) REFERENCES projects (id));
CREATE INDEX ix_actions_project_id ON actions (project_id);
CREATE TABLE rounds (id SERIAL NOT NULL, project_id INTEGER NOT NULL, round INTEGER NOT NULL,
    n_labeled INTEGER NOT NULL, accuracy FLOAT, metric VARCHAR(64) NOT NULL, annotator VARCHAR(255) NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, PRIMARY KEY (id), FOREIGN KEY(project_id) REFERENCES projects (id));
CREATE INDEX ix_rounds_project_id ON rounds (project_id);
CREATE TABLE label_events (id SERIAL NOT NULL, project_id INTEGER NOT NULL, action_id INTEGER NOT NULL,
    item_id VARCHAR(1024) NOT NULL, label VARCHAR(255), annotator VARCHAR(255) NOT NULL, source VARCHAR(32) NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, PRIMARY KEY (id), FOREIGN KEY(project_id) REFERENCES projects (id),
    FOREIGN KEY(action_id) REFERENCES actions (id));
CREATE INDEX ix_label_events_project_id ON label_events (project_id);
CREATE INDEX ix_label_events_item_id ON label_events (item_id);
CREATE INDEX ix_label_events_action_id ON label_events (action_id)
""",
}
# What alviz 0.1 wrote: alice bulk-labeled a and b "cat", bob relabeled b "dog", alice labeled c then undid it,
# and one training round. Timestamps as each dialect stores them.
V1_DATA = """
INSERT INTO projects (name, created_at) VALUES ('p', '2025-01-02 10:00:00.000000');
INSERT INTO actions (project_id, annotator, source, n_items, created_at, undone_by) VALUES
    (1, 'alice', 'bulk', 2, '2025-01-02 10:01:00.000000', NULL),
    (1, 'bob', 'single', 1, '2025-01-02 10:02:00.000000', NULL),
    (1, 'alice', 'single', 1, '2025-01-02 10:03:00.000000', 4),
    (1, 'alice', 'undo', 1, '2025-01-02 10:04:00.000000', NULL);
INSERT INTO label_events (project_id, action_id, item_id, label, annotator, source, created_at) VALUES
    (1, 1, 'a', 'cat', 'alice', 'bulk', '2025-01-02 10:01:00.000000'),
    (1, 1, 'b', 'cat', 'alice', 'bulk', '2025-01-02 10:01:00.000000'),
    (1, 2, 'b', 'dog', 'bob', 'single', '2025-01-02 10:02:00.000000'),
    (1, 3, 'c', 'cat', 'alice', 'single', '2025-01-02 10:03:00.000000'),
    (1, 4, 'c', NULL, 'alice', 'undo', '2025-01-02 10:04:00.000000');
INSERT INTO rounds (project_id, round, n_labeled, accuracy, metric, annotator, created_at) VALUES
    (1, 1, 2, 0.5, 'test accuracy', 'alice', '2025-01-02 10:05:00.000000')
"""


@pytest.fixture
def v1_database(database):
    """A database as alviz 0.1 left it, written with raw SQL (no alviz code involved)."""
    engine = create_engine(database.url)
    with engine.begin() as con:
        for statement in (V1_SCHEMA[database.kind] + ";" + V1_DATA).split(";"):
            if statement.strip():
                con.execute(text(statement))
    engine.dispose()
    return database


def test_a_v1_database_opens_migrated_with_its_labels_intact(v1_database):
    s = Store(v1_database.url)
    assert s.schema_version() == SCHEMA_VERSION
    pid = s.project("p")
    assert s.current_labels(pid) == {"a": "cat", "b": "dog"}
    assert [(r["round"], r["accuracy"]) for r in s.rounds(pid)] == [(1, 0.5)]
    assert len(s.events(pid)) == 5


def test_a_migrated_database_takes_new_labels_undo_and_settings(v1_database):
    s = Store(v1_database.url)
    pid = s.project("p")
    s.add_labels(pid, ["c"], "bird", "bob", "single")
    s.update_settings(pid, qc_fraction=0.1)
    assert s.undo_last(pid, "bob") == 1  # bob's new "bird" goes; his v1 "dog" on b stays
    assert s.current_labels(pid) == {"a": "cat", "b": "dog"}
    assert s.add_round(pid, 2, 0.6, "test accuracy", "bob") == 2
    assert s.settings(pid) == {"qc_fraction": 0.1}


def test_rounds_carry_accuracy_with_and_without_pseudo_labels_old_ones_none(v1_database):
    s = Store(v1_database.url)
    pid = s.project("p")
    s.add_round(pid, 3, 0.7, "test accuracy", "bob", accuracy_human=0.65, accuracy_pseudo=0.7, n_pseudo=12)
    old, new = s.rounds(pid)
    assert (old["accuracy_human"], old["accuracy_pseudo"], old["n_pseudo"]) == (None, None, None)
    assert (new["accuracy_human"], new["accuracy_pseudo"], new["n_pseudo"]) == (0.65, 0.7, 12)
    with pytest.raises(ValueError, match="Unknown round fields"):
        s.add_round(pid, 3, 0.7, "test accuracy", "bob", accuracy_secret=1.0)


def test_migrations_run_once(v1_database):
    Store(v1_database.url).close()
    Store(v1_database.url).close()
    assert sql(v1_database.url, "SELECT version FROM schema_version ORDER BY version") == [(2,), (3,), (4,), (5,)]


def test_a_new_database_starts_at_the_current_version(store_url):
    Store(store_url).close()
    assert sql(store_url, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]


def test_a_database_from_a_newer_alviz_is_refused_untouched(store_url):
    Store(store_url).close()
    sql(store_url, "INSERT INTO schema_version (version, applied_at) VALUES (99, '2030-01-01 00:00:00')")
    with pytest.raises(StoreError, match="schema version 99.*newer alviz"):
        Store(store_url)


def test_every_version_up_to_the_current_has_a_migration():
    assert sorted(store_module.MIGRATIONS) == list(range(2, SCHEMA_VERSION + 1))


# ------------------------------------------------------------------------------------------------ errors


def test_a_database_in_a_missing_folder_gives_a_store_error(tmp_path):
    with pytest.raises(StoreError, match="unavailable"):
        Store(tmp_path / "no" / "such" / "folder" / "labels.db", retries=1)


def test_a_database_path_that_is_a_folder_gives_a_store_error(tmp_path):
    with pytest.raises(StoreError, match="label database"):
        Store(tmp_path, retries=1)


def test_a_file_that_is_not_a_database_gives_a_store_error(tmp_path):
    junk = tmp_path / "notes.db"
    junk.write_bytes(b"these are my notes, not a database\n" * 100)
    with pytest.raises(StoreError, match="not a database"):
        Store(junk, retries=1)


def test_a_wrong_postgresql_password_gives_a_store_error_without_the_password(pg_database):
    user, rest = pg_database.url.split("://", 1)[1].split("@", 1)
    bad = f"postgresql+psycopg://{user.split(':')[0]}:wrong-secret@{rest}"
    with pytest.raises(StoreError, match="password authentication failed") as err:
        Store(bad, retries=1)
    assert "wrong-secret" not in str(err.value)


def test_a_plain_postgresql_url_means_psycopg():
    assert store_module.normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"


# ------------------------------------------------------------------------------------------------ export


@pytest.fixture
def labeled_db(store_url):
    """alice labels a and b; bob relabels b; alice labels c, then undoes it."""
    s = Store(store_url)
    pid = s.project("p")
    s.add_labels(pid, ["a", "b"], "cat", "alice", "bulk")
    s.add_labels(pid, ["b"], "dog", "bob", "single")
    s.add_labels(pid, ["c"], "cat", "alice", "single")
    s.undo_last(pid, "alice")
    s.close()
    return store_url


def read_back(path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.DataFrame(json.loads(path.read_text()))


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".json"])
def test_export_round_trips_current_labels_with_annotator(labeled_db, tmp_path, suffix):
    out = tmp_path / f"labels{suffix}"
    assert export_labels(labeled_db, out) == 2
    df = read_back(out)
    assert sorted(zip(df["item_id"], df["label"], df["annotator"], strict=True)) == [
        ("a", "cat", "alice"),
        ("b", "dog", "bob"),
    ]


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".json"])
def test_export_carries_when_each_label_was_given(labeled_db, tmp_path, suffix):
    out = tmp_path / f"labels{suffix}"
    export_labels(labeled_db, out)
    given = pd.to_datetime(read_back(out)["created_at"], utc=True)
    now = pd.Timestamp(datetime.now(UTC))
    assert ((given <= now) & (given > now - pd.Timedelta(minutes=5))).all()


def test_export_of_history_includes_undo_events(labeled_db, tmp_path):
    out = tmp_path / "history.csv"
    export_labels(labeled_db, out, history=True)
    df = pd.read_csv(out)
    assert len(df) == 5 and df.loc[df["source"] == "undo", "item_id"].tolist() == ["c"]


def test_export_of_one_project_leaves_the_others_out(store):
    store.add_labels(store.project("p"), ["a"], "cat", "alice", "bulk")
    store.add_labels(store.project("q"), ["z"], "dog", "alice", "bulk")
    assert labels_frame(store, project="q")["item_id"].tolist() == ["z"]


def test_export_of_an_unknown_project_names_the_ones_there(labeled_db):
    with pytest.raises(ValueError, match=r"No project 'nope'.*\['p'\]"):
        labels_frame(Store(labeled_db), project="nope")


def test_export_of_a_missing_database_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="No label database"):
        export_labels(str(tmp_path / "missing.db"), tmp_path / "out.csv")
    assert not (tmp_path / "missing.db").exists()


def test_export_with_an_unknown_suffix_is_refused(labeled_db, tmp_path):
    with pytest.raises(ValueError, match="suffix"):
        export_labels(labeled_db, tmp_path / "labels.xlsx")


def test_export_of_an_empty_database_writes_only_a_header(store, store_url, tmp_path):
    store.project("p")
    out = tmp_path / "labels.csv"
    assert export_labels(store_url, out) == 0
    assert list(pd.read_csv(out).columns) == [
        "project",
        "item_id",
        "label",
        "annotator",
        "source",
        "created_at",
        "action_id",
    ]


def test_the_revision_moves_with_every_write_undo_included(store):
    pid = store.project("p")
    store.add_labels(pid, ["a"], "cat", "alice", "single")
    store.add_labels(pid, ["a"], "dog", "bob", "single")
    seen = [store.revision(pid)]
    store.undo_last(pid, "alice")  # alice's cat was relabeled since: no event, but her judgment is gone
    seen.append(store.revision(pid))
    store.add_labels(pid, ["b"], "cat", "alice", "single")
    seen.append(store.revision(pid))
    assert len(set(seen)) == 3


# ------------------------------------------------------------------------------------------------ at scale


def test_undo_of_a_big_action_restores_each_items_own_previous_label(store):
    """Set-based undo: items with an earlier label get it back, new items go unlabeled, an item relabeled
    since by someone else keeps that label, and an earlier undone label does not come back."""
    pid = store.project("p")
    items = [f"i{k:04d}" for k in range(3000)]
    store.add_labels(pid, items[:1000], "cat", "alice", "bulk")
    store.add_labels(pid, items[1000:1500], "owl", "carol", "bulk")
    store.undo_last(pid, "carol")  # items 1000-1499: owl given, then undone
    store.add_labels(pid, items, "dog", "alice", "bulk")
    store.add_labels(pid, items[:10], "bird", "bob", "single")
    assert store.undo_last(pid, "alice") == 2990
    current = store.current_labels(pid)
    assert [current.get(i) for i in items[:12]] == ["bird"] * 10 + ["cat"] * 2
    assert all(current.get(i) == "cat" for i in items[10:1000])
    assert not any(i in current for i in items[1000:])


def test_a_big_undo_right_after_a_big_label_is_one_action_of_undo_events(store):
    pid = store.project("p")
    items = [f"i{k:05d}" for k in range(20_000)]
    store.add_labels(pid, items, "cat", "alice", "bulk")
    store.add_labels(pid, items, "dog", "alice", "bulk")
    written = store.undo_action(pid, "alice")
    undo_events = [e for e in store.events(pid) if e["source"] == "undo"]
    assert written.n_items == len(undo_events) == 20_000
    assert {e["action_id"] for e in undo_events} == {written.action_id}
    assert [e["item_id"] for e in undo_events] == items  # in the order the action gave them
    assert set(store.current_labels(pid).values()) == {"cat"}


def test_undo_with_nothing_to_undo_writes_nothing(store, store_url):
    pid = store.project("p")
    assert store.undo_action(pid, "alice").n_items == 0
    assert count(store_url, "actions") == 0


def test_a_write_tells_where_its_events_sit_in_the_log(store):
    pid = store.project("p")
    first = store.write_labels(pid, ["a", "b"], "cat", "alice", "bulk")
    second = store.write_labels(pid, ["c"], "dog", "bob", "single")
    assert first.prev_event_id == 0 < first.last_event_id
    assert second.prev_event_id == first.last_event_id < second.last_event_id == store.last_event_id(pid)
    undone = store.undo_action(pid, "bob")
    assert undone.prev_event_id == second.last_event_id < undone.last_event_id == store.last_event_id(pid)


def test_changes_since_gives_only_the_newer_events_oldest_first(store):
    pid, other = store.project("p"), store.project("q")
    store.add_labels(pid, ["a", "b"], "cat", "alice", "bulk")
    seen = store.last_event_id(pid)
    store.add_labels(other, ["z"], "cat", "alice", "bulk")  # another project's event in between
    store.add_labels(pid, ["b"], "dog", "bob", "single")
    store.undo_last(pid, "bob")
    got = [(item, label, source) for _, item, label, source in store.changes_since(pid, seen)]
    assert got == [("b", "dog", "single"), ("b", "cat", "undo")]
    assert store.changes_since(pid, store.last_event_id(pid)) == []


def test_current_state_is_the_current_labels_with_sources_as_of_the_newest_event(store):
    pid = store.project("p")
    store.add_labels(pid, ["a", "b", "c"], "cat", "alice", "bulk")
    store.add_labels(pid, ["a"], "dog", "bob", "single")
    store.add_labels(pid, ["c"], None, "bob", "import")
    upto, rows = store.current_state(pid)
    assert upto == store.last_event_id(pid)
    assert sorted(rows) == [("a", "dog", "single"), ("b", "cat", "bulk")]


def test_the_log_is_every_event_as_plain_tuples(store):
    pid = store.project("p")
    store.add_labels(pid, ["a"], "cat", "alice", "bulk")
    store.undo_last(pid, "alice")
    assert [row[:3] for row in store.log(pid)] == [("a", "cat", "bulk"), ("a", None, "undo")]


def test_a_v4_database_gains_imported_from_and_loses_nothing(v1_database, monkeypatch):
    from sqlalchemy import inspect as sa_inspect

    with monkeypatch.context() as m:  # an alviz that stops at v4 leaves a true v4 database
        m.setattr(store_module, "SCHEMA_VERSION", 4)
        old = Store(v1_database.url)
        old.import_labels(old.project("p"), ["d"], ["bird"], ["dave"], importer="carol")  # a v4 import
        assert old.schema_version() == 4
        old.close()
    engine = create_engine(v1_database.url)
    try:
        assert "imported_from" not in {c["name"] for c in sa_inspect(engine).get_columns("label_events")}
    finally:
        engine.dispose()
    s = Store(v1_database.url)
    assert s.schema_version() == 5
    pid = s.project("p")
    events = s.events(pid)
    assert [(e["item_id"], e["label"], e["annotator"], e["imported_from"]) for e in events] == [
        ("a", "cat", "alice", None),
        ("b", "cat", "alice", None),
        ("b", "dog", "bob", None),
        ("c", "cat", "alice", None),
        ("c", None, "alice", None),
        ("d", "bird", "dave", None),
    ]
    assert s.current_labels(pid) == {"a": "cat", "b": "dog", "d": "bird"}
    s.import_labels(pid, ["e"], ["cat"], importer="carol", imported_from=["erin"])
    s.add_labels(pid, ["f", "g"], "dog", "bob", "bulk")
    assert [(e["annotator"], e["imported_from"]) for e in s.events(pid)[-3:]] == [
        ("carol", "erin"),
        ("bob", None),
        ("bob", None),
    ]


def test_migration_4_drops_the_indexes_the_composite_one_covers(v1_database):
    from sqlalchemy import inspect as sa_inspect

    Store(v1_database.url).close()
    engine = create_engine(v1_database.url)
    try:
        names = {ix["name"] for ix in sa_inspect(engine).get_indexes("label_events")}
    finally:
        engine.dispose()
    assert "ix_label_events_project_item" in names
    assert not names & {"ix_label_events_project_id", "ix_label_events_item_id"}


def test_rename_labels_keeps_each_items_annotator_and_records_the_renamer_on_the_action(store_url):
    s = Store(store_url)
    pid = s.project("p")
    s.add_labels(pid, ["a", "b"], "cat", "alice", "bulk")
    s.add_labels(pid, ["c"], "cat", "bob", "single")
    written = s.rename_labels(pid, ["a", "b", "c", "new"], "lynx", "carol")
    events = {e["item_id"]: (e["label"], e["annotator"], e["source"]) for e in s.current_events(pid)}
    assert events == {
        "a": ("lynx", "alice", "rename"),
        "b": ("lynx", "alice", "rename"),
        "c": ("lynx", "bob", "rename"),
        "new": ("lynx", "carol", "rename"),  # no label before: the renamer's
    }
    assert written.n_items == 4 and s.rename_edits(pid) == {"carol": 4}
    assert s.undo_last(pid, "carol") == 4 and s.rename_edits(pid) == {}
    assert s.current_labels(pid) == {"a": "cat", "b": "cat", "c": "cat"}
    s.close()
