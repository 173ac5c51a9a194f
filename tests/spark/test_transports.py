"""The engine's two transports in a classic session (issue #17): the DataFrame transport
(:class:`kmeans_spark.blocks_frame.FrameTransport`, the one Spark Connect runs) gives the
RDD transport's seeding and Lloyd on the same partitions, each pass's task prefers the
executor of its cached handle (where its block file is), and a fit through the public API
is the same on both."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from kmeans_spark import KMeans
from kmeans_spark.blocks import FittedBlocks, ResidentBlocks
from kmeans_spark.blocks_frame import RESULT_SCHEMA, FrameTransport
from kmeans_spark.datagen import make_blobs
from kmeans_spark.dataset import prepare
from kmeans_spark.lloyd import run_lloyd_runs
from kmeans_spark.load import InputStage, LoadSettings
from kmeans_spark.seeding import kmeans_parallel
from kmeans_spark.session import probe_parallelism, session_parallelism
from kmeans_spark.tuning import Tuning

from .helpers import cols

RDD, FRAME = Tuning(transport="rdd"), Tuning(transport="dataframe")


def fit_with(tuning: Tuning, features: Any, settings: LoadSettings, k: int) -> tuple[Any, Any]:
    with ResidentBlocks(features, settings, k=k, tuning=tuning) as blocks:
        assert blocks.transport == tuning.transport
        handles = blocks.load()
        dim = max(h.dim for h in handles)
        (seeded,) = kmeans_parallel(
            blocks, k=k, dim=dim, oversampling_factor=2.0, steps=2, seed=3, spherical=False
        )
        (lloyd,) = run_lloyd_runs(
            blocks, [seeded.centers], max_iter=10, tol=0.0, spherical=False, reseed_empty=True
        )
    return seeded, lloyd


def test_the_dataframe_transport_seeds_and_iterates_as_the_rdd_one(frame_of: Any) -> None:
    x = make_blobs(600, 3, 4, seed=2).x
    features = prepare(frame_of(x), "features", cols(3), None)
    settings = LoadSettings(sample_size=1, seed=3)
    rdd_seeded, rdd_lloyd = fit_with(RDD, features, settings, 4)
    df_seeded, df_lloyd = fit_with(FRAME, features, settings, 4)
    np.testing.assert_array_equal(df_seeded.centers, rdd_seeded.centers)
    np.testing.assert_allclose(df_lloyd.centers, rdd_lloyd.centers, rtol=1e-9, atol=0)
    assert df_lloyd.cluster_sizes == rdd_lloyd.cluster_sizes
    assert df_lloyd.num_iter == rdd_lloyd.num_iter


def test_a_fit_is_the_same_on_both_transports(frame_of: Any) -> None:
    """The public fit with the batch job's stage (blocks scaled where they lie, rows
    labelled from the blocks), large values (broadcast on the RDD transport, inline on the
    DataFrame one), grouped and per-block tasks: the same centres and assignments (the
    DataFrame transport's grouped tasks: the test above, and tests/connect)."""
    from pyspark.sql import functions as F

    x = make_blobs(900, 4, 5, seed=8).x
    df = frame_of(x).withColumn("id", F.monotonically_increasing_id())
    scale = (1.0, 2.0, 0.5, 4.0)
    labelled: dict[str, list[Any]] = {}

    def stage(name: str) -> InputStage:
        def fitted(blocks: FittedBlocks) -> None:
            labelled[name] = sorted(blocks.assignments().select("id", "prediction").collect())

        return InputStage(
            on_load=lambda _: ((0.5,) * 4, scale), scales=True, carry=("id",), on_fitted=fitted
        )

    layouts = {
        "rdd": Tuning(transport="rdd", inline_bytes=0),
        "dataframe per block": Tuning(transport="dataframe", inline_bytes=0, min_task_work=0),
    }
    models = {}
    for name, tuning in layouts.items():
        km = KMeans(k=5, seed=4, inputCols=cols(4), nInit=2).setTuning(tuning)
        models[name] = km.setInputStage(stage(name)).fit(df)
    gold = models["rdd"]
    for name, model in models.items():
        np.testing.assert_allclose(
            np.array(model.clusterCenters()), np.array(gold.clusterCenters()), rtol=1e-9, atol=0
        )
        assert model.summary.clusterSizes == gold.summary.clusterSizes
        assert labelled[name] == labelled["rdd"]
    assert len(labelled["rdd"]) == 900
    assert models["dataframe per block"].summary.diagnostics.passTasks == 2


def test_the_default_parallelism_is_found_without_a_spark_context(spark: Any) -> None:
    assert probe_parallelism(spark) == spark.sparkContext.defaultParallelism == 2
    assert session_parallelism(spark) == 2


def test_an_unknown_transport_is_refused() -> None:
    with pytest.raises(ValueError, match="transport='grpc' is not one of auto, rdd, dataframe"):
        Tuning(transport="grpc")


def test_each_pass_task_prefers_the_executor_of_its_cached_handle(
    spark: Any, frame_of: Any
) -> None:
    x = make_blobs(300, 2, 3, seed=4).x
    features = prepare(frame_of(x), "features", cols(2), None)
    tuning = Tuning(min_task_work=0, transport="dataframe")  # one task per block: no coalesce
    with ResidentBlocks(features, LoadSettings(), k=3, tuning=tuning) as blocks:
        blocks.load()
        transport = blocks._transport
        assert isinstance(transport, FrameTransport)

        def noop(batches: Any) -> Any:
            for _ in batches:
                pass
            yield pa.RecordBatch.from_arrays([pa.array([b""], pa.binary())], ["result"])

        passed = transport._pass_frame.mapInArrow(noop, RESULT_SCHEMA)  # type: ignore[union-attr]
        spark.sparkContext.parallelize([0], 1).count()  # refreshes the cache locations
        jsc = spark.sparkContext._jsc.sc()
        rdd = passed._jdf.queryExecution().executedPlan().execute()
        assert rdd.getNumPartitions() == 4
        for p in range(4):
            assert "executor_" in jsc.getPreferredLocs(rdd, p).toString()
