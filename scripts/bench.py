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
  ours: ``summary.diagnostics.phaseSeconds["init"]`` (k-means||; ~0 with given centres).
  MLlib (does not expose it): its own driver log line "Initialization with k-means|| took
  N ms" (``org.apache.spark.mllib.clustering.KMeans`` / ``ml.util.Instrumentation`` at INFO,
  routed by a generated log4j2 file to a temporary file; ms resolution); the row solver
  computes the norms inside it.
  scikit-learn: ``sklearn.cluster.kmeans_plusplus`` (what its fit runs first), timed
  separately, median of 3 calls.
* s/iter: seconds per Lloyd iteration, steady state.
  ours: median of ``summary.diagnostics.iterationSeconds`` (driver wall time of each
  one-job iteration: broadcast, job, merge, update).
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
(``partial_stats(block, None, centres)``, one thread) on one partition-sized block
(n / partitions rows: partitions run in parallel, one per core). Floor per iteration =
empty job + in-process step; printed with ours' s/iter over it.

Memory (labelled in the output): peak resident set (VmHWM, reset before each fit through
``/proc/PID/clear_refs`` where the kernel allows it) of the driver Python process, the JVM,
and the sum over the Python worker processes (shared pages counted in each); the size of
ours' resident blocks (rows x d x itemsize, computed) against the raw numpy array; and what
Spark's storage reports for the cached DataFrame and RDD.

``--json`` (default ``bench-results/bench-{preset}.json``) gets args, versions, machine, every
raw timing, the medians, ratios, floor and memory.

The code is in ``scripts/benchkit/`` (this file is its entry point): ``fit.py`` runs a preset,
``variants.py`` times each row, ``timing.py`` and ``report.py`` hold the medians, the split
and the ratios described above; the package docstring lists the rest.
"""

from __future__ import annotations

import sys

from benchkit.fit import main  # scripts/ is sys.path[0] when this file runs

if __name__ == "__main__":
    sys.exit(main())
