"""Seeded Gaussian blobs: the default dataset of the demo, the tests and the benchmarks.

Pure numpy. Well-separated blobs have a known optimum (the generating clusters), which is
how seeding quality is judged: the "oracle" SSE of the true labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Blobs:
    x: np.ndarray  # (n, d) points
    labels: np.ndarray  # (n,) generating cluster of each point
    centers: np.ndarray  # (k, d) generating centres

    def oracle_cost(self) -> float:
        """SSE of the points about the means of their generating clusters."""
        cost = 0.0
        for j in range(self.centers.shape[0]):
            members = self.x[self.labels == j]
            if members.size:
                cost += float(((members - members.mean(axis=0)) ** 2).sum())
        return cost


def make_blobs(
    n: int,
    d: int,
    k: int,
    *,
    spread: float = 1.0,
    box: float = 10.0,
    seed: int = 0,
    dtype: type = np.float64,
) -> Blobs:
    """``n`` points from ``k`` isotropic Gaussians of std ``spread`` whose centres are
    uniform in ``[-box, box]^d``; cluster sizes are as equal as ``n`` allows."""
    rng = np.random.default_rng(seed)
    centers = rng.uniform(-box, box, size=(k, d))
    labels = np.arange(n) % k
    rng.shuffle(labels)
    x = centers[labels] + rng.normal(scale=spread, size=(n, d))
    return Blobs(x=x.astype(dtype), labels=labels, centers=centers)


def blobs_frame(blobs: Blobs, id_prefix: str = "p") -> Any:
    """The blobs as a pandas DataFrame: ``id``, ``x0..x{d-1}``, ``label``."""
    import pandas as pd

    frame = pd.DataFrame(blobs.x, columns=[f"x{i}" for i in range(blobs.x.shape[1])])
    frame.insert(0, "id", [f"{id_prefix}{i}" for i in range(len(frame))])
    frame["label"] = blobs.labels
    return frame


def write_blobs(path: str, blobs: Blobs, fmt: str = "parquet", files: int = 2) -> list[str]:
    """Write blobs as ``files`` CSV or Parquet files under directory ``path`` (no Spark)."""
    import os

    import numpy as np

    frame = blobs_frame(blobs)
    os.makedirs(path, exist_ok=True)
    written = []
    for i, part in enumerate(np.array_split(np.arange(len(frame)), files)):
        chunk = frame.iloc[part]
        name = os.path.join(path, f"part-{i:05d}.{fmt}")
        if fmt == "csv":
            chunk.to_csv(name, index=False)
        elif fmt == "parquet":
            chunk.to_parquet(name, index=False)
        else:
            raise ValueError(f"fmt={fmt!r} must be csv or parquet")
        written.append(name)
    return written


@dataclass
class TopicDocuments:
    """Synthetic documents as sparse term counts, with the topic that generated each."""

    counts: Any  # (n_docs, n_features) scipy.sparse.csr_array of term counts, float64
    labels: np.ndarray  # (n_docs,) int64 generating topic of each document
    topics: int

    def tfidf(self, **kwargs: Any) -> Any:
        """:func:`tfidf` of the counts."""
        return tfidf(self.counts, **kwargs)


def make_topic_documents(
    n_docs: int,
    n_features: int = 2**18,
    *,
    words_per_doc: float = 60.0,
    topics: int = 50,
    topic_vocabulary: int = 2000,
    shared_vocabulary: int = 5000,
    shared_fraction: float = 0.5,
    zipf: float = 1.1,
    min_words: int = 1,
    seed: int = 0,
) -> TopicDocuments:
    """Documents of ``topics`` topics as hashed term counts, like ``HashingTF`` output.

    Each document has one topic (as equal shares as ``n_docs`` allows) and a Poisson number
    of words (mean ``words_per_doc``, at least ``min_words``; ``min_words=0`` allows empty
    documents). Each word is, with probability ``shared_fraction``, drawn from a vocabulary
    every topic shares (stop-word-like: IDF weighs it down), else from the topic's own
    vocabulary; both are Zipf-like (rank ``r`` has weight about ``r^-zipf``), as word
    frequencies are. A word drawn twice is one entry of count 2, so a row has fewer
    non-zeros than words (about 45 for 60 words with the defaults; 85 words give about 63).
    Words are hashed into ``n_features`` columns by a fixed random map, so unrelated words
    may collide, as with ``HashingTF``. All vectorised (200k documents of 60 words: ~2 s).

    Returns
    -------
    TopicDocuments
        ``counts`` a canonical CSR array of shape (n_docs, n_features), float64.
    """
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    labels = np.arange(n_docs, dtype=np.int64) % topics
    rng.shuffle(labels)
    lengths = np.maximum(rng.poisson(words_per_doc, size=n_docs), min_words)
    tokens = int(lengths.sum())
    shared = rng.random(tokens) < shared_fraction
    topic_word = _zipf_ranks(topic_vocabulary, zipf, tokens, rng)
    topic_word += shared_vocabulary + topic_vocabulary * np.repeat(labels, lengths)
    words = np.where(shared, _zipf_ranks(shared_vocabulary, zipf, tokens, rng), topic_word)
    column = rng.integers(0, n_features, size=shared_vocabulary + topics * topic_vocabulary)
    indptr = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    index_type = np.int32 if max(n_features, tokens) < 2**31 else np.int64
    counts = sp.csr_array(
        (np.ones(tokens), column[words].astype(index_type), indptr.astype(index_type)),
        shape=(n_docs, n_features),
    )
    counts.sum_duplicates()  # a word twice in a document: one entry, its count
    return TopicDocuments(counts=counts, labels=labels, topics=topics)


def _zipf_ranks(size: int, exponent: float, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` ranks in ``[0, size)``, rank ``r`` with probability close to ``(r+1)^-exponent``:
    the floor of a continuous power law on ``[1, size + 1)`` by its inverse CDF (a few
    arithmetic passes; a search in the discrete CDF costs several times more at 12M draws)."""
    u = rng.random(count)
    if abs(exponent - 1.0) < 1e-12:
        x = np.exp(u * np.log(size + 1.0))
    else:
        a = 1.0 - exponent
        x = (u * ((size + 1.0) ** a - 1.0) + 1.0) ** (1.0 / a)
    return np.minimum(x.astype(np.int64) - 1, size - 1)


def tfidf(
    counts: Any, *, smooth_idf: bool = False, sublinear_tf: bool = False, normalize: bool = True
) -> Any:
    """TF-IDF of sparse term counts, rows L2-normalised (a new CSR array).

    The IDF is Spark ML's ``IDF``, ``log((n + 1) / (df + 1))`` (a term in every document
    weighs ~0), or with ``smooth_idf`` scikit-learn's ``log((n + 1) / (df + 1)) + 1``.
    ``sublinear_tf`` uses ``1 + log(tf)``. Rows left without weight stay empty (zero).
    """
    import scipy.sparse as sp

    x = sp.csr_array(counts, dtype=np.float64, copy=True)
    x.sum_duplicates()
    x.eliminate_zeros()
    n = x.shape[0]
    df = np.bincount(x.indices, minlength=x.shape[1])
    idf = np.log((n + 1.0) / (df + 1.0)) + (1.0 if smooth_idf else 0.0)
    if sublinear_tf:
        x.data = 1.0 + np.log(x.data)
    x.data *= idf[x.indices]
    x.eliminate_zeros()
    if normalize:
        sq = np.bincount(np.repeat(np.arange(n), np.diff(x.indptr)), weights=x.data**2, minlength=n)
        norms = np.sqrt(sq)
        x.data /= np.repeat(np.where(norms > 0, norms, 1.0), np.diff(x.indptr))
    return x
