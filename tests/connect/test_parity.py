"""Classic session against Spark Connect (issue #17): the same data and seed give the same
centres (1e-9 relative) and the same labels, through the public fit and transform.

The classic side is a real fit in this process's classic session (the ``spark`` fixture:
the RDD transport, ``transform`` on the JVM path), done by a module fixture before this
module's Connect session switches PySpark to Connect mode; the Connect side runs on the
server (the DataFrame transport, ``transform`` on the Arrow path). Both sessions are
``local[2]`` with ``spark.default.parallelism=2``, so the fit's input is coalesced to the
same two partitions on both.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from kmeans_spark import KMeans

#: k-means|| with restarts, on four overlapping Gaussian blobs in 5-d (several Lloyd
#: iterations, so summation order would show).
PARAMS: dict[str, Any] = {"k": 4, "seed": 11, "nInit": 2, "maxIter": 30, "tol": 0.0}
COSINE: dict[str, Any] = {**PARAMS, "distanceMeasure": "cosine", "initMode": "random"}
#: ``numPartitions`` below, at and above the input's 4 partitions (coalesced, as it is, and
#: repartitioned: under Connect the count is unknown before the load, so the first and the
#: last load twice), with weights on the last.
#: One start and fewer iterations each: the blocks are what these cases compare.
QUICK: dict[str, Any] = {**PARAMS, "nInit": 1, "maxIter": 8}
PARTITIONED: dict[str, dict[str, Any]] = {
    "numPartitions=3": {**QUICK, "numPartitions": 3},
    "numPartitions=4": {**QUICK, "numPartitions": 4},
    "numPartitions=6, weighted": {**QUICK, "numPartitions": 6, "weightCol": "w"},
}


def gaussians(spark: Any) -> Any:
    """2,000 rows over 4 partitions (the last one empty), each of its blob's centre plus
    Spark's seeded Gaussian noise: the same rows wherever the same plan runs."""
    from pyspark.sql import functions as F

    ids = spark.range(0, 2500, 1, 4).filter(F.col("id") < 2000)
    blob = F.col("id") % 4
    values = [
        (blob * (j + 1) % 3) * 2.0 + (blob == j).cast("double") + F.randn(seed=j) * 1.2
        for j in range(5)
    ]
    weight = (F.col("id") % 7 + 1).cast("double") / 4.0
    return ids.select("id", F.array(*values).alias("features"), weight.alias("w"))


def fit_and_label(spark: Any) -> dict[str, tuple[np.ndarray, list[int], float]]:
    df = gaussians(spark)
    out = {}
    for name, params in (("euclidean", PARAMS), ("cosine", COSINE), *PARTITIONED.items()):
        model = KMeans(**params).fit(df)
        labels = model.transform(df).orderBy("id").select("prediction").toPandas()
        out[name] = (
            np.array(model.clusterCenters()),
            labels["prediction"].tolist(),
            model.summary.trainingCost,
        )
    return out


@pytest.fixture(scope="module")
def classic(spark: Any) -> dict[str, tuple[np.ndarray, list[int], float]]:
    """The classic session's fits, made before this module's Connect session exists."""
    from pyspark.sql.utils import is_remote

    assert not is_remote()
    return fit_and_label(spark)


def test_classic_and_connect_give_the_same_centres_and_labels(
    classic: dict[str, Any], connect: Any
) -> None:
    remote = fit_and_label(connect)
    for name, (centers, labels, cost) in classic.items():
        got_centers, got_labels, got_cost = remote[name]
        np.testing.assert_allclose(got_centers, centers, rtol=1e-9, atol=0, err_msg=name)
        assert got_labels == labels, name
        assert got_cost == pytest.approx(cost, rel=1e-9)
        assert len(set(labels)) == 4
    assert classic["numPartitions=6, weighted"][0].shape == (4, 5)
