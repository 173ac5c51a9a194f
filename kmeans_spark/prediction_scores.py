"""The evaluator's passes over Arrow batches of predictions (no Spark: this runs in the
Python worker and is tested without a JVM).

:class:`kmeans_spark.evaluation.KMeansEvaluator` selects three columns (the features as
``list<double>``, or as Spark's vector struct when they are sparse vectors; the prediction
as ``double``; the weight as ``double`` if any) and hands each partition's batches to
:func:`moments_of_batches` (pass 1: per-cluster moments, and the rows it cannot score,
counted) and :func:`separation_of_batches` (pass 2: Davies-Bouldin's distances and Spark's
silhouette). The scores themselves are those of :mod:`kmeans_spark.kernels.scores`, which
the metrics of a fit use too.

A batch of sparse vectors becomes CSR rows (:func:`vector_rows`) and runs the CSR twins
the fit's metrics run (:mod:`kmeans_spark.kernels.sparse`: ``labelled_moments``'s sparse
per-cluster sums, ``labelled_separation`` against the dense means), picked per batch, so
a task holds its batch's non-zeros plus ``k x d``, never ``rows x d``: the evaluator
scores 2**18 hashed TF-IDF features as the fit clusters them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from kmeans_spark.arrow import SPARSE_MAX_DENSITY, sparse_chunks
from kmeans_spark.kernels import scores
from kmeans_spark.kernels import sparse as csr
from kmeans_spark.kernels.distance import PreparedCenters, normalize_rows, squared_norms
from kmeans_spark.kernels.scores import (
    ClusterMoments,
    ClusterSpread,
    SeparationSums,
    ToMoments,
    separation_rows,
)
from kmeans_spark.load import FEATURES, WEIGHT
from kmeans_spark.scoring import rows_of, vector_sizes

#: The prediction column of the evaluator's input (cast to double, as Spark's evaluator).
PREDICTION = "__kmeans_prediction"


@dataclass
class BatchRows:
    """One batch's usable rows (unit rows for cosine) and what was left out. ``x`` is
    dense, or CSR when the batch held sparse vectors (:func:`vector_rows`)."""

    x: Any  # (n, d) float64 ndarray, or scipy.sparse CSR array
    labels: np.ndarray  # (n,) float64
    weights: np.ndarray | None  # (n,)
    bad_features: int  # null, of another length, NaN or infinite; zero vectors for cosine
    bad_predictions: int  # null
    bad_weights: int  # null, negative, NaN or infinite


def vector_rows(column: pa.StructArray, dim: int) -> tuple[Any, np.ndarray, np.ndarray]:
    """Spark's vector struct (a ``VectorUDT`` column kept as vectors) as rows.

    Returns ``x``, ``index`` and ``ok``: row ``i`` of ``x`` is batch row ``index[i]``;
    ``ok`` (``(n,)``) marks the rows of length ``dim`` whose values are all finite and
    whose indices are sound. A batch of dense vectors alone is its ``values`` lists (as a
    ``list<double>`` column); any sparse vector makes the batch's rows of length ``dim``
    CSR (:func:`~kmeans_spark.arrow.sparse_chunks`), densified only when they store more
    than :data:`~kmeans_spark.arrow.SPARSE_MAX_DENSITY` of their cells, the fit's rule
    (so a dense copy is at most 10 times the batch's non-zeros, never ``2**18`` columns of
    empty cells).
    """
    n = len(column)
    sizes, dense = vector_sizes(column)
    usable = sizes == dim
    if not usable.any() or dense[usable].all():
        x, present = rows_of(column.field("values"), dim)
        ok = present & usable
        ok &= np.isfinite(np.where(ok[:, None], x, 0.0)).all(axis=1)
        return x, np.arange(n), ok
    index = np.flatnonzero(usable)
    chunks = sparse_chunks(column if index.size == n else column.filter(pa.array(usable)), dim)
    ok = np.zeros(n, dtype=bool)
    ok[index] = ~chunks.bad
    if chunks.nnz > SPARSE_MAX_DENSITY * chunks.rows * dim:
        parts = chunks.densified().parts
        return (parts[0] if len(parts) == 1 else np.concatenate(parts)), index, ok
    return chunks.block(), index, ok


def batch_rows(batch: pa.RecordBatch, dim: int, *, cosine: bool) -> BatchRows:
    """The rows of one batch as numpy (CSR for sparse vectors), the unusable ones counted
    and left out."""
    column = batch.column(FEATURES)
    if pa.types.is_struct(column.type):
        x, index, ok = vector_rows(column, dim)
    else:
        x, ok = rows_of(column, dim)
        ok &= np.isfinite(x).all(axis=1)
        index = np.arange(len(column))
    if cosine:
        if sp.issparse(x):
            norms = csr.squared_norms(x)
        else:
            norms = np.einsum("ij,ij->i", np.where(ok[index, None], x, 0.0), x)
        ok[index[norms <= 0]] = False
    bad_features = int(np.count_nonzero(~ok))
    pred = batch.column(PREDICTION)
    labels = pred.fill_null(np.nan).to_numpy(zero_copy_only=False).astype(np.float64)
    has_label = ~np.isnan(labels)
    good = ok & has_label
    bad_predictions = int(np.count_nonzero(~has_label))
    weights = None
    bad_weights = 0
    if WEIGHT in batch.schema.names:
        w = batch.column(WEIGHT).fill_null(np.nan).to_numpy(zero_copy_only=False)
        w = w.astype(np.float64)
        fine = np.isfinite(w) & (w >= 0)
        bad_weights = int(np.count_nonzero(~fine))
        good &= fine
        weights = w[good]
    pick = good[index]  # the rows of x to keep, in batch order (good rows all have one)
    rows = x
    if not pick.all():
        rows = csr.as_csr(x[np.flatnonzero(pick)]) if sp.issparse(x) else x[pick]
    if cosine:
        rows = csr.normalize_rows(rows)[0] if sp.issparse(rows) else normalize_rows(rows)[0]
    return BatchRows(rows, labels[good], weights, bad_features, bad_predictions, bad_weights)


def first_dim(batch: pa.RecordBatch) -> int:
    """Length of the batch's first non-null feature row; -1 when it has none."""
    col = batch.column(FEATURES)
    if pa.types.is_struct(col.type):
        sizes = vector_sizes(col)[0]
        present = sizes[sizes >= 0]
        return int(present[0]) if present.size else -1
    lengths = col.value_lengths().drop_null().to_numpy(zero_copy_only=False)
    return int(lengths[0]) if lengths.size else -1


@dataclass
class PredictionMoments:
    """Pass 1 of one partition (or several, merged): the clusters' moments, the feature
    dimension (-1 when no row was seen) and the rows the evaluator cannot use."""

    #: ``ToMoments``: the sparse sums of CSR batches, until they meet a dense batch's
    moments: ClusterMoments | ToMoments | None
    dim: int = -1
    rows: int = 0
    bad_features: int = 0
    bad_predictions: int = 0
    bad_weights: int = 0
    dims: tuple[int, ...] = ()  # every dimension seen, for the message

    def merge(self, other: PredictionMoments) -> PredictionMoments:
        if self.moments is None:
            moments = other.moments
        elif other.moments is None:
            moments = self.moments
        else:
            moments = self.moments.merge(other.moments)
        dims = tuple(sorted(set(self.dims) | set(other.dims)))
        return PredictionMoments(
            moments=moments if len(dims) <= 1 else None,
            dim=dims[0] if dims else -1,
            rows=self.rows + other.rows,
            bad_features=self.bad_features + other.bad_features,
            bad_predictions=self.bad_predictions + other.bad_predictions,
            bad_weights=self.bad_weights + other.bad_weights,
            dims=dims,
        )


def moments_of_batches(batches: Iterable[pa.RecordBatch], *, cosine: bool) -> PredictionMoments:
    """Pass 1 over one partition's batches. The partition's feature dimension is its first
    row's; rows of another length count as bad features."""
    out = PredictionMoments(None)
    dim = -1
    for batch in batches:
        if batch.num_rows == 0:
            continue
        if dim < 0:
            dim = first_dim(batch)
        part = batch_rows(batch, max(dim, 0), cosine=cosine)
        kernels: Any = csr if sp.issparse(part.x) else scores  # the CSR twin for CSR rows
        found = PredictionMoments(
            kernels.labelled_moments(part.x, part.weights, part.labels)
            if part.labels.size
            else None,
            dim=dim,
            rows=batch.num_rows,
            bad_features=part.bad_features,
            bad_predictions=part.bad_predictions,
            bad_weights=part.bad_weights,
            dims=(dim,) if dim >= 0 else (),
        )
        out = out.merge(found)
    return out


def separation_of_batches(
    batches: Iterable[pa.RecordBatch],
    *,
    cosine: bool,
    ids: np.ndarray,
    spread: ClusterSpread,
) -> SeparationSums:
    """Pass 2 over one partition's batches, with the merged clusters of pass 1 (``ids``
    sorted, as :class:`ClusterMoments` keeps them). Assumes pass 1 found no bad rows."""
    dim = spread.means.shape[1]
    # centred on the means' mean: the GEMM form keeps its precision for data far from zero
    origin = spread.means.mean(axis=0)
    means = spread.means - origin
    pm = PreparedCenters.of(means)
    sparse_means: csr.PreparedCenters | None = None  # uncentred: CSR rows stay sparse
    out = SeparationSums(np.zeros(ids.size), 0.0, 0.0)
    for batch in batches:
        if batch.num_rows == 0:
            continue
        part = batch_rows(batch, dim, cosine=cosine)
        if part.labels.size == 0:
            continue
        labels = np.minimum(np.searchsorted(ids, part.labels), ids.size - 1)
        if not np.array_equal(ids[labels], part.labels):
            raise RuntimeError(
                "a prediction not seen in the evaluator's first pass: the predictions changed "
                "between its two passes (a nondeterministic input); persist them first."
            )
        if sp.issparse(part.x):
            if sparse_means is None:  # once per task, on its first CSR batch
                sparse_means = csr.PreparedCenters.of(spread.means)
            out = out.merge(
                csr.labelled_separation(part.x, part.weights, labels, spread, prepared=sparse_means)
            )
            continue
        x = part.x - origin
        to_means = x @ pm.minus_two.T
        to_means += pm.sq_norms
        to_means += squared_norms(x)[:, None]
        np.maximum(to_means, 0.0, out=to_means)
        own = squared_norms(x - means[labels])
        out = out.merge(separation_rows(to_means, own, labels, part.weights, spread))
    return out
