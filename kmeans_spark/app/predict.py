"""``predict``: assign the input to a saved model's clusters (its scaling applied again) and
write ``OUTPUT/assignments/`` and ``OUTPUT/summary.json``, atomically, with the job's
marker (``_KMEANS_SPARK``) and ``_SUCCESS``.

An input without usable rows (a partition that has not landed, a filter that keeps none)
fails the run (exit 2), as it fails a fit: a scheduled scoring run must not write empty
assignments that look like a result.
"""

from __future__ import annotations

import argparse
import json
import logging
from typing import TYPE_CHECKING, Any

from kmeans_spark.app import flags, runner
from kmeans_spark.app.config import RunConfig
from kmeans_spark.errors import KMeansInputError
from kmeans_spark.options import OPTIONS

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger("kmeans_spark")

HELP = "assign new data to a saved model's clusters; write assignments/ and summary.json"
DESCRIPTION = "Score the input with a saved model (its scaling applied again)."
#: The model, what to read and write, and what to do with bad rows; the rest comes with the
#: model (scoring takes no weights).
KEYS = tuple(
    o.key
    for o in OPTIONS
    if o.key
    and o.key not in ("input.weight_col", "output.report", "output.plots_3d")
    and (o.table in ("input", "output") or o.key in ("job.model", "job.bad_rows"))
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    flags.add_job_flags(parser, KEYS)


def run(args: argparse.Namespace) -> int:
    cfg = flags.config_from_args(args, KEYS)
    if not cfg.job.model:
        raise KMeansInputError(
            "no model to score with; pass --model DIR (a fit run's output directory), or set "
            "job.model."
        )
    return runner.run_command("predict", cfg, predict, args)


def predict(spark: SparkSession, cfg: RunConfig) -> dict[str, Any]:
    """Assign the configured input to a saved model's clusters; write assignments."""
    from pyspark.sql import functions as F

    from kmeans_spark.app import features, io
    from kmeans_spark.app.scaler import Scaler

    fs = io.JobFS(spark)
    out = io.open_output(fs, cfg, "predict")
    name = cfg.name("job.model")
    saved = io.load_saved_model(fs, cfg.job.model, name)
    patterns = cfg.input.features or features.trained_features(saved, name)
    if not patterns:
        raise KMeansInputError(
            f"the model {saved.path!r} names no feature columns (it reads one vector column); "
            "pass --features with its columns, in the model's order."
        )

    def model_order(selected: list[str]) -> list[str]:
        return features.model_features(saved, selected, name)

    inp = features.load_input(spark, fs, cfg, patterns, model_order)
    names = inp.features
    data = features.prepared(inp.df, cfg, names, saved.scaler or Scaler.identity(names))
    # the rows and bad rows are counted while the assignments are written (one read)
    observed, counted = features.observe_counts(data, names)
    if cfg.job.bad_rows == "drop":
        observed = observed.where(~F.col(features.BAD))
    model = saved.model.copy()
    model.setInputCols([features.SCALED_PREFIX + c for c in names]).setDistanceCol("distance")
    scored = features.assignments(model.transform(observed), cfg, names)
    with out.writing():  # an error below leaves nothing behind
        scored.write.parquet(out.path("assignments"))
        counts = counted()
        dropped = counts.check(inp.df, cfg, names)
        written = spark.read.parquet(out.path("assignments"))
        sizes = {
            int(r["prediction"]): int(r["count"])
            for r in written.groupBy("prediction").count().collect()
            if r["prediction"] is not None
        }
        result = runner.base_result(
            "predict",
            cfg,
            counts.rows,
            dropped,
            model=saved.path,
            features=names,
            cluster_sizes=[sizes.get(i, 0) for i in range(saved.centers.shape[0])],
        )
        fs.write_text(out.path("summary.json"), json.dumps(result, indent=2))
    log.info("wrote %s", fs.qualify(out.final))
    return result
