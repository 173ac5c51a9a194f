"""The text benchmark (scripts/bench_text.py): ours against MLlib's ``KMeans`` on sparse
TF-IDF documents, k = topics, for cosine (spherical k-means) and Euclidean; issue #15's goal.

Every (measure, library) pair reads the same cached DataFrame of one ``SparseVector`` column
in one SparkSession, is fitted once untimed (warm-up), then ``--repeats`` times in an order
rotated each repeat; the table shows the minimum and the median. The SSE of each fit's
centres is recomputed on the same documents with the CSR kernel (``kernels.sparse``), so it
does not depend on how each library reports its cost.

Only ``cached_documents``, the ``fit_*`` functions, ``measure`` and ``run`` touch Spark
(imported inside them); the data, objective, goal and table helpers are unit-tested without
a JVM (tests/unit/test_bench_text.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .config import REPO, add_names, add_run_args, check_at_least, check_json_per_name, sized
from .memory import machine
from .report import Column, ratio, table_lines, write_json
from .sweep import time_stats, yes_no
from .timing import interleaved, timed

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

#: Named sizes (``--sizes``): the issue's goal (``full``: 200k documents of 2^18 hashed
#: features, 50 topics, k = 50) and smaller ones for a shared machine and smoke runs.
SIZES: dict[str, dict[str, int]] = {
    "full": {"docs": 200_000, "features": 2**18, "topics": 50, "k": 50},
    "small": {"docs": 20_000, "features": 2**18, "topics": 50, "k": 50},
    "tiny": {"docs": 2_000, "features": 2**12, "topics": 10, "k": 10},
}
MEASURES = ("cosine", "euclidean")
LIBRARIES = ("mllib", "ours")
#: Words per document: ``make_topic_documents`` folds repeated words into one entry, so 85
#: words make ~60 non-zeros (its docstring).
WORDS_PER_DOC = 85.0

#: The goals (issue #15): ours' fit time over MLlib's, and ours' SSE over MLlib's ("no
#: worse", up to rounding: SSE_SLACK relative).
TIME_GOAL = 0.3
SSE_GOAL = 1.0
SSE_SLACK = 1e-9

#: The Parquet footer key Spark reads a file's own schema from: it names the column's
#: ``VectorUDT``, so Spark reads the struct pyarrow wrote as ``SparseVector``s.
SPARK_SCHEMA_KEY = "org.apache.spark.sql.parquet.row.metadata"
WRITE_CHUNK_ROWS = 65_536


@dataclass
class TextConfig:
    """One size of the benchmark; ``docs, features, topics, words, data_seed, data_dir``
    name the documents."""

    size: str
    docs: int
    features: int
    topics: int
    k: int
    words: float
    data_seed: int
    data_dir: Path
    seed: int
    partitions: int
    max_iter: int
    tol: float
    repeats: int
    measures: list[str]
    json_path: Path

    @property
    def label(self) -> str:
        return f"{self.size} ({self.docs} docs)"


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, list[TextConfig]]:
    p = argparse.ArgumentParser(
        description="Text clustering: ours against MLlib's KMeans on sparse TF-IDF topic "
        "documents, cosine and Euclidean (issue #15's goal).",
        epilog="See scripts/bench_text.py for what every number means.",
    )
    add_names(p, "--sizes", list(SIZES), ["full"], "size")
    p.add_argument("--docs", type=int, help="documents (overrides the size's)")
    p.add_argument("--features", type=int, help="hashed features (overrides the size's)")
    p.add_argument("--topics", type=int, help="generating topics (overrides the size's)")
    p.add_argument("--k", type=int, help="clusters fitted (default: the size's, = topics)")
    p.add_argument(
        "--words", type=float, default=WORDS_PER_DOC, help="mean words per document (85: ~60 nnz)"
    )
    add_run_args(p)
    p.add_argument("--tol", type=float, default=1e-4)
    add_names(p, "--measures", MEASURES, MEASURES, "measure")
    p.add_argument("--data-dir", default=str(REPO / "bench-data"))
    p.add_argument(
        "--json",
        default=str(REPO / "bench-results" / "text-{size}.json"),
        help="output path; {size} is replaced by the size's name",
    )
    args = p.parse_args(argv)
    check_json_per_name(p, args.json, "{size}", args.sizes)
    check_at_least(p, args, repeats=1, partitions=1, max_iter=1)
    configs = []
    for name in args.sizes:
        size = sized(SIZES[name], args)
        if args.topics and not args.k:
            size["k"] = args.topics
        if size["k"] < 2 or size["k"] > size["docs"]:
            p.error(f"k={size['k']} must be >= 2 and <= docs={size['docs']}")
        same = ("words", "data_seed", "seed", "partitions", "max_iter", "tol", "repeats")
        configs.append(
            TextConfig(
                size=name,
                **size,
                **{key: getattr(args, key) for key in same},
                data_dir=Path(args.data_dir),
                measures=[m for m in MEASURES if m in args.measures],
                json_path=Path(args.json.replace("{size}", name)),
            )
        )
    return args, configs


# -- the documents ----------------------------------------------------------------------------


def data_path(cfg: TextConfig) -> Path:
    name = (
        f"topics-docs{cfg.docs}-f{cfg.features}-t{cfg.topics}-w{cfg.words:g}-"
        f"seed{cfg.data_seed}.parquet"
    )
    return cfg.data_dir / name


def vector_struct(x: Any) -> Any:
    """CSR rows as Spark's ``VectorUDT`` struct of sparse vectors (``type`` 0, ``size``,
    ``indices``, ``values``), built on the CSR arrays (no per-row Python)."""
    import pyarrow as pa

    n, d = x.shape
    offsets = pa.array(np.asarray(x.indptr, dtype=np.int32))
    indices = pa.ListArray.from_arrays(offsets, pa.array(np.asarray(x.indices, dtype=np.int32)))
    values = pa.ListArray.from_arrays(offsets, pa.array(np.asarray(x.data, dtype=np.float64)))
    return pa.StructArray.from_arrays(
        [
            pa.array(np.zeros(n, dtype=np.int8)),
            pa.array(np.full(n, d, dtype=np.int32)),
            indices,
            values,
        ],
        names=["type", "size", "indices", "values"],
    )


def csr_of(column: Any, d: int) -> Any:
    """The struct column of :func:`vector_struct` (sparse vectors only) back to CSR."""
    import scipy.sparse as sp

    chunks = column.chunks if hasattr(column, "chunks") else [column]
    parts = []
    for chunk in chunks:
        indices, values = chunk.field("indices"), chunk.field("values")
        offsets = indices.offsets.to_numpy().astype(np.int64)
        parts.append(
            sp.csr_array(
                (
                    values.flatten().to_numpy(),
                    indices.flatten().to_numpy(),
                    offsets - offsets[0],
                ),
                shape=(len(chunk), d),
            )
        )
    return sp.csr_array(sp.vstack(parts, format="csr")) if len(parts) != 1 else parts[0]


def spark_schema_json() -> str:
    """The schema Spark writes in a Parquet footer for one ``features`` vector column."""
    from pyspark.ml.linalg import VectorUDT
    from pyspark.sql.types import StructField, StructType

    return StructType([StructField("features", VectorUDT())]).json()


def write_documents(
    x: Any, path: Path, meta: dict[str, Any], chunk_rows: int = WRITE_CHUNK_ROWS
) -> None:
    """Write CSR rows as one ``features`` vector column Spark reads as ``SparseVector``s,
    ``chunk_rows`` per row group, through a temporary file renamed at the end; ``meta``
    goes into the footer (key ``kmeans_bench``, JSON)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sample = vector_struct(x[:0])
    schema = pa.schema(
        [("features", sample.type)],
        metadata={SPARK_SCHEMA_KEY: spark_schema_json(), "kmeans_bench": json.dumps(meta)},
    )
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(tmp, schema) as writer:
        for start in range(0, x.shape[0], chunk_rows):
            rows = vector_struct(x[start : start + chunk_rows])
            writer.write_table(pa.Table.from_arrays([rows], schema=schema))
    os.replace(tmp, path)


def read_documents(path: Path, d: int) -> tuple[Any, dict[str, Any]]:
    """The documents back as CSR, and the metadata written with them."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    raw = (table.schema.metadata or {}).get(b"kmeans_bench", b"{}")
    return csr_of(table.column("features"), d), json.loads(raw)


def generate(cfg: TextConfig) -> tuple[Any, dict[str, Any]]:
    """TF-IDF (Spark ML's IDF, rows L2-normalised) of seeded topic documents; rows left
    without weight are dropped (MLlib's cosine refuses them), and counted."""
    import scipy.sparse as sp

    from kmeans_spark.datagen import make_topic_documents

    docs = make_topic_documents(
        cfg.docs, cfg.features, words_per_doc=cfg.words, topics=cfg.topics, seed=cfg.data_seed
    )
    x = sp.csr_array(docs.tfidf())
    kept = np.flatnonzero(np.diff(x.indptr) > 0)
    if kept.size < x.shape[0]:
        x = sp.csr_array(x[kept])
    meta = {
        "docs": cfg.docs,
        "features": cfg.features,
        "topics": cfg.topics,
        "words_per_doc": cfg.words,
        "data_seed": cfg.data_seed,
        "rows": int(x.shape[0]),
        "empty_dropped": int(cfg.docs - x.shape[0]),
        "nnz_per_row": float(x.nnz / max(x.shape[0], 1)),
    }
    return x, meta


def load_documents(cfg: TextConfig) -> tuple[Any, Path, dict[str, Any]]:
    """The documents as CSR and their Parquet path; generated and written only when missing."""
    path = data_path(cfg)
    t0 = time.perf_counter()
    if path.exists():
        x, meta = read_documents(path, cfg.features)
        return (
            x,
            path,
            {"path": str(path), "reused": True, "read_s": time.perf_counter() - t0, **meta},
        )
    x, meta = generate(cfg)
    gen_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    write_documents(x, path, meta)
    info = {
        "path": str(path),
        "reused": False,
        "generate_s": gen_s,
        "write_s": time.perf_counter() - t0,
    }
    return x, path, {**info, **meta}


def objective(x: Any, centers: np.ndarray, measure: str) -> float:
    """The k-means objective of ``centers`` on the CSR rows: the sum of squared Euclidean
    distances to the nearest centre, or for cosine the sum of ``1 - cos`` to the most
    similar one (MLlib's cosine cost)."""
    from kmeans_spark.kernels import sparse

    c = np.asarray(centers, dtype=np.float64)
    if measure == "cosine":
        unit, _ = sparse.normalize_rows(x)
        c = c / np.linalg.norm(c, axis=1, keepdims=True)
        return float(sparse.nearest_centers(unit, c)[1].sum() / 2.0)  # |u - c|^2 = 2(1 - cos)
    return float(sparse.nearest_centers(x, c)[1].sum())


# -- the fits ---------------------------------------------------------------------------------


#: One timed fit: its record for the JSON (wall ``seconds``, ``iterations``, the library's
#: own ``reported_cost``, ``extra``: ours' phases) and its centres (for the objective).
Fit = tuple[dict[str, Any], np.ndarray]


def cached_documents(spark: Any, path: Path, partitions: int) -> DataFrame:
    """The Parquet file's ``features`` (SparseVector) column, ``partitions`` partitions,
    cached and counted: the one input every fit reads."""
    df = spark.read.parquet(str(path)).select("features").repartition(partitions).cache()
    df.count()
    return df


def fit_mllib(df: DataFrame, cfg: TextConfig, measure: str) -> Fit:
    from pyspark.ml.clustering import KMeans as MLKMeans

    est = MLKMeans(
        k=cfg.k, seed=cfg.seed, maxIter=cfg.max_iter, tol=cfg.tol, distanceMeasure=measure
    )
    return _fitted(*timed(lambda: est.fit(df)), {})


def fit_ours(df: DataFrame, cfg: TextConfig, measure: str) -> Fit:
    from kmeans_spark import KMeans

    est = KMeans(
        k=cfg.k,
        seed=cfg.seed,
        maxIter=cfg.max_iter,
        tol=cfg.tol,
        distanceMeasure=measure,
        numPartitions=cfg.partitions,
    )
    wall, model = timed(lambda: est.fit(df))
    s = model.summary
    extra = {"phaseSeconds": dict(s.diagnostics.phaseSeconds), "converged": bool(s.converged)}
    return _fitted(wall, model, extra)


def _fitted(wall: float, model: Any, extra: dict[str, Any]) -> Fit:
    record = {
        "seconds": wall,
        "iterations": int(model.summary.numIter),
        "reported_cost": float(model.summary.trainingCost),
        "extra": extra,
    }
    return record, np.array(model.clusterCenters())


FITS: dict[str, Callable[[Any, TextConfig, str], Fit]] = {"mllib": fit_mllib, "ours": fit_ours}


def variant(measure: str, library: str) -> str:
    return f"{measure}/{library}"


# -- rows, goals, table (no Spark) ------------------------------------------------------------


def measure_rows(
    measures: Sequence[str],
    stats: dict[str, dict[str, Any]],
    sse: dict[str, float],
    iters: dict[str, int],
) -> list[dict[str, Any]]:
    """One row per distance measure: MLlib's and ours' fit seconds (min, median), ours over
    MLlib on each, the SSE ratio, iterations, and whether each goal is met (on the medians;
    None where a side did not run)."""
    rows = []
    for m in measures:
        ml, ours = stats.get(variant(m, "mllib")), stats.get(variant(m, "ours"))
        by_min = ratio(ours["min_s"], ml["min_s"]) if ml and ours else None
        by_median = ratio(ours["median_s"], ml["median_s"]) if ml and ours else None
        sse_ratio = ratio(sse.get(variant(m, "ours")), sse.get(variant(m, "mllib")))
        rows.append(
            {
                "measure": m,
                "mllib_min_s": ml["min_s"] if ml else None,
                "mllib_median_s": ml["median_s"] if ml else None,
                "ours_min_s": ours["min_s"] if ours else None,
                "ours_median_s": ours["median_s"] if ours else None,
                "ratio_min": by_min,
                "ratio_median": by_median,
                "time_goal_met": None if by_median is None else by_median <= TIME_GOAL,
                "mllib_sse": sse.get(variant(m, "mllib")),
                "ours_sse": sse.get(variant(m, "ours")),
                "sse_ratio": sse_ratio,
                "sse_goal_met": None if sse_ratio is None else sse_ratio <= SSE_GOAL + SSE_SLACK,
                "mllib_iters": iters.get(variant(m, "mllib")),
                "ours_iters": iters.get(variant(m, "ours")),
            }
        )
    return rows


COLUMNS = (
    Column("MLlib min", "9.3f"),
    Column("MLlib med", "9.3f"),
    Column("ours min", "8.3f"),
    Column("ours med", "8.3f"),
    Column("ratio min", "9.3f"),
    Column("ratio med", "9.3f"),
    Column("SSE o/ML", "8.4f"),
    Column("it ours", "7.0f"),
    Column("it ML", "5.0f"),
)

TABLE_NOTES = f"""\
MLlib / ours   wall seconds of fit() on the same cached DataFrame (min, median of the repeats)
ratio          ours / MLlib fit seconds; goal <= {TIME_GOAL:g} (met: on the medians)
SSE o/ML       ours' objective / MLlib's, both recomputed on the same documents (cosine:
               sum of 1 - cos); goal <= {SSE_GOAL:g} ("no worse than MLlib's")
it             Lloyd iterations (summary.numIter)"""


def table(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The measures' rows and, in two last columns, "yes"/"no" for the time and SSE goals."""
    lines = table_lines(
        "measure",
        9,
        COLUMNS,
        [
            (
                r["measure"],
                [
                    r["mllib_min_s"],
                    r["mllib_median_s"],
                    r["ours_min_s"],
                    r["ours_median_s"],
                    r["ratio_min"],
                    r["ratio_median"],
                    r["sse_ratio"],
                    r["ours_iters"],
                    r["mllib_iters"],
                ],
            )
            for r in rows
        ],
    )
    goals = [
        f"{yes_no(r['time_goal_met']) or '-':>5} {yes_no(r['sse_goal_met']) or '-':>4}"
        for r in rows
    ]
    return [lines[0] + "  time  SSE", lines[1] + "-" * 11] + [
        f"{line} {cell}" for line, cell in zip(lines[2:], goals, strict=True)
    ]


# -- the run ----------------------------------------------------------------------------------


def _loadavg() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def measure(cfg: TextConfig, df: DataFrame, x: Any) -> dict[str, Any]:
    """Warm-up (a variant that fails there is reported and left out), the timed repeats,
    statistics, the recomputed objectives and the rows; returns the JSON part."""
    order = [variant(m, lib) for m in cfg.measures for lib in LIBRARIES]
    warmup: dict[str, Any] = {}
    failed: dict[str, str] = {}
    for key in order:
        m, lib = key.split("/")
        print(f"[{cfg.size}] warm-up {key}", file=sys.stderr, flush=True)
        try:
            warmup[key] = FITS[lib](df, cfg, m)[0]
        except Exception as exc:  # e.g. an engine that cannot fit sparse input yet
            failed[key] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300]}"
            print(f"[{cfg.size}] {key} failed, left out: {failed[key]}", file=sys.stderr)
    order = [key for key in order if key not in failed]
    raw: dict[str, list[dict[str, Any]]] = {key: [] for key in order}
    last: dict[str, Fit] = {}
    for rep, key in interleaved(order, cfg.repeats):
        m, lib = key.split("/")
        load = _loadavg()
        record, _ = last[key] = FITS[lib](df, cfg, m)
        print(
            f"[{cfg.size}] repeat {rep + 1}/{cfg.repeats} {key}: {record['seconds']:.3f} s "
            f"({record['iterations']} iterations, load {load[0]:.2f})",
            file=sys.stderr,
            flush=True,
        )
        passes = {"passes": record["iterations"], "iters_sum": record["iterations"]}
        raw[key].append({**record, **passes, "loadavg_before": load})
    stats = {key: time_stats(raw[key]) for key in order}
    sse = {key: objective(x, centers, key.split("/")[0]) for key, (_, centers) in last.items()}
    iters = {key: record["iterations"] for key, (record, _) in last.items()}
    return {
        "warmup": warmup,
        "failed": failed,
        "raw": raw,
        "stats": stats,
        "sse": sse,
        "last_extra": {key: record["extra"] for key, (record, _) in last.items()},
        "rows": measure_rows(cfg.measures, stats, sse, iters),
    }


def print_report(cfg: TextConfig, result: dict[str, Any]) -> None:
    data, m = result["data"], result["machine"]
    print(
        f"\n== text benchmark, size {cfg.size}: {data['rows']} documents x {cfg.features} hashed "
        f"features ({data['nnz_per_row']:.1f} non-zeros each, {cfg.topics} Zipf topics), "
        f"k={cfg.k} maxIter={cfg.max_iter} tol={cfg.tol:g} seed={cfg.seed} "
        f"partitions={cfg.partitions} repeats={cfg.repeats}\n   load average "
        f"{' '.join(f'{v:.2f}' for v in m['loadavg_start'])} at the start, "
        f"{' '.join(f'{v:.2f}' for v in result['loadavg_end'])} at the end, on "
        f"{m['usable_cpus']} CPUs"
    )
    print("\n".join(table(result["rows"])))
    print(TABLE_NOTES)
    for key, reason in result["failed"].items():
        print(f"{key}: failed in its warm-up, left out: {reason}")
    for key, extra in result["last_extra"].items():
        if "phaseSeconds" in extra:
            phases = ", ".join(f"{p} {s:.3f}" for p, s in extra["phaseSeconds"].items())
            print(f"{key} phases (last run, s): {phases}")


def run(cfg: TextConfig, args: argparse.Namespace) -> dict[str, Any]:
    from .spark import bench_session, versions

    print(
        f"[{cfg.size}] data: {cfg.docs} docs x {cfg.features} features, {cfg.topics} topics",
        file=sys.stderr,
        flush=True,
    )
    x, path, data_info = load_documents(cfg)
    with bench_session(args.driver_memory, mllib_log=False) as (spark, _):
        info = machine()
        df = cached_documents(spark, path, cfg.partitions)
        try:
            measured = measure(cfg, df, x)
        finally:
            df.unpersist()
        lib_versions = versions(spark.sparkContext)
    return {
        "args": vars(args),
        "config": {**asdict(cfg), "json_path": str(cfg.json_path), "data_dir": str(cfg.data_dir)},
        "goals": {"time": TIME_GOAL, "sse": SSE_GOAL, "sse_slack": SSE_SLACK},
        "versions": lib_versions,
        "machine": info,
        "loadavg_end": _loadavg(),
        "data": data_info,
        **measured,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args, configs = parse_args(argv)
    for cfg in configs:
        result = run(cfg, args)
        print_report(cfg, result)
        write_json(result, cfg.json_path)
    return 0
