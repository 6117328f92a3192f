"""Team labeling: who labeled what, where people disagree, how well they agree, and quality-control routing.

Everything here is derived from the store's events; nothing is stored twice. An annotator's *judgment* of
an item is their own latest live label of it (``Store.judgments``: undone labels, undo events, the model's
pseudo labels and reviewers' resolutions do not count as judgments).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from alviz.store import SOURCES, Store

# --------------------------------------------------------------------------------------------------- kappa


def cohen_kappa(a: Sequence, b: Sequence) -> float:
    """Cohen's kappa of two raters' labels of the same items (any hashable labels), in [-1, 1].

    (p_o - p_e) / (1 - p_e), with p_o the observed agreement and p_e the agreement expected from each
    rater's own label frequencies. NaN when it is undefined: no items, or both raters always gave the same
    single label (p_e = 1).
    """
    a, b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"cohen_kappa needs two 1-D label arrays of one length; got {a.shape} and {b.shape}.")
    if len(a) == 0:
        return float("nan")
    classes = sorted(set(a.tolist()) | set(b.tolist()), key=str)
    index = {c: i for i, c in enumerate(classes)}
    ia = np.array([index[x] for x in a])
    ib = np.array([index[x] for x in b])
    cm = np.zeros((len(classes), len(classes)))
    np.add.at(cm, (ia, ib), 1)
    n = cm.sum()
    p_o = np.trace(cm) / n
    p_e = float((cm.sum(axis=0) / n) @ (cm.sum(axis=1) / n))
    if np.isclose(p_e, 1.0):
        return float("nan")
    return float((p_o - p_e) / (1.0 - p_e))


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' kappa from an (items, classes) matrix of how many raters put each item in each class.

    Items may have different numbers of raters (at least 2 each): each item's agreement is the share of
    agreeing rater pairs, P_i = sum_j n_ij (n_ij - 1) / (n_i (n_i - 1)), and chance agreement uses the
    pooled class shares p_j = sum_i n_ij / sum_i n_i. With equal n_i this is Fleiss (1971) exactly.
    NaN when undefined (no items, or one class only).
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 2:
        raise ValueError(f"fleiss_kappa needs an (items, classes) count matrix; got shape {counts.shape}.")
    if (counts < 0).any():
        raise ValueError("fleiss_kappa: counts must be non-negative.")
    n_i = counts.sum(axis=1)
    if (n_i < 2).any():
        raise ValueError("fleiss_kappa: every item needs at least 2 ratings.")
    if len(counts) == 0:
        return float("nan")
    p_i = (counts * (counts - 1)).sum(axis=1) / (n_i * (n_i - 1))
    p_bar = p_i.mean()
    p_j = counts.sum(axis=0) / n_i.sum()
    p_e = float((p_j**2).sum())
    if np.isclose(p_e, 1.0):
        return float("nan")
    return float((p_bar - p_e) / (1.0 - p_e))


# ------------------------------------------------------------------------------------- kappa's uncertainty

MIN_SHARED = 10  # below this many shared items a kappa gets no interval and the page says "too few"
BOOTSTRAP_REPS = 1000
NAN_CI = (float("nan"), float("nan"))


def _percentile_ci(draws: np.ndarray, level: float) -> tuple[float, float]:
    draws = draws[~np.isnan(draws)]
    if len(draws) == 0:
        return NAN_CI
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return float(low), float(high)


def _resamples(n: int, reps: int, seed: int, cells: int):
    """Bootstrap index arrays over ``n`` items, ``reps`` in all, in chunks of about ``cells`` indices."""
    rng = np.random.default_rng(seed)
    chunk = max(1, min(reps, cells // max(n, 1)))
    done = 0
    while done < reps:
        k = min(chunk, reps - done)
        yield rng.integers(0, n, size=(k, n))
        done += k


def cohen_kappa_ci(
    a: Sequence, b: Sequence, level: float = 0.95, reps: int = BOOTSTRAP_REPS, seed: int = 0
) -> tuple[float, float]:
    """A ``level`` confidence interval for Cohen's kappa: the percentile bootstrap over the shared items
    (``reps`` resamples of the items with replacement, a fixed ``seed`` so the page does not flicker; resamples
    where kappa is undefined are dropped). NaN bounds below ``MIN_SHARED`` items."""
    a, b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    n = len(a)
    if n < MIN_SHARED:
        return NAN_CI
    classes = sorted(set(a.tolist()) | set(b.tolist()), key=str)
    index = {c: i for i, c in enumerate(classes)}
    k = len(classes)
    pair = np.array([index[x] for x in a]) * k + np.array([index[x] for x in b])
    out = []
    for idx in _resamples(n, reps, seed, 4_000_000):
        rows = np.arange(len(idx))[:, None] * (k * k)
        cm = np.bincount((rows + pair[idx]).ravel(), minlength=len(idx) * k * k).reshape(len(idx), k, k) / n
        p_o = np.trace(cm, axis1=1, axis2=2)
        p_e = (cm.sum(axis=1) * cm.sum(axis=2)).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out.append(np.where(np.isclose(p_e, 1.0), np.nan, (p_o - p_e) / (1.0 - p_e)))
    return _percentile_ci(np.concatenate(out), level)


def fleiss_kappa_ci(
    counts: np.ndarray, level: float = 0.95, reps: int = BOOTSTRAP_REPS, seed: int = 0
) -> tuple[float, float]:
    """``cohen_kappa_ci`` for Fleiss' kappa: the percentile bootstrap over the items (rows of ``counts``)."""
    counts = np.asarray(counts, dtype=np.float64)
    n = len(counts)
    if n < MIN_SHARED:
        return NAN_CI
    n_i = counts.sum(axis=1)
    if (n_i < 2).any():
        raise ValueError("fleiss_kappa: every item needs at least 2 ratings.")
    p_i = (counts * (counts - 1)).sum(axis=1) / (n_i * (n_i - 1))  # per item, so a resample only reweights it
    out = []
    for idx in _resamples(n, reps, seed, 4_000_000):
        rows = np.arange(len(idx))[:, None] * n
        weight = np.bincount((rows + idx).ravel(), minlength=len(idx) * n).reshape(len(idx), n).astype(np.float64)
        p_j = (weight @ counts) / (weight @ n_i)[:, None]
        p_e = (p_j**2).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out.append(np.where(np.isclose(p_e, 1.0), np.nan, (weight @ p_i / n - p_e) / (1.0 - p_e)))
    return _percentile_ci(np.concatenate(out), level)


def kappa_text(kappa: float, ci: tuple[float, float], n: int) -> str:
    """How the Team page shows a kappa: with its interval and n, or why there is none."""
    if n < MIN_SHARED:
        return f"too few shared items (n < {MIN_SHARED})"
    if math.isnan(kappa):
        return f"undefined (one label only, n = {n})"
    if math.isnan(ci[0]):
        return f"{kappa:.2f} (n = {n})"
    return f"{kappa:.2f} (95% CI {ci[0]:.2f} to {ci[1]:.2f}, n = {n})"


# --------------------------------------------------------------------------------------------- judgments


def judgments(store: Store, project_id: int) -> dict[str, dict[str, str]]:
    """item id -> {annotator: their label}, for every item anyone has judged."""
    out: dict[str, dict[str, str]] = {}
    for item, who, label, _ in store.judgments(project_id):
        out.setdefault(item, {})[who] = label
    return out


@dataclass(frozen=True)
class PairAgreement:
    a: str
    b: str
    n_items: int  # items both labeled
    agreement: float  # share of those items on which they agree
    kappa: float  # Cohen's kappa on those items (NaN when undefined)
    kappa_ci: tuple[float, float] = NAN_CI  # its 95% bootstrap interval (NaN below MIN_SHARED items)


@dataclass(frozen=True)
class Agreement:
    n_items: int  # items judged by at least two annotators
    annotators: list[str]  # everyone with at least one such item
    fleiss: float  # Fleiss' kappa over those items (NaN when undefined or no items)
    agreement: float  # mean share of agreeing rater pairs per item (NaN when no items)
    pairs: list[PairAgreement] = field(default_factory=list)
    fleiss_ci: tuple[float, float] = NAN_CI  # Fleiss' kappa's 95% bootstrap interval (NaN below MIN_SHARED items)


def agreement(store: Store, project_id: int, min_pair_items: int = 1) -> Agreement:
    """Agreement on items judged by two or more annotators: Fleiss' kappa over all, Cohen's per pair."""
    shared = {item: who for item, who in judgments(store, project_id).items() if len(who) >= 2}
    if not shared:
        return Agreement(0, [], float("nan"), float("nan"), [])
    people = sorted({p for who in shared.values() for p in who})
    classes = sorted({lab for who in shared.values() for lab in who.values()})
    col = {c: j for j, c in enumerate(classes)}
    counts = np.zeros((len(shared), len(classes)), dtype=np.int64)
    for i, who in enumerate(shared.values()):
        for lab in who.values():
            counts[i, col[lab]] += 1
    n_i = counts.sum(axis=1)
    observed = float(((counts * (counts - 1)).sum(axis=1) / (n_i * (n_i - 1))).mean())
    pairs = []
    for a, b in combinations(people, 2):
        both = [(who[a], who[b]) for who in shared.values() if a in who and b in who]
        if len(both) >= min_pair_items:
            la, lb = zip(*both, strict=True)
            agree = float(np.mean([x == y for x, y in both]))
            pairs.append(PairAgreement(a, b, len(both), agree, cohen_kappa(la, lb), cohen_kappa_ci(la, lb)))
    return Agreement(len(shared), people, fleiss_kappa(counts), observed, pairs, fleiss_kappa_ci(counts))


# --------------------------------------------------------------------------------------------- conflicts


@dataclass(frozen=True)
class Conflict:
    item_id: str
    labels: dict[str, str]  # annotator -> their label
    current: str | None  # the item's current label (the latest event)

    @property
    def candidates(self) -> list[str]:
        """The labels in dispute, most votes first."""
        votes: dict[str, int] = {}
        for lab in self.labels.values():
            votes[lab] = votes.get(lab, 0) + 1
        return sorted(votes, key=lambda lab: (-votes[lab], lab))


def conflicts(store: Store, project_id: int) -> list[Conflict]:
    """Items whose annotators' latest labels disagree and that no reviewer has resolved since, oldest first.

    A resolution (``resolve``) settles the conflict as it stood; a later disagreeing judgment reopens it.
    """
    rows = store.judgments(project_id)
    resolved = {item: eid for item, _, _, eid in store.judgments(project_id, sources=("resolve",))}
    current = store.current_labels(project_id)
    by_item: dict[str, dict[str, str]] = {}
    newest: dict[str, int] = {}
    for item, who, label, eid in rows:
        by_item.setdefault(item, {})[who] = label
        newest[item] = max(newest.get(item, 0), eid)
    out = []
    for item, who in by_item.items():
        if len(set(who.values())) > 1 and resolved.get(item, 0) < newest[item]:
            out.append(Conflict(item, dict(sorted(who.items())), current.get(item)))
    return out


def majority(conflict: Conflict) -> str | None:
    """The label more annotators gave than any other, or None on a tie."""
    votes: dict[str, int] = {}
    for lab in conflict.labels.values():
        votes[lab] = votes.get(lab, 0) + 1
    ranked = sorted(votes.values(), reverse=True)
    return conflict.candidates[0] if len(ranked) == 1 or ranked[0] > ranked[1] else None


def resolve_by_majority(store: Store, project_id: int, reviewer: str) -> int:
    """Resolve every open conflict that has a clear majority to that label; returns how many were resolved."""
    by_label: dict[str, list[str]] = {}
    for c in conflicts(store, project_id):
        label = majority(c)
        if label is not None:
            by_label.setdefault(label, []).append(c.item_id)
    for label, items in by_label.items():
        resolve(store, project_id, items, label, reviewer)
    return sum(len(v) for v in by_label.values())


def resolve(store: Store, project_id: int, item_ids: Sequence[str], label: str, reviewer: str) -> int:
    """Settle conflicts: give the items ``label`` as the reviewer's decision (source "resolve"); action id."""
    if not label or not str(label).strip():
        raise ValueError("A resolution needs a label.")
    return store.add_labels(project_id, list(item_ids), str(label).strip(), reviewer, "resolve")


# ------------------------------------------------------------------------------------------------ counts


def annotator_table(store: Store, project_id: int, open_conflicts: list[Conflict] | None = None) -> list[dict]:
    """One row per annotator: events, items touched, current labels they gave, their open conflicts, and events
    per source (``open_conflicts``: from ``conflicts()``, when the caller has them already)."""
    current_by: dict[str, int] = {}
    for e in store.current_events(project_id):
        current_by[e["annotator"]] = current_by.get(e["annotator"], 0) + 1
    in_conflict: dict[str, int] = {}
    for c in conflicts(store, project_id) if open_conflicts is None else open_conflicts:
        for who in c.labels:
            in_conflict[who] = in_conflict.get(who, 0) + 1
    counts = store.annotator_counts(project_id)
    # a rename or merge keeps each label's annotator, so its events are theirs; the edit is the renamer's:
    # the "rename" column counts the items each annotator's live renames relabeled (from the actions)
    renamed = store.rename_edits(project_id)
    known = {r["annotator"] for r in counts}
    counts += [{"annotator": who, "events": 0, "items": 0, "by_source": {}} for who in renamed if who not in known]
    sources = [s for s in SOURCES if s == "rename" and renamed or any(s in r["by_source"] for r in counts)]
    rows = []
    for r in counts:
        who = r["annotator"]
        by_source = r["by_source"] | {"rename": renamed.get(who, 0)}
        rows.append(
            {
                "annotator": who,
                "events": r["events"],
                "items": r["items"],
                "current labels": current_by.get(who, 0),
                "conflicts": in_conflict.get(who, 0),
                **{src: by_source.get(src, 0) for src in sources},  # events per source; renames: items edited
            }
        )
    return rows


# ---------------------------------------------------------------------------------------- QC routing


def qc_draw(item_ids: Sequence[str], seed: int = 0) -> np.ndarray:
    """A number in [0, 1) per item, fixed by (seed, item id): an item is in the QC sample at fraction f iff
    its draw is below f. So the sample never reshuffles as labels arrive, and raising f only adds items."""
    out = np.empty(len(item_ids), dtype=np.float64)
    for k, item in enumerate(item_ids):
        h = hashlib.blake2b(f"{int(seed)}\x00{item}".encode(), digest_size=8).digest()
        out[k] = int.from_bytes(h, "big") / 2.0**64
    return out


def qc_items(store: Store, project_id: int, annotator: str, fraction: float, seed: int = 0) -> list[str]:
    """Items to route to ``annotator`` for a blind second label: judged by exactly one *other* annotator and
    drawn into the QC sample (``qc_draw`` < fraction); deterministic per seed, in draw order."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"The QC fraction must lie in [0, 1]; got {fraction}.")
    annotator = annotator.strip() or "anonymous"
    single = [item for item, who in judgments(store, project_id).items() if len(who) == 1 and annotator not in who]
    if not single or fraction == 0.0:
        return []
    draw = qc_draw(single, seed)
    order = np.argsort(draw, kind="stable")
    return [single[k] for k in order if draw[k] < fraction]


def qc_status(store: Store, project_id: int, fraction: float, seed: int = 0) -> dict:
    """How far quality control has come: items in the sample, and how many of them have a second label."""
    judged = judgments(store, project_id)
    items = list(judged)
    if not items or fraction <= 0.0:
        return {"sampled": 0, "double": 0, "waiting": 0}
    picked = [item for item, d in zip(items, qc_draw(items, seed), strict=True) if d < fraction]
    double = sum(1 for item in picked if len(judged[item]) >= 2)
    return {"sampled": len(picked), "double": double, "waiting": len(picked) - double}
