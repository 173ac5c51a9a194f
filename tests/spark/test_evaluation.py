"""``KMeansEvaluator`` and ``compute_metrics`` on a real local[2] Spark: parity with
Spark's ``ClusteringEvaluator`` and scikit-learn, and tuning k in ``TrainValidationSplit``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from kmeans_spark import KMeans, KMeansInputError
from kmeans_spark.blocks import ResidentBlocks
from kmeans_spark.datagen import make_blobs
from kmeans_spark.dataset import prepare
from kmeans_spark.evaluation import KMeansEvaluator
from kmeans_spark.load import LoadSettings
from kmeans_spark.localblocks import LocalBlocks
from kmeans_spark.metrics import compute_metrics

from .helpers import cols, frame

skm = pytest.importorskip("sklearn.metrics")

TOL = 1e-9


def predictions(spark: Any, x: np.ndarray, labels: np.ndarray, w: np.ndarray | None = None) -> Any:
    """Features as a vector column, an int ``prediction`` (and a weight ``w``), over three
    partitions and an empty one."""
    from pyspark.ml.linalg import Vectors

    rows: list[tuple[Any, ...]] = [
        (Vectors.dense(r), int(p)) + (() if w is None else (float(w[i]),))
        for i, (r, p) in enumerate(zip(x.tolist(), labels, strict=True))
    ]
    names = ["features", "prediction"] + ([] if w is None else ["w"])
    sc = spark.sparkContext
    return spark.createDataFrame(sc.parallelize(rows, 3).union(sc.parallelize([], 1)), names)


def blobs_and_labels(
    seed: int = 1, shift: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    b = make_blobs(900, 3, 4, spread=2.0, seed=seed)
    x = b.x + shift
    w = np.random.default_rng(seed).uniform(0.2, 3.0, len(x))
    labels = b.labels.copy()
    labels[0] = 7  # a cluster of one row
    return x, labels, w


@pytest.mark.parametrize("measure", ["squaredEuclidean", "cosine"])
@pytest.mark.parametrize("weighted", [False, True])
def test_silhouette_equals_spark_clustering_evaluator(
    spark: Any, measure: str, weighted: bool
) -> None:
    from pyspark.ml.evaluation import ClusteringEvaluator

    x, labels, w = blobs_and_labels(shift=3.0 if measure == "cosine" else 0.0)
    df = predictions(spark, x, labels, w if weighted else None)
    kw: dict[str, Any] = {"distanceMeasure": measure}
    if weighted:
        kw["weightCol"] = "w"
    want = ClusteringEvaluator(**kw).evaluate(df)
    got = KMeansEvaluator(**kw).evaluate(df)
    assert got == pytest.approx(want, rel=TOL, abs=TOL)


def test_calinski_harabasz_davies_bouldin_and_sse_equal_scikit_learn(spark: Any) -> None:
    x, labels, _ = blobs_and_labels(seed=2)
    df = predictions(spark, x, labels)
    ev = KMeansEvaluator()
    got = {
        m: ev.evaluate(df, {ev.metricName: m}) for m in ("calinskiHarabasz", "daviesBouldin", "sse")
    }
    assert got["calinskiHarabasz"] == pytest.approx(skm.calinski_harabasz_score(x, labels), rel=TOL)
    assert got["daviesBouldin"] == pytest.approx(skm.davies_bouldin_score(x, labels), rel=TOL)
    sse = sum(((x[labels == c] - x[labels == c].mean(axis=0)) ** 2).sum() for c in set(labels))
    assert got["sse"] == pytest.approx(sse, rel=1e-12)


def test_params_are_clustering_evaluators(tmp_path: Any) -> None:
    ev = KMeansEvaluator()
    assert (ev.getMetricName(), ev.getDistanceMeasure()) == ("silhouette", "squaredEuclidean")
    assert (ev.getFeaturesCol(), ev.getPredictionCol()) == ("features", "prediction")
    larger = {}
    for metric in ("silhouette", "calinskiHarabasz", "daviesBouldin", "sse"):
        larger[metric] = ev.setMetricName(metric).isLargerBetter()
    assert larger == {
        "silhouette": True,
        "calinskiHarabasz": True,
        "daviesBouldin": False,
        "sse": False,
    }
    ev.setParams(metricName="daviesBouldin", distanceMeasure="cosine", weightCol="w")
    assert ev.setFeaturesCol("f") is ev and ev.setPredictionCol("p") is ev
    ev.save(str(tmp_path / "ev"))
    back = KMeansEvaluator.load(str(tmp_path / "ev"))
    assert (back.getMetricName(), back.getDistanceMeasure(), back.getWeightCol()) == (
        "daviesBouldin",
        "cosine",
        "w",
    )
    assert (back.getFeaturesCol(), back.getPredictionCol()) == ("f", "p")
    with pytest.raises(ValueError, match=r"metricName='accuracy' is not supported"):
        KMeansEvaluator(metricName="accuracy")
    with pytest.raises(ValueError, match=r"distanceMeasure='manhattan' is not supported"):
        KMeansEvaluator().setDistanceMeasure("manhattan")


def test_refuses_rows_it_cannot_score(spark: Any) -> None:
    df = spark.createDataFrame(
        [([1.0, 2.0], 0), ([2.0, 2.0], None), ([5.0, 1.0], 1), (None, 1)],
        "features array<double>, prediction int",
    )
    with pytest.raises(KMeansInputError, match=r"2 rows cannot be evaluated: 1 with null"):
        KMeansEvaluator().evaluate(df)
    one = spark.createDataFrame([([1.0], 0), ([2.0], 0)], "features array<double>, prediction int")
    with pytest.raises(KMeansInputError, match="needs at least 2 clusters"):
        KMeansEvaluator().evaluate(one)
    assert KMeansEvaluator(metricName="sse").evaluate(one) == pytest.approx(0.5)


def test_train_validation_split_picks_the_true_k(spark: Any) -> None:
    """Tuned by silhouette in TrainValidationSplit; the same grid's models then ranked by
    each metric in its own direction (``isLargerBetter``) all pick the true k."""
    from pyspark.ml.tuning import ParamGridBuilder, TrainValidationSplit

    blobs = make_blobs(2000, 2, 4, spread=0.6, seed=5)
    df = frame(spark, blobs.x).cache()
    km = KMeans(inputCols=cols(2), seed=1)
    grid = ParamGridBuilder().addGrid(km.k, [2, 3, 4, 5, 6]).build()
    ev = KMeansEvaluator(inputCols=cols(2), metricName="silhouette")
    tvs = TrainValidationSplit(
        estimator=km, estimatorParamMaps=grid, evaluator=ev, seed=3, collectSubModels=True
    )
    model = tvs.fit(df)
    assert model.bestModel.getK() == 4, model.validationMetrics
    for metric in ("silhouette", "calinskiHarabasz", "daviesBouldin"):
        other = KMeansEvaluator(inputCols=cols(2), metricName=metric)
        values = [other.evaluate(m.transform(df)) for m in model.subModels]
        best = int(np.argmax(values) if other.isLargerBetter() else np.argmin(values))
        assert model.subModels[best].getK() == 4, (metric, values)
    df.unpersist()


def test_cross_validator_tunes_k_with_the_evaluator(spark: Any) -> None:
    from pyspark.ml.tuning import CrossValidator, ParamGridBuilder

    blobs = make_blobs(1500, 3, 3, spread=0.8, seed=8)
    df = frame(spark, blobs.x, as_vector=True).cache()
    km = KMeans(seed=2)
    grid = ParamGridBuilder().addGrid(km.k, [2, 3, 4]).build()
    ev = KMeansEvaluator(metricName="daviesBouldin")
    cv = CrossValidator(estimator=km, estimatorParamMaps=grid, evaluator=ev, numFolds=2, seed=1)
    model = cv.fit(df)
    assert model.bestModel.getK() == 3, model.avgMetrics
    assert int(np.argmin(model.avgMetrics)) == 1  # smaller is better for Davies-Bouldin
    df.unpersist()


@pytest.mark.parametrize("spherical", [False, True])
def test_compute_metrics_on_resident_blocks_equals_local_blocks_and_spark(
    spark: Any, spherical: bool
) -> None:
    from pyspark.ml.evaluation import ClusteringEvaluator

    b = make_blobs(1200, 3, 4, spread=1.5, seed=7)
    x = b.x + (4.0 if spherical else 0.0)
    w = np.random.default_rng(1).uniform(0.5, 2.0, len(x))
    centers = [np.array([x[b.labels == j].mean(axis=0) for j in range(4)]), x[:3].copy()]
    df = frame(spark, x, weights=w)
    settings = LoadSettings(spherical=spherical)
    with ResidentBlocks(prepare(df, "features", cols(3), "w"), settings) as blocks:
        blocks.load()
        got = compute_metrics(blocks, centers, spherical=spherical, sample_size=0)
    with LocalBlocks([x], settings, weights=[w]) as local:
        want = compute_metrics(local, centers, spherical=spherical, sample_size=0)
    measure = "cosine" if spherical else "squaredEuclidean"
    for g, loc, c in zip(got, want, centers, strict=True):
        for name in ("sse", "calinski_harabasz", "davies_bouldin", "silhouette"):
            assert getattr(g, name) == pytest.approx(getattr(loc, name), rel=1e-11), name
        assert g.cluster_sizes == loc.cluster_sizes
        # Spark's evaluator on the same labels (nearest centre; unit centres for cosine)
        u = x / np.linalg.norm(x, axis=1, keepdims=True) if spherical else x
        cc = c / np.linalg.norm(c, axis=1, keepdims=True) if spherical else c
        labels = ((u[:, None] - cc[None]) ** 2).sum(axis=2).argmin(axis=1)
        pdf = predictions(spark, x, labels, w)
        spark_value = ClusteringEvaluator(distanceMeasure=measure, weightCol="w").evaluate(pdf)
        assert g.silhouette == pytest.approx(spark_value, rel=TOL, abs=TOL)
