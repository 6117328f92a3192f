"""The `alviz` command: embed writes X and ids; export fails with one clear line, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from alviz.cli import main
from alviz.datasets import load_digits_pool
from alviz.store import Store

ALVIZ = Path(sys.executable).with_name("alviz")


def test_embed_writes_float32_x_and_the_item_ids(tmp_path):
    out = tmp_path / "x.npz"
    assert main(["embed", "--data", "digits", "--out", str(out)]) == 0
    pool = load_digits_pool()
    with np.load(out, allow_pickle=False) as f:
        assert f["X"].dtype == np.float32 and f["X"].shape == (len(pool), 50)
        assert f["ids"].tolist() == pool.ids.tolist()


def test_embed_also_writes_the_test_part_and_ground_truth(tmp_path):
    out = tmp_path / "x.npz"
    main(["embed", "--data", "digits", "--out", str(out)])
    pool = load_digits_pool()
    with np.load(out, allow_pickle=False) as f:
        assert f["X_test"].shape == (len(pool.test), 50) and f["y"].tolist() == pool.y_true.tolist()


def test_embed_of_unknown_data_exits_with_one_line(tmp_path, capsys):
    code = main(["embed", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x.npz")])
    err = capsys.readouterr().err
    assert code != 0 and err.startswith("error: ") and len(err.strip().splitlines()) == 1


def test_embed_with_an_unknown_method_exits_with_the_choices(tmp_path, capsys):
    code = main(["embed", "--data", "digits", "--method", "clip", "--out", str(tmp_path / "x.npz")])
    assert code != 0 and "pixels_pca" in capsys.readouterr().err


def test_export_writes_the_current_labels(tmp_path, capsys):
    db = tmp_path / "labels.db"
    store = Store(db)
    store.add_labels(store.project("p"), ["a", "b"], "cat", "alice", "bulk")
    store.close()
    assert main(["export", "--db", str(db), "--out", str(tmp_path / "labels.csv")]) == 0
    assert "wrote 2 rows" in capsys.readouterr().out


def test_export_of_a_missing_database_exits_with_one_line(tmp_path, capsys):
    code = main(["export", "--db", str(tmp_path / "missing.db"), "--out", str(tmp_path / "labels.csv")])
    err = capsys.readouterr().err
    assert code != 0 and "No label database" in err and len(err.strip().splitlines()) == 1


def test_export_to_an_unknown_suffix_exits_with_one_line(tmp_path, capsys):
    db = tmp_path / "labels.db"
    Store(db).project("p")
    code = main(["export", "--db", str(db), "--out", str(tmp_path / "labels.xlsx")])
    err = capsys.readouterr().err
    assert code != 0 and ".csv" in err and len(err.strip().splitlines()) == 1


def test_export_of_a_file_that_is_not_a_database_exits_with_one_line(tmp_path, capsys):
    junk = tmp_path / "notes.db"
    junk.write_text("not a database\n" * 100)
    code = main(["export", "--db", str(junk), "--out", str(tmp_path / "labels.csv")])
    err = capsys.readouterr().err
    assert code != 0 and "not a database" in err and len(err.strip().splitlines()) == 1


def test_export_needs_db_and_out(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["export"])
    assert exc.value.code != 0 and "--db" in capsys.readouterr().err


@pytest.mark.skipif(not ALVIZ.exists(), reason="the alviz console script is not installed next to this python")
def test_console_script_reports_a_missing_database_without_a_traceback(tmp_path):
    run = subprocess.run(
        [str(ALVIZ), "export", "--db", str(tmp_path / "missing.db"), "--out", str(tmp_path / "x.csv")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode != 0 and "Traceback" not in run.stderr and run.stderr.startswith("error: ")


def test_difficulty_writes_items_hardest_first_and_clusters(tmp_path, capsys, monkeypatch):
    import pandas as pd

    monkeypatch.setenv("ALVIZ_CACHE", str(tmp_path / "cache"))
    pool = load_digits_pool()
    db = tmp_path / "labels.db"
    store = Store(db)
    pid = store.project(pool.name)
    for c in range(10):
        rows = np.flatnonzero(pool.y_true == c)[:4]
        store.add_labels(pid, pool.ids[rows].tolist(), pool.class_names[c], "alice", "single")
    store.close()
    out = tmp_path / "hard.csv"
    assert main(["difficulty", "--data", "digits", "--db", str(db), "--clusters", "8", "--out", str(out)]) == 0
    items, clusters = pd.read_csv(out), pd.read_csv(tmp_path / "hard-clusters.csv")
    assert len(items) == len(pool) and items["difficulty"].is_monotonic_decreasing
    assert items["label"].notna().sum() == 40 and set(items["item_id"]) == set(pool.ids)
    assert len(clusters) == 8 and clusters["expected_work"].is_monotonic_decreasing
    assert clusters["items"].sum() == len(pool)


def test_difficulty_without_a_database_or_labels_exits_with_one_line(tmp_path, capsys):
    missing = tmp_path / "missing.db"
    assert main(["difficulty", "--data", "digits", "--db", str(missing), "--out", str(tmp_path / "d.csv")]) == 2
    assert "No label database" in capsys.readouterr().err and not missing.exists()
    Store(tmp_path / "empty.db").close()
    assert main(["difficulty", "--data", "digits", "--db", str(tmp_path / "empty.db"), "--out", "d.csv"]) == 2
    assert "no labels of two classes" in capsys.readouterr().err
