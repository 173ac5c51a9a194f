"""The estimator on a real local[2] Spark: convergence, parity, quality, options."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest

from kmeans_spark import KMeans, KMeansInputError, KMeansModel
from kmeans_spark.datagen import make_blobs
from kmeans_spark.tuning import Tuning

from .helpers import cols, sorted_rows

sklearn_cluster = pytest.importorskip("sklearn.cluster")


def test_converges_to_the_generating_clusters(frame_of: Any) -> None:
    blobs = make_blobs(3000, 3, 4, spread=0.5, seed=1)
    df = frame_of(blobs.x)
    model = KMeans(k=4, seed=3, inputCols=cols(3), numPartitions=4).fit(df)
    s = model.summary
    assert s.converged and s.convergenceReason == "converged"
    assert s.trainingCost == pytest.approx(blobs.oracle_cost(), rel=1e-9)
    assert sorted(s.clusterSizes) == [750] * 4
    assert s.numRows == 3000 and s.numFeatures == 3 and s.diagnostics.numPartitions == 4
    np.testing.assert_allclose(
        sorted_rows(model.clusterCenters()), sorted_rows(blobs.centers), atol=0.1
    )
    assert len(s.costHistory) == s.numIter == len(s.diagnostics.shiftHistory)
    assert set(s.diagnostics.phaseSeconds) == {"load", "init", "lloyd", "total"}


def test_equals_scikit_learn_lloyd_from_the_same_centres(frame_of: Any) -> None:
    blobs = make_blobs(2000, 4, 6, spread=2.5, seed=2)  # overlapping: many iterations
    init = blobs.x[:6].copy()
    df = frame_of(blobs.x)
    ours = KMeans(
        k=6, inputCols=cols(4), initialCenters=init.tolist(), maxIter=15, tol=0.0, numPartitions=4
    ).fit(df)
    ref = sklearn_cluster.KMeans(6, init=init, n_init=1, max_iter=15, tol=0.0).fit(blobs.x)
    np.testing.assert_allclose(
        np.array(ours.clusterCenters()), ref.cluster_centers_, rtol=1e-6, atol=1e-6
    )
    assert ours.summary.trainingCost == pytest.approx(ref.inertia_, rel=1e-6)


@pytest.mark.parametrize("measure", ["euclidean", "cosine"])
def test_parity_with_spark_mllib_from_the_same_centres(
    spark: Any, frame_of: Any, measure: str
) -> None:
    from pyspark.mllib.clustering import KMeans as MLlibKMeans
    from pyspark.mllib.clustering import KMeansModel as MLlibModel

    blobs = make_blobs(1500, 3, 5, spread=2.0, seed=3)
    x = blobs.x + (5.0 if measure == "cosine" else 0.0)
    init = x[:5].copy()
    df = frame_of(x)
    ours = KMeans(
        k=5,
        inputCols=cols(3),
        initialCenters=init.tolist(),
        maxIter=10,
        tol=0.0,
        distanceMeasure=measure,
        emptyClusterPolicy="keep",
        numPartitions=4,
    ).fit(df)
    rdd = spark.sparkContext.parallelize([r for r in x], 3)
    theirs = MLlibKMeans.train(
        rdd,
        5,
        maxIterations=10,
        epsilon=0.0,
        initialModel=MLlibModel([c for c in init]),
        distanceMeasure=measure,
    )
    mllib_centres = np.array(theirs.clusterCenters)
    if measure == "cosine":
        mllib_centres /= np.linalg.norm(mllib_centres, axis=1, keepdims=True)
    np.testing.assert_allclose(np.array(ours.clusterCenters()), mllib_centres, rtol=1e-6, atol=1e-6)


def test_kmeans_parallel_matches_scikit_learn_quality(frame_of: Any) -> None:
    """Default k-means|| plus Lloyd, one run, against scikit-learn's greedy k-means++
    (n_init=1), over the same three seeds: the median cost must be within 1%."""
    blobs = make_blobs(6000, 16, 40, spread=1.0, box=4.0, seed=4)
    df = frame_of(blobs.x)
    ours, theirs = [], []
    for seed in (1, 2, 3):
        model = KMeans(k=40, seed=seed, inputCols=cols(16), numPartitions=4).fit(df)
        ours.append(model.summary.trainingCost)
        ref = sklearn_cluster.KMeans(40, n_init=1, random_state=seed, max_iter=20).fit(blobs.x)
        theirs.append(ref.inertia_)
    assert np.median(ours) <= 1.01 * np.median(theirs), (ours, theirs)


def test_weights_equal_duplicated_rows(frame_of: Any) -> None:
    rng = np.random.default_rng(5)
    x = make_blobs(600, 2, 3, spread=2.0, seed=5).x
    reps = rng.integers(1, 4, size=600)
    init = x[:3].tolist()
    common = dict(k=3, inputCols=cols(2), initialCenters=init, maxIter=10, tol=0.0)
    weighted = KMeans(weightCol="w", **common).fit(frame_of(x, weights=reps.astype(float)))
    repeated = KMeans(**common).fit(frame_of(np.repeat(x, reps, axis=0)))
    np.testing.assert_allclose(
        np.array(weighted.clusterCenters()), np.array(repeated.clusterCenters()), rtol=1e-10
    )
    assert weighted.summary.trainingCost == pytest.approx(repeated.summary.trainingCost, rel=1e-9)
    assert weighted.summary.clusterWeights == pytest.approx(
        [float(s) for s in repeated.summary.clusterSizes]
    )


def test_zero_weight_rows_never_become_centres(frame_of: Any) -> None:
    x = np.concatenate([make_blobs(300, 2, 2, seed=6).x, [[500.0, 500.0]]])
    w = np.ones(301)
    w[-1] = 0.0
    model = KMeans(k=2, seed=1, inputCols=cols(2), weightCol="w").fit(frame_of(x, weights=w))
    assert np.abs(np.array(model.clusterCenters())).max() < 100


def test_cosine_clusters_directions(frame_of: Any) -> None:
    rng = np.random.default_rng(7)
    dirs = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
    x = np.concatenate([d * rng.uniform(1, 50, size=(200, 1)) for d in dirs])
    x += rng.normal(scale=0.05, size=x.shape)
    model = KMeans(k=3, seed=2, inputCols=cols(3), distanceMeasure="cosine").fit(frame_of(x))
    centers = np.array(model.clusterCenters())
    by_axis = centers[np.argsort(np.argmax(centers, axis=1))]
    np.testing.assert_allclose(by_axis, dirs, atol=0.01)
    assert sorted(model.summary.clusterSizes) == [200, 200, 200]
    assert 0 < model.summary.trainingCost < 0.01 * 600


def test_empty_cluster_is_reseeded_not_left_at_origin(frame_of: Any) -> None:
    x = make_blobs(900, 2, 3, spread=0.3, seed=8).x
    init = np.array([x[0], x[1], [1e4, 1e4]])  # the third centre attracts nothing
    common = dict(k=3, inputCols=cols(2), initialCenters=init.tolist(), maxIter=20)
    reseeded = KMeans(**common).fit(frame_of(x))
    kept = KMeans(emptyClusterPolicy="keep", **common).fit(frame_of(x))
    assert reseeded.summary.diagnostics.reseededClusters >= 1
    assert min(reseeded.summary.clusterSizes) > 0
    assert np.isfinite(np.array(reseeded.clusterCenters())).all()
    np.testing.assert_array_equal(kept.clusterCenters()[2], [1e4, 1e4])
    assert kept.summary.clusterSizes[2] == 0
    assert reseeded.summary.trainingCost < kept.summary.trainingCost


def test_same_seed_same_partitioning_gives_identical_centres(frame_of: Any) -> None:
    x = make_blobs(2000, 5, 8, spread=2.0, seed=9).x
    df = frame_of(x)
    runs = [KMeans(k=8, seed=11, inputCols=cols(5), numPartitions=4).fit(df) for _ in range(2)]
    np.testing.assert_array_equal(
        np.array(runs[0].clusterCenters()), np.array(runs[1].clusterCenters())
    )
    assert runs[0].summary.costHistory == runs[1].summary.costHistory
    # another seed draws other k-means|| candidates, so Lloyd starts elsewhere (it may
    # still end at the same optimum: compare where it started, not where it ended)
    other = KMeans(k=8, seed=12, inputCols=cols(5), numPartitions=4).fit(df)
    assert other.summary.diagnostics.initCost != runs[0].summary.diagnostics.initCost
    assert other.summary.costHistory[0] != runs[0].summary.costHistory[0]


def test_vector_and_array_columns_and_float32(spark: Any, frame_of: Any) -> None:
    from pyspark.sql import functions as F

    blobs = make_blobs(1200, 4, 3, spread=0.5, seed=10)
    vec_df = frame_of(blobs.x, as_vector=True)
    by_vector = KMeans(k=3, seed=1).fit(vec_df)
    arr_df = frame_of(blobs.x).select(F.array(*cols(4)).alias("features"))
    by_array = KMeans(k=3, seed=1).fit(arr_df)
    f32 = KMeans(k=3, seed=1, dtype="float32").fit(vec_df)
    ref = sorted_rows(by_vector.clusterCenters())
    np.testing.assert_allclose(sorted_rows(by_array.clusterCenters()), ref, rtol=1e-12)
    np.testing.assert_allclose(sorted_rows(f32.clusterCenters()), ref, rtol=1e-4, atol=1e-4)
    assert f32.summary.trainingCost == pytest.approx(by_vector.summary.trainingCost, rel=1e-4)


def test_sparse_vectors_are_densified(spark: Any) -> None:
    from pyspark.ml.linalg import Vectors

    rows = [(Vectors.sparse(3, {0: 1.0 + i % 3 * 0.01}),) for i in range(30)]
    rows += [(Vectors.dense([0.0, 0.0, 9.0 + i % 3 * 0.01]),) for i in range(30)]
    model = KMeans(k=2, seed=1).fit(spark.createDataFrame(rows, ["features"]))
    assert sorted(model.summary.clusterSizes) == [30, 30]
    assert sorted_rows(model.clusterCenters())[0][0] == pytest.approx(0.0)


def test_random_init_starts_from_k_rows_of_the_data(frame_of: Any) -> None:
    """The first iteration's cost is the data's cost about the initial centres: for random
    init it must be the cost about some pair of rows (brute force over all 66 pairs)."""
    x = np.random.default_rng(11).normal(size=(12, 2))
    df = frame_of(x)
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=2)
    pair_costs = np.array([np.minimum(d2[i], d2[j]).sum() for i in range(12) for j in range(i)])
    starts = []
    for seed in (4, 5):
        model = KMeans(k=2, seed=seed, initMode="random", inputCols=cols(2)).fit(df)
        assert model.summary.initMode == "random"
        start = model.summary.costHistory[0]
        assert np.isclose(pair_costs, start, rtol=1e-9).any(), (start, sorted(pair_costs))
        starts.append(start)
    assert starts[0] != starts[1]  # the seed picks the rows
    # an explicit None is kept as Spark keeps it, and means "no initial centres"
    unset = KMeans(k=2, seed=5, initMode="random", inputCols=cols(2), initialCenters=None)
    assert unset.fit(df).summary.costHistory[0] == starts[1]


def test_logs_one_line_per_iteration(frame_of: Any, caplog: pytest.LogCaptureFixture) -> None:
    x = make_blobs(500, 2, 3, seed=12).x
    with caplog.at_level(logging.INFO, logger="kmeans_spark"):
        model = KMeans(k=3, seed=1, inputCols=cols(2)).fit(frame_of(x))
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("iteration ")]
    assert len(lines) == model.summary.numIter
    assert "cost" in lines[0] and "max centre shift" in lines[0]


def test_warm_start_from_model(frame_of: Any) -> None:
    blobs = make_blobs(800, 2, 4, spread=0.4, seed=13)
    df = frame_of(blobs.x)
    first = KMeans(k=4, seed=1, inputCols=cols(2)).fit(df)
    warm = KMeans(inputCols=cols(2)).setInitialModel(first).fit(df)
    assert warm.summary.initMode == "initialCenters"
    assert warm.summary.numIter == 1
    np.testing.assert_allclose(
        np.array(warm.clusterCenters()), np.array(first.clusterCenters()), atol=1e-9
    )
    assert isinstance(warm, KMeansModel)


def test_fewer_distinct_points_than_k_converges(spark: Any) -> None:
    rows = [(0.1, 0.2)] * 50 + [(5.3, 1.7)] * 50 + [(9.9, 4.4)] * 50
    df = spark.createDataFrame(rows, "x0 double, x1 double")
    model = KMeans(k=6, seed=3, inputCols=cols(2)).fit(df)
    s = model.summary
    assert s.converged and s.numIter < 20
    assert np.isfinite(np.array(model.clusterCenters())).all()
    assert sorted(c for c in s.clusterSizes if c) == [50, 50, 50]
    assert s.trainingCost == pytest.approx(0.0, abs=1e-12)


def test_data_far_from_zero_in_float32(frame_of: Any) -> None:
    """Income around 52000 and age around 31: float32 must still assign like float64."""
    rng = np.random.default_rng(14)
    centres = np.array([[52000.0, 31.0], [52006.0, 31.0], [52000.0, 37.0]])
    x = np.concatenate([c + rng.normal(size=(400, 2)) for c in centres])
    df = frame_of(x)
    init = centres.tolist()
    common = dict(k=3, inputCols=cols(2), initialCenters=init, tol=0.0, maxIter=10)
    f64 = KMeans(**common).fit(df)
    f32 = KMeans(dtype="float32", **common).fit(df)
    assert f32.summary.clusterSizes == f64.summary.clusterSizes
    assert f32.summary.trainingCost == pytest.approx(f64.summary.trainingCost, rel=1e-5)
    d = ((x[:, None, :] - np.array(f64.clusterCenters())[None]) ** 2).sum(axis=2)
    assert f64.summary.trainingCost == pytest.approx(d.min(axis=1).sum(), rel=1e-9)


def test_dotted_column_names_and_spark_only_params(spark: Any) -> None:
    rows = [(float(i % 2) * 10 + 0.01 * i, 1.0) for i in range(40)]
    df = spark.createDataFrame(rows, "`a.b` double, c double")
    model = KMeans(k=2, seed=1, inputCols=["a.b", "c"], solver="row", maxBlockSizeInMB=1.0).fit(df)
    assert sorted(model.summary.clusterSizes) == [20, 20]
    assert "prediction" in model.transform(df).columns
    with pytest.raises(KMeansInputError, match=r"solver='fast' is not supported"):
        KMeans(k=2, inputCols=["c"], solver="fast").fit(df)


@pytest.mark.parametrize("measure", ["euclidean", "cosine"])
def test_pruned_iterations_equal_plain_ones(frame_of: Any, measure: str) -> None:
    """Hamerly's bounds skip most distances in later iterations, and change nothing: the
    same assignments, so bit-identical centres."""
    from kmeans_spark.kernels import pruning

    blobs = make_blobs(4000, 8, 32, spread=1.0, seed=21)
    x = blobs.x + (30.0 if measure == "cosine" else 0.0)
    df = frame_of(x)
    common: dict[str, Any] = dict(
        k=32,
        seed=5,
        inputCols=cols(8),
        tol=0.0,
        maxIter=8,
        distanceMeasure=measure,
        initMode="random",  # many iterations to prune (k-means|| converges in two)
    )
    assert pruning.use_pruning(32, 8)
    pruned = KMeans(**common).fit(df)
    plain = KMeans(**common).setTuning(Tuning(prune=False)).fit(df)
    assert plain.summary.numIter == pruned.summary.numIter >= 5
    assert plain.summary.diagnostics.prunedFraction == [0.0] * plain.summary.numIter
    assert pruned.summary.diagnostics.prunedFraction[0] == 0.0  # no bounds before the first pass
    assert max(pruned.summary.diagnostics.prunedFraction[1:]) > 0.5
    np.testing.assert_array_equal(
        np.array(pruned.clusterCenters()), np.array(plain.clusterCenters())
    )
    np.testing.assert_allclose(pruned.summary.costHistory, plain.summary.costHistory, rtol=1e-9)
    assert pruned.summary.clusterSizes == plain.summary.clusterSizes


def test_restarts_share_passes_and_keep_the_lowest_cost(spark: Any, frame_of: Any) -> None:
    """nInit=5 on near-neighbour blobs: every run's cost is reported, the kept one is the
    lowest, the first restart is the nInit=1 fit itself, and the seeding rounds and the
    iterations of all restarts share their passes (one Spark job each)."""
    blobs = make_blobs(4000, 2, 20, spread=0.3, seed=7)
    df = frame_of(blobs.x)
    base = KMeans(k=20, seed=1, inputCols=cols(2), numPartitions=3, maxIter=50, tol=1e-6)
    single = base.copy().fit(df).summary
    sc = spark.sparkContext
    sc.setJobGroup("kmeans-restarts", "count the jobs of a fit with restarts")
    try:
        restarts = base.copy().setNInit(5).fit(df).summary
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
    jobs = sc.statusTracker().getJobIdsForGroup("kmeans-restarts")
    costs = restarts.diagnostics.runCosts
    assert len(costs) == 5 and restarts.trainingCost == min(costs)
    assert costs[restarts.diagnostics.bestRun] == min(costs)
    assert costs[0] == pytest.approx(single.trainingCost, rel=1e-9)
    assert min(costs) <= blobs.oracle_cost() * (1 + 1e-9)
    # load + 3 seeding passes + as many Lloyd passes as the longest run needed (<= maxIter)
    assert 1 + 3 + restarts.numIter <= len(jobs) <= 1 + 3 + 50
    assert single.diagnostics.runCosts == [single.trainingCost]
