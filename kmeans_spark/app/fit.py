"""``fit``: train on the input and write one output directory, atomically::

    OUTPUT/
      model/          KMeansModel.load(...)-able
      scaler.json     the fitted feature scaling (applied again by predict)
      assignments/    Parquet: id columns, features if asked, prediction, distance
      summary.json    what ran and what came out
      centers.csv     the centres in the original feature units
      _KMEANS_SPARK   the marker: an output of this job (--mode overwrite needs it)
      _SUCCESS

Spark-side modules are imported when the command runs, so ``--help`` and configuration
errors never load pyspark.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
from dataclasses import asdict
from io import StringIO
from typing import TYPE_CHECKING, Any

import numpy as np

from kmeans_spark.app import flags, runner
from kmeans_spark.app.config import RunConfig
from kmeans_spark.errors import KMeansInputError
from kmeans_spark.options import OPTIONS

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from kmeans_spark.app.io import SavedModel
    from kmeans_spark.app.scaler import Scaler
    from kmeans_spark.estimator import KMeans

log = logging.getLogger("kmeans_spark")

HELP = "train a model; write model/, assignments/, summary.json, centers.csv"
DESCRIPTION = "Fit k-means on the input and write one output directory, atomically."
#: Every config key has a flag here.
KEYS = tuple(o.key for o in OPTIONS if o.key)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    flags.add_job_flags(parser, KEYS)


def run(args: argparse.Namespace) -> int:
    cfg = flags.config_from_args(args, KEYS)
    if not cfg.input.features:
        raise KMeansInputError(
            "no feature columns given; pass --features COL,COL,... (names or patterns like 'x*')."
        )
    log.info(
        "fit: config %s, run date %s, input %s (%s), output %s (mode %s)",
        cfg.source,
        cfg.run_date,
        cfg.input.path,
        cfg.input.format,
        cfg.output.path,
        cfg.output.mode,
    )
    log.info("fit: %s", ", ".join(f"{k}={v}" for k, v in asdict(cfg.job).items()))
    return runner.run_on_spark("fit", cfg, fit, args.verbose)


def centers_csv(features: list[str], centers: np.ndarray, sizes: list[int]) -> str:
    buf = StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["cluster", "size", *features])
    for i, (row, size) in enumerate(zip(centers, sizes, strict=True)):
        writer.writerow([i, size, *[repr(float(v)) for v in row]])
    return buf.getvalue()


def warm_start(
    kmeans: KMeans, previous: SavedModel, cfg: RunConfig, features: list[str], scaler: Scaler
) -> None:
    """Start ``kmeans`` from a previous run's centres, mapped to this run's feature order and
    scaling; the previous run's k wins."""
    name = cfg.name("job.init_model")
    centers = previous.centers
    known = previous.scaler.features if previous.scaler else features
    if sorted(known) != sorted(features) or centers.shape[1] != len(features):
        shown = ", ".join(known) if previous.scaler else f"{centers.shape[1]} features"
        raise KMeansInputError(
            f"{name} {cfg.job.init_model!r} was trained on [{shown}], but this run uses "
            f"[{', '.join(features)}]; warm-start from a model of the same features."
        )
    original = previous.scaler.inverse(centers) if previous.scaler else centers
    by_name = original[:, [known.index(f) for f in features]]  # this run's order
    if centers.shape[0] != cfg.job.k:
        log.warning("k=%d of %s overrides k=%d", centers.shape[0], name, cfg.job.k)
    kmeans.setInitialCenters(scaler.forward(by_name)).setK(centers.shape[0])
    log.info("warm start from %s (%d centres)", cfg.job.init_model, centers.shape[0])


def fit(spark: SparkSession, cfg: RunConfig) -> dict[str, Any]:
    """Fit on the configured input and write the run's output directory; return the summary."""
    from kmeans_spark.app import features, io
    from kmeans_spark.app.scaler import Scaler
    from kmeans_spark.estimator import KMeans

    fs = io.HadoopFS(spark)
    out = io.open_output(fs, cfg, "fit", {cfg.name("input.path"): cfg.input.path})
    init = cfg.job.init_model
    previous = io.load_saved_model(fs, init, cfg.name("job.init_model")) if init else None
    phases: dict[str, float] = {}
    df = io.read_input(spark, fs, cfg)
    features.check_columns(df, cfg.input.id_cols, "id")
    names = features.resolve_features(df, cfg.input.features, cfg.input.id_cols)
    log.info(
        "input %s (%s): %d partitions, features %s, id columns %s",
        cfg.input.path,
        cfg.input.format,
        df.rdd.getNumPartitions(),
        names,
        cfg.input.id_cols,
    )
    stats = runner.timed(phases, "input_stats", lambda: features.input_stats(df, names))
    log.info("input rows: %d, bad rows: %d (%s)", stats.rows, stats.bad_rows, cfg.job.bad_rows)
    features.check_rows(stats, cfg)
    scaler = Scaler.from_stats(
        cfg.job.scale, names, stats.mean, stats.std, stats.minimum, stats.maximum
    )
    if scaler.constant:
        log.warning("features with no spread, left unscaled: %s", scaler.constant)
    data = features.prepared(df, cfg, names, stats, scaler)
    kmeans = KMeans(
        **cfg.job.estimator_params(),
        inputCols=[features.SCALED_PREFIX + c for c in names],
        distanceCol="distance",
    )
    if previous is not None:
        warm_start(kmeans, previous, cfg, names, scaler)
    model = runner.timed(phases, "fit", lambda: kmeans.fit(data))
    summary = model.summary
    centers_scaled = np.array(model.clusterCenters())
    centers = scaler.inverse(centers_scaled)
    with out.writing():
        runner.timed(phases, "write_model", lambda: model.write().save(out.path("model")))
        fs.write_text(out.path("scaler.json"), scaler.to_json())
        written = features.assignments(model.transform(data), cfg, names)
        runner.timed(
            phases, "write_assignments", lambda: written.write.parquet(out.path("assignments"))
        )
        result = {
            "command": "fit",
            "run_date": cfg.run_date,
            "input": cfg.input.path,
            "output": cfg.output.path,
            "k": summary.k,
            "features": names,
            "centers": centers.tolist(),
            "scaled_centers": centers_scaled.tolist(),
            "cost": summary.trainingCost,
            "iterations": summary.numIter,
            "converged": summary.converged,
            "convergence_reason": summary.convergenceReason,
            "cluster_sizes": summary.clusterSizes,
            "rows_read": stats.rows,
            "rows_dropped": stats.bad_rows if cfg.job.bad_rows == "drop" else 0,
            "rows_used": summary.numRows,
            "scaling": scaler.method,
            "init_mode": summary.initMode,
            "init_model": init or None,
            "cost_history": summary.costHistory,
            "seconds": {**phases, "engine": summary.diagnostics.phaseSeconds},
            "config": runner.redacted(cfg),
            "versions": runner.versions(),
        }
        fs.write_text(out.path("summary.json"), json.dumps(result, indent=2))
        fs.write_text(out.path("centers.csv"), centers_csv(names, centers, summary.clusterSizes))
    log.info("wrote %s (model/, assignments/, summary.json, centers.csv)", fs.qualify(out.final))
    return result
