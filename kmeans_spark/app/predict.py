"""``predict``: assign the input to a saved model's clusters (its scaling applied again) and
write ``OUTPUT/assignments/`` and ``OUTPUT/summary.json``, atomically, with the job's
marker (``_KMEANS_SPARK``) and ``_SUCCESS``.
"""

from __future__ import annotations

import argparse
import json
import logging
from typing import TYPE_CHECKING, Any

from kmeans_spark.app import flags, runner
from kmeans_spark.app.config import RunConfig
from kmeans_spark.app.paths import check_apart, template
from kmeans_spark.errors import KMeansInputError
from kmeans_spark.options import OPTIONS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from kmeans_spark.app.io import SavedModel

log = logging.getLogger("kmeans_spark")

HELP = "assign new data to a saved model's clusters; write assignments/ and summary.json"
DESCRIPTION = "Score the input with a saved model (its scaling applied again)."
#: What to read and write, and what to do with bad rows; the rest comes with the model.
KEYS = tuple(
    o.key for o in OPTIONS if o.key and (o.table in ("input", "output") or o.key == "job.bad_rows")
)
MODEL_FLAG = "--model"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        MODEL_FLAG,
        required=True,
        metavar="DIR",
        help="a fit run's output directory (or its model/); may contain {run_date}",
    )
    flags.add_job_flags(parser, KEYS)


def run(args: argparse.Namespace) -> int:
    cfg = flags.config_from_args(args, KEYS)
    model_path = template(args.model, cfg.run_date)
    check_apart((cfg.name("output.path"), cfg.output.path), {MODEL_FLAG: model_path})
    log.info(
        "predict: config %s, run date %s, model %s, input %s (%s), output %s (mode %s)",
        cfg.source,
        cfg.run_date,
        model_path,
        cfg.input.path,
        cfg.input.format,
        cfg.output.path,
        cfg.output.mode,
    )

    def work(spark: SparkSession, cfg: RunConfig) -> dict[str, Any]:
        return predict(spark, cfg, model_path)

    return runner.run_on_spark("predict", cfg, work, args.verbose)


def model_features(saved: SavedModel, df: DataFrame, cfg: RunConfig) -> list[str]:
    """The features to score, in the model's order: the scaler's names, else the model's
    input columns; ``--features``, if given, must name the same columns (in any order)."""
    from kmeans_spark.app.features import SCALED_PREFIX, resolve_features

    inputs = saved.model.getInputCols() or []
    if saved.scaler is None and any(c.startswith(SCALED_PREFIX) for c in inputs):
        raise KMeansInputError(
            f"no scaler.json next to the model {saved.path!r}; pass the fit run's output "
            f"directory (it holds model/ and scaler.json) to {MODEL_FLAG}."
        )
    trained = saved.scaler.features if saved.scaler else list(inputs)
    patterns = cfg.input.features or trained
    if not patterns:
        raise KMeansInputError(
            f"the model {saved.path!r} names no feature columns (it reads one vector column); "
            "pass --features with its columns, in the model's order."
        )
    selected = resolve_features(df, patterns, cfg.input.id_cols)
    width = saved.centers.shape[1]
    if (trained and sorted(selected) != sorted(trained)) or len(selected) != width:
        shown = f"features [{', '.join(trained)}]" if trained else f"{width} features"
        raise KMeansInputError(
            f"the model was trained on {shown}, but [{', '.join(selected)}] were "
            "selected; pass the model's features."
        )
    return list(trained or selected)


def predict(spark: SparkSession, cfg: RunConfig, model_path: str) -> dict[str, Any]:
    """Assign the configured input to a saved model's clusters; write assignments."""
    from kmeans_spark.app import features, io
    from kmeans_spark.app.scaler import Scaler

    fs = io.HadoopFS(spark)
    reads = {cfg.name("input.path"): cfg.input.path, MODEL_FLAG: model_path}
    out = io.open_output(fs, cfg, "predict", reads)
    saved = io.load_saved_model(fs, model_path, MODEL_FLAG)
    df = io.read_input(spark, fs, cfg)
    features.check_columns(df, cfg.input.id_cols, "id")
    names = model_features(saved, df, cfg)
    scaler = saved.scaler or Scaler.identity(names)
    stats = features.input_stats(df, names)
    features.check_rows(stats, cfg)
    data = features.prepared(df, cfg, names, stats, scaler)
    model = saved.model.copy()
    model.setInputCols([features.SCALED_PREFIX + c for c in names]).setDistanceCol("distance")
    scored = features.assignments(model.transform(data), cfg, names)
    with out.writing():
        scored.write.parquet(out.path("assignments"))
        written = spark.read.parquet(out.path("assignments"))
        counts = {
            int(r["prediction"]): int(r["count"])
            for r in written.groupBy("prediction").count().collect()
            if r["prediction"] is not None
        }
        result = {
            "command": "predict",
            "run_date": cfg.run_date,
            "model": saved.path,
            "input": cfg.input.path,
            "output": cfg.output.path,
            "features": names,
            "rows_read": stats.rows,
            "rows_dropped": stats.bad_rows if cfg.job.bad_rows == "drop" else 0,
            "cluster_sizes": [counts.get(i, 0) for i in range(saved.centers.shape[0])],
            "config": runner.redacted(cfg),
            "versions": runner.versions(),
        }
        fs.write_text(out.path("summary.json"), json.dumps(result, indent=2))
    log.info("wrote %s", fs.qualify(out.final))
    return result
