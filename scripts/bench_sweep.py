"""Model-selection benchmark (issue #14's performance goal): ours' k sweep in shared passes
against the MLlib way, side by side in one SparkSession on the same cached DataFrame.

    .venv/bin/python scripts/bench_sweep.py                          # preset medium, 3 repeats
    .venv/bin/python scripts/bench_sweep.py --preset small --repeats 1   # smoke test
    .venv/bin/python scripts/bench_sweep.py --variants sweep,mllib_loop --max-iter 10

Data, cache and session as scripts/bench.py (the preset's blobs as Parquet, reused; one
local[2] session; one cached ``features`` vector column, ``--partitions`` partitions).
Every variant is run once untimed (warm-up), then ``--repeats`` times, the order rotated
each repeat; tables show the minimum and the median. maxIter (``--max-iter``, 20), tol
(``--tol``, 1e-4) and seed (``--seed``, 1) are the same for every variant.

Rows (variants)
---------------
* ours sweep: ``KMeans(seed, maxIter, tol).sweep(df, range(k_min, k_max + 1),
  metrics=False)``: the fits (the goals are on it); ours sweep + metrics: with
  ``metrics=True`` (SSE, Calinski-Harabasz, Davies-Bouldin, silhouettes; one more pass and
  scikit-learn's silhouette on a 10,000-row sample per k).
* MLlib loop: a Python loop of ``pyspark.ml.clustering.KMeans(k=k, seed, maxIter,
  tol).fit(df)`` for k = k_min..k_max, the fits' wall times summed.
* ours loop: the same loop with ours' ``KMeans(k=k).fit``: what the shared passes save
  against our own fit, and the separate fits each run of the sweep is compared with.
* ours fit k=k_max: one fit of ours at the largest k.
* ours nInit=1 / nInit=N (``--n-init``, 5): one fit at the preset's k, without and with
  restarts.
``--ours-input columns`` has ours read d double columns (``inputCols``) cached beside the
vector column in the same DataFrame, instead of the vector column MLlib reads.

Goals (issue #14): sweep <= 0.1 x MLlib loop; sweep <= 4 x ours fit k=15; nInit=5 <= 2 x
nInit=1. Quality: per k, the SSE of the sweep's centres, MLlib's and ours' separate fit's,
all recomputed with numpy on the same data, and the iterations of each; restarts: the SSE of
nInit=1 and nInit=N (and every restart's cost) against the oracle SSE of the generating
blobs. "passes" is the number of Lloyd passes over the data (a sweep's longest k; a loop's
sum of iterations).

JSON (``--json``, default bench-results/sweep.json): args, versions, machine and load
average, every raw timing (with the load average before it), min/median, goals, the
per-k rows of the last run of each variant, quality. The logic is in
scripts/benchkit/sweep.py.
"""

from __future__ import annotations

import sys

from benchkit.sweep import main  # scripts/ is sys.path[0] when this file runs

if __name__ == "__main__":
    sys.exit(main())
