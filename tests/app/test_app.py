"""Page wiring, driven through streamlit.testing's AppTest on the bundled sample (PCA map, no UMAP).

AppTest cannot fire a Plotly selection, so a lasso is simulated the way Streamlit itself would report it:
by writing the chart's selection state (DESIGN §5). Labels are checked where they live: in the store.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _helpers import APP
from streamlit.testing.v1 import AppTest

from alviz.datasets import load_digits_pool, load_sample
from alviz.store import Store

TIMEOUT = 30
NEW_CLASS = "➕ New class…"  # the Explore page's "new class" option
PROJECT = "sample"  # the project is named after the pool


# ------------------------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def sample_truth() -> tuple[np.ndarray, list[str]]:
    pool = load_sample()
    return pool.y_true, pool.class_names


@pytest.fixture
def db(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "labels.db"
    monkeypatch.setenv("ALVIZ_UMAP", "0")
    monkeypatch.setenv("ALVIZ_RETRAIN_EVERY", "0")  # rounds come from explicit clicks in these tests
    monkeypatch.setenv("ALVIZ_DB", str(path))
    monkeypatch.setenv("ALVIZ_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ALVIZ_DATA", "sample")
    monkeypatch.setenv("ALVIZ_ANNOTATOR", "tester")
    return path


def run(target) -> AppTest:
    """Run the app (``target`` is the AppTest or a widget just set) and fail on any exception it raised."""
    at = target.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


@pytest.fixture
def app(db) -> AppTest:
    return run(AppTest.from_file(APP, default_timeout=TIMEOUT))


def go_to(at: AppTest, page: str) -> AppTest:
    at.switch_page(f"views/{page}.py")
    return run(at)


def select_rows(at: AppTest, rows) -> AppTest:
    """What the map leaves after a lasso over these rows (views/panels/map.py keeps the decoded rows server-side)."""
    at.session_state["map_rows"] = np.asarray(rows, dtype=np.int64)
    return run(at)


def label_selection(at: AppTest, name: str) -> AppTest:
    """Label the current selection with ``name``: an existing class, or a new one typed in."""
    if name in at.selectbox(key="bulk_class").options:
        run(at.selectbox(key="bulk_class").select(name))
    else:
        run(at.selectbox(key="bulk_class").select(NEW_CLASS))
        run(at.text_input(key="bulk_new_class").input(name))
    return run(at.button(key="bulk_label").click())


def labeled_metric(at: AppTest) -> int:
    (metric,) = [m for m in at.sidebar.metric if m.label == "Labeled"]
    return int(metric.value.replace(",", ""))


def stored(db: Path, project: str = PROJECT) -> dict[str, str]:
    store = Store(db)
    try:
        return store.current_labels(store.project(project))
    finally:
        store.close()


def stored_events(db: Path, project: str = PROJECT) -> list[dict]:
    store = Store(db)
    try:
        return store.events(store.project(project))
    finally:
        store.close()


def stored_rounds(db: Path, project: str = PROJECT) -> list[dict]:
    store = Store(db)
    try:
        return store.rounds(store.project(project))
    finally:
        store.close()


def prelabel(db: Path, rows_by_class: dict[str, np.ndarray]) -> None:
    """Labels given before the app opens (the session resumes from them and fits a model)."""
    ids = load_sample().ids
    store = Store(db)
    try:
        pid = store.project(PROJECT)
        for name, rows in rows_by_class.items():
            store.add_labels(pid, ids[rows].tolist(), name, "tester", "bulk")
    finally:
        store.close()


def rows_of(y_true: np.ndarray, c: int, n: int) -> np.ndarray:
    return np.flatnonzero(y_true == c)[:n]


def charts(at: AppTest) -> dict[str, object]:
    """Plotly charts and the map component, by key."""
    return {c.key: c for c in [*at.get("plotly_chart"), *at.get("bidi_component")]}


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


# ------------------------------------------------------------------------------------------- Explore


def test_explore_opens_on_the_sample_with_a_pca_map(app):
    assert "map" in charts(app)
    assert any(c.value.startswith("Map: PCA · 2,000 items · 0 labeled") for c in app.caption)
    assert labeled_metric(app) == 0


def test_empty_selection_explains_how_to_select(app):
    select_rows(app, [])
    assert "Draw a lasso or a box" in texts(app.info)
    assert not [b for b in app.button if b.key == "bulk_label"]


def test_lasso_selection_shows_count_then_labels_a_new_class_into_the_store(app, db):
    rows = [3, 10, 11, 500, 1999]
    select_rows(app, rows)
    assert "**5 items selected**" in [m.value for m in app.markdown]

    label_selection(app, "my new class")

    ids = load_sample().ids
    assert stored(db) == {ids[r]: "my new class" for r in rows}
    assert labeled_metric(app) == 5
    assert any("5 labeled" in c.value for c in app.caption if c.value.startswith("Map:"))


def test_without_a_model_no_class_is_guessed_and_the_label_button_waits_for_one(app):
    select_rows(app, [4, 5, 6])
    assert app.selectbox(key="bulk_class").value is None
    assert app.button(key="bulk_label").disabled


def test_with_a_model_the_class_defaults_to_the_models_majority_prediction(db, sample_truth):
    y_true, names = sample_truth
    trousers = rows_of(y_true, 1, 20)
    prelabel(db, {names[1]: trousers[:10], names[8]: rows_of(y_true, 8, 10)})
    at = run(AppTest.from_file(APP, default_timeout=TIMEOUT))

    select_rows(at, trousers[10:])

    assert any(c.value.startswith(f"Model predicts: {names[1]}") for c in at.caption)
    assert at.selectbox(key="bulk_class").value == names[1]
    assert not at.button(key="bulk_label").disabled


@pytest.mark.parametrize(
    "mode",
    [
        "Predicted class",
        "Uncertainty (entropy)",
        "Similarity to labeled classes",
        "Flip consistency (image vs mirror image)",
        "Committee disagreement",
        "Difficulty (uncertainty + disagreement)",
    ],
)
def test_every_coloring_draws_once_a_model_exists(db, sample_truth, mode):
    y_true, names = sample_truth
    prelabel(db, {names[1]: rows_of(y_true, 1, 10), names[8]: rows_of(y_true, 8, 10)})
    at = run(AppTest.from_file(APP, default_timeout=TIMEOUT))

    run(at.radio(key="color_by").set_value(mode))

    assert "map" in charts(at)
    assert not [c for c in at.caption if "Showing labels" in c.value]  # no fallback: the coloring was computable


def test_selection_ignores_points_outside_the_pool(app):
    select_rows(app, [1, 2, 2000, 10**6])  # rows past the pool's end cannot be labeled
    assert "**2 items selected**" in [m.value for m in app.markdown]


def test_undo_restores_the_labels_the_last_action_replaced(app, db):
    ids = load_sample().ids
    select_rows(app, [0, 1, 2])
    label_selection(app, "Trouser")
    select_rows(app, [1, 2, 3])
    label_selection(app, "Bag")
    assert stored(db) == {ids[0]: "Trouser", ids[1]: "Bag", ids[2]: "Bag", ids[3]: "Bag"}

    run(app.button(key="undo").click())

    assert stored(db) == {ids[0]: "Trouser", ids[1]: "Trouser", ids[2]: "Trouser"}
    assert labeled_metric(app) == 3


# --------------------------------------------------------------------------------------------- Train


def test_retrain_with_one_class_warns_and_records_no_round(app, db, sample_truth):
    y_true, names = sample_truth
    select_rows(app, rows_of(y_true, 1, 10))
    label_selection(app, names[1])
    go_to(app, "train")

    run(app.button(key="retrain").click())

    assert "at least two classes" in texts(app.warning)
    assert stored_rounds(db) == []
    assert "curve" not in charts(app)


def test_retrain_with_two_classes_shows_a_round_curve_and_confusion_matrix(app, db, sample_truth):
    y_true, names = sample_truth
    for c in (1, 8):  # Trouser, Bag: easy to tell apart
        select_rows(app, rows_of(y_true, c, 15))
        label_selection(app, names[c])
    go_to(app, "train")
    assert "No rounds yet" in texts(app.info)

    run(app.button(key="retrain").click())

    assert "Round 1: 30 labels" in texts(app.success)
    (round_,) = stored_rounds(db)
    assert round_["n_labeled"] == 30 and round_["accuracy"] is not None
    assert {"curve", "confusion"} <= set(charts(app))


def test_train_ranks_difficulty_and_queues_the_hardest_items_of_a_cluster(db, sample_truth):
    y_true, names = sample_truth
    prelabel(db, {names[c]: rows_of(y_true, c, 6) for c in range(10)})
    at = run(AppTest.from_file(APP, default_timeout=TIMEOUT))
    go_to(at, "train")
    run(at.button(key="retrain").click())
    run(at.button(key="rank_difficulty").click())
    assert not at.exception and not at.warning, (at.exception, at.warning)
    (clusters,) = [d.value for d in at.dataframe if "expected_work" in d.value.columns]
    assert len(clusters) == 10 and clusters["expected_work"].is_monotonic_decreasing
    assert "with pseudo-labels (measured, not in use)" in charts(at)["curve"].proto.spec  # the second curve
    run(at.button(key="queue_hardest").click())
    queued = at.session_state["queue"]
    labeled_rows = set(load_sample().index_of(list(stored(db))).tolist())
    assert len(queued) == 10 and not set(queued) & labeled_rows
    assert at.session_state["queue_from"].startswith("difficulty")


# --------------------------------------------------------------------------------------------- Queue


def test_queue_fills_with_k_items_and_set_label_stores_a_queue_label(app, db):
    go_to(app, "queue")
    run(app.number_input(key="queue_k").set_value(4))
    run(app.button(key="fill_queue").click())
    set_buttons = [b for b in app.button if b.key and b.key.startswith("set_")]
    assert len(set_buttons) == 4
    assert not [b for b in app.button if b.key and b.key.startswith("accept_")]  # no model, no suggestion

    row = int(set_buttons[0].key.removeprefix("set_"))
    run(app.selectbox(key=f"pick_{row}").select("Sneaker"))
    run(app.button(key=f"set_{row}").click())

    item = load_sample().ids[row]
    assert stored(db) == {item: "Sneaker"}
    assert [e["source"] for e in stored_events(db) if e["item_id"] == item] == ["queue"]
    assert len([b for b in app.button if b.key and b.key.startswith("set_")]) == 3  # it left the queue


def test_queue_accept_stores_the_models_suggestion(db, sample_truth):
    y_true, names = sample_truth
    prelabel(db, {names[1]: rows_of(y_true, 1, 10), names[8]: rows_of(y_true, 8, 10)})
    at = run(AppTest.from_file(APP, default_timeout=TIMEOUT))
    go_to(at, "queue")
    accept = [b for b in at.button if b.key and b.key.startswith("accept_")]
    assert len(accept) == 10  # the default k, each with a suggestion

    row = int(accept[0].key.removeprefix("accept_"))
    suggested = accept[0].label.removeprefix("Accept ")
    run(accept[0].click())

    item = load_sample().ids[row]
    assert stored(db)[item] == suggested
    assert [e["source"] for e in stored_events(db) if e["item_id"] == item] == ["accepted"]
    assert labeled_metric(at) == 21


def test_queue_correcting_a_suggestion_stores_a_correction_and_train_shows_suggestion_accuracy(db, sample_truth):
    y_true, names = sample_truth
    prelabel(db, {names[1]: rows_of(y_true, 1, 10), names[8]: rows_of(y_true, 8, 10)})
    at = run(AppTest.from_file(APP, default_timeout=TIMEOUT))
    go_to(at, "queue")
    accept = [b for b in at.button if b.key and b.key.startswith("accept_")]
    row = int(accept[0].key.removeprefix("accept_"))
    suggested = accept[0].label.removeprefix("Accept ")
    other = next(n for n in (names[1], names[8]) if n != suggested)
    run(at.selectbox(key=f"pick_{row}").select(other))
    run(at.button(key=f"set_{row}").click())
    run(at.button(key=f"accept_{int(accept[1].key.removeprefix('accept_'))}").click())
    sources = {e["item_id"]: e["source"] for e in stored_events(db) if e["source"] != "bulk"}
    assert sorted(sources.values()) == ["accepted", "corrected"]

    go_to(at, "train")
    run(at.button(key="retrain").click())
    assert "suggestions" in charts(at)
    assert "right for 1 of 2 suggestions (50%)" in texts(at.caption)


def test_queue_accept_all_stores_every_suggestion_of_the_page_in_one_action(db, sample_truth):
    y_true, names = sample_truth
    prelabel(db, {names[1]: rows_of(y_true, 1, 10), names[8]: rows_of(y_true, 8, 10)})
    at = run(AppTest.from_file(APP, default_timeout=TIMEOUT))
    go_to(at, "queue")
    run(at.button(key="bulk_accept").click())
    accepted = [e for e in stored_events(db) if e["source"] == "accepted"]
    assert len(accepted) == 10 and len({e["action_id"] for e in accepted}) == 1
    assert labeled_metric(at) == 30


# ---------------------------------------------------------------------------------------------- Data


def _load_path(at: AppTest, kind: str, label: str, path: str) -> AppTest:
    run(at.radio(key="data_kind").set_value(kind))
    (box,) = [t for t in at.text_input if t.label == label]
    run(box.input(path))
    return run(at.button(key="load").click())


def test_loading_a_missing_folder_shows_an_error_and_keeps_the_labels(app, db, tmp_path):
    select_rows(app, [7, 8, 9])
    label_selection(app, "kept")
    before = stored(db)
    go_to(app, "data")

    _load_path(app, "Image folder on this machine", "Folder path", str(tmp_path / "no" / "such" / "folder"))

    assert "Could not load" in texts(app.error)
    assert stored(db) == before and len(before) == 3
    assert labeled_metric(app) == 3
    assert "Current pool: sample" in [s.value for s in app.subheader]


def test_loading_a_csv_with_nan_embeddings_shows_a_clear_error(app, tmp_path):
    csv = tmp_path / "emb.csv"
    csv.write_text("id,label,e0,e1,e2\na,x,0.1,0.2,0.3\nb,y,0.4,,0.6\nc,x,0.7,0.8,0.9\n")
    go_to(app, "data")

    _load_path(app, "Table with embedding columns (CSV / Parquet)", "CSV or Parquet path", str(csv))

    error = texts(app.error)
    assert "Could not load" in error and "NaN" in error and "e1" in error
    assert "Current pool: sample" in [s.value for s in app.subheader]


TABLE = "Table with embedding columns (CSV / Parquet)"


def plain(elements) -> str:
    """The elements' text with md()'s Markdown escapes removed."""
    return texts(elements).replace("\\", "")


def _type_table_path(at: AppTest, path: Path) -> AppTest:
    go_to(at, "data")
    run(at.radio(key="data_kind").set_value(TABLE))
    (box,) = [t for t in at.text_input if t.label == "CSV or Parquet path"]
    return run(box.input(str(path)))


def test_a_table_text_column_is_chosen_on_the_page_and_empty_texts_are_announced(app, tmp_path):
    csv = tmp_path / "reviews.csv"
    words = ["great fun", "dull plot", "loved the cast", "too long", "sharp and witty", "flat jokes"]
    lines = [f"r{i},{'pos' if i % 2 == 0 else 'neg'},{words[i % 6]} {i},{i}" for i in range(12)]
    csv.write_text("id,label,review,score\n" + "\n".join(lines) + "\nr12,pos,,12\n")
    _type_table_path(app, csv)

    picker = app.selectbox(key="text_column")
    assert picker.options == ["(none: numeric embedding columns)", "review"]  # not id or label
    run(picker.select("review"))
    assert "1 of 13 rows have an empty text in 'review'; they will be left out" in plain(app.info)
    run(app.button(key="load").click())

    assert not app.error, texts(app.error)
    assert "Current pool: reviews" in [s.value for s in app.subheader]
    assert [m.value for m in app.main.metric if m.label == "Items"] == ["12"]
    assert "Dropped 1 rows with empty text in column 'review' (ids: r12)" in plain(app.info)


def test_a_text_column_of_blanks_cannot_be_loaded(app, tmp_path):
    csv = tmp_path / "blank.csv"
    csv.write_text("id,note,e0\na, ,0.1\nb,  ,0.2\nc, ,0.3\n")
    _type_table_path(app, csv)

    run(app.selectbox(key="text_column").select("note"))

    assert "Column 'note' is empty in every row" in plain(app.warning)
    assert not [b for b in app.button if b.key == "load"]


DIGITS = "scikit-learn digits (1,797 8×8 images: 1,438 to label, 359 held out)"


def test_loading_digits_switches_the_pool(app):
    go_to(app, "data")
    run(app.radio(key="data_kind").set_value(DIGITS))
    run(app.button(key="load").click())

    n = len(load_digits_pool())
    assert "Current pool: digits" in [s.value for s in app.subheader]
    assert [m.value for m in app.sidebar.metric if m.label == "Items"] == [f"{n:,}"]
    go_to(app, "explore")
    assert any(c.value.startswith(f"Map: PCA · {n:,} items") for c in app.caption)
    go_to(app, "data")
    assert app.radio(key="data_kind").value == DIGITS  # the page reopens on the pool in use


def test_renaming_a_class_on_the_explore_page_relabels_its_items(app, db, sample_truth):
    y_true, names = sample_truth
    select_rows(app, rows_of(y_true, 1, 5))
    label_selection(app, "trousrs")
    run(app.selectbox(key="edit_old").select("trousrs"))
    run(app.text_input(key="edit_new").input("Trousers"))
    run(app.button(key="edit_apply").click())
    assert set(stored(db).values()) == {"Trousers"}
    assert not app.exception


@pytest.mark.parametrize("strategy", ["consistency", "loss_prediction"])
def test_queue_and_compare_offer_consistency_and_loss_prediction(db, sample_truth, strategy):
    y_true, names = sample_truth
    prelabel(db, {names[1]: rows_of(y_true, 1, 10), names[8]: rows_of(y_true, 8, 10)})
    at = go_to(run(AppTest.from_file(APP, default_timeout=TIMEOUT)), "queue")
    run(at.selectbox(key="queue_strategy").select(strategy))
    run(at.number_input(key="queue_k").set_value(4))
    run(at.button(key="fill_queue").click())
    assert not at.error
    assert len([b for b in at.button if b.key and b.key.startswith("set_")]) == 4
    assert strategy in go_to(at, "compare").multiselect(key="cmp_strategies").options


def test_queue_labels_an_item_with_its_look_alikes_in_one_bulk_action(db, sample_truth):
    y_true, names = sample_truth
    prelabel(db, {names[1]: rows_of(y_true, 1, 10), names[8]: rows_of(y_true, 8, 10)})
    at = run(AppTest.from_file(APP, default_timeout=TIMEOUT))
    go_to(at, "queue")
    run(at.number_input(key="look_alikes_n").set_value(7))
    row = at.session_state["queue"][0]
    run(at.selectbox(key=f"look_alikes_class_{row}").select(names[8]))
    run(at.button(key="look_alikes_label").click())
    bulk = [e for e in stored_events(db) if e["source"] == "bulk" and e["label"] == names[8]]
    new = [e for e in bulk if e["item_id"] not in {load_sample().ids[r] for r in rows_of(y_true, 8, 10)}]
    assert len(new) == 8 and len({e["action_id"] for e in new}) == 1  # the item and its 7 look-alikes, one action
    assert load_sample().ids[row] in {e["item_id"] for e in new}
    assert labeled_metric(at) == 28
    assert f"set_{row}" not in {b.key for b in at.button}  # it left the queue


def test_a_label_action_sends_the_map_only_the_rows_it_recolored(app, sample_truth):
    from alviz.mapframe import decode_frame

    y_true, names = sample_truth
    (first,) = app.get("bidi_component")
    _, arrays = decode_frame(first.proto.bytes)
    assert len(arrays["x"]) == 2000  # the coordinates go once
    rows = rows_of(y_true, 1, 12)
    select_rows(app, rows)
    label_selection(app, names[1])
    (after,) = app.get("bidi_component")
    _, arrays = decode_frame(after.proto.bytes)
    assert "x" not in arrays and arrays["delta_rows"].tolist() == sorted(rows.tolist())


def test_a_ready_umap_map_waits_while_something_is_selected_and_swaps_in_once_it_is_labeled(db, monkeypatch):
    """Issue 13 §1: the map never changes under a selection in progress."""
    from alviz.embed import available_for, cache, embed
    from alviz.projection import UMAP_DEFAULTS, data_key

    monkeypatch.setenv("ALVIZ_UMAP", "1")
    pool = load_sample()
    X = embed(pool, available_for(pool)[0]).X  # what the app's session will hold (from the same disk cache)
    Z = np.random.default_rng(0).normal(size=(len(pool), 2)).astype(np.float32)
    cache.save(cache.default_cache_dir(), data_key(X, "umap", UMAP_DEFAULTS), {"Z": Z})  # "UMAP is done"

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["map_rows"] = np.arange(5)  # a lasso drawn on the PCA map before UMAP landed
    run(at)
    assert any(c.value.startswith("Map: PCA") for c in at.caption)
    assert any("UMAP map is ready" in i.value for i in at.info)

    label_selection(at, pool.class_names[0])
    assert any(c.value.startswith("Map: UMAP") for c in at.caption)  # nothing selected now: UMAP swaps in


def test_a_mixed_selection_starts_with_no_class_chosen(db, sample_truth):
    """Issue 13 §2: a bulk action never defaults to a class the user did not choose."""
    y_true, names = sample_truth
    prelabel(db, {names[1]: rows_of(y_true, 1, 15), names[8]: rows_of(y_true, 8, 15)})
    at = run(AppTest.from_file(APP, default_timeout=TIMEOUT))  # resumes with a model of Trouser vs Bag
    mixed = np.concatenate([np.flatnonzero(y_true == 1)[20:30], np.flatnonzero(y_true == 8)[20:30]])
    select_rows(at, mixed)
    assert at.selectbox(key="bulk_class").value is None
    assert at.button(key="bulk_label").disabled


def test_the_queue_without_a_model_preselects_no_class(app):
    at = go_to(app, "queue")
    picks = [s for s in at.selectbox if str(s.key).startswith("pick_")]
    assert picks and all(s.value is None for s in picks)


def test_undo_on_the_queue_page_restores_the_answer_and_brings_the_item_back(app, db):
    """Issue 13 §3: undo wherever labels are given, with the same semantics as on Explore."""
    go_to(app, "queue")
    run(app.number_input(key="queue_k").set_value(4))
    run(app.button(key="fill_queue").click())
    shown = [b.key for b in app.button if b.key and b.key.startswith("set_")]
    row = int(shown[0].removeprefix("set_"))
    run(app.selectbox(key=f"pick_{row}").select("Sneaker"))
    run(app.button(key=f"set_{row}").click())
    assert stored(db) == {load_sample().ids[row]: "Sneaker"} and f"set_{row}" not in {b.key for b in app.button}

    run(app.button(key="queue_undo").click())
    assert stored(db) == {}
    assert [b.key for b in app.button if b.key and b.key.startswith("set_")] == shown  # back in its place


def test_coming_back_to_explore_sends_the_map_whole(app):
    """The browser builds a new, empty map when the page is entered again: the first frame must carry it all."""
    from alviz.mapframe import decode_frame

    run(app)  # a rerun on the same page: a small frame
    _, arrays = decode_frame(app.get("bidi_component")[0].proto.bytes)
    assert "x" not in arrays
    go_to(app, "train")
    go_to(app, "explore")
    _, arrays = decode_frame(app.get("bidi_component")[0].proto.bytes)
    assert len(arrays["x"]) == 2000 and len(arrays["codes"]) == 2000


def test_a_key_pressed_for_a_card_already_answered_does_not_answer_the_next_one(db, sample_truth):
    """Issue 13 §2: a fast double Enter must not answer an item the user never saw."""
    y_true, names = sample_truth
    prelabel(db, {names[1]: rows_of(y_true, 1, 10), names[8]: rows_of(y_true, 8, 10)})
    at = run(AppTest.from_file(APP, default_timeout=TIMEOUT))
    go_to(at, "queue")
    before = stored(db)
    shown = load_sample().ids[at.session_state["queue"][0]]
    at.session_state["queue_keys"] = {"key": "Enter", "n": "stale-1", "item": "fmnist-some-other-item"}
    run(at)
    assert stored(db) == before  # the press belonged to another card: nothing stored
    at.session_state["queue_keys"] = {"key": "Enter", "n": "fresh-1", "item": str(shown)}
    run(at)
    assert set(stored(db)) - set(before) == {shown}  # the same key on the card shown answers it


def test_the_next_selection_does_not_inherit_the_class_given_to_the_last(app, sample_truth):
    y_true, names = sample_truth
    select_rows(app, rows_of(y_true, 1, 5))
    label_selection(app, names[1])
    select_rows(app, rows_of(y_true, 8, 5))
    assert app.selectbox(key="bulk_class").value is None


def test_keys_answer_the_quality_check_shown_first_and_store_a_second_opinion(db, sample_truth):
    """Issue 13 §6: with quality-check items above the queue, a digit answers the first of them (blind, as a
    second opinion that leaves the teammate's label current), not the queue's item."""
    y_true, names = sample_truth
    prelabel(db, {names[1]: rows_of(y_true, 1, 10), names[8]: rows_of(y_true, 8, 10)})
    ids = load_sample().ids
    teammate = ids[rows_of(y_true, 5, 3)].tolist()
    store = Store(db)
    try:
        pid = store.project(PROJECT)
        store.add_labels(pid, teammate, names[5], "alice", "bulk")
        store.update_settings(pid, qc_fraction=1.0)  # every item one teammate labeled is checked
    finally:
        store.close()

    at = run(AppTest.from_file(APP, default_timeout=TIMEOUT))
    go_to(at, "queue")
    (now,) = [c.value for c in at.caption if c.value.startswith("Now")]
    assert now.startswith("Now (quality check): id ")
    first_qc = now.removeprefix("Now (quality check): id ").replace("\\", "")
    assert first_qc in teammate
    queue_item = ids[at.session_state["queue"][0]]
    (keys,) = [m.value for m in at.markdown if "**s** skip" in m.value]
    assert "Enter" not in keys  # blind: no suggestion to accept
    digit = keys.split(f"** {names[1]}")[0].rsplit("**", 1)[1]
    at.session_state["queue_keys"] = {"key": digit, "n": "qc-1", "item": first_qc}
    run(at)
    assert [(e["item_id"], e["label"], e["source"]) for e in stored_events(db)[-1:]] == [(first_qc, names[1], "qc")]
    assert stored(db)[first_qc] == names[5]  # alice's label stays current until a reviewer resolves
    assert queue_item not in stored(db)  # the key did not answer the queue's item
