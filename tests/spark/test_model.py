"""The fitted model: transform, predict, save/load round trips, Pipelines."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kmeans_spark import FitDiagnostics, KMeans, KMeansModel, KMeansSummary
from kmeans_spark.datagen import make_blobs

from .helpers import cols


@pytest.fixture(scope="module")
def fitted(spark: Any) -> tuple[Any, KMeansModel, np.ndarray]:
    from .helpers import frame

    blobs = make_blobs(900, 3, 3, spread=0.5, seed=21)
    df = frame(spark, blobs.x)
    model = KMeans(k=3, seed=5, inputCols=cols(3), distanceCol="dist").fit(df)
    return df, model, blobs.x


def test_transform_adds_prediction_and_distance(fitted: Any) -> None:
    df, model, _ = fitted
    out = model.transform(df).toPandas()
    assert list(out.columns) == [*cols(3), "prediction", "dist"]
    pts = out[cols(3)].to_numpy()
    centres = np.array(model.clusterCenters())
    d = np.sqrt(((pts[:, None, :] - centres[None]) ** 2).sum(axis=2))
    np.testing.assert_array_equal(out["prediction"].to_numpy(), d.argmin(axis=1))
    np.testing.assert_allclose(out["dist"].to_numpy(), d.min(axis=1), rtol=1e-9)
    sizes = np.bincount(out["prediction"], minlength=3)
    assert sizes.tolist() == model.summary.clusterSizes


def test_predict_one_point_matches_transform(fitted: Any) -> None:
    df, model, _ = fitted
    first = model.transform(df).first()
    assert model.predict([first["x0"], first["x1"], first["x2"]]) == first["prediction"]
    from pyspark.ml.linalg import Vectors

    assert (
        model.predict(Vectors.dense([first["x0"], first["x1"], first["x2"]]))
        == (first["prediction"])
    )
    with pytest.raises(ValueError, match="point has 2 features, but the model has 3"):
        model.predict([1.0, 2.0])


def test_transform_gives_null_for_rows_with_missing_features(spark: Any, fitted: Any) -> None:
    _, model, _ = fitted
    df = spark.createDataFrame(
        [(1.0, 2.0, 3.0), (None, 1.0, 1.0)], "x0 double, x1 double, x2 double"
    )
    rows = model.transform(df).collect()
    assert rows[0]["prediction"] is not None and rows[1]["prediction"] is None


def test_summary_predictions(fitted: Any) -> None:
    _, model, _ = fitted
    s = model.summary
    assert s.predictions.count() == 900
    assert s.cluster.columns == ["prediction"]


def test_save_load_round_trip(fitted: Any, tmp_path: Any) -> None:
    df, model, _ = fitted
    path = str(tmp_path / "model")
    model.write().overwrite().save(path)
    loaded = KMeansModel.load(path)
    np.testing.assert_array_equal(
        np.array(loaded.clusterCenters()), np.array(model.clusterCenters())
    )
    assert loaded.uid == model.uid
    assert loaded.getK() == 3 and loaded.getInputCols() == cols(3)
    assert loaded.getDistanceCol() == "dist" and loaded.getSeed() == 5
    assert loaded.summary.to_dict() == model.summary.to_dict()
    assert loaded.summary.diagnostics == model.summary.diagnostics
    a = model.transform(df).toPandas()
    b = loaded.transform(df).toPandas()
    assert a.equals(b)
    with pytest.raises(RuntimeError):
        _ = loaded.summary.predictions


def test_estimator_save_load(tmp_path: Any) -> None:
    est = KMeans(k=7, maxIter=3, dtype="float32", initialCenters=[[0.0, 1.0]] * 7)
    path = str(tmp_path / "est")
    est.save(path)
    loaded = KMeans.load(path)
    assert loaded.getK() == 7 and loaded.getMaxIter() == 3 and loaded.getDtype() == "float32"
    assert loaded.getInitialCenters() == [[0.0, 1.0]] * 7


def test_inside_a_pipeline_with_save_and_load(spark: Any, fitted: Any, tmp_path: Any) -> None:
    from pyspark.ml import Pipeline, PipelineModel
    from pyspark.ml.feature import StandardScaler, VectorAssembler

    df, _, _ = fitted
    pipeline = Pipeline(
        stages=[
            VectorAssembler(inputCols=cols(3), outputCol="raw"),
            StandardScaler(inputCol="raw", outputCol="features"),
            KMeans(k=3, seed=2),
        ]
    )
    fitted_pipeline = pipeline.fit(df)
    out = fitted_pipeline.transform(df)
    assert "prediction" in out.columns
    path = str(tmp_path / "pipeline")
    fitted_pipeline.write().overwrite().save(path)
    reloaded = PipelineModel.load(path)
    assert isinstance(reloaded.stages[-1], KMeansModel)
    a = out.select("prediction").toPandas()
    b = reloaded.transform(df).select("prediction").toPandas()
    assert a.equals(b)


def test_transform_refuses_to_overwrite_a_column(spark: Any, fitted: Any) -> None:
    df, model, _ = fitted
    with pytest.raises(ValueError, match=r"column 'prediction' already exists in the input"):
        model.transform(model.transform(df))


def test_cosine_transform_gives_null_for_zero_vectors(spark: Any) -> None:
    rows = [(1.0, 0.1), (1.0, 0.2), (0.1, 1.0), (0.2, 1.0)]
    df = spark.createDataFrame(rows, "x0 double, x1 double")
    model = KMeans(k=2, seed=1, inputCols=["x0", "x1"], distanceMeasure="cosine").fit(df)
    zero = spark.createDataFrame([(0.0, 0.0), (2.0, 0.2)], "x0 double, x1 double")
    got = [r["prediction"] for r in model.transform(zero).collect()]
    assert got[0] is None and got[1] is not None


def test_summary_keeps_sparks_fields_on_top_and_engine_diagnostics_apart(fitted: Any) -> None:
    _, model, _ = fitted
    s = model.summary
    assert (s.k, s.numRows, s.numFeatures, s.initMode) == (3, 900, 3, "k-means||")
    assert len(s.costHistory) == s.numIter == len(s.diagnostics.iterationSeconds)
    assert s.diagnostics.numPartitions >= s.diagnostics.passTasks >= 1
    assert set(s.to_dict()["diagnostics"]) == {f for f in FitDiagnostics.__dataclass_fields__}
    with pytest.raises(AttributeError, match=r"moved to KMeansSummary.diagnostics.passTasks"):
        _ = s.passTasks
    with pytest.raises(AttributeError, match=r"has no attribute 'nonsense'"):
        _ = s.nonsense


def test_summary_predictions_are_the_model_as_fitted(spark: Any, fitted: Any) -> None:
    """As Spark's: renaming the model's prediction column later leaves the summary's be."""
    df, _, _ = fitted
    model = KMeans(k=3, seed=5, inputCols=cols(3)).fit(df)
    model.setPredictionCol("later")
    assert model.summary.predictionCol == "prediction"
    assert "prediction" in model.summary.predictions.columns
    assert "later" in model.transform(df).columns


#: The flat summary a model saved before the diagnostics split carries in its metadata.
OLD_FLAT_SUMMARY: dict[str, Any] = {
    "k": 2,
    "trainingCost": 1.5,
    "clusterSizes": [2, 2],
    "clusterWeights": [2.0, 2.0],
    "numIter": 2,
    "converged": True,
    "convergenceReason": "converged",
    "costHistory": [3.0, 1.5],
    "shiftHistory": [0.5, 0.0],
    "iterationSeconds": [0.1, 0.1],
    "initMode": "k-means||",
    "initCost": 2.5,
    "initCandidates": 7,
    "numRows": 4,
    "numPartitions": 3,
    "numFeatures": 2,
    "reseededClusters": 0,
    "blockRebuilds": 0,
    "passTasks": 1,
    "passThreads": 2,
    "prunedFraction": [0.0, 0.0],
    "phaseSeconds": {"load": 1.0, "init": 0.5, "lloyd": 0.2, "total": 1.8},
}


def test_summary_reads_the_flat_format_of_before_the_split() -> None:
    old = KMeansSummary.from_dict(OLD_FLAT_SUMMARY)
    assert (old.trainingCost, old.numIter, old.numRows) == (1.5, 2, 4)
    assert old.diagnostics.passThreads == 2 and old.diagnostics.initCandidates == 7
    assert old.diagnostics.phaseSeconds["total"] == 1.8
    again = KMeansSummary.from_dict(old.to_dict())
    assert again == old
    flat_again = {**again.to_dict(), **again.to_dict()["diagnostics"]}
    del flat_again["diagnostics"]
    # fields added since (restarts) take their defaults
    assert (flat_again.pop("runCosts"), flat_again.pop("bestRun")) == ([], 0)
    # and sparse input's
    assert (flat_again.pop("sparseBlocks"), flat_again.pop("droppedZeroVectors")) == (0, 0)
    assert flat_again == OLD_FLAT_SUMMARY


def test_loads_a_model_saved_before_the_summary_split(spark: Any, tmp_path: Path) -> None:
    """A model directory as this project wrote it before: flat summary, no
    intermediateStorageLevel, its own model uid; written by hand, as on disk."""
    path = tmp_path / "old-model"
    metadata = {
        "class": "kmeans_spark.model.KMeansModel",
        "timestamp": 1700000000000,
        "sparkVersion": "4.3.0",
        "uid": "KMeansModel_0123456789ab",
        "paramMap": {"k": 2, "seed": 5, "inputCols": ["x0", "x1"], "distanceCol": "dist"},
        "defaultParamMap": {
            "k": 2,
            "maxIter": 20,
            "tol": 0.0001,
            "initMode": "k-means||",
            "initSteps": 2,
            "oversamplingFactor": 2.0,
            "distanceMeasure": "euclidean",
            "emptyClusterPolicy": "reseed",
            "dtype": "float64",
            "numPartitions": 0,
            "solver": "auto",
            "maxBlockSizeInMB": 0.0,
            "featuresCol": "features",
            "predictionCol": "prediction",
            "seed": 42,
        },
        "numFeatures": 2,
        "summary": OLD_FLAT_SUMMARY,
    }
    (path / "metadata").mkdir(parents=True)
    (path / "metadata" / "part-00000").write_text(json.dumps(metadata) + "\n")
    spark.createDataFrame(
        [(1, [10.0, 10.0]), (0, [0.0, 0.0])], "clusterIdx int, clusterCenter array<double>"
    ).write.parquet(str(path / "data"))
    model = KMeansModel.load(str(path))
    assert model.uid == "KMeansModel_0123456789ab"
    np.testing.assert_array_equal(model.clusterCenters(), [[0.0, 0.0], [10.0, 10.0]])
    assert model.getInputCols() == ["x0", "x1"] and model.getSeed() == 5
    assert model.getIntermediateStorageLevel() == "MEMORY_AND_DISK"  # added since: default
    assert model.summary.trainingCost == 1.5
    assert model.summary.diagnostics.passTasks == 1
    df = spark.createDataFrame([(1.0, 0.5), (9.0, 11.0)], "x0 double, x1 double")
    rows = model.transform(df).collect()
    assert [r.prediction for r in rows] == [0, 1]
    assert rows[0].dist == pytest.approx(np.hypot(1.0, 0.5))


# -- the two scoring paths -------------------------------------------------------------

NAN, INF = float("nan"), float("inf")
#: Unusable rows of each feature form (null, another length, a null, NaN or infinite value,
#: a zero vector), after usable ones; a row is (id, features) or (id, x0, x1, x2).
BAD_ROWS: dict[str, list[list[float | None] | None]] = {
    "vector": [None, [1.0, 2.0], [NAN, 1.0, 2.0], [1.0, -INF, 2.0], [0.0, 0.0, 0.0]],
    "array": [None, [1.0, 2.0], [NAN, 1.0, 2.0], [1.0, -INF, 2.0], [None, 1.0, 2.0], [0.0] * 3],
    "inputCols": [[None] * 3, [NAN, 1.0, 2.0], [1.0, INF, 2.0], [None, 1.0, 2.0], [0.0] * 3],
}


def scoring_frame(spark: Any, form: str, rows: list[list[float | None] | None]) -> Any:
    """``rows`` over three partitions and an empty one, as a vector column, an array
    column or three double columns, with an ``id``."""
    from pyspark.ml.linalg import Vectors

    if form == "vector":
        data: list[tuple[Any, ...]] = [
            (i, None if r is None else Vectors.dense(r)) for i, r in enumerate(rows)
        ]
        schema: Any = ["id", "features"]
    elif form == "array":
        data, schema = list(enumerate(rows)), "id int, features array<double>"
    else:
        data = [(i, *(r if r is not None else [None] * 3)) for i, r in enumerate(rows)]
        schema = "id int, x0 double, x1 double, x2 double"
    sc = spark.sparkContext
    rdd = sc.parallelize(data, 3).union(sc.parallelize([], 1))
    return spark.createDataFrame(rdd, schema)


def brute_scores(
    rows: list[list[float | None] | None], centers: np.ndarray, cosine: bool
) -> list[tuple[int, float] | None]:
    """(cluster, distance) of each row by explicit differences, None when unusable."""
    out: list[tuple[int, float] | None] = []
    for r in rows:
        x = np.array([np.nan if v is None else v for v in (r or [])], dtype=np.float64)
        if len(x) != centers.shape[1] or not np.isfinite(x).all() or (cosine and not x.any()):
            out.append(None)
        elif cosine:
            unit = centers / np.linalg.norm(centers, axis=1, keepdims=True)
            cos = unit @ (x / np.linalg.norm(x))
            out.append((int(np.argmax(cos)), 1.0 - float(cos.max())))
        else:
            dist = np.sqrt(((centers - x) ** 2).sum(axis=1))
            out.append((int(np.argmin(dist)), float(dist.min())))
    return out


def on_path(model: KMeansModel, path: str) -> KMeansModel:
    from dataclasses import replace

    limit = 10**9 if path == "jvm" else 0
    forced = model.copy().setTuning(replace(model.getTuning(), jvm_scoring_max_kd=limit))
    assert forced.scoringPath() == path
    return forced


@pytest.mark.parametrize("form", ["vector", "array", "inputCols"])
@pytest.mark.parametrize("measure", ["euclidean", "cosine"])
def test_both_scoring_paths_give_the_same_labels_distances_and_nulls(
    spark: Any, form: str, measure: str
) -> None:
    rng = np.random.default_rng(7)
    centers = rng.normal(size=(4, 3)) * 5 + 2.0
    good = (centers[rng.integers(0, 4, 60)] + rng.normal(size=(60, 3))).tolist()
    rows = good + BAD_ROWS[form]
    df = scoring_frame(spark, form, rows)
    base = KMeansModel(centers).setDistanceCol("dist")
    base = base.copy({base.distanceMeasure: measure})
    if form == "inputCols":
        base.setInputCols(["x0", "x1", "x2"])
    want = brute_scores(rows, centers, cosine=measure == "cosine")
    outputs = {}
    for path in ("jvm", "arrow"):
        out = on_path(base, path).transform(df)
        assert out.columns == [*df.columns, "prediction", "dist"]
        outputs[path] = out.orderBy("id").collect()
        for row, w in zip(outputs[path], want, strict=True):
            if w is None:
                assert (row.prediction, row.dist) == (None, None), (path, row)
            else:
                assert row.prediction == w[0], (path, row)
                assert row.dist == pytest.approx(w[1], rel=1e-9, abs=1e-6), (path, row)
    assert [r.prediction for r in outputs["jvm"]] == [r.prediction for r in outputs["arrow"]]


@pytest.mark.parametrize("measure", ["euclidean", "cosine"])
def test_both_scoring_paths_label_as_mllib_does(spark: Any, measure: str) -> None:
    """Same centres, those of a model Spark fitted (not one it loaded: Spark 4.3's reader
    rebuilds a cosine model as Euclidean, and its labels are Euclidean ones)."""
    from pyspark.ml.clustering import KMeans as SparkKMeans

    from .helpers import frame

    blobs = make_blobs(3000, 5, 12, spread=1.0, seed=9)
    df = frame(spark, blobs.x + (3.0 if measure == "cosine" else 0.0), as_vector=True)
    theirs = SparkKMeans(k=12, seed=1, maxIter=5, distanceMeasure=measure).fit(df)
    ours = KMeansModel.fromSpark(theirs)
    scored = theirs.transform(df).withColumnRenamed("prediction", "mllib")
    for path in ("jvm", "arrow"):
        scored = on_path(ours, path).setPredictionCol(path).transform(scored)
    rows = scored.select("mllib", "jvm", "arrow").collect()
    assert len(rows) == 3000
    assert all(r.mllib == r.jvm == r.arrow for r in rows)


def test_the_rule_picks_the_jvm_for_small_models_and_logs_its_path(
    spark: Any, fitted: Any, caplog: pytest.LogCaptureFixture
) -> None:
    df, model, _ = fitted  # k=3 x 3 features
    assert model.scoringPath() == "jvm"
    wide = KMeansModel(np.random.default_rng(0).normal(size=(100, 64)))
    assert wide.scoringPath() == "arrow"
    with caplog.at_level(logging.INFO, logger="kmeans_spark.model"):
        model.transform(df)
    assert "k=3 x 3 features scored on the jvm path" in caplog.text
