"""The batch job: read a (dated) input, fit or apply a model, write one output directory.

Output of ``fit`` (one directory per run, written atomically)::

    OUTPUT/
      model/          KMeansModel.load(...)-able
      scaler.json     the fitted feature scaling (applied again by predict)
      assignments/    Parquet: id columns, features if asked, prediction, distance
      summary.json    what ran and what came out (see fit_summary)
      centers.csv     the centres in the original feature units
      _SUCCESS

Everything is written under a temporary sibling directory, which is renamed into place
only when all of it is written; ``_SUCCESS`` comes last. A failed run removes its
temporary directory and leaves the final path as it was. With ``mode=overwrite`` a re-run
replaces the whole directory, so rows are never duplicated.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import json
import logging
import platform
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import NumericType, StringType

from kmeans_spark import __version__
from kmeans_spark.config import JobConfig
from kmeans_spark.dataset import column
from kmeans_spark.errors import KMeansInputError
from kmeans_spark.estimator import KMeans
from kmeans_spark.fsutil import HadoopFS
from kmeans_spark.model import KMeansModel
from kmeans_spark.scaling import Scaler

log = logging.getLogger(__name__)

SCALED_PREFIX = "__scaled_"


# -- input -------------------------------------------------------------------------------


def read_input(spark: SparkSession, cfg: JobConfig) -> DataFrame:
    """The input as a DataFrame, with the partition filter applied.

    CSV is read with every column as a string, so a non-numeric value in a feature column
    is reported with its text instead of silently turning the column into strings.
    """
    reader = spark.read.format(cfg.input_format)
    if cfg.input_format == "csv":
        reader = reader.option("header", cfg.header).option("sep", cfg.delimiter)
    df = reader.load(cfg.input_path)
    if cfg.where:
        df = df.where(cfg.where)
    return df


def resolve_features(df: DataFrame, patterns: list[str], exclude: list[str]) -> list[str]:
    """Feature columns from names or glob patterns (``x*``), in the input's column order."""
    if not patterns:
        raise KMeansInputError(
            "no feature columns given; pass --features COL,COL,... (names or patterns like 'x*')."
        )
    chosen: list[str] = []
    for pattern in patterns:
        matches = [c for c in df.columns if fnmatch.fnmatchcase(c, pattern) and c not in exclude]
        if not matches:
            shown = ", ".join(df.columns[:20])
            raise KMeansInputError(
                f"feature column {pattern!r} matches no column of the input [{shown}]; "
                "pass existing names or patterns to --features."
            )
        chosen.extend(c for c in matches if c not in chosen)
    for name in chosen:
        dtype = df.schema[name].dataType
        if not isinstance(dtype, (NumericType, StringType)):
            raise KMeansInputError(
                f"feature column {name!r} has type {dtype.simpleString()}, but features must be "
                "numeric; choose numeric columns with --features."
            )
    return chosen


def check_columns(df: DataFrame, names: list[str], role: str) -> None:
    missing = [c for c in names if c not in df.columns]
    if missing:
        raise KMeansInputError(
            f"{role} column {missing[0]!r} does not exist in the input "
            f"[{', '.join(df.columns[:20])}]; pass existing column names."
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
    cfg: JobConfig,
    features: list[str],
    stats: InputStats,
    scaler: Scaler,
) -> DataFrame:
    """Id columns, the original features as double, and the scaled features; bad rows
    dropped or refused according to ``cfg.bad_rows``."""
    if stats.bad_rows and cfg.bad_rows == "error":
        raise bad_row_error(df, stats, features)
    values = {c: numeric(df, c) for c in features}
    out = df.select(
        *[column(c) for c in cfg.id_cols],
        *[values[c].alias(c) for c in features if c not in cfg.id_cols],
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


# -- output ------------------------------------------------------------------------------


class AtomicOutput:
    """A run's output directory, written under a temporary sibling and renamed into place."""

    def __init__(self, fs: HadoopFS, final: str, mode: str) -> None:
        self.fs = fs
        self.final = final.rstrip("/")
        self.mode = mode
        self.tmp = f"{self.final}.__tmp-{uuid.uuid4().hex[:12]}"

    def check(self) -> None:
        """Refuse an existing output under ``mode=error``, before any work is done."""
        if self.mode == "error" and self.fs.exists(self.final):
            raise KMeansInputError(
                f"output {self.final!r} already exists; pass --mode overwrite to replace it, "
                "or choose another --output."
            )

    def path(self, name: str) -> str:
        return f"{self.tmp}/{name}"

    def commit(self) -> None:
        old = None
        if self.fs.exists(self.final):
            if self.mode != "overwrite":
                raise KMeansInputError(
                    f"output {self.final!r} appeared while the job ran; pass --mode overwrite."
                )
            old = f"{self.final}.__old-{uuid.uuid4().hex[:12]}"
            self.fs.rename(self.final, old)
        try:
            self.fs.rename(self.tmp, self.final)
            self.fs.write_text(f"{self.final}/_SUCCESS", "")
        except BaseException:
            if old:  # put the previous run back where it was
                if self.fs.exists(self.final):
                    self.fs.rename(self.final, self.tmp)
                self.fs.rename(old, self.final)
            raise
        if old:
            self.fs.delete(old)

    def abort(self) -> None:
        try:
            self.fs.delete(self.tmp)
        except Exception as exc:  # never hide the run's own error
            log.warning("could not remove temporary output %s: %s", self.tmp, exc)


def centers_csv(features: list[str], centers: np.ndarray, sizes: list[int]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["cluster", "size", *features])
    for i, (row, size) in enumerate(zip(centers, sizes, strict=True)):
        writer.writerow([i, size, *[repr(float(v)) for v in row]])
    return buf.getvalue()


SECRET = re.compile(r"secret|password|token|credential|access\.?key", re.IGNORECASE)


def redacted(config: dict[str, Any]) -> dict[str, Any]:
    """The config for summary.json, without the values of Spark settings that look like
    credentials (``--conf spark.hadoop.fs.s3a.secret.key=...``)."""
    spark = {k: ("***" if SECRET.search(k) else v) for k, v in config.get("spark", {}).items()}
    return {**config, "spark": spark}


def versions() -> dict[str, str]:
    import pyspark

    return {
        "kmeans_spark": __version__,
        "pyspark": pyspark.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def _timed(phases: dict[str, float], name: str, fn: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    try:
        return fn()
    finally:
        phases[name] = round(time.perf_counter() - start, 3)


# -- fit and predict ---------------------------------------------------------------------


def load_model_dir(
    spark: SparkSession, fs: HadoopFS, path: str
) -> tuple[KMeansModel, Scaler | None, str]:
    """A model from a run directory (``model/`` + ``scaler.json``) or a model directory."""
    path = path.rstrip("/")
    if not fs.exists(path):
        raise KMeansInputError(
            f"model path {path!r} does not exist; pass a fit run's output directory."
        )
    run_dir = path
    if fs.exists(f"{path}/model/metadata"):
        model_path = f"{path}/model"
    elif fs.exists(f"{path}/metadata"):
        model_path = path
        run_dir = path.rsplit("/", 1)[0]
    else:
        raise KMeansInputError(
            f"{path!r} holds no model (no model/metadata or metadata inside); pass a fit run's "
            "output directory."
        )
    model = KMeansModel.load(model_path)
    scaler_path = f"{run_dir}/scaler.json"
    scaler = Scaler.from_json(fs.read_text(scaler_path)) if fs.exists(scaler_path) else None
    return model, scaler, model_path


def run_fit(spark: SparkSession, cfg: JobConfig) -> dict[str, Any]:
    """Fit on the configured input and write the run's output directory; return the summary."""
    fs = HadoopFS(spark)
    out = AtomicOutput(fs, cfg.output_path, cfg.mode)
    out.check()
    phases: dict[str, float] = {}
    df = read_input(spark, cfg)
    check_columns(df, cfg.id_cols, "id")
    features = resolve_features(df, cfg.features, cfg.id_cols)
    log.info(
        "input %s (%s): %d partitions, features %s, id columns %s",
        cfg.input_path,
        cfg.input_format,
        df.rdd.getNumPartitions(),
        features,
        cfg.id_cols,
    )
    stats: InputStats = _timed(phases, "input_stats", lambda: input_stats(df, features))
    log.info("input rows: %d, bad rows: %d (%s)", stats.rows, stats.bad_rows, cfg.bad_rows)
    if stats.rows - (stats.bad_rows if cfg.bad_rows == "drop" else 0) == 0:
        raise KMeansInputError(
            f"the input {cfg.input_path!r} has no usable rows"
            + (f" (filter: {cfg.where})" if cfg.where else "")
            + "; check the path, the run date and the --where filter."
        )
    scaler = Scaler.from_stats(
        cfg.scale, features, stats.mean, stats.std, stats.minimum, stats.maximum
    )
    if scaler.constant:
        log.warning("features with no spread, left unscaled: %s", scaler.constant)
    data = prepared(df, cfg, features, stats, scaler)
    scaled_cols = [SCALED_PREFIX + c for c in features]
    kmeans = KMeans(
        k=cfg.k,
        maxIter=cfg.max_iter,
        tol=cfg.tol,
        seed=cfg.seed,
        initSteps=cfg.init_steps,
        initMode=cfg.init_mode,
        distanceMeasure=cfg.distance,
        dtype=cfg.dtype,
        numPartitions=cfg.partitions,
        inputCols=scaled_cols,
        distanceCol="distance",
    )
    if cfg.init_model:
        previous, prev_scaler, _ = load_model_dir(spark, fs, cfg.init_model)
        prev_centers = np.array(previous.clusterCenters())
        prev_features = prev_scaler.features if prev_scaler else features
        if sorted(prev_features) != sorted(features) or prev_centers.shape[1] != len(features):
            raise KMeansInputError(
                f"--init-model {cfg.init_model!r} was trained on features "
                f"[{', '.join(prev_features)}], but this run uses [{', '.join(features)}]; "
                "warm-start from a model of the same features."
            )
        original = prev_scaler.inverse(prev_centers) if prev_scaler else prev_centers
        by_name = original[:, [prev_features.index(f) for f in features]]  # this run's order
        if prev_centers.shape[0] != cfg.k:
            log.warning("k=%d of --init-model overrides k=%d", prev_centers.shape[0], cfg.k)
        kmeans.setInitialCenters(scaler.forward(by_name)).setK(prev_centers.shape[0])
        log.info("warm start from %s (%d centres)", cfg.init_model, prev_centers.shape[0])
    model: KMeansModel = _timed(phases, "fit", lambda: kmeans.fit(data))
    summary = model.summary
    centers_scaled = np.array(model.clusterCenters())
    centers = scaler.inverse(centers_scaled)
    try:
        _timed(phases, "write_model", lambda: model.write().save(out.path("model")))
        fs.write_text(out.path("scaler.json"), scaler.to_json())
        keep = [c for c in features if c not in cfg.id_cols] if cfg.keep_features else []
        assignments = model.transform(data).select(
            *[column(c) for c in [*cfg.id_cols, *keep, "prediction", "distance"]]
        )
        _timed(
            phases, "write_assignments", lambda: assignments.write.parquet(out.path("assignments"))
        )
        result = {
            "command": "fit",
            "run_date": cfg.run_date,
            "input": cfg.input_path,
            "output": cfg.output_path,
            "k": summary.k,
            "features": features,
            "centers": centers.tolist(),
            "scaled_centers": centers_scaled.tolist(),
            "cost": summary.trainingCost,
            "iterations": summary.numIter,
            "converged": summary.converged,
            "convergence_reason": summary.convergenceReason,
            "cluster_sizes": summary.clusterSizes,
            "rows_read": stats.rows,
            "rows_dropped": stats.bad_rows if cfg.bad_rows == "drop" else 0,
            "rows_used": summary.numRows,
            "scaling": scaler.method,
            "init_mode": summary.initMode,
            "init_model": cfg.init_model or None,
            "cost_history": summary.costHistory,
            "seconds": {**phases, "engine": summary.phaseSeconds},
            "config": redacted(cfg.as_dict()),
            "versions": versions(),
        }
        fs.write_text(out.path("summary.json"), json.dumps(result, indent=2))
        fs.write_text(out.path("centers.csv"), centers_csv(features, centers, summary.clusterSizes))
        out.commit()
    except BaseException:
        out.abort()
        raise
    log.info(
        "wrote %s (model/, assignments/, summary.json, centers.csv)", fs.qualify(cfg.output_path)
    )
    return result


def run_predict(spark: SparkSession, cfg: JobConfig, model_path: str) -> dict[str, Any]:
    """Assign the configured input to a saved model's clusters; write assignments."""
    fs = HadoopFS(spark)
    out = AtomicOutput(fs, cfg.output_path, cfg.mode)
    out.check()
    model, scaler, resolved = load_model_dir(spark, fs, model_path)
    df = read_input(spark, cfg)
    check_columns(df, cfg.id_cols, "id")
    inputs = model.getInputCols() or []
    if scaler is None and any(c.startswith(SCALED_PREFIX) for c in inputs):
        raise KMeansInputError(
            f"no scaler.json next to the model {resolved!r}; pass the fit run's output "
            "directory (it holds model/ and scaler.json) to --model."
        )
    trained = scaler.features if scaler else inputs
    selected = resolve_features(df, cfg.features or trained, cfg.id_cols)
    trained = trained or selected  # a vector-column model: the names are the user's call
    if sorted(selected) != sorted(trained) or len(trained) != model.numFeatures:
        raise KMeansInputError(
            f"the model was trained on features [{', '.join(trained)}], but "
            f"[{', '.join(selected)}] were selected; pass the model's features."
        )
    features = list(trained)  # the model's order, whatever the input's column order
    scaler = scaler or Scaler.identity(features)
    stats = input_stats(df, features)
    data = prepared(df, cfg, features, stats, scaler)
    model = model.copy()
    model.setInputCols([SCALED_PREFIX + c for c in features]).setDistanceCol("distance")
    keep = [c for c in features if c not in cfg.id_cols] if cfg.keep_features else []
    assignments = model.transform(data).select(
        *[column(c) for c in [*cfg.id_cols, *keep, "prediction", "distance"]]
    )
    try:
        assignments.write.parquet(out.path("assignments"))
        written = spark.read.parquet(out.path("assignments"))
        counts = {
            int(r["prediction"]): int(r["count"])
            for r in written.groupBy("prediction").count().collect()
            if r["prediction"] is not None
        }
        result = {
            "command": "predict",
            "run_date": cfg.run_date,
            "model": resolved,
            "input": cfg.input_path,
            "output": cfg.output_path,
            "features": features,
            "rows_read": stats.rows,
            "rows_dropped": stats.bad_rows if cfg.bad_rows == "drop" else 0,
            "cluster_sizes": [counts.get(i, 0) for i in range(len(model.clusterCenters()))],
            "config": redacted(cfg.as_dict()),
            "versions": versions(),
        }
        fs.write_text(out.path("summary.json"), json.dumps(result, indent=2))
        out.commit()
    except BaseException:
        out.abort()
        raise
    log.info("wrote %s", fs.qualify(cfg.output_path))
    return result
