"""Lost block files, lost k-means|| state, job count per pass, task layout, and clean-up of
local files."""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
import pytest

from kmeans_spark import KMeans, KMeansInputError
from kmeans_spark.datagen import make_blobs
from kmeans_spark.tuning import Tuning

from .helpers import cols, local_root


@pytest.fixture(scope="module")
def data(spark: Any) -> Any:
    from .helpers import frame

    return frame(spark, make_blobs(2400, 3, 5, spread=2.0, seed=41).x)


#: Both task layouts of a pass: this data is light, so by default one task does every
#: block; with no minimum work each block gets its own task over the cached handles.
LAYOUTS = {"grouped": Tuning(), "per-block": Tuning(min_task_work=0.0)}


@pytest.fixture(params=sorted(LAYOUTS))
def layout(request: Any) -> str:
    return str(request.param)


def fit(df: Any, tuning: Tuning = LAYOUTS["grouped"]) -> Any:
    km = KMeans(k=5, seed=7, inputCols=cols(3), numPartitions=4, tol=0.0, maxIter=6)
    return km.setTuning(tuning).fit(df)


def test_lost_block_files_are_rebuilt_and_the_result_is_unchanged(
    spark: Any, data: Any, delete_on_log: Any, layout: str
) -> None:
    reference = fit(data, LAYOUTS[layout])
    assert reference.summary.diagnostics.passTasks == (1 if layout == "grouped" else 3)
    handler = delete_on_log(
        "iteration 2:", os.path.join(local_root(spark), "kmeans_spark", "*", "g0-*-x.npy")
    )
    disturbed = fit(data, LAYOUTS[layout])
    assert handler.deleted == 3  # three non-empty partitions lost their blocks
    assert disturbed.summary.diagnostics.blockRebuilds == 1
    np.testing.assert_array_equal(
        np.array(disturbed.clusterCenters()), np.array(reference.clusterCenters())
    )
    assert disturbed.summary.costHistory == reference.summary.costHistory


def test_lost_kmeans_parallel_state_is_recomputed(
    spark: Any, data: Any, delete_on_log: Any
) -> None:
    reference = fit(data)
    handler = delete_on_log(
        "k-means|| round 1:", os.path.join(local_root(spark), "kmeans_spark", "*", "*-seed*.npy")
    )
    disturbed = fit(data)
    assert handler.deleted == 3
    assert disturbed.summary.diagnostics.blockRebuilds == 0
    np.testing.assert_array_equal(
        np.array(disturbed.clusterCenters()), np.array(reference.clusterCenters())
    )


def test_lost_pruning_bounds_mean_a_full_pass_and_the_same_result(
    spark: Any, data: Any, delete_on_log: Any
) -> None:
    pruned = Tuning(prune=True)  # prune even this small problem
    reference = fit(data, pruned)
    assert max(reference.summary.diagnostics.prunedFraction) > 0.5
    handler = delete_on_log(
        "iteration 3:", os.path.join(local_root(spark), "kmeans_spark", "*", "*-lloyd*.npy")
    )
    disturbed = fit(data, pruned)
    assert handler.deleted == 3
    assert disturbed.summary.diagnostics.prunedFraction[3] == 0.0  # iteration 4 found no bounds
    assert disturbed.summary.diagnostics.blockRebuilds == 0
    np.testing.assert_array_equal(
        np.array(disturbed.clusterCenters()), np.array(reference.clusterCenters())
    )


def test_one_spark_job_per_pass(spark: Any, data: Any, layout: str) -> None:
    sc = spark.sparkContext
    data.count()
    group = f"kmeans-job-count-{layout}"
    sc.setJobGroup(group, "count the jobs of one fit")
    try:
        model = fit(data, LAYOUTS[layout])
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
    jobs = sc.statusTracker().getJobIdsForGroup(group)
    # load + (initSteps=2 rounds + 1 weighting pass) + one per iteration; with a local
    # master the driver removes the block files itself (a cluster adds one clean-up job)
    assert len(jobs) == 1 + 3 + model.summary.numIter


def test_task_layout_and_how_centres_travel_do_not_change_results(data: Any) -> None:
    """The driver merges per-block results in partition order whatever the tasks, and the
    centres are the same inside the task or broadcast: results are bit-identical."""
    grouped = fit(data)
    # every block its own task, and every pass broadcasts its centres
    per_block = fit(data, Tuning(min_task_work=0.0, inline_bytes=0))
    assert (grouped.summary.diagnostics.passTasks, per_block.summary.diagnostics.passTasks) == (
        1,
        3,
    )
    # local[2]: the one grouped task does its three blocks on two threads
    assert (grouped.summary.diagnostics.passThreads, per_block.summary.diagnostics.passThreads) == (
        2,
        1,
    )
    np.testing.assert_array_equal(
        np.array(grouped.clusterCenters()), np.array(per_block.clusterCenters())
    )
    assert grouped.summary.costHistory == per_block.summary.costHistory
    assert grouped.summary.trainingCost == per_block.summary.trainingCost


def test_local_files_are_removed_after_fit_and_after_failure(spark: Any, data: Any) -> None:
    root = os.path.join(local_root(spark), "kmeans_spark")

    def fits() -> set[str]:  # the fit directories under the root
        return set(os.listdir(root)) if os.path.isdir(root) else set()

    before = fits()
    fit(data)
    assert fits() <= before
    bad = spark.createDataFrame([(1.0,), (float("nan"),), (2.0,)], "x0 double")
    with pytest.raises(KMeansInputError):
        KMeans(k=2, inputCols=["x0"]).fit(bad)
    assert fits() <= before


def test_a_rebuild_revalidates_the_input(spark: Any, delete_on_log: Any, tmp_path: Any) -> None:
    """Blocks lost mid-fit are rebuilt from the input; if the input has gone bad since, the
    fit fails with the bad-row message, not a misleading "files went missing"."""
    flag = str(tmp_path / "input-went-bad")
    x = make_blobs(600, 3, 3, spread=6.0, seed=43).x.tolist()  # overlapping: slow to converge
    spoiled = x[5][0]

    def maybe_spoil(row: list[float]) -> tuple[float, ...]:
        if row[0] == spoiled and os.path.exists(flag):
            return (float("nan"), row[1], row[2])
        return tuple(row)

    rdd = spark.sparkContext.parallelize(x, 2).map(maybe_spoil)
    df = spark.createDataFrame(rdd, schema=cols(3))
    handler = delete_on_log(
        "iteration 2:", os.path.join(local_root(spark), "kmeans_spark", "*", "g0-*-x.npy")
    )
    original = handler.emit

    def emit_and_spoil(record: logging.LogRecord) -> None:
        if record.getMessage().startswith("iteration 2:"):
            open(flag, "w").close()
        original(record)

    handler.emit = emit_and_spoil  # type: ignore[method-assign]
    with pytest.raises(KMeansInputError, match=r"rows have null, NaN or infinite features"):
        KMeans(k=5, seed=1, inputCols=cols(3), tol=0.0, maxIter=6).fit(df)
    assert handler.deleted == 2
