"""The nightly fit job written with plain Spark MLlib, as a user would: the reference that
``scripts/bench_job.py`` times our job against (issue #16, "the job end to end").

    spark-submit --master 'local[2]' --driver-memory 8g scripts/mllib_job.py \\
        --input bench-data/job-.../ --features 'x*' --id-cols id --k 10 \\
        --output out/mllib-run --mode overwrite

What it does, in the order a user writes it:

1. read the Parquet input; ``VectorAssembler`` over the feature columns (names or glob
   patterns, as our job's ``--features``), keeping the id columns; ``cache()`` and
   ``count()``: both the fit and the transform read it, and MLlib warns (and is slower)
   on an uncached input;
2. ``pyspark.ml.clustering.KMeans`` with MLlib's defaults except k, seed, maxIter and tol,
   which are our job's defaults (seed 42, maxIter 20, tol 1e-4; ``initSteps`` 2 in both);
3. ``model.write().save(OUTPUT/model)``;
4. ``model.transform`` and ``OUTPUT/assignments/`` as Parquet: the id columns,
   ``prediction`` and, unless ``--no-distance``, ``distance``: the Euclidean distance to
   the assigned centre. MLlib's model has no distance column, so it is computed the way
   a Spark user keeps it in the JVM (no Python UDF): the features as an array
   (``vector_to_array``), the centres as a one-row DataFrame broadcast to every row, and
   ``sqrt(aggregate(zip_with(x, centre, (a - b)^2)))`` with SQL higher-order functions;
5. ``OUTPUT/summary.json`` (local paths only; it is always printed as the last stdout line
   too): the seconds of each phase (``read_cache``, ``fit``, ``write_model``,
   ``write_assignments``), k, rows, cluster sizes, cost, iterations, partitions.

Exit code 0 on success, 2 for bad arguments (argparse), 1 for any other failure (the
exception propagates: spark-submit returns 1). Only pyspark is needed, imported inside the
functions, so the argument and column helpers are testable without a JVM.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from pyspark.ml.clustering import KMeansModel
    from pyspark.sql import DataFrame, SparkSession

T = TypeVar("T")

#: Our job's defaults (conf/local.toml ``[job]``), so both fit the same problem.
DEFAULT_SEED = 42
DEFAULT_MAX_ITER = 20
DEFAULT_TOL = 1e-4
FEATURES_COL = "features"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="The k-means fit job with plain Spark MLlib (the benchmark's reference)."
    )
    p.add_argument("--input", required=True, help="Parquet file or directory")
    p.add_argument("--features", required=True, help="comma list of names or glob patterns")
    p.add_argument("--id-cols", default="", help="comma list, copied to the assignments")
    p.add_argument("--k", type=int, required=True)
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--max-iter", type=int, default=DEFAULT_MAX_ITER)
    p.add_argument("--tol", type=float, default=DEFAULT_TOL)
    p.add_argument("--output", required=True, help="directory: model/, assignments/, ...")
    p.add_argument("--mode", choices=("error", "overwrite"), default="error")
    p.add_argument(
        "--no-distance",
        dest="distance",
        action="store_false",
        help="write no distance column (prediction only, as MLlib's transform gives)",
    )
    args = p.parse_args(argv)
    if args.k < 2:
        p.error(f"--k {args.k} should be >= 2")
    return args


def split_names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def match_features(
    columns: Sequence[str], patterns: Sequence[str], exclude: Sequence[str]
) -> list[str]:
    """The columns ``patterns`` name (names or globs such as ``x*``), each once, in the order
    the patterns name them, without ``exclude``: what our job's ``--features`` selects, so
    both fit the same columns."""
    chosen: list[str] = []
    for pattern in patterns:
        matches = [c for c in columns if fnmatch.fnmatchcase(c, pattern) and c not in exclude]
        if not matches:
            raise ValueError(f"feature pattern {pattern!r} matches no column of {list(columns)}")
        chosen.extend(c for c in matches if c not in chosen)
    return chosen


def timed(phases: dict[str, float], name: str, fn: Callable[[], T]) -> T:
    """``fn()``, its wall seconds recorded in ``phases[name]``."""
    start = time.perf_counter()
    try:
        return fn()
    finally:
        phases[name] = round(time.perf_counter() - start, 3)


def with_distance(spark: SparkSession, scored: DataFrame, model: KMeansModel) -> DataFrame:
    """``scored`` plus ``distance``, the Euclidean distance of each row to its centre, in
    the JVM: the centres ride as one broadcast row (a literal of k x d numbers would bloat
    every generated expression), the rest is SQL higher-order functions."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    centers = [[float(v) for v in c] for c in model.clusterCenters()]
    table = spark.createDataFrame([(centers,)], "__centers array<array<double>>")
    x = vector_to_array(F.col(FEATURES_COL))
    centre = F.element_at(F.col("__centers"), F.col("prediction") + 1)
    squares = F.zip_with(x, centre, lambda a, b: (a - b) * (a - b))
    total = F.aggregate(squares, F.lit(0.0), lambda acc, v: acc + v)
    return scored.crossJoin(F.broadcast(table)).withColumn("distance", F.sqrt(total))


def run(spark: SparkSession, args: argparse.Namespace) -> dict[str, Any]:
    """The job: read, assemble, cache, fit, save, score, write; returns the summary."""
    from pyspark.ml.clustering import KMeans
    from pyspark.ml.feature import VectorAssembler

    phases: dict[str, float] = {}
    id_cols = split_names(args.id_cols)
    raw = spark.read.parquet(args.input)
    features = match_features(raw.columns, split_names(args.features), id_cols)
    assembler = VectorAssembler(inputCols=features, outputCol=FEATURES_COL)
    data = assembler.transform(raw).select(*id_cols, FEATURES_COL).cache()
    try:
        rows = timed(phases, "read_cache", data.count)
        kmeans = KMeans(
            k=args.k,
            seed=args.seed,
            maxIter=args.max_iter,
            tol=args.tol,
            featuresCol=FEATURES_COL,
        )
        model = timed(phases, "fit", lambda: kmeans.fit(data))
        writer = model.write().overwrite() if args.mode == "overwrite" else model.write()
        timed(phases, "write_model", lambda: writer.save(f"{args.output}/model"))
        scored = model.transform(data)
        if args.distance:
            scored = with_distance(spark, scored, model)
        columns = [*id_cols, "prediction", *(["distance"] if args.distance else [])]
        out = scored.select(*columns).write.mode(args.mode)
        timed(phases, "write_assignments", lambda: out.parquet(f"{args.output}/assignments"))
        summary = model.summary
        return {
            "command": "mllib fit",
            "input": args.input,
            "output": args.output,
            "rows": rows,
            "partitions": data.rdd.getNumPartitions(),
            "features": features,
            "k": args.k,
            "seed": args.seed,
            "max_iter": args.max_iter,
            "tol": args.tol,
            "distance": args.distance,
            "cluster_sizes": list(summary.clusterSizes),
            "cost": float(summary.trainingCost),
            "iterations": int(summary.numIter),
            "seconds": phases,
        }
    finally:
        data.unpersist()


def local_path(path: str) -> str | None:
    """The local file system path of ``path`` (plain or ``file:``), or None for any other
    file system (``hdfs://``, ``s3a://``: the summary is then only printed)."""
    from urllib.parse import urlparse

    parsed = urlparse(path)
    if parsed.scheme == "file":
        return parsed.path
    return path if parsed.scheme == "" else None


def main(argv: Sequence[str] | None = None) -> int:
    started = time.perf_counter()
    args = parse_args(argv)
    from pyspark.sql import SparkSession

    t0 = time.perf_counter()
    spark = SparkSession.builder.appName("kmeans mllib job").getOrCreate()
    session_s = time.perf_counter() - t0
    try:
        result = run(spark, args)
    finally:
        spark.stop()
    result["seconds"]["session"] = round(session_s, 3)
    result["seconds"]["script"] = round(time.perf_counter() - started, 3)
    import pyspark

    result["versions"] = {"pyspark": pyspark.__version__, "python": sys.version.split()[0]}
    target = local_path(args.output)
    if target is not None:
        with open(os.path.join(target, "summary.json"), "w") as fh:
            json.dump(result, fh, indent=2)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
