"""What every command that works on data shares: its first log lines, its SparkSession
(a Spark Connect server's with ``--remote``, spark-submit's, or a local one for
``python -m``), the run's summary fields (what it read
and wrote, config without secrets, versions, timings), and the one-line JSON result on
stdout that a scheduler can parse.

pyspark is imported only when a session starts.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from kmeans_spark import __version__
from kmeans_spark.app.config import LOG_LEVEL_KEY, RunConfig, SparkConfig

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger("kmeans_spark")

T = TypeVar("T")
Work = Callable[["SparkSession", RunConfig], dict[str, Any]]

#: The fields of a run's result that its one-line JSON on stdout repeats.
BRIEF = (
    "command",
    "output",
    "choice",
    "rows_read",
    "rows_dropped",
    "cluster_sizes",
    "k",
    "cost",
    "iterations",
    "convergence_reason",
)


def log_start(command: str, cfg: RunConfig) -> None:
    """The run's first lines: its config's source, run date, input and output, and the
    ``[job]`` keys the command uses (``k=5, ...``; ``model=...`` for predict)."""
    log.info(
        "%s: config %s, run date %s, input %s (%s), output %s (mode %s)",
        command,
        cfg.source,
        cfg.run_date,
        cfg.input.path,
        cfg.input.format,
        cfg.output.path,
        cfg.output.mode,
    )
    job = dataclasses.asdict(cfg.job)
    used = [f"{k}={v}" for k, v in job.items() if f"job.{k}" in cfg.keys]
    if used:
        log.info("%s: %s", command, ", ".join(used))


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
    """The SparkSession of a job run. With a Spark Connect URL (``--remote``,
    ``spark.remote``, ``SPARK_REMOTE``), a client of that server, which owns the master and
    the static settings; under spark-submit the master and JVM settings come from
    spark-submit; with ``python -m`` they come from the config (default local[*])."""
    from kmeans_spark.session import connect_session, local_session, submitted_session

    if spark.remote:
        settings = {k: v for k, v in spark.session_settings().items() if k != LOG_LEVEL_KEY}
        level = spark.settings.get(LOG_LEVEL_KEY, "")
        return connect_session(spark.remote, spark.remote_from, settings, level)
    if under_spark_submit():
        return submitted_session(app_name, spark.session_settings())
    # no progress bars between the log lines, as under spark-submit
    conf = {"spark.ui.showConsoleProgress": "false", **spark.session_settings()}
    return local_session(app_name, master=spark.master, conf=conf)


def run_command(command: str, cfg: RunConfig, work: Work, args: argparse.Namespace) -> int:
    """What every data command does once its config is checked: its first log lines, then
    ``work`` on Spark (on ``args.session`` when ``cli.main`` was given one)."""
    log_start(command, cfg)
    return run_on_spark(command, cfg, work, args.verbose, getattr(args, "session", None))


def run_on_spark(
    command: str,
    cfg: RunConfig,
    work: Work,
    verbose: bool = False,
    session: SparkSession | None = None,
) -> int:
    """Start the session, do ``work``, print its brief result; the session stops after
    (unless spark-submit owns it). A given ``session`` (the tests' own) is used as it is and
    left running."""
    from kmeans_spark.session import is_connect, set_log_level

    if not verbose:
        quiet_pyspark_loggers()
    spark = session or job_session(f"kmeans-spark {command} {cfg.run_date}", cfg.spark)
    try:
        if session is None:
            set_log_level(spark, cfg.spark.log_level)  # checked with the config
        if is_connect(spark):  # the server resolves bare paths its own way
            cfg = cfg.with_local_paths_qualified()
        result = work(spark, cfg)
    finally:
        if session is None and (is_connect(spark) or not under_spark_submit()):
            spark.stop()
    print(json.dumps({k: result[k] for k in BRIEF if k in result}), flush=True)
    return 0


def redacted(cfg: RunConfig) -> dict[str, Any]:
    """The config for summary.json, without the values of Spark settings that look like
    credentials (``--conf spark.hadoop.fs.s3a.secret.key=...``; the rule is
    :data:`kmeans_spark.session.SECRET_SETTING`)."""
    from kmeans_spark.session import masked

    config = cfg.as_dict()
    config["spark"] = masked(config["spark"])
    return config


def base_result(
    command: str, cfg: RunConfig, rows_read: int, rows_dropped: int, **fields: Any
) -> dict[str, Any]:
    """A run's summary: what every command reports (the command, run date, input, output,
    rows read and dropped), then ``fields``, then the config (secrets masked) and versions."""
    return {
        "command": command,
        "run_date": cfg.run_date,
        "input": cfg.input.path,
        "output": cfg.output.path,
        "rows_read": rows_read,
        "rows_dropped": rows_dropped,
        **fields,
        "config": redacted(cfg),
        "versions": versions(),
    }


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
