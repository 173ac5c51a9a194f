"""Building the SparkSession the CLI and the demo run on (never at import time)."""

from __future__ import annotations

import functools
import logging
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from pyspark import SparkConf, SparkContext
from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

#: Settings every session of ours gets unless the user set them. Each fit runs one Spark
#: job per pass, so the fixed cost of a Python task is paid every iteration: over a
#: loopback TCP socket the executor and its Python worker lose ~40 ms a task to delayed
#: ACKs (measured: an empty Python job 98 ms over TCP, 57 ms over a Unix domain socket,
#: against ~26 ms for a JVM-only job). Supported on Linux and macOS executors.
UNIX_SOCKET_IPC = "spark.python.unix.domain.socket.enabled"
FAST_DEFAULTS: dict[str, str] = {UNIX_SOCKET_IPC: "true"}

#: Spark's setting for the module its Python worker daemon runs, and ours
#: (:mod:`kmeans_spark.worker_daemon`: Spark's daemon without the traceback it prints over a
#: Unix socket each time an idle worker is retired).
DAEMON_MODULE = "spark.python.daemon.module"
QUIET_DAEMON = "kmeans_spark.worker_daemon"

#: Masters whose executors run inside the driver's JVM, with the driver's working directory:
#: ``local``, ``local[N]``, ``local[*]``, ``local[N, maxFailures]``.
_LOCAL_MASTER = re.compile(r"local(?:\[\s*([^\],\s]+)\s*(?:,[^\]]*)?\])?")


def local_master_cores(master: str) -> str | None:
    """The cores of a master whose executors run inside this JVM: ``"1"`` for ``local``,
    ``"N"`` or ``"*"`` for ``local[N]`` and ``local[*]``; ``None`` for any other master."""
    found = _LOCAL_MASTER.fullmatch(master)
    return None if found is None else found.group(1) or "1"


def session_defaults(master: str, python: str) -> dict[str, str]:
    """The settings a session of ours gets unless the user set them.

    :data:`FAST_DEFAULTS` everywhere the caller allows; the quiet daemon only where it is
    certain to start: executors inside this JVM (``local`` masters) whose Python, ``python``,
    can import it. Anywhere else the executors' environment is unknown here (the package may
    arrive with ``--py-files``, which a daemon cannot import), and a daemon that fails to
    start fails every task, so it stays an opt-in (README, "Python workers").
    """
    settings = dict(FAST_DEFAULTS)
    if local_master_cores(master) is not None and _can_import(python, QUIET_DAEMON):
        settings[DAEMON_MODULE] = QUIET_DAEMON
    return settings


@functools.lru_cache(maxsize=8)
def _can_import(python: str, module: str) -> bool:
    """Whether ``python``, started here as Spark starts its daemon, finds ``module``.

    Without ``PYTHONPATH``: under spark-submit the driver's has the ``--py-files`` zip, which
    the daemon's does not. A package found only through ``PYTHONPATH`` thus gets Spark's own
    daemon: the noisy choice, never the one that fails.
    """
    probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    try:
        done = subprocess.run(
            [python, "-c", probe], capture_output=True, timeout=60, check=False, env=env
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


#: Spark settings whose values are credentials, masked wherever settings are shown (the
#: session's log line, a run's summary.json): ``*.secret*``, ``*password*``, ``*token*``,
#: ``*credential*``, ``*private*``, SAS tokens (``fs.azure.sas.*``), API keys, and every key
#: under ``fs.`` (``fs.s3a.access.key``, ``fs.azure.account.key.<account>``).
SECRET_SETTING = re.compile(
    r"secret|passw(?:or)?d|token|credential|private|\bsas\b|api[._-]?key|\bfs\..*key",
    re.IGNORECASE,
)


def masked(settings: Mapping[str, str]) -> dict[str, str]:
    """``settings`` with the values of :data:`SECRET_SETTING` keys replaced by ``***``."""
    return {k: ("***" if SECRET_SETTING.search(k) else v) for k, v in settings.items()}


#: Local-mode settings: loopback only, no UI, few shuffle partitions for small data.
LOCAL_DEFAULTS: dict[str, str] = {
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}


#: Spark's logging for our sessions, shipped with the package: warnings and errors, without
#: stack frames (Spark's default profile prints a Java stack trace for a missing input path).
LOG_CONFIG = Path(__file__).with_name("log4j2.properties")
DRIVER_JAVA_OPTIONS = "spark.driver.extraJavaOptions"
#: Where a user may have configured the driver JVM's logging or options already
#: (``SPARK_SUBMIT_OPTS_EXTRA``: scripts/submit.sh's extra spark-submit options).
_JVM_OPTION_VARIABLES = (
    "SPARK_SUBMIT_OPTS_EXTRA",
    "SPARK_SUBMIT_OPTS",
    "PYSPARK_SUBMIT_ARGS",
    "JAVA_TOOL_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "_JAVA_OPTIONS",
)


def driver_log_options(conf: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """The setting that points a new driver JVM at :data:`LOG_CONFIG`, or ``{}`` when the
    user configured logging themselves: a log4j option or a driver-options setting in
    ``conf``, the environment or ``spark-defaults.conf`` (ours would replace theirs), or a
    ``log4j2.*`` file in Spark's conf directory."""
    own = conf.get(DRIVER_JAVA_OPTIONS, "")
    env = " ".join(environ.get(name, "") for name in _JVM_OPTION_VARIABLES)
    if "log4j" in own or not LOG_CONFIG.is_file():  # not a file: inside a --py-files zip
        return {}
    if any(word in env for word in ("log4j", "driver-java-options", "extraJavaOptions")):
        return {}
    home = environ.get("SPARK_HOME")
    conf_dir = environ.get("SPARK_CONF_DIR") or (os.path.join(home, "conf") if home else None)
    if conf_dir and os.path.isdir(conf_dir):
        if any(name.startswith("log4j2") for name in os.listdir(conf_dir)):
            return {}
        defaults = Path(conf_dir, "spark-defaults.conf")
        if defaults.is_file() and DRIVER_JAVA_OPTIONS in defaults.read_text(errors="replace"):
            return {}
    option = f"-Dlog4j2.configurationFile={LOG_CONFIG.as_uri()}"
    return {DRIVER_JAVA_OPTIONS: f"{own} {option}".strip()}


def local_session(
    app_name: str = "kmeans-spark",
    master: str = "local[*]",
    conf: Mapping[str, str] | None = None,
) -> SparkSession:
    """A local-mode session whose Python workers run this interpreter, with the package's
    logging (:data:`LOG_CONFIG`) unless the user configured Spark's."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master).appName(app_name)
    defaults = session_defaults(master, os.environ["PYSPARK_PYTHON"])
    settings = {**LOCAL_DEFAULTS, **defaults, **(conf or {})}
    settings.update(driver_log_options(settings, os.environ))
    for key, value in settings.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def submitted_session(app_name: str, conf: Mapping[str, str] | None = None) -> SparkSession:
    """The session under spark-submit, which has already set the master and JVM settings.

    :func:`session_defaults` fill in only what neither spark-submit (``--conf``,
    ``spark-defaults.conf``) nor ``conf`` set, so an explicit ``false`` wins. Not on YARN:
    the socket goes in the container's temporary directory, whose path can exceed the
    108 bytes a Unix socket path may have; there, set it together with a short
    ``spark.python.unix.domain.socket.dir``.
    """
    # Connect to spark-submit's JVM first: only then does SparkConf() load the spark.*
    # properties spark-submit passed (without it, it is empty and every default would win).
    SparkContext._ensure_initialized()
    submitted = SparkConf()
    master = submitted.get("spark.master", "")
    # The Python SparkContext gives its workers: PYSPARK_PYTHON (spark-submit sets it from
    # spark.pyspark.python), else python3.
    python = os.environ.get("PYSPARK_PYTHON", "python3")
    defaults = {} if master.startswith("yarn") else session_defaults(master, python)
    settings = {k: v for k, v in defaults.items() if not submitted.contains(k)}
    settings.update(conf or {})
    shown = ", ".join(f"{k}={v}" for k, v in masked(settings).items())
    log.info("session: %s", shown or "as submitted")
    builder = SparkSession.builder.appName(app_name)
    for key, value in settings.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
