"""What every command that works on data shares: its SparkSession (spark-submit's, or a
local one for ``python -m``), the run's summary fields (config without secrets, versions,
timings), and the one-line JSON result on stdout that a scheduler can parse.

pyspark is imported only when a session starts.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from kmeans_spark import __version__
from kmeans_spark.app.config import RunConfig, SparkConfig

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger("kmeans_spark")

T = TypeVar("T")
Work = Callable[["SparkSession", RunConfig], dict[str, Any]]

#: The fields of a run's result that its one-line JSON on stdout repeats.
BRIEF = (
    "command",
    "output",
    "rows_read",
    "rows_dropped",
    "cluster_sizes",
    "k",
    "cost",
    "iterations",
    "convergence_reason",
)


def under_spark_submit() -> bool:
    """spark-submit starts the JVM first and hands Python its gateway port."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def quiet_pyspark_loggers() -> None:
    """PySpark logs each analysis error (a bad ``--where``) as JSON with its Java stack
    trace before raising it; the job reports it in one line instead."""
    from pyspark.logger import PySparkLogger

    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)


def job_session(app_name: str, spark: SparkConfig) -> SparkSession:
    """The SparkSession of a job run. Under spark-submit the master and JVM settings come
    from spark-submit; with ``python -m`` they come from the config (default local[*])."""
    from kmeans_spark.session import local_session, submitted_session

    if under_spark_submit():
        return submitted_session(app_name, spark.session_settings())
    # no progress bars between the log lines, as under spark-submit
    conf = {"spark.ui.showConsoleProgress": "false", **spark.session_settings()}
    return local_session(app_name, master=spark.master, conf=conf)


def run_on_spark(command: str, cfg: RunConfig, work: Work, verbose: bool = False) -> int:
    """Start the session, do ``work``, print its brief result; the session stops after
    (unless spark-submit owns it)."""
    if not verbose:
        quiet_pyspark_loggers()
    spark = job_session(f"kmeans-spark {command} {cfg.run_date}", cfg.spark)
    spark.sparkContext.setLogLevel(cfg.spark.settings.get("kmeans_spark.logLevel", "WARN"))
    try:
        result = work(spark, cfg)
    finally:
        if not under_spark_submit():
            spark.stop()
    print(json.dumps({k: result[k] for k in BRIEF if k in result}), flush=True)
    return 0


SECRET = re.compile(r"secret|password|token|credential|access\.?key", re.IGNORECASE)


def redacted(cfg: RunConfig) -> dict[str, Any]:
    """The config for summary.json, without the values of Spark settings that look like
    credentials (``--conf spark.hadoop.fs.s3a.secret.key=...``)."""
    config = cfg.as_dict()
    config["spark"] = {k: ("***" if SECRET.search(k) else v) for k, v in config["spark"].items()}
    return config


def versions() -> dict[str, str]:
    import numpy as np
    import pyspark

    return {
        "kmeans_spark": __version__,
        "pyspark": pyspark.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def timed(phases: dict[str, float], name: str, fn: Callable[[], T]) -> T:
    """``fn()``, its wall time recorded in ``phases[name]`` (seconds)."""
    start = time.perf_counter()
    try:
        return fn()
    finally:
        phases[name] = round(time.perf_counter() - start, 3)
