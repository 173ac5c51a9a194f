"""spark-submit entry point of ``recommend`` alone; all logic lives in
:mod:`kmeans_spark.app.recommend` (``jobs/kmeans_job.py recommend ...`` is the same run).

spark-submit jobs/recommend_movies.py --movies movies.csv --keywords "space alien invasion" \
    --k 20 --top 10 --output out/recommend
"""

from __future__ import annotations

import sys

from kmeans_spark.app.cli import main


def recommend_main(argv: list[str] | None = None) -> int:
    """The command line of ``recommend``, without the command's name."""
    return main(["recommend", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(recommend_main())
