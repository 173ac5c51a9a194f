"""Command line: ``python -m kmeans_spark SUBCOMMAND ...``.

Subcommands so far: ``demo`` (fit on built-in generated blobs, print the result). The batch
job's ``fit`` and ``predict`` and model selection's ``elbow`` are further subcommands of the
same parser. Exit codes: 0 success, 2 bad configuration or input (one line, no stack
trace), 1 any other failure.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence

import numpy as np

from kmeans_spark.errors import KMeansInputError

log = logging.getLogger("kmeans_spark")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be >= 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kmeans-spark", description="Distributed k-means on Apache Spark."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="fit k-means on generated Gaussian blobs in local mode and print the result",
        description="Generate seeded Gaussian blobs, fit in local mode, print a summary.",
    )
    demo.add_argument("--rows", type=_positive_int, default=100_000, help="points (100000)")
    demo.add_argument("--dim", type=_positive_int, default=2, help="features (2)")
    demo.add_argument("--k", type=_positive_int, default=5, help="clusters (5)")
    demo.add_argument("--seed", type=int, default=42, help="seed of data and fit (42)")
    demo.add_argument("--master", default="local[*]", help="Spark master (local[*])")
    return parser


def run_demo(args: argparse.Namespace) -> int:
    from kmeans_spark import KMeans
    from kmeans_spark.datagen import make_blobs
    from kmeans_spark.session import local_session

    blobs = make_blobs(args.rows, args.dim, args.k, seed=args.seed)
    spark = local_session("kmeans-spark demo", master=args.master)
    spark.sparkContext.setLogLevel("WARN")
    try:
        import pandas as pd

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
            "costOverOracle": summary.trainingCost / blobs.oracle_cost(),
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("py4j").setLevel(logging.WARNING)
    try:
        if args.command == "demo":
            return run_demo(args)
    except KMeansInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    parser.error(f"unknown command {args.command!r}")
    return 2
