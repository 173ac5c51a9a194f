"""Every bad parameter and input is rejected at fit with one clear message."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from kmeans_spark import KMeans, KMeansInputError
from kmeans_spark.datagen import make_blobs

from .helpers import cols


@pytest.fixture(scope="module")
def df(spark: Any) -> Any:
    from .helpers import frame

    return frame(spark, make_blobs(60, 2, 2, seed=31).x)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"k": 1}, r"k=1 must be >= 2"),
        ({"k": 61}, r"the input has 60 rows, fewer than k=61"),
        ({"maxIter": 0}, r"maxIter=0 must be >= 1"),
        ({"tol": -1.0}, r"tol=-1.0 must be"),
        ({"initSteps": 0}, r"initSteps=0 must be >= 1"),
        ({"oversamplingFactor": 0.0}, r"oversamplingFactor=0.0 must be"),
        ({"initMode": "kmeans++"}, r"initMode='kmeans\+\+' is not supported; use one of"),
        ({"distanceMeasure": "manhattan"}, r"distanceMeasure='manhattan' is not supported"),
        ({"emptyClusterPolicy": "drop"}, r"emptyClusterPolicy='drop' is not supported"),
        ({"dtype": "float16"}, r"dtype='float16' is not supported"),
        ({"numPartitions": -1}, r"numPartitions=-1 must be >= 0"),
        ({"initialCenters": [[0.0, 0.0, 0.0]] * 2}, r"initialCenters has shape \(2, 3\).*\(2, 2\)"),
        ({"initialCenters": [[0.0, 0.0]] * 3}, r"initialCenters has shape \(3, 2\)"),
        ({"solver": "fast"}, r"solver='fast' is not supported; use one of auto, row, block"),
        ({"maxBlockSizeInMB": -1.0}, r"maxBlockSizeInMB=-1.0 must be >= 0"),
        ({"intermediateStorageLevel": "NONE"}, r"intermediateStorageLevel='NONE' is not supp"),
        ({"k": None}, r"k=None is not allowed: k needs a value; leave it out for the default 2"),
        ({"tol": None}, r"tol=None is not allowed"),
        ({"featuresCol": None}, r"featuresCol=None is not allowed"),
    ],
)
def test_bad_parameters(df: Any, params: dict[str, Any], message: str) -> None:
    with pytest.raises(KMeansInputError, match=message):
        KMeans(inputCols=cols(2), **params).fit(df)


def test_missing_column(df: Any) -> None:
    with pytest.raises(KMeansInputError, match=r"feature column 'nope' does not exist.*x0, x1"):
        KMeans(inputCols=["x0", "nope"]).fit(df)
    with pytest.raises(KMeansInputError, match=r"features column 'features' does not exist"):
        KMeans().fit(df)


def test_non_numeric_column(spark: Any) -> None:
    bad = spark.createDataFrame([("a", 1.0), ("b", 2.0)], "name string, v double")
    with pytest.raises(KMeansInputError, match=r"feature column 'name' has type string"):
        KMeans(inputCols=["name", "v"]).fit(bad)
    with pytest.raises(KMeansInputError, match=r"features column 'name' has type string"):
        KMeans(featuresCol="name").fit(bad)
    with pytest.raises(KMeansInputError, match=r"weight column 'name' has type string"):
        KMeans(inputCols=["v"], weightCol="name").fit(bad)


@pytest.mark.parametrize("bad_value", [None, float("nan"), float("inf")])
def test_rows_with_null_nan_inf_are_counted_and_shown(spark: Any, bad_value: Any) -> None:
    rows = [(float(i), float(i % 7)) for i in range(40)]
    rows[5] = (bad_value, 1.0)
    rows[30] = (2.0, bad_value)
    bad = spark.createDataFrame(rows, "x0 double, x1 double").repartition(3)
    with pytest.raises(KMeansInputError) as err:
        KMeans(k=2, inputCols=["x0", "x1"]).fit(bad)
    text = str(err.value)
    assert text.startswith("2 rows have null, NaN or infinite features (first: partition ")
    assert "x0=" in text and "x1=" in text and "drop or impute" in text
    assert "\n" not in text


def test_bad_weights(spark: Any) -> None:
    rows = [(float(i), 1.0) for i in range(10)]
    rows[3] = (3.0, -2.0)
    bad = spark.createDataFrame(rows, "x0 double, w double")
    with pytest.raises(KMeansInputError, match=r"1 rows have a null, negative.*-2\.0"):
        KMeans(k=2, inputCols=["x0"], weightCol="w").fit(bad)
    zero = spark.createDataFrame([(float(i), 0.0) for i in range(10)], "x0 double, w double")
    with pytest.raises(KMeansInputError, match=r"sum to 0.0; at least one row needs a positive"):
        KMeans(k=2, inputCols=["x0"], weightCol="w").fit(zero)


def test_zero_vectors_with_cosine(spark: Any) -> None:
    rows = [(1.0, 0.0), (0.0, 0.0), (0.0, 1.0), (1.0, 1.0)]
    bad = spark.createDataFrame(rows, "x0 double, x1 double")
    with pytest.raises(KMeansInputError, match=r"1 rows are zero vectors.*cosine"):
        KMeans(k=2, inputCols=["x0", "x1"], distanceMeasure="cosine").fit(bad)


def test_ragged_vectors(spark: Any) -> None:
    bad = spark.createDataFrame([([1.0, 2.0],), ([1.0],), ([3.0, 4.0],)], "features array<double>")
    with pytest.raises(KMeansInputError, match=r"different number of features"):
        KMeans(k=2, numPartitions=1).fit(bad)


def test_empty_input(spark: Any) -> None:
    empty = spark.createDataFrame([], "x0 double, x1 double")
    with pytest.raises(KMeansInputError, match=r"the input has 0 rows, fewer than k=2"):
        KMeans(k=2, inputCols=["x0", "x1"]).fit(empty)


def test_message_names_vector_elements(spark: Any) -> None:
    from pyspark.ml.linalg import Vectors

    rows = [(Vectors.dense([1.0, float(i)]),) for i in range(5)] + [(Vectors.dense([np.nan, 1.0]),)]
    with pytest.raises(KMeansInputError, match=r"features\[0\]=nan, features\[1\]=1\.0"):
        KMeans(k=2, numPartitions=1).fit(spark.createDataFrame(rows, ["features"]))
