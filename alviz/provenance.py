"""Learning curves split by where the labels came from (lasso, single clicks, queue, accepted suggestions, ...).

Replayed from the event log, like ``Session.labels_at_rounds``: at each recorded round, every item's label is
the latest event's label up to the round, and its source is that event's source (as ``Session.current_sources``
counts them). For each source a model is trained on that source's labels alone, and one on all of them, and
scored the way the session scores its rounds: test accuracy where the test part has ground truth, else
accuracy on the pool's unlabeled items with ground truth, else cross-validated accuracy on the labels used.
A source whose labels are worth less (a careless lasso, say) shows as a lower line at the same number of labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alviz.model import Learner, cross_val_accuracy
from alviz.pool import Pool
from alviz.store import OPINIONS

ALL = "all sources"


@dataclass(frozen=True)
class SourceCurves:
    rounds: list[int]  # round numbers, oldest first
    counts: dict[str, list[int]]  # source -> its labels at each round; ALL -> every label
    accuracy: dict[str, list[float | None]]  # source -> accuracy of a model of its labels alone (None: < 2 classes)
    metric: str  # what accuracy means

    @property
    def sources(self) -> list[str]:
        """Sources seen at any round, most labels (at the last round) first; ALL not included."""
        return sorted((s for s in self.counts if s != ALL), key=lambda s: (-self.counts[s][-1], s))


def labels_and_sources_at_rounds(
    events: list[dict] | list[tuple], rounds: list[dict], pool: Pool
) -> list[dict[int, tuple[str, str]]]:
    """At each round: pool row -> (label, source) of the item's current label then (unlabeled items left out;
    items of this project that are not in the pool are skipped). ``events``: oldest first, as dicts with
    item_id, label, source, created_at, or as (item_id, label, source, created_at) tuples (``Store.log``)."""
    if events and isinstance(events[0], dict):
        events = [(e["item_id"], e["label"], e["source"], e["created_at"]) for e in events]
    events = [e for e in events if e[2] not in OPINIONS]  # a second opinion never was an item's label
    # The replay runs on arrays over the pool's rows: each event is looked up once, not once per round.
    index = pool._index
    names: dict[str | None, int] = {None: -1}
    label = np.full(len(pool), -1, dtype=np.int64)
    source = np.zeros(len(pool), dtype=np.int64)
    sources: dict[str, int] = {}
    out: list[dict[int, tuple[str, str]]] = []
    j = 0
    for rnd in rounds:
        while j < len(events) and events[j][3] <= rnd["created_at"]:
            item, lab, src, _ = events[j]
            row = index.get(item)
            if row is not None:
                label[row] = names.setdefault(lab, len(names) - 1)
                source[row] = sources.setdefault(src, len(sources))
            j += 1
        rows = np.flatnonzero(label >= 0)
        label_of = [n for n in names if n is not None]
        source_of = list(sources)
        out.append(
            {
                r: (label_of[c], source_of[s])
                for r, c, s in zip(rows.tolist(), label[rows].tolist(), source[rows].tolist(), strict=True)
            }
        )
    return out


def source_curves(
    X: np.ndarray,
    X_test: np.ndarray | None,
    pool: Pool,
    events: list[dict],
    rounds: list[dict],
    seed: int = 0,
    max_rounds: int | None = 12,
) -> SourceCurves:
    """Per recorded round: labels per source, and the accuracy of a model trained on each source alone and on
    all labels together. Costs (sources + 1) fits per round, so beyond ``max_rounds`` rounds an evenly spaced
    subset of them is replayed (always the first and the last)."""
    if max_rounds is not None and len(rounds) > max_rounds:
        keep = np.unique(np.linspace(0, len(rounds) - 1, max(max_rounds, 2)).round().astype(int))
        rounds = [rounds[i] for i in keep]
    states = labels_and_sources_at_rounds(events, rounds, pool)
    names = list(pool.class_names)  # ground truth indexes these, so new names go after them

    def index(name: str) -> int:
        if name not in names:
            names.append(name)
        return names.index(name)

    encoded = []
    for state in states:
        rows = np.fromiter(state, dtype=np.int64, count=len(state))
        classes = np.array([index(state[r][0]) for r in rows], dtype=np.int64)
        sources = np.array([state[r][1] for r in rows], dtype=object)
        encoded.append((rows, classes, sources))
    all_sources = sorted({s for _, _, src in encoded for s in src})
    n_classes = max(len(names), 1)

    test = pool.test
    if test is not None and test.has_ground_truth and X_test is not None:
        metric = "test accuracy"
        keep = test.y_true >= 0
        X_eval, y_eval = X_test[keep], test.y_true[keep]
    elif pool.has_ground_truth:
        metric = "accuracy on unlabeled items (ground truth)"
        X_eval = y_eval = None  # per round: the items nobody had labeled by then
    else:
        metric = "cross-validated accuracy"
        X_eval = y_eval = None

    def score(X_fit: np.ndarray, y_fit: np.ndarray, labeled_rows: np.ndarray) -> float | None:
        if len(np.unique(y_fit)) < 2:
            return None
        if metric == "cross-validated accuracy":
            return cross_val_accuracy(X_fit, y_fit, n_classes, seed=seed)
        model = Learner(n_classes, random_state=seed).fit(X_fit, y_fit)
        if metric == "test accuracy":
            return float((model.predict(X_eval) == y_eval).mean())
        keep = pool.y_true >= 0
        keep[labeled_rows] = False
        if not keep.any():
            return None
        return float((model.predict(X[keep]) == pool.y_true[keep]).mean())

    counts: dict[str, list[int]] = {s: [] for s in (*all_sources, ALL)}
    accuracy: dict[str, list[float | None]] = {s: [] for s in (*all_sources, ALL)}
    for rows, classes, sources in encoded:
        counts[ALL].append(len(rows))
        accuracy[ALL].append(score(X[rows], classes, rows))
        for s in all_sources:
            mine = sources == s
            counts[s].append(int(mine.sum()))
            accuracy[s].append(score(X[rows[mine]], classes[mine], rows))
    return SourceCurves([int(r["round"]) for r in rounds], counts, accuracy, metric)


def session_source_curves(sess, max_rounds: int | None = 12) -> SourceCurves:
    """``source_curves`` for a Session's project, pool and embedding (duck-typed: alviz.session imports nothing
    from here)."""
    events, rounds = sess.store.log(sess.project_id), sess.history()
    return source_curves(sess.X, sess.X_test, sess.pool, events, rounds, seed=sess.seed, max_rounds=max_rounds)
