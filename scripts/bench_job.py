"""The fit job end to end (issue #16): ours, ``scripts/submit.sh fit``, against the same
nightly job written with plain MLlib, ``scripts/mllib_job.py``; each run a fresh
``spark-submit`` (local[2], the same ``--driver-memory``) timed from outside, alternating.

    .venv/bin/python scripts/bench_job.py                              # job16, job64; 3 repeats
    .venv/bin/python scripts/bench_job.py --preset job16 --repeats 1
    .venv/bin/python scripts/bench_job.py --rows 100000 --repeats 1    # smoke test

Presets: job16 (2M rows x 16 features, k=10; goal ours/MLlib <= 0.6), job64 (1M x 64,
k=100; goal <= 0.3). The input (4 Parquet files of Gaussian blobs with an ``id`` column) is
generated once under bench-data/ and reused. Prints the wall times (median, min, ratio) and
each preset's phases, and writes bench-results/job.json (see scripts/benchkit/job.py).
Exit code 1 when any run failed or wrote implausible output.
"""

from __future__ import annotations

import sys

from benchkit.job import main  # scripts/ is sys.path[0] when this file runs

if __name__ == "__main__":
    sys.exit(main())
