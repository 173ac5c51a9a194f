"""``python -m kmeans_spark``: the command line (see :mod:`kmeans_spark.cli`)."""

from __future__ import annotations

import sys

from kmeans_spark.cli import main

if __name__ == "__main__":
    sys.exit(main())
