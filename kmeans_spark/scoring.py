"""Scoring Arrow batches against a model's centres: one GEMM per batch, no per-row Python.

``KMeansModel.transform`` hands each Arrow batch of the feature column (``list<double>``)
to :func:`assign_batch`, which turns it into one ``(n, d)`` array with numpy's own
indexing (a zero-copy view when every row is present and of the model's length) and assigns
every row in tiles (:func:`kmeans_spark.kernels.distance.nearest_centers`). The old path
converted every row to a Python object first, which cost 4.7x MLlib's time on 1M x 16.

Plain pyarrow and numpy, no Spark: it runs in the Python worker and is tested without a JVM.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from kmeans_spark.kernels.distance import nearest_centers, normalize_rows

#: The Arrow type of a scored row: the cluster (null for a row that cannot be assigned) and
#: the distance to its centre (Euclidean, or ``1 - cos`` for cosine).
ASSIGNMENT_TYPE = pa.struct([("prediction", pa.int32()), ("distance", pa.float64())])


@dataclass(frozen=True)
class Scorer:
    """A model's centres laid out for scoring, once per model rather than once per batch:
    unit length for cosine, centred on their own mean (so the GEMM form keeps its precision
    for data far from zero)."""

    centers: np.ndarray  # (k, d) centres - origin
    origin: np.ndarray  # (d,)
    spherical: bool

    @classmethod
    def of(cls, centers: np.ndarray, spherical: bool) -> Scorer:
        c = np.asarray(centers, dtype=np.float64)
        if spherical:  # cosine ignores a centre's length: unit centres make |x-c|^2 = 2(1-cos)
            c = normalize_rows(c)[0]
        origin = c.mean(axis=0) if c.size else np.zeros(c.shape[1])
        return cls(centers=c - origin, origin=origin, spherical=spherical)

    @property
    def dim(self) -> int:
        return int(self.centers.shape[1])


def rows_of(column: pa.Array, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows of a ``list<double>`` column as an ``(n, dim)`` float64 array, and which rows
    are usable (present and of length ``dim``; the others are NaN rows). Null elements are
    NaN. A column of present rows of the right length is a view of Arrow's buffer."""
    n = len(column)
    lengths = column.value_lengths().fill_null(-1).to_numpy(zero_copy_only=False)
    present = lengths == dim
    values = column.flatten().to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    if present.all():
        return values.reshape(n, dim), present
    # rows of another length or null: gather the usable ones by their offsets
    offsets = column.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
    starts = offsets[:-1] - offsets[0]
    x = np.full((n, dim), np.nan)
    rows = np.flatnonzero(present)
    x[rows] = values[starts[rows, None] + np.arange(dim)]
    return x, present


def assign_batch(column: pa.Array, scorer: Scorer) -> pa.StructArray:
    """Nearest centre and distance of every row of one Arrow batch.

    A row that is null, of another length than the model's, has a null, NaN or infinite
    value, or (cosine) is a zero vector gets a null prediction and a null distance, as
    Spark's ``KMeansModel`` has no cluster for it either.
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    n = len(column)
    x, ok = rows_of(column, scorer.dim)
    ok &= np.isfinite(x).all(axis=1)
    if scorer.spherical:  # a zero vector has no direction
        ok &= np.einsum("ij,ij->i", np.where(ok[:, None], x, 0.0), x) > 0
    labels = np.zeros(n, dtype=np.int32)
    dist = np.zeros(n)
    if ok.any():
        xs = x if ok.all() else x[ok]
        if scorer.spherical:
            xs, _ = normalize_rows(xs)
        got, d2 = nearest_centers(xs - scorer.origin, scorer.centers)
        labels[ok] = got
        dist[ok] = d2 / 2.0 if scorer.spherical else np.sqrt(d2)
    missing = None if ok.all() else ~ok
    return pa.StructArray.from_arrays(
        [pa.array(labels, mask=missing), pa.array(dist, mask=missing)],
        fields=list(ASSIGNMENT_TYPE),
    )
