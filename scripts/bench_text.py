"""Text-clustering benchmark (issue #15's performance goal): ours against MLlib's ``KMeans`` on
sparse TF-IDF documents, side by side in one SparkSession on the same cached DataFrame.

    .venv/bin/python scripts/bench_text.py                          # size full: the goal
    .venv/bin/python scripts/bench_text.py --sizes tiny --repeats 1  # smoke run, seconds
    .venv/bin/python scripts/bench_text.py --sizes small --docs 5000 --measures cosine

Sizes (``--sizes``, comma list): full (200k documents, 2^18 hashed features, 50 topics,
k = 50), small (20k, 2^18, 50, 50), tiny (2,000, 2^12, 10, 10); ``--docs``, ``--features``,
``--topics`` and ``--k`` override them (``--topics`` alone sets k too).

Data
----
``kmeans_spark.datagen.make_topic_documents``: each document one topic, a Poisson number of
words (``--words``, mean 85: ~60 non-zeros after repeated words fold into counts), half from
a vocabulary every topic shares, half from the topic's own, both Zipf-like, hashed into
``--features`` columns by a fixed random map (collisions as with ``HashingTF``); then TF-IDF
with Spark ML's IDF, rows L2-normalised (``datagen.tfidf``). Rows left without weight are
dropped (MLlib's cosine refuses zero vectors) and counted. Written once with pyarrow as
Parquet with one ``features`` column Spark reads as ``SparseVector`` (the struct of
``VectorUDT`` and Spark's schema in the footer) under ``--data-dir`` (default
``bench-data/``, git-ignored), and reused.

What runs
---------
One local[2] session reads the file, repartitions it to ``--partitions`` (default 2, one per
core), caches and counts it. For each distance measure (``--measures``: cosine, i.e.
spherical k-means, the setting for text; and Euclidean), MLlib's
``pyspark.ml.clustering.KMeans`` and ours (``kmeans_spark.KMeans``, ``numPartitions`` =
``--partitions``) are fitted with the same k, seed, maxIter (20) and tol (1e-4), each with
its own default initialisation (k-means||). Every pair is fitted once untimed (warm-up: JIT,
Python workers; a pair that fails there is reported and left out), then ``--repeats`` times,
the order rotated each repeat.

Columns
-------
* MLlib min/med, ours min/med: wall seconds of ``fit()`` (minimum: the least disturbed run
  on a shared machine; median).
* ratio min/med: ours over MLlib. Goal: <= 0.3 (met: on the medians).
* SSE o/ML: the objective of ours' centres over MLlib's, both recomputed on the same
  documents with the CSR kernel (Euclidean: squared distances to the nearest centre; cosine:
  the sum of 1 - cos to the most similar centre, MLlib's cosine cost). Goal: <= 1.
* it ours, it ML: Lloyd iterations (``summary.numIter``).

JSON (``--json``, default ``bench-results/text-{size}.json``): args, versions, machine and
load average, the data's parameters and non-zeros per row, every raw timing (with the load
average before it), min/median, the recomputed objectives and each library's own cost,
ours' phases, the rows and goals, and the pairs that failed. The logic is in
scripts/benchkit/text.py.
"""

from __future__ import annotations

import sys

from benchkit.text import main  # scripts/ is sys.path[0] when this file runs

if __name__ == "__main__":
    sys.exit(main())
