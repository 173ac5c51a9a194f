"""Arrow to numpy for the feature column (no Spark: runs in the worker, tested without a JVM)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa


@dataclass
class FeatureChunks:
    """An Arrow ``list<double>`` column as one ``(rows, d)`` float64 array per Arrow chunk.

    A chunk without null rows is a zero-copy, read-only view of Arrow's buffer; one with
    null rows is a copy whose null rows are NaN. Null elements are NaN either way. So a
    consumer can stream the partition chunk by chunk and never hold a second full copy
    (the load writes the block file this way: less memory, and no fresh pages to fault in).
    """

    parts: list[np.ndarray]
    dim: int
    mismatch: int  # rows whose length differs from the first non-null row's (then no parts)
    valid: np.ndarray  # (n,) bool: the row is not null

    @property
    def rows(self) -> int:
        return int(self.valid.size)

    def take(self, index: np.ndarray) -> np.ndarray:
        """Rows by global index, as a new ``(len(index), d)`` array."""
        starts = np.cumsum([0] + [p.shape[0] for p in self.parts])
        chunk = np.searchsorted(starts, index, side="right") - 1
        out = np.empty((index.size, self.dim))
        for i, (c, r) in enumerate(zip(chunk, index - starts[chunk], strict=True)):
            out[i] = self.parts[c][r]
        return out


def feature_chunks(column: pa.Array | pa.ChunkedArray) -> FeatureChunks:
    """The column's chunks as float64 arrays; see :class:`FeatureChunks`."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    chunks = [c for c in chunks if len(c)]
    if not chunks:
        return FeatureChunks([], 0, 0, np.ones(0, dtype=bool))
    valid = np.concatenate([~c.is_null().to_numpy(zero_copy_only=False) for c in chunks])
    lengths = np.concatenate(
        [c.value_lengths().fill_null(-1).to_numpy(zero_copy_only=False) for c in chunks]
    ).astype(np.int64)
    present = lengths[valid]
    dim = int(present[0]) if present.size else 0
    mismatch = int(np.count_nonzero(present != dim))
    if mismatch:
        return FeatureChunks([], dim, mismatch, valid)
    parts = []
    start = 0
    for chunk in chunks:
        rows = len(chunk)
        flat = chunk.flatten().to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
        chunk_valid = valid[start : start + rows]
        if chunk_valid.all():
            parts.append(flat.reshape(rows, dim))
        else:
            part = np.full((rows, dim), np.nan)
            part[chunk_valid] = flat.reshape(-1, dim)
            parts.append(part)
        start += rows
    return FeatureChunks(parts, dim, 0, valid)
