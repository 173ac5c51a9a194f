"""Command line of the batch job: ``spark-submit jobs/kmeans_job.py COMMAND ...`` or
``python -m kmeans_spark COMMAND ...`` (local mode).

Commands: ``fit`` (train; write model, assignments, summary), ``predict`` (score new data
with a saved model), ``demo`` (fit on generated blobs and print the result). Model selection
(``elbow``) will be one more subcommand of the same parser.

Exit codes, which schedulers rely on: 0 success; 2 bad configuration or input (one line on
stderr naming the value, the rule and the fix; no stack trace); 1 any other failure.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from kmeans_spark.errors import KMeansInputError

log = logging.getLogger("kmeans_spark")

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be >= 1")
    return value


def _add_io_flags(p: argparse.ArgumentParser) -> None:
    """Flags shared by fit and predict; each overrides one config key."""
    p.add_argument(
        "--config", metavar="FILE", help="TOML config file (conf/local.toml, conf/cluster.toml)"
    )
    p.add_argument(
        "--input",
        metavar="PATH",
        help="input path, glob or partitioned directory; may contain {run_date}  [input.path]",
    )
    p.add_argument(
        "--format", choices=("csv", "parquet", "json", "orc"), help="input format  [input.format]"
    )
    p.add_argument(
        "--features",
        metavar="COL,COL,...",
        help="feature columns: names or glob patterns like 'x*'  [input.features]",
    )
    p.add_argument(
        "--id-cols",
        metavar="COL,COL,...",
        help="columns copied to the assignments  [input.id_cols]",
    )
    p.add_argument(
        "--where", metavar="EXPR", help="row filter, e.g. \"dt = '{run_date}'\"  [input.where]"
    )
    p.add_argument(
        "--header",
        dest="header",
        action="store_const",
        const=True,
        help="CSV has a header row (default)  [input.header]",
    )
    p.add_argument(
        "--no-header",
        dest="header",
        action="store_const",
        const=False,
        help="CSV has no header row",
    )
    p.add_argument("--delimiter", metavar="CHAR", help="CSV delimiter (,)  [input.delimiter]")
    p.add_argument(
        "--bad-rows",
        choices=("error", "drop"),
        help="rows with null/NaN/inf/non-numeric features: fail (default) or drop  [job.bad_rows]",
    )
    p.add_argument(
        "--output",
        metavar="DIR",
        help="output directory of this run; may contain {run_date}  [output.path]",
    )
    p.add_argument(
        "--mode",
        choices=("error", "overwrite"),
        help="if the output exists: fail (default) or replace it  [output.mode]",
    )
    p.add_argument(
        "--keep-features",
        dest="keep_features",
        action="store_const",
        const=True,
        help="also write the features to the assignments  [output.keep_features]",
    )
    p.add_argument(
        "--run-date",
        metavar="YYYY-MM-DD",
        help="the run's date, templated into {run_date} (default: today, UTC)",
    )
    p.add_argument(
        "--master",
        help="Spark master when run with python -m (spark-submit sets its own)",
    )
    p.add_argument(
        "--conf",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a Spark setting (repeatable)  [spark]",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="TABLE.KEY=VALUE",
        help="any config key (repeatable), e.g. job.tol=1e-6",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kmeans-spark",
        description="Distributed k-means on Apache Spark: fit, predict, demo.",
        epilog="Exit codes: 0 success, 2 bad configuration or input, 1 other failure.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    fit = sub.add_parser(
        "fit",
        help="train a model; write model/, assignments/, summary.json, centers.csv",
        description="Fit k-means on the input and write one output directory, atomically.",
    )
    _add_io_flags(fit)
    fit.add_argument("--k", type=int, help="number of clusters  [job.k]")
    fit.add_argument("--seed", type=int, help="random seed  [job.seed]")
    fit.add_argument("--max-iter", type=int, help="maximum Lloyd iterations  [job.max_iter]")
    fit.add_argument(
        "--tol", type=float, help="stop when no centre moves more than this  [job.tol]"
    )
    fit.add_argument("--init-steps", type=int, help="k-means|| rounds  [job.init_steps]")
    fit.add_argument(
        "--init-mode", choices=("k-means||", "random"), help="initialisation  [job.init_mode]"
    )
    fit.add_argument(
        "--init-model",
        metavar="PATH",
        help="warm start from a previous run's output (or model) directory  [job.init_model]",
    )
    fit.add_argument(
        "--distance", choices=("euclidean", "cosine"), help="distance measure  [job.distance]"
    )
    fit.add_argument(
        "--dtype",
        choices=("float64", "float32"),
        help="precision of the cached blocks  [job.dtype]",
    )
    fit.add_argument(
        "--scale",
        choices=("none", "standard", "minmax"),
        help="feature scaling, saved with the model  [job.scale]",
    )
    fit.add_argument(
        "--partitions", type=int, help="resident blocks (0: automatic)  [job.partitions]"
    )

    predict = sub.add_parser(
        "predict",
        help="assign new data to a saved model's clusters; write assignments/ and summary.json",
        description="Score the input with a saved model (its scaling applied again).",
    )
    predict.add_argument(
        "--model", required=True, metavar="DIR", help="a fit run's output directory (or its model/)"
    )
    _add_io_flags(predict)

    demo = sub.add_parser(
        "demo",
        help="fit on generated Gaussian blobs in local mode and print the result",
        description="Generate seeded Gaussian blobs, fit in local mode, print a summary.",
    )
    demo.add_argument("--rows", type=_positive_int, default=100_000, help="points (100000)")
    demo.add_argument("--dim", type=_positive_int, default=2, help="features (2)")
    demo.add_argument("--k", type=_positive_int, default=5, help="clusters (5)")
    demo.add_argument("--seed", type=int, default=42, help="seed of data and fit (42)")
    demo.add_argument("--master", default="local[*]", help="Spark master (local[*])")
    demo.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


#: flag name -> (table, key)
FLAG_KEYS = {
    "input": ("input", "path"),
    "format": ("input", "format"),
    "features": ("input", "features"),
    "id_cols": ("input", "id_cols"),
    "where": ("input", "where"),
    "header": ("input", "header"),
    "delimiter": ("input", "delimiter"),
    "bad_rows": ("job", "bad_rows"),
    "k": ("job", "k"),
    "seed": ("job", "seed"),
    "max_iter": ("job", "max_iter"),
    "tol": ("job", "tol"),
    "init_steps": ("job", "init_steps"),
    "init_mode": ("job", "init_mode"),
    "init_model": ("job", "init_model"),
    "distance": ("job", "distance"),
    "dtype": ("job", "dtype"),
    "scale": ("job", "scale"),
    "partitions": ("job", "partitions"),
    "output": ("output", "path"),
    "mode": ("output", "mode"),
    "keep_features": ("output", "keep_features"),
}


def overrides_from_args(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    from kmeans_spark.config import parse_assignment

    layer: dict[str, dict[str, Any]] = {}
    for item in args.set:
        key, value = parse_assignment(item, "--set")
        if "." not in key:
            raise KMeansInputError(f"--set {item!r} must name table.key, e.g. job.tol=1e-6.")
        table, name = key.split(".", 1)
        layer.setdefault(table, {})[name] = value
    for flag, (table, key) in FLAG_KEYS.items():
        flag_value = getattr(args, flag, None)
        if flag_value is not None:
            layer.setdefault(table, {})[key] = flag_value
    spark = layer.setdefault("spark", {})
    for item in args.conf:
        key, value = parse_assignment(item, "--conf")
        spark[key] = value
    if args.master:
        spark["spark.master"] = args.master
    return layer


def under_spark_submit() -> bool:
    """spark-submit starts the JVM first and hands Python its gateway port."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def job_session(app_name: str, spark_conf: dict[str, str]) -> Any:
    """The SparkSession of a job run. Under spark-submit the master and JVM settings come
    from spark-submit; with ``python -m`` they come from the config (default local[*])."""
    from kmeans_spark.session import local_session, submitted_session

    conf = dict(spark_conf)
    master = conf.pop("spark.master", "local[*]")
    if under_spark_submit():
        return submitted_session(app_name, conf)
    return local_session(app_name, master=master, conf=conf)


def run_job(args: argparse.Namespace) -> int:
    from kmeans_spark import batch
    from kmeans_spark.config import load_config

    cfg = load_config(args.config, overrides_from_args(args), args.run_date)
    log.info(
        "%s: config %s, run date %s, input %s (%s), output %s (mode %s)",
        args.command,
        cfg.source,
        cfg.run_date,
        cfg.input_path,
        cfg.input_format,
        cfg.output_path,
        cfg.mode,
    )
    if args.command == "fit":
        log.info(
            "fit: k=%d, max_iter=%d, tol=%g, seed=%d, scale=%s, bad_rows=%s, distance=%s, dtype=%s",
            cfg.k,
            cfg.max_iter,
            cfg.tol,
            cfg.seed,
            cfg.scale,
            cfg.bad_rows,
            cfg.distance,
            cfg.dtype,
        )
    spark = job_session(f"kmeans-spark {args.command} {cfg.run_date}", cfg.spark)
    spark.sparkContext.setLogLevel(cfg.spark.get("kmeans_spark.logLevel", "WARN"))
    try:
        if args.command == "fit":
            result = batch.run_fit(spark, cfg)
        else:
            result = batch.run_predict(spark, cfg, args.model)
    finally:
        if not under_spark_submit():
            spark.stop()
    brief: dict[str, Any] = {
        k: result[k]
        for k in ("command", "output", "rows_read", "rows_dropped", "cluster_sizes")
        if k in result
    }
    if "cost" in result:
        brief.update(
            k=result["k"],
            cost=result["cost"],
            iterations=result["iterations"],
            convergence_reason=result["convergence_reason"],
        )
    print(json.dumps(brief))
    return EXIT_OK


def run_demo(args: argparse.Namespace) -> int:
    from kmeans_spark import KMeans
    from kmeans_spark.datagen import make_blobs
    from kmeans_spark.session import local_session

    blobs = make_blobs(args.rows, args.dim, args.k, seed=args.seed)
    spark = local_session("kmeans-spark demo", master=args.master)
    spark.sparkContext.setLogLevel("WARN")
    try:
        import pandas as pd

        names = [f"x{i}" for i in range(args.dim)]
        df = spark.createDataFrame(pd.DataFrame(blobs.x, columns=names))
        started = time.perf_counter()
        model = KMeans(k=args.k, seed=args.seed, inputCols=names).fit(df)
        seconds = time.perf_counter() - started
        summary = model.summary
        centers = np.array(model.clusterCenters())
        order = np.lexsort(centers.T[::-1])
        result = {
            "rows": args.rows,
            "features": args.dim,
            "k": args.k,
            "trainingCost": summary.trainingCost,
            "oracleCost": blobs.oracle_cost(),
            "numIter": summary.numIter,
            "convergenceReason": summary.convergenceReason,
            "clusterSizes": [summary.clusterSizes[i] for i in order],
            "centers": [[round(float(v), 4) for v in centers[i]] for i in order],
            "fitSeconds": round(seconds, 3),
        }
        print(json.dumps(result, indent=2))
    finally:
        spark.stop()
    return EXIT_OK


def _one_line(exc: BaseException) -> str:
    """The first meaningful line of an error (Spark's carry a JVM stack trace after it)."""
    text = str(exc).strip() or type(exc).__name__
    first = text.splitlines()[0].strip()
    return first[:2000]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("py4j").setLevel(logging.WARNING)
    try:
        if args.command == "demo":
            return run_demo(args)
        return run_job(args)
    except KMeansInputError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return EXIT_BAD_INPUT
    except Exception as exc:
        from pyspark.errors import AnalysisException

        if isinstance(exc, AnalysisException):  # missing path, bad --where, unknown column
            print(f"error: {_one_line(exc)}", file=sys.stderr, flush=True)
            return EXIT_BAD_INPUT
        log.debug("failure", exc_info=True)
        print(
            f"error: {type(exc).__name__}: {_one_line(exc)} (run with -v for the traceback)",
            file=sys.stderr,
        )
        return EXIT_FAILURE
