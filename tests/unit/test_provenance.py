"""Learning curves split by label source, replayed from the event log."""

from __future__ import annotations

from collections import Counter

import numpy as np

from alviz import provenance
from alviz.figures import source_curves_figure
from alviz.pool import Pool


def two_clusters(n: int, prefix: str, seed: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n)
    X = np.vstack([rng.normal(-3, 1, (n, 2)), rng.normal(3, 1, (n, 2))]).astype(np.float32)
    return [f"{prefix}{i}" for i in range(2 * n)], X, y


def planted_session(make_session):
    """Rows 0-39 are truly 'left', 40-79 'right'. Lasso (bulk) labels are planted wrong, single labels right;
    three rounds."""
    ids, X, y = two_clusters(40, "i", 0)
    t_ids, X_test, y_test = two_clusters(20, "t", 1)
    test = Pool(name="t", ids=t_ids, vectors=X_test, y_true=y_test, class_names=["left", "right"])
    sess = make_session(Pool(name="p", ids=ids, vectors=X, y_true=y, class_names=["left", "right"], test=test))
    for r in range(3):
        sess.label(np.r_[r * 6 : r * 6 + 6], "right", source="bulk")  # wrong: these are left
        sess.label(np.r_[40 + r * 6 : 40 + r * 6 + 6], "left", source="bulk")  # wrong: these are right
        sess.label_each([30 + 2 * r, 31 + 2 * r, 70 + 2 * r, 71 + 2 * r], ["left", "left", "right", "right"], "single")
        sess.retrain()
    return sess


def test_wrong_lasso_labels_give_a_curve_clearly_below_the_right_single_labels(make_session):
    sess = planted_session(make_session)
    curves = provenance.session_source_curves(sess)
    assert curves.rounds == [1, 2, 3] and curves.metric == "test accuracy"
    bulk, single = curves.accuracy["bulk"], curves.accuracy["single"]
    assert all(b < s - 0.5 for b, s in zip(bulk, single, strict=True)), (bulk, single)


def test_counts_per_source_match_the_store_at_each_round(make_session):
    sess = planted_session(make_session)
    curves = provenance.session_source_curves(sess)
    assert curves.counts["bulk"] == [12, 24, 36] and curves.counts["single"] == [4, 8, 12]
    assert curves.counts[provenance.ALL] == [h["n_labeled"] for h in sess.history()]
    now = Counter(sess.current_sources().values())  # no label was given after the last round
    assert {s: curves.counts[s][-1] for s in curves.sources} == dict(now)


def test_a_lasso_label_fixed_by_a_single_click_moves_to_the_single_count(make_session):
    sess = planted_session(make_session)
    sess.label([0], "left", source="single")
    sess.retrain()
    curves = provenance.session_source_curves(sess)
    assert curves.counts["bulk"][-2:] == [36, 35] and curves.counts["single"][-2:] == [12, 13]


def test_source_curves_figure_draws_one_line_per_source_and_the_counts(make_session):
    curves = provenance.session_source_curves(planted_session(make_session))
    fig = source_curves_figure(curves)
    lines = [t.name for t in fig.data if t.type == "scatter"]
    bars = [t.name for t in fig.data if t.type == "bar"]
    assert lines == [provenance.ALL, "bulk", "single"] and bars == ["bulk", "single"]
    assert fig.layout.xaxis2.dtick == 1 and fig.layout.xaxis2.tickmode == "linear"  # whole rounds: no "1 1 2 2"


def test_many_rounds_are_replayed_at_an_even_subset_ending_with_the_last(make_session):
    sess = planted_session(make_session)
    curves = provenance.session_source_curves(sess, max_rounds=2)
    assert curves.rounds == [1, 3] and curves.counts["bulk"] == [12, 36]


def test_a_source_with_one_class_only_gets_no_curve_but_keeps_its_counts_in_the_legend(make_session):
    sess = planted_session(make_session)
    sess.label(np.r_[20:25], "left", source="queue")  # one class only: no model of its own
    sess.retrain()
    curves = provenance.session_source_curves(sess)
    assert curves.accuracy["queue"][-1] is None and curves.counts["queue"][-1] == 5
    fig = source_curves_figure(curves)
    assert [t.name for t in fig.data if t.type == "bar" and t.showlegend] == ["queue (one class: no curve)"]


def test_the_replay_reads_the_stores_plain_log_as_it_reads_full_events(make_session):
    sess = planted_session(make_session)
    sess.undo()  # an undo event in the log: its items drop out from then on
    sess.retrain()
    rounds = sess.history()
    from_log = provenance.labels_and_sources_at_rounds(sess.store.log(sess.project_id), rounds, sess.pool)
    from_events = provenance.labels_and_sources_at_rounds(sess.store.events(sess.project_id), rounds, sess.pool)
    assert from_log == from_events and len(from_log[-1]) == len(from_log[-2]) - 4
