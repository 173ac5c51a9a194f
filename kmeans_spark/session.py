"""Building the SparkSession the CLI and the demo run on (never at import time)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from pyspark import SparkConf
from pyspark.sql import SparkSession

#: Settings every session of ours gets unless the user set them. Each fit runs one Spark
#: job per pass, so the fixed cost of a Python task is paid every iteration: over a
#: loopback TCP socket the executor and its Python worker lose ~40 ms a task to delayed
#: ACKs (measured: an empty Python job 98 ms over TCP, 57 ms over a Unix domain socket,
#: against ~26 ms for a JVM-only job). Supported on Linux and macOS executors.
UNIX_SOCKET_IPC = "spark.python.unix.domain.socket.enabled"
FAST_DEFAULTS: dict[str, str] = {UNIX_SOCKET_IPC: "true"}

#: Local-mode settings: loopback only, no UI, few shuffle partitions for small data.
LOCAL_DEFAULTS: dict[str, str] = {
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    **FAST_DEFAULTS,
}


def local_session(
    app_name: str = "kmeans-spark",
    master: str = "local[*]",
    conf: Mapping[str, str] | None = None,
) -> SparkSession:
    """A local-mode session whose Python workers run this interpreter."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in {**LOCAL_DEFAULTS, **(conf or {})}.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def submitted_session(app_name: str, conf: Mapping[str, str] | None = None) -> SparkSession:
    """The session under spark-submit, which has already set the master and JVM settings.

    :data:`FAST_DEFAULTS` fill in only what neither spark-submit (``--conf``,
    ``spark-defaults.conf``) nor ``conf`` set, so an explicit ``false`` wins. Not on YARN:
    the socket goes in the container's temporary directory, whose path can exceed the
    108 bytes a Unix socket path may have; there, set it together with a short
    ``spark.python.unix.domain.socket.dir``.
    """
    submitted = SparkConf()  # loads the spark.* system properties spark-submit passed
    on_yarn = submitted.get("spark.master", "").startswith("yarn")
    settings = {k: v for k, v in FAST_DEFAULTS.items() if not (submitted.contains(k) or on_yarn)}
    settings.update(conf or {})
    builder = SparkSession.builder.appName(app_name)
    for key, value in settings.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
