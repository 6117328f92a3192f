"""The event-log replays are pure: events and rounds in, curves out, no store."""

import numpy as np

from alviz import history


def _event(item: str, label: str | None, source: str, t: int) -> dict:
    return {"item_id": item, "label": label, "source": source, "created_at": t}


EVENTS = [
    _event("a", "cat", "bulk", 1),
    _event("b", "dog", "accepted", 2),
    _event("c", "cat", "corrected", 3),
    _event("a", "dog", "qc", 4),  # a second opinion labels nothing
    _event("b", None, "undo", 5),
    _event("d", "dog", "accepted", 7),
    _event("zz", "cat", "bulk", 8),  # an item not in the pool as loaded
]
ROUNDS = [{"round": 1, "n_labeled": 3, "created_at": 3}, {"round": 2, "n_labeled": 2, "created_at": 6}]
ROWS = {"a": 0, "b": 1, "c": 2, "d": 3}
CLASSES = ["cat", "dog"]


def test_labels_at_rounds_replays_each_round_and_skips_opinions_and_unknown_items():
    ys = history.labels_at_rounds(EVENTS + [], ROUNDS + [{"created_at": 9}], ROWS, 4, CLASSES.index)
    assert [y.tolist() for y in ys] == [[0, 1, 0, -1], [0, -1, 0, -1], [0, -1, 0, 1]]
    assert all(y.dtype == np.int64 for y in ys)


def test_labels_at_rounds_is_empty_without_rounds():
    assert history.labels_at_rounds(EVENTS, [], ROWS, 4, CLASSES.index) == []


def test_suggestion_curve_counts_answers_per_window_with_a_last_open_window():
    curve = history.suggestion_curve(EVENTS, ROUNDS, n_labeled_now=9)
    assert [(r["round"], r["n_labeled"], r["accepted"], r["corrected"]) for r in curve] == [
        (1, 3, 1, 1),
        (2, 2, 0, 0),
        (None, 9, 1, 0),
    ]
    assert [r["accuracy"] for r in curve] == [0.5, None, 1.0]


def test_answer_source_names_what_the_queue_answer_was():
    assert history.answer_source("cat", "cat") == "accepted"
    assert history.answer_source("dog", "cat") == "corrected"
    assert history.answer_source("dog", None) == "queue"
    assert history.answer_source("dog", "cat", blind=True) == "qc"
