"""The SSL study preset: AUC per budget range, and the sentence about random, from known results and on digits."""

from __future__ import annotations

import json

import numpy as np
import pytest

from alviz.cli import main as cli_main
from alviz.study import budget_ranges, load_study_data, run_study, study_table, table_text


def curve(per_run: list[list[float]], n_classes: int = 2) -> dict:
    runs = np.asarray(per_run)
    return {"n_labeled": [n_classes * (i + 1) for i in range(runs.shape[1])], "runs": runs.tolist()}


def known_study(repeats: int = 3) -> dict:
    """Budgets 1..6 per class. Random equals margin while labels are few, then margin pulls ahead by 0.1."""
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.01, (repeats, 6))
    base = np.array([0.5, 0.6, 0.7, 0.75, 0.8, 0.85])
    lift = np.array([0.0, 0.0, 0.1, 0.1, 0.1, 0.1])
    strategies = {"random": curve(base + noise), "margin": curve(base + lift + noise[::-1])}
    return {
        "max_per_class": 6,
        "repeats": repeats,
        "n_classes": 2,
        "results": {"pca": {"logreg": {"strategies": strategies}}},
    }


def test_budget_ranges_stop_at_the_largest_budget():
    assert budget_ranges(20) == [(1, 2), (3, 5), (6, 10), (11, 20)]
    assert budget_ranges(4) == [(1, 2), (3, 4)]


def test_table_averages_each_budget_range_and_says_where_random_is_within_one_standard_error():
    rows, sentences = study_table(known_study())
    cell = {(r["budget"], r["method"]): r for r in rows}
    assert cell[("1-2", "random")]["auc"] == pytest.approx(0.55, abs=0.02)
    assert cell[("3-5", "margin")]["auc"] - cell[("3-5", "random")]["auc"] == pytest.approx(0.1, abs=0.02)
    assert 0 < cell[("1-2", "margin")]["se"] < 0.02
    [sentence] = sentences
    close, apart = sentence.split(";")
    assert "within one standard error" in close and "1-2 labels/class" in close and "3-5" not in close
    assert "more than one standard error" in apart and "3-5 labels/class" in apart and "6 labels/class" in apart


def test_with_auto_a_second_sentence_judges_random_against_the_papers_methods_alone():
    study = known_study()
    strategies = study["results"]["pca"]["logreg"]["strategies"]
    strategies["auto"] = curve(np.asarray(strategies["margin"]["runs"]) + 0.2)  # far ahead everywhere
    _, [everyone, paper] = study_table(study)
    assert "within" not in everyone and "auto" in everyone
    assert paper.startswith("pca + logreg, the paper's methods only: random is within one standard error")
    assert "auto" not in paper and "(margin +0.1" in paper


def test_one_repeat_has_no_standard_error_and_the_sentence_says_so():
    _, [sentence] = study_table(known_study(repeats=1))
    assert "one repeat" in sentence


def test_run_study_on_digits_gives_every_method_and_head_budgets_one_to_n_per_class():
    data = load_study_data("digits", ["pixels_pca"])
    seen = []
    study = run_study(data, ["logreg", "svm"], max_per_class=3, repeats=2, progress=lambda f, m: seen.append(f))
    assert set(study["results"]["pixels_pca"]) == {"logreg", "svm"}
    result = study["results"]["pixels_pca"]["svm"]
    assert set(result["strategies"]) == {"random", "entropy", "kcenter", "vaal", "svm_margin", "auto"}
    assert result["strategies"]["vaal"]["n_labeled"] == [10, 20, 30] and result["model"] == "svm"
    assert seen[-1] == pytest.approx(1.0) and seen == sorted(seen)
    rows, sentences = study_table(study)
    assert len(rows) == 2 * 6 * 2 and len(sentences) == 4  # heads x methods x ranges (1-2, 3); with/without auto
    assert "vaal" in table_text(rows) and all(0.3 < r["auc"] < 1 for r in rows)


def test_study_refuses_budgets_that_would_label_the_whole_pool():
    data = load_study_data("digits", ["pixels_pca"])
    with pytest.raises(ValueError, match="whole pool"):
        run_study(data, max_per_class=500)


def test_simulate_cli_runs_the_ssl_study_and_writes_table_and_summary(tmp_path, capsys):
    out = tmp_path / "study.json"
    args = ["--data", "digits", "--embeddings", "pixels_pca", "--heads", "logreg", "--max-per-class", "2"]
    assert cli_main(["simulate", "--study", "ssl", *args, "--repeats", "2", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert {r["budget"] for r in result["table"]} == {"1-2"} and len(result["summary"]) == 2  # with and without auto
    assert "pixels_pca + logreg" in capsys.readouterr().out


def test_simulate_cli_names_an_unknown_embedding_of_the_study(tmp_path, capsys):
    args = ["simulate", "--study", "ssl", "--data", "digits", "--embeddings", "pixel_pca", "--out", str(tmp_path / "s")]
    assert cli_main(args) == 2
    err = capsys.readouterr().err
    assert "pixel_pca" in err and "simsiam" in err
