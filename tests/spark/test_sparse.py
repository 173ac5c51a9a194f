"""``SparseVector`` input stays sparse through the fit: CSR blocks on the executors, the CSR
kernels in every pass, dense centres. The same data as ``DenseVector`` rows (dense blocks,
today's path) gives the same centres (1e-9), for both distance measures, with weights,
restarts and a sweep; lost block files are rebuilt; block files are proportional to the
non-zeros; empty documents under cosine are refused or dropped and counted."""

from __future__ import annotations

import glob
import os
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from kmeans_spark import KMeans, KMeansInputError
from kmeans_spark.blocks import FittedBlocks, ResidentBlocks
from kmeans_spark.datagen import make_topic_documents
from kmeans_spark.dataset import prepare
from kmeans_spark.load import InputStage, LoadSettings

from .helpers import local_root

K = 4
DIM = 300


def documents(n: int = 240, seed: int = 3) -> sp.csr_array:
    """TF-IDF rows of ``n`` synthetic documents of 4 topics, ~4% of ``DIM`` stored per row."""
    docs = make_topic_documents(
        n,
        DIM,
        words_per_doc=12.0,
        topics=K,
        topic_vocabulary=40,
        shared_vocabulary=60,
        seed=seed,
    )
    return sp.csr_array(docs.tfidf())


def vector_frame(
    spark: Any,
    x: sp.csr_array,
    *,
    dense: bool = False,
    weights: np.ndarray | None = None,
    partitions: int = 3,
    labels: np.ndarray | None = None,
) -> Any:
    """``id``, ``features`` (SparseVector, or DenseVector with ``dense``), ``w`` and
    ``prediction`` (given ``weights`` / ``labels``), over ``partitions`` partitions and an
    empty one."""
    from pyspark.ml.linalg import Vectors

    rows = []
    for i in range(x.shape[0]):
        a, b = x.indptr[i], x.indptr[i + 1]
        vector: Any
        if dense:
            vector = Vectors.dense(x[[i]].toarray()[0].tolist())
        else:
            vector = Vectors.sparse(
                x.shape[1], x.indices[a:b].tolist(), [float(v) for v in x.data[a:b]]
            )
        row: tuple[Any, ...] = (i, vector)
        if weights is not None:
            row += (float(weights[i]),)
        if labels is not None:
            row += (int(labels[i]),)
        rows.append(row)
    names = ["id", "features"] + (["w"] if weights is not None else [])
    names += ["prediction"] if labels is not None else []
    sc = spark.sparkContext
    rdd = sc.parallelize(rows, partitions).union(sc.parallelize([], 1))
    return spark.createDataFrame(rdd, schema=names)


@pytest.fixture(scope="module")
def docs() -> sp.csr_array:
    return documents()


@pytest.fixture(scope="module")
def sparse_df(spark: Any, docs: sp.csr_array) -> Any:
    return vector_frame(spark, docs).cache()


@pytest.fixture(scope="module")
def dense_df(spark: Any, docs: sp.csr_array) -> Any:
    return vector_frame(spark, docs, dense=True).cache()


def centres(model: Any) -> np.ndarray:
    """The centres in a label-free order: sorted by their values rounded, so the rounding
    of zeros (``0`` in a CSR fit, ``-2e-18`` in a dense one) cannot reorder them."""
    c = np.array(model.clusterCenters())
    return c[np.lexsort(np.round(c, 8).T[::-1])]


def estimator(**kw: Any) -> KMeans:
    # 4 blocks: the frames' 3 partitions of rows and the empty one
    params: dict[str, Any] = {"k": K, "seed": 5, "maxIter": 15, "tol": 0.0, "numPartitions": 4}
    params.update(kw)
    return KMeans(**params)


@pytest.mark.parametrize("measure", ["euclidean", "cosine"])
@pytest.mark.parametrize("weighted", [False, True])
def test_sparse_and_dense_vectors_give_the_same_centres(
    spark: Any, docs: sp.csr_array, measure: str, weighted: bool
) -> None:
    weights = np.random.default_rng(1).uniform(0.5, 2.0, docs.shape[0]) if weighted else None
    km = estimator(distanceMeasure=measure, weightCol="w" if weighted else None)
    sparse_model = km.fit(vector_frame(spark, docs, weights=weights))
    dense_model = km.fit(vector_frame(spark, docs, dense=True, weights=weights))
    assert sparse_model.summary.diagnostics.sparseBlocks == 3
    assert dense_model.summary.diagnostics.sparseBlocks == 0
    np.testing.assert_allclose(centres(sparse_model), centres(dense_model), atol=1e-9)
    assert sparse_model.summary.trainingCost == pytest.approx(
        dense_model.summary.trainingCost, rel=1e-9
    )
    assert sparse_model.summary.numIter == dense_model.summary.numIter
    assert sorted(sparse_model.summary.clusterSizes) == sorted(dense_model.summary.clusterSizes)


def test_dense_vectors_keep_the_dense_path(spark: Any, docs: sp.csr_array, dense_df: Any) -> None:
    """DenseVector rows are the ``values`` lists ``vector_to_array`` made before: the same
    blocks, so the same centres, bit for bit, as numeric columns of the same values."""
    x = docs.toarray()
    columns = spark.createDataFrame(
        pd.DataFrame(x, columns=[f"x{i}" for i in range(DIM)]).assign(id=range(len(x)))
    )
    by_vector = estimator(numPartitions=1).fit(dense_df.coalesce(1))
    by_columns = estimator(numPartitions=1, inputCols=[f"x{i}" for i in range(DIM)]).fit(
        columns.coalesce(1)
    )
    np.testing.assert_array_equal(
        np.array(by_vector.clusterCenters()), np.array(by_columns.clusterCenters())
    )


def test_a_sparse_fit_is_deterministic(sparse_df: Any) -> None:
    a = estimator(distanceMeasure="cosine").fit(sparse_df)
    b = estimator(distanceMeasure="cosine").fit(sparse_df)
    np.testing.assert_array_equal(np.array(a.clusterCenters()), np.array(b.clusterCenters()))
    assert a.summary.costHistory == b.summary.costHistory


def test_empty_clusters_are_reseeded_on_sparse_blocks(
    sparse_df: Any, dense_df: Any, docs: sp.csr_array
) -> None:
    start = docs[[0, 60, 120]].toarray()
    far = np.full((1, DIM), 50.0)  # nearest to no document: empty after the first pass
    km = estimator(initialCenters=np.vstack([start, far]).tolist(), maxIter=5)
    sparse_model = km.fit(sparse_df)
    dense_model = km.fit(dense_df)
    assert sparse_model.summary.diagnostics.reseededClusters >= 1
    assert (
        sparse_model.summary.diagnostics.reseededClusters
        == dense_model.summary.diagnostics.reseededClusters
    )
    assert min(sparse_model.summary.clusterSizes) > 0
    np.testing.assert_allclose(centres(sparse_model), centres(dense_model), atol=1e-9)


def test_lost_sparse_blocks_are_rebuilt_and_the_result_is_unchanged(
    spark: Any, sparse_df: Any, delete_on_log: Any
) -> None:
    reference = estimator(maxIter=6).fit(sparse_df)
    handler = delete_on_log(
        "iteration 2:",
        os.path.join(local_root(spark), "kmeans_spark", "*", "g0-*-x.indices.npy"),
    )
    disturbed = estimator(maxIter=6).fit(sparse_df)
    assert handler.deleted == 3
    assert disturbed.summary.diagnostics.blockRebuilds == 1
    assert disturbed.summary.diagnostics.sparseBlocks == 3
    np.testing.assert_array_equal(
        np.array(disturbed.clusterCenters()), np.array(reference.clusterCenters())
    )
    assert disturbed.summary.costHistory == reference.summary.costHistory


def test_a_sparse_blocks_files_are_proportional_to_its_non_zeros(
    spark: Any, sparse_df: Any, dense_df: Any, docs: sp.csr_array
) -> None:
    def loaded(df: Any) -> tuple[ResidentBlocks, list[Any]]:
        blocks = ResidentBlocks(prepare(df, "features", None, None), LoadSettings())
        return blocks, blocks.load()

    blocks, handles = loaded(sparse_df)
    with blocks:
        stored = [h for h in handles if h.rows]
        assert len(stored) == 3 and all(h.sparse for h in stored)
        assert sum(h.nnz for h in stored) == docs.nnz
        assert sum(h.rows for h in stored) == docs.shape[0]
        for h in stored:
            base = h.x_path[: -len(".csr")]
            data, indices, indptr = (
                os.path.getsize(f"{base}.{part}.npy") - 128
                for part in ("data", "indices", "indptr")
            )
            assert (data, indices, indptr) == (8 * h.nnz, 4 * h.nnz, 4 * (h.rows + 1))
            assert h.nnz < 0.1 * h.rows * h.dim  # and so far below the dense n x d x 8 bytes
    blocks, handles = loaded(dense_df)
    with blocks:
        for h in (h for h in handles if h.rows):
            assert not h.sparse
            assert os.path.getsize(h.x_path) - 128 == 8 * h.rows * h.dim
    assert not glob.glob(os.path.join(local_root(spark), "kmeans_spark", blocks.fit_id, "*"))


def test_restarts_on_sparse_blocks(sparse_df: Any, dense_df: Any) -> None:
    km = estimator(nInit=3, distanceMeasure="cosine")
    sparse_model, dense_model = km.fit(sparse_df), km.fit(dense_df)
    diag, dense_diag = sparse_model.summary.diagnostics, dense_model.summary.diagnostics
    assert len(diag.runCosts) == 3
    np.testing.assert_allclose(diag.runCosts, dense_diag.runCosts, rtol=1e-9)
    assert diag.bestRun == dense_diag.bestRun
    np.testing.assert_allclose(centres(sparse_model), centres(dense_model), atol=1e-9)


def test_a_sweep_on_sparse_blocks(sparse_df: Any, dense_df: Any) -> None:
    km = estimator(distanceMeasure="cosine")
    sparse_sweep = km.sweep(sparse_df, [2, 3, 4], metrics=False)
    dense_sweep = km.sweep(dense_df, [2, 3, 4], metrics=False)
    np.testing.assert_allclose(
        [r["sse"] for r in sparse_sweep.table()], [r["sse"] for r in dense_sweep.table()], rtol=1e-9
    )
    for k in (2, 3, 4):
        np.testing.assert_allclose(
            centres(sparse_sweep.model(k)), centres(dense_sweep.model(k)), atol=1e-9
        )


@pytest.mark.parametrize("measure", ["euclidean", "cosine"])
def test_sweep_metrics_on_sparse_blocks_are_the_dense_ones_and_sparks(
    spark: Any, docs: sp.csr_array, measure: str
) -> None:
    """``sweep(metrics=True)`` on a SparseVector column (CSR blocks, CSR sample) gives the
    metrics of the same rows as DenseVectors, weights included; its silhouette is Spark's
    ``ClusteringEvaluator``'s on the model's predictions."""
    from pyspark.ml.evaluation import ClusteringEvaluator

    weights = np.random.default_rng(2).uniform(0.5, 2.0, docs.shape[0])
    sparse_w = vector_frame(spark, docs, weights=weights).cache()
    dense_w = vector_frame(spark, docs, dense=True, weights=weights).cache()
    km = estimator(distanceMeasure=measure, weightCol="w")
    try:
        sparse_sweep = km.sweep(sparse_w, [2, 4], sampleSize=100)
        dense_sweep = km.sweep(dense_w, [2, 4], sampleSize=100)
        for k in (2, 4):
            got, want = sparse_sweep.metrics(k), dense_sweep.metrics(k)
            assert got is not None and want is not None
            assert sp.issparse(got.sample_rows) and got.sample_rows.shape == (100, DIM)
            assert sorted(got.cluster_sizes) == sorted(want.cluster_sizes)
            for name in ("sse", "calinski_harabasz", "davies_bouldin", "silhouette"):
                assert getattr(got, name) == pytest.approx(getattr(want, name), rel=1e-9), name
            # the sample: the same rows (keys depend on weights, partitions and the seed)
            assert got.silhouette_sample == pytest.approx(want.silhouette_sample, rel=1e-9)
            spark_measure = "cosine" if measure == "cosine" else "squaredEuclidean"
            predictions = sparse_sweep.model(k).transform(sparse_w)
            evaluator = ClusteringEvaluator(distanceMeasure=spark_measure, weightCol="w")
            assert got.silhouette == pytest.approx(evaluator.evaluate(predictions), rel=1e-9)
    finally:
        sparse_w.unpersist()
        dense_w.unpersist()


def test_the_evaluator_scores_sparse_vectors_as_dense_ones_and_as_spark(
    spark: Any, docs: sp.csr_array
) -> None:
    """``KMeansEvaluator`` on a SparseVector column (kept sparse: CSR batches in its tasks)
    gives the four metrics of the same rows as DenseVectors, and its silhouette is Spark's
    ``ClusteringEvaluator``'s, for both distance measures, with weights and an empty
    partition (1e-9)."""
    from pyspark.ml.evaluation import ClusteringEvaluator
    from pyspark.ml.linalg import VectorUDT

    from kmeans_spark.evaluation import METRICS, KMeansEvaluator
    from kmeans_spark.load import FEATURES

    dense_rows = docs.toarray()
    seeds = dense_rows[[0, 1, 2, 3]]  # four documents of the four topics
    labels = ((dense_rows[:, None, :] - seeds[None]) ** 2).sum(axis=2).argmin(axis=1)
    weights = np.random.default_rng(4).uniform(0.5, 2.0, docs.shape[0])
    sparse_p = vector_frame(spark, docs, weights=weights, labels=labels).cache()
    dense_p = vector_frame(spark, docs, dense=True, weights=weights, labels=labels).cache()
    try:
        # the vectors reach the tasks as vectors (Spark's struct), not vector_to_array's arrays
        features = KMeansEvaluator()._columns(sparse_p).schema[FEATURES].dataType
        assert isinstance(features, VectorUDT)
        for measure in ("squaredEuclidean", "cosine"):
            for metric in METRICS:
                ev = KMeansEvaluator(metricName=metric, distanceMeasure=measure, weightCol="w")
                got, want = ev.evaluate(sparse_p), ev.evaluate(dense_p)
                assert got == pytest.approx(want, rel=1e-9), (measure, metric)
                if metric == "silhouette":
                    spark_ev = ClusteringEvaluator(distanceMeasure=measure, weightCol="w")
                    assert got == pytest.approx(spark_ev.evaluate(sparse_p), rel=1e-9, abs=1e-9)
    finally:
        sparse_p.unpersist()
        dense_p.unpersist()


def test_a_sparse_fitted_model_transforms_sparse_rows(sparse_df: Any, dense_df: Any) -> None:
    model = estimator(distanceMeasure="cosine").fit(sparse_df)
    got: Any = model.transform(sparse_df).select("id", "prediction").toPandas()
    want: Any = model.transform(dense_df).select("id", "prediction").toPandas()
    got, want = got.sort_values("id"), want.sort_values("id")
    np.testing.assert_array_equal(got["prediction"].to_numpy(), want["prediction"].to_numpy())
    assert got["prediction"].nunique() == K


def test_resident_assignments_of_sparse_blocks(sparse_df: Any) -> None:
    """The fit's rows labelled where their CSR blocks lie equal ``transform``'s labels."""
    captured: dict[str, pd.DataFrame] = {}

    def fitted(blocks: FittedBlocks) -> None:
        captured["rows"] = blocks.assignments().toPandas()

    km = estimator(distanceMeasure="cosine").setInputStage(
        InputStage(on_load=lambda _: None, carry=("id",), on_fitted=fitted)
    )
    model = km.fit(sparse_df)
    rows = captured["rows"].sort_values("id")
    scored: Any = (
        model.setDistanceCol("distance")
        .transform(sparse_df)
        .select("id", "prediction", "distance")
        .toPandas()
    )
    want = scored.sort_values("id")
    assert len(rows) == len(want)
    np.testing.assert_array_equal(rows["id"].to_numpy(), want["id"].to_numpy())
    np.testing.assert_array_equal(rows["prediction"].to_numpy(), want["prediction"].to_numpy())
    np.testing.assert_allclose(rows["distance"].to_numpy(), want["distance"].to_numpy(), atol=1e-9)


def test_empty_documents_under_cosine(spark: Any, docs: sp.csr_array) -> None:
    with_empty = sp.csr_array(sp.vstack([docs, sp.csr_array((5, DIM))], format="csr"))
    df = vector_frame(spark, with_empty)
    with pytest.raises(
        KMeansInputError, match=r"5 rows are zero vectors .*zeroVectorPolicy='drop'"
    ):
        estimator(distanceMeasure="cosine").fit(df)
    dropped = estimator(distanceMeasure="cosine", zeroVectorPolicy="drop").fit(df)
    assert dropped.summary.diagnostics.droppedZeroVectors == 5
    assert dropped.summary.numRows == docs.shape[0]
    assert np.isfinite(np.array(dropped.clusterCenters())).all()
    # Euclidean has no rule against zero vectors: they are rows like any other
    assert estimator().fit(df).summary.numRows == with_empty.shape[0]


def test_a_bad_sparse_row_is_named_with_its_value(spark: Any, docs: sp.csr_array) -> None:
    bad = docs.copy()
    bad.data[bad.indptr[7] + 1] = np.nan
    column = int(bad.indices[bad.indptr[7] + 1])
    with pytest.raises(KMeansInputError, match=rf"1 rows have .*features\[{column}\]=nan"):
        estimator().fit(vector_frame(spark, bad, partitions=1))


def test_centres_too_large_for_a_task_fail_before_seeding(spark: Any) -> None:
    from pyspark.ml.linalg import Vectors

    huge = 2**28  # 2 x 2**28 float64 centres, 3 copies: 12 GiB against 1 GiB of driver memory
    rows = [(Vectors.sparse(huge, [i % 7], [1.0 + i]),) for i in range(10)]
    df = spark.createDataFrame(rows, ["features"])
    with pytest.raises(KMeansInputError, match=r"k x features = 2 x 268435456 dense centres"):
        KMeans(k=2, seed=1).fit(df)


def test_sparse_blocks_are_scaled_where_they_lie_but_never_centred(
    sparse_df: Any, dense_df: Any
) -> None:
    """An input stage's scaling (the batch job's way) divides the CSR blocks' columns in
    place; one with an offset is refused, naming the rule."""
    scale = tuple(float(v) for v in np.linspace(0.5, 2.0, DIM))

    def fit(df: Any, offset: float) -> Any:
        stage = InputStage(on_load=lambda _: ((offset,) * DIM, scale), scales=True)
        return estimator(distanceMeasure="cosine").setInputStage(stage).fit(df)

    sparse_model, dense_model = fit(sparse_df, 0.0), fit(dense_df, 0.0)
    assert sparse_model.summary.diagnostics.sparseBlocks == 3
    assert sparse_model.summary.diagnostics.phaseSeconds["scale"] > 0
    np.testing.assert_allclose(centres(sparse_model), centres(dense_model), atol=1e-9)
    with pytest.raises(KMeansInputError, match="sparse features can be scaled, not centred"):
        fit(sparse_df, 1.0)


def test_a_sweep_whose_metrics_centres_cannot_fit_a_task_is_refused_before_seeding(
    spark: Any,
) -> None:
    """The memory rule counts what a pass holds: a sweep's Lloyd passes hold every k's
    centres (2+...+9 = 44 rows of 2^18 features: 264 MiB of the 512 MiB a task of this
    local[2], 1g session has), its metrics' pass twice as many (528 MiB): refused in one
    line with metrics, before any seeding; fitted without."""
    from pyspark.ml.linalg import SparseVector

    width = 2**18
    rows = [(SparseVector(width, [i, width - 1 - i], [1.0, 2.0]),) for i in range(12)]
    df = spark.createDataFrame(rows, ["features"])
    sweep = KMeans(seed=1, maxIter=1)
    with pytest.raises(KMeansInputError, match=r"^k x features = 88 x 262144 dense centres"):
        sweep.sweep(df, ks=range(2, 10))
    assert [m.getK() for m in sweep.sweep(df, ks=range(2, 10), metrics=False).models] == list(
        range(2, 10)
    )
