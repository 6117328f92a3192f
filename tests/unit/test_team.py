"""Team labeling: kappa, agreement, conflicts and their resolution, counts, QC routing, import/export.

Store-backed tests run on SQLite and on PostgreSQL (``store`` fixture over ``store_url``).
"""

from __future__ import annotations

import io
import json
import math
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from alviz import team
from alviz.embed import Embedding
from alviz.export import import_labels, labels_bytes, labels_frame, read_labels
from alviz.session import Session
from alviz.store import Store


@pytest.fixture
def store(store_url):
    s = Store(store_url)
    yield s
    s.close()


# ------------------------------------------------------------------------------------------------ kappa


@pytest.mark.parametrize("seed", range(5))
def test_cohen_kappa_matches_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    a = rng.choice(["cat", "dog", "bird"], 60)
    b = np.where(rng.random(60) < 0.7, a, rng.choice(["cat", "dog", "bird"], 60))
    assert team.cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))


def test_cohen_kappa_by_hand():
    # 50 items; agree on 35 (20 yes-yes, 15 no-no); p_o = 0.7, p_e = 0.5*0.6 + 0.5*0.4 = 0.5, kappa = 0.4
    a = ["y"] * 25 + ["n"] * 25
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert team.cohen_kappa(a, b) == pytest.approx(0.4)


def test_cohen_kappa_is_one_for_perfect_agreement_and_undefined_for_one_shared_label():
    assert team.cohen_kappa(["a", "b", "a"], ["a", "b", "a"]) == pytest.approx(1.0)
    assert math.isnan(team.cohen_kappa(["a", "a"], ["a", "a"]))
    assert math.isnan(team.cohen_kappa([], []))


def test_fleiss_kappa_on_the_textbook_example():
    """Fleiss (1971) as worked on Wikipedia: 10 items, 14 raters, 5 categories, kappa = 0.210."""
    counts = np.array(
        [
            [0, 0, 0, 0, 14],
            [0, 2, 6, 4, 2],
            [0, 0, 3, 5, 6],
            [0, 3, 9, 2, 0],
            [2, 2, 8, 1, 1],
            [7, 7, 0, 0, 0],
            [3, 2, 6, 3, 0],
            [2, 5, 3, 2, 2],
            [6, 5, 2, 1, 0],
            [0, 2, 2, 3, 7],
        ]
    )
    assert team.fleiss_kappa(counts) == pytest.approx(0.20993, abs=1e-4)


def test_fleiss_kappa_is_one_for_unanimous_raters_and_refuses_single_ratings():
    assert team.fleiss_kappa(np.array([[3, 0], [0, 3], [3, 0]])) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 2 ratings"):
        team.fleiss_kappa(np.array([[1, 0], [2, 0]]))


# ------------------------------------------------------------------------------------------- agreement


def test_agreement_pairs_are_cohens_kappa_on_shared_items(store):
    pid = store.project("p")
    alice = ["cat", "cat", "dog", "dog", "bird", "cat"]
    bob = ["cat", "dog", "dog", "dog", "bird", "bird"]
    items = [f"i{k}" for k in range(6)]
    store.add_labels(pid, items, alice, "alice", "bulk")
    store.add_labels(pid, items, bob, "bob", "queue")
    store.add_labels(pid, ["only-alice"], "cat", "alice", "single")
    ag = team.agreement(store, pid)
    assert ag.n_items == 6 and ag.annotators == ["alice", "bob"]
    (pair,) = ag.pairs
    assert (pair.a, pair.b, pair.n_items) == ("alice", "bob", 6)
    assert pair.kappa == pytest.approx(cohen_kappa_score(alice, bob))
    assert pair.agreement == pytest.approx(4 / 6)


def test_kappa_comes_with_n_and_a_bootstrap_interval_or_none_on_few_shared_items(store):
    """Issue 13, 6: kappa on 3 shared items is no figure to trust alone: n and a 95% interval, NaN below 10."""
    rng = np.random.default_rng(3)
    alice = rng.choice(["cat", "dog", "owl"], 80)
    bob = np.where(rng.random(80) < 0.7, alice, rng.choice(["cat", "dog", "owl"], 80))
    pid = store.project("p")
    items = [f"i{k:03d}" for k in range(80)]
    store.add_labels(pid, items, alice.tolist(), "alice", "bulk")
    store.add_labels(pid, items, bob.tolist(), "bob", "qc")
    ag = team.agreement(store, pid)
    (pair,) = ag.pairs
    low, high = pair.kappa_ci
    assert pair.n_items == 80 and low < pair.kappa < high and 0.1 < high - low < 0.5
    assert ag.fleiss_ci[0] < ag.fleiss < ag.fleiss_ci[1]
    assert team.agreement(store, pid).pairs[0].kappa_ci == pair.kappa_ci  # fixed seed: the same interval
    few = store.project("few")
    store.add_labels(few, items[:3], ["cat", "dog", "cat"], "alice", "bulk")
    store.add_labels(few, items[:3], ["cat", "dog", "dog"], "bob", "qc")
    small = team.agreement(store, few)
    assert small.pairs[0].n_items == 3 and not math.isnan(small.pairs[0].kappa)
    assert all(math.isnan(x) for x in (*small.pairs[0].kappa_ci, *small.fleiss_ci))
    assert team.kappa_text(small.pairs[0].kappa, small.pairs[0].kappa_ci, 3) == "too few shared items (n < 10)"
    assert team.kappa_text(0.5, (0.25, 0.75), 40) == "0.50 (95% CI 0.25 to 0.75, n = 40)"


def test_fleiss_over_three_annotators_with_varying_overlap(store):
    pid = store.project("p")
    store.add_labels(pid, ["a", "b", "c"], ["x", "y", "x"], "ann", "bulk")
    store.add_labels(pid, ["a", "b", "c"], ["x", "y", "y"], "ben", "bulk")
    store.add_labels(pid, ["a", "b"], ["x", "x"], "cat", "bulk")
    ag = team.agreement(store, pid)
    # items: a = 3 x; b = 2 y + 1 x; c = 1 x + 1 y
    expected = team.fleiss_kappa(np.array([[3, 0], [1, 2], [1, 1]]))
    assert ag.n_items == 3 and ag.fleiss == pytest.approx(expected)
    assert len(ag.pairs) == 3


def test_no_shared_items_means_no_agreement_figures(store):
    pid = store.project("p")
    store.add_labels(pid, ["a"], "x", "ann", "single")
    ag = team.agreement(store, pid)
    assert ag.n_items == 0 and math.isnan(ag.fleiss) and ag.pairs == []


# ------------------------------------------------------------------------------------------- conflicts


def test_items_whose_annotators_disagree_are_listed_as_conflicts(store):
    pid = store.project("p")
    store.add_labels(pid, ["a", "b", "c"], "cat", "alice", "bulk")
    store.add_labels(pid, ["a"], "dog", "bob", "single")  # disagrees
    store.add_labels(pid, ["b"], "cat", "bob", "single")  # agrees
    (conflict,) = team.conflicts(store, pid)
    assert conflict.item_id == "a"
    assert conflict.labels == {"alice": "cat", "bob": "dog"} and conflict.current == "dog"


def test_an_annotator_changing_their_own_mind_is_no_conflict(store):
    pid = store.project("p")
    store.add_labels(pid, ["a"], "cat", "alice", "single")
    store.add_labels(pid, ["a"], "dog", "alice", "single")
    assert team.conflicts(store, pid) == []


def test_resolving_sets_the_label_and_closes_the_conflict(store):
    pid = store.project("p")
    store.add_labels(pid, ["a"], "cat", "alice", "single")
    store.add_labels(pid, ["a"], "dog", "bob", "single")
    team.resolve(store, pid, ["a"], "cat", "carol")
    assert team.conflicts(store, pid) == []
    assert store.current_labels(pid) == {"a": "cat"}
    assert store.current_events(pid)[0]["source"] == "resolve"


def test_a_new_disagreement_after_a_resolution_reopens_the_conflict(store):
    pid = store.project("p")
    store.add_labels(pid, ["a"], "cat", "alice", "single")
    store.add_labels(pid, ["a"], "dog", "bob", "single")
    team.resolve(store, pid, ["a"], "cat", "carol")
    store.add_labels(pid, ["a"], "bird", "dan", "qc")
    (conflict,) = team.conflicts(store, pid)
    assert conflict.labels == {"alice": "cat", "bob": "dog", "dan": "bird"}


def test_undoing_a_resolution_reopens_the_conflict(store):
    pid = store.project("p")
    store.add_labels(pid, ["a"], "cat", "alice", "single")
    store.add_labels(pid, ["a"], "dog", "bob", "single")
    team.resolve(store, pid, ["a"], "cat", "carol")
    store.undo_last(pid, "carol")
    assert [c.item_id for c in team.conflicts(store, pid)] == ["a"]


def test_resolving_by_majority_leaves_ties_open(store):
    pid = store.project("p")
    store.add_labels(pid, ["a", "b"], "cat", "alice", "bulk")
    store.add_labels(pid, ["a", "b"], "cat", "bob", "bulk")
    store.add_labels(pid, ["a"], "dog", "carol", "single")  # a: 2 cat vs 1 dog -> cat
    store.add_labels(pid, ["c"], "cat", "alice", "single")
    store.add_labels(pid, ["c"], "dog", "bob", "single")  # c: a tie
    assert team.resolve_by_majority(store, pid, "reviewer") == 1
    assert [c.item_id for c in team.conflicts(store, pid)] == ["c"]
    assert store.current_labels(pid)["a"] == "cat"


def test_a_resolution_needs_a_label(store):
    with pytest.raises(ValueError, match="needs a label"):
        team.resolve(store, store.project("p"), ["a"], "  ", "carol")


# ---------------------------------------------------------------------------------------------- counts


def test_annotator_table_counts_events_items_current_labels_and_conflicts(store):
    pid = store.project("p")
    store.add_labels(pid, ["a", "b", "c"], "cat", "alice", "bulk")
    store.add_labels(pid, ["a"], "dog", "bob", "single")
    rows = {r["annotator"]: r for r in team.annotator_table(store, pid)}
    assert (rows["alice"]["events"], rows["alice"]["current labels"], rows["alice"]["conflicts"]) == (3, 2, 1)
    assert (rows["bob"]["events"], rows["bob"]["current labels"], rows["bob"]["single"]) == (1, 1, 1)
    assert rows["alice"]["bulk"] == 3


def test_a_rename_keeps_each_labels_annotator_and_counts_as_the_renamers_edit(store_url, vector_pool):
    """Issue 13, 6: a rename or merge is a label-set edit; bob renaming alice's class does not make them his."""
    emb = Embedding(vector_pool.vectors, None, "x")
    alice = Session(vector_pool, emb, Store(store_url), annotator="alice")
    alice.label(np.arange(6), "cat")
    alice.label([6, 7], "dog")
    bob = Session(vector_pool, emb, Store(store_url), annotator="bob")
    bob.label([8, 9], "owl")
    store, pid = bob.store, bob.project_id
    before = {e["item_id"]: e["annotator"] for e in store.current_events(pid)}
    assert bob.rename_class("cat", "lynx") == 6
    assert bob.merge_classes("dog", "lynx") == 2
    after = {e["item_id"]: (e["annotator"], e["label"]) for e in store.current_events(pid)}
    assert {i: who for i, (who, _) in after.items()} == before
    assert {lab for i, (_, lab) in after.items() if before[i] == "alice"} == {"lynx"}
    rows = {r["annotator"]: r for r in team.annotator_table(store, pid)}
    assert (rows["alice"]["current labels"], rows["bob"]["current labels"]) == (8, 2)
    assert rows["bob"]["rename"] == 8 and rows["alice"]["rename"] == 0  # the edit is the renamer's
    assert bob.undo() == 2 and bob.undo() == 6  # undo of the merge, then of the rename
    labels = store.current_labels(pid)
    assert [labels[vector_pool.ids[k]] for k in range(10)] == ["cat"] * 6 + ["dog"] * 2 + ["owl"] * 2
    restored = {e["item_id"]: e["annotator"] for e in store.current_events(pid)}
    assert restored == before  # the undo gave the labels back to alice, as the rename had kept them hers


# ------------------------------------------------------------------------------------------ QC routing


def labeled_by_alice(store, n: int = 400):
    pid = store.project("p")
    items = [f"item-{k:04d}" for k in range(n)]
    store.add_labels(pid, items, "cat", "alice", "bulk")
    return pid, items


def test_qc_routes_a_deterministic_sample_of_others_items(store):
    pid, items = labeled_by_alice(store)
    first = team.qc_items(store, pid, "bob", 0.25, seed=7)
    assert first == team.qc_items(store, pid, "bob", 0.25, seed=7)
    assert first != team.qc_items(store, pid, "bob", 0.25, seed=8)
    assert 0.15 * len(items) < len(first) < 0.35 * len(items)
    assert set(first) <= set(items)


def test_qc_never_routes_an_annotator_their_own_items(store):
    pid, _ = labeled_by_alice(store)
    assert team.qc_items(store, pid, "alice", 0.5) == []


def test_qc_drops_items_once_they_have_a_second_label(store):
    pid, _ = labeled_by_alice(store)
    routed = team.qc_items(store, pid, "bob", 0.25)
    store.add_labels(pid, routed[:10], "cat", "bob", "qc")
    assert team.qc_items(store, pid, "bob", 0.25) == routed[10:]
    assert team.qc_items(store, pid, "carol", 0.25) == routed[10:]  # double-labeled now: done for everyone


def test_raising_the_qc_fraction_only_adds_items(store):
    pid, _ = labeled_by_alice(store)
    small, large = team.qc_items(store, pid, "bob", 0.1), team.qc_items(store, pid, "bob", 0.3)
    assert set(small) < set(large)


def test_qc_status_counts_the_sample_and_its_second_labels(store):
    pid, _ = labeled_by_alice(store, 200)
    routed = team.qc_items(store, pid, "bob", 0.2)
    store.add_labels(pid, routed[:5], "dog", "bob", "qc")
    status = team.qc_status(store, pid, 0.2)
    assert status == {"sampled": len(routed), "double": 5, "waiting": len(routed) - 5}


def test_qc_fraction_must_be_a_share(store):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        team.qc_items(store, store.project("p"), "bob", 1.5)


def test_a_session_sees_its_qc_items_only_when_the_project_routes_them(store_url, vector_pool):
    emb = Embedding(vector_pool.vectors, None, "x")
    alice = Session(vector_pool, emb, Store(store_url), annotator="alice")
    alice.label(np.arange(12), "left")
    bob = Session(vector_pool, emb, Store(store_url), annotator="bob")
    assert len(bob.qc_rows()) == 0  # off by default
    bob.store.update_settings(bob.project_id, qc_fraction=1.0)
    rows = bob.qc_rows()
    assert sorted(rows.tolist()) == list(range(12)) and len(alice.qc_rows()) == 0
    bob.label(rows[:3], "right", source="qc")
    (pair,) = team.agreement(bob.store, bob.project_id).pairs
    assert (pair.n_items, pair.agreement) == (3, 0.0)
    assert len(team.conflicts(bob.store, bob.project_id)) == 3


def test_a_blind_qc_label_is_a_second_opinion_not_the_current_label(store_url, vector_pool):
    """Issue 13, 6: bob's QC label does not replace alice's until the conflict is resolved; both are listed."""
    emb = Embedding(vector_pool.vectors, None, "x")
    alice = Session(vector_pool, emb, Store(store_url), annotator="alice")
    alice.label([0, 1, 2], "left")
    bob = Session(vector_pool, emb, Store(store_url), annotator="bob")
    bob.store.update_settings(bob.project_id, qc_fraction=1.0)
    store, pid, ids = bob.store, bob.project_id, vector_pool.ids.tolist()
    bob.label([0], "right", source="qc")  # disagrees
    bob.label([1], "left", source="qc")  # agrees
    assert bob.y[0] == alice.y[0] == bob.class_index("left")  # bob's own view did not take his opinion either
    assert store.current_labels(pid) == {ids[0]: "left", ids[1]: "left", ids[2]: "left"}
    assert alice.sync() is True and alice.y[0] == alice.class_index("left")
    assert set(labels_frame(store)["label"]) == {"left"}  # the export too
    (conflict,) = team.conflicts(store, pid)
    assert (conflict.item_id, conflict.labels, conflict.current) == (ids[0], {"alice": "left", "bob": "right"}, "left")

    alice.label([3], "left")  # a later action of alice's, then bob's opinion on that item
    bob.label([3], "right", source="qc")
    assert alice.undo() == 1 and alice.y[3] == -1  # the opinion is not a relabel: alice's undo goes through
    assert store.current_labels(pid).get(ids[3]) is None

    team.resolve(store, pid, [ids[0]], "right", "carol")
    assert store.current_labels(pid)[ids[0]] == "right"
    assert ids[0] not in [c.item_id for c in team.conflicts(store, pid)]
    assert bob.sync() is True and bob.y[0] == bob.class_index("right")


def test_undoing_a_qc_label_withdraws_the_opinion_and_changes_no_label(store):
    pid = store.project("p")
    store.add_labels(pid, ["a", "b"], "cat", "alice", "bulk")
    store.add_labels(pid, ["a", "b"], "dog", "bob", "qc")
    assert len(team.conflicts(store, pid)) == 2
    assert store.undo_last(pid, "bob") == 0  # no label was changed by it, so none is restored
    assert team.conflicts(store, pid) == [] and store.current_labels(pid) == {"a": "cat", "b": "cat"}
    assert store.undo_last(pid, "alice") == 2 and store.current_labels(pid) == {}


def test_a_session_syncs_labels_a_teammate_gave_meanwhile(store_url, vector_pool):
    emb = Embedding(vector_pool.vectors, None, "x")
    alice = Session(vector_pool, emb, Store(store_url), annotator="alice")
    bob = Session(vector_pool, emb, Store(store_url), annotator="bob")
    assert bob.sync() is False
    alice.label([0, 1], "left")
    assert bob.sync() is True and bob.n_labeled == 2
    assert bob.sync() is False


# ------------------------------------------------------------------------------------- export / import


@pytest.mark.parametrize("fmt", ["csv", "parquet", "json"])
def test_export_then_import_keeps_labels_annotators_and_times(store, fmt):
    pid = store.project("p")
    store.add_labels(pid, ["a", "b"], "cat", "alice", "bulk")
    store.add_labels(pid, ["b"], "dog", "bob", "single")
    exported = labels_bytes(store, "p", fmt)
    result = import_labels(store, "copy", exported, fmt=fmt, importer="carol", keep_annotators=True)
    assert (result["imported"], result["skipped"], result["annotators"]) == (2, 0, ["alice", "bob"])
    original, copy = labels_frame(store, "p"), labels_frame(store, "copy")
    key = ["item_id", "label", "annotator"]
    assert copy[key].sort_values("item_id").values.tolist() == original[key].sort_values("item_id").values.tolist()
    t_orig = pd.to_datetime(original.sort_values("item_id")["created_at"], utc=True).tolist()
    t_copy = pd.to_datetime(copy.sort_values("item_id")["created_at"], utc=True).tolist()
    assert [abs((x - y).total_seconds()) < 1e-3 for x, y in zip(t_orig, t_copy, strict=True)] == [True, True]
    assert set(copy["source"]) == {"import"}


@pytest.mark.parametrize("fmt", ["csv", "parquet", "json"])
def test_an_import_as_the_importers_keeps_the_files_annotator_and_the_history_export_shows_it(store, fmt):
    pid = store.project("p")
    store.add_labels(pid, ["a"], "cat", "alice", "bulk")
    result = import_labels(store, "p", b"item_id,label,annotator\nb,dog,bob\nc,cat,\n", fmt="csv", importer="carol")
    assert result["annotators"] == ["carol"] and result["imported_from"] == ["bob"]
    read = {"csv": pd.read_csv, "parquet": pd.read_parquet, "json": lambda f: pd.read_json(f, dtype=False)}[fmt]
    history = read(io.BytesIO(labels_bytes(store, "p", fmt, history=True)))
    rows = history[["item_id", "annotator", "source", "imported_from"]].values.tolist()
    assert [[None if pd.isna(v) else v for v in row] for row in rows] == [
        ["a", "alice", "bulk", None],
        ["b", "carol", "import", "bob"],
        ["c", "carol", "import", None],
    ]
    assert "imported_from" not in labels_frame(store, "p").columns  # current labels keep their columns


def test_an_admin_import_keeps_the_annotators_as_theirs_and_imported_from_empty(store):
    result = import_labels(store, "p", b"item_id,label,annotator\nb,dog,bob\n", fmt="csv", keep_annotators=True)
    assert result["annotators"] == ["bob"]
    (event,) = store.events(store.project("p"))
    assert (event["annotator"], event["imported_from"]) == ("bob", None)


def test_cli_export_history_includes_imported_from(tmp_path):
    from alviz.cli import main

    db, src, out = tmp_path / "l.db", tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_text("item_id,label,annotator\nb,dog,bob\n")
    assert main(["import", "--db", str(db), "--project", "p", "--file", str(src), "--annotator", "carol"]) == 0
    assert main(["export", "--db", str(db), "--out", str(out), "--history"]) == 0
    (row,) = pd.read_csv(out).to_dict("records")
    assert (row["annotator"], row["imported_from"]) == ("carol", "bob")


def test_import_reads_common_column_names_and_skips_blank_rows(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("filename,class,user,timestamp\ncats/1.png,cat,ann,2024-03-01T10:00:00Z\ndogs/2.png,,ann,\n")
    df = read_labels(path)
    assert df[["item_id", "label", "annotator"]].values.tolist() == [["cats/1.png", "cat", "ann"]]
    assert df["created_at"][0] == pd.Timestamp("2024-03-01T10:00:00Z")
    assert df.attrs["skipped"] == 1


def test_import_without_a_label_column_says_what_it_needs(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([{"id": "a", "colour": "red"}]))
    with pytest.raises(ValueError, match="no label column"):
        read_labels(path)


def test_import_keeps_ids_that_look_like_numbers_as_written(store, tmp_path):
    path = tmp_path / "ids.csv"
    path.write_text("item_id,label\n007,cat\n1.50,dog\n")
    import_labels(store, "p", path, importer="carol")
    assert store.current_labels(store.project("p")) == {"007": "cat", "1.50": "dog"}


def test_an_import_is_stored_whole_as_one_undoable_action(store, tmp_path):
    path = tmp_path / "labels.csv"
    pd.DataFrame({"item_id": ["a", "b", "c"], "label": ["x", "y", "z"]}).to_csv(path, index=False)
    import_labels(store, "p", path, importer="carol")
    pid = store.project("p")
    assert len({e["action_id"] for e in store.events(pid)}) == 1
    assert store.undo_last(pid, "carol") == 3 and store.current_labels(pid) == {}


def test_import_times_without_a_zone_count_as_utc(store):
    pid = store.project("p")
    store.import_labels(pid, ["a"], ["cat"], given_at=[datetime(2024, 1, 2, 3, 4, 5)], importer="x")
    when = store.events(pid)[0]["created_at"]
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    assert when == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


# --------------------------------------------------------------------------------------------------- CLI


def test_cli_import_adds_a_file_to_a_project(tmp_path, capsys):
    from alviz.cli import main

    path = tmp_path / "labels.csv"
    path.write_text("item_id,label,annotator\na,cat,alice\nb,dog,bob\nc,,bob\n")
    db = tmp_path / "new.db"
    assert main(["import", "--db", str(db), "--project", "p", "--file", str(path), "--annotator", "carol"]) == 0
    out = capsys.readouterr().out
    assert "imported 2 labels" in out and "skipped 1" in out
    s = Store(db)
    assert s.current_labels(s.project("p")) == {"a": "cat", "b": "dog"}


def test_cli_import_of_a_missing_file_exits_with_one_line(tmp_path, capsys):
    from alviz.cli import main

    code = main(["import", "--db", str(tmp_path / "x.db"), "--project", "p", "--file", str(tmp_path / "no.csv")])
    err = capsys.readouterr().err
    assert code == 2 and "No labels file" in err and len(err.strip().splitlines()) == 1
