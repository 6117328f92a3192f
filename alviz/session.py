"""The active-learning session: the one object a UI (or a notebook) drives.

It joins a pool, its embedding, the store and a Trainer (alviz/trainer.py: fitting, evaluation, the background
retrain). Labels live in the store; the session keeps an in-memory mirror (``y``) that every write updates, and
``refresh()`` re-reads it; replays of the event log are the pure functions of alviz/history.py.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from alviz import difficulty, geometry, history, insight, neighbors, scores, team
from alviz.embed import Embedding, embed_view
from alviz.model import Learner, OneClassError
from alviz.pool import UNLABELED, Pool
from alviz.pseudo import PseudoLabels
from alviz.store import OPINIONS, SOURCES, Store, Written
from alviz.strategies import COMMITTEE, NEEDS_FLIP, QueryContext, select
from alviz.strategies.auto import plan
from alviz.strategies.consistency import NeedsImages
from alviz.trainer import Evaluation, Trainer

COLOR_SCORES = tuple(scores.SCORES)  # what "Color by" offers besides label and predicted class
STOP_SAMPLE = 1000
LOOK_ALIKES = 9  # with the item itself a group of 10: fewer decisions than groups of 20 (benchmarks/README.md)
BULK_SHARE = 0.9  # a bulk action starts from the model's class only when 90% of the group is predicted so
BULK_CONFIDENCE = 0.9  # ... with a mean confidence of 0.9 on those items

_SOURCE_CODE = {source: code for code, source in enumerate(SOURCES)}  # the mirror keeps sources as int8


@dataclass(frozen=True)
class QueryRecord:
    strategy: str
    rows: np.ndarray  # in the order the strategy ranked them
    reason: str  # for auto: which behavior it chose and why


MAX_CLASS_NAME = 80


class NothingNewError(ValueError):
    """A retrain with the same labels (and pseudo-label setting) as the last round: nothing to learn."""


def _trainer_field(name: str, doc: str, settable: bool = False) -> property:
    """A field of the session's Trainer, read (and for switches, set) on the session itself."""
    setter = (lambda self, on: setattr(self.trainer, name, bool(on))) if settable else None
    return property(lambda self: getattr(self.trainer, name), setter, doc=doc)


class Session:
    """Labels, queries and history of one project over one pool; its ``trainer`` does the model work."""

    def __init__(
        self,
        pool: Pool,
        embedding: Embedding,
        store: Store,
        project: str | None = None,
        annotator: str = "anonymous",
        seed: int = 0,
    ) -> None:
        if len(embedding.X) != len(pool):
            raise ValueError(f"embedding has {len(embedding.X)} rows, the pool has {len(pool)} items")
        self.pool = pool
        self.X = embedding.X
        self.X_test = embedding.X_test
        self.embedding = embedding
        self._X_flip: np.ndarray | None = None  # the mirrored images' embedding, computed on first use
        self._consistency: tuple[Learner, np.ndarray] | None = None  # (model, its flip-consistency score)
        self.embedding_method = embedding.method
        self.store = store
        self.project = project or pool.name
        self.project_id = store.project(self.project)
        self.annotator = annotator
        self.seed = seed
        self.class_names: list[str] = list(pool.class_names)
        self.y = np.full(len(pool), UNLABELED, dtype=np.int64)
        self.trainer = Trainer(pool, embedding.X, embedding.X_test, seed)
        self._lock = self.trainer.lock  # a model and its scores are read together
        self.last_error: str | None = None
        self.last_query: QueryRecord | None = None
        # A fixed sample whose predictions are compared round to round: the stopping signal.
        self.stop_rows = np.random.default_rng(seed).choice(len(pool), min(STOP_SAMPLE, len(pool)), replace=False)
        self.retrain_every = 0  # retrain in the background after this many new labels; 0 = only on request
        self.refresh()
        self._labeled_at_round = self.n_labeled
        self._round_snapshot: tuple[int, bool, np.ndarray] | None = None  # (round, use_pseudo, labels) of the last
        if self.can_train:  # resume: a model for the labels we already have, without recording a round
            self._fit()

    # labels -------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read every current label from the store (the one home of labels). Costs a read of every current
        label: a rerun calls ``sync``, which reads only what changed."""
        synced_at, current = self.store.current_state(self.project_id)
        in_use = {label for _, label, _ in current}
        for name in self.store.label_names(self.project_id):  # in the order first given: stable across sessions
            if name in in_use:
                self.class_index(name)
        self.y = np.full(len(self.pool), UNLABELED, dtype=np.int64)
        self._sources = np.full(len(self.pool), -1, dtype=np.int8)  # index into SOURCES of each current label
        self._unknown: dict[str, str] = {}  # item -> source of labels of items not in the pool as loaded now
        self.unknown_items = 0
        self._apply(current)
        self._synced_at = synced_at  # the newest event the mirror reflects

    def _apply(self, changes: list[tuple[str, str | None, str]]) -> None:
        """Bring the mirror up to date with (item_id, label or None, source) events, oldest first."""
        latest = {item: (label, source) for item, label, source in changes}  # an item's newest event wins
        if not latest:
            return
        index = self.pool._index  # the pool's id -> row dict: one lookup per item
        rows = np.fromiter((index.get(item, -1) for item in latest), np.int64, len(latest))
        codes = {name: self.class_index(name) for name in dict.fromkeys(lab for lab, _ in latest.values()) if name}
        classes = np.fromiter((codes[lab] if lab else UNLABELED for lab, _ in latest.values()), np.int64, len(rows))
        sources = np.fromiter((_SOURCE_CODE[src] for _, src in latest.values()), np.int8, len(rows))
        known = rows >= 0
        self.y[rows[known]] = classes[known]
        self._sources[rows[known]] = np.where(classes[known] >= 0, sources[known], -1)
        if not known.all():
            items = list(latest)
            for k in np.flatnonzero(~known).tolist():
                label, source = latest[items[k]]
                if label is None:
                    self._unknown.pop(items[k], None)
                else:
                    self._unknown[items[k]] = source
        self.unknown_items = len(self._unknown)  # labeled in this project but not in the pool as loaded now

    @property
    def labeled(self) -> np.ndarray:
        return self.y >= 0

    @property
    def n_labeled(self) -> int:
        return int(self.labeled.sum())

    def label_counts(self) -> dict[str, int]:
        counts = np.bincount(self.y[self.labeled], minlength=len(self.class_names))
        return {name: int(c) for name, c in zip(self.class_names, counts, strict=True)}

    def class_index(self, name: str) -> int:
        """Index of a class name, adding it as a new class when unseen."""
        name = str(name).strip()
        if not name:
            raise ValueError("A class name cannot be empty.")
        if len(name) > MAX_CLASS_NAME:
            raise ValueError(f"A class name may have at most {MAX_CLASS_NAME} characters; got {len(name)}.")
        if name not in self.class_names:
            self.class_names.append(name)
        return self.class_names.index(name)

    def label(self, rows: np.ndarray | list[int], class_name: str, source: str = "bulk") -> int:
        """Give every item in ``rows`` the class ``class_name`` in one stored action; returns the count."""
        rows = np.sort(np.asarray(rows, dtype=np.int64))
        rows = rows[np.r_[True, rows[1:] != rows[:-1]]] if len(rows) else rows  # sorted: cheaper than np.unique's hash
        return self.label_each(rows, [class_name] * len(rows), source)

    def label_each(self, rows: np.ndarray | list[int], class_names: list[str], source: str) -> int:
        """Give each item its own class, all in one stored action (one undo reverts them together)."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) == 0:
            raise ValueError("Nothing is selected: select items on the map (lasso or box) first.")
        if len(class_names) != len(rows):
            raise ValueError(f"{len(rows)} items but {len(class_names)} class names")
        ordered = np.sort(rows)
        if (ordered[1:] == ordered[:-1]).any():
            raise ValueError("Each item may appear once in one labeling action.")
        if rows.min() < 0 or rows.max() >= len(self.pool):
            raise ValueError(f"Row indices must lie in 0..{len(self.pool) - 1}.")
        n_classes = len(self.class_names)
        codes = {name: self.class_index(name) for name in dict.fromkeys(class_names)}  # once per class, not item
        try:
            written = self.store.write_labels(
                self.project_id,
                self.pool.ids[rows].tolist(),
                [self.class_names[codes[name]] for name in class_names],
                self.annotator,
                source,
            )
        except Exception:
            del self.class_names[n_classes:]  # a class the store never received is no class
            raise
        if source not in OPINIONS:  # a second opinion is stored, counted and compared, but labels nothing
            self.y[rows] = [codes[name] for name in class_names]
            self._sources[rows] = _SOURCE_CODE[source]
        self._caught_up(written)
        return len(rows)

    def _caught_up(self, written: Written) -> None:
        """After one of our own writes (already in the mirror): move the sync point past it when nothing came
        in between, so the next ``sync`` reads nothing; else read what came in between (ours included)."""
        if written.prev_event_id == self._synced_at:
            self._synced_at = written.last_event_id
        else:
            self.sync()

    def set_annotator(self, name: str) -> None:
        """Who gives the next labels (a signed-in user, or the name typed in the sidebar)."""
        name = str(name).strip()
        if not name:
            raise ValueError("The annotator needs a name.")
        self.annotator = name

    def answer(self, row: int, name: str, suggested: int | None, blind: bool = False) -> int:
        """Store a Queue answer: ``accepted`` when it is the suggested class, ``corrected`` when another,
        ``queue`` when no suggestion was shown, ``qc`` for a blind second opinion. These sources feed
        ``suggestion_curve``. Returns the number of labels written."""
        shown = None if suggested is None else self.class_names[suggested]
        return self.label([row], name, source=history.answer_source(name, shown, blind))

    def rename_class(self, old: str, new: str) -> int:
        """Rename a class: its items get the new name in one stored action (undo reverts it; history keeps
        the old name). Use ``merge_classes`` to fold a class into one that exists."""
        old, new = str(old).strip(), str(new).strip()
        if new in self.class_names:
            raise ValueError(f"A class named {new!r} exists already; merge {old!r} into it instead.")
        return self._relabel_class(old, new)

    def merge_classes(self, source: str, target: str) -> int:
        """Fold class ``source`` into the existing class ``target``, in one stored action."""
        source, target = str(source).strip(), str(target).strip()
        if source == target:
            raise ValueError(f"Cannot merge {source!r} into itself.")
        if target not in self.class_names:
            raise ValueError(f"No class {target!r} to merge into; classes are {', '.join(self.class_names)}.")
        return self._relabel_class(source, target)

    def _relabel_class(self, old: str, new: str) -> int:
        if old not in self.class_names:
            raise ValueError(f"No class {old!r}; classes are {', '.join(self.class_names)}.")
        rows = np.flatnonzero(self.y == self.class_names.index(old))
        if len(rows) == 0:
            raise ValueError(f"No item is labeled {old!r}, so there is nothing to rename.")
        self.class_index(new)  # validates the new name
        written = self.store.rename_labels(self.project_id, self.pool.ids[rows].tolist(), new, self.annotator)
        self.y[rows] = self.class_names.index(new)
        self._sources[rows] = _SOURCE_CODE["rename"]
        self._caught_up(written)
        self._reload_classes()
        return len(rows)

    def _reload_classes(self) -> None:
        """Drop the classes left without labels (the pool's own stay), then refit the model over the new list."""
        self._drop_empty_classes(refit=True)

    def _drop_empty_classes(self, refit: bool = False) -> None:
        """Remove classes no current label uses (unless the pool defines them) and renumber the labels; the model
        is refit when it knew a class that went (``refit``: in any case)."""
        counts = np.bincount(self.y[self.y >= 0], minlength=len(self.class_names))
        keep = [c for c, name in enumerate(self.class_names) if counts[c] or name in self.pool.class_names]
        gone = [c for c in range(len(self.class_names)) if c not in set(keep)]
        if gone:
            self.trainer.wait()  # a running retrain fits the old class list: let it land, then judge it below
            renumber = np.full(len(self.class_names) + 1, UNLABELED, dtype=np.int64)  # [-1] keeps -1
            renumber[keep] = np.arange(len(keep))
            self.y = renumber[self.y]
            self.class_names = [self.class_names[c] for c in keep]
        raw = self.trainer.raw_proba
        known = 0 if raw is None else raw.shape[1]  # classes the model was fit with
        if refit or any(c < known for c in gone):
            self.trainer.forget()
            if self.can_train:
                self._fit()

    def undo(self) -> int:
        """Undo this annotator's latest labeling action; returns how many items it reverted. A class left with
        no label disappears from the class list (unless the pool defines it); the history keeps it."""
        n = self.store.undo_action(self.project_id, self.annotator).n_items
        self.sync()  # reads the undo's events (and any a teammate gave meanwhile), nothing older
        self._drop_empty_classes()
        return n

    def sync(self) -> bool:
        """Catch up with the labels anyone (a teammate, another tab) gave since the last read, reading only
        those: two index lookups when nothing changed. True if anything did."""
        last = self.store.last_event_id(self.project_id)
        if last <= self._synced_at:  # (below it only in a log whose ids older alviz interleaved: nothing new)
            return False
        changes = self.store.changes_since(self.project_id, self._synced_at)
        self._apply([(item, label, source) for _, item, label, source in changes if source not in OPINIONS])
        self._synced_at = changes[-1][0] if changes else last
        return True

    def qc_rows(self, limit: int | None = None) -> np.ndarray:
        """Rows routed to this annotator for a blind second label (quality control), when the project's
        ``qc_fraction`` setting is on: items labeled by one other annotator, sampled per ``qc_seed``."""
        settings = self.store.settings(self.project_id)
        fraction = float(settings.get("qc_fraction") or 0.0)
        if fraction <= 0.0:
            return np.array([], dtype=np.int64)
        items = team.qc_items(self.store, self.project_id, self.annotator, fraction, int(settings.get("qc_seed", 0)))
        rows = self.pool.index_of(items)
        return rows if limit is None else rows[:limit]

    # model --------------------------------------------------------------------------------------------
    @property
    def can_train(self) -> bool:
        return len(np.unique(self.y[self.labeled])) >= 2

    def _fit(self, y: np.ndarray | None = None, with_pseudo: bool | None = None) -> None:
        """Fit on a snapshot of the labels (a background retrain must not see labels change under it)."""
        self.trainer.fit(self.y.copy() if y is None else y, len(self.class_names), with_pseudo)

    # the trainer's state, read where a notebook or a page expects it on the session
    model = _trainer_field("model", "The model in use (None before the first fit).")
    human_model = _trainer_field("human_model", "The model of the human labels alone.")
    pseudo_model = _trainer_field("pseudo_model", "Human + pseudo-labels, when fit.")
    pseudo = _trainer_field("pseudo", "The pseudo-labels of the last fit, if any.")
    retrain_job = _trainer_field("job", "The background retrain, until its result is taken.")
    use_pseudo = _trainer_field(
        "use_pseudo", "Train on pseudo-labels too (never stored as labels); ``set_pseudo`` also retrains.", True
    )
    compare_pseudo = _trainer_field(
        "compare_pseudo", "Every recorded round also measures the model with pseudo-labels too.", True
    )

    @property
    def proba(self) -> np.ndarray | None:
        """(N, C) predicted probabilities over all current classes (zeros for classes newer than the model)."""
        raw = self.trainer.raw_proba
        if raw is None:
            return None
        extra = len(self.class_names) - raw.shape[1]
        return np.pad(raw, ((0, 0), (0, extra))) if extra > 0 else raw

    @property
    def predicted(self) -> np.ndarray | None:
        p = self.proba
        return None if p is None else p.argmax(axis=1)

    def confident_class(self, rows: np.ndarray | list[int]) -> int | None:
        """The class a bulk action may start from: the model's, only when it is sure of the whole group (at
        least ``BULK_SHARE`` of the rows predicted one class, with a mean confidence of at least
        ``BULK_CONFIDENCE`` on them); None otherwise, and before the first model. A group action stores one class
        for every item at once, so a guess the user did not choose must never be one click away."""
        p = self.proba
        rows = np.asarray(rows, dtype=np.int64)
        if p is None or len(rows) == 0:
            return None
        pred = p[rows].argmax(axis=1)
        top = int(np.bincount(pred, minlength=p.shape[1]).argmax())
        agree = pred == top
        if agree.mean() < BULK_SHARE or p[rows[agree], top].mean() < BULK_CONFIDENCE:
            return None
        return top

    def retrain(self) -> dict:
        """Fit on all labels, rescore the pool, evaluate, and record a round on the learning curve."""
        if not self.can_train:
            present = len(np.unique(self.y[self.labeled]))
            raise OneClassError(
                f"Training needs labels of at least two classes; you have {self.n_labeled} labels "
                f"in {present} class{'es' if present != 1 else ''}. Label some items of another class first."
            )
        y = self.y.copy()
        n_labeled = int((y >= 0).sum())
        last = self._round_snapshot
        if last is not None and last[1] == self.use_pseudo and np.array_equal(last[2], y):
            raise NothingNewError(
                f"No new labels since round {last[0]}: the model and the learning curve are unchanged. "
                "Label some items, then retrain."
            )
        ev, extras = self.trainer.measure_round(y, len(self.class_names))
        number = self.store.add_round(self.project_id, n_labeled, ev.accuracy, ev.metric, self.annotator, **extras)
        self._labeled_at_round = n_labeled
        self._round_snapshot = (number, self.use_pseudo, y)  # what this round learned from
        out = {"round": number, "n_labeled": n_labeled, "accuracy": ev.accuracy, "metric": ev.metric}
        if self.use_pseudo:
            out["pseudo_labels"] = extras.get("n_pseudo", 0)
            out["accuracy_without_pseudo"] = extras.get("accuracy_human")
        return out

    def retrain_in_background(self) -> Future | None:
        """Start a retrain on a worker thread unless one is running or it cannot train; never blocks."""
        return self.trainer.start(self.retrain) if self.can_train else None

    def set_retrain_every(self, n: int) -> None:
        """Retrain in the background after every ``n`` new labels; 0 = only on request."""
        if n < 0:
            raise ValueError(f"retrain_every must be 0 or more; got {n}")
        self.retrain_every = int(n)

    def set_pseudo(self, on: bool) -> bool:
        """Train on pseudo-labels too, or not; a change starts a background retrain. True when it changed."""
        if bool(on) == self.use_pseudo:
            return False
        self.use_pseudo = bool(on)
        if self.can_train:
            self.retrain_in_background()
        return True

    @property
    def retraining(self) -> bool:
        """True while a background retrain has been started and its result not yet taken."""
        return self.trainer.job is not None

    def finished_retrain(self) -> Future | None:
        """The background retrain once it is done (then forgotten: a second call gives None); None while it runs."""
        job = self.trainer.job
        if job is None or not job.done():
            return None
        self.trainer.job = None
        return job

    def due_for_retrain(self) -> bool:
        """True when ``retrain_every`` new labels have come in since the last round."""
        return bool(self.retrain_every) and self.n_labeled - self._labeled_at_round >= self.retrain_every

    def evaluate(
        self, model: Learner | None = None, y: np.ndarray | None = None, pseudo: PseudoLabels | None = None
    ) -> Evaluation:
        """Held-out test accuracy where ground truth exists, else cross-validated accuracy on the labels
        ``y`` (default: the current ones); ``pseudo``: the model was trained with these pseudo-labels too."""
        y = self.y if y is None else y
        return self.trainer.evaluate(model or self.model, y, len(self.class_names), pseudo)

    def confusion(self) -> tuple[np.ndarray, list[str]] | None:
        """Confusion matrix on the test part (rows: true, cols: predicted) and its class names, if any."""
        cm = self.trainer.confusion(len(self.class_names))
        return None if cm is None else (cm, list(self.class_names))

    def history(self) -> list[dict]:
        """Rounds so far (round, n_labeled, accuracy, metric, created_at), oldest first."""
        return self.store.rounds(self.project_id)

    # scores and queries -----------------------------------------------------------------------------
    def flip_embedding(self, progress=None) -> np.ndarray:
        """(N, d) embedding of every pool image mirrored left to right, through the same fitted embedder as
        ``X`` (same PCA basis / network); computed once (and cached on disk). ``NeedsImages`` without images."""
        if self._X_flip is None:
            if self.pool.images is None:
                raise NeedsImages(
                    f"consistency needs an image pool: {self.pool.name!r} holds {self.pool.kind}, "
                    "and only images can be mirrored."
                )
            try:
                self._X_flip = embed_view(self.pool, self.embedding, "hflip", progress)
            except ValueError as exc:
                raise NeedsImages(f"consistency needs an image pool embedded from its images: {exc}") from exc
        return self._X_flip

    def score(self, name: str) -> np.ndarray | None:
        """Per-item score ``name`` of ``scores.SCORES``, or None when it cannot be computed yet (no model / no
        labels). A committee is fit only for the scores that need one (kept per model and labels); the mirrored
        images only for those that need them (NeedsImages, a ValueError, for pools without images)."""
        info = scores.SCORES.get(name)
        if info is None:
            raise ValueError(f"Unknown score {name!r}; choose one of {COLOR_SCORES}.")
        X_flip = self.flip_embedding() if "flip" in info.needs else None
        with self._lock:
            model, p = self.model, self.proba
        cached = self._consistency  # a model on the mirrored images: once per model
        if X_flip is not None and cached is not None and cached[0] is model:
            return cached[1]
        cp = self._committee_proba() if "committee" in info.needs else None
        ctx = QueryContext(self.X, self.labeled, self.y, proba=p, committee_proba=cp, model=model, X_flip=X_flip)
        out = info(ctx)
        if X_flip is not None and out is not None:
            self._consistency = (model, out)
        return out

    def context(self, committee: bool = False, flip: bool = False) -> QueryContext:
        """The state a strategy sees; ``committee`` adds a bagged committee's probabilities (M fits, shared with
        the committee colors until the model or the labels change), ``flip`` the embedding of the mirrored images
        (image pools; computed once, then cached)."""
        cp = self._committee_proba() if committee else None
        X_flip = self.flip_embedding() if flip else self._X_flip
        return QueryContext(
            X=self.X,
            labeled=self.labeled,
            y=self.y,
            proba=self.proba,
            committee_proba=cp,
            model=self.model,
            X_flip=X_flip,
        )

    def query(self, strategy: str, k: int, seed: int | None = None) -> np.ndarray:
        """The next k unlabeled rows picked by ``strategy`` (remembered as ``last_query``, in pick order)."""
        rng = np.random.default_rng(self.seed if seed is None else seed)
        ctx = self.context(committee=strategy in COMMITTEE, flip=strategy in NEEDS_FLIP)
        rows = select(strategy, ctx, k, rng)
        reason = plan(ctx, k).reason if strategy == "auto" else ""
        self.last_query = QueryRecord(strategy, rows, reason)
        return rows

    def why(self, row: int, k: int = 3) -> dict:
        """Why an item is in the last query: strategy, rank, the model's doubt, and its nearest labeled items."""
        out: dict = {"row": int(row)}
        q = self.last_query
        if q is not None and row in q.rows:
            out.update(strategy=q.strategy, rank=int(np.flatnonzero(q.rows == row)[0]) + 1, of=len(q.rows))
            if q.reason:
                out["auto"] = q.reason
        p = self.proba
        if p is not None:
            out.update(entropy=float(scores.entropy(p[[row]])[0]), margin=float(1 - scores.margin(p[[row]])[0]))
        labeled = np.flatnonzero(self.labeled)
        idx, dist = geometry.nearest(self.X, np.array([row]), labeled, k)
        out["neighbors"] = [
            {"row": int(i), "label": self.class_names[self.y[i]], "distance": float(d)}
            for i, d in zip(idx[0], dist[0], strict=True)
        ]
        return out

    def more_like(self, rows: np.ndarray, n: int = 50) -> np.ndarray:
        """Unlabeled items nearest to the given ones, for labeling them in bulk. Above
        ``neighbors.INDEX_THRESHOLD`` items a kNN-graph index answers, built once per embedding in the
        background; exact search until then. ``last_neighbor_search`` says which one answered."""
        found, self.last_neighbor_search = neighbors.more_like(self.X, rows, n, exclude=self.labeled, seed=self.seed)
        return found

    def look_alikes(self, row: int, n: int = LOOK_ALIKES) -> np.ndarray:
        """An unlabeled item followed by its ``n`` nearest unlabeled items: a queue item the annotator can label
        together with its look-alikes in one action when they all show the same class: fewer decisions after the
        lassos than one item at a time (``benchmarks/human_effort.py``)."""
        row = int(row)
        if not 0 <= row < len(self.X):
            raise ValueError(f"row must lie in 0..{len(self.X) - 1}; got {row}.")
        if self.labeled[row]:
            raise ValueError(f"Item {self.pool.ids[row]} is labeled already; look-alikes are for unlabeled items.")
        return np.concatenate([[row], self.more_like(np.array([row]), n)]).astype(np.int64)

    def difficulty(self, n_clusters: int = 20) -> difficulty.Difficulty:
        """Items and clusters ranked by how hard they are (committee uncertainty and disagreement), for
        planning the labeling work; needs a model. Costs a committee's fits: call it on request."""
        if self.model is None:
            raise ValueError("Difficulty needs a model: label two classes and retrain first.")
        y = self.y.copy()
        cp = self._committee_proba(y)
        return difficulty.rank(self.X, cp, self.pool.ids, y, self.class_names, n_clusters, seed=self.seed)

    def _committee_proba(self, y: np.ndarray | None = None) -> np.ndarray | None:
        """(M, N, C) probabilities of a bagged committee on the current labels (kept by the trainer)."""
        return self.trainer.committee_proba(self.y.copy() if y is None else y, len(self.class_names))

    def current_sources(self) -> dict[str, str]:
        """item id -> source of its current label (bulk, single, queue, accepted, …): the source of the item's
        latest event, kept by every write and sync (no read of the event log)."""
        rows = np.flatnonzero(self._sources >= 0)
        out = dict(zip(self.pool.ids[rows].tolist(), (SOURCES[c] for c in self._sources[rows].tolist()), strict=True))
        out.update(self._unknown)
        return out

    def disputed_bulk(self, threshold: float = 0.8) -> insight.Disputed | None:
        """Bulk labels the current model contradicts with confidence ≥ threshold, most doubtful first."""
        if self.proba is None:
            return None
        bulk = [item for item, src in self.current_sources().items() if src == "bulk"]
        return insight.disputed_labels(self.proba, self.y, self.pool.index_of(bulk), threshold)

    def labels_at_rounds(self) -> list[np.ndarray]:
        """The labels (N,) as they were at each recorded round, rebuilt from the event log (nothing stored twice)."""
        events = self.store.events(self.project_id)
        return history.labels_at_rounds(events, self.history(), self.pool._index, len(self.pool), self.class_index)

    def suggestion_curve(self) -> list[dict]:
        """How often the model's suggestion was right, round by round (``history.suggestion_curve``)."""
        return history.suggestion_curve(self.store.events(self.project_id), self.history(), self.n_labeled)

    def stability_curve(self, labels_at_rounds: list[np.ndarray] | None = None) -> list[float]:
        """For each round after the first: the share of the fixed check sample whose predicted class stayed
        the same as in the round before (models refit on each round's labels, so it survives restarts)."""
        labels = labels_at_rounds if labels_at_rounds is not None else self.labels_at_rounds()
        preds = self.trainer.predictions_at(labels, self.stop_rows, len(self.class_names))
        return [insight.stability(a, b) for a, b in zip(preds, preds[1:], strict=False)]
