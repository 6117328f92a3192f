"""Train page: retrain now, learning curve, accuracy, confusion matrix and per-class recall."""

from __future__ import annotations

import numpy as np
import streamlit as st

from alviz.figures import confusion_figure, learning_curve_figure, suggestion_figure
from alviz.markup import md, plotly_text
from alviz.model import OneClassError
from alviz.session import NothingNewError, Session
from alviz.simulate import random_baseline
from views.panels.difficulty import difficulty_panel
from views.panels.review import coverage_panel, disputed_panel, provenance_panel, stopping_panel
from views.panels.shared import require_session

sess: Session = require_session()
embedding = f"{sess.pool.content_hash()}-{sess.embedding_method}"  # keys the caches below with the pool


@st.cache_data(show_spinner="Simulating the random baseline…", max_entries=16)
def _random_baseline(_sess: Session, embedding: str, sizes: tuple[int, ...]) -> tuple[list[float], list[float]]:
    """Keyed by the pool and embedding (``embedding``) in place of the session, which cannot be hashed."""
    pool, test = _sess.pool, _sess.pool.test
    keep, tkeep = pool.y_true >= 0, test.y_true >= 0
    return random_baseline(_sess.X[keep], pool.y_true[keep], _sess.X_test[tkeep], test.y_true[tkeep], sizes)


@st.cache_data(show_spinner="Replaying past rounds…", max_entries=8)
def _past_rounds(
    _sess: Session, db: str, project: str, embedding: str, rounds: tuple[str, ...]
) -> tuple[list[np.ndarray], list[float]]:
    """Labels at each past round and the stability curve (refit on ``embedding``): past rounds never change,
    so the database, project and round times key them in place of the session."""
    past = _sess.labels_at_rounds()
    return past, _sess.stability_curve(past)


st.header("Train")

if st.button("Retrain now", type="primary", key="retrain"):
    try:
        with st.spinner("Training on your labels and rescoring the pool…"):
            result = sess.retrain()
    except NothingNewError as exc:  # a second click records no duplicate round
        st.info(md(exc))
    except OneClassError as exc:
        st.warning(md(exc))
    else:
        acc = "n/a" if result["accuracy"] is None else f"{result['accuracy']:.1%}"
        st.success(f"Round {result['round']}: {result['n_labeled']} labels, {result['metric']} {acc}.")

history = sess.history()
c1, c2, c3 = st.columns(3)
c1.metric("Labels", f"{sess.n_labeled:,}")
c2.metric("Classes labeled", sum(1 for v in sess.label_counts().values() if v))
if history and history[-1]["accuracy"] is not None:
    prev = history[-2]["accuracy"] if len(history) > 1 and history[-2]["accuracy"] is not None else None
    delta = None if prev is None else f"{(history[-1]['accuracy'] - prev) * 100:+.1f} pts"
    c3.metric(history[-1]["metric"].capitalize(), f"{history[-1]['accuracy']:.1%}", delta)
else:
    c3.metric("Accuracy", "–")

points = [(h["n_labeled"], h["accuracy"]) for h in history if h["accuracy"] is not None]
if points:
    st.subheader("Learning curve")
    x, y = zip(*points, strict=True)
    metric = history[-1]["metric"]
    curves = {"this session": (list(x), list(y))}
    test = sess.pool.test
    show_baseline = sess.pool.has_ground_truth and test is not None and test.has_ground_truth
    show_baseline = show_baseline and metric == "test accuracy"
    # the other model of each round: with pseudo-labels when they are off, human labels only when they are on
    other, other_name = (
        ("accuracy_human", "human labels only")
        if sess.use_pseudo
        else ("accuracy_pseudo", "with pseudo-labels (measured, not in use)")
    )
    other_points = [(h["n_labeled"], h[other]) for h in history if h.get(other) is not None]
    if other_points:
        curves[other_name] = tuple(map(list, zip(*other_points, strict=True)))
    if show_baseline and st.toggle("Compare with random labels (simulated)", value=True, key="baseline"):
        mean, _ = _random_baseline(sess, embedding, tuple(x))
        curves["random labels (simulated, 3 runs)"] = (list(x), mean)
    st.plotly_chart(learning_curve_figure(curves, y_title=metric), key="curve")
    st.caption(
        "One point per retraining round. The simulated baseline trains the same model on the same number of "
        "randomly chosen items labeled by the ground truth: above it, your choices of what to label pay off."
    )
    last = history[-1]
    if last.get("n_pseudo") is not None and last.get("accuracy_pseudo") is not None:
        human, pseudo_acc = last["accuracy_human"], last["accuracy_pseudo"]
        verdict = "helps" if pseudo_acc > human + 0.005 else "hurts" if pseudo_acc < human - 0.005 else "changes little"
        st.caption(
            f"Pseudo-labels in round {last['round']}: {last['n_pseudo']:,} confident items (per-class bars "
            f"calibrated on your labels). With them {pseudo_acc:.1%}, without {human:.1%}: using them {verdict}. "
            "They are never stored or exported as labels; the sidebar toggle decides whether training uses them."
        )
else:
    st.info("No rounds yet. Label items of at least two classes (Explore or Queue), then press **Retrain now**.")

suggested = [r for r in sess.suggestion_curve() if r["accuracy"] is not None]
if suggested:
    st.subheader("Suggestion accuracy")
    st.plotly_chart(suggestion_figure(suggested), key="suggestions")
    latest = suggested[-1]
    answered = latest["accepted"] + latest["corrected"]
    when = "since the last round" if latest["round"] is None else f"before round {latest['round']}"
    st.caption(
        f"Queue answers {when}: the suggestion was right for {latest['accepted']} of {answered} suggestions "
        f"({latest['accuracy']:.0%}). Each point is one model, measured on the items it suggested a class for "
        "(accepted vs corrected) until the next retraining: items the queue picks are hard ones, so this runs "
        "below the test accuracy."
    )

if sess.model is not None:
    when = tuple(str(h["created_at"]) for h in history)
    past, stabilities = _past_rounds(sess, sess.store.url, sess.project, embedding, when)
    left, right = st.columns(2)
    with left:
        stopping_panel(sess, stabilities)
    with right:
        coverage_panel(sess, past)
    disputed_panel(sess)
    provenance_panel(sess)
    difficulty_panel(sess)

conf = sess.confusion()
if conf is not None:
    cm, names = conf
    st.subheader("Confusion matrix on the held-out test part")
    st.plotly_chart(confusion_figure(cm, [plotly_text(n) for n in names]), key="confusion")
    totals = cm.sum(axis=1)
    has = totals > 0
    recall = np.diag(cm)[has] / totals[has]
    st.dataframe(
        {"class": [n for n, h in zip(names, has, strict=True) if h], "recall": recall, "test items": totals[has]},
        hide_index=True,
        column_config={
            "recall": st.column_config.ProgressColumn("recall", min_value=0.0, max_value=1.0, format="%.2f")
        },
    )
