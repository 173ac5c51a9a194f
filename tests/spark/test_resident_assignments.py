"""The fit's rows labelled where their blocks lie (``InputStage.carry`` and ``on_fitted``,
:class:`kmeans_spark.blocks.FittedBlocks`) equal ``KMeansModel.transform`` of the same rows:
the same labels, distances to 1e-9, each row with its own carried columns; for both
distance measures, scaled blocks, dropped bad rows, weights, an empty partition and the
features carried as read. The DataFrame runs where the blocks are, and fails rather than
drop the rows of a block whose files are gone."""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest

from kmeans_spark import KMeans, KMeansInputError, KMeansModel
from kmeans_spark.blocks import FittedBlocks, is_missing_block
from kmeans_spark.colstats import ColumnStats
from kmeans_spark.datagen import make_blobs
from kmeans_spark.handle import BlockHandle
from kmeans_spark.load import Affine, InputStage

FEATURES = ["x0", "x1", "x2"]
DAY = datetime.date(2026, 11, 22)


def frame(spark: Any, x: np.ndarray, weights: np.ndarray | None = None) -> Any:
    """Rows ``id`` (long), ``name`` (string), ``day`` (date), ``x0..x2`` (and ``w``) over
    three partitions and an empty fourth."""
    from pyspark.sql.types import (
        DateType,
        DoubleType,
        LongType,
        StringType,
        StructField,
        StructType,
    )

    fields = [
        StructField("id", LongType()),
        StructField("name", StringType()),
        StructField("day", DateType()),
        *[StructField(c, DoubleType()) for c in FEATURES],
    ]
    rows = [
        (
            i * 7 + 1,
            f"row-{i}",
            DAY + datetime.timedelta(days=i % 5),
            *[None if np.isnan(v) and i % 2 else float(v) for v in r],
        )
        for i, r in enumerate(x.tolist())
    ]
    if weights is not None:
        fields.append(StructField("w", DoubleType()))
        rows = [(*r, float(w)) for r, w in zip(rows, weights, strict=True)]
    sc = spark.sparkContext
    rdd = sc.parallelize(rows, 3).union(sc.parallelize([], 1))
    return spark.createDataFrame(rdd, StructType(fields))


class Captured:
    """An input stage that scales (optionally) like the batch job, carries ``carry``, and
    keeps the labelled rows the fit hands its ``on_fitted``."""

    def __init__(self, carry: Sequence[str], *, scale: bool = False, drop: bool = False):
        self.affine: Affine | None = None
        self.rows: pd.DataFrame | None = None
        self.types: dict[str, str] = {}
        self._scale = scale
        self.stage = InputStage(
            on_load=self._loaded,
            drop_bad_rows=drop,
            scales=scale,
            carry=tuple(carry),
            on_fitted=self._fitted,
        )

    def _loaded(self, handles: Sequence[BlockHandle]) -> Affine | None:
        if self._scale:
            stats = ColumnStats.combine((h.column_stats for h in handles), len(FEATURES))
            self.affine = (tuple(stats.mean), tuple(stats.std))
        return self.affine

    def _fitted(self, fitted: FittedBlocks) -> None:
        self.check(fitted)
        labelled = fitted.assignments()
        self.types = {f.name: f.dataType.simpleString() for f in labelled.schema.fields}
        self.rows = labelled.toPandas()

    def check(self, fitted: FittedBlocks) -> None:
        """More checks while the blocks exist (a test's own)."""


def fit(
    df: Any, captured: Captured, *, measure: str = "euclidean", weight: str | None = None
) -> KMeansModel:
    kmeans = KMeans(
        k=4,
        seed=2,
        inputCols=FEATURES,
        distanceMeasure=measure,
        distanceCol="distance",
        numPartitions=4,  # as many blocks as partitions: one of them empty
    ).setInputStage(captured.stage)
    if weight:
        kmeans.setWeightCol(weight)
    return kmeans.fit(df)


def transformed(df: Any, model: KMeansModel, affine: Affine | None) -> pd.DataFrame:
    """``model.transform`` of ``df``'s rows, scaled by ``affine`` as the blocks were."""
    from pyspark.sql import functions as F

    model = model.copy()
    if affine is not None:
        offset, scale = affine
        df = df.select(
            "id",
            *[
                ((F.col(c) - o) / s).alias("s_" + c)
                for c, o, s in zip(FEATURES, offset, scale, strict=True)
            ],
        )
        model.setInputCols(["s_" + c for c in FEATURES])
    return model.transform(df).select("id", "prediction", "distance").toPandas()


def assert_same(got: pd.DataFrame, want: pd.DataFrame, atol: float = 0.0) -> None:
    """Same rows by id, identical labels, distances to 1e-9 relative (and ``atol``)."""
    assert got["id"].is_unique and len(got) == len(want)
    both = got.merge(want, on="id", suffixes=("", "_want"), validate="one_to_one")
    assert len(both) == len(want)
    np.testing.assert_array_equal(both["prediction"], both["prediction_want"])
    np.testing.assert_allclose(both["distance"], both["distance_want"], rtol=1e-9, atol=atol)


def blobs(n: int = 600, seed: int = 1, *, shift: bool = True) -> np.ndarray:
    """Blobs whose features differ in spread (scaling matters) and, with ``shift``, sit
    far from zero (centring matters)."""
    x = make_blobs(n, 3, 4, spread=0.8, seed=seed).x * [1.0, 50.0, 0.1]
    return x + np.array([2.0, -100.0, 30.0]) if shift else x


@pytest.mark.parametrize("scale", [False, True], ids=["unscaled", "standard"])
@pytest.mark.parametrize("measure", ["euclidean", "cosine"])
def test_the_labelled_blocks_equal_transform(spark: Any, measure: str, scale: bool) -> None:
    # for cosine, around zero: far from it every angle is tiny
    x = blobs(shift=measure == "euclidean")
    df = frame(spark, x)
    captured = Captured(["id", "name", "day"], scale=scale)
    model = fit(df, captured, measure=measure)
    got = captured.rows
    assert got is not None and list(got.columns) == ["id", "name", "day", "prediction", "distance"]
    want = transformed(df, model, captured.affine)
    # 1 - cos is a difference of numbers near 1 on either side (transform of a small model
    # computes it in SQL, the blocks by GEMM): both exact to ~1e-16, absolutely
    assert_same(got, want, atol=1e-15 if measure == "cosine" else 0.0)
    # each row's own carried values
    index = (got["id"] - 1) // 7
    assert (got["name"] == [f"row-{i}" for i in index]).all()
    assert (got["day"] == [DAY + datetime.timedelta(days=int(i) % 5) for i in index]).all()
    assert captured.types == {
        "id": "bigint",
        "name": "string",
        "day": "date",
        "prediction": "int",
        "distance": "double",
    }


def test_dropped_bad_rows_are_the_rows_transform_leaves_out(spark: Any) -> None:
    from pyspark.sql import functions as F

    x = blobs(500, seed=3)
    x[[0, 11, 240, 241, 499], [0, 1, 2, 0, 1]] = np.nan  # odd rows: null, even: NaN
    x[100, 2] = np.inf
    df = frame(spark, x)
    captured = Captured(["id"], scale=True, drop=True)
    model = fit(df, captured)
    finite = F.lit(True)
    for c in FEATURES:  # as the job's BAD flag: null, NaN or infinite
        finite = finite & F.col(c).isNotNull() & ~F.isnan(c) & ~F.col(c).isin(np.inf, -np.inf)
    want = transformed(df.where(finite), model, captured.affine)
    assert len(want) == 494
    assert captured.rows is not None
    assert_same(captured.rows, want)


def test_weighted_rows_are_labelled_as_transform_labels_them(spark: Any) -> None:
    x = blobs(400, seed=4)
    weights = np.random.default_rng(4).uniform(0.0, 3.0, len(x))
    weights[:50] = 0.0
    df = frame(spark, x, weights)
    captured = Captured(["id"])
    model = fit(df, captured, weight="w")
    assert captured.rows is not None
    assert_same(captured.rows, transformed(df, model, None))


def test_features_carried_as_read_keep_their_original_values(spark: Any) -> None:
    x = blobs(300, seed=5)
    df = frame(spark, x)
    captured = Captured(["id", *FEATURES], scale=True)
    model = fit(df, captured)
    got = captured.rows
    assert got is not None
    assert_same(got, transformed(df, model, captured.affine))
    rows = x[(got["id"].to_numpy() - 1) // 7]
    np.testing.assert_array_equal(got[FEATURES].to_numpy(), rows)  # bit for bit


def test_the_labelling_runs_where_the_blocks_are_and_fails_if_they_are_gone(spark: Any) -> None:
    from kmeans_spark import blockstore

    sc = spark.sparkContext

    class Checked(Captured):
        def check(self, fitted: FittedBlocks) -> None:
            frame = fitted.assignments()
            sc.parallelize([0], 1).count()  # any job refreshes the scheduler's cache locations
            jsc = sc._jsc.sc()
            labelled = frame._jdf.queryExecution().executedPlan().execute()
            handles = fitted.blocks._transport.rdd._jrdd.rdd()  # type: ignore[attr-defined]
            assert labelled.getNumPartitions() == handles.getNumPartitions() == 4
            for p in range(4):
                want = jsc.getPreferredLocs(handles, p).toString()
                assert "executor_" in want  # the cached handle: where its files are
                assert jsc.getPreferredLocs(labelled, p).toString() == want
            # a block lost with its executor: the labelling fails, no row is dropped
            for directory in {os.path.dirname(h.x_path) for h in fitted.blocks.handles}:
                if directory:  # the executor's local dir (local master: this host's)
                    blockstore.remove_dir(directory)
            with pytest.raises(Exception) as failed:
                frame.collect()
            assert is_missing_block(failed.value), str(failed.value)[:2000]
            raise StopFitError

    class StopFitError(Exception):
        pass

    df = frame(spark, blobs(200))
    with pytest.raises(StopFitError):
        fit(df, Checked(["id"]))


def test_a_carried_column_named_like_an_output_column_is_refused(spark: Any) -> None:
    df = frame(spark, blobs(100)).withColumnRenamed("name", "prediction")

    class Refused(Captured):
        def _fitted(self, fitted: FittedBlocks) -> None:
            with pytest.raises(KMeansInputError, match="column 'prediction' already exists"):
                fitted.assignments()
            self.rows = fitted.assignments(prediction_col="cluster").toPandas()

    captured = Refused(["id", "prediction"])
    fit(df, captured)
    assert captured.rows is not None and "cluster" in captured.rows.columns
