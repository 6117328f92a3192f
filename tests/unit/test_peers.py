"""benchmarks/peers.py runs alviz and scikit-activeml under one protocol: a smoke run on digits (a few seconds).

The check that the protocol is shared: margin is the same rule in both libraries, so with the same initial
labels, the same learner and the same test part, alviz's margin and scikit-activeml's margin must trace the
same learning curve. A difference in splits, initial labels or learner between the two families would show here.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest
from _helpers import ROOT

pytest.importorskip("skactiveml", reason="benchmarks/peers.py needs scikit-activeml: pip install -e '.[bench]'")
sys.path.insert(0, str(ROOT / "benchmarks"))
peers = importlib.import_module("peers")


def test_alviz_and_scikit_activeml_margin_trace_the_same_curve_under_the_shared_protocol():
    out = peers.main(
        "--pools digits --budgets low --repeats 2 --rounds 2 --learners alviz"
        " --alviz margin,auto --peers margin,random".split()
    )
    table = out["pools"]["digits"]["budgets"]["low"]["learners"]["alviz"]
    rows = table["strategies"]
    assert rows["alviz/margin"]["auc"] == rows["skactiveml/margin"]["auc"]
    assert rows["alviz/margin"]["final"] == rows["skactiveml/margin"]["final"]
    for row in rows.values():
        assert 0.5 < row["auc"] <= 1.0 and row["seconds_per_round"] > 0
    diff = table["auto_vs_best_peer"]
    assert diff["best_peer_by_auc"] in ("skactiveml/margin", "skactiveml/random")
    expected = rows["alviz/auto"]["auc"] - rows[diff["best_peer_by_auc"]]["auc"]
    assert diff["auc_diff"]["mean"] == pytest.approx(expected, abs=2e-4)  # paired mean = difference of means
    assert diff["auc_diff"]["se"] is not None


def test_an_unknown_budget_is_refused_with_the_valid_names():
    with pytest.raises(SystemExit, match="budgets"):
        peers.main(["--budgets", "medium"])
