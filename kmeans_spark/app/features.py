"""The features of a run, on the Spark side: which columns (names or glob patterns, or a
saved model's), their values as numbers, the counts of rows and bad rows (made by the pass
that does the work: the fit's load, predict's scoring), and the scaled columns the model
reads. :func:`load_input` is what every command starts with. The scaling itself is
:mod:`.scaler` (numpy, no Spark); its statistics come from the fit's load
(:class:`FitStage`).
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from pyspark.sql import Column, DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DataType, NumericType, StringType

from kmeans_spark.app import io
from kmeans_spark.app.config import RunConfig
from kmeans_spark.app.scaler import Scaler
from kmeans_spark.colstats import ColumnStats
from kmeans_spark.dataset import column
from kmeans_spark.errors import KMeansInputError
from kmeans_spark.handle import BlockHandle
from kmeans_spark.load import Affine, InputStage

if TYPE_CHECKING:
    from kmeans_spark.blocks import FittedBlocks

log = logging.getLogger("kmeans_spark")

#: Prefix of the scaled copies of the features, the columns the model reads.
SCALED_PREFIX = "__scaled_"


def _shown_columns(columns: list[str]) -> str:
    return ", ".join(columns[:20]) + (", ..." if len(columns) > 20 else "")


def match_columns(columns: list[str], patterns: list[str], exclude: list[str]) -> list[str]:
    """The columns that ``patterns`` (names or globs such as ``x*``) name, each once, in the
    order the patterns name them, without ``exclude``; a pattern naming none is an error."""
    chosen: list[str] = []
    for pattern in patterns:
        matches = [c for c in columns if fnmatch.fnmatchcase(c, pattern) and c not in exclude]
        if not matches:
            raise KMeansInputError(
                f"feature column {pattern!r} matches no column of the input "
                f"[{_shown_columns(columns)}]; pass existing names or patterns to --features."
            )
        chosen.extend(c for c in matches if c not in chosen)
    return chosen


def resolve_features(df: DataFrame, patterns: list[str], exclude: list[str]) -> list[str]:
    """Feature columns from names or glob patterns, checked to be numbers (or text that
    :func:`numeric` parses)."""
    chosen = match_columns(df.columns, patterns, exclude)
    for name in chosen:
        dtype = df.schema[name].dataType
        if not isinstance(dtype, (NumericType, StringType)):
            raise KMeansInputError(
                f"feature column {name!r} has type {dtype.simpleString()}, but features must be "
                "numeric; choose numeric columns with --features."
            )
    return chosen


def trained_features(saved: io.SavedModel, name: str) -> list[str]:
    """The columns ``saved`` was trained on, in its order: its scaler's, else the model's
    input columns ([] for a model of one vector column). A model of the job's scaled columns
    without its ``scaler.json`` is refused: its centres are in units nobody knows."""
    inputs = saved.model.getInputCols() or []
    if saved.scaler is None and any(c.startswith(SCALED_PREFIX) for c in inputs):
        raise KMeansInputError(
            f"no scaler.json next to the model {saved.path!r}; pass the fit run's output "
            f"directory (it holds model/ and scaler.json) to {name}."
        )
    return list(saved.scaler.features) if saved.scaler else list(inputs)


def model_features(saved: io.SavedModel, selected: list[str], name: str) -> list[str]:
    """The columns of ``saved`` (named by ``name``, ``--model``), in its order, once
    ``selected`` (this run's, in any order) is found to name the same: the columns it was
    trained on, or as many as its centres have for a model of one vector column."""
    trained = trained_features(saved, name)
    width = saved.centers.shape[1]
    if (trained and sorted(selected) != sorted(trained)) or len(selected) != width:
        shown = f"features [{', '.join(trained)}]" if trained else f"{width} features"
        raise KMeansInputError(
            f"{name} {saved.path!r} was trained on {shown}, but this run selects "
            f"[{', '.join(selected)}]; select the model's features with --features, or pass "
            f"another {name}."
        )
    return trained or list(selected)


def check_columns(df: DataFrame, names: list[str], role: str) -> None:
    missing = [c for c in names if c not in df.columns]
    if missing:
        raise KMeansInputError(
            f"{role} column {missing[0]!r} does not exist in the input "
            f"[{_shown_columns(df.columns)}]; pass existing column names."
        )


def numeric(df: DataFrame, name: str) -> Column:
    """A feature as double: text is parsed (``try_cast``: unparseable text becomes null)."""
    col = column(name)
    if isinstance(df.schema[name].dataType, StringType):
        return col.try_cast("double")
    return col.cast("double")


def not_finite(value: Column) -> Column:
    return value.isNull() | F.isnan(value) | value.isin(float("inf"), float("-inf"))


@dataclass
class InputCounts:
    """What a command found in its input: rows read, rows with a null, NaN, infinite or
    non-numeric feature (``bad_rows``), and those per feature column. Counted by the pass
    that also does the work (the fit's load, predict's scoring), never by a pass of its own.
    """

    rows: int
    bad_rows: int
    bad_per_column: dict[str, int]
    #: zero vectors under cosine (no direction): refused, or left out (``zero_dropped``)
    zero_rows: int = 0
    zero_dropped: int = 0

    @classmethod
    def of_handles(cls, handles: Sequence[BlockHandle], features: list[str]) -> InputCounts:
        """From the fit's load: each partition's rows and bad rows (refused, or dropped)."""
        per_column = np.zeros(len(features))
        for h in handles:
            if h.bad_per_column:
                per_column += np.asarray(h.bad_per_column)
        return cls(
            rows=sum(h.rows + h.dropped_rows + h.dropped_zero_rows for h in handles),
            bad_rows=sum(h.bad_rows + h.dropped_rows for h in handles),
            bad_per_column={c: int(v) for c, v in zip(features, per_column, strict=True)},
            zero_rows=sum(h.zero_rows for h in handles),
            zero_dropped=sum(h.dropped_zero_rows for h in handles),
        )

    def check(
        self, df: DataFrame, cfg: RunConfig, features: list[str], *, scaled: bool = False
    ) -> int:
        """Refuse bad rows under ``job.bad_rows=error`` (with the first one's row number and
        value) and an input with nothing to work on (an empty partition, a filter that keeps
        none); return the number of rows dropped."""
        if self.bad_rows and cfg.job.bad_rows == "error":
            raise bad_row_error(df, self, features)
        if self.zero_rows:  # only counted under cosine, and only kept under "error"
            what = (
                f"become zero vectors once {cfg.name('job.scale')} centres them (rows equal "
                "to the features' mean)"
                if scaled
                else "are zero vectors (every feature 0, e.g. empty documents)"
            )
            raise KMeansInputError(
                f"{self.zero_rows} rows {what}, which have no direction under "
                f"{cfg.name('job.distance')} "
                f"cosine; remove them, or pass {cfg.name('job.zero_vectors')} drop to leave "
                "them out of the fit and count them."
            )
        dropped = (self.bad_rows if cfg.job.bad_rows == "drop" else 0) + self.zero_dropped
        if self.rows - dropped == 0:
            raise KMeansInputError(
                f"the input {cfg.input.path!r} has no usable rows"
                + (f" (filter: {cfg.input.where})" if cfg.input.where else "")
                + "; check the path, the run date and the --where filter."
            )
        return dropped


@dataclass
class RunInput:
    """What a command has read: the filtered input and the feature columns in the order the
    run uses (no pass over the data yet)."""

    df: DataFrame
    features: list[str]


def load_input(
    spark: SparkSession,
    fs: io.JobFS,
    cfg: RunConfig,
    patterns: list[str],
    order: Callable[[list[str]], list[str]] | None = None,
) -> RunInput:
    """Read the input, check the id and weight columns, choose the features (``patterns``;
    ``order``, if given, checks them and returns them in the order to use). No pass over
    the data: the command's own pass (the fit's load, predict's scoring) validates and
    counts the rows as it goes."""
    df = io.read_input(spark, fs, cfg)
    check_columns(df, cfg.input.id_cols, "id")
    weight = [cfg.input.weight_col] if cfg.input.weight_col else []
    check_columns(df, weight, "weight")
    names = resolve_features(df, patterns, [*cfg.input.id_cols, *weight])
    if order is not None:
        names = order(names)
    log.info(
        "input %s (%s): features %s, id columns %s",
        cfg.input.path,
        cfg.input.format,
        names,
        cfg.input.id_cols,
    )
    return RunInput(df, names)


def fit_columns(
    df: DataFrame, cfg: RunConfig, features: list[str], carry: Sequence[str] = ()
) -> DataFrame:
    """The features as double under their own names (text parsed; unparseable text is null,
    which the load counts as bad), the weight column as read (the fit checks it), and the
    other columns of ``carry`` as read (the load carries them to the assignments:
    :func:`assignment_inputs`; a feature among them is carried as the fit reads it)."""
    weight = cfg.input.weight_col
    chosen = [*features, *([weight] if weight else [])]
    return df.select(
        *[numeric(df, c).alias(c) for c in features],
        *([column(weight)] if weight else []),
        *[column(c) for c in carry if c not in chosen],
    )


def assignment_inputs(cfg: RunConfig, features: list[str]) -> list[str]:
    """The input columns the assignments copy, in their order: the id columns, then the
    features (as double, original units) with ``output.keep_features``."""
    id_cols = cfg.input.id_cols
    keep = [c for c in features if c not in id_cols] if cfg.output.keep_features else []
    return [*id_cols, *keep]


class FitStage:
    """The job's part in the fit's load (:class:`kmeans_spark.load.InputStage`): from the
    handles, count the rows and bad rows, refuse what ``job.bad_rows`` refuses, and choose
    the scaling from the per-feature statistics the load recorded. So a fit reads its input
    once before fitting; the scaling is applied to the stored blocks, not by another read."""

    def __init__(self, df: DataFrame, cfg: RunConfig, features: list[str]) -> None:
        self._df, self._cfg, self._features = df, cfg, features
        self.counts = InputCounts(0, 0, {c: 0 for c in features})
        self.dropped = 0
        self.scaler = Scaler.identity(features)

    def input_stage(
        self,
        carry: Sequence[str] = (),
        on_fitted: Callable[[FittedBlocks], None] | None = None,
    ) -> InputStage:
        """The stage; ``carry`` and ``on_fitted`` as :class:`~kmeans_spark.load.InputStage`'s
        (the fit's assignments from its blocks)."""
        return InputStage(
            on_load=self._loaded,
            drop_bad_rows=self._cfg.job.bad_rows == "drop",
            scales=self._cfg.job.scale != "none",
            carry=tuple(carry),
            on_fitted=on_fitted,
            on_scaled=self._scaled,
        )

    def _scaled(self, handles: Sequence[BlockHandle]) -> None:
        """Count again once the blocks are scaled: under cosine, rows centred onto the zero
        vector appear only then, refused or dropped (``job.zero_vectors``) as the load's."""
        self.counts = InputCounts.of_handles(handles, self._features)
        self.dropped = self.counts.check(self._df, self._cfg, self._features, scaled=True)

    def _loaded(self, handles: Sequence[BlockHandle]) -> Affine | None:
        names = self._features
        self.counts = InputCounts.of_handles(handles, names)
        log.info(
            "input rows: %d, bad rows: %d (%s)",
            self.counts.rows,
            self.counts.bad_rows,
            self._cfg.job.bad_rows,
        )
        self.dropped = self.counts.check(self._df, self._cfg, names)
        stats = ColumnStats.combine((h.column_stats for h in handles), len(names))
        self.scaler = Scaler.from_stats(
            self._cfg.job.scale,
            names,
            stats.mean.tolist(),
            stats.std.tolist(),
            stats.minimum.tolist(),
            stats.maximum.tolist(),
        )
        if self.scaler.method == "none":
            return None
        return tuple(self.scaler.offset), tuple(self.scaler.scale)


def bad_row_error(df: DataFrame, counts: InputCounts, features: list[str]) -> KMeansInputError:
    """The one-line error for bad rows under ``bad_rows=error``: the column, the count, and
    the first offending row's number and value (found by a second pass, only on this path:
    it shows the text as written, which the load saw only as a missing number)."""
    name = next(c for c in features if counts.bad_per_column[c])
    text = column(name).cast("string").alias("v")
    ((row, index),) = first_rows_where(df, [text], not_finite(numeric(df, name)), 1)
    value = row["v"]
    shown = "null" if value is None else repr(value)
    return KMeansInputError(
        f"column {name!r} has {counts.bad_per_column[name]} rows that are not finite numbers "
        f"(null, NaN, infinite or non-numeric text), e.g. row {index + 1} with value {shown}; "
        f"{counts.bad_rows} rows are affected in all. Fix or remove them, or pass "
        "--bad-rows drop to skip them."
    )


#: Name of the per-row flag :func:`prepared` adds: some feature is not a finite number.
BAD = "__kmeans_bad"


def prepared(df: DataFrame, cfg: RunConfig, features: list[str], scaler: Scaler) -> DataFrame:
    """Id columns, the original features as double, the scaled features (the columns the
    model reads), and the flag :data:`BAD`."""
    id_cols = cfg.input.id_cols
    values = {c: numeric(df, c) for c in features}
    out = df.select(
        *[column(c) for c in id_cols],
        *[values[c].alias(c) for c in features if c not in id_cols],
    )
    bad = F.lit(False)
    for c in features:
        bad = bad | not_finite(column(c))
    scaled = [
        ((column(c) - F.lit(off)) / F.lit(sc)).alias(SCALED_PREFIX + c)
        for c, off, sc in zip(features, scaler.offset, scaler.scale, strict=True)
    ]
    return out.select("*", *scaled, bad.alias(BAD))


def observe_counts(
    data: DataFrame, features: list[str]
) -> tuple[DataFrame, Callable[[], InputCounts]]:
    """``data`` (of :func:`prepared`) with its rows and bad rows counted by the action that
    reads it (Spark's ``Observation``: no pass of its own), and the means to read the
    counts once that action has run."""
    observation = Observation("kmeans_spark_input")
    bad = [F.sum(not_finite(column(c)).cast("long")).alias(f"b{i}") for i, c in enumerate(features)]
    observed = data.observe(
        observation,
        F.count(F.lit(1)).alias("rows"),
        F.sum(F.col(BAD).cast("long")).alias("bad"),
        *bad,
    )

    def counts() -> InputCounts:
        got = observation.get
        return InputCounts(
            rows=int(got.get("rows") or 0),
            bad_rows=int(got.get("bad") or 0),
            bad_per_column={c: int(got.get(f"b{i}") or 0) for i, c in enumerate(features)},
        )

    return observed, counts


def assignments(scored: DataFrame, cfg: RunConfig, features: list[str]) -> DataFrame:
    """The columns written to ``assignments/``: ids, features if asked, prediction,
    distance, and ``is_outlier`` with ``output.outlier_quantile``. ``scored`` is any
    DataFrame with those columns: ``transform``'s, or the fit's blocks labelled
    (:meth:`kmeans_spark.blocks.FittedBlocks.assignments`)."""
    inputs = assignment_inputs(cfg, features)
    out = scored.select(*[column(c) for c in [*inputs, "prediction", "distance"]])
    q = cfg.output.outlier_quantile
    if q <= 0:
        return out
    limits = outlier_limits(out, q)
    log.info("outlier limits (quantile %g of each cluster's distances): %s", q, limits)
    pairs = [F.lit(v) for c, d in sorted(limits.items()) for v in (c, d)]
    limit = F.create_map(*pairs)[F.col("prediction")] if pairs else F.lit(None)
    return out.withColumn("is_outlier", F.col("distance") > limit)


def outlier_limits(scored: DataFrame, q: float) -> dict[int, float]:
    """Each cluster's ``q``-quantile of the distance (Spark's ``percentile_approx``, 1e-4
    relative rank error): one read of ``scored``."""
    rows = (
        scored.where(F.col("prediction").isNotNull())
        .groupBy("prediction")
        .agg(F.percentile_approx("distance", q, 10_000).alias("limit"))
        .collect()
    )
    return {int(r["prediction"]): float(r["limit"]) for r in rows}


# -- row numbers and partitions, through DataFrames only (classic and Spark Connect) ---------

_PART, _ROWS, _AT, _HIT = "__part", "__rows", "__at", "__hit"


def first_rows_where(
    df: DataFrame, columns: Sequence[Column], condition: Column, limit: int
) -> list[tuple[dict[str, Any], int]]:
    """``columns`` of the first ``limit`` rows of ``df`` where ``condition`` holds (null: it
    does not), in the input's order, each with its 0-based index in that order: the error
    paths' "row N" (what ``rdd.zipWithIndex`` gave, without the RDD API that Spark Connect
    lacks).

    One ``mapInArrow`` job: each partition reports its row count and its first ``limit``
    matching rows with their positions in it; the driver adds up the counts of the
    partitions before each. It reads the whole input: for error messages only.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyspark import TaskContext
    from pyspark.sql.types import LongType, StructField, StructType

    data = df.select(*columns, F.coalesce(condition, F.lit(False)).alias(_HIT))
    kept = data.schema.fields[:-1]
    names = [f.name for f in kept]
    schema = StructType(
        [
            StructField(_PART, LongType()),
            StructField(_ROWS, LongType()),
            StructField(_AT, LongType()),
            *[StructField(f.name, f.dataType, True) for f in kept],
        ]
    )
    arrow_types = [_arrow_type(f.dataType) for f in kept]

    def batch(part: int, rows: Any, at: Any, values: list[Any]) -> pa.RecordBatch:
        n = len(at)
        return pa.RecordBatch.from_arrays(
            [pa.array([part] * n, pa.int64()), pa.array(rows, pa.int64()),
             pa.array(at, pa.int64()), *values],
            names=[_PART, _ROWS, _AT, *names],
        )  # fmt: skip

    def scan(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        part = TaskContext.get().partitionId()  # type: ignore[union-attr]
        seen = found = 0
        for b in batches:
            if found < limit:
                hits = pc.indices_nonzero(b.column(_HIT)).to_numpy()[: limit - found]
                if len(hits):
                    taken = b.select(names).take(pa.array(hits))
                    yield batch(part, [0] * len(hits), hits + seen, taken.columns)
                    found += len(hits)
            seen += b.num_rows
        yield batch(part, [seen], [-1], [pa.nulls(1, t) for t in arrow_types])

    rows = data.mapInArrow(scan, schema).collect()
    counts = {int(r[_PART]): int(r[_ROWS]) for r in rows if r[_AT] < 0}
    offsets, total = {}, 0
    for part in sorted(counts):
        offsets[part], total = total, total + counts[part]
    hits = [
        ({n: r[n] for n in names}, offsets[int(r[_PART])] + int(r[_AT]))
        for r in rows
        if r[_AT] >= 0
    ]
    return sorted(hits, key=lambda hit: hit[1])[:limit]


def _arrow_type(dtype: DataType) -> Any:
    """The Arrow type Spark gives a column of ``dtype`` in ``mapInArrow``."""
    from pyspark.sql.pandas.types import to_arrow_type

    return to_arrow_type(dtype)
