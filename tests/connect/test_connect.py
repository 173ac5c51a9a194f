"""Spark Connect (issue #17): a real Connect server on this machine (see conftest.py).

Ours fits under it on the DataFrame transport (:mod:`kmeans_spark.blocks_frame`): fit,
summary, transform, predict, save / load in both formats, a ``Pipeline`` with one of Spark's
stages and its save / load, warm starts, restarts, a k sweep, a rebuild of block files lost
in the middle of a fit (and the assignments from the rebuilt blocks), and no block files
left by a load job that failed. Classic-session parity: tests/connect/test_parity.py.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pyspark.errors import PySparkAttributeError

from kmeans_spark import KMeans, KMeansModel
from kmeans_spark.blocks import FittedBlocks
from kmeans_spark.errors import KMeansInputError
from kmeans_spark.load import InputStage
from kmeans_spark.tuning import Tuning

from ..spark.helpers import sorted_rows

CENTERS = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])


def blobs(spark: Any) -> Any:
    """300 rows around :data:`CENTERS` over three partitions, the last one empty (rows
    200-299 are filtered out), as one ``features`` array column and the row's ``id``;
    deterministic arithmetic on the id, so the rows and their partitions are the same in
    every run."""
    from pyspark.sql import functions as F

    ids = spark.range(0, 300, 1, 3).filter(F.col("id") < 200)
    jitter = ((F.col("id") * 37) % 101) / 101.0 - 0.5
    cluster = F.col("id") % 3
    x = F.when(cluster == 1, 10.0).otherwise(0.0) + jitter
    y = F.when(cluster == 2, 10.0).otherwise(0.0) - jitter
    return ids.select("id", F.array(x, y).alias("features"))


def gold_labels(features: np.ndarray, centers: np.ndarray) -> np.ndarray:
    d = ((features[:, None, :] - centers[None]) ** 2).sum(axis=2)
    return np.asarray(d.argmin(axis=1))


@pytest.fixture(scope="module")
def fitted(connect: Any) -> tuple[Any, KMeansModel]:
    df = blobs(connect)
    return df, KMeans(k=3, seed=1, distanceCol="dist").fit(df)


def test_the_session_is_a_spark_connect_session(connect: Any) -> None:
    from pyspark.sql.utils import is_remote

    assert is_remote()
    assert type(connect).__module__ == "pyspark.sql.connect.session"
    with pytest.raises(PySparkAttributeError, match="JVM_ATTRIBUTE_NOT_SUPPORTED"):
        _ = connect.sparkContext
    with pytest.raises(KMeansInputError, match=r"transport='rdd'\) needs a classic session"):
        KMeans(k=3).setTuning(Tuning(transport="rdd")).fit(blobs(connect))


def test_ours_fits_transforms_and_predicts_under_connect(fitted: Any) -> None:
    df, model = fitted
    centers = np.array(model.clusterCenters())
    np.testing.assert_allclose(sorted_rows(centers), sorted_rows(CENTERS), atol=0.05)
    summary = model.summary
    assert sorted(summary.clusterSizes) == [66, 67, 67]
    assert summary.diagnostics.numPartitions == 2  # coalesced to the default parallelism
    assert summary.predictions.count() == 200

    out = model.transform(df).orderBy("id").toPandas()
    assert list(out.columns) == ["id", "features", "prediction", "dist"]
    features = np.array(out["features"].tolist())
    labels = gold_labels(features, centers)
    np.testing.assert_array_equal(out["prediction"].to_numpy(), labels)
    nearest = np.sqrt(((features - centers[labels]) ** 2).sum(axis=1))
    np.testing.assert_allclose(out["dist"].to_numpy(), nearest, rtol=1e-9, atol=1e-10)
    assert np.bincount(labels, minlength=3).tolist() == summary.clusterSizes
    assert [model.predict(f) for f in features[:5]] == labels[:5].tolist()


def test_save_and_load_in_both_formats_under_connect(fitted: Any, tmp_path: Path) -> None:
    from pyspark.ml.clustering import KMeansModel as SparkKMeansModel

    _, model = fitted
    for fmt in ("kmeans-spark", "spark"):
        path = str(tmp_path / fmt)
        model.write().format(fmt).save(path)
        model.write().format(fmt).overwrite().save(path)  # replaces it, without a JVM here
        loaded = KMeansModel.load(path)
        assert loaded.uid == model.uid and loaded.getDistanceCol() == "dist"
        np.testing.assert_array_equal(
            np.array(loaded.clusterCenters()), np.array(model.clusterCenters())
        )
        assert loaded.summary.trainingCost == model.summary.trainingCost
    spark_model = SparkKMeansModel.load(str(tmp_path / "spark"))  # Spark's reader, server-side
    assert len(spark_model.clusterCenters()) == 3


def test_a_pipeline_fits_saves_and_loads_under_connect(connect: Any, tmp_path: Path) -> None:
    from pyspark.ml import Pipeline, PipelineModel
    from pyspark.ml.feature import StandardScaler
    from pyspark.ml.functions import array_to_vector

    df = blobs(connect).select("id", array_to_vector("features").alias("raw"))
    pipeline = Pipeline(
        stages=[StandardScaler(inputCol="raw", outputCol="features"), KMeans(k=3, seed=2)]
    )
    fitted_pipeline = pipeline.fit(df)
    out = fitted_pipeline.transform(df).orderBy("id").select("prediction").toPandas()
    path = str(tmp_path / "pipeline")
    fitted_pipeline.write().overwrite().save(path)
    reloaded = PipelineModel.load(path)
    assert isinstance(reloaded.stages[-1], KMeansModel)
    again = reloaded.transform(df).orderBy("id").select("prediction").toPandas()
    assert out.equals(again)
    assert sorted(np.bincount(out["prediction"]).tolist()) == [66, 67, 67]


def test_warm_starts_restarts_and_a_sweep_under_connect(connect: Any, fitted: Any) -> None:
    df, model = fitted
    warm = KMeans(k=3, initialCenters=CENTERS.tolist()).fit(df)
    np.testing.assert_allclose(sorted_rows(warm.clusterCenters()), sorted_rows(CENTERS), atol=0.05)
    assert warm.summary.initMode == "initialCenters"
    again = KMeans().setInitialModel(model).fit(df)
    np.testing.assert_allclose(
        sorted_rows(again.clusterCenters()), sorted_rows(model.clusterCenters()), rtol=1e-9
    )
    restarted = KMeans(k=3, seed=7, nInit=3, numPartitions=3).fit(df)
    assert len(restarted.summary.diagnostics.runCosts) == 3
    assert restarted.summary.diagnostics.numPartitions == 3  # loaded again: no count here

    swept = KMeans(seed=3).sweep(df, ks=[2, 3, 4], sampleSize=100)
    assert [m.getK() for m in swept.models] == [2, 3, 4]
    np.testing.assert_allclose(
        sorted_rows(swept.models[1].clusterCenters()), sorted_rows(CENTERS), atol=0.05
    )


def test_lost_block_files_are_rebuilt_under_connect(connect: Any, fitted: Any) -> None:
    """The server runs on this host: the input stage sees the handles right after the load
    and deletes their files, so the first pass finds them missing and rebuilds them; the
    fit's rows are then labelled from the rebuilt blocks (the job's assignments)."""
    df, gold = fitted
    lost: list[str] = []
    labelled: list[Any] = []

    def delete(handles: Any) -> None:
        lost.extend(h.x_path for h in handles if h.x_path)
        for path in lost:
            os.unlink(path)

    def label(blocks: FittedBlocks) -> None:
        labelled.extend(blocks.assignments(distance_col="dist").orderBy("id").collect())

    stage = InputStage(on_load=delete, carry=("id",), on_fitted=label)
    model = KMeans(k=3, seed=1).setInputStage(stage).fit(df)
    assert len(lost) == 2
    assert model.summary.diagnostics.blockRebuilds == 1
    np.testing.assert_allclose(
        np.array(model.clusterCenters()), np.array(gold.clusterCenters()), rtol=1e-9, atol=0
    )
    assert not any(os.path.exists(os.path.dirname(p)) for p in lost)  # removed on close
    expected = gold.transform(df).orderBy("id").collect()
    assert [(r.id, r.prediction) for r in labelled] == [(r.id, r.prediction) for r in expected]
    np.testing.assert_allclose([r.dist for r in labelled], [r.dist for r in expected], rtol=1e-9)


def test_a_failed_load_leaves_no_block_files_under_connect(connect: Any) -> None:
    """A load job that fails after some partitions stored their blocks: the clean-up job
    removes the fit's directory where it runs (the server's executors)."""
    from pyspark.sql import functions as F

    roots = executor_roots(connect)
    before = {r: set(os.listdir(r)) if os.path.isdir(r) else set() for r in roots}
    spoiled = blobs(connect).withColumn(
        "features",
        F.when(F.col("id") == 150, F.raise_error(F.lit("spoiled row"))).otherwise(
            F.col("features")
        ),
    )
    with pytest.raises(Exception, match="spoiled row"):
        KMeans(k=3, seed=1).fit(spoiled)
    for root in roots:
        after = set(os.listdir(root)) if os.path.isdir(root) else set()
        assert after <= before[root], f"block files of fits {sorted(after - before[root])}"


def executor_roots(spark: Any) -> list[str]:
    """Where the server's Python workers keep fits' block files (one ``kmeans_spark`` dir
    per local directory they are given), asked of a task."""
    import pyarrow as pa

    def ask(batches: Any) -> Any:
        for _ in batches:
            pass
        dirs = os.environ.get("SPARK_LOCAL_DIRS", "")
        yield pa.RecordBatch.from_pylist([{"dirs": dirs}])

    rows = spark.range(0, 2, 1, 2).mapInArrow(ask, "dirs string").collect()
    return sorted({os.path.join(d, "kmeans_spark") for r in rows for d in r.dirs.split(",") if d})
