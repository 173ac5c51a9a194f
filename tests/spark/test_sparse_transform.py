"""``KMeansModel.transform`` on a ``SparseVector`` column: scored sparse on the Arrow path
(Spark's vector struct, never ``vector_to_array``), with the labels and distances the same
rows get as dense vectors, and the nulls of rows it cannot place."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from kmeans_spark import KMeansModel
from kmeans_spark.datagen import make_topic_documents

from .test_model import on_path


def documents(n: int, d: int, topics: int, seed: int) -> tuple[Any, np.ndarray]:
    """Synthetic TF-IDF rows (CSR) and centres: the mean of each generating topic's rows."""
    docs = make_topic_documents(
        n, d, topics=topics, words_per_doc=12, topic_vocabulary=40, shared_vocabulary=60, seed=seed
    )
    x = sp.csr_array(docs.tfidf())
    centers = np.array([x[np.flatnonzero(docs.labels == j)].mean(axis=0) for j in range(topics)])
    return x, centers


def vector_frame(spark: Any, x: Any, extra: list[Any], dense: bool = True) -> Any:
    """Columns ``id``, ``sparse`` (SparseVector) and, with ``dense``, ``dense`` (the same
    rows as DenseVector), over three partitions and an empty one; ``extra`` rows appended
    as ``(sparse, dense)`` pairs."""
    from pyspark.ml.linalg import DenseVector, SparseVector, VectorUDT
    from pyspark.sql.types import LongType, StructField, StructType

    d = x.shape[1]
    rows: list[tuple[Any, ...]] = []
    for i in range(x.shape[0]):
        a, b = x.indptr[i], x.indptr[i + 1]
        vector = SparseVector(d, x.indices[a:b].tolist(), x.data[a:b].tolist())
        rows.append((i, vector, DenseVector(vector.toArray())) if dense else (i, vector))
    rows += [(x.shape[0] + i, *pair) for i, pair in enumerate(extra)]
    names = ["sparse", "dense"] if dense else ["sparse"]
    schema = StructType(
        [StructField("id", LongType()), *(StructField(c, VectorUDT()) for c in names)]
    )
    sc = spark.sparkContext
    rdd = sc.parallelize(rows, 3).union(sc.parallelize([], 1))
    return spark.createDataFrame(rdd, schema)


def brute(x: Any, centers: np.ndarray, cosine: bool) -> tuple[np.ndarray, np.ndarray]:
    """Labels and distances by explicit differences on the densified rows."""
    dense = x.toarray()
    if cosine:
        unit = centers / np.linalg.norm(centers, axis=1, keepdims=True)
        cos = (dense / np.linalg.norm(dense, axis=1, keepdims=True)) @ unit.T
        return cos.argmax(axis=1), 1.0 - cos.max(axis=1)
    dist = np.sqrt(((dense[:, None, :] - centers[None]) ** 2).sum(axis=2))
    return dist.argmin(axis=1), dist.min(axis=1)


def scored(model: KMeansModel, df: Any, column: str) -> list[Any]:
    out = model.copy().setFeaturesCol(column).setPredictionCol("p").transform(df)
    return out.select("id", "p", "dist").orderBy("id").collect()


@pytest.mark.parametrize("measure", ["euclidean", "cosine"])
def test_sparse_and_dense_vectors_get_the_same_labels_and_distances(
    spark: Any, measure: str
) -> None:
    from pyspark.ml.linalg import DenseVector, SparseVector

    x, centers = documents(300, 200, 5, seed=3)
    empty = (SparseVector(200, [], []), DenseVector(np.zeros(200)))
    short = (SparseVector(199, [0], [1.0]), DenseVector(np.ones(199)))
    df = vector_frame(spark, x, [(None, None), empty, short])
    model = KMeansModel(centers).setDistanceCol("dist")
    model = model.copy({model.distanceMeasure: measure})
    assert model.scoringPath() == "arrow"
    sparse_rows, dense_rows = scored(model, df, "sparse"), scored(model, df, "dense")
    labels, dist = brute(x, centers, measure == "cosine")
    n = x.shape[0]
    assert [r.p for r in sparse_rows[:n]] == [r.p for r in dense_rows[:n]] == labels.tolist()
    np.testing.assert_allclose([r.dist for r in sparse_rows[:n]], dist, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        [r.dist for r in sparse_rows[:n]], [r.dist for r in dense_rows[:n]], rtol=1e-9, atol=1e-12
    )
    for a, b in zip(sparse_rows[n:], dense_rows[n:], strict=True):
        assert a.p == b.p and (a.dist is None) == (b.dist is None)
        assert a.dist is None or a.dist == pytest.approx(b.dist, rel=1e-9)
    null, zero, other = sparse_rows[n:]
    assert (null.p, null.dist) == (None, None) and (other.p, other.dist) == (None, None)
    if measure == "cosine":  # an empty document has no direction
        assert (zero.p, zero.dist) == (None, None)
    else:
        norms = np.linalg.norm(centers, axis=1)
        assert zero.p == int(norms.argmin()) and zero.dist == pytest.approx(norms.min())


@pytest.mark.parametrize("measure", ["euclidean", "cosine"])
def test_a_small_model_scores_sparse_vectors_alike_on_both_paths(spark: Any, measure: str) -> None:
    rng = np.random.default_rng(5)
    stored = rng.random((200, 8)) < 0.4
    stored[:, 0] |= ~stored.any(axis=1)  # no empty row: each has a direction
    x = sp.csr_array(np.where(stored, rng.random((200, 8)), 0.0))
    centers = rng.random((3, 8))
    df = vector_frame(spark, x, [], dense=False)
    base = KMeansModel(centers).setDistanceCol("dist")
    base = base.copy({base.distanceMeasure: measure})
    labels, dist = brute(x, centers, measure == "cosine")
    for path in ("jvm", "arrow"):
        rows = scored(on_path(base, path), df, "sparse")
        assert [r.p for r in rows] == labels.tolist(), path
        np.testing.assert_allclose([r.dist for r in rows], dist, rtol=1e-9, atol=1e-12)


def test_hashed_documents_of_2_18_features_are_scored(spark: Any) -> None:
    """HashingTF's default width: each row is 2 MB dense, a few hundred bytes sparse."""
    x, centers = documents(400, 2**18, 4, seed=7)
    df = vector_frame(spark, x, [], dense=False)
    model = KMeansModel(centers).setDistanceCol("dist")
    model = model.copy({model.distanceMeasure: "cosine"})
    rows = scored(model, df, "sparse")
    unit = centers / np.linalg.norm(centers, axis=1, keepdims=True)
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    cos = np.asarray(x @ unit.T) / norms[:, None]
    assert [r.p for r in rows] == cos.argmax(axis=1).tolist()
    np.testing.assert_allclose([r.dist for r in rows], 1.0 - cos.max(axis=1), rtol=1e-9)
