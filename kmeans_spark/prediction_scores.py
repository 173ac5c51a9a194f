"""The evaluator's passes over Arrow batches of predictions (no Spark: this runs in the
Python worker and is tested without a JVM).

:class:`kmeans_spark.evaluation.KMeansEvaluator` selects three columns (the features as
``list<double>``, the prediction as ``double``, the weight as ``double`` if any) and hands
each partition's batches to :func:`moments_of_batches` (pass 1: per-cluster moments, and
the rows it cannot score, counted) and :func:`separation_of_batches` (pass 2: Davies-
Bouldin's distances and Spark's silhouette). The scores themselves are those of
:mod:`kmeans_spark.kernels.scores`, which the metrics of a fit use too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from kmeans_spark.kernels.distance import PreparedCenters, normalize_rows, squared_norms
from kmeans_spark.kernels.scores import (
    ClusterMoments,
    ClusterSpread,
    SeparationSums,
    labelled_moments,
    separation_rows,
)
from kmeans_spark.load import FEATURES, WEIGHT
from kmeans_spark.scoring import rows_of

#: The prediction column of the evaluator's input (cast to double, as Spark's evaluator).
PREDICTION = "__kmeans_prediction"


@dataclass
class BatchRows:
    """One batch's usable rows (unit rows for cosine) and what was left out."""

    x: np.ndarray  # (n, d) float64
    labels: np.ndarray  # (n,) float64
    weights: np.ndarray | None  # (n,)
    bad_features: int  # null, of another length, NaN or infinite; zero vectors for cosine
    bad_predictions: int  # null
    bad_weights: int  # null, negative, NaN or infinite


def batch_rows(batch: pa.RecordBatch, dim: int, *, cosine: bool) -> BatchRows:
    """The rows of one batch as numpy, the unusable ones counted and left out."""
    x, ok = rows_of(batch.column(FEATURES), dim)
    ok &= np.isfinite(x).all(axis=1)
    if cosine:
        ok &= np.einsum("ij,ij->i", np.where(ok[:, None], x, 0.0), x) > 0
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
    rows = x[good] if not good.all() else x
    if cosine:
        rows = normalize_rows(rows)[0]
    return BatchRows(rows, labels[good], weights, bad_features, bad_predictions, bad_weights)


def first_dim(batch: pa.RecordBatch) -> int:
    """Length of the batch's first non-null feature row; -1 when it has none."""
    col = batch.column(FEATURES)
    lengths = col.value_lengths().drop_null().to_numpy(zero_copy_only=False)
    return int(lengths[0]) if lengths.size else -1


@dataclass
class PredictionMoments:
    """Pass 1 of one partition (or several, merged): the clusters' moments, the feature
    dimension (-1 when no row was seen) and the rows the evaluator cannot use."""

    moments: ClusterMoments | None
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
        found = PredictionMoments(
            labelled_moments(part.x, part.weights, part.labels) if part.labels.size else None,
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
    out = SeparationSums(np.zeros(ids.size), 0.0, 0.0)
    for batch in batches:
        if batch.num_rows == 0:
            continue
        part = batch_rows(batch, dim, cosine=cosine)
        if part.labels.size == 0:
            continue
        x = part.x - origin
        labels = np.minimum(np.searchsorted(ids, part.labels), ids.size - 1)
        if not np.array_equal(ids[labels], part.labels):
            raise RuntimeError(
                "a prediction not seen in the evaluator's first pass: the predictions changed "
                "between its two passes (a nondeterministic input); persist them first."
            )
        to_means = x @ pm.minus_two.T
        to_means += pm.sq_norms
        to_means += squared_norms(x)[:, None]
        np.maximum(to_means, 0.0, out=to_means)
        own = squared_norms(x - means[labels])
        out = out.merge(separation_rows(to_means, own, labels, part.weights, spread))
    return out
