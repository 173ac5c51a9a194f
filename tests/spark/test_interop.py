"""Models move both ways between kmeans-spark and Spark's own ``pyspark.ml.clustering``.

Ours -> Spark: ``model.write().format("spark")`` writes what Spark's ``KMeansModel.load``
(and so a Scala/Java job) reads. Spark -> ours: ``KMeansModel.load`` reads a model Spark
saved, ``KMeansModel.fromSpark`` takes one in memory, and ``setInitialModel`` warm-starts
from either. Every direction is checked by round trip and by identical predictions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kmeans_spark import KMeans, KMeansInputError, KMeansModel
from kmeans_spark.datagen import make_blobs
from kmeans_spark.model_io import SPARK_CLASS, spark_param_names

MEASURES = ["euclidean", "cosine"]


@pytest.fixture(scope="module", params=MEASURES)
def points(request: Any) -> tuple[str, np.ndarray]:
    """Four blobs, shifted away from the origin for cosine so they differ in direction."""
    x = make_blobs(800, 3, 4, spread=0.5, seed=41).x
    return request.param, x + (5.0 if request.param == "cosine" else 0.0)


@pytest.fixture(scope="module")
def data(points: tuple[str, np.ndarray], spark: Any) -> tuple[str, Any]:
    """The points as a ``features`` vector column, what Spark's KMeans reads."""
    from .helpers import frame

    measure, x = points
    return measure, frame(spark, x, as_vector=True)


@pytest.fixture(scope="module")
def ours(data: tuple[str, Any]) -> KMeansModel:
    measure, df = data
    return KMeans(k=4, seed=3, distanceMeasure=measure, distanceCol="dist").fit(df)


@pytest.fixture(scope="module")
def theirs(data: tuple[str, Any]) -> Any:
    from pyspark.ml.clustering import KMeans as SparkKMeans

    measure, df = data
    return SparkKMeans(k=4, seed=3, distanceMeasure=measure, maxIter=30).fit(df)


def predictions(model: Any, df: Any) -> list[int]:
    return [r.prediction for r in model.transform(df).select("prediction").collect()]


def read_metadata(path: Path) -> dict[str, Any]:
    (part,) = (path / "metadata").glob("part-*")
    metadata: dict[str, Any] = json.loads(part.read_text())
    return metadata


# -- ours -> Spark ---------------------------------------------------------------------


def test_export_is_read_by_sparks_own_reader_and_scores_identically(
    spark: Any, data: tuple[str, Any], ours: KMeansModel, tmp_path: Path
) -> None:
    from pyspark.ml.clustering import KMeansModel as SparkKMeansModel

    measure, df = data
    path = tmp_path / "exported"
    ours.write().format("spark").save(str(path))
    loaded = SparkKMeansModel.load(str(path))
    assert loaded.uid == ours.uid
    np.testing.assert_array_equal(np.array(loaded.clusterCenters()), ours.clusterCenters())
    for name in ("k", "distanceMeasure", "featuresCol", "predictionCol", "maxIter", "tol", "seed"):
        assert loaded.getOrDefault(name) == ours.getOrDefault(name), name
    assert loaded.getDistanceMeasure() == measure
    assert predictions(loaded, df) == predictions(ours, df)
    for x in ours.clusterCenters():
        assert loaded.predict(_vector(x)) == ours.predict(x)


def test_export_is_laid_out_as_spark_saves_its_own(
    ours: KMeansModel, theirs: Any, spark: Any, tmp_path: Path
) -> None:
    """Same metadata keys, Spark's params only where its JVM reads them, same Parquet
    schema: what a Scala ``KMeansModel.load`` checks."""
    exported, saved = tmp_path / "exported", tmp_path / "saved"
    ours.write().format("spark").save(str(exported))
    theirs.write().save(str(saved))
    mine, spark_own = read_metadata(exported), read_metadata(saved)
    assert mine["class"] == spark_own["class"] == SPARK_CLASS
    assert set(spark_own) <= set(mine)
    assert set(mine["paramMap"]) | set(mine["defaultParamMap"]) <= spark_param_names()
    assert set(mine["defaultParamMap"]) == set(spark_own["defaultParamMap"])
    assert mine["kmeansSpark"]["paramMap"]["distanceCol"] == "dist"
    read = spark.read.parquet
    assert read(str(exported / "data")).schema == read(str(saved / "data")).schema


def test_export_loads_back_unchanged(
    data: tuple[str, Any], ours: KMeansModel, tmp_path: Path
) -> None:
    """Ours -> Spark's format -> ours keeps what Spark's format has no room for: our params
    (distanceCol here) and the training summary."""
    _, df = data
    path = str(tmp_path / "exported")
    ours.write().format("spark").save(path)
    back = KMeansModel.load(path)
    assert back.uid == ours.uid
    np.testing.assert_array_equal(back.clusterCenters(), ours.clusterCenters())
    assert back.extractParamMap() == {
        back.getParam(p.name): v for p, v in ours.extractParamMap().items()
    }
    assert back.getDistanceCol() == "dist"
    assert back.summary.to_dict() == ours.summary.to_dict()
    assert back.transform(df).collect() == ours.transform(df).collect()


def test_an_unknown_format_is_refused(ours: KMeansModel, tmp_path: Path) -> None:
    with pytest.raises(KMeansInputError, match=r"format='pmml' is not supported; use one of"):
        ours.write().format("pmml")
    writer = ours.write().overwrite().format("spark")  # Spark's chaining order works too
    writer.save(str(tmp_path / "m"))
    assert read_metadata(tmp_path / "m")["class"] == SPARK_CLASS


# -- Spark -> ours ---------------------------------------------------------------------


def test_loads_a_model_saved_by_spark_and_scores_identically(
    data: tuple[str, Any], theirs: Any, tmp_path: Path
) -> None:
    _, df = data
    path = str(tmp_path / "spark-model")
    theirs.write().save(path)
    loaded = KMeansModel.load(path)
    assert isinstance(loaded, KMeansModel) and loaded.uid == theirs.uid
    np.testing.assert_array_equal(loaded.clusterCenters(), np.array(theirs.clusterCenters()))
    for param in theirs.params:
        if theirs.isDefined(param):
            assert loaded.getOrDefault(param.name) == theirs.getOrDefault(param), param.name
    assert not loaded.hasSummary  # as Spark's own loaded model
    assert predictions(loaded, df) == predictions(theirs, df)


def test_takes_sparks_model_in_memory(data: tuple[str, Any], theirs: Any) -> None:
    _, df = data
    converted = KMeansModel.fromSpark(theirs)
    assert converted.uid == theirs.uid and converted.getK() == 4
    assert converted.getDistanceMeasure() == theirs.getDistanceMeasure()
    np.testing.assert_array_equal(converted.clusterCenters(), np.array(theirs.clusterCenters()))
    assert predictions(converted, df) == predictions(theirs, df)
    with pytest.raises(TypeError, match=r"fromSpark takes a pyspark.ml.clustering.KMeansModel"):
        KMeansModel.fromSpark(converted)  # type: ignore[arg-type]


def test_warm_start_from_sparks_model_in_memory_and_saved(
    points: tuple[str, np.ndarray], data: tuple[str, Any], theirs: Any, tmp_path: Path
) -> None:
    """The first iteration starts from Spark's centres (its cost is the data's cost about
    them, brute force), and converges at once: Spark stopped at the same tolerance."""
    measure, x = points
    _, df = data
    start = np.array(theirs.clusterCenters())
    if measure == "cosine":
        x, start = (a / np.linalg.norm(a, axis=1, keepdims=True) for a in (x, start))
    cost_at_start = ((x[:, None, :] - start[None]) ** 2).sum(axis=2).min(axis=1).sum()
    cost_at_start *= 0.5 if measure == "cosine" else 1.0  # |x - c|^2 = 2 (1 - cos)
    path = str(tmp_path / "spark-model")
    theirs.write().save(path)
    for initial in (theirs, KMeansModel.load(path)):
        warm = KMeans(distanceMeasure=measure).setInitialModel(initial).fit(df)
        assert warm.getK() == 4 and warm.summary.initMode == "initialCenters"
        assert warm.summary.costHistory[0] == pytest.approx(cost_at_start, rel=1e-9)
        assert warm.summary.converged and warm.summary.numIter <= 2
        assert predictions(warm, df) == predictions(theirs, df)


# -- what is not a k-means model -------------------------------------------------------


def test_load_refuses_what_is_not_a_kmeans_model(spark: Any, tmp_path: Path) -> None:
    from pyspark.ml.clustering import KMeans as SparkKMeans

    with pytest.raises(KMeansInputError, match=r"no model at .*/missing: .*metadata does not"):
        KMeansModel.load(str(tmp_path / "missing"))
    KMeans(k=3).save(str(tmp_path / "ours-estimator"))
    with pytest.raises(KMeansInputError, match=r"holds a kmeans_spark.estimator.KMeans, not a"):
        KMeansModel.load(str(tmp_path / "ours-estimator"))
    SparkKMeans(k=3).save(str(tmp_path / "spark-estimator"))
    with pytest.raises(KMeansInputError, match=r"holds a org.apache.spark.ml.clustering.KMeans,"):
        KMeansModel.load(str(tmp_path / "spark-estimator"))
    (tmp_path / "text" / "metadata").mkdir(parents=True)
    (tmp_path / "text" / "metadata" / "part-00000").write_text("not json\n")
    with pytest.raises(KMeansInputError, match=r"metadata is not the metadata of a saved model"):
        KMeansModel.load(str(tmp_path / "text"))


def _vector(x: np.ndarray) -> Any:
    from pyspark.ml.linalg import Vectors

    return Vectors.dense(x)
