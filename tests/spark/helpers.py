"""Helpers for Spark tests: DataFrames spread over several partitions, one of them empty."""

from __future__ import annotations

import glob
import logging
import os
from typing import Any

import numpy as np


def frame(
    spark: Any,
    x: np.ndarray,
    *,
    partitions: int = 3,
    weights: np.ndarray | None = None,
    as_vector: bool = False,
) -> Any:
    """A DataFrame of ``x`` over ``partitions`` non-empty partitions plus one empty one.

    Columns ``x0..x{d-1}`` (or one ``features`` vector column) and ``w`` if weighted.
    """
    from pyspark.ml.linalg import Vectors

    rows: list[tuple[Any, ...]] = []
    for i, r in enumerate(x.tolist()):
        row: tuple[Any, ...] = (Vectors.dense(r),) if as_vector else tuple(r)
        if weights is not None:
            row += (float(weights[i]),)
        rows.append(row)
    names = ["features"] if as_vector else [f"x{i}" for i in range(x.shape[1])]
    if weights is not None:
        names.append("w")
    sc = spark.sparkContext
    rdd = sc.parallelize(rows, partitions).union(sc.parallelize([], 1))
    df = spark.createDataFrame(rdd, schema=names) if rows else None
    assert df is not None and df.rdd.getNumPartitions() == partitions + 1
    return df


def cols(d: int) -> list[str]:
    return [f"x{i}" for i in range(d)]


def sorted_rows(c: np.ndarray) -> np.ndarray:
    """Centres in a label-independent order, for comparing clusterings."""
    c = np.asarray(c)
    return c[np.lexsort(c.T[::-1])]


def local_root(spark: Any) -> str:
    """The first local directory the Python workers get (SPARK_LOCAL_DIRS), asked of a task."""
    dirs = (
        spark.sparkContext.parallelize([0], 1)
        .map(lambda _: os.environ.get("SPARK_LOCAL_DIRS", ""))
        .collect()[0]
    )
    return str(dirs.split(",")[0])


class DeleteOnLog(logging.Handler):
    """Deletes files matching ``pattern`` when the first record starting with ``prefix`` is
    logged: a stand-in for an executor losing its local files in the middle of a fit. Files
    that matched already when it was made (another fit's) are left alone."""

    def __init__(self, prefix: str, pattern: str) -> None:
        super().__init__()
        self.prefix, self.pattern, self.deleted = prefix, pattern, 0
        self.existing = set(glob.glob(pattern))

    def emit(self, record: logging.LogRecord) -> None:
        if self.deleted == 0 and record.getMessage().startswith(self.prefix):
            for path in sorted(set(glob.glob(self.pattern)) - self.existing):
                os.unlink(path)
                self.deleted += 1
