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

    Chunk by chunk into one preallocated matrix: the partition is held once as Arrow and
    once as numpy, never as a combined copy on top (this is a load task's peak memory).
    """
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    n = sum(len(c) for c in chunks)
    if n == 0:
        return np.empty((0, 0)), 0, 0, np.ones(0, dtype=bool)
    valid = np.concatenate([~c.is_null().to_numpy(zero_copy_only=False) for c in chunks])
    lengths = np.concatenate(
        [c.value_lengths().fill_null(-1).to_numpy(zero_copy_only=False) for c in chunks]
    ).astype(np.int64)
    present = lengths[valid]
    dim = int(present[0]) if present.size else 0
    mismatch = int(np.count_nonzero(present != dim))
    if mismatch:
        return np.empty((0, dim)), dim, mismatch, valid
    matrix = np.empty((n, dim))
    start = 0
    for chunk in chunks:
        rows = len(chunk)
        part = matrix[start : start + rows]
        flat = chunk.flatten().to_numpy(zero_copy_only=False)
        chunk_valid = valid[start : start + rows]
        if chunk_valid.all():
            part[:] = flat.reshape(rows, dim)
        else:
            part[:] = np.nan
            part[chunk_valid] = flat.reshape(-1, dim)
        start += rows
    return matrix, dim, 0, valid
