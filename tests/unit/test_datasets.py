"""Loaders turn real files on disk into Pools, and refuse bad input with a message that says what to fix."""

from __future__ import annotations

import gzip
import os

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from alviz import datasets
from alviz.datasets import (
    balanced_indices,
    fashion_mnist_available,
    load,
    load_digits_pool,
    load_fashion_mnist,
    load_image_folder,
    load_npz_xy,
    load_sample,
    load_table,
    read_idx,
)

# ------------------------------------------------------------------------------------------ built-ins


def test_bundled_sample_is_balanced_2000_pool_and_1000_test():
    pool = load_sample()
    assert len(pool) == 2000 and len(pool.test) == 1000
    assert pool.class_names == datasets.FASHION_MNIST_CLASSES
    assert pool.images.shape == (2000, 28, 28) and pool.images.dtype == np.uint8
    assert np.bincount(pool.y_true).tolist() == [200] * 10
    assert np.bincount(pool.test.y_true).tolist() == [100] * 10
    assert len(set(pool.ids) | set(pool.test.ids)) == 3000
    assert pool.ids[0].startswith("fmnist-train-") and pool.test.ids[0].startswith("fmnist-test-")


def test_sample_location_can_be_overridden_by_env_var(tmp_path, monkeypatch):
    monkeypatch.setenv("ALVIZ_SAMPLE_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="make_sample"):
        load_sample()


def test_digits_have_a_stratified_held_out_test_set():
    pool = load_digits_pool(test_fraction=0.2, seed=0)
    assert len(pool) + len(pool.test) == 1797
    assert pool.images.dtype == np.uint8 and pool.images.max() == 255
    assert pool.class_names == [str(d) for d in range(10)]
    test_share = np.bincount(pool.test.y_true) / (np.bincount(pool.test.y_true) + np.bincount(pool.y_true))
    assert np.allclose(test_share, 0.2, atol=0.02)
    assert not set(pool.ids) & set(pool.test.ids)


def test_fashion_mnist_subset_is_balanced_and_matches_the_sample_ids():
    if not fashion_mnist_available():
        pytest.skip("Debian package dataset-fashion-mnist is not installed")
    pool = load_fashion_mnist(n_pool=500, n_test=200, seed=0)
    assert pool.name == "fashion-mnist-500"
    assert len(pool) == 500 and len(pool.test) == 200
    assert sorted(np.bincount(pool.y_true).tolist()) == [50] * 10
    # The same id means the same image in the sample and the full dataset, so labels carry over.
    sample = load_sample()
    full_rows = np.array([int(i.rsplit("-", 1)[1]) for i in sample.ids[:20]])
    full = read_idx(datasets.FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz")
    assert np.array_equal(full[full_rows], sample.images[:20])


def test_fashion_mnist_missing_files_say_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.builtin, "FASHION_MNIST_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist()


def test_idx_reader_reads_plain_and_gzip_files(tmp_path):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    raw = bytes([0, 0, 0x08, 3]) + np.array([2, 3, 4], dtype=">u4").tobytes() + arr.tobytes()
    (tmp_path / "a.idx").write_bytes(raw)
    (tmp_path / "a.idx.gz").write_bytes(gzip.compress(raw))
    assert np.array_equal(read_idx(tmp_path / "a.idx"), arr)
    assert np.array_equal(read_idx(tmp_path / "a.idx.gz"), arr)
    (tmp_path / "bad.idx").write_bytes(raw[:-1])
    with pytest.raises(ValueError, match="bytes"):
        read_idx(tmp_path / "bad.idx")


def test_balanced_indices_spread_a_remainder_over_classes():
    y = np.repeat(np.arange(3), 10)
    rows = balanced_indices(y, 10, seed=1)
    assert sorted(np.bincount(y[rows]).tolist()) == [3, 3, 4]
    assert np.array_equal(rows, balanced_indices(y, 10, seed=1))


# --------------------------------------------------------------------------------------- image folders


def _png(path, mode="RGB", size=(20, 10), value=128):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value).save(path)


def test_image_folder_uses_subfolders_as_classes_and_notes_skipped_files(tmp_path):
    for cls, n in (("cat", 3), ("dog", 2)):
        for i in range(n):
            _png(tmp_path / cls / f"{i}.png", value=(40 * i, 0, 0))
    _png(tmp_path / "loose.png")
    (tmp_path / "dog" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (tmp_path / "readme.txt").write_text("hello")
    _png(tmp_path / ".hidden" / "x.png")
    _png(tmp_path / "cat" / ".thumb.png")

    pool = load_image_folder(tmp_path, size=16)
    assert len(pool) == 6
    assert pool.class_names == ["cat", "dog"]
    assert pool.images.shape == (6, 16, 16, 3)
    y = dict(zip(pool.ids, pool.y_true, strict=True))
    assert y["cat/0.png"] == 0 and y["dog/1.png"] == 1 and y["loose.png"] == -1
    note = next(n for n in pool.notes if n.startswith("Skipped"))
    assert "2 unreadable files" in note and "dog/broken.jpg" in note and "readme.txt" in note


def test_an_image_over_the_pixel_limit_is_called_too_large_not_unreadable(tmp_path, monkeypatch):
    monkeypatch.setenv("ALVIZ_MAX_IMAGE_PIXELS", "300")
    _png(tmp_path / "small.png", size=(10, 10))
    _png(tmp_path / "wide.png", size=(40, 20))
    (tmp_path / "broken.png").write_bytes(b"not a png")

    pool = load_image_folder(tmp_path, size=8)
    assert pool.ids.tolist() == ["small.png"]
    (big,) = [n for n in pool.notes if "wide.png" in n]
    assert big == "Skipped 1 images too large to decode: wide.png (40x20 pixels, limit 300 pixels)"
    assert "unreadable" not in big
    assert any(n == "Skipped 1 unreadable files: broken.png" for n in pool.notes)


def test_image_folder_without_subfolders_has_no_ground_truth(tmp_path):
    for i in range(3):
        _png(tmp_path / f"{i}.png", mode="L", size=(8, 8), value=i)
    pool = load_image_folder(tmp_path, size=8)
    assert pool.y_true is None and pool.class_names == []
    assert pool.images.shape == (3, 8, 8)


def test_mixed_modes_and_sizes_become_one_uint8_array(tmp_path):
    _png(tmp_path / "gray.png", "L", (30, 10), 200)
    _png(tmp_path / "rgb.png", "RGB", (10, 40), (255, 0, 0))
    Image.new("RGBA", (12, 12), (0, 0, 255, 0)).save(tmp_path / "clear.png")
    pal = Image.new("P", (50, 20), 1)
    pal.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    pal.save(tmp_path / "palette.png")
    Image.fromarray(np.linspace(0, 4095, 64 * 64).reshape(64, 64).astype(np.uint16)).save(tmp_path / "deep.png")

    pool = load_image_folder(tmp_path, size=24)
    assert pool.images.shape == (5, 24, 24, 3) and pool.images.dtype == np.uint8
    img = dict(zip(pool.ids, pool.images, strict=True))
    assert (img["clear.png"] == 255).all()  # fully transparent -> white
    assert img["palette.png"][12, 12].tolist() == [0, 255, 0]
    assert img["deep.png"].max() > 240 and img["deep.png"].min() < 15  # 12-bit data stretched, not dark
    assert img["gray.png"][12, 12].tolist() == [200, 200, 200]


def test_image_folder_with_no_readable_images_raises(tmp_path):
    (tmp_path / "notes.txt").write_text("no pictures here")
    with pytest.raises(ValueError, match="No readable images"):
        load_image_folder(tmp_path)


def test_image_folder_test_fraction_holds_out_labeled_images(tmp_path):
    for cls in ("a", "b"):
        for i in range(5):
            _png(tmp_path / cls / f"{i}.png", "L", (6, 6), i * 10)
    pool = load_image_folder(tmp_path, size=6, test_fraction=0.4, seed=0)
    assert len(pool) == 6 and len(pool.test) == 4
    assert np.bincount(pool.test.y_true).tolist() == [2, 2]


# ---------------------------------------------------------------------------------------------- tables


def _embedding_frame(n=6):
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(n, 4)), columns=["e0", "e1", "e2", "e3"])
    df.insert(0, "id", [f"item-{i}" for i in range(n)])
    df["label"] = ["cat", "dog", None, "cat", "bird", "dog"][:n]
    df["caption"] = "some text"
    return df


def test_clean_csv_loads_vectors_ids_and_string_labels(tmp_path):
    df = _embedding_frame()
    df.to_csv(tmp_path / "emb.csv", index=False)
    pool = load_table(tmp_path / "emb.csv")
    assert pool.name == "emb"
    assert pool.ids.tolist() == df["id"].tolist()
    assert pool.vectors.dtype == np.float32 and pool.vectors.shape == (6, 4)
    assert np.allclose(pool.vectors, df[["e0", "e1", "e2", "e3"]].to_numpy(), atol=1e-6)
    assert pool.class_names == ["bird", "cat", "dog"]
    assert pool.y_true.tolist() == [1, 2, -1, 1, 0, 2]


def test_parquet_round_trips_with_named_columns(tmp_path):
    df = _embedding_frame().rename(columns={"id": "key", "label": "kind"})
    df.to_parquet(tmp_path / "emb.parquet")
    pool = load_table(tmp_path / "emb.parquet", id_column="key", label_column="kind", feature_columns=["e1", "e2"])
    assert pool.ids.tolist() == df["key"].tolist()
    assert np.allclose(pool.vectors, df[["e1", "e2"]].to_numpy(), atol=1e-6)
    assert pool.class_names == ["bird", "cat", "dog"]


def test_table_without_id_column_uses_row_numbers_and_ignores_saved_index(tmp_path):
    df = _embedding_frame().drop(columns=["id"])
    df.to_csv(tmp_path / "emb.csv")  # index=True writes an "Unnamed: 0" column
    pool = load_table(tmp_path / "emb.csv")
    assert pool.ids.tolist() == [str(i) for i in range(6)]
    assert pool.vectors.shape == (6, 4)


def test_table_with_nan_in_embedding_says_how_many_rows_and_which_columns(tmp_path):
    df = _embedding_frame()
    df.loc[[1, 4], "e3"] = np.nan
    df.loc[1, "e0"] = np.inf
    df.to_csv(tmp_path / "emb.csv", index=False)
    with pytest.raises(ValueError, match=r"2 rows have NaN or inf in embedding columns \(e0, e3\)"):
        load_table(tmp_path / "emb.csv")


def test_table_with_missing_named_column_lists_available_columns(tmp_path):
    _embedding_frame().to_csv(tmp_path / "emb.csv", index=False)
    with pytest.raises(ValueError, match="not found") as err:
        load_table(tmp_path / "emb.csv", label_column="category")
    assert "'category'" in str(err.value) and "e0" in str(err.value)


def test_table_with_duplicate_ids_names_them(tmp_path):
    df = _embedding_frame()
    df.loc[3, "id"] = "item-0"
    df.to_csv(tmp_path / "emb.csv", index=False)
    with pytest.raises(ValueError, match="duplicate ids") as err:
        load_table(tmp_path / "emb.csv")
    assert "item-0" in str(err.value)


def test_table_with_no_numeric_columns_lists_the_columns_found(tmp_path):
    # (a column named "text" would make a text pool: see tests/unit/test_embedders.py)
    pd.DataFrame({"id": ["a", "b"], "word": ["x", "y"]}).to_csv(tmp_path / "words.csv", index=False)
    with pytest.raises(ValueError, match="no numeric feature columns") as err:
        load_table(tmp_path / "words.csv")
    assert "word" in str(err.value)


def test_a_table_of_fewer_than_3_rows_is_refused(tmp_path):
    _embedding_frame(2).to_csv(tmp_path / "two.csv", index=False)
    with pytest.raises(ValueError, match=r"two.csv has 2 rows; alviz needs at least 3 items"):
        load_table(tmp_path / "two.csv")
    _embedding_frame(3).to_csv(tmp_path / "three.csv", index=False)
    assert len(load_table(tmp_path / "three.csv")) == 3


def test_a_table_lists_the_columns_used_and_ignored_naming_the_rows_of_odd_cells(tmp_path):
    df = _embedding_frame()
    df["e4"] = ["1.5", "2", "x1", "4", "?", "6"]  # numeric but for two cells: loaded as text by pandas
    df["flag"] = [True, False] * 3
    df.to_csv(tmp_path / "emb.csv", index=False)
    pool = load_table(tmp_path / "emb.csv")
    assert pool.vectors.shape == (6, 4)
    assert "Embedding: 4 numeric columns (e0, e1, e2, e3); ids from 'id'; ground truth from 'label'." in pool.notes
    assert "Ignored column 'caption': text, not numbers." in pool.notes
    assert "Ignored column 'flag': true/false values, not embedding numbers." in pool.notes
    (odd,) = [n for n in pool.notes if "'e4'" in n]
    assert "numeric except 2 cells" in odd and "item-2 ('x1')" in odd and "item-4 ('?')" in odd


def test_a_table_without_id_column_says_labels_are_keyed_by_row_number(tmp_path):
    _embedding_frame().drop(columns=["id"]).to_csv(tmp_path / "emb.csv", index=False)
    (note,) = [n for n in load_table(tmp_path / "emb.csv").notes if n.startswith("No id column")]
    assert "keyed by row number (0 to 5)" in note and "reordered" in note and "add an 'id' column" in note
    _embedding_frame().to_csv(tmp_path / "ids.csv", index=False)
    assert not any("No id column" in n for n in load_table(tmp_path / "ids.csv").notes)


def test_a_table_typed_as_a_folder_or_a_folder_typed_as_a_table_is_named(tmp_path):
    _embedding_frame().to_csv(tmp_path / "emb.csv", index=False)
    assert "'emb.csv' is a file, not a folder of images: choose the table option" in datasets.wrong_kind(
        tmp_path / "emb.csv", "folder"
    )
    assert "is a folder, not a CSV or Parquet table" in datasets.wrong_kind(tmp_path, "table")
    assert datasets.wrong_kind(tmp_path / "emb.csv", "table") is None
    assert datasets.wrong_kind(tmp_path, "folder") is None
    assert datasets.wrong_kind(tmp_path / "missing", "folder") is None  # loading says it is missing


def test_table_with_unknown_suffix_is_refused(tmp_path):
    (tmp_path / "emb.xlsx").write_bytes(b"")
    with pytest.raises(ValueError, match=".csv or .parquet"):
        load_table(tmp_path / "emb.xlsx")


def test_inspect_table_offers_the_string_columns_but_id_and_label_from_csv_and_parquet(tmp_path):
    df = pd.DataFrame({"id": ["a", "b", "c"], "label": ["x", "y", "x"], "body": ["hi", "NA", " "], "f0": [1.0, 2, 3]})
    df.to_csv(tmp_path / "t.csv", index=False)
    df.to_parquet(tmp_path / "t.parquet")
    for name in ("t.csv", "t.parquet"):
        info = datasets.inspect_table(tmp_path / name)
        assert info.columns == ["id", "label", "body", "f0"] and info.text_candidates == ["body"]


def test_empty_texts_counts_the_rows_the_loader_drops(tmp_path):
    """In a CSV "NA" is a word; a blank cell is empty. The loader drops exactly the rows counted."""
    df = pd.DataFrame({"body": ["hi", "NA", " ", None, "ok"], "f0": range(5)})
    df.to_csv(tmp_path / "t.csv", index=False)
    df.to_parquet(tmp_path / "t.parquet")
    assert datasets.empty_texts(tmp_path / "t.csv", "body") == (2, 5)
    assert datasets.empty_texts(tmp_path / "t.parquet", "body") == (2, 5)
    assert len(load_table(tmp_path / "t.csv", text_column="body")) == 3


def test_confine_counts_relative_paths_from_the_data_root_and_refuses_a_way_out(tmp_path, monkeypatch):
    root = tmp_path / "root"
    (root / "pets").mkdir(parents=True)
    (root / "escape").symlink_to(tmp_path)
    monkeypatch.setenv("ALVIZ_DATA_ROOT", str(root))
    assert datasets.confine("pets") == root.resolve() / "pets"
    for outside in ("../secret.csv", root / "escape" / "secret.csv", tmp_path):
        with pytest.raises(ValueError, match="outside the data root"):
            datasets.confine(outside)
    with pytest.raises(ValueError, match="outside the data root"):
        datasets.inspect_table(tmp_path / "secret.csv")  # the form's column reader is confined too
    monkeypatch.delenv("ALVIZ_DATA_ROOT")
    assert datasets.confine(tmp_path / "anything") == tmp_path / "anything"  # no root: one local user, anywhere


# ------------------------------------------------------------------------------------------------- npz


def test_npz_maps_labels_to_class_indices_with_a_test_pool(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "xy.npz",
        X=rng.normal(size=(5, 3)),
        y=np.array([10, 3, 3, 10, 7]),
        X_test=rng.normal(size=(2, 3)),
        y_test=np.array([7, 3]),
    )
    pool = load_npz_xy(tmp_path / "xy.npz")
    assert pool.class_names == ["3", "7", "10"]
    assert pool.y_true.tolist() == [2, 0, 0, 2, 1]
    assert pool.test.y_true.tolist() == [1, 0]
    assert pool.vectors.dtype == np.float32


def test_npz_without_y_names_the_keys_found(tmp_path):
    np.savez(tmp_path / "x.npz", X=np.zeros((3, 2)), labels=np.zeros(3))
    with pytest.raises(ValueError, match="'y'") as err:
        load_npz_xy(tmp_path / "x.npz")
    assert "labels" in str(err.value)


# -------------------------------------------------------------------------------------------- dispatch


def test_load_dispatches_by_name_folder_and_suffix(tmp_path):
    assert load("digits").name == "digits"
    _png(tmp_path / "imgs" / "a.png")
    assert load(str(tmp_path / "imgs"), size=8).images.shape == (1, 8, 8, 3)
    _embedding_frame().to_csv(tmp_path / "t.csv", index=False)
    assert load(str(tmp_path / "t.csv")).kind == "vectors"
    np.savez(tmp_path / "xy.npz", X=np.ones((2, 2)), y=np.array([0, 1]))
    assert len(load(str(tmp_path / "xy.npz"))) == 2


def test_load_of_unknown_source_lists_accepted_forms(tmp_path):
    with pytest.raises(ValueError, match="fashion-mnist"):
        load("imagenet")
    (tmp_path / "notes.docx").write_bytes(b"")
    with pytest.raises(ValueError, match=".npz"):
        load(str(tmp_path / "notes.docx"))


def test_an_unchanged_folder_reloads_without_decoding_and_any_change_decodes_again(tmp_path, monkeypatch):
    folder = tmp_path / "photos"
    for i in range(4):
        _png(folder / "cat" / f"{i}.png", value=(30 * i, 0, 0))
    decoded = []
    real = datasets.folders.image_to_array
    monkeypatch.setattr(datasets.folders, "image_to_array", lambda p, size: decoded.append(p.name) or real(p, size))
    seen = []

    first = load_image_folder(folder, size=8, progress=lambda f, msg: seen.append((f, msg)))
    assert len(decoded) == 4 and seen[-1] == (1.0, "Decoded 4 of 4 files")
    assert [f for f, _ in seen] == sorted(f for f, _ in seen)  # per-file progress only moves forward

    again = load_image_folder(folder, size=8)
    assert len(decoded) == 4  # nothing decoded the second time
    assert np.array_equal(again.images, first.images) and again.ids.tolist() == first.ids.tolist()
    assert again.content_hash() == first.content_hash()  # so every embedding cached for it is found again

    _png(folder / "cat" / "2.png", value=(0, 200, 0))  # same name, new content (size/mtime change)
    os.utime(folder / "cat" / "2.png", ns=(1, 1))
    edited = load_image_folder(folder, size=8)
    assert len(decoded) == 8 and not np.array_equal(edited.images, first.images)

    load_image_folder(folder, size=16)  # another size is another decoded copy
    assert len(decoded) == 12
    (folder / "cat" / "0.png").unlink()
    assert len(load_image_folder(folder, size=8)) == 3 and len(decoded) == 15
