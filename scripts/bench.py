"""Side-by-side benchmark: ``kmeans_spark.KMeans`` against Spark MLlib and scikit-learn.

Run (the lead runs the big presets; on a shared 2-core machine use small sizes):

    .venv/bin/python scripts/bench.py                        # preset small, 3 repeats
    .venv/bin/python scripts/bench.py --preset medium,wide --floor
    .venv/bin/python scripts/bench.py --preset small --n 20000 --repeats 1 --json /tmp/b.json

Presets: small (n=200k, d=2, k=3), medium (1M, 16, 10), wide (1M, 64, 100),
manyk (200k, 32, 1000); ``--n/--d/--k/--spread/--partitions/--max-iter/--repeats`` override
them. ``--variants`` picks rows (default all of: ours, ours_f32, mllib_auto, mllib_row,
ours_init, mllib_rdd_init, sklearn).

What it does
------------
1. Seeded Gaussian blobs (``kmeans_spark.datagen.make_blobs``) are written once, in chunks
   with pyarrow, as Parquet with one ``features`` column (list<double>) under
   ``--data-dir`` (default ``bench-results/data/``, git-ignored); an existing file for the
   same n, d, k, spread and data seed is reused.
2. One SparkSession (local[2], ``spark.driver.memory`` from ``--driver-memory``) reads it,
   turns the column into an ML vector (``array_to_vector``), repartitions to
   ``--partitions`` (default 2, one per core), caches and counts it. Ours and MLlib's
   ``pyspark.ml`` KMeans read that same cached DataFrame; ours is given
   ``numPartitions=--partitions`` so both see the same partitioning. The MLlib RDD API
   reads an RDD of ``pyspark.mllib`` dense vectors mapped from that DataFrame (cached too).
3. Every variant is fitted once untimed (warm-up: JIT, Python workers), then
   ``--repeats`` times, variants interleaved within each repeat, their order rotated by
   one each repeat (no variant always runs right after the same one); tables show MEDIANS.

Rows (variants)
---------------
* ours / ours float32: ``kmeans_spark.KMeans`` with its k-means|| (tol 1e-4, maxIter).
* MLlib auto / MLlib row: ``pyspark.ml.clustering.KMeans(solver=...)``, its k-means||.
* ours same-init / MLlib RDD same-init: the same initial centres (k distinct data points
  drawn with ``--seed``), tol = epsilon = 0 and, for ours, ``emptyClusterPolicy="keep"``
  (Spark's rule), so both run the same algorithm and only the Lloyd iterations are
  compared: iteration counts and SSE should agree (both stop early only when the centres
  stop moving exactly). MLlib RDD runs through the call
  ``pyspark.mllib.clustering.KMeans.train(initialModel=...)`` makes
  (``PythonMLLibAPI.trainKMeansModel``), so the JVM model's ``numIter`` can be read.
* scikit-learn: ``KMeans(n_init=1, max_iter=--max-iter)`` on the in-memory numpy array
  (uses both cores through OpenMP); the single-machine reference for quality and speed.

What MLlib does with this input (Spark 4 source, ``ml.clustering.KMeans``): "auto" runs a
Summarizer pass to check density and picks the "block" solver for dense vectors (GEMM on
blocks it builds and caches per fit, one shuffle per iteration); "row" does not persist its
own vectors when the input DataFrame is cached, so each iteration re-reads the cached
columns. ``pyspark.mllib`` persists JVM vectors per fit. MLlib's BLAS (native or Java) is
recorded as ``versions.mllib_blas`` in the JSON.

Columns
-------
* seed s: seeding time.
  ours: ``summary.phaseSeconds["init"]`` (k-means||; ~0 with given centres).
  MLlib (does not expose it): its own driver log line "Initialization with k-means|| took
  N ms" (``org.apache.spark.mllib.clustering.KMeans`` / ``ml.util.Instrumentation`` at INFO,
  routed by a generated log4j2 file to a temporary file; ms resolution); the row solver
  computes the norms inside it.
  scikit-learn: ``sklearn.cluster.kmeans_plusplus`` (what its fit runs first), timed
  separately, median of 3 calls.
* s/iter: seconds per Lloyd iteration, steady state.
  ours: median of ``summary.iterationSeconds`` (driver wall time of each one-job iteration:
  broadcast, job, merge, update).
  MLlib: its log line "Iterations took N ms" (the loop, driver work included, as ours),
  less the first iteration's one-off work (block solver: building its blocks; RDD API: the
  Python -> JVM conversion), divided by the iterations. That one-off work is the excess of
  the first iteration job over the median of the later ones (durations of the "collectAsMap
  at KMeans.scala" jobs from Spark's status store, kept with the UI off); with fewer than
  two iteration jobs, the plain mean.
  scikit-learn: ``(fit - seed s) / n_iter_`` ("-" if noise makes it negative).
  Fallback, or ``--mllib-split diff``: MLlib's seeding and s/iter from a second fit with
  ``maxIter=1``: s/iter = (t(maxIter=N) - t(maxIter=1)) / (iters - 1) on the medians, seed s
  = t(maxIter=1) - s/iter (so it contains MLlib's per-fit setup); "-" when noise exceeds
  the difference (few iterations). The JSON's ``split_method`` says which was used.
* iters: iterations run (``summary.numIter``; MLlib RDD: the JVM model's ``numIter``).
* other s: total - seed s - iters x s/iter, i.e. neither seeding nor a steady-state
  iteration: ours' load job (Arrow -> resident blocks) and cleanup job; MLlib's setup
  (auto: a density pass to pick the solver; block: building its blocks; RDD API: Python ->
  JVM conversion), model and summary.
* total s: wall time of ``fit()`` (scikit-learn: fit only).
* SSE: the k-means objective of the returned centres, recomputed the same way for every
  row with numpy on the full data (``kernels.partial_stats``), so it does not depend on
  how each library reports cost; reported costs are in the JSON.
* SSE/sk: SSE over scikit-learn's SSE.
* /ML seed, /ML s/iter, /ML total: ours over MLlib; ours and ours float32 against MLlib
  auto, ours same-init against MLlib RDD same-init. Printed below the table and in the
  JSON: ours against every MLlib row, also for non-iter = seed s + other s.

``--floor`` adds platform limits measured in the same run: single-thread GEMM GFLOP/s
(numpy, threadpoolctl-limited, float64 and float32, an (8192 x d) @ (d x k) tile); the
median time of an empty two-task Spark job; the in-process Lloyd step
(``kernels.partial_stats(block, None, centres)``, one thread) on one partition-sized block
(n / partitions rows: partitions run in parallel, one per core). Floor per iteration =
empty job + in-process step; printed with ours' s/iter over it.

Memory (labelled in the output): peak resident set (VmHWM, reset before each fit through
``/proc/PID/clear_refs`` where the kernel allows it) of the driver Python process, the JVM,
and the sum over the Python worker processes (shared pages counted in each); the size of
ours' resident blocks (rows x d x itemsize, computed) against the raw numpy array; and what
Spark's storage reports for the cached DataFrame and RDD.

``--json`` (default ``bench-results/bench-{preset}.json``) gets args, versions, machine, every
raw timing, the medians, ratios, floor and memory.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import re
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pyspark import RDD, SparkContext
    from pyspark.sql import DataFrame, SparkSession

REPO = Path(__file__).resolve().parent.parent

PRESETS: dict[str, dict[str, int]] = {
    "small": {"n": 200_000, "d": 2, "k": 3},
    "medium": {"n": 1_000_000, "d": 16, "k": 10},
    "wide": {"n": 1_000_000, "d": 64, "k": 100},
    "manyk": {"n": 200_000, "d": 32, "k": 1000},
}

#: Variant key -> label in the table, in table order.
VARIANTS: dict[str, str] = {
    "ours": "ours",
    "ours_f32": "ours float32",
    "mllib_auto": "MLlib auto",
    "mllib_row": "MLlib row",
    "ours_init": "ours same-init",
    "mllib_rdd_init": "MLlib RDD same-init",
    "sklearn": "scikit-learn",
}

#: The MLlib row each of ours is compared with in the table.
TABLE_REFERENCE: dict[str, str] = {
    "ours": "mllib_auto",
    "ours_f32": "mllib_auto",
    "ours_init": "mllib_rdd_init",
}

WRITE_CHUNK_ROWS = 65_536

TABLE_NOTES = """\
seed s   ours: phaseSeconds["init"] (k-means||); MLlib: its log line "Initialization with
         k-means|| took N ms"; scikit-learn: a kmeans_plusplus call (median of 3).
s/iter   ours: median of summary.iterationSeconds (driver wall time of each iteration);
         MLlib: its log line "Iterations took N ms" less iteration 1's one-off work (from
         its job), / iters; scikit-learn: (fit - seed s) / iters. "-": not measurable.
other s  total - seed s - iters x s/iter: ours' load job and block cleanup; MLlib's setup
         (auto: a density pass; block: blockify in iteration 1; RDD API: Python -> JVM).
SSE      the objective of each row's centres, recomputed with numpy on the same data.
/ML      ours over MLlib auto (ours, ours float32) or MLlib RDD same-init (ours same-init).
         non-iter = seed s + other s. All pairs below and in the JSON."""


# -- configuration --------------------------------------------------------------------------


@dataclass
class Config:
    preset: str
    n: int
    d: int
    k: int
    spread: float
    data_seed: int
    seed: int
    partitions: int
    max_iter: int
    repeats: int
    variants: list[str]
    floor: bool
    json_path: Path
    data_dir: Path


def _csv(values: Sequence[str]) -> list[str]:
    return [v.strip() for text in values for v in text.split(",") if v.strip()]


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, list[Config]]:
    p = argparse.ArgumentParser(
        description="Benchmark kmeans_spark.KMeans against Spark MLlib and scikit-learn.",
        epilog="See the module docstring (scripts/bench.py) for what every number means.",
    )
    p.add_argument("--preset", action="append", default=[], help="name or comma list")
    p.add_argument("--n", type=int, help="rows (overrides the preset)")
    p.add_argument("--d", type=int, help="dimensions")
    p.add_argument("--k", type=int, help="true and fitted k")
    p.add_argument("--spread", type=float, default=1.0, help="blob std (centres in [-10,10]^d)")
    p.add_argument("--data-seed", type=int, default=0, help="seed of the generated data")
    p.add_argument("--seed", type=int, default=1, help="seed of every fit and of the init")
    p.add_argument("--partitions", type=int, default=2, help="partitions of the cached input")
    p.add_argument("--max-iter", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3, help="timed repetitions (medians shown)")
    p.add_argument(
        "--variants", action="append", default=[], help=f"subset of {','.join(VARIANTS)}"
    )
    p.add_argument("--floor", action="store_true", help="also measure the platform floor")
    p.add_argument("--driver-memory", default="12g", help="spark.driver.memory")
    p.add_argument(
        "--mllib-split",
        choices=("log", "diff"),
        default="log",
        help="how MLlib's seeding and iteration times are had: its own log lines (default) "
        "or t(maxIter=N) - t(maxIter=1)",
    )
    p.add_argument("--data-dir", default=str(REPO / "bench-results" / "data"))
    p.add_argument(
        "--json",
        default=str(REPO / "bench-results" / "bench-{preset}.json"),
        help="output path; {preset} is replaced by the preset name",
    )
    args = p.parse_args(argv)
    presets = _csv(args.preset) or ["small"]
    unknown = [name for name in presets if name not in PRESETS]
    if unknown:
        p.error(f"unknown preset(s) {unknown}; choose from {', '.join(PRESETS)}")
    variants = _csv(args.variants) or list(VARIANTS)
    bad = [v for v in variants if v not in VARIANTS]
    if bad:
        p.error(f"unknown variant(s) {bad}; choose from {', '.join(VARIANTS)}")
    if len(presets) > 1 and "{preset}" not in args.json:
        p.error("with several presets, --json must contain {preset}")
    if args.repeats < 1 or args.max_iter < 2 or args.partitions < 1:
        p.error("--repeats and --partitions must be >= 1, --max-iter >= 2")
    configs = []
    for name in presets:
        size = {key: getattr(args, key) or value for key, value in PRESETS[name].items()}
        configs.append(
            Config(
                preset=name,
                n=size["n"],
                d=size["d"],
                k=size["k"],
                spread=args.spread,
                data_seed=args.data_seed,
                seed=args.seed,
                partitions=args.partitions,
                max_iter=args.max_iter,
                repeats=args.repeats,
                variants=[v for v in VARIANTS if v in variants],
                floor=args.floor,
                json_path=Path(args.json.replace("{preset}", name)),
                data_dir=Path(args.data_dir),
            )
        )
    return args, configs


# -- data -----------------------------------------------------------------------------------


def data_path(cfg: Config) -> Path:
    name = f"blobs-n{cfg.n}-d{cfg.d}-k{cfg.k}-spread{cfg.spread:g}-seed{cfg.data_seed}.parquet"
    return cfg.data_dir / name


def write_parquet(
    x: np.ndarray, path: Path, meta: dict[str, Any], chunk_rows: int = WRITE_CHUNK_ROWS
) -> None:
    """Write ``x`` as one ``features: list<double>`` column, ``chunk_rows`` rows at a time
    (each chunk is one row group), through a temporary file renamed at the end; ``meta``
    goes into the file's key-value metadata (key ``kmeans_bench``, JSON)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n, d = x.shape
    schema = pa.schema(
        [("features", pa.list_(pa.float64()))], metadata={"kmeans_bench": json.dumps(meta)}
    )
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(tmp, schema) as writer:
        for start in range(0, n, chunk_rows):
            block = np.ascontiguousarray(x[start : start + chunk_rows], dtype=np.float64)
            rows = block.shape[0]
            offsets = pa.array(np.arange(0, rows * d + 1, d, dtype=np.int32))
            values = pa.array(block.reshape(-1))
            column = pa.ListArray.from_arrays(offsets, values)
            writer.write_table(pa.Table.from_arrays([column], schema=schema))
    os.replace(tmp, path)


def read_parquet(path: Path, n: int, d: int) -> tuple[np.ndarray, dict[str, Any]]:
    """The ``features`` column back as one (n, d) float64 array, batch by batch, and the
    metadata written with it."""
    import pyarrow.parquet as pq

    f = pq.ParquetFile(path)
    if f.metadata.num_rows != n:
        raise RuntimeError(f"{path} has {f.metadata.num_rows} rows, not {n}; delete it")
    raw_meta = (f.schema_arrow.metadata or {}).get(b"kmeans_bench", b"{}")
    x = np.empty((n, d), dtype=np.float64)
    row = 0
    for batch in f.iter_batches(columns=["features"]):
        values = batch.column(0).flatten().to_numpy(zero_copy_only=False)
        rows = len(batch)
        x[row : row + rows] = values.reshape(rows, d)
        row += rows
    return x, json.loads(raw_meta)


def load_data(cfg: Config) -> tuple[np.ndarray, Path, dict[str, Any]]:
    """The blobs as numpy and the Parquet path; generated and written only when missing."""
    from kmeans_spark.datagen import make_blobs

    path = data_path(cfg)
    t0 = time.perf_counter()
    if path.exists():
        x, meta = read_parquet(path, cfg.n, cfg.d)
        info = {"path": str(path), "reused": True, "read_s": time.perf_counter() - t0, **meta}
        return x, path, info
    blobs = make_blobs(cfg.n, cfg.d, cfg.k, spread=cfg.spread, seed=cfg.data_seed)
    gen_s = time.perf_counter() - t0
    meta = {
        "n": cfg.n,
        "d": cfg.d,
        "k": cfg.k,
        "spread": cfg.spread,
        "data_seed": cfg.data_seed,
        "oracle_sse": blobs.oracle_cost(),  # SSE of the generating clusters
    }
    t0 = time.perf_counter()
    write_parquet(blobs.x, path, meta)
    info = {
        "path": str(path),
        "reused": False,
        "generate_s": gen_s,
        "write_s": time.perf_counter() - t0,
        **meta,
    }
    return blobs.x, path, info


def initial_centers(x: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k distinct data points: the shared start of the same-init rows."""
    rng = np.random.default_rng(seed)
    return np.array(x[np.sort(rng.choice(x.shape[0], size=k, replace=False))], dtype=np.float64)


def sse(x: np.ndarray, centers: np.ndarray) -> float:
    """The k-means objective of ``centers`` on ``x`` (nearest centre, squared distances)."""
    from kmeans_spark import kernels

    return kernels.partial_stats(x, None, np.asarray(centers, dtype=np.float64)).cost


# -- Spark ----------------------------------------------------------------------------------


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
        config.write_text(LOG4J2_TEMPLATE.format(log_file=log_dir / "mllib.log"))
        conf["spark.driver.extraJavaOptions"] = f"-Dlog4j2.configurationFile=file:{config}"
    spark = local_session("kmeans-spark bench", master="local[2]", conf=conf)
    if log_dir is None:  # setLogLevel would also silence the timing loggers
        spark.sparkContext.setLogLevel("WARN")
    return spark


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


# -- memory ---------------------------------------------------------------------------------


def _status_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _descendants(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                parents[int(entry)] = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found: list[int] = []
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found.extend(children)
        frontier.extend(children)
    return found


class MemoryProbe:
    """Peak resident sets (VmHWM) of the driver, the JVM and the Python workers."""

    def __init__(self, jvm: int | None) -> None:
        self.jvm = jvm
        self.resettable = False

    def _groups(self) -> dict[str, list[int]]:
        groups = {"driver_py": [os.getpid()]}
        if self.jvm is not None:
            groups["jvm"] = [self.jvm]
            groups["workers_py"] = _descendants(self.jvm)
        return groups

    def reset(self) -> None:
        """Reset every peak to the current RSS (Linux ``clear_refs`` 5), where allowed."""
        ok = True
        for pids in self._groups().values():
            for pid in pids:
                try:
                    with open(f"/proc/{pid}/clear_refs", "w") as fh:
                        fh.write("5")
                except OSError:
                    ok = False
        self.resettable = ok

    def peak_mb(self) -> dict[str, float]:
        groups = self._groups()
        out = {
            name: sum(_status_kb(pid, "VmHWM") for pid in pids) / 1024.0
            for name, pids in groups.items()
        }
        out["workers_n"] = float(len(groups.get("workers_py", [])))
        return out


def merge_peaks(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    return {key: max(a.get(key, 0.0), b.get(key, 0.0)) for key in {*a, *b}}


# -- the variants ---------------------------------------------------------------------------


@dataclass
class Run:
    """One timed fit of one variant (all seconds are wall time on the driver)."""

    total_s: float
    seed_s: float
    s_per_iter: float
    iters: int
    lloyd_s: float
    reported_cost: float
    centers: np.ndarray = field(repr=False)
    extra: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        out = asdict(self)
        del out["centers"]
        out["other_s"] = self.total_s - self.seed_s - self.iters * self.s_per_iter
        return out


@dataclass
class Bench:
    """What every variant needs: the config, the data in both forms, the shared init."""

    cfg: Config
    x: np.ndarray
    df: DataFrame
    rdd: RDD[Any] | None
    init: np.ndarray
    log: MllibLog | None
    jobs: SparkJobs


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def run_ours(b: Bench, dtype: str, same_init: bool) -> Run:
    from kmeans_spark import KMeans

    cfg = b.cfg
    params: dict[str, Any] = {
        "k": cfg.k,
        "seed": cfg.seed,
        "maxIter": cfg.max_iter,
        "featuresCol": "features",
        "numPartitions": cfg.partitions,
        "dtype": dtype,
    }
    if same_init:
        # Spark's empty-cluster rule too, so both sides run the same algorithm
        params.update(initialCenters=b.init.tolist(), tol=0.0, emptyClusterPolicy="keep")
    wall, model = _timed(lambda: KMeans(**params).fit(b.df))
    s = model.summary
    iters = s.iterationSeconds
    phases = dict(s.phaseSeconds)
    inside = phases["total"] - phases["load"] - phases["init"] - phases["lloyd"]
    return Run(
        total_s=wall,
        seed_s=s.phaseSeconds["init"],
        s_per_iter=statistics.median(iters),
        iters=s.numIter,
        lloyd_s=s.phaseSeconds["lloyd"],
        reported_cost=s.trainingCost,
        centers=np.array(model.clusterCenters()),
        extra={
            "phaseSeconds": phases,
            "iterationSeconds": list(iters),
            "reseededClusters": s.reseededClusters,
            "convergenceReason": s.convergenceReason,
            # total - load - init - lloyd: checks, cleanup job of the block files
            "unphased_in_total_s": inside,
            # wall - phaseSeconds["total"]: before the fit's clock starts, and the summary
            "outside_total_s": wall - phases["total"],
        },
    )


def _mllib_fit(b: Bench, solver: str, max_iter: int) -> tuple[float, Any]:
    from pyspark.ml.clustering import KMeans as MLKMeans

    est = MLKMeans(
        k=b.cfg.k, seed=b.cfg.seed, maxIter=max_iter, solver=solver, featuresCol="features"
    )
    return _timed(lambda: est.fit(b.df))


def split_fixed_cost(
    t_full: float, iters: float, t_one: float, fallback: float
) -> tuple[float, float, str]:
    """(seed s, s/iter, method) of an MLlib variant from its full fit (``iters``
    iterations, ``t_full`` s) and its ``maxIter=1`` fit (``t_one`` s).

    The per-fit fixed cost cancels in the difference. ``fallback`` is the s/iter used when
    the full fit ran a single iteration; a non-positive difference (timing noise larger
    than the iterations) gives NaN, shown as "-", rather than a made-up number.
    """
    if iters < 2:
        per_iter, method = fallback, "fallback (full fit ran 1 iteration)"
    elif t_full > t_one:
        per_iter, method = (t_full - t_one) / (iters - 1), "(t_full - t_maxIter1) / (iters - 1)"
    else:
        return math.nan, math.nan, "t_full <= t_maxIter1: noise, not measured"
    return t_one - per_iter, per_iter, method


def first_iteration_corrected(
    loop_s: float, iters: int, iteration_jobs: list[float]
) -> tuple[float, str]:
    """Steady-state s/iter of MLlib from its logged iteration loop time: the first
    iteration's one-off work (its job's excess over the median of the later iteration
    jobs) is taken out, the per-iteration driver work stays in (as in ours' timings)."""
    if len(iteration_jobs) >= 2 and len(iteration_jobs) == iters:
        excess = max(iteration_jobs[0] - statistics.median(iteration_jobs[1:]), 0.0)
        return (loop_s - excess) / iters, "MLlib log, first-iteration excess from its job"
    return loop_s / max(iters, 1), "MLlib log, mean over iterations"


def mllib_run(
    b: Bench, fit: Callable[[int], tuple[float, Any]], read: Callable[[Any], tuple[int, float]]
) -> tuple[Run, Any]:
    """Time ``fit(maxIter)`` and split it into seeding and iterations.

    Seeding and the iteration loop: MLlib's own log lines ("Initialization with k-means||
    took N ms", "Iterations took N ms"), the loop corrected for its first iteration's
    one-off work with the durations of the iteration jobs (Spark's status store). Without
    the log lines (``--mllib-split diff``, or not found), a second fit with ``maxIter=1``
    gives the split by difference (this per-repeat value, without fallback, goes to the
    raw JSON only).
    """
    offset = b.log.mark() if b.log else 0
    mark = b.jobs.mark()
    t_full, result = fit(b.cfg.max_iter)
    iters, cost = read(result)
    logged = b.log.since(offset) if b.log else {}
    iteration_jobs = b.jobs.durations_since(mark, ITERATION_JOB)
    extra: dict[str, Any] = {"mllib_log": logged, "iteration_jobs_s": iteration_jobs}
    if "init_s" in logged and "iterations_s" in logged:
        seed_s, lloyd_s = logged["init_s"], logged["iterations_s"]
        per_iter, method = first_iteration_corrected(lloyd_s, iters, iteration_jobs)
    else:
        t_one, _ = fit(1)
        seed_s, per_iter, method = split_fixed_cost(t_full, iters, t_one, math.nan)
        lloyd_s = per_iter * iters
        extra["t_maxIter1_s"] = t_one
    extra["split_method"] = method
    run = Run(
        total_s=t_full,
        seed_s=seed_s,
        s_per_iter=per_iter,
        iters=iters,
        lloyd_s=lloyd_s,
        reported_cost=cost,
        centers=np.empty(0),
        extra=extra,
    )
    return run, result


def run_mllib(b: Bench, solver: str) -> Run:
    run, model = mllib_run(
        b,
        lambda max_iter: _mllib_fit(b, solver, max_iter),
        lambda m: (int(m.summary.numIter), float(m.summary.trainingCost)),
    )
    run.centers = np.array(model.clusterCenters())
    return run


def _mllib_rdd_fit(b: Bench, max_iter: int) -> tuple[float, Any]:
    """``pyspark.mllib.clustering.KMeans.train(rdd, k, maxIter, initialModel=..., epsilon=0)``
    made through the same JVM call, keeping the Java model to read ``numIter``."""
    from pyspark.mllib.common import callJavaFunc, callMLlibFunc
    from pyspark.mllib.linalg import _convert_to_vector

    assert b.rdd is not None
    rdd = b.rdd

    def fit() -> tuple[Any, list[Any]]:
        java_model = callMLlibFunc(
            "trainKMeansModel",
            rdd.map(_convert_to_vector),
            b.cfg.k,
            max_iter,
            "k-means||",
            b.cfg.seed,
            2,
            0.0,
            [_convert_to_vector(c) for c in b.init],
            "euclidean",
        )
        return java_model, callJavaFunc(rdd.context, java_model.clusterCenters)

    return _timed(fit)


def run_mllib_rdd(b: Bench) -> Run:
    run, (_, centers) = mllib_run(
        b,
        lambda max_iter: _mllib_rdd_fit(b, max_iter),
        lambda r: (int(r[0].numIter()), float(r[0].trainingCost())),
    )
    run.centers = np.array([c.toArray() for c in centers])
    return run


def run_sklearn(b: Bench) -> Run:
    from sklearn.cluster import KMeans as SkKMeans
    from sklearn.cluster import kmeans_plusplus

    cfg = b.cfg
    seed_s = statistics.median(
        _timed(lambda: kmeans_plusplus(b.x, cfg.k, random_state=cfg.seed))[0] for _ in range(3)
    )
    est = SkKMeans(n_clusters=cfg.k, n_init=1, max_iter=cfg.max_iter, random_state=cfg.seed)
    wall, model = _timed(lambda: est.fit(b.x))
    iters = int(model.n_iter_)
    lloyd_s = wall - seed_s if wall > seed_s else math.nan  # NaN: noise, not measured
    return Run(
        total_s=wall,
        seed_s=seed_s,
        s_per_iter=lloyd_s / max(iters, 1),
        iters=iters,
        lloyd_s=lloyd_s,
        reported_cost=float(model.inertia_),
        centers=np.asarray(model.cluster_centers_, dtype=np.float64),
    )


RUNNERS: dict[str, Callable[[Bench], Run]] = {
    "ours": lambda b: run_ours(b, "float64", same_init=False),
    "ours_f32": lambda b: run_ours(b, "float32", same_init=False),
    "mllib_auto": lambda b: run_mllib(b, "auto"),
    "mllib_row": lambda b: run_mllib(b, "row"),
    "ours_init": lambda b: run_ours(b, "float64", same_init=True),
    "mllib_rdd_init": run_mllib_rdd,
    "sklearn": run_sklearn,
}


# -- the floor ------------------------------------------------------------------------------


@contextlib.contextmanager
def one_thread() -> Iterator[bool]:
    """BLAS/OpenMP limited to one thread (as in a Spark Python worker) if threadpoolctl is
    installed; yields whether the limit applies."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield False
        return
    with threadpool_limits(limits=1):
        yield True


def _median_time(fn: Callable[[], Any], warmup: int, repeats: int) -> float:
    for _ in range(warmup):
        fn()
    return statistics.median(_timed(fn)[0] for _ in range(repeats))


def gemm_gflops(d: int, k: int, dtype: type, rows: int = 8192) -> float:
    rng = np.random.default_rng(0)
    a: np.ndarray = rng.standard_normal((rows, d)).astype(dtype)
    c: np.ndarray = rng.standard_normal((d, k)).astype(dtype)
    once = _timed(lambda: a @ c)[0]
    repeats = int(min(max(0.3 / max(once, 1e-6), 5), 2000))
    per_call = _median_time(lambda: a @ c, warmup=2, repeats=repeats)
    return 2.0 * rows * d * k / per_call / 1e9


def empty_job_s(sc: SparkContext) -> float:
    def job() -> list[int]:
        return sc.parallelize(range(2), 2).mapPartitions(lambda it: [sum(it)]).collect()

    return _median_time(job, warmup=3, repeats=10)


def step_s(x: np.ndarray, centers: np.ndarray, partitions: int, dtype: type) -> float:
    from kmeans_spark import kernels

    block: np.ndarray = np.ascontiguousarray(x[: max(1, x.shape[0] // partitions)], dtype=dtype)
    return _median_time(lambda: kernels.partial_stats(block, None, centers), warmup=1, repeats=5)


def measure_floor(b: Bench, sc: SparkContext) -> dict[str, Any]:
    cfg = b.cfg
    with one_thread() as limited:
        out: dict[str, Any] = {
            "single_thread": limited,
            "gemm_tile": [8192, cfg.d, cfg.k],
            "gemm_gflops_f64": gemm_gflops(cfg.d, cfg.k, np.float64),
            "gemm_gflops_f32": gemm_gflops(cfg.d, cfg.k, np.float32),
            "block_rows": max(1, cfg.n // cfg.partitions),
            "step_s_f64": step_s(b.x, b.init, cfg.partitions, np.float64),
            "step_s_f32": step_s(b.x, b.init, cfg.partitions, np.float32),
        }
    out["empty_job_s"] = empty_job_s(sc)
    out["floor_s_per_iter_f64"] = out["empty_job_s"] + out["step_s_f64"]
    out["floor_s_per_iter_f32"] = out["empty_job_s"] + out["step_s_f32"]
    return out


# -- summary and output ---------------------------------------------------------------------


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    values = [r[key] for r in runs if not math.isnan(r[key])]
    return float(statistics.median(values)) if values else math.nan


def summarize(
    key: str, runs: list[dict[str, Any]], sse_value: float, fallback: float
) -> dict[str, Any]:
    """Medians over the repeats; other s = total - seed s - iters x s/iter on the medians.
    MLlib rows timed by difference (no log lines) are split from the medians of their two
    timings (more robust than the median of per-repeat differences); ``fallback`` is then
    their s/iter when the full fit ran one iteration."""
    names = ("seed_s", "s_per_iter", "iters", "total_s", "reported_cost")
    out: dict[str, Any] = {name: median_of(runs, name) for name in names}
    methods = sorted({r["extra"].get("split_method", "measured") for r in runs})
    out["split_method"] = ", ".join(methods)
    if key.startswith("mllib") and all("t_maxIter1_s" in r["extra"] for r in runs):
        t_one = median_of(
            [r["extra"] for r in runs if "t_maxIter1_s" in r["extra"]], "t_maxIter1_s"
        )
        out["t_maxIter1_s"] = t_one
        out["seed_s"], out["s_per_iter"], out["split_method"] = split_fixed_cost(
            out["total_s"], out["iters"], t_one, fallback
        )
    out["other_s"] = out["total_s"] - out["seed_s"] - out["s_per_iter"] * out["iters"]
    out["non_iter_s"] = out["seed_s"] + out["other_s"]
    out["sse"] = sse_value
    return out


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not b or math.isnan(a) or math.isnan(b):
        return None
    return a / b


def ratios(ours: dict[str, Any], ref: dict[str, Any]) -> dict[str, float | None]:
    return {
        "seed": ratio(ours["seed_s"], ref["seed_s"]) if ours["seed_s"] > 0 else None,
        "non_iter": ratio(ours["non_iter_s"], ref["non_iter_s"]),
        "s_per_iter": ratio(ours["s_per_iter"], ref["s_per_iter"]),
        "total": ratio(ours["total_s"], ref["total_s"]),
    }


def _f(value: float | None, spec: str) -> str:
    """``format(value, spec)``, or a right-aligned "-" of the same width when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        width = spec.split(".")[0]
        return "-".rjust(int(width) if width.isdigit() else 1)
    return format(value, spec)


def print_table(
    cfg: Config,
    medians: dict[str, dict[str, Any]],
    table_ratios: dict[str, dict[str, float | None]],
) -> None:
    head = (
        f"{'variant':<20} {'seed s':>8} {'s/iter':>8} {'iters':>5} {'other s':>8} "
        f"{'total s':>8} {'SSE':>12} {'SSE/sk':>7} "
        f"{'/ML seed':>8} {'/ML s/iter':>10} {'/ML total':>9}"
    )
    print(
        f"\n== preset {cfg.preset}: n={cfg.n} d={cfg.d} k={cfg.k} spread={cfg.spread:g} "
        f"partitions={cfg.partitions} maxIter={cfg.max_iter} repeats={cfg.repeats} (medians)"
    )
    print(head)
    print("-" * len(head))
    sk = medians.get("sklearn")
    for key, m in medians.items():
        r = table_ratios.get(key, {})
        print(
            f"{VARIANTS[key]:<20} {_f(m['seed_s'], '8.3f')} {_f(m['s_per_iter'], '8.4f')} "
            f"{m['iters']:>5.0f} {_f(m['other_s'], '8.3f')} {_f(m['total_s'], '8.3f')} "
            f"{_f(m['sse'], '12.6g')} {_f(ratio(m['sse'], sk['sse']) if sk else None, '7.4f')} "
            f"{_f(r.get('seed'), '8.2f')} {_f(r.get('s_per_iter'), '10.2f')} "
            f"{_f(r.get('total'), '9.2f')}"
        )
    print(TABLE_NOTES)


def print_ratios(all_ratios: dict[str, dict[str, float | None]]) -> None:
    if not all_ratios:
        return
    print(
        f"{'ratios ours / MLlib (all pairs)':<40} {'seed':>8} {'non-iter':>8} {'s/iter':>8} "
        f"{'total':>8}"
    )
    for pair, r in all_ratios.items():
        ours, ref = pair.split("/")
        print(
            f"  {VARIANTS[ours] + ' / ' + VARIANTS[ref]:<38} {_f(r['seed'], '8.2f')} "
            f"{_f(r['non_iter'], '8.2f')} {_f(r['s_per_iter'], '8.2f')} {_f(r['total'], '8.2f')}"
        )


def print_memory(cfg: Config, memory: dict[str, Any]) -> None:
    peaks = memory["peaks_mb"]
    what = "reset before each fit" if memory["peaks_reset"] else "cumulative: reset not allowed"
    print(
        f"memory: peak resident set (VmHWM) in MB during the timed fits ({what}); jvm keeps "
        "its heap, so it is a high-water mark of the run so far;\n  workers_py = sum over "
        "the Python worker processes (shared pages counted in each), workers_n = their number"
    )
    for key, p in peaks.items():
        cols = "  ".join(
            f"{name}={value:3.0f}" if name == "workers_n" else f"{name}={value:8.1f}"
            for name, value in sorted(p.items())
        )
        print(f"  {VARIANTS[key]:<20} {cols}")
    mb = 1024.0 * 1024.0
    print(
        f"  raw numpy {memory['raw_numpy_bytes'] / mb:.1f} MB; ours' resident blocks "
        f"(rows x d x itemsize) float64 {memory['blocks_f64_bytes'] / mb:.1f} MB, "
        f"float32 {memory['blocks_f32_bytes'] / mb:.1f} MB; driver ru_maxrss "
        f"{memory['driver_ru_maxrss_mb']:.1f} MB"
    )
    for info in memory["spark_storage"]:
        print(
            f"  Spark storage: {info['what']:<56} memory {info['mem_bytes'] / mb:.1f} MB "
            f"disk {info['disk_bytes'] / mb:.1f} MB"
        )


def print_floor(floor: dict[str, Any], medians: dict[str, dict[str, Any]]) -> None:
    threads = "1 thread" if floor["single_thread"] else "numpy default threads"
    rows, d, k = floor["gemm_tile"]
    print(
        f"floor: GEMM ({rows} x {d}) @ ({d} x {k}), {threads}: "
        f"{floor['gemm_gflops_f64']:.2f} GFLOP/s float64, "
        f"{floor['gemm_gflops_f32']:.2f} GFLOP/s float32"
    )
    print(f"floor: empty Spark job (2 tasks, median of 10): {floor['empty_job_s'] * 1e3:.1f} ms")
    print(
        f"floor: in-process Lloyd step on {floor['block_rows']} rows (partial_stats, {threads}): "
        f"{floor['step_s_f64'] * 1e3:.1f} ms float64, {floor['step_s_f32'] * 1e3:.1f} ms float32"
    )
    print(
        f"floor: per iteration = empty job + step: {floor['floor_s_per_iter_f64'] * 1e3:.1f} ms "
        f"float64, {floor['floor_s_per_iter_f32'] * 1e3:.1f} ms float32"
    )
    for key, floor_key in (
        ("ours", "floor_s_per_iter_f64"),
        ("ours_f32", "floor_s_per_iter_f32"),
        ("ours_init", "floor_s_per_iter_f64"),
    ):
        if key in medians:
            value = ratio(medians[key]["s_per_iter"], floor[floor_key])
            print(f"floor: {VARIANTS[key]} s/iter / floor = {_f(value, '.2f')}")


def versions(sc: SparkContext) -> dict[str, str]:
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


def machine() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "mem_total_kb": _status_kb_meminfo(),
        "loadavg_start": list(os.getloadavg()),
    }


def _status_kb_meminfo() -> int:
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo") as fh:
        return int(fh.readline().split()[1])
    return 0


# -- one preset -----------------------------------------------------------------------------


def run_preset(
    cfg: Config, spark: SparkSession, args: argparse.Namespace, log_dir: Path | None
) -> dict[str, Any]:
    sc = spark.sparkContext
    if "sklearn" in cfg.variants and not _importable("sklearn"):
        print("scikit-learn is not installed: no scikit-learn row", file=sys.stderr)
        cfg.variants.remove("sklearn")
    print(f"[{cfg.preset}] data: n={cfg.n} d={cfg.d} k={cfg.k}", file=sys.stderr, flush=True)
    x, path, data_info = load_data(cfg)
    df = cached_input(spark, path, cfg.partitions)
    rdd = cached_rdd(df) if "mllib_rdd_init" in cfg.variants else None
    log = MllibLog(log_dir / "mllib.log") if log_dir is not None else None
    b = Bench(
        cfg=cfg,
        x=x,
        df=df,
        rdd=rdd,
        init=initial_centers(x, cfg.k, cfg.seed),
        log=log,
        jobs=SparkJobs(sc),
    )
    probe = MemoryProbe(jvm_pid(sc))
    order = sorted(cfg.variants, key=lambda v: v != "mllib_rdd_init")
    warmup: dict[str, dict[str, Any]] = {}
    for key in order:
        print(f"[{cfg.preset}] warm-up {key}", file=sys.stderr, flush=True)
        warmup[key] = RUNNERS[key](b).record()
    raw: dict[str, list[dict[str, Any]]] = {key: [] for key in cfg.variants}
    peaks: dict[str, dict[str, float]] = {key: {} for key in cfg.variants}
    last: dict[str, Run] = {}
    for rep in range(cfg.repeats):
        # rotate the order each repeat: a fit runs measurably slower right after some others
        # (ours ~0.1 s after an MLlib RDD fit), so no variant always follows the same one
        shift = rep % len(order) if order else 0
        for key in order[shift:] + order[:shift]:
            print(f"[{cfg.preset}] repeat {rep + 1}/{cfg.repeats} {key}", file=sys.stderr)
            probe.reset()
            run = RUNNERS[key](b)
            peaks[key] = merge_peaks(peaks[key], probe.peak_mb())
            raw[key].append(run.record())
            last[key] = run
    medians: dict[str, dict[str, Any]] = {}
    for key in order:  # the MLlib RDD row first: its s/iter is the ml rows' fallback
        rdd_row = medians.get("mllib_rdd_init")
        fallback = (
            rdd_row["s_per_iter"]
            if key != "mllib_rdd_init" and rdd_row
            else median_of(raw[key], "total_s") / max(median_of(raw[key], "iters"), 1.0)
        )
        medians[key] = summarize(key, raw[key], sse(x, last[key].centers), fallback)
    medians = {key: medians[key] for key in cfg.variants}  # table order
    table_ratios = {
        key: ratios(medians[key], medians[ref])
        for key, ref in TABLE_REFERENCE.items()
        if key in medians and ref in medians
    }
    all_ratios = {
        f"{ours}/{ref}": ratios(medians[ours], medians[ref])
        for ours in ("ours", "ours_f32", "ours_init")
        for ref in ("mllib_auto", "mllib_row", "mllib_rdd_init")
        if ours in medians and ref in medians
    }
    floor = measure_floor(b, sc) if cfg.floor else None
    memory = {
        "peaks_mb": peaks,
        "peaks_reset": probe.resettable,
        "raw_numpy_bytes": int(x.nbytes),
        "blocks_f64_bytes": cfg.n * cfg.d * 8,
        "blocks_f32_bytes": cfg.n * cfg.d * 4,
        "driver_ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "spark_storage": storage_info(sc),
    }
    oracle = data_info.get("oracle_sse")
    for m in medians.values():
        m["sse_over_oracle"] = ratio(m["sse"], oracle)
    print_table(cfg, medians, table_ratios)
    if oracle:
        shown = ", ".join(
            f"{VARIANTS[key]} {_f(m['sse_over_oracle'], '.4f')}" for key, m in medians.items()
        )
        print(f"SSE / oracle (SSE of the generating clusters, {oracle:.6g}): {shown}")
    print_ratios(all_ratios)
    if floor is not None:
        print_floor(floor, medians)
    print_memory(cfg, memory)
    if rdd is not None:
        rdd.unpersist()
    df.unpersist()
    return {
        "args": vars(args),
        "config": {**asdict(cfg), "json_path": str(cfg.json_path), "data_dir": str(cfg.data_dir)},
        "versions": versions(sc),
        "machine": machine(),
        "data": data_info,
        "initial_centers_for_same_init": "k distinct data points drawn with --seed",
        "warmup": warmup,
        "raw": raw,
        "medians": medians,
        "ratios_table": table_ratios,
        "ratios_all": all_ratios,
        "floor": floor,
        "memory": memory,
    }


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def jsonable(value: Any) -> Any:
    """Plain JSON: NaN and infinities become null, numpy scalars Python numbers."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def write_json(result: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        json.dump(jsonable(result), fh, indent=1, allow_nan=False)
    print(f"wrote {path}")


def main(argv: Sequence[str] | None = None) -> int:
    args, configs = parse_args(argv)
    log_dir = Path(tempfile.mkdtemp(prefix="kmeans-bench-")) if args.mllib_split == "log" else None
    try:
        spark = start_session(args.driver_memory, log_dir)
        try:
            for cfg in configs:
                write_json(run_preset(cfg, spark, args, log_dir), cfg.json_path)
        finally:
            spark.stop()
    finally:
        if log_dir is not None:
            shutil.rmtree(log_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
