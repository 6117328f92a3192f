"""The Compare page's SSL study preset: frozen embeddings x heads x query methods, 1..N labels per class."""

from __future__ import annotations

import json

import streamlit as st

from alviz import datasets, study
from alviz.embed import EMBEDDERS
from alviz.figures import compare_figure
from alviz.markup import md


def study_preset() -> None:
    st.caption(
        "After *Reducing Label Effort: Self-Supervised meets Active Learning* (ICCV 2021 workshop): the embedding "
        "is computed once and frozen (SimSiam first trains on the pool without labels: minutes on a CPU, then "
        "cached), a linear head is fit on the labels, and each method starts from about one random label per "
        "class and adds one per class per round. The finding to check: with a self-supervised backbone, random "
        "is hard to beat at low budgets."
    )
    sources = {"scikit-learn digits": "digits", "Bundled sample": "sample"}
    if datasets.fashion_mnist_available():
        sources["Fashion-MNIST (10,000 pool / 2,000 test)"] = "fashion-mnist"
    src = sources[st.selectbox("Data", list(sources), key="study_data")]
    installed = [e for e in study.EMBEDDINGS if EMBEDDERS[e].installed]
    c = st.columns(2)
    embeddings = c[0].multiselect("Embeddings (frozen)", installed, default=["pixels_pca"], key="study_embeddings")
    heads = c[1].multiselect("Heads", list(study.HEADS), default=list(study.HEADS), key="study_heads")
    methods = st.multiselect("Methods (random is always run)", list(study.METHODS), list(study.METHODS), key="study_m")
    c = st.columns(2)
    per_class = int(c[0].number_input("Labels per class, up to", 2, 20, 20, key="study_max_per_class"))
    repeats = int(c[1].number_input("Repeats", 1, 10, 3, key="study_repeats"))
    if st.button("Run study", type="primary", key="study_run", disabled=not (embeddings and heads)):
        bar = st.progress(0.0, text="Embedding…")
        try:
            sizes = {"n_pool": 10_000, "n_test": 2_000} if src == "fashion-mnist" else None
            data = study.load_study_data(
                src, embeddings, sizes, progress=lambda f, m: bar.progress(min(f, 1.0), text=f"Embedding: {m}")
            )
            result = study.run_study(
                data,
                heads,
                ["random", *(m for m in methods if m != "random")],
                max_per_class=per_class,
                repeats=repeats,
                progress=lambda f, m: bar.progress(min(f, 1.0), text=f"Simulating {m}"),
            )
        except ValueError as exc:
            st.error(md(exc))
        else:
            rows, sentences = study.study_table(result)
            st.session_state["study_result"] = {**result, "table": rows, "summary": sentences}
        finally:
            bar.empty()
    shown = st.session_state.get("study_result")
    if shown:
        _show(shown)


def _show(result: dict) -> None:
    st.subheader("Where does random stand?")
    st.markdown("\n".join(f"- {md(s)}" for s in result["summary"]))
    table: dict[tuple, dict] = {}
    for r in result["table"]:
        cell = f"{r['auc']:.3f}" + ("" if r["se"] != r["se"] else f" ± {r['se']:.3f}")  # NaN: one repeat
        key = (r["embedding"], r["head"], r["method"])
        table.setdefault(key, {"embedding": key[0], "head": key[1], "method": key[2]})[f"{r['budget']} / class"] = cell
    st.caption("AUC (mean test accuracy over the budget range's rounds) ± its standard error over repeats")
    st.dataframe(list(table.values()), hide_index=True, key="study_table")
    for emb, by_head in result["results"].items():
        for head, res in by_head.items():
            with st.expander(f"Learning curves: {emb} + {head}"):
                st.plotly_chart(compare_figure(res), key=f"study_curves_{emb}_{head}")
    st.download_button(
        "Download study.json", json.dumps(result, indent=1), "study.json", "application/json", key="study_download"
    )
