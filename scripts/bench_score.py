"""Scoring benchmark: ``KMeansModel.transform`` of ours, on each of its paths (JVM, Arrow),
against Spark MLlib's, same centres, same cached DataFrame, one SparkSession, written to
Spark's ``noop`` sink; min and median of several runs after a warm-up, and a count of the
labels of each path that differ from MLlib's.

    .venv/bin/python scripts/bench_score.py                       # score16, score64, score1000
    .venv/bin/python scripts/bench_score.py --preset score16 --repeats 5
    .venv/bin/python scripts/bench_score.py --sweep               # JVM vs Arrow over k x d

Prints a table per preset (or per grid point) and writes bench-results/score.json (or
score-sweep.json); see scripts/benchkit/score.py.
"""

from __future__ import annotations

import sys

from benchkit.score import main  # scripts/ is sys.path[0] when this file runs

if __name__ == "__main__":
    sys.exit(main())
