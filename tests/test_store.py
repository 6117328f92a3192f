"""The store: append-only label events in a real SQLite file, atomic actions, clear errors, exports."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime

import pandas as pd
import pytest

from alviz.export import export_labels, labels_frame
from alviz.store import Store, StoreError


@pytest.fixture
def store(db_path):
    s = Store(db_path)
    yield s
    s.close()


def count(db_path, table: str) -> int:
    with sqlite3.connect(db_path) as con:
        return con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


# ----------------------------------------------------------------------------------------------- events


def test_events_round_trip_with_who_what_and_when(store):
    pid = store.project("p")
    t0 = datetime.now(UTC).replace(tzinfo=None)
    store.add_labels(pid, ["a", "b"], ["cat", "dog"], "alice", "bulk")
    t1 = datetime.now(UTC).replace(tzinfo=None)
    events = store.events(pid)
    got = [(e["project"], e["item_id"], e["label"], e["annotator"], e["source"]) for e in events]
    assert got == [("p", "a", "cat", "alice", "bulk"), ("p", "b", "dog", "alice", "bulk")]
    assert all(t0 <= e["created_at"].replace(tzinfo=None) <= t1 for e in events)


def test_current_label_is_the_latest_event(store):
    pid = store.project("p")
    store.add_labels(pid, ["a", "b"], "cat", "alice", "bulk")
    store.add_labels(pid, ["a"], "dog", "bob", "single")
    assert store.current_labels(pid) == {"a": "dog", "b": "cat"}


def test_a_null_label_unlabels_the_item(store):
    pid = store.project("p")
    store.add_labels(pid, ["a", "b"], "cat", "alice", "bulk")
    store.add_labels(pid, ["a"], None, "alice", "import")
    assert store.current_labels(pid) == {"b": "cat"}


def test_a_project_is_created_once_and_found_again(store):
    assert store.project("p") == store.project("p") != store.project("q")
    assert store.project_names() == ["p", "q"]


def test_adding_no_items_is_refused(store):
    with pytest.raises(ValueError, match="selection is empty"):
        store.add_labels(store.project("p"), [], "cat", "alice", "bulk")


def test_an_unknown_source_is_refused(store):
    with pytest.raises(ValueError, match="source must be one of"):
        store.add_labels(store.project("p"), ["a"], "cat", "alice", "lasso")


def test_labels_of_another_length_than_items_are_refused_and_nothing_is_written(store, db_path):
    with pytest.raises(ValueError, match="2 items but 1 labels"):
        store.add_labels(store.project("p"), ["a", "b"], ["cat"], "alice", "bulk")
    assert (count(db_path, "actions"), count(db_path, "label_events")) == (0, 0)


def test_an_action_that_fails_midway_writes_nothing(store, db_path):
    """A real database-side failure on the second row rolls back the action and its first row."""
    with sqlite3.connect(db_path) as con:
        con.execute(
            "CREATE TRIGGER poison BEFORE INSERT ON label_events WHEN NEW.item_id = 'poison' "
            "BEGIN SELECT RAISE(ABORT, 'poisoned row'); END"
        )
    with pytest.raises(StoreError, match="poisoned row"):
        store.add_labels(store.project("p"), ["fine", "poison"], "cat", "alice", "bulk")
    assert (count(db_path, "actions"), count(db_path, "label_events")) == (0, 0)


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


# ------------------------------------------------------------------------------------------ concurrency


def test_two_stores_on_one_file_see_each_others_writes(db_path):
    first, second = Store(db_path), Store(db_path)
    first.add_labels(first.project("p"), ["a"], "cat", "alice", "bulk")
    second.add_labels(second.project("p"), ["b"], "dog", "bob", "bulk")
    assert (
        first.current_labels(first.project("p"))
        == second.current_labels(second.project("p"))
        == {
            "a": "cat",
            "b": "dog",
        }
    )


def test_sqlite_runs_in_wal_mode(store, db_path):
    store.project("p")
    with sqlite3.connect(db_path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


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


# ------------------------------------------------------------------------------------------------ export


@pytest.fixture
def labeled_db(db_path):
    """alice labels a and b; bob relabels b; alice labels c, then undoes it."""
    s = Store(db_path)
    pid = s.project("p")
    s.add_labels(pid, ["a", "b"], "cat", "alice", "bulk")
    s.add_labels(pid, ["b"], "dog", "bob", "single")
    s.add_labels(pid, ["c"], "cat", "alice", "single")
    s.undo_last(pid, "alice")
    s.close()
    return db_path


def read_back(path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.DataFrame(json.loads(path.read_text()))


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".json"])
def test_export_round_trips_current_labels_with_annotator(labeled_db, tmp_path, suffix):
    out = tmp_path / f"labels{suffix}"
    assert export_labels(str(labeled_db), out) == 2
    df = read_back(out)
    assert sorted(zip(df["item_id"], df["label"], df["annotator"], strict=True)) == [
        ("a", "cat", "alice"),
        ("b", "dog", "bob"),
    ]


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".json"])
def test_export_carries_when_each_label_was_given(labeled_db, tmp_path, suffix):
    out = tmp_path / f"labels{suffix}"
    export_labels(str(labeled_db), out)
    given = pd.to_datetime(read_back(out)["created_at"])
    now = pd.Timestamp(datetime.now(UTC).replace(tzinfo=None))
    assert ((given <= now) & (given > now - pd.Timedelta(minutes=5))).all()


def test_export_of_history_includes_undo_events(labeled_db, tmp_path):
    out = tmp_path / "history.csv"
    export_labels(str(labeled_db), out, history=True)
    df = pd.read_csv(out)
    assert len(df) == 5 and df.loc[df["source"] == "undo", "item_id"].tolist() == ["c"]


def test_export_of_one_project_leaves_the_others_out(db_path):
    s = Store(db_path)
    s.add_labels(s.project("p"), ["a"], "cat", "alice", "bulk")
    s.add_labels(s.project("q"), ["z"], "dog", "alice", "bulk")
    assert labels_frame(s, project="q")["item_id"].tolist() == ["z"]


def test_export_of_an_unknown_project_names_the_ones_there(labeled_db):
    with pytest.raises(ValueError, match=r"No project 'nope'.*\['p'\]"):
        labels_frame(Store(labeled_db), project="nope")


def test_export_of_a_missing_database_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="No label database"):
        export_labels(str(tmp_path / "missing.db"), tmp_path / "out.csv")
    assert not (tmp_path / "missing.db").exists()


def test_export_with_an_unknown_suffix_is_refused(labeled_db, tmp_path):
    with pytest.raises(ValueError, match="suffix"):
        export_labels(str(labeled_db), tmp_path / "labels.xlsx")


def test_export_of_an_empty_database_writes_only_a_header(db_path, tmp_path):
    Store(db_path).project("p")
    out = tmp_path / "labels.csv"
    assert export_labels(str(db_path), out) == 0
    assert list(pd.read_csv(out).columns) == [
        "project",
        "item_id",
        "label",
        "annotator",
        "source",
        "created_at",
        "action_id",
    ]
