"""The Team page (AppTest): counts, agreement and conflicts; resolving as the signed-in reviewer; QC routing;
imports and the labels' download."""

from __future__ import annotations

import pytest
from _helpers import APP, app_env

from alviz.store import Store


@pytest.fixture
def team_app(tmp_path, monkeypatch):
    """The app on the bundled sample, with alice and bob disagreeing on 3 of the 5 items they both labeled."""
    from streamlit.testing.v1 import AppTest

    from alviz.datasets import load_sample

    db = app_env(monkeypatch, tmp_path, ALVIZ_ANNOTATOR="carol")
    ids = load_sample().ids[:5].tolist()
    s = Store(db)
    pid = s.project("sample")
    s.add_labels(pid, ids, "Coat", "alice", "bulk")
    s.add_labels(pid, ids, ["Coat", "Coat", "Shirt", "Shirt", "Shirt"], "bob", "bulk")
    s.close()
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page("views/team.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at, db, pid


def test_team_page_shows_counts_agreement_and_conflicts(team_app):
    at, _, _ = team_app
    assert any(h.value == "Conflicts (3)" for h in at.subheader)
    assert {m.label for m in at.metric} >= {"Items labeled by 2+ people", "Fleiss' kappa", "Raw agreement"}
    assert any(m.value == "5" for m in at.metric if m.label == "Items labeled by 2+ people")


def test_team_page_says_too_few_shared_items_instead_of_a_bare_kappa(team_app):
    at, _, _ = team_app  # alice and bob share 5 items
    (fleiss,) = [m for m in at.metric if m.label == "Fleiss' kappa"]
    assert fleiss.value == "–"  # no bare number; the reason stands below the metric
    assert "too few shared items (n < 10)" in [c.value for c in at.caption]
    (pairs,) = [d.value for d in at.dataframe if "annotator A" in d.value.columns]
    assert pairs["Cohen's kappa"].tolist() == ["too few shared items (n < 10)"]
    assert pairs["shared items"].tolist() == [5]


def test_team_page_resolves_a_conflict_as_the_signed_in_reviewer(team_app):
    at, db, pid = team_app
    at.selectbox(key="resolve_label").select("Shirt").run()
    at.button(key="resolve").click().run()
    assert not at.exception
    assert any(h.value == "Conflicts (2)" for h in at.subheader)
    s = Store(db)
    (event,) = [e for e in s.events(pid) if e["source"] == "resolve"]
    assert (event["label"], event["annotator"]) == ("Shirt", "carol")


def test_team_page_switches_qc_routing_on_for_the_project(team_app):
    at, db, pid = team_app
    at.toggle(key="qc_on").set_value(True).run()
    assert not at.exception
    assert Store(db).settings(pid)["qc_fraction"] == pytest.approx(0.1)
    at.slider(key="qc_fraction").set_value(0.3).run()
    assert Store(db).settings(pid)["qc_fraction"] == pytest.approx(0.3)
    at.toggle(key="qc_on").set_value(False).run()
    assert "qc_fraction" not in Store(db).settings(pid)


def test_team_page_lists_imports_with_who_imported_and_whom_the_file_named(team_app):
    at, db, pid = team_app
    s = Store(db)
    s.import_labels(pid, ["x1", "x2"], ["Coat", "Coat"], importer="dave", imported_from=["erin", "frank"])
    s.close()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    (line,) = [c.value for c in at.caption if "imported" in c.value]
    assert line.startswith("**dave** imported 2 labels on ") and line.endswith("the file named erin, frank")


def test_team_page_offers_the_labels_for_download(team_app):
    at, _, _ = team_app
    assert at.get("download_button")
