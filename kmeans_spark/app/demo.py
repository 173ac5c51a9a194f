"""``demo``: fit on seeded Gaussian blobs in local mode (or on the Spark Connect server of
``SPARK_REMOTE``) and print the result as JSON, next to the oracle cost (the SSE of the
generating clusters)."""

from __future__ import annotations

import argparse
import json
import os
import time

from kmeans_spark.errors import KMeansInputError
from kmeans_spark.options import BY_PARAM, check

HELP = "fit on generated Gaussian blobs in local mode and print the result"
DESCRIPTION = "Generate seeded Gaussian blobs, fit in local mode, print a summary."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rows", type=int, default=100_000, help="points (100000)")
    parser.add_argument("--dim", type=int, default=2, help="features (2)")
    parser.add_argument("--k", type=int, default=5, help="clusters (5)")
    parser.add_argument("--seed", type=int, default=42, help="seed of data and fit (42)")
    parser.add_argument("--master", default="local[*]", help="Spark master (local[*])")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def validate(args: argparse.Namespace) -> None:
    """Before Spark starts: k by the fit's own rule, then enough rows and features."""
    check(BY_PARAM["k"], args.k, "--k")
    for flag, value in (("--rows", args.rows), ("--dim", args.dim)):
        if value < 1:
            raise KMeansInputError(f"{flag}={value} must be >= 1.")
    if args.rows < args.k:
        raise KMeansInputError(f"--rows={args.rows} must be >= --k={args.k}; ask for more rows.")


def run(args: argparse.Namespace) -> int:
    validate(args)
    import numpy as np
    import pandas as pd

    from kmeans_spark import KMeans
    from kmeans_spark.connect_url import REMOTE_ENV, connect_address
    from kmeans_spark.datagen import make_blobs
    from kmeans_spark.session import connect_session, local_session, set_log_level

    blobs = make_blobs(args.rows, args.dim, args.k, seed=args.seed)
    remote = os.environ.get(REMOTE_ENV, "")
    if remote:  # PySpark's own variable: the demo runs on that Spark Connect server
        connect_address(remote, REMOTE_ENV)
        spark = connect_session(remote, REMOTE_ENV, {})
    else:
        spark = local_session("kmeans-spark demo", master=args.master)
    set_log_level(spark, "WARN")
    try:
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
    return 0
