"""Compare page: simulate query strategies with an oracle and plot their learning curves side by side."""

from __future__ import annotations

import json

import numpy as np
import streamlit as st

from alviz import datasets
from alviz.figures import compare_figure
from alviz.markup import md
from alviz.model import MODELS
from alviz.simulate import SimData, load_sim_data, oracle_split, run
from alviz.strategies import NEEDS_FLIP
from views.panels.shared import session, strategy_names
from views.panels.study import study_preset

st.header("Compare strategies")
st.caption(
    "An oracle (the ground truth) answers every query, so strategies can be compared before any human time is "
    "spent. Every strategy of a repeat starts from the same random initial labels."
)
PRESETS = ("Custom", "SSL study: self-supervised features meet active learning")
if st.radio("Preset", PRESETS, horizontal=True, key="cmp_preset") != PRESETS[0]:
    study_preset()
    st.stop()

sources = {"Current pool (its embedding)": "current", "scikit-learn digits": "digits", "Bundled sample": "sample"}
if datasets.fashion_mnist_available():
    sources["Fashion-MNIST (10,000 pool / 2,000 test)"] = "fashion-mnist"
src = sources[st.selectbox("Data", list(sources), key="cmp_data")]
names = strategy_names()
chosen = st.multiselect("Strategies", names, default=["random", "margin", "typiclust", "auto"], key="cmp_strategies")
c = st.columns(5)
initial = int(c[0].number_input("Initial labels", 2, 500, 20, key="cmp_initial"))
batch = int(c[1].number_input("Batch", 1, 500, 20, key="cmp_batch"))
rounds = int(c[2].number_input("Rounds", 1, 50, 10, key="cmp_rounds"))
repeats = int(c[3].number_input("Repeats", 1, 10, 3, key="cmp_repeats"))
model = c[4].selectbox("Model", list(MODELS), key="cmp_model")


def _data() -> SimData:
    """The simulation's data; X_flip (mirrored images) only when a chosen strategy needs it."""
    flip = any(s in NEEDS_FLIP for s in chosen)
    if src != "current":
        sizes = {"n_pool": 10_000, "n_test": 2_000} if src == "fashion-mnist" else {}
        return load_sim_data(src, flip=flip, **sizes)
    sess = session()
    if sess is None:
        st.stop()
    pool = sess.pool
    if not pool.has_ground_truth:
        raise ValueError(f"The current pool ({pool.name}) has no ground truth, so there is no oracle to simulate.")
    X_flip = sess.flip_embedding() if flip else None  # NeedsImages (a ValueError) without images
    y_test = pool.test.y_true if pool.test is not None else None
    return oracle_split(sess.X, pool.y_true, sess.X_test, y_test, X_flip, name=pool.name)


if st.button("Run simulation", type="primary", key="cmp_run", disabled=not chosen):
    bar = st.progress(0.0, text="Loading data…")
    try:
        d = _data()
        if len(np.unique(d.y)) < 2:
            raise ValueError("The data has one class only: there is nothing to learn.")
        result = run(
            d.X,
            d.y,
            d.X_test,
            d.y_test,
            chosen,
            initial=initial,
            batch=batch,
            rounds=rounds,
            repeats=repeats,
            model=model,
            data_name=d.name,
            progress=lambda f, msg: bar.progress(f, text=f"Simulating: {msg}"),
            X_flip=d.X_flip,
        )
    except ValueError as exc:
        st.error(md(exc))
    else:
        st.session_state["compare_result"] = result
    finally:
        bar.empty()

result = st.session_state.get("compare_result")
if result:
    st.subheader(f"{md(result['data'])}: {result['n_pool']:,} pool items, {result['n_test']:,} test items")
    st.plotly_chart(compare_figure(result), key="compare_curves")
    rows = sorted(result["strategies"].items(), key=lambda kv: -kv[1]["auc"])
    st.dataframe(
        {
            "strategy": [n for n, _ in rows],
            "AUC (mean accuracy over rounds)": [s["auc"] for _, s in rows],
            "final accuracy": [s["accuracy_mean"][-1] for _, s in rows],
            "± std": [s["accuracy_std"][-1] for _, s in rows],
            "seconds per round": [s["seconds_per_round"] for _, s in rows],
        },
        hide_index=True,
    )
    st.download_button(
        "Download result.json",
        json.dumps(result, indent=1),
        file_name="result.json",
        mime="application/json",
        key="cmp_download",
    )
