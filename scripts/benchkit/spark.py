"""Spark plumbing of the benchmarks: the one local[2] session, the cached input, MLlib's own
timing log lines, Spark job durations, what the block manager holds, versions."""

from __future__ import annotations

import contextlib
import platform
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark import RDD, SparkContext
    from pyspark.sql import DataFrame, SparkSession

#: log4j2 configuration of the bench's JVM: warnings to stderr as usual, and the INFO lines
#: of MLlib's KMeans (which time its initialization and its iterations) to a file.
LOG4J2_TEMPLATE = """\
rootLogger.level = warn
rootLogger.appenderRef.console.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{{yy/MM/dd HH:mm:ss}} %p %c{{1}}: %m%n%ex
appender.timing.type = File
appender.timing.name = timing
appender.timing.fileName = {log_file}
appender.timing.layout.type = PatternLayout
appender.timing.layout.pattern = %c|%m%n
logger.kmeans.name = org.apache.spark.mllib.clustering.KMeans
logger.kmeans.level = info
logger.kmeans.additivity = false
logger.kmeans.appenderRef.timing.ref = timing
logger.instr.name = org.apache.spark.ml.util.Instrumentation
logger.instr.level = info
logger.instr.additivity = false
logger.instr.appenderRef.timing.ref = timing
"""

#: The file, in the session's log directory, that the JVM writes MLlib's timing lines to.
MLLIB_LOG_NAME = "mllib.log"

INIT_LINE = re.compile(r"Initialization with \S+ took ([0-9.]+) ?(ms|seconds)")
ITER_LINE = re.compile(r"Iterations took ([0-9.]+) ?(ms|seconds)")


class MllibLog:
    """MLlib's own timing lines ("Initialization with k-means|| took N ms", "Iterations
    took N ms"), written by the JVM to ``path`` and read back after each fit."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def mark(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def since(self, offset: int) -> dict[str, float]:
        """Init and iteration seconds logged after ``offset`` (missing keys: not logged)."""
        if not self.path.exists():
            return {}
        with open(self.path, "rb") as fh:
            fh.seek(offset)
            text = fh.read().decode("utf-8", "replace")
        out: dict[str, float] = {}
        for key, pattern in (("init_s", INIT_LINE), ("iterations_s", ITER_LINE)):
            found = pattern.findall(text)
            if found:
                value, unit = found[-1]
                out[key] = float(value) / (1000.0 if unit == "ms" else 1.0)
        return out


#: Name (call site) of MLlib's per-iteration job, row and block solvers and the RDD API alike.
ITERATION_JOB = "collectAsMap at KMeans.scala"


class SparkJobs:
    """Durations of the Spark jobs run since a mark, from the application's status store
    (kept with the UI off too): MLlib's per-iteration jobs are timed this way."""

    def __init__(self, sc: SparkContext) -> None:
        self._store: Any = None
        with contextlib.suppress(Exception):
            self._store = sc._jsc.sc().statusStore()

    def _jobs(self) -> list[tuple[int, str, float | None]]:
        if self._store is None:
            return []
        out = []
        try:
            jobs = self._store.jobsList(None).iterator()  # a Scala Seq
            while jobs.hasNext():
                job = jobs.next()
                start, end = job.submissionTime(), job.completionTime()
                seconds = (
                    (end.get().getTime() - start.get().getTime()) / 1000.0
                    if start.isDefined() and end.isDefined()
                    else None
                )
                out.append((int(job.jobId()), str(job.name()), seconds))
        except Exception:
            return []
        return out

    def mark(self) -> int:
        return max((job_id for job_id, _, _ in self._jobs()), default=-1)

    def durations_since(self, mark: int, name_prefix: str) -> list[float]:
        """Seconds of the finished jobs after ``mark`` whose name starts with the prefix,
        in job order."""
        return [
            seconds
            for job_id, name, seconds in sorted(self._jobs())
            if job_id > mark and name.startswith(name_prefix) and seconds is not None
        ]


def start_session(driver_memory: str, log_dir: Path | None) -> SparkSession:
    """The one local[2] session; with ``log_dir``, the JVM logs MLlib's timings there."""
    from kmeans_spark.session import local_session

    conf = {
        "spark.driver.memory": driver_memory,
        "spark.ui.enabled": "false",
        "spark.driver.host": "127.0.0.1",
        "spark.ui.showConsoleProgress": "false",
    }
    if log_dir is not None:
        config = log_dir / "log4j2.properties"
        config.write_text(LOG4J2_TEMPLATE.format(log_file=log_dir / MLLIB_LOG_NAME))
        conf["spark.driver.extraJavaOptions"] = f"-Dlog4j2.configurationFile=file:{config}"
    spark = local_session("kmeans-spark bench", master="local[2]", conf=conf)
    if log_dir is None:  # setLogLevel would also silence the timing loggers
        spark.sparkContext.setLogLevel("WARN")
    return spark


@contextlib.contextmanager
def bench_session(
    driver_memory: str, mllib_log: bool
) -> Iterator[tuple[SparkSession, MllibLog | None]]:
    """The session of a whole run and, with ``mllib_log``, MLlib's timing log in a
    temporary directory; the session is stopped and the directory removed at the end."""
    log_dir = Path(tempfile.mkdtemp(prefix="kmeans-bench-")) if mllib_log else None
    try:
        spark = start_session(driver_memory, log_dir)
        try:
            yield spark, MllibLog(log_dir / MLLIB_LOG_NAME) if log_dir is not None else None
        finally:
            spark.stop()
    finally:
        if log_dir is not None:
            shutil.rmtree(log_dir, ignore_errors=True)


def cached_input(spark: SparkSession, path: Path, partitions: int) -> DataFrame:
    """The Parquet file as one cached ``features`` vector column with ``partitions``."""
    from pyspark.ml.functions import array_to_vector
    from pyspark.sql import functions as F

    df = spark.read.parquet(str(path)).select(array_to_vector(F.col("features")).alias("features"))
    df = df.repartition(partitions).cache()
    df.count()
    return df


def cached_rdd(df: DataFrame) -> RDD[Any]:
    """An RDD of ``pyspark.mllib`` dense vectors from the cached DataFrame, cached too."""
    from pyspark.mllib.linalg import Vectors as MLlibVectors

    rdd = df.rdd.map(lambda row: MLlibVectors.fromML(row[0])).cache()
    rdd.count()
    return rdd


def _storage_label(name: str) -> str:
    if name.startswith("PythonRDD"):
        return "RDD of pyspark.mllib vectors (pickled, for the RDD API)"
    if name.startswith("kmeans_spark"):
        return f"left over by ours: {name}"
    if "Exchange" in name or "Plan" in name or "Scan" in name:
        return "input DataFrame (in-memory columnar cache)"
    return name.splitlines()[0][:60]


def storage_info(sc: SparkContext) -> list[dict[str, Any]]:
    """What Spark's block manager holds (the cached DataFrame and RDD), in bytes."""
    out = []
    with contextlib.suppress(Exception):  # a JVM-side detail; never fail the bench on it
        for info in sc._jsc.sc().getRDDStorageInfo():
            name = str(info.name())
            out.append(
                {
                    "what": _storage_label(name),
                    "name": name,
                    "partitions_cached": int(info.numCachedPartitions()),
                    "mem_bytes": int(info.memSize()),
                    "disk_bytes": int(info.diskSize()),
                }
            )
    return out


def jvm_pid(sc: SparkContext) -> int | None:
    try:
        return int(sc._jvm.java.lang.ProcessHandle.current().pid())  # type: ignore[union-attr]
    except Exception:
        return None


def versions(sc: SparkContext) -> dict[str, str]:
    """Python, the libraries, Java and the BLAS MLlib runs on, for the JSON."""
    import numpy
    import pyarrow
    import pyspark
    import scipy

    out = {
        "python": platform.python_version(),
        "pyspark": pyspark.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "pyarrow": pyarrow.__version__,
    }
    try:
        import sklearn

        out["sklearn"] = sklearn.__version__
    except ImportError:
        out["sklearn"] = "not installed"
    jvm: Any = sc._jvm
    with contextlib.suppress(Exception):
        out["java"] = str(jvm.java.lang.System.getProperty("java.version"))
    with contextlib.suppress(Exception):  # which BLAS MLlib runs on (native or Java)
        blas = jvm.dev.ludovic.netlib.blas.BLAS.getInstance()
        out["mllib_blas"] = str(blas.getClass().getName())
    return out
