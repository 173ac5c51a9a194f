"""The DataFrame-only engine (:class:`kmeans_spark.frameblocks.FrameBlocks`, issue #17) in a
classic session: the same seeding and Lloyd as the RDD engine on the same partitions, and
each pass's task prefers the executor of its cached handle (where its block file is)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from kmeans_spark.blocks import ResidentBlocks
from kmeans_spark.datagen import make_blobs
from kmeans_spark.dataset import prepare
from kmeans_spark.frameblocks import RESULT_SCHEMA, FrameBlocks
from kmeans_spark.lloyd import run_lloyd_runs
from kmeans_spark.load import LoadSettings
from kmeans_spark.seeding import kmeans_parallel
from kmeans_spark.tuning import Tuning

from .helpers import cols


def fit_with(engine: type, features: Any, settings: LoadSettings, k: int) -> tuple[Any, Any]:
    with engine(features, settings, k=k) as blocks:
        handles = blocks.load()
        dim = max(h.dim for h in handles)
        (seeded,) = kmeans_parallel(
            blocks, k=k, dim=dim, oversampling_factor=2.0, steps=2, seed=3, spherical=False
        )
        (lloyd,) = run_lloyd_runs(
            blocks, [seeded.centers], max_iter=10, tol=0.0, spherical=False, reseed_empty=True
        )
    return seeded, lloyd


def test_frame_blocks_seed_and_iterate_as_resident_blocks(frame_of: Any) -> None:
    x = make_blobs(600, 3, 4, seed=2).x
    features = prepare(frame_of(x), "features", cols(3), None)
    settings = LoadSettings(sample_size=1, seed=3)
    rdd_seeded, rdd_lloyd = fit_with(ResidentBlocks, features, settings, 4)
    df_seeded, df_lloyd = fit_with(FrameBlocks, features, settings, 4)
    np.testing.assert_array_equal(df_seeded.centers, rdd_seeded.centers)
    np.testing.assert_allclose(df_lloyd.centers, rdd_lloyd.centers, rtol=1e-9, atol=0)
    assert df_lloyd.cluster_sizes == rdd_lloyd.cluster_sizes
    assert df_lloyd.num_iter == rdd_lloyd.num_iter


def test_each_pass_task_prefers_the_executor_of_its_cached_handle(
    spark: Any, frame_of: Any
) -> None:
    x = make_blobs(300, 2, 3, seed=4).x
    features = prepare(frame_of(x), "features", cols(2), None)
    tuning = Tuning(min_task_work=0)  # one task per block: no coalesce
    with FrameBlocks(features, LoadSettings(), k=3, tuning=tuning) as blocks:
        blocks.load()

        def noop(batches: Any) -> Any:
            for _ in batches:
                pass
            yield pa.RecordBatch.from_arrays([pa.array([b""], pa.binary())], ["result"])

        passed = blocks._pass_frame.mapInArrow(noop, RESULT_SCHEMA)  # type: ignore[union-attr]
        spark.sparkContext.parallelize([0], 1).count()  # refreshes the cache locations
        jsc = spark.sparkContext._jsc.sc()
        rdd = passed._jdf.queryExecution().executedPlan().execute()
        assert rdd.getNumPartitions() == 4
        for p in range(4):
            assert "executor_" in jsc.getPreferredLocs(rdd, p).toString()
