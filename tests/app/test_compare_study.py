"""The Compare page's SSL study preset, through streamlit.testing's AppTest (digits, tiny budgets)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest
from test_app import APP, TIMEOUT, db, go_to, run  # noqa: F401 (db: the app's private database and cache)

from alviz.markup import md

pytestmark = pytest.mark.usefixtures("db")

STUDY = "SSL study: self-supervised features meet active learning"


def study_page() -> AppTest:
    at = go_to(run(AppTest.from_file(APP, default_timeout=120)), "compare")
    return run(at.radio(key="cmp_preset").set_value(STUDY))


def test_the_ssl_preset_runs_the_study_and_says_where_random_stands():
    at = study_page()
    assert at.multiselect(key="study_m").value == ["random", "entropy", "kcenter", "vaal", "svm_margin", "auto"]
    run(at.multiselect(key="study_heads").set_value(["svm"]))
    run(at.number_input(key="study_max_per_class").set_value(3))
    run(at.number_input(key="study_repeats").set_value(2))
    run(at.button(key="study_run").click())
    assert not at.error, [e.value for e in at.error]
    sentence, paper_only = at.session_state["study_result"]["summary"]
    assert sentence.startswith("pixels_pca + svm: ") and "standard error" in sentence
    assert paper_only.startswith("pixels_pca + svm, the paper's methods only: ")
    assert any(md(sentence) in m.value for m in at.markdown)  # shown on the page
    [frame] = at.dataframe
    table = frame.value
    assert set(table["method"]) == {"random", "entropy", "kcenter", "vaal", "svm_margin", "auto"}
    assert {"1-2 / class", "3 / class"} <= set(table.columns)


def test_the_ssl_preset_without_an_embedding_cannot_run():
    at = study_page()
    run(at.multiselect(key="study_embeddings").set_value([]))
    assert at.button(key="study_run").disabled


def test_the_custom_compare_offers_the_svm_head():
    at = go_to(run(AppTest.from_file(APP, default_timeout=TIMEOUT)), "compare")
    assert "svm" in at.selectbox(key="cmp_model").options
    assert {"vaal", "svm_margin"} <= set(at.multiselect(key="cmp_strategies").options)


def test_the_custom_compare_simulates_the_current_pool_against_its_held_out_test_part():
    at = go_to(run(AppTest.from_file(APP, default_timeout=TIMEOUT)), "compare")
    run(at.multiselect(key="cmp_strategies").set_value(["random", "margin"]))
    for key, value in {"cmp_initial": 20, "cmp_batch": 10, "cmp_rounds": 1, "cmp_repeats": 1}.items():
        run(at.number_input(key=key).set_value(value))
    run(at.button(key="cmp_run").click())
    assert not at.error, [e.value for e in at.error]
    result = at.session_state["compare_result"]
    assert (result["data"], result["n_pool"], result["n_test"]) == ("sample", 2000, 1000)  # the sample's own test part
    assert set(result["strategies"]) == {"random", "margin"}
