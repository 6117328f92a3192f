"""Reliability in the running app (AppTest): a busy database is said on the page, nothing is written, and the
user's retry stores."""

from __future__ import annotations

import numpy as np
from _helpers import APP, app_env, hold_sqlite_lock

from alviz.store import Store


def test_the_app_says_when_the_database_is_busy_and_the_retry_stores(tmp_path, monkeypatch):
    import functools

    from streamlit.testing.v1 import AppTest

    import views.panels.shared as shared
    from alviz.datasets import load_sample

    db = app_env(monkeypatch, tmp_path, ALVIZ_ANNOTATOR="tester")
    monkeypatch.setattr(shared, "Store", functools.partial(Store, retries=2, busy_timeout=0.1, backoff=0.05))
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.session_state["map_rows"] = np.array([3, 4])
    at.run()
    at.selectbox(key="bulk_class").select("Coat").run()

    holder = hold_sqlite_lock(str(db), 1.5)  # the database is busy for a moment
    at.button(key="bulk_label").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("unavailable or busy" in e.value and "Nothing was written" in e.value for e in at.error)
    holder.join()
    assert Store(db).current_labels(Store(db).project("sample")) == {}

    at.button(key="bulk_label").click().run()  # the user tries again
    ids = load_sample().ids
    assert Store(db).current_labels(Store(db).project("sample")) == {ids[3]: "Coat", ids[4]: "Coat"}
