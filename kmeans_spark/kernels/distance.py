"""Distances between rows and centres: the GEMM form in cache-sized tiles, and exact ones.

Every kernel that assigns rows walks them with :func:`row_tiles`, so the tile size, the
scratch buffer and the dtype rules live here once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.floating]
F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

#: Bytes of the (rows x k) distance tile computed at once. Small enough to stay in L2/L3
#: cache on a typical core, large enough for BLAS to run at full speed.
DISTANCE_TILE_BYTES = 4 * 1024 * 1024


def chunk_rows(k: int, tile_bytes: int = DISTANCE_TILE_BYTES) -> int:
    """Rows per chunk so that a (rows x k) float64 distance tile fits ``tile_bytes``."""
    return int(max(1024, min(65536, tile_bytes // (8 * max(k, 1)))))


def row_tiles(
    x: FloatArray, k: int, chunk: int | None = None
) -> Iterator[tuple[int, int, np.ndarray]]:
    """``(start, stop, scratch)`` for consecutive tiles of ``x``'s rows; ``scratch`` is one
    ``(rows, k)`` buffer in ``x``'s dtype, reused by every tile (no allocation per tile)."""
    n = x.shape[0]
    if n == 0:
        return
    step = chunk or chunk_rows(k)
    scratch = np.empty((min(step, n), k), dtype=x.dtype)
    for start in range(0, n, step):
        yield start, min(start + step, n), scratch


def squared_norms(x: FloatArray) -> F64:
    """Row-wise squared Euclidean norms as float64 (computed in ``x``'s own precision: a
    float32 block's distances are float32-accurate anyway, and a float64 copy of the block
    would cost more than the distances)."""
    return np.einsum("ij,ij->i", x, x).astype(np.float64, copy=False)


def origin_or_zero(origin: F64 | None, d: int) -> F64:
    """The block's origin (see the package docstring), zeros when it is not centred."""
    return np.zeros(d) if origin is None else np.asarray(origin, dtype=np.float64)


@dataclass(frozen=True)
class PreparedCenters:
    """Centres laid out for the GEMM form, once per pass rather than once per tile:
    ``-2 c`` in the block's dtype (so one product gives ``-2 x.c``) and ``|c|^2``."""

    minus_two: FloatArray  # (k, d), the block's dtype
    sq_norms: FloatArray  # (k,), the block's dtype

    @classmethod
    def of(cls, centers: FloatArray, dtype: np.dtype | type = np.float64) -> PreparedCenters:
        c = np.asarray(centers, dtype=np.float64)
        return cls(
            minus_two=np.ascontiguousarray(-2.0 * c, dtype=dtype),
            sq_norms=squared_norms(c).astype(dtype),
        )


def distance_tile(xc: FloatArray, pc: PreparedCenters, tile: np.ndarray) -> np.ndarray:
    """``|c|^2 - 2 x.c`` for one tile of rows against every centre (``tile`` is scratch):
    the squared distances less each row's own ``|x|^2``, which argmin does not need."""
    out = tile[: xc.shape[0]]
    np.matmul(xc, pc.minus_two.T, out=out)
    out += pc.sq_norms
    return out


def nearest_tile(xc: FloatArray, pc: PreparedCenters, tile: np.ndarray) -> tuple[I64, F64]:
    """Nearest centre and squared distance for one tile of rows (``tile`` is scratch)."""
    out = distance_tile(xc, pc, tile)
    labels = np.argmin(out, axis=1)
    best = np.take_along_axis(out, labels[:, None], axis=1)[:, 0].astype(np.float64)
    best += squared_norms(xc)
    np.maximum(best, 0.0, out=best)
    return labels, best


def two_nearest_tile(xc: FloatArray, pc: PreparedCenters, tile: np.ndarray) -> tuple[I64, F64]:
    """Nearest centre of each row and the squared distance to the *second* nearest (the
    lower bound pruning starts from); ``inf`` when there is one centre."""
    out = distance_tile(xc, pc, tile)
    labels = np.argmin(out, axis=1)
    if out.shape[1] == 1:
        return labels, np.full(xc.shape[0], np.inf)
    np.put_along_axis(out, labels[:, None], np.inf, axis=1)
    second = out.min(axis=1).astype(np.float64) + squared_norms(xc)
    return labels, np.maximum(second, 0.0)


def nearest_centers(
    x: FloatArray,
    centers: FloatArray,
    chunk: int | None = None,
) -> tuple[I64, F64]:
    """Index of the nearest centre and the squared distance to it, for every row of ``x``.

    Uses the GEMM form ``|x|^2 - 2 x.c + |c|^2`` in tiles of ``chunk`` rows, so the work is
    one matrix product per tile. The product runs in ``x``'s dtype (float32 blocks compute
    in float32); distances come back as float64, clamped at zero (the GEMM form can go
    slightly negative through rounding when a point sits on a centre).

    Parameters
    ----------
    x : ndarray of shape (n, d)
    centers : ndarray of shape (k, d)
    chunk : int, optional
        Rows per tile; defaults to :func:`chunk_rows`.

    Returns
    -------
    labels : ndarray of shape (n,), int64
    min_sq_dist : ndarray of shape (n,), float64
    """
    n = x.shape[0]
    labels = np.empty(n, dtype=np.int64)
    min_d2 = np.empty(n, dtype=np.float64)
    pc = PreparedCenters.of(centers, x.dtype)
    for start, stop, tile in row_tiles(x, centers.shape[0], chunk):
        labels[start:stop], min_d2[start:stop] = nearest_tile(x[start:stop], pc, tile)
    return labels, min_d2


def exact_sq_dist(points: FloatArray, centers: FloatArray) -> F64:
    """``|p - c|^2`` row by row, by difference: exactly 0 for a point on its centre
    (computed in the inputs' dtype, returned as float64)."""
    diff = points - centers
    return np.einsum("ij,ij->i", diff, diff).astype(np.float64, copy=False)


def exact_pairwise_sq_dist(c: F64) -> F64:
    """(k x k) squared distances by difference: exact where the GEMM form is not, at
    ``k^2 d`` flops on the driver (~20 ms at k=1000, d=32; measured)."""
    out = np.empty((c.shape[0], c.shape[0]))
    for j in range(c.shape[0]):
        out[j] = exact_sq_dist(c, c[j])
    return out


def top_indices(values: F64, m: int) -> I64:
    """Indices of the ``m`` largest values, largest first (ties by lower index)."""
    if m <= 0 or values.size == 0:
        return np.empty(0, dtype=np.int64)
    idx = np.argpartition(-values, m - 1)[:m] if values.size > m else np.arange(values.size)
    order = np.lexsort((idx, -values[idx]))
    return idx[order].astype(np.int64)


def normalize_rows(x: np.ndarray) -> tuple[np.ndarray, NDArray[np.bool_]]:
    """Rows scaled to unit length (a new array), and the mask of zero rows (left at 0)."""
    norms = np.sqrt(squared_norms(x))
    zero = norms == 0
    safe = np.where(zero, 1.0, norms).astype(x.dtype, copy=False)
    return x / safe[:, None], zero
