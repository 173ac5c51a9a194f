"""spark-submit entry point of the batch job; all logic lives in :mod:`kmeans_spark.app`.

spark-submit jobs/kmeans_job.py fit --config conf/local.toml --input data/ --output out/
"""

from __future__ import annotations

import sys

from kmeans_spark.app.cli import main

if __name__ == "__main__":
    sys.exit(main())
