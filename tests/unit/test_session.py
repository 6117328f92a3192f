"""The session: labels go to the store and come back, undo walks back, retraining records rounds."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from alviz.model import OneClassError, cross_val_accuracy
from alviz.pool import UNLABELED, Pool
from alviz.session import NothingNewError
from alviz.store import Store

# ----------------------------------------------------------------------------------------------- labels


def test_bulk_label_gives_every_selected_item_the_class(vector_pool, make_session):
    sess = make_session(vector_pool)
    assert sess.label([0, 1, 2], "cat") == 3
    assert [sess.class_names[c] for c in sess.y[[0, 1, 2]]] == ["cat"] * 3 and sess.n_labeled == 3


def test_repeated_rows_in_a_selection_count_once(vector_pool, make_session):
    sess = make_session(vector_pool)
    assert sess.label([4, 4, 4], "cat") == 1


def test_bulk_label_then_undo_restores_the_previous_labels(vector_pool, make_session):
    sess = make_session(vector_pool)
    sess.label([0, 1], "cat")
    before = sess.y.copy()  # rows 0, 1 are cats, everything else unlabeled
    sess.label([1, 2, 3], "dog")  # row 1 had another label, rows 2 and 3 had none
    assert sess.undo() == 3
    np.testing.assert_array_equal(sess.y, before)


def test_undo_twice_walks_back_two_actions_on_the_same_item(vector_pool, make_session):
    sess = make_session(vector_pool)
    sess.label([0], "cat")
    sess.label([0], "dog")
    sess.undo()
    sess.undo()
    assert sess.y[0] == UNLABELED


def test_undo_keeps_an_item_relabeled_later_by_someone_else(vector_pool, make_session):
    alice = make_session(vector_pool, annotator="alice")
    bob = make_session(vector_pool, annotator="bob")
    alice.label([0, 1], "cat")
    bob.label([1], "dog")
    alice.undo()
    assert (alice.y[0], alice.class_names[alice.y[1]]) == (UNLABELED, "dog")


def test_undo_reverts_only_this_annotators_action(vector_pool, make_session):
    alice = make_session(vector_pool, annotator="alice")
    bob = make_session(vector_pool, annotator="bob")
    alice.label([0], "cat")
    bob.label([5], "dog")
    alice.undo()
    assert (alice.y[0], alice.class_names[alice.y[5]]) == (UNLABELED, "dog")


def test_undo_with_nothing_to_undo_reverts_nothing(vector_pool, make_session):
    assert make_session(vector_pool).undo() == 0


def test_labeling_an_empty_selection_is_refused_with_a_hint(vector_pool, make_session):
    with pytest.raises(ValueError, match="Nothing is selected"):
        make_session(vector_pool).label([], "cat")


def test_rows_outside_the_pool_are_refused(vector_pool, make_session):
    with pytest.raises(ValueError, match="Row indices"):
        make_session(vector_pool).label([len(vector_pool)], "cat")


def test_new_class_names_are_appended(pool_with_test, make_session):
    sess = make_session(pool_with_test)
    sess.label([0], "middle")
    assert sess.class_names == ["left", "right", "middle"]


def test_class_names_are_trimmed(vector_pool, make_session):
    sess = make_session(vector_pool)
    sess.label([0], "  cat ")
    assert sess.class_names == ["cat"]


@pytest.mark.parametrize("name", ["", "   "])
def test_blank_class_name_is_refused_and_nothing_is_stored(vector_pool, make_session, name):
    sess = make_session(vector_pool)
    with pytest.raises(ValueError, match="cannot be empty"):
        sess.label([0], name)
    assert sess.store.current_labels(sess.project_id) == {}


def test_ground_truth_never_becomes_a_label(pool_with_test, make_session):
    assert make_session(pool_with_test).n_labeled == 0


def test_label_counts_cover_every_class(pool_with_test, make_session):
    sess = make_session(pool_with_test)
    sess.label([0, 1], "right")
    assert sess.label_counts() == {"left": 0, "right": 2}


# ----------------------------------------------------------------------------------------------- resume


def test_a_new_session_on_the_same_db_resumes_labels_classes_and_history(vector_pool, make_session):
    first = make_session(vector_pool)
    first.label([0, 1, 2], "cat")
    first.label([6, 7, 8], "dog")
    first.retrain()
    first.label([3], "cat")
    first.retrain()
    again = make_session(vector_pool)
    assert (again.y.tolist(), again.class_names, again.history()) == (
        first.y.tolist(),
        first.class_names,
        first.history(),
    )


def test_resumed_classes_keep_the_order_they_were_first_given(vector_pool, make_session):
    first = make_session(vector_pool)
    first.label([5], "zebra")
    first.label([1], "apple")  # row 1 sorts (and was labeled last) before row 5
    first.label([5, 6], "zebra")
    assert make_session(vector_pool).class_names == ["zebra", "apple"]


def test_a_resumed_session_has_a_model_but_records_no_round(vector_pool, make_session):
    first = make_session(vector_pool)
    first.label([0, 1], "cat")
    first.label([6, 7], "dog")
    again = make_session(vector_pool)
    assert again.proba is not None and again.history() == []


def test_labels_of_items_not_in_the_pool_are_counted_not_fatal(vector_pool, make_session, db_path):
    store = Store(db_path)
    store.add_labels(store.project("blobs"), ["item-000", "gone-1", "gone-2"], "cat", "bob", "bulk")
    sess = make_session(vector_pool)
    assert (sess.unknown_items, sess.n_labeled) == (2, 1)


def test_projects_in_one_db_keep_their_labels_apart(vector_pool, make_session):
    make_session(vector_pool, project="one").label([0], "cat")
    assert make_session(vector_pool, project="two").n_labeled == 0


def test_refresh_sees_labels_written_by_another_session(vector_pool, make_session):
    alice = make_session(vector_pool, annotator="alice")
    bob = make_session(vector_pool, annotator="bob")
    bob.label([3], "dog")
    alice.refresh()
    assert alice.class_names[alice.y[3]] == "dog"


# ------------------------------------------------------------------------------------------------ model


def test_retrain_with_one_class_raises_and_stores_nothing(vector_pool, make_session):
    sess = make_session(vector_pool)
    sess.label([0, 1, 2], "cat")
    with pytest.raises(OneClassError, match="at least two classes"):
        sess.retrain()
    assert (sess.model, sess.history()) == (None, [])


def test_retrain_records_a_round_per_call(vector_pool, make_session):
    sess = make_session(vector_pool)
    sess.label([0, 1], "cat")
    sess.label([6, 7], "dog")
    sess.retrain()
    sess.label([2, 8], "cat")
    sess.retrain()
    assert [(r["round"], r["n_labeled"]) for r in sess.history()] == [(1, 4), (2, 6)]


def test_retrain_reports_test_accuracy_when_the_pool_has_a_test_part(pool_with_test, make_session):
    sess = make_session(pool_with_test)
    sess.label([0, 1], "left")
    sess.label([6, 7], "right")
    result = sess.retrain()
    expected = float((sess.model.predict(pool_with_test.test.vectors) == pool_with_test.test.y_true).mean())
    assert (result["metric"], result["accuracy"]) == ("test accuracy", expected)


def test_retrain_reports_cross_validated_accuracy_without_ground_truth(vector_pool, make_session):
    sess = make_session(vector_pool)
    sess.label([0, 1, 2], "cat")
    sess.label([6, 7, 8], "dog")
    result = sess.retrain()
    expected = cross_val_accuracy(sess.X[sess.labeled], sess.y[sess.labeled], 2)
    assert (result["metric"], result["accuracy"]) == ("cross-validated accuracy", expected)


def test_separable_clusters_are_learned_perfectly(pool_with_test, make_session):
    sess = make_session(pool_with_test)
    sess.label([0, 1], "left")
    sess.label([6, 7], "right")
    assert sess.retrain()["accuracy"] == 1.0


def test_proba_pads_a_class_added_after_training(vector_pool, make_session):
    sess = make_session(vector_pool)
    sess.label([0, 1], "cat")
    sess.label([6, 7], "dog")
    sess.retrain()
    sess.label([11], "bird")
    p = sess.proba
    assert p.shape == (len(vector_pool), 3) and not p[:, 2].any()


def test_uncertainty_scores_need_a_model(vector_pool, make_session):
    assert make_session(vector_pool).score("entropy") is None


def test_similarity_score_needs_a_label(vector_pool, make_session):
    sess = make_session(vector_pool)
    assert sess.score("similarity") is None
    sess.label([0], "cat")
    assert sess.score("similarity").shape == (len(vector_pool),)


def test_unknown_score_name_is_refused_with_the_choices(vector_pool, make_session):
    with pytest.raises(ValueError, match="least_confidence"):
        make_session(vector_pool).score("vibes")


def test_query_returns_unlabeled_rows_only(vector_pool, make_session):
    sess = make_session(vector_pool)
    sess.label([0, 1, 2, 3], "cat")
    sess.label([6, 7], "dog")
    sess.retrain()
    rows = sess.query("entropy", 3)
    assert len(set(rows.tolist())) == 3 and not sess.labeled[rows].any()


def test_confusion_matrix_counts_test_items(pool_with_test, make_session):
    sess = make_session(pool_with_test)
    sess.label([0, 1], "left")
    sess.label([6, 7], "right")
    sess.retrain()
    cm, names = sess.confusion()
    assert (cm.tolist(), names) == ([[4, 0], [0, 4]], ["left", "right"])


def test_embedding_of_another_length_is_refused(vector_pool, db_path):
    from alviz.embed import Embedding
    from alviz.session import Session

    with pytest.raises(ValueError, match="rows"):
        Session(vector_pool, Embedding(vector_pool.vectors[:-1], None, "precomputed"), Store(db_path))


def test_pool_project_name_defaults_to_pool_name(make_session):
    pool = Pool(name="my pool", ids=["a", "b", "c"], vectors=np.eye(3, dtype=np.float32))
    assert make_session(pool).project == "my pool"


# ------------------------------------------------------------------------------------- sync and the mirror


def test_own_labels_and_undo_move_the_sync_point_so_sync_reads_nothing(vector_pool, make_session):
    sess = make_session(vector_pool)
    sess.label([0, 1], "cat")
    assert sess.sync() is False
    sess.label_each([2, 3], ["dog", "cat"], "queue")
    assert sess.sync() is False
    sess.undo()
    assert sess.sync() is False
    sess.rename_class("cat", "lynx")
    assert sess.sync() is False


def test_a_label_given_right_after_a_teammates_catches_up_with_theirs_too(vector_pool, make_session):
    alice, bob = make_session(vector_pool, annotator="alice"), make_session(vector_pool, annotator="bob")
    bob.label([4], "dog")
    alice.label([0], "cat")  # bob's event came in between alice's last read and her write
    assert alice.class_names[alice.y[4]] == "dog" and alice.sync() is False


def test_sync_follows_a_teammates_labels_new_classes_and_undo(vector_pool, make_session):
    alice, bob = make_session(vector_pool, annotator="alice"), make_session(vector_pool, annotator="bob")
    alice.label([0, 1], "cat")
    bob.label([1, 2], "owl")
    assert alice.sync() is True
    assert [alice.class_names[c] for c in alice.y[[0, 1, 2]]] == ["cat", "owl", "owl"]
    bob.undo()
    assert alice.sync() is True
    assert alice.class_names[alice.y[1]] == "cat" and alice.y[2] == UNLABELED


def test_after_undo_a_class_with_no_label_left_leaves_the_class_list(vector_pool, make_session):
    sess = make_session(vector_pool)
    sess.label([0, 1], "cat")
    sess.label([6, 7], "dog")
    sess.label([2], "zebra")
    sess.undo()
    assert sess.class_names == ["cat", "dog"] and sess.label_counts() == {"cat": 2, "dog": 2}


def test_after_undo_a_class_the_model_knew_is_gone_from_the_model_too(vector_pool, make_session):
    sess = make_session(vector_pool)
    sess.label([0, 1], "cat")
    sess.label([6, 7], "dog")
    sess.label([3, 4], "zebra")
    sess.retrain()
    sess.undo()
    assert sess.class_names == ["cat", "dog"] and sess.proba.shape == (len(vector_pool), 2)
    assert set(sess.predicted) <= {0, 1}


def test_after_undo_the_pools_own_classes_stay_without_labels(pool_with_test, make_session):
    sess = make_session(pool_with_test)
    sess.label([0], "left")
    sess.undo()
    assert sess.class_names == ["left", "right"] and sess.n_labeled == 0


def test_current_sources_follow_each_write_sync_and_undo(vector_pool, make_session):
    alice, bob = make_session(vector_pool, annotator="alice"), make_session(vector_pool, annotator="bob")
    ids = vector_pool.ids
    alice.label([0, 1], "cat", source="bulk")
    alice.label([1], "dog", source="single")
    bob.label([2], "cat", source="queue")
    alice.sync()
    assert alice.current_sources() == {ids[0]: "bulk", ids[1]: "single", ids[2]: "queue"}
    alice.undo()
    assert alice.current_sources() == {ids[0]: "bulk", ids[1]: "undo", ids[2]: "queue"}


def test_labels_of_items_outside_the_pool_are_counted_as_they_come_and_go(vector_pool, make_session, db_path):
    sess = make_session(vector_pool)
    other = Store(db_path)
    other.add_labels(other.project("blobs"), ["gone-1", "gone-2", "item-000"], "cat", "bob", "bulk")
    sess.sync()
    assert (sess.unknown_items, sess.n_labeled) == (2, 1)
    other.undo_last(other.project("blobs"), "bob")
    sess.sync()
    assert (sess.unknown_items, sess.n_labeled) == (0, 0)


def test_a_session_kept_in_sync_equals_a_fresh_one_after_mixed_work(vector_pool, make_session):
    """Two annotators label, relabel, rename and undo in turns; the one that only ever syncs ends with the
    labels, classes and sources a session built from the store has."""
    rng = np.random.default_rng(3)
    alice, bob = make_session(vector_pool, annotator="alice"), make_session(vector_pool, annotator="bob")
    for step in range(40):
        who = (alice, bob)[step % 2]
        who.sync()
        roll = rng.random()
        if roll < 0.6:
            rows = rng.choice(len(vector_pool), rng.integers(1, 6), replace=False)
            who.label(rows, str(rng.choice(["cat", "dog", "owl"])), source=str(rng.choice(["bulk", "single"])))
        elif roll < 0.9:
            who.undo()
        elif who.n_labeled:
            name = who.class_names[who.y[who.labeled][0]]
            if f"{name}2" not in who.class_names:
                who.rename_class(name, f"{name}2")
    alice.sync()
    fresh = make_session(vector_pool, annotator="carol")
    names = lambda s: [s.class_names[c] if c >= 0 else None for c in s.y]  # noqa: E731
    assert names(alice) == names(fresh)
    assert alice.current_sources() == fresh.current_sources()
    assert set(alice.label_counts().items()) >= {kv for kv in fresh.label_counts().items() if kv[1]}


def test_undo_during_a_background_retrain_leaves_a_model_of_the_classes_left(vector_pool, make_session):
    sess = make_session(vector_pool)
    sess.label([0, 1], "cat")
    sess.label([6, 7], "dog")
    sess.label([3, 4], "zebra")
    job = sess.retrain_in_background()  # fits cat, dog and zebra
    sess.undo()
    job.result()
    assert sess.class_names == ["cat", "dog"] and sess.proba.shape == (len(vector_pool), 2)


def test_a_project_without_labels_has_no_unknown_items(vector_pool, make_session):
    assert make_session(vector_pool).unknown_items == 0


def test_a_log_whose_ids_an_older_alviz_interleaved_is_read_whole(vector_pool, make_session, db_path):
    """Before v4, two PostgreSQL writers could interleave: here the newest action's events have the lower ids."""
    store = Store(db_path)
    pid = store.project("blobs")
    store.add_labels(pid, ["item-000"], "cat", "alice", "single")
    engine = create_engine(f"sqlite:///{db_path}")
    with engine.begin() as con:
        con.execute(text("UPDATE label_events SET id = 100"))  # action 1's event, written last
        con.execute(
            text(
                "INSERT INTO actions (project_id, annotator, source, n_items, created_at) "
                "VALUES (:p, 'bob', 'single', 1, '2026-01-01 00:00:00')"
            ),
            {"p": pid},
        )
        con.execute(
            text(
                "INSERT INTO label_events (id, project_id, action_id, item_id, label, annotator, source, created_at) "
                "VALUES (50, :p, 2, 'item-001', 'dog', 'bob', 'single', '2026-01-01 00:00:00')"
            ),
            {"p": pid},
        )
    engine.dispose()
    sess = make_session(vector_pool)
    assert sess.label_counts() == {"cat": 1, "dog": 1} and sess.sync() is False
    store.add_labels(pid, ["item-002"], "owl", "bob", "single")
    assert sess.sync() is True and sess.label_counts() == {"cat": 1, "dog": 1, "owl": 1}


def test_a_bulk_action_starts_from_the_models_class_only_when_it_is_sure_of_the_whole_group(make_session):
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (60, 4)), rng.normal(12, 1, (60, 4))]).astype(np.float32)
    pool = Pool(name="two", ids=np.array([f"i{k}" for k in range(120)]), vectors=X)  # rows 0-59 and 60-119
    sess = make_session(pool)
    assert sess.confident_class([40, 41, 42]) is None  # no model yet: guess nothing
    sess.label(list(range(30)), "left", source="bulk")
    sess.label(list(range(60, 90)), "right", source="bulk")
    sess.retrain()
    assert sess.confident_class(list(range(30, 60))) == sess.class_index("left")  # sure of the whole group
    assert sess.confident_class([40, 41, 100, 101]) is None  # half one class, half the other: starts empty


def test_retraining_without_new_labels_records_no_duplicate_round(make_session, vector_pool):
    sess = make_session(vector_pool)
    sess.label([0, 1], "left", source="single")
    sess.label([6, 7], "right", source="single")
    first = sess.retrain()
    with pytest.raises(NothingNewError, match=f"since round {first['round']}"):
        sess.retrain()
    assert len(sess.history()) == 1
    sess.label([2], "left", source="single")
    assert sess.retrain()["round"] == first["round"] + 1


def test_queue_answers_are_stored_by_how_they_relate_to_the_suggestion_and_counted(vector_pool, make_session):
    sess = make_session(vector_pool)
    sess.label([0, 1], "left", source="single")
    sess.label([6, 7], "right", source="single")
    sess.retrain()
    left, right = sess.class_index("left"), sess.class_index("right")
    assert sess.answer(2, "left", suggested=left) == 1  # the suggestion, taken
    sess.answer(8, "left", suggested=right)  # another class than the one suggested
    sess.answer(3, "left", suggested=None)  # no suggestion was shown
    sess.answer(9, "right", suggested=right, blind=True)  # a blind second opinion, whatever the model thinks
    sources = [e["source"] for e in sess.store.events(sess.project_id)[-4:]]
    assert sources == ["accepted", "corrected", "queue", "qc"]
    assert sess.current_sources()["item-008"] == "corrected"
    latest = sess.suggestion_curve()[-1]  # answers since the last round: only accepted and corrected count
    assert (latest["round"], latest["accepted"], latest["corrected"], latest["accuracy"]) == (None, 1, 1, 0.5)


def test_the_next_labels_carry_the_annotator_set_on_the_session(vector_pool, make_session):
    sess = make_session(vector_pool)
    sess.set_annotator("  bea ")
    sess.label([0], "left", source="single")
    assert sess.store.events(sess.project_id)[-1]["annotator"] == "bea"
    with pytest.raises(ValueError, match="needs a name"):
        sess.set_annotator(" ")
    assert sess.annotator == "bea"
