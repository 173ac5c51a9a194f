"""KMeans.sweep on a real local[2] Spark: every k in shared passes, the choice of k, and
each k's model equal to a fit from the same start."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from kmeans_spark import KMeans, KMeansInputError
from kmeans_spark.datagen import make_blobs

from .helpers import cols


def test_sweep_fits_every_k_in_shared_passes_and_chooses_the_true_k(
    spark: Any, frame_of: Any
) -> None:
    blobs = make_blobs(4000, 3, 4, spread=0.6, seed=21)
    df = frame_of(blobs.x)
    est = KMeans(seed=5, inputCols=cols(3), numPartitions=3, maxIter=30, tol=1e-6)
    sc = spark.sparkContext
    sc.setJobGroup("kmeans-sweep", "count the jobs of a sweep")
    try:
        sweep = est.sweep(df, range(2, 9), sampleSize=1500)
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
    jobs = sc.statusTracker().getJobIdsForGroup("kmeans-sweep")
    longest = max(sweep.model(k).summary.numIter for k in sweep.ks)
    assert len(jobs) == 1 + 3 + longest + 2  # load, seeding, shared Lloyd, two metrics passes
    assert sweep.ks == list(range(2, 9))
    choice = sweep.choice()
    assert (choice.knee, choice.best_calinski_harabasz, choice.best_silhouette) == (4, 4, 4)
    assert choice.k == 4
    table = sweep.table()
    assert table[2]["sse"] == pytest.approx(blobs.oracle_cost(), rel=1e-9)
    m4 = sweep.metrics(4)
    assert m4 is not None and m4.sample_size == 1500 and sum(m4.cluster_sizes) == 4000
    # each k is the fit of the estimator from the same initial centres
    for k in (3, 4, 7):
        model = sweep.model(k)
        start = np.array(sweep.outcome.runs[sweep.ks.index(k)].init.centers)
        alone = est.copy().setK(k).setInitialCenters(start).fit(df)
        np.testing.assert_allclose(
            np.array(model.clusterCenters()), np.array(alone.clusterCenters()), rtol=1e-9
        )
        assert model.summary.trainingCost == pytest.approx(alone.summary.trainingCost, rel=1e-9)
        assert (
            model.getK() == k and model.transform(df).select("prediction").distinct().count() == k
        )


def test_sweep_refuses_what_it_cannot_do(frame_of: Any) -> None:
    df = frame_of(make_blobs(100, 2, 2, seed=1).x)
    est = KMeans(inputCols=cols(2))
    with pytest.raises(KMeansInputError, match=r"ks=\[1, 2\] must be one or more values"):
        est.sweep(df, [1, 2])
    with pytest.raises(KMeansInputError, match="initialCenters is set"):
        est.copy().setInitialCenters([[0.0, 0.0], [1.0, 1.0]]).sweep(df, [2, 3])
    with pytest.raises(KMeansInputError, match="fewer than k=200"):
        est.sweep(df, [2, 200])
