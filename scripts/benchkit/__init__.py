"""The parts of the side-by-side benchmarks (``scripts/bench*.py``), importable and reusable.

A benchmark is a script in ``scripts/`` that prints a table and writes JSON, ours side by
side with MLlib in the same run and SparkSession, every variant warmed up. The script is a
thin entry point (``scripts/bench.py``: the fit benchmark); the work lives here. Each module
is a concern a new benchmark (scoring, spark-submit job, k-sweep) reuses as it is:

========== ==================================================================================
config     presets, variant names and labels, ``Config`` and the fit benchmark's arguments;
           the command-line parts every benchmark shares (name lists, preset sizes, bounds)
data       seeded blobs written once as Parquet and reused; the shared init; the SSE
spark      the one local[2] session (+ MLlib's timing log), the cached input DataFrame/RDD,
           MLlib's log lines, Spark job durations, storage and versions
memory     peak resident sets of the driver, the JVM and the Python workers; the machine
timing     timed calls, medians, warm-up, the variant order rotated each repeat, and the
           arithmetic that splits an MLlib fit into seeding and iterations
variants   one timed fit of each row: ours, MLlib (ml and RDD API), scikit-learn
floor      platform limits measured in the same run (GEMM, empty Spark job, in-process step)
report     medians per variant, ratios, tables (missing values as "-"), plain JSON
fit        the fit benchmark: one preset, every variant, its tables and JSON
framepath  a Lloyd pass over resident blocks: the RDD transport against the DataFrame one
           (kmeans_spark.blocks_frame, issue #17), classic or under a local Spark Connect server
job        the job end to end: fresh spark-submits of ours and of scripts/mllib_job.py,
           timed from outside, their phases, outputs checked (Spark only in subprocesses)
========== ==================================================================================

Only ``spark``, ``variants``, ``floor`` and ``fit`` touch Spark, and they import ``pyspark``
inside functions, so every module imports without a JVM (``timing`` and ``report`` are
unit-tested that way, tests/unit/test_bench_report.py).

``scripts/`` is not a package: a script there has it on ``sys.path[0]`` and imports this as
``benchkit`` (the name differs from ``bench.py`` on purpose: a module and a package of the
same name in one directory clash, for Python's import and for mypy).
"""
