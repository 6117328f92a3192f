"""Security in the running app (AppTest): hostile class and annotator names show as text on every page, nothing
opens before signing in, labels carry the proven name, an open address without a login shows nothing."""

from __future__ import annotations

import re

import numpy as np
import pytest
from _helpers import APP, HOSTILE, HOSTILE_2, app_env
from streamlit.testing.v1 import AppTest

from alviz import auth
from alviz.datasets import load_sample
from alviz.markup import md
from alviz.store import Store

MARKUP_VALUES = {"Markdown", "Caption", "Title", "Header", "Subheader", "Info", "Success", "Warning", "Error", "Toast"}


def _elements(node):
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _elements(child)


def _markup_leaks(at: AppTest) -> list[str]:
    """Markup elements that would render a hostile string as HTML or Markdown instead of as its text."""
    bad = []
    for el in _elements(at._tree):
        proto = getattr(el, "proto", None)
        if proto is not None and getattr(proto, "allow_html", False):
            bad.append(f"{type(el).__name__} allows HTML: {getattr(el, 'value', '')!r}")
        markup = type(el).__name__ in MARKUP_VALUES  # elements whose value is Markdown; labels always are
        for field in ("value", "label") if markup else ("label",):
            try:
                v = getattr(el, field, None)
            except Exception:  # a widget's value outside a run
                continue
            if isinstance(v, str) and ("onerror" in v or "javascript" in v):
                if re.search(r"(?<!\\)<img|(?<!\\)\[click(?<!\\)\]", v):
                    bad.append(f"{type(el).__name__}.{field} unescaped: {v!r}")
    return bad


@pytest.fixture
def hostile_app(tmp_path, monkeypatch):
    db = app_env(monkeypatch, tmp_path, ALVIZ_ANNOTATOR=HOSTILE)
    pool = load_sample()
    store = Store(db)
    pid = store.project("sample")
    store.add_labels(pid, pool.ids[pool.y_true == 1][:10].tolist(), HOSTILE, "alice", "bulk")
    store.add_labels(pid, pool.ids[pool.y_true == 8][:10].tolist(), HOSTILE_2, "bob", "bulk")
    store.add_labels(pid, pool.ids[pool.y_true == 1][:3].tolist(), HOSTILE_2, HOSTILE, "single")  # conflicts
    first = pool.ids[pool.y_true == 1][:1].tolist()
    store.import_labels(pid, first, [HOSTILE], importer=HOSTILE_2, imported_from=[HOSTILE])  # the Team page lists it
    store.close()
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_hostile_class_and_annotator_names_show_as_text_on_every_page(hostile_app):
    at = hostile_app
    assert any(md(HOSTILE) in c.value for c in at.sidebar.caption)  # the class counts, escaped
    for page in ("explore", "queue", "train", "team"):
        at.switch_page(f"views/{page}.py")
        at.run()
        assert not at.exception, (page, [e.message for e in at.exception])
        assert not _markup_leaks(at), (page, _markup_leaks(at))
    at.switch_page("views/explore.py")
    at.run()
    at.session_state["map_rows"] = np.arange(40)
    at.run()
    assert any(c.value.startswith("Model predicts:") for c in at.caption)
    assert not _markup_leaks(at)


@pytest.fixture
def login_app(tmp_path, monkeypatch):
    creds = tmp_path / "users"
    auth.add_user(creds, "alice", "alice-password", iterations=1000)
    db = app_env(monkeypatch, tmp_path, ALVIZ_CREDENTIALS=str(creds))
    monkeypatch.setenv("ALVIZ_ANNOTATOR", "mallory")  # must not matter once logins are on
    return AppTest.from_file(APP, default_timeout=60).run(), db


def _sign_in(at: AppTest, name: str, password: str) -> AppTest:
    at.text_input(key="login_name").input(name)
    at.text_input(key="login_password").input(password)
    next(b for b in at.button if b.label == "Sign in").click()
    return at.run()


def test_with_a_credentials_file_nothing_opens_before_signing_in(login_app):
    at, _ = login_app
    assert not at.exception
    assert any("Sign in" in i.value for i in at.info)
    assert not at.get("bidi_component") and not [t for t in at.text_input if t.key == "annotator"]


def test_a_wrong_password_keeps_the_door_shut(login_app):
    at, _ = login_app
    _sign_in(at, "alice", "not-her-password")
    assert any("wrong password" in e.value for e in at.error)
    assert not at.get("bidi_component")


def test_signed_in_labels_carry_the_proven_name(login_app):
    at, db = login_app
    _sign_in(at, "alice", "alice-password")
    assert not at.exception and at.get("bidi_component")
    assert "alice" in [t.value for t in at.sidebar.text]
    at.session_state["map_rows"] = np.array([3])
    at.run()
    at.selectbox(key="bulk_class").select(at.selectbox(key="bulk_class").options[0]).run()
    at.button(key="bulk_label").click().run()
    store = Store(db)
    assert [e["annotator"] for e in store.events(store.project("sample"))] == ["alice"]


def test_with_an_oidc_provider_configured_the_app_asks_to_sign_in_through_it(tmp_path, monkeypatch):
    app_env(monkeypatch, tmp_path)
    monkeypatch.setenv("ALVIZ_CREDENTIALS", str(tmp_path / "ignored"))  # OIDC wins over the password file
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets["auth"] = {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "not-a-real-secret",
        "client_id": "alviz",
        "client_secret": "not-a-real-secret",
        "server_metadata_url": "https://id.example.org/.well-known/openid-configuration",
    }
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert [b.key for b in at.sidebar.button] == ["oidc_login"]
    assert not at.get("bidi_component") and not [t for t in at.text_input if t.key == "annotator"]


def test_hostile_class_names_show_as_text_in_the_confusion_matrix(hostile_app):
    at = hostile_app
    at.switch_page("views/train.py")
    at.run()
    at.button(key="retrain").click().run()
    assert not at.exception, [e.message for e in at.exception]
    (chart,) = [c for c in at.get("plotly_chart") if c.proto.id and "confusion" in c.proto.id]
    spec = chart.proto.spec
    assert "&lt;img" in spec and "<img" not in spec


def test_streamlit_run_on_an_open_address_without_a_login_shows_nothing(tmp_path, monkeypatch):
    from streamlit import config

    app_env(monkeypatch, tmp_path)
    for k in ("ALVIZ_CREDENTIALS", "ALVIZ_DATA_ROOT", "ALVIZ_INSECURE"):
        monkeypatch.delenv(k, raising=False)
    before = config.get_option("server.address")
    config.set_option("server.address", "0.0.0.0")
    try:
        at = AppTest.from_file(APP, default_timeout=60).run()
    finally:
        config.set_option("server.address", before)
    assert any("open to the network" in e.value for e in at.error)
    assert not at.get("bidi_component") and not at.get("plotly_chart") and not at.sidebar.text_input
