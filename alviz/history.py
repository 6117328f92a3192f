"""Pure replays of a project's event log: what the labels were at each round, how often the model's suggestion
was right. Nothing here reads the store or holds state; the Session hands in the events and the rounds
(``Store.events`` / ``Store.rounds``), so a notebook can replay an exported log the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from alviz.pool import UNLABELED
from alviz.store import OPINIONS

ANSWERED = ("accepted", "corrected")  # the sources of Queue answers given with a suggestion shown


def labels_at_rounds(
    events: Sequence[Mapping],
    rounds: Sequence[Mapping],
    row_of: Mapping[str, int],
    n_items: int,
    class_code: Callable[[str], int],
) -> list[np.ndarray]:
    """The labels (``n_items``,) as they were at each round, oldest first. ``row_of`` maps item ids to rows (items
    not in it are skipped: labeled in the project, not in the pool as loaded); ``class_code`` gives a class name's
    index. Second opinions (``OPINIONS``) label nothing and are skipped."""
    events = [e for e in events if e["source"] not in OPINIONS]
    out, current, j = [], {}, 0
    for rnd in rounds:
        while j < len(events) and events[j]["created_at"] <= rnd["created_at"]:
            current[events[j]["item_id"]] = events[j]["label"]
            j += 1
        y = np.full(n_items, UNLABELED, dtype=np.int64)
        for item, label in current.items():
            row = row_of.get(item)
            if label is not None and row is not None:
                y[row] = class_code(label)
        out.append(y)
    return out


def suggestion_curve(events: Sequence[Mapping], rounds: Sequence[Mapping], n_labeled_now: int) -> list[dict]:
    """How often the model's suggestion was right, round by round: between two rounds the same model suggested,
    so each window's accepted / (accepted + corrected) is that model's accuracy on the items shown with a
    suggestion. A last row (``round`` None) covers the answers since the last round.
    Rows: round, n_labeled, accepted, corrected, accuracy (None when nothing was answered in the window)."""
    answers = [e for e in events if e["source"] in ANSWERED]
    ends = [r["created_at"] for r in rounds] + [None]
    out, j = [], 0
    for i, end in enumerate(ends):
        accepted = corrected = 0
        while j < len(answers) and (end is None or answers[j]["created_at"] <= end):
            accepted += answers[j]["source"] == "accepted"
            corrected += answers[j]["source"] == "corrected"
            j += 1
        answered = accepted + corrected
        out.append(
            {
                "round": rounds[i]["round"] if end is not None else None,
                "n_labeled": rounds[i]["n_labeled"] if end is not None else n_labeled_now,
                "accepted": accepted,
                "corrected": corrected,
                "accuracy": accepted / answered if answered else None,
            }
        )
    return out


def answer_source(name: str, suggested: str | None, blind: bool = False) -> str:
    """The source a Queue answer is stored with: ``accepted`` when it is the suggested class, ``corrected`` when
    another, ``queue`` when no suggestion was shown, ``qc`` for a blind second opinion. ``suggestion_curve``
    counts the first two."""
    if blind:
        return "qc"
    if suggested is None:
        return "queue"
    return "accepted" if name == suggested else "corrected"
