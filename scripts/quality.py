"""Seeding quality: our default fit (k-means|| + Lloyd, one run) against scikit-learn's
KMeans(n_init=1) (greedy k-means++ + Lloyd) and Spark MLlib's KMeans, over several seeds, on
Gaussian blobs with a known optimum (the oracle SSE of the generating clusters).

Prints a table and writes JSON. Example:
    .venv/bin/python scripts/quality.py --rows 20000 --dim 64 --k 100 --seeds 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--spread", type=float, default=1.0)
    parser.add_argument("--box", type=float, default=10.0)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--max-iter", type=int, default=20)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--mllib", action="store_true", help="also fit Spark MLlib KMeans")
    parser.add_argument("--json", default="quality.json")
    args = parser.parse_args(argv)

    import pandas as pd
    from pyspark.ml.clustering import KMeans as SparkKMeans
    from pyspark.ml.feature import VectorAssembler
    from sklearn.cluster import KMeans as SkKMeans

    from kmeans_spark import KMeans
    from kmeans_spark.datagen import make_blobs
    from kmeans_spark.session import local_session

    blobs = make_blobs(args.rows, args.dim, args.k, spread=args.spread, box=args.box, seed=0)
    oracle = blobs.oracle_cost()
    spark = local_session("kmeans-spark quality", master="local[2]")
    spark.sparkContext.setLogLevel("WARN")
    names = [f"x{i}" for i in range(args.dim)]
    df = spark.createDataFrame(pd.DataFrame(blobs.x, columns=names)).repartition(args.partitions)
    df = VectorAssembler(inputCols=names, outputCol="features").transform(df).select("features")
    df = df.cache()
    df.count()
    rows = []
    for seed in range(1, args.seeds + 1):
        t = time.perf_counter()
        ours = KMeans(k=args.k, seed=seed, maxIter=args.max_iter).fit(df)
        ours_s = time.perf_counter() - t
        t = time.perf_counter()
        sk = SkKMeans(args.k, n_init=1, random_state=seed).fit(blobs.x)
        sk_s = time.perf_counter() - t
        row = {
            "seed": seed,
            "ours": ours.summary.trainingCost / oracle,
            "ours_iter": ours.summary.numIter,
            "ours_s": ours_s,
            "sklearn": float(sk.inertia_) / oracle,
            "sklearn_iter": int(sk.n_iter_),
            "sklearn_s": sk_s,
        }
        if args.mllib:
            t = time.perf_counter()
            ml = SparkKMeans(k=args.k, seed=seed, maxIter=args.max_iter).fit(df)
            row["mllib"] = ml.summary.trainingCost / oracle
            row["mllib_s"] = time.perf_counter() - t
        rows.append(row)
        print(
            " ".join(
                f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
            ),
            flush=True,
        )
    spark.stop()
    keys = ["ours", "sklearn"] + (["mllib"] if args.mllib else [])
    print(f"\nblobs n={args.rows} d={args.dim} k={args.k} spread={args.spread} box={args.box}")
    print("cost / oracle over seeds   median    max   seeds at oracle (<1.0001)")
    for key in keys:
        vals = [r[key] for r in rows]
        hits = sum(v < 1.0001 for v in vals)
        print(f"  {key:24s} {statistics.median(vals):8.4f} {max(vals):7.4f}   {hits}/{len(vals)}")
    ratio = statistics.median(r["ours"] for r in rows) / statistics.median(
        r["sklearn"] for r in rows
    )
    print(f"median ours / median scikit-learn: {ratio:.4f}")
    with open(args.json, "w") as fh:
        json.dump(
            {"args": vars(args), "oracle": oracle, "rows": rows, "ratio": ratio}, fh, indent=1
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
