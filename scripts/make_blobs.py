"""Write seeded Gaussian blobs as CSV or Parquet files, optionally as dated partitions.

.venv/bin/python scripts/make_blobs.py out/data --rows 100000 --dim 2 --k 5
.venv/bin/python scripts/make_blobs.py out/lake --dates 2026-11-21,2026-11-22   # dt=... dirs
"""

from __future__ import annotations

import argparse
import os
import sys

from kmeans_spark.datagen import make_blobs, write_blobs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write seeded Gaussian blobs.")
    parser.add_argument("path", help="output directory")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=2)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--spread", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--format", choices=("csv", "parquet"), default="parquet")
    parser.add_argument("--files", type=int, default=2, help="files per directory")
    parser.add_argument("--dates", default="", help="comma list: one dt=DATE directory each")
    args = parser.parse_args(argv)
    dates = [d for d in args.dates.split(",") if d] or [""]
    for i, date in enumerate(dates):
        blobs = make_blobs(args.rows, args.dim, args.k, spread=args.spread, seed=args.seed + i)
        target = os.path.join(args.path, f"dt={date}") if date else args.path
        for name in write_blobs(target, blobs, args.format, args.files):
            print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
