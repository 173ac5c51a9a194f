"""``python -m kmeans_spark``: the batch job's command line (see :mod:`kmeans_spark.app.cli`)."""

from __future__ import annotations

import sys

from kmeans_spark.app.cli import main

if __name__ == "__main__":
    sys.exit(main())
