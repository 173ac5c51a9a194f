"""Building the SparkSession the CLI and the demo run on (never at import time)."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import cast

from pyspark import SparkConf, SparkContext
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from kmeans_spark.connect_url import without_token
from kmeans_spark.errors import KMeansInputError

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
    """``settings`` with the values of :data:`SECRET_SETTING` keys replaced by ``***``, and
    the token of a Spark Connect URL (``spark.remote``) masked."""
    return {
        k: ("***" if SECRET_SETTING.search(k) else without_token(v)) for k, v in settings.items()
    }


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


# -- Spark Connect -----------------------------------------------------------------------

#: What PySpark's own builder sets once it makes a Connect session: its functions and
#: DataFrame builders then take their Connect implementations.
CONNECT_MODE = "SPARK_CONNECT_MODE_ENABLED"
#: The settings a session of ours gets that belong to the server under Connect (of its
#: Python workers, set when it starts): our value, and what going without it costs.
SERVER_OWNED = {
    UNIX_SOCKET_IPC: ("true", "~40 ms more per Python task over TCP, and a fit runs a job a pass"),
    DAEMON_MODULE: (QUIET_DAEMON, "Spark's own worker daemon logs a traceback per retired worker"),
}


def is_connect(spark: SparkSession) -> bool:
    """Whether ``spark`` is a Spark Connect client session (no JVM, no SparkContext here):
    the one test of the session type the job's code branches on."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def connect_session(
    url: str, given_as: str, conf: Mapping[str, str], log_level: str = ""
) -> SparkSession:
    """A Spark Connect session of the server at ``url`` (``given_as``: ``--remote``,
    ``SPARK_REMOTE``, ..., for messages), checked to answer, with the runtime settings of
    ``conf`` set on it (``log_level``: the level the user asked for, which is the server's).

    The server owns the rest: its master, static settings (``spark.driver.*``, the UI), the
    Python workers' IPC and daemon. :func:`log_server_owned` says once which of ``conf``
    could not be set and what the server's defaults cost. A server that does not answer is
    a one-line :class:`KMeansInputError` naming the URL and the fix, before the run writes
    anything.
    """
    shown = without_token(url)
    try:
        from pyspark.sql.connect.client.retries import DefaultPolicy
        from pyspark.sql.connect.session import SparkSession as ConnectSession
    except ImportError as exc:  # pyspark without its connect extra (grpcio, ...)
        raise KMeansInputError(
            f"{given_as} {shown!r} needs PySpark's Spark Connect client, which is not "
            f"installed ({exc}); install it (pip install 'pyspark[connect]', or "
            "scripts/setup.sh), or leave the URL out to run a session of the job's own."
        ) from None
    os.environ[CONNECT_MODE] = "1"
    # typed as the classic session, as every caller's: the DataFrame API is the same
    try:
        spark = cast(SparkSession, ConnectSession.builder.remote(url).getOrCreate())
    except Exception as exc:  # PySpark's URL parser: its message may quote the token
        raise KMeansInputError(
            f"{given_as} {shown!r} is refused by PySpark's Spark Connect client "
            f"({type(exc).__name__}); fix the URL (sc://HOST:PORT/;token=...), then run again."
        ) from None
    client = spark.client
    policies = client.get_retry_policies()
    # the default policy retries an unreachable server for about 10 minutes: ask briefly
    client.set_retry_policies([DefaultPolicy(max_retries=2, initial_backoff=200)])
    try:
        with warnings.catch_warnings():  # the retries' "RETRIES_EXCEEDED" UserWarning
            warnings.simplefilter("ignore")
            try:
                version = spark.version
            except Exception as exc:
                with contextlib.suppress(Exception):
                    spark.stop()
                raise KMeansInputError(
                    f"cannot reach the Spark Connect server {shown} (given by {given_as}): "
                    f"{_grpc_reason(exc)}; start the server (sbin/start-connect-server.sh) or "
                    "fix the URL (host, port, ;token=), then run again."
                ) from None
    finally:
        client.set_retry_policies(policies)
    log.info("Spark Connect: server %s, Spark %s", shown, version)
    refused = []
    for key, value in conf.items():
        try:
            spark.conf.set(key, value)
        except Exception:  # static, or not the client's to set
            refused.append(key)
    log_server_owned(spark, refused, log_level)
    return spark


def _grpc_reason(exc: BaseException) -> str:
    """What gRPC says of a failed call, in a few words (``UNAVAILABLE: ... Connection
    refused``), without its debug string."""
    text = str(exc)
    status = re.search(r"StatusCode\.(\w+)", text)
    details = re.search(r'details = "([^"]*)"', text)
    if status and details:  # "...: ipv4:127.0.0.1:1: Failed to ...: Connection refused"
        return f"{status.group(1)}: {details.group(1).rsplit(': ', 1)[-1].rstrip(']')}"
    return text.strip().splitlines()[0][:300] if text.strip() else type(exc).__name__


#: Whether :func:`log_server_owned` has spoken in this process (a job, then its fits).
_server_noted = False


def log_server_owned(spark: SparkSession, refused: Sequence[str] = (), log_level: str = "") -> None:
    """One log line, once per process, of what a Connect session could not have as a
    session of ours would: ``refused`` (settings the server would not take), the log level,
    and the server's IPC and daemon settings when they are not ours, with what that costs.
    The job calls it when it connects; a fit calls it too (a no-op after the job's)."""
    global _server_noted
    if _server_noted:
        return
    _server_noted = True
    parts = [f"not set (static or the server's): {', '.join(refused)}"] if refused else []
    if log_level:
        parts.append(f"log level {log_level} (Spark's logging is the server's)")
    for key, (wanted, cost) in SERVER_OWNED.items():
        current = setting(spark, key)
        if current != wanted:
            shown = "not readable from the client" if current is None else f"={current}"
            parts.append(f"{key} {shown} on the server, not {wanted}: {cost}")
    if parts:
        log.warning("Spark Connect: the server owns these settings; %s", "; ".join(parts))


def setting(spark: SparkSession, key: str, default: str | None = None) -> str | None:
    """A setting of the session (under Connect: the server's, which has its ``SparkConf``),
    ``default`` when unset, None when a Connect server does not show it."""
    try:
        value = spark.conf.get(key, default)
    except Exception:  # a setting a Connect server does not expose
        return None
    return None if value is None else str(value)


def set_log_level(spark: SparkSession, level: str) -> None:
    """Spark's log level for the run, in a session of ours; under Connect the server's
    logging is not the client's to set (:func:`log_server_owned` says so)."""
    if not is_connect(spark):
        spark.sparkContext.setLogLevel(level)


# -- without a SparkContext ---------------------------------------------------------------

#: Rows of ``spark.range`` that spread over every default partition (one per partition
#: would do: ``range`` splits evenly; more keeps a parallelism up to this many exact).
_PROBE_ROWS = 1 << 16


def session_parallelism(spark: SparkSession) -> int:
    """Spark's default parallelism, without a ``SparkContext``: ``spark.default.parallelism``
    when set, N for ``local[N]`` (``local``: 1), else the partitions of ``spark.range``
    without a count, which Spark splits into exactly its default parallelism (one job of
    tiny tasks, no Python)."""
    configured = setting(spark, "spark.default.parallelism")
    if configured:
        with contextlib.suppress(ValueError):
            return max(1, int(configured))
    spec = local_master_cores(setting(spark, "spark.master") or "")
    if spec is not None and spec != "*":
        return max(1, int(spec))
    return probe_parallelism(spark)


def probe_parallelism(spark: SparkSession) -> int:
    """The partitions of ``spark.range`` without a count: Spark's default parallelism
    (``spark.sql.leafNodeDefaultParallelism``, else the ``SparkContext``'s), asked with
    one job of tiny tasks that finds the partition of the last row."""
    last = F.lit(_PROBE_ROWS - 1)
    probe = spark.range(_PROBE_ROWS).where(F.col("id") == last).select(F.spark_partition_id())
    rows = probe.collect()  # not first(): a limit would scan the partitions one by one
    return int(rows[0][0]) + 1 if rows else 1


def default_parallelism(spark: SparkSession) -> int:
    """Spark's default parallelism: the ``SparkContext``'s in a classic session, else
    :func:`session_parallelism`."""
    if is_connect(spark):
        return session_parallelism(spark)
    return max(1, int(spark.sparkContext.defaultParallelism))


def partition_count(df: DataFrame) -> int | None:
    """``df``'s partition count in a classic session (free: its RDD's); None under Spark
    Connect, where only reading ``df`` could tell."""
    if is_connect(df.sparkSession):
        return None
    return int(df.rdd.getNumPartitions())
