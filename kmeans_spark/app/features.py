"""The features of a run, on the Spark side: which columns (names or glob patterns, or a
saved model's), their values as numbers, one statistics pass (rows, bad rows, mean, std,
min, max), and the scaled columns the model reads. :func:`load_input` is what every command
starts with. The scaling itself is :mod:`.scaler` (numpy, no Spark).
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import NumericType, StringType

from kmeans_spark.app import io
from kmeans_spark.app.config import RunConfig
from kmeans_spark.app.runner import timed
from kmeans_spark.app.scaler import Scaler
from kmeans_spark.dataset import column
from kmeans_spark.errors import KMeansInputError

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
class InputStats:
    rows: int
    bad_rows: int
    bad_per_column: dict[str, int]
    mean: list[float]
    std: list[float]
    minimum: list[float]
    maximum: list[float]


def input_stats(df: DataFrame, features: list[str]) -> InputStats:
    """One pass: row count, bad rows per column, and the scaling statistics of good rows."""
    values = {c: numeric(df, c) for c in features}
    bad = {c: not_finite(v) for c, v in values.items()}
    any_bad = F.lit(False)
    for flag in bad.values():
        any_bad = any_bad | flag
    aggs = [F.count(F.lit(1)).alias("rows"), F.sum(any_bad.cast("long")).alias("bad")]
    for i, c in enumerate(features):
        good = F.when(~any_bad, values[c])
        aggs += [
            F.sum(bad[c].cast("long")).alias(f"b{i}"),
            F.avg(good).alias(f"m{i}"),
            F.stddev_pop(good).alias(f"s{i}"),
            F.min(good).alias(f"lo{i}"),
            F.max(good).alias(f"hi{i}"),
        ]
    row = df.agg(*aggs).first()
    assert row is not None
    n = len(features)

    def floats(prefix: str) -> list[float]:
        return [
            float(row[f"{prefix}{i}"]) if row[f"{prefix}{i}"] is not None else 0.0 for i in range(n)
        ]

    return InputStats(
        rows=int(row["rows"]),
        bad_rows=int(row["bad"] or 0),
        bad_per_column={c: int(row[f"b{i}"] or 0) for i, c in enumerate(features)},
        mean=floats("m"),
        std=floats("s"),
        minimum=floats("lo"),
        maximum=floats("hi"),
    )


def check_rows(stats: InputStats, cfg: RunConfig) -> None:
    """Refuse a run with nothing to work on (an empty partition, a filter that keeps none)."""
    if stats.rows - (stats.bad_rows if cfg.job.bad_rows == "drop" else 0) == 0:
        raise KMeansInputError(
            f"the input {cfg.input.path!r} has no usable rows"
            + (f" (filter: {cfg.input.where})" if cfg.input.where else "")
            + "; check the path, the run date and the --where filter."
        )


@dataclass
class RunInput:
    """What a command has read: the filtered input, the feature columns in the order the run
    uses, their statistics, and how many rows ``job.bad_rows=drop`` leaves out."""

    df: DataFrame
    features: list[str]
    stats: InputStats
    rows_dropped: int


def load_input(
    spark: SparkSession,
    fs: io.HadoopFS,
    cfg: RunConfig,
    patterns: list[str],
    phases: dict[str, float],
    order: Callable[[list[str]], list[str]] | None = None,
) -> RunInput:
    """Read the input, check the id columns, choose the features (``patterns``; ``order``,
    if given, checks them and returns them in the order to use, before any pass over the
    data), then one statistics pass, timed in ``phases["input_stats"]``; an input without
    usable rows is refused."""
    df = io.read_input(spark, fs, cfg)
    check_columns(df, cfg.input.id_cols, "id")
    weight = [cfg.input.weight_col] if cfg.input.weight_col else []
    check_columns(df, weight, "weight")
    names = resolve_features(df, patterns, [*cfg.input.id_cols, *weight])
    if order is not None:
        names = order(names)
    log.info(
        "input %s (%s): %d partitions, features %s, id columns %s",
        cfg.input.path,
        cfg.input.format,
        df.rdd.getNumPartitions(),
        names,
        cfg.input.id_cols,
    )
    stats = timed(phases, "input_stats", lambda: input_stats(df, names))
    log.info("input rows: %d, bad rows: %d (%s)", stats.rows, stats.bad_rows, cfg.job.bad_rows)
    check_rows(stats, cfg)
    dropped = stats.bad_rows if cfg.job.bad_rows == "drop" else 0
    return RunInput(df, names, stats, dropped)


def bad_row_error(df: DataFrame, stats: InputStats, features: list[str]) -> KMeansInputError:
    """The one-line error for bad rows under ``bad_rows=error``: the column, the count, and
    the first offending row's number and value (found by a second pass, only on this path)."""
    name = next(c for c in features if stats.bad_per_column[c])
    flag = not_finite(numeric(df, name))
    raw = df.select(column(name).cast("string").alias("v"), flag.alias("bad")).rdd
    first = raw.zipWithIndex().filter(lambda pair: pair[0]["bad"]).first()
    value, index = first[0]["v"], first[1]
    shown = "null" if value is None else repr(value)
    return KMeansInputError(
        f"column {name!r} has {stats.bad_per_column[name]} rows that are not finite numbers "
        f"(null, NaN, infinite or non-numeric text), e.g. row {index + 1} with value {shown}; "
        f"{stats.bad_rows} rows are affected in all. Fix or remove them, or pass "
        "--bad-rows drop to skip them."
    )


def prepared(
    df: DataFrame,
    cfg: RunConfig,
    features: list[str],
    stats: InputStats,
    scaler: Scaler,
) -> DataFrame:
    """Id columns, the original features as double, the weight column (as read: the fit
    checks it), and the scaled features; bad rows dropped or refused according to
    ``job.bad_rows``."""
    if stats.bad_rows and cfg.job.bad_rows == "error":
        raise bad_row_error(df, stats, features)
    id_cols = cfg.input.id_cols
    values = {c: numeric(df, c) for c in features}
    weight = cfg.input.weight_col
    out = df.select(
        *[column(c) for c in id_cols],
        *[values[c].alias(c) for c in features if c not in id_cols],
        *([column(weight)] if weight and weight not in id_cols else []),
    )
    if stats.bad_rows:
        good = F.lit(True)
        for c in features:
            good = good & ~not_finite(column(c))
        out = out.where(good)
    scaled = [
        ((column(c) - F.lit(off)) / F.lit(sc)).alias(SCALED_PREFIX + c)
        for c, off, sc in zip(features, scaler.offset, scaler.scale, strict=True)
    ]
    return out.select("*", *scaled)


def assignments(scored: DataFrame, cfg: RunConfig, features: list[str]) -> DataFrame:
    """The columns written to ``assignments/``: ids, features if asked, prediction, distance."""
    id_cols = cfg.input.id_cols
    keep = [c for c in features if c not in id_cols] if cfg.output.keep_features else []
    return scored.select(*[column(c) for c in [*id_cols, *keep, "prediction", "distance"]])
