"""The fitted model: transform, predict, save/load round trips, Pipelines."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from kmeans_spark import KMeans, KMeansModel
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
