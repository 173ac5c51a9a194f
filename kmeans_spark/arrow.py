"""Arrow to numpy for the feature column (no Spark: runs in the worker, tested without a JVM)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def list_column_to_matrix(
    column: pa.Array | pa.ChunkedArray,
) -> tuple[np.ndarray, int, int, np.ndarray]:
    """An Arrow ``list<double>`` column as an ``(n, d)`` float64 matrix.

    Null elements become NaN and null rows become rows of NaN (both reported as bad rows by
    the caller). Returns the matrix, ``d``, the number of rows whose length differs from
    the first non-null row's (then the matrix is empty: the input is unusable), and the
    mask of non-null rows.
    """
    n = len(column)
    if n == 0:
        return np.empty((0, 0)), 0, 0, np.ones(0, dtype=bool)
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    valid = ~column.is_null().to_numpy(zero_copy_only=False)
    lengths = column.value_lengths().to_numpy(zero_copy_only=False)
    lengths = np.where(valid, np.nan_to_num(lengths.astype(np.float64), nan=-1), -1).astype(
        np.int64
    )
    present = lengths[valid]
    dim = int(present[0]) if present.size else 0
    mismatch = int(np.count_nonzero(present != dim))
    if mismatch:
        return np.empty((0, dim)), dim, mismatch, valid
    flat = column.flatten().to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    matrix = np.full((n, dim), np.nan)
    matrix[valid] = flat.reshape(-1, dim) if dim else np.empty((int(valid.sum()), 0))
    return matrix, dim, 0, valid
