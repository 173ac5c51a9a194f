"""Clustering scores from per-cluster aggregates: SSE, Calinski-Harabasz, Davies-Bouldin,
Spark's silhouette (exact, from cluster aggregates) and scikit-learn's on a sample.

Pure numpy. The passes that call these live in :mod:`kmeans_spark.metrics` (over resident
blocks) and :mod:`kmeans_spark.evaluation` (over a DataFrame of predictions). Two passes
give everything:

1. :func:`assignment_block`: each row's nearest centre in each of R centre sets (one GEMM
   per tile against the stacked centres), and per cluster the :class:`ClusterMoments`
   (count, weight, mean, second moment about the mean), plus the block's share of a
   seeded row sample (:class:`RowSample`).
2. :func:`separation_block`: with the merged means known (:class:`ClusterSpread`), each
   row's exact distance to its cluster's mean (Davies-Bouldin's intra-cluster distance)
   and its Spark silhouette, from the distances to every mean (one more GEMM per tile).

Every distance a score depends on closely is computed by difference, not in the GEMM
form: a row's squared distance to its own centre or mean (SSE, the moments, DB's mean
distance, the own-cluster term of the silhouette). The GEMM form only ranks centres and
gives the distances to the *other* clusters' means, where the average squared distance
is dominated by the cluster's variance. The moments merge with Chan's update, so blocks
with different origins (blocks are stored as ``points - origin``) merge without loss.

Weights count as repetitions: with integer weights SSE, Calinski-Harabasz and Davies-
Bouldin equal the unweighted scores of the data with each row repeated ``w`` times. Spark's
weighted silhouette is Spark's own rule (a row leaves its whole weight out of its own
cluster's average), matched exactly.

Cosine (spherical) fits run the same code on unit rows: the squared Euclidean distance of
unit vectors is ``2 (1 - cos)``, so every average distance of Spark's cosine silhouette
is half the squared-Euclidean one, and the ratios it is made of are the same.

CSR blocks have twins of both passes in :mod:`kmeans_spark.kernels.sparse` (same names,
same results up to rounding), picked once per block; their moments travel as sparse sums
(:class:`~kmeans_spark.kernels.sparse.SparseClusterMoments`) until they meet a dense
block's, and the row sample stays CSR. :func:`silhouette_samples` takes a dense or a CSR
sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp

from kmeans_spark.kernels.distance import (
    F64,
    I64,
    FloatArray,
    PreparedCenters,
    chunk_rows,
    distance_tile,
    exact_pairwise_sq_dist,
    origin_or_zero,
    row_tiles,
    squared_norms,
)
from kmeans_spark.kernels.step import RunLayout

#: Bytes of one (rows x sample) distance tile of the sample silhouette.
SAMPLE_TILE_BYTES = 32 * 1024 * 1024


# --------------------------------------------------------------------------- moments


class ToMoments(Protocol):
    """Moments kept another way (a CSR block's sparse sums,
    :class:`~kmeans_spark.kernels.sparse.SparseClusterMoments`): they merge with their
    like, and become :class:`ClusterMoments` when they meet a dense block's."""

    def to_moments(self) -> ClusterMoments: ...

    def merge(self, other: Any) -> ClusterMoments | ToMoments: ...


def as_moments(m: ClusterMoments | ToMoments) -> ClusterMoments:
    """``m`` as :class:`ClusterMoments` (no copy when it already is)."""
    return m if isinstance(m, ClusterMoments) else m.to_moments()


@dataclass
class ClusterMoments:
    """Per cluster: rows, summed weight, weighted mean and ``m2 = sum w |x - mean|^2``.

    ``ids`` name the clusters: ``0..k-1`` for a centre set, the distinct prediction values
    for the evaluator. Merging is Chan's parallel update (exact in exact arithmetic, and
    stable: no sums of squared norms about a far-away origin are ever subtracted).
    A cluster of weight 0 has mean 0 and ``m2`` 0, and is not :attr:`present`.
    """

    ids: F64  # (k,)
    counts: I64  # (k,)
    weights: F64  # (k,)
    means: F64  # (k, d)
    m2: F64  # (k,)

    @classmethod
    def zeros(cls, ids: F64, d: int) -> ClusterMoments:
        k = ids.size
        return cls(
            ids=np.asarray(ids, dtype=np.float64),
            counts=np.zeros(k, dtype=np.int64),
            weights=np.zeros(k),
            means=np.zeros((k, d)),
            m2=np.zeros(k),
        )

    @property
    def present(self) -> np.ndarray:
        """Clusters with positive weight: the clusters every score is about."""
        return self.weights > 0

    @property
    def sums(self) -> F64:
        """``(k, d)`` weighted sums of the rows."""
        return self.weights[:, None] * self.means

    @property
    def sq_norm_sums(self) -> F64:
        """``(k,)`` weighted sums of the rows' squared norms."""
        return self.m2 + self.weights * squared_norms(self.means)

    def sse_about(self, centers: F64) -> F64:
        """``(k,)`` ``sum w |x - c|^2`` about ``centers`` (parallel-axis theorem)."""
        diff = self.means - centers
        return np.where(self.present, self.m2 + self.weights * squared_norms(diff), 0.0)

    def aligned(self, ids: F64) -> ClusterMoments:
        """These moments on ``ids`` (a sorted superset of :attr:`ids`), zero elsewhere."""
        if np.array_equal(ids, self.ids):
            return self
        out = ClusterMoments.zeros(ids, self.means.shape[1])
        at = np.searchsorted(ids, self.ids)
        out.counts[at], out.weights[at] = self.counts, self.weights
        out.means[at], out.m2[at] = self.means, self.m2
        return out

    def merge(self, other: ClusterMoments | ToMoments) -> ClusterMoments:
        """The moments of both parts together (neither input is modified); ``other`` may be
        a CSR block's (:class:`ToMoments`)."""
        other = as_moments(other)
        ids = self.ids if np.array_equal(self.ids, other.ids) else np.union1d(self.ids, other.ids)
        a, b = self.aligned(ids), other.aligned(ids)
        w = a.weights + b.weights
        share_b = np.divide(b.weights, w, out=np.zeros_like(w), where=w > 0)
        delta = b.means - a.means
        means = np.where(
            (a.weights > 0)[:, None], a.means + delta * share_b[:, None], b.means
        )  # exactly b's mean when a is empty
        m2 = a.m2 + b.m2 + squared_norms(delta) * a.weights * share_b
        return ClusterMoments(
            ids=ids,
            counts=a.counts + b.counts,
            weights=w,
            means=np.where((w > 0)[:, None], means, 0.0),
            m2=np.where(w > 0, m2, 0.0),
        )


class _DeviationSums:
    """Per-cluster sums of a block's rows about fixed reference points (a run's centres),
    tile by tile: counts, weights, ``sum w (x - ref)`` and ``sum w |x - ref|^2``, all by
    difference, so they are exact however far the data lie from zero."""

    def __init__(self, ref: F64) -> None:
        k, d = ref.shape
        self.ref = ref
        self.counts = np.zeros(k, dtype=np.int64)
        self.weights = np.zeros(k)
        self.dev = np.zeros((k, d))
        self.dev_sq = np.zeros(k)

    def add(self, x64: F64, w: F64 | None, labels: I64) -> None:
        rows, k = x64.shape[0], self.ref.shape[0]
        data = np.ones(rows) if w is None else w
        diff = x64 - self.ref[labels]
        # one entry per column: CSC needs no sorting (as kernels.step's accumulator)
        onehot = sp.csc_matrix((data, labels, np.arange(rows + 1)), shape=(k, rows))
        self.dev += onehot @ diff
        self.counts += np.bincount(labels, minlength=k)
        self.weights += np.bincount(labels, weights=data, minlength=k)
        self.dev_sq += np.bincount(labels, weights=data * squared_norms(diff), minlength=k)

    def moments(self, ids: F64, shift: F64) -> ClusterMoments:
        """As :class:`ClusterMoments`, means in original coordinates (``+ shift``)."""
        w = self.weights
        filled = w > 0
        mean_dev = np.divide(
            self.dev, w[:, None], out=np.zeros_like(self.dev), where=filled[:, None]
        )
        m2 = np.maximum(self.dev_sq - np.einsum("ij,ij->i", self.dev, mean_dev), 0.0)
        return ClusterMoments(
            ids=ids,
            counts=self.counts,
            weights=w,
            means=np.where(filled[:, None], self.ref + mean_dev + shift, 0.0),
            m2=np.where(filled, m2, 0.0),
        )


def labelled_moments(x: FloatArray, w: F64 | None, labels: F64) -> ClusterMoments:
    """The moments of rows with given cluster labels (the evaluator's first pass).

    Each cluster's deviations are taken about its plain mean in these rows, so they are
    exact; parts merge with :meth:`ClusterMoments.merge`.
    """
    ids, index = np.unique(labels, return_inverse=True)
    x64 = np.asarray(x, dtype=np.float64)
    counts = np.bincount(index, minlength=ids.size)
    onehot = sp.csc_matrix(
        (np.ones(index.size), index, np.arange(index.size + 1)), shape=(ids.size, index.size)
    )
    ref = (onehot @ x64) / np.maximum(counts, 1)[:, None]
    acc = _DeviationSums(ref)
    acc.add(x64, None if w is None else np.asarray(w, dtype=np.float64), index)
    return acc.moments(ids.astype(np.float64), np.zeros(x64.shape[1]))


# --------------------------------------------------------------------------- centre sets


@dataclass(frozen=True)
class StackedCenters:
    """R centre sets as one ``(sum k_r, d)`` matrix laid out by a
    :class:`~kmeans_spark.kernels.step.RunLayout` (the sweep's Lloyd passes use the same):
    one GEMM per tile ranks every run's centres, and run ``r`` owns its layout slice."""

    centers: F64  # (K, d) original coordinates
    layout: RunLayout

    @classmethod
    def of(cls, centers_list: Sequence[FloatArray]) -> StackedCenters:
        return cls(
            centers=np.concatenate([np.asarray(c, dtype=np.float64) for c in centers_list]),
            layout=RunLayout.of([int(np.shape(c)[0]) for c in centers_list]),
        )

    @property
    def runs(self) -> int:
        return self.layout.runs

    def run(self, r: int) -> slice:
        return slice(self.layout.offsets[r], self.layout.offsets[r + 1])

    def sizes(self) -> list[int]:
        return [s.stop - s.start for s in self.layout.slices()]


def _labels_per_run(
    xc: FloatArray, pc: PreparedCenters, stacked: StackedCenters, tile: np.ndarray
) -> list[I64]:
    out = distance_tile(xc, pc, tile)
    return [np.argmin(out[:, stacked.run(r)], axis=1) for r in range(stacked.runs)]


# --------------------------------------------------------------------------- the sample


@dataclass
class RowSample:
    """A weighted sample of ``size`` rows without replacement (Efraimidis-Spirakis keys,
    as :func:`kmeans_spark.kernels.init.sampling_keys`): blocks merge by keeping the
    largest keys. ``position`` is each row's (partition, row index); ``labels[r]`` its
    nearest centre in run ``r``; ``rows`` in original coordinates, dense, or CSR once a
    sparse block's rows are among them (a dense block's rows then become CSR rows: a
    sample of ``m`` rows of ``2**18`` hashed features must never be dense)."""

    size: int
    keys: F64  # (m,)
    position: I64  # (m, 2)
    rows: Any  # (m, d) ndarray, or scipy.sparse CSR array
    labels: I64  # (R, m)

    @classmethod
    def empty(cls, size: int, d: int, runs: int) -> RowSample:
        return cls(
            size=size,
            keys=np.empty(0),
            position=np.empty((0, 2), dtype=np.int64),
            rows=np.empty((0, d)),
            labels=np.empty((runs, 0), dtype=np.int64),
        )

    def merge(self, other: RowSample) -> RowSample:
        keys = np.concatenate([self.keys, other.keys])
        position = np.concatenate([self.position, other.position])
        # the largest keys; ties by position, so the result never depends on merge order
        order = np.lexsort((position[:, 1], position[:, 0], -keys))[: self.size]
        if sp.issparse(self.rows) or sp.issparse(other.rows):
            both = sp.vstack([sp.csr_array(self.rows), sp.csr_array(other.rows)], format="csr")
            rows = sp.csr_array(both[order])
        else:
            rows = np.concatenate([self.rows, other.rows])[order]
        return RowSample(
            size=self.size,
            keys=keys[order],
            position=position[order],
            rows=rows,
            labels=np.concatenate([self.labels, other.labels], axis=1)[:, order],
        )

    def in_data_order(self) -> RowSample:
        """The same rows ordered by (partition, row): the data itself when all were taken."""
        order = np.lexsort((self.position[:, 1], self.position[:, 0]))
        return RowSample(
            self.size,
            self.keys[order],
            self.position[order],
            sp.csr_array(self.rows[order]) if sp.issparse(self.rows) else self.rows[order],
            self.labels[:, order],
        )


def block_sample_rows(keys: F64, size: int) -> I64:
    """Indices (ascending) of a block's ``size`` largest finite keys."""
    if size <= 0 or keys.size == 0:
        return np.empty(0, dtype=np.int64)
    take = np.argpartition(-keys, size - 1)[:size] if keys.size > size else np.arange(keys.size)
    take = take[np.isfinite(keys[take])]
    return np.sort(take).astype(np.int64)


# --------------------------------------------------------------------------- pass 1


@dataclass
class AssignmentPass:
    """Pass 1 of the metrics: per run, the moments of the clusters of the nearest centres;
    and the row sample with its labels."""

    moments: list[ClusterMoments | ToMoments]  # ToMoments: a CSR block's, until merged
    sample: RowSample

    def merge(self, other: AssignmentPass) -> AssignmentPass:
        return AssignmentPass(
            moments=[a.merge(b) for a, b in zip(self.moments, other.moments, strict=True)],
            sample=self.sample.merge(other.sample),
        )


def assignment_block(
    x: FloatArray,
    w: F64 | None,
    stacked: StackedCenters,
    *,
    origin: F64 | None,
    sample_keys: F64,
    sample_size: int,
    partition: int,
    chunk: int | None = None,
) -> tuple[AssignmentPass, np.ndarray]:
    """One block's pass 1 for every run of ``stacked``, and the ``(R, n)`` labels (for
    :func:`separation_block`, which otherwise assigns the rows again).

    Parameters
    ----------
    x : ndarray of shape (n, d)
        The block, stored as ``points - origin`` (float32 or float64).
    w : ndarray of shape (n,) or None
    stacked : StackedCenters
        Centres in original coordinates (unit length for a cosine fit).
    sample_keys : ndarray of shape (n,)
        The rows' sampling keys (``-inf``: never sampled).
    """
    d = x.shape[1]
    shift = origin_or_zero(origin, d)
    centers = stacked.centers - shift
    pc = PreparedCenters.of(centers, x.dtype)
    sums = [_DeviationSums(centers[stacked.run(r)]) for r in range(stacked.runs)]
    take = block_sample_rows(sample_keys, sample_size)
    all_labels = np.empty((stacked.runs, x.shape[0]), dtype=label_dtype(centers.shape[0]))
    for start, stop, tile in row_tiles(x, centers.shape[0], chunk):
        xc = x[start:stop]
        x64 = np.asarray(xc, dtype=np.float64)
        wc = None if w is None else np.asarray(w[start:stop], dtype=np.float64)
        for r, labels in enumerate(_labels_per_run(xc, pc, stacked, tile)):
            sums[r].add(x64, wc, labels)
            all_labels[r, start:stop] = labels
    ids = [np.arange(k, dtype=np.float64) for k in stacked.sizes()]
    sample = RowSample(
        size=sample_size,
        keys=sample_keys[take],
        position=np.stack([np.full(take.size, partition), take], axis=1).astype(np.int64),
        rows=np.asarray(x[take], dtype=np.float64) + shift,
        labels=all_labels[:, take].astype(np.int64),
    )
    moments: list[ClusterMoments | ToMoments] = [
        s.moments(i, shift) for s, i in zip(sums, ids, strict=True)
    ]
    return AssignmentPass(moments, sample), all_labels


def label_dtype(k: int) -> np.dtype:
    """The smallest integer type of labels below ``k`` (a block's labels of every run are
    kept between the two passes: int16 halves that file for every k up to 32767)."""
    return np.dtype(np.int16 if k <= np.iinfo(np.int16).max else np.int32)


# --------------------------------------------------------------------------- pass 2


@dataclass(frozen=True)
class ClusterSpread:
    """What pass 2 needs of each cluster: its mean, its mean squared distance to the mean
    (``m2 / W``) and its weight. The average squared distance of a row ``x`` to the rows
    of a cluster is ``|x - mean|^2 + variance``: Spark's ``|x|^2 + Psi/W - 2 x.Y/W``
    without its cancellation."""

    means: F64  # (k, d) original coordinates
    variances: F64  # (k,)
    weights: F64  # (k,)

    @classmethod
    def of(cls, m: ClusterMoments) -> ClusterSpread:
        w = m.weights
        return cls(m.means, np.divide(m.m2, w, out=np.zeros_like(w), where=w > 0), w)


@dataclass
class SeparationSums:
    """Pass 2 of one run: per cluster ``sum w |x - mean|`` (Davies-Bouldin), and the sums
    ``sum w s`` and ``sum w`` of Spark's silhouette."""

    intra_distance: F64  # (k,)
    silhouette: float
    weight: float

    def merge(self, other: SeparationSums) -> SeparationSums:
        return SeparationSums(
            self.intra_distance + other.intra_distance,
            self.silhouette + other.silhouette,
            self.weight + other.weight,
        )


def separation_rows(
    to_means: F64,
    own_sq_dist: F64,
    labels: I64,
    w: F64 | None,
    spread: ClusterSpread,
) -> SeparationSums:
    """DB's intra-cluster distance sums and Spark's silhouette sums for some rows.

    ``to_means`` is ``(rows, k)``: squared distances to every cluster's mean; ``own_sq_dist``
    the exact squared distance to the row's own cluster's mean. Spark's rules
    (``ClusteringMetrics.scala``): a row whose weight is its whole cluster's gets 0; the
    own-cluster average leaves the row itself out (``* W / (W - w)``); the neighbour is
    the other cluster of least average distance; ``s = 1 - a/b`` if ``a < b``,
    ``b/a - 1`` if ``a > b``, else 0; the score is ``sum w s / sum w``. Only clusters of
    positive weight count.
    """
    rows, k = to_means.shape
    data = np.ones(rows) if w is None else w
    intra = np.bincount(labels, weights=data * np.sqrt(own_sq_dist), minlength=k).astype(np.float64)
    # clusters by rows: a min over few clusters then runs along contiguous memory (6x faster
    # than along each row of a (rows x k) array for k = 10, measured)
    average = np.empty((k, rows))
    np.add(to_means.T, spread.variances[:, None], out=average)
    average[spread.weights <= 0] = np.inf
    average[labels, np.arange(rows)] = np.inf
    b = average.min(axis=0)
    own_w = spread.weights[labels]
    singleton = own_w == data
    with np.errstate(divide="ignore", invalid="ignore"):
        a = (own_sq_dist + spread.variances[labels]) * own_w / (own_w - data)
        s = np.where(a < b, 1.0 - a / b, np.where(a > b, b / a - 1.0, 0.0))
    s = np.where(singleton, 0.0, s)
    return SeparationSums(intra, float(data @ s), float(data.sum()))


def separation_block(
    x: FloatArray,
    w: F64 | None,
    stacked: StackedCenters,
    spreads: Sequence[ClusterSpread],
    *,
    origin: F64 | None,
    labels: np.ndarray | None = None,
    chunk: int | None = None,
) -> list[SeparationSums]:
    """One block's pass 2 for every run: the rows' ``labels`` from
    :func:`assignment_block` (``None``: assigned again, with the same GEMM and tiles, so
    the same labels), measured against the means."""
    n, d = x.shape
    shift = origin_or_zero(origin, d)
    centers = stacked.centers - shift
    pc = PreparedCenters.of(centers, x.dtype)
    means = np.concatenate([s.means for s in spreads]) - shift
    pm = PreparedCenters.of(means, np.float64)
    scratch = np.empty((min(chunk or chunk_rows(centers.shape[0]), n), means.shape[0]))
    out = [SeparationSums(np.zeros(stacked.sizes()[r]), 0.0, 0.0) for r in range(stacked.runs)]
    for start, stop, tile in row_tiles(x, centers.shape[0], chunk):
        xc = x[start:stop]
        x64 = np.asarray(xc, dtype=np.float64)
        wc = None if w is None else np.asarray(w[start:stop], dtype=np.float64)
        to_means = distance_tile(x64, pm, scratch)
        to_means += squared_norms(x64)[:, None]
        np.maximum(to_means, 0.0, out=to_means)
        if labels is None:
            tile_labels = _labels_per_run(xc, pc, stacked, tile)
        else:
            tile_labels = [lab[start:stop].astype(np.int64) for lab in labels]
        for r, lab in enumerate(tile_labels):
            own = x64 - means[stacked.run(r)][lab]
            out[r] = out[r].merge(
                separation_rows(
                    to_means[:, stacked.run(r)], squared_norms(own), lab, wc, spreads[r]
                )
            )
    return out


# --------------------------------------------------------------------------- driver


def defined(m: ClusterMoments) -> bool:
    """Whether the scores are defined: 2 <= clusters < total weight (scikit-learn's
    ``check_number_of_labels``, weights counting as rows). Otherwise they are NaN."""
    labels = int(m.present.sum())
    return 1 < labels < float(m.weights.sum())


def calinski_harabasz(m: ClusterMoments) -> float:
    """scikit-learn's ``calinski_harabasz_score`` from the moments (NaN where it raises)."""
    if not defined(m):
        return float("nan")
    p = m.present
    w, means = m.weights[p], m.means[p]
    total = float(w.sum())
    labels = int(p.sum())
    mean = (w @ means) / total
    extra = float(w @ squared_norms(means - mean))
    intra = float(m.m2[p].sum())
    return 1.0 if intra == 0.0 else extra * (total - labels) / (intra * (labels - 1.0))


def davies_bouldin(m: ClusterMoments, intra_distance: F64) -> float:
    """scikit-learn's ``davies_bouldin_score`` from the moments and pass 2's
    ``sum w |x - mean|`` per cluster (NaN where it raises). Centroid distances are
    computed by difference (scikit-learn's GEMM form is slightly less exact)."""
    if not defined(m):
        return float("nan")
    p = m.present
    intra = intra_distance[p] / m.weights[p]
    between = np.sqrt(exact_pairwise_sq_dist(m.means[p]))
    if np.allclose(intra, 0) or np.allclose(between, 0):
        return 0.0
    between[between == 0] = np.inf
    combined = intra[:, None] + intra[None, :]
    return float(np.mean(np.max(combined / between, axis=1)))


def spark_silhouette(m: ClusterMoments, sums: SeparationSums) -> float:
    """Spark's silhouette, ``sum w s / sum w`` (NaN with fewer than two clusters, where
    Spark fails an assertion)."""
    if int(m.present.sum()) < 2 or sums.weight <= 0:
        return float("nan")
    return sums.silhouette / sums.weight


def silhouette_samples(
    x: FloatArray, labelings: Sequence[I64], tile_bytes: int = SAMPLE_TILE_BYTES
) -> list[F64]:
    """scikit-learn's ``silhouette_samples`` (Euclidean) of ``x`` for several labelings.

    The ``m x m`` distances are computed once, tile by tile, for all labelings; each
    labeling's per-cluster distance sums are one product of the tile with the stacked
    one-hot matrices. A labeling with fewer than 2 or more than ``m - 1`` distinct labels
    (where scikit-learn raises) gets NaN. ``O(m^2 d + m^2 sum k)``: for ``m`` in the
    thousands to tens of thousands.

    A CSR ``x`` stays CSR (each tile is one sparse product, ``O(m^2)`` memory, never
    ``m x d``) and is not centred: that would make it dense, and sparse features sit near
    zero, where the GEMM form keeps its precision (as :mod:`.sparse` argues).
    """
    if sp.issparse(x):
        x64: Any = sp.csr_array(x, dtype=np.float64)
        m = x64.shape[0]
        norms = np.asarray(x64.multiply(x64).sum(axis=1), dtype=np.float64).ravel()
        x_t: Any = sp.csr_array(x64.T)
    else:
        x64 = np.asarray(x, dtype=np.float64)
        m = x64.shape[0]
        x64 = x64 - x64.mean(axis=0) if m else x64  # centred: the GEMM form keeps precision
        norms = squared_norms(x64)
        x_t = -2.0 * x64.T
    labelings = [np.asarray(lab, dtype=np.int64) for lab in labelings]
    layout = RunLayout.of([int(lab.max()) + 1 if lab.size else 0 for lab in labelings])
    columns = layout.slices()
    onehot = np.zeros((m, layout.offsets[-1]))
    for cols, lab in zip(columns, labelings, strict=True):
        onehot[np.arange(m), cols.start + lab] = 1.0
    freqs = onehot.sum(axis=0)
    sums = np.empty((m, layout.offsets[-1]))
    step = max(1, tile_bytes // (8 * max(m, 1)))
    for start in range(0, m, step):
        stop = min(start + step, m)
        if sp.issparse(x64):
            d2 = np.asarray(sp.csr_array(x64[start:stop] @ x_t).toarray())
            d2 *= -2.0
        else:
            d2 = x64[start:stop] @ x_t
        d2 += norms[start:stop, None]
        d2 += norms[None, :]
        np.maximum(d2, 0.0, out=d2)
        d2[np.arange(stop - start), np.arange(start, stop)] = 0.0  # as scikit-learn: X is Y
        np.sqrt(d2, out=d2)
        sums[start:stop] = d2 @ onehot
    out = []
    for cols, lab in zip(columns, labelings, strict=True):
        freq = freqs[cols]
        if not 1 < int(np.count_nonzero(freq)) < m:
            out.append(np.full(m, np.nan))
            continue
        dist = sums[:, cols].copy()
        rows = np.arange(m)
        intra = dist[rows, lab]
        dist[rows, lab] = np.inf
        dist[:, freq == 0] = np.inf
        with np.errstate(divide="ignore", invalid="ignore"):
            inter = (dist / freq).min(axis=1)
            intra = intra / (freq - 1)[lab]
            s = (inter - intra) / np.maximum(intra, inter)
        out.append(np.nan_to_num(s))  # clusters of one row: 0, as scikit-learn
    return out
