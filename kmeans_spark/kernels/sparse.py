"""CSR twins of the distance, Lloyd-step, seeding and scores kernels, for sparse blocks (TF-IDF).

Each function here has the name and the semantics of its dense twin in :mod:`.distance`,
:mod:`.step`, :mod:`.init` or :mod:`.scores` (same labels, sums, costs, far points, random
draws and scores on the densified data, up to rounding), so a caller picks the module once
per block, as scikit-learn picks its ``_dense``/``_sparse`` Cython twins by ``sp.issparse(X)``::

    kernels = sparse if sp.issparse(x) else step

A block is a ``scipy.sparse`` CSR array ``(n, d)`` with sorted, distinct indices; centres are
dense ``(k, d)`` float64. Memory is proportional to the block's non-zeros plus ``k x d``,
never ``n x d``. What differs from the dense kernels, and why:

* **No origin.** Dense blocks are stored centred so the GEMM form does not cancel; centring
  a sparse block would make it dense, and sparse features (counts, TF-IDF, unit rows) sit
  near zero, where ``|x|^2 - 2 x.c + |c|^2`` keeps its precision. Distances are clamped at 0.
* **Float64 products**, whatever the block's dtype (a float32 ``data`` array saves memory;
  the product casts each tile's non-zeros, which are few).
* **Centres transposed once per pass** (:class:`PreparedCenters`): ``-2 C^T`` as a
  C-contiguous ``(d, k)`` array, so a tile's distances are one CSR-times-dense product in
  which each non-zero adds one contiguous k-vector. The ``(rows, k)`` distance tile is the
  only large temporary.
* **Sparse per-centre sums.** After the labels, one sparse product ``onehot (k x n) @ X``
  gives a ``(k, d)`` CSR array holding only the (cluster, column) pairs that occur: its size
  is bounded by the block's non-zeros, not by ``k x d``. :func:`merge_sums` adds them
  (sparse + sparse stays sparse, a dense operand makes the result dense);
  :func:`update_centers` turns merged sums into dense centres.
* **Far points as CSR rows**, their exact distances recomputed by difference over the
  point's entries and its centre's support, so a point on its centre has distance 0.
* **The driver's candidate reduction in the candidates' own columns**
  (:func:`compact_columns`): every centre it makes is a mean of candidates, so its
  ``k x d`` work shrinks to ``k x`` (their distinct columns), exactly.

* **Cluster moments as sparse sums** (the metrics' pass 1, :func:`assignment_block`):
  per cluster ``sum w x`` (CSR, as Lloyd's) and ``sum w |x|^2``; the second moment about
  the mean is ``sum w |x|^2 - W |mean|^2``, taken once on the driver
  (:meth:`SparseClusterMoments.to_moments`), so nothing ``n x d`` is ever built.

Spherical (cosine) k-means is the same kernels on unit rows (:func:`normalize_rows`) and
unit centres, as for dense blocks; the caller scales costs by 0.5 and
:func:`update_centers` renormalises.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from kmeans_spark.kernels import init as dense_init
from kmeans_spark.kernels.distance import F64, I64, chunk_rows, top_indices
from kmeans_spark.kernels.init import oversample
from kmeans_spark.kernels.scores import (
    AssignmentPass,
    ClusterMoments,
    ClusterSpread,
    RowSample,
    SeparationSums,
    StackedCenters,
    block_sample_rows,
    label_dtype,
    separation_rows,
)
from kmeans_spark.kernels.step import (
    CenterUpdate,
    PartialStats,
    RunLayout,
    plan_reseeding,
)

#: A sparse block or a set of sparse rows: CSR, sorted distinct indices.
CSR = Any  # scipy.sparse.csr_array or csr_matrix (scipy ships no usable type stubs)
#: Per-centre sums: sparse ``(k, d)`` CSR, or dense once merged with a dense operand.
Sums = Any


def as_csr(x: Any) -> sp.csr_array:
    """``x`` as a ``csr_array`` (no copy for a CSR array or matrix)."""
    return x if isinstance(x, sp.csr_array) else sp.csr_array(x)


def row_slice(x: CSR, start: int, stop: int) -> sp.csr_array:
    """Rows ``start:stop`` as a CSR array built from slices of ``x``'s buffers: only the
    tile's entries are read (scipy copies a slice much smaller than its array, so a tile
    costs its own non-zeros, never the block's)."""
    a, b = int(x.indptr[start]), int(x.indptr[stop])
    return sp.csr_array(
        (x.data[a:b], x.indices[a:b], x.indptr[start : stop + 1] - x.indptr[start]),
        shape=(stop - start, x.shape[1]),
    )


def squared_norms(x: CSR) -> F64:
    """Row-wise squared Euclidean norms ``(n,)`` as float64 (empty rows: 0)."""
    n = x.shape[0]
    out = np.zeros(n)
    indptr = np.asarray(x.indptr)
    a, b = int(indptr[0]), int(indptr[-1])
    sq = np.square(np.asarray(x.data[a:b], dtype=np.float64))
    nonempty = np.diff(indptr) > 0
    if sq.size:
        # segments between consecutive non-empty rows' starts are exactly those rows
        out[nonempty] = np.add.reduceat(sq, indptr[:-1][nonempty] - a)
    return out


def normalize_rows(x: CSR) -> tuple[sp.csr_array, NDArray[np.bool_]]:
    """Rows scaled to unit length (a new CSR array, same pattern), and the mask of zero
    rows (left empty or zero)."""
    x = as_csr(x)
    norms = np.sqrt(squared_norms(x))
    zero = norms == 0
    safe = np.where(zero, 1.0, norms)
    data = np.asarray(x.data, dtype=np.float64) / np.repeat(safe, np.diff(x.indptr))
    out = sp.csr_array((data, x.indices.copy(), x.indptr.copy()), shape=x.shape)
    return out, zero


def dense_rows(x: CSR, index: Any) -> F64:
    """Rows of ``x`` by index as a dense float64 array (for a few rows only)."""
    return np.asarray(as_csr(x)[index].toarray(), dtype=np.float64)


@dataclass(frozen=True)
class PreparedCenters:
    """Centres laid out for the sparse product, once per pass: ``-2 C^T`` ``(d, k)``
    C-contiguous float64 (CSR when the centres are sparse, as k-means|| candidates are)
    and ``|c|^2``."""

    minus_two_t: Any  # (d, k) ndarray, or CSR for sparse centres
    sq_norms: F64  # (k,)

    @classmethod
    def of(cls, centers: Any) -> PreparedCenters:
        if sp.issparse(centers):
            c = as_csr(centers)
            return cls(as_csr((-2.0 * c).T), squared_norms(c))
        c = np.asarray(centers, dtype=np.float64)
        minus_two_t = np.empty((c.shape[1], c.shape[0]))
        np.multiply(c.T, -2.0, out=minus_two_t)  # one (d, k) array, no Fortran temporary
        return cls(minus_two_t, np.einsum("ij,ij->i", c, c))

    @property
    def k(self) -> int:
        return int(self.minus_two_t.shape[1])


def distance_tile(xc: CSR, pc: PreparedCenters) -> F64:
    """``|c|^2 - 2 x.c`` for one tile of rows against every centre, ``(rows, k)``: the
    squared distances less each row's own ``|x|^2``, which argmin does not need."""
    out = xc @ pc.minus_two_t
    out = out.toarray() if sp.issparse(out) else np.asarray(out)
    out += pc.sq_norms
    return out


def sparse_tiles(n: int, k: int, chunk: int | None = None) -> list[tuple[int, int]]:
    """``(start, stop)`` of consecutive row tiles: as :func:`.distance.row_tiles`, so the
    ``(rows, k)`` tile stays cache-sized."""
    step = chunk or chunk_rows(k)
    return [(a, min(a + step, n)) for a in range(0, n, step)]


def nearest_tile(xc: CSR, pc: PreparedCenters, norms: F64) -> tuple[I64, F64]:
    """Nearest centre and squared distance (clamped at 0) for one tile of rows."""
    out = distance_tile(xc, pc)
    labels = np.argmin(out, axis=1)
    best = out[np.arange(out.shape[0]), labels] + norms
    return labels.astype(np.int64), np.maximum(best, 0.0)


def nearest_centers(
    x: CSR, centers: Any, chunk: int | None = None, sq_norms: F64 | None = None
) -> tuple[I64, F64]:
    """Index of the nearest centre and the squared distance to it, for every row of ``x``.

    Twin of :func:`.distance.nearest_centers`; one CSR-times-dense product per tile.

    Parameters
    ----------
    x : CSR array of shape (n, d)
    centers : ndarray of shape (k, d), or CSR (k-means|| candidates)
    chunk : int, optional
        Rows per tile; defaults to :func:`.distance.chunk_rows`.
    sq_norms : ndarray of shape (n,), optional
        ``x``'s squared row norms, if the caller keeps them (they are per block).

    Returns
    -------
    labels : ndarray of shape (n,), int64
    min_sq_dist : ndarray of shape (n,), float64, clamped at 0
    """
    n = x.shape[0]
    labels = np.empty(n, dtype=np.int64)
    min_d2 = np.empty(n)
    norms = squared_norms(x) if sq_norms is None else sq_norms
    pc = PreparedCenters.of(centers)
    for start, stop in sparse_tiles(n, pc.k, chunk):
        labels[start:stop], min_d2[start:stop] = nearest_tile(
            row_slice(x, start, stop), pc, norms[start:stop]
        )
    return labels, min_d2


def exact_sq_dist(points: CSR, centers: F64, labels: I64) -> F64:
    """``|p_i - c_{labels_i}|^2`` for sparse rows ``p_i`` and dense centres, exactly 0 for a
    point on its centre (for the few far points).

    By difference, without a dense ``(d,)`` row per point: the terms where the point is
    stored, plus the centre's squares where it is not (the centre's support less the
    point's). Every term is computed from the values themselves, so nothing cancels.
    """
    points = as_csr(points)
    out = np.empty(points.shape[0])
    support: dict[int, I64] = {}
    for i in range(points.shape[0]):
        label = int(labels[i])
        if label not in support:
            support[label] = np.flatnonzero(centers[label])
        a, b = points.indptr[i], points.indptr[i + 1]
        cols = points.indices[a:b]
        diff = np.asarray(points.data[a:b], dtype=np.float64) - centers[label, cols]
        rest = support[label]
        rest = centers[label, rest[~np.isin(rest, cols, assume_unique=True)]]
        out[i] = diff @ diff + rest @ rest
    return out


# ---------------------------------------------------------------------------- sums


def center_sums(x: CSR, data: F64, labels: I64, k: int) -> sp.csr_array:
    """Per-centre weighted sums ``(k, d)`` as CSR: one sparse product of the one-hot
    ``(k, n)`` matrix (``labels`` has one column per run, each entry weighted by ``data``)
    with the block. Only (cluster, column) pairs that occur are stored; indices sorted."""
    labels = labels.reshape(labels.shape[0], -1)
    n, runs = labels.shape
    rows = np.repeat(np.arange(n), runs)
    each = np.repeat(data, runs) if runs > 1 else data
    onehot = sp.csr_array((each, (labels.ravel(), rows)), shape=(k, n))
    return _compact_index(as_csr(onehot @ as_csr(x)))


def _compact_index(x: sp.csr_array) -> sp.csr_array:
    """``x`` canonical (sorted, distinct indices: what merges and ``add_sums_into`` rely
    on) with int32 indices when they fit (scipy's products return int64 ones: a quarter
    less to pickle and to merge), float64 data."""
    x.sum_duplicates()  # sorts and sums in place; a no-op after one check when canonical
    small = max(x.shape[1], x.nnz) < 2**31
    index_type = np.int32 if small else np.int64
    out = sp.csr_array(
        (
            np.asarray(x.data, dtype=np.float64),
            x.indices.astype(index_type, copy=False),
            x.indptr.astype(index_type, copy=False),
        ),
        shape=x.shape,
    )
    out.has_canonical_format = True  # established above
    return out


def dense_sums(sums: Sums, copy: bool = True) -> F64:
    """Sums as a dense ``(k, d)`` float64 array (a new one unless ``copy`` is False)."""
    if sp.issparse(sums):
        return np.asarray(sums.toarray(), dtype=np.float64)
    return np.array(sums, dtype=np.float64, copy=copy)


def add_sums_into(out: F64, sums: Sums) -> F64:
    """Add sparse (or dense) sums into the dense ``(k, d)`` array ``out``, in place; only the
    stored entries are touched (``O(nnz)``)."""
    if sp.issparse(sums):
        coo = sp.coo_array(sums)
        if sums.format == "csr" and sums.has_canonical_format:  # distinct (row, col) pairs
            out[coo.row, coo.col] += coo.data
        else:
            np.add.at(out, (coo.row, coo.col), coo.data)
    else:
        out += sums
    return out


def merge_sums(a: Sums, b: Sums) -> Sums:
    """``a + b`` for per-centre sums: sparse + sparse is sparse (CSR, canonical); with a
    dense operand the result is a new dense array. Neither input is modified."""
    if sp.issparse(a) and sp.issparse(b):
        return _compact_index(as_csr(as_csr(a) + as_csr(b)))
    if sp.issparse(a):
        return add_sums_into(dense_sums(b), a)
    return add_sums_into(dense_sums(a), b)


@dataclass
class SparsePartialStats:
    """Twin of :class:`.step.PartialStats` for a sparse block: ``sums`` is a ``(k, d)`` CSR
    array (dense after merging with a dense one) and ``far_points`` are CSR rows.

    What a task returns is proportional to the block's non-zeros (the stored sums, at most
    one entry per non-zero, and ``n_far`` sparse rows) plus ``O(k)``.
    """

    sums: Sums  # (k, d) CSR (or dense), weighted sums of the points of each centre
    weights: F64  # (k,)
    counts: I64  # (k,)
    costs: F64  # (k,) summed w * squared distance
    far_sq_dist: F64 = field(default_factory=lambda: np.empty(0))
    far_points: Any = field(default_factory=lambda: sp.csr_array((0, 0)))  # (m, d) CSR
    far_labels: I64 = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    far_weights: F64 = field(default_factory=lambda: np.empty(0))
    n_far: int = 0
    computed: int = 0
    #: see :attr:`.step.PartialStats.sparse`
    sparse: ClassVar[bool] = True

    @classmethod
    def zeros(cls, k: int, d: int, n_far: int) -> SparsePartialStats:
        return cls(
            sums=sp.csr_array((k, d)),
            weights=np.zeros(k),
            counts=np.zeros(k, dtype=np.int64),
            costs=np.zeros(k),
            far_points=sp.csr_array((0, d)),
            n_far=n_far,
        )

    @property
    def cost(self) -> float:
        return float(self.costs.sum())

    def _keep_farthest(self) -> None:
        keep = top_indices(self.far_sq_dist, self.n_far)
        self.far_sq_dist = self.far_sq_dist[keep]
        self.far_points = as_csr(as_csr(self.far_points)[keep])
        self.far_labels = self.far_labels[keep]
        self.far_weights = self.far_weights[keep]

    def merge(self, other: SparsePartialStats | PartialStats) -> SparsePartialStats:
        """The statistics of both blocks together (neither input is modified); ``other``
        may be a dense :class:`.step.PartialStats` (its far points become CSR rows)."""
        out = SparsePartialStats(
            sums=merge_sums(self.sums, other.sums),
            weights=self.weights + other.weights,
            counts=self.counts + other.counts,
            costs=self.costs + other.costs,
            far_sq_dist=np.concatenate([self.far_sq_dist, other.far_sq_dist]),
            far_points=as_csr(
                sp.vstack([as_csr(self.far_points), as_csr(other.far_points)], format="csr")
            ),
            far_labels=np.concatenate([self.far_labels, other.far_labels]),
            far_weights=np.concatenate([self.far_weights, other.far_weights]),
            n_far=max(self.n_far, other.n_far),
            computed=self.computed + other.computed,
        )
        out._keep_farthest()
        return out

    def update(self, centers: F64, *, reseed_empty: bool, spherical: bool) -> CenterUpdate:
        """:func:`update_centers` of these statistics (what :func:`.step.update_centers`
        calls for them)."""
        return update_centers(self, centers, reseed_empty=reseed_empty, spherical=spherical)

    def to_dense(self) -> PartialStats:
        """The same statistics with dense sums and far points (for small ``d`` and tests)."""
        return PartialStats(
            sums=dense_sums(self.sums),
            weights=self.weights.copy(),
            counts=self.counts.copy(),
            costs=self.costs.copy(),
            far_sq_dist=self.far_sq_dist.copy(),
            far_points=np.asarray(as_csr(self.far_points).toarray(), dtype=np.float64),
            far_labels=self.far_labels.copy(),
            far_weights=self.far_weights.copy(),
            n_far=self.n_far,
            computed=self.computed,
        )


def merge_runs(
    a: list[SparsePartialStats], b: list[SparsePartialStats]
) -> list[SparsePartialStats]:
    """Merge two blocks' statistics run by run."""
    return [x.merge(y) for x, y in zip(a, b, strict=True)]


class _FarRows:
    """The rows farthest from their centre, tile by tile (as :class:`.step.Accumulator`
    keeps them): row indices, labels, approximate distances, weights."""

    def __init__(self, n_far: int) -> None:
        self.n_far = n_far
        self.rows: list[I64] = []
        self.labels: list[I64] = []
        self.weights: list[F64] = []

    def add(self, start: int, data: F64, labels: I64, d2: F64) -> None:
        if self.n_far > 0:
            top = top_indices(d2, self.n_far)
            self.rows.append(top + start)
            self.labels.append(labels[top])
            self.weights.append(data[top])

    def finish(self, stats: SparsePartialStats, x: CSR, centers: F64) -> SparsePartialStats:
        """Far points as CSR rows, their distances recomputed exactly, the farthest kept."""
        if self.n_far > 0 and self.rows:
            rows = np.concatenate(self.rows)
            stats.far_points = as_csr(x[rows])
            stats.far_labels = np.concatenate(self.labels)
            stats.far_weights = np.concatenate(self.weights)
            stats.far_sq_dist = exact_sq_dist(stats.far_points, centers, stats.far_labels)
            stats._keep_farthest()
        return stats


def partial_stats(
    x: CSR,
    weights: F64 | None,
    centers: F64,
    n_far: int = 0,
    chunk: int | None = None,
    sq_norms: F64 | None = None,
) -> SparsePartialStats:
    """One sparse block's share of a Lloyd step; twin of :func:`.step.partial_stats`.

    Parameters
    ----------
    x : CSR array of shape (n, d)
    weights : ndarray of shape (n,) or None
        Non-negative point weights; ``None`` means all ones.
    centers : ndarray of shape (k, d), float64
    n_far : int
        How many of the points farthest from their centre to keep (for empty clusters).
    chunk : int, optional
        Rows per distance tile.
    sq_norms : ndarray of shape (n,), optional
        ``x``'s squared row norms, if kept with the block.

    Returns
    -------
    SparsePartialStats
        ``sums`` a CSR array of shape (k, d); ``far_points`` CSR of shape (<= n_far, d).
    """
    layout = RunLayout.of([centers.shape[0]])
    return multi_partial_stats(x, weights, centers, layout, n_far, chunk, sq_norms)[0]


def multi_partial_stats(
    x: CSR,
    weights: F64 | None,
    stacked: F64,
    layout: RunLayout,
    n_far: int | Sequence[int] = 0,
    chunk: int | None = None,
    sq_norms: F64 | None = None,
) -> list[SparsePartialStats]:
    """:func:`partial_stats` of every run of ``layout`` at once (twin of
    :func:`.step.multi_partial_stats`): one product per tile against all stacked centres,
    each run's argmin within its slice, then one sparse product for every run's sums."""
    big_k, d = stacked.shape
    slices = layout.slices()
    fars = [n_far] * len(slices) if isinstance(n_far, int) else list(n_far)
    n = x.shape[0]
    results = [
        SparsePartialStats.zeros(s.stop - s.start, d, f) for s, f in zip(slices, fars, strict=True)
    ]
    if n == 0:
        return results
    x = as_csr(x)
    stacked = np.asarray(stacked, dtype=np.float64)
    data = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    norms = squared_norms(x) if sq_norms is None else sq_norms
    pc = PreparedCenters.of(stacked)
    far = [_FarRows(f) for f in fars]
    labels = np.empty((n, len(slices)), dtype=np.int64)
    d2 = np.empty((n, len(slices)))
    for start, stop in sparse_tiles(n, big_k, chunk):
        out = distance_tile(row_slice(x, start, stop), pc)
        for r, part in enumerate(slices):
            block = out[:, part]
            run_labels = np.argmin(block, axis=1)
            best = block[np.arange(block.shape[0]), run_labels] + norms[start:stop]
            np.maximum(best, 0.0, out=best)
            far[r].add(start, data[start:stop], run_labels, best)
            labels[start:stop, r] = run_labels + part.start
            d2[start:stop, r] = best
    sums = center_sums(x, data, labels, big_k)
    flat = labels.ravel()
    each = np.repeat(data, len(slices))
    weights_all = np.bincount(flat, weights=each, minlength=big_k)
    counts_all = np.bincount(flat, minlength=big_k)
    costs_all = np.bincount(flat, weights=(d2 * data[:, None]).ravel(), minlength=big_k)
    for r, part in enumerate(slices):
        mine = results[r]
        mine.sums = as_csr(sums[part.start : part.stop])
        mine.weights = weights_all[part].astype(np.float64)
        mine.counts = counts_all[part].astype(np.int64)
        mine.costs = costs_all[part].astype(np.float64)
        mine.computed = n
        far[r].finish(mine, x, stacked[part])
    return results


def update_centers(
    stats: SparsePartialStats,
    centers: F64,
    *,
    reseed_empty: bool = True,
    spherical: bool = False,
) -> CenterUpdate:
    """Dense centres from merged sparse statistics; twin of :func:`.step.update_centers`
    (same reseeding of empty clusters from the far points, same exact cost).

    Works on the stored entries of the sums: reseeding adds sparse corrections, spherical
    norms and costs come from the entries, and the new centres are written into a fresh
    zero array. Only the Euclidean cost walks ``k x d`` (the shift of each centre, by
    difference, so it is exact); nothing allocates another ``k x d`` array.
    """
    sums = as_csr(stats.sums if sp.issparse(stats.sums) else np.asarray(stats.sums, np.float64))
    weights = stats.weights.copy()
    counts = stats.counts.copy()
    costs = stats.costs.copy()
    old = np.asarray(centers, dtype=np.float64)
    k, d = old.shape
    reseeded: list[int] = []
    moved: dict[int, tuple[NDArray[Any], F64]] = {}  # reseeded cluster: its point (cols, vals)
    fix_rows: list[I64] = []  # corrections to the sums, as COO triples
    fix_cols: list[NDArray[Any]] = []
    fix_vals: list[F64] = []
    if reseed_empty and (weights <= 0).any():
        far = as_csr(stats.far_points)

        def entries(i: int) -> tuple[NDArray[Any], F64]:
            a, b = far.indptr[i], far.indptr[i + 1]
            return far.indices[a:b], np.asarray(far.data[a:b], dtype=np.float64)

        scales = []
        for i, src in enumerate(stats.far_labels):
            vals = entries(i)[1]
            scales.append(float(vals @ vals + old[src] @ old[src]))
        for j, i in plan_reseeding(stats, scales):
            src = int(stats.far_labels[i])
            wx = float(stats.far_weights[i])
            cols, vals = entries(i)
            # the point leaves ``src`` and alone makes ``j`` (empty: its sums are zero)
            fix_rows += [np.full(cols.size, src), np.full(cols.size, j)]
            fix_cols += [cols, cols]
            fix_vals += [-wx * vals, wx * vals]
            weights[src] -= wx
            counts[src] -= 1
            costs[src] = max(costs[src] - wx * float(stats.far_sq_dist[i]), 0.0)
            weights[j] = wx
            counts[j] = 1
            costs[j] = 0.0
            moved[j] = (cols, vals)
            reseeded.append(j)
    if fix_rows:
        fix = sp.csr_array(
            (np.concatenate(fix_vals), (np.concatenate(fix_rows), np.concatenate(fix_cols))),
            shape=(k, d),
        )
        sums = _compact_index(as_csr(sums + fix))
    filled = weights > 0
    coo = sp.coo_array(sums)
    keep = filled[coo.row]
    rows, cols, vals = coo.row[keep], coo.col[keep], coo.data[keep]
    mean = vals / weights[rows]
    new = np.zeros((k, d))  # calloc: untouched pages cost nothing
    if spherical:
        norms = np.sqrt(np.bincount(rows, weights=mean * mean, minlength=k))
        ok = filled & (norms > 0)
        sel = ok[rows]
        unit = mean[sel] / norms[rows[sel]]
        new[rows[sel], cols[sel]] = unit
        new[~ok] = old[~ok]
        dots = np.bincount(rows[sel], weights=vals[sel] * unit, minlength=k)
        cluster_costs = np.where(ok, weights - dots, costs / 2.0)
    else:
        new[rows, cols] = mean
        new[~filled] = old[~filled]
        shift2 = np.zeros(k)
        for j in np.flatnonzero(filled):
            if j in moved:  # its cost was measured from the point that reseeded it
                diff = new[j].copy()
                diff[moved[j][0]] -= moved[j][1]
            else:
                diff = new[j] - old[j]
            shift2[j] = diff @ diff
        cluster_costs = np.where(filled, costs - weights * shift2, 0.0)
    cost = float(np.maximum(cluster_costs, 0.0).sum())
    return CenterUpdate(centers=new, weights=weights, counts=counts, cost=cost, reseeded=reseeded)


# ---------------------------------------------------------------------------- seeding


def update_nearest_candidate(
    x: CSR,
    sq_dist: F64,
    nearest: I64,
    new_candidates: Any,
    offset: int,
    sq_norms: F64 | None = None,
) -> None:
    """Fold new k-means|| candidates (dense or CSR rows) into each point's distance to its
    nearest candidate, in place; twin of :func:`.init.update_nearest_candidate`
    (idempotent, so a retried task cannot corrupt the state)."""
    if new_candidates.shape[0] == 0 or x.shape[0] == 0:
        return
    labels, d2 = nearest_centers(x, new_candidates, sq_norms=sq_norms)
    closer = d2 < sq_dist
    sq_dist[closer] = d2[closer]
    nearest[closer] = labels[closer] + offset


@dataclass
class SparseSeedRound:
    """Twin of :class:`.init.SeedRound` whose pre-selected points are CSR rows."""

    cost: float
    points: Any  # (p, d) CSR
    thresholds: F64  # (p,)
    candidate_weights: F64  # (m,) or empty outside the weighting pass

    def merge(self, other: SparseSeedRound) -> SparseSeedRound:
        if self.candidate_weights.size and other.candidate_weights.size:
            weights = self.candidate_weights + other.candidate_weights
        else:
            weights = (
                self.candidate_weights if self.candidate_weights.size else other.candidate_weights
            )
        return SparseSeedRound(
            cost=self.cost + other.cost,
            points=as_csr(sp.vstack([as_csr(self.points), as_csr(other.points)], format="csr")),
            thresholds=np.concatenate([self.thresholds, other.thresholds]),
            candidate_weights=weights,
        )


def seed_round_block(
    x: CSR,
    weights: F64 | None,
    sq_dist: F64,
    nearest: I64,
    candidates: Any,
    known: int,
    *,
    oversampling: float,
    rng: np.random.Generator | None,
    sq_norms: F64 | None = None,
) -> SparseSeedRound:
    """One sparse block's k-means|| pass; twin of :func:`.init.seed_round_block`.

    ``candidates`` (dense or CSR ``(m, d)``) from ``known`` on are folded into the block's
    state (``sq_dist``, ``nearest``, updated in place); then either the block pre-selects
    points for the next round (``rng`` given, same draws as the dense twin) or, in the
    final pass (``rng`` None), sums the weight nearest to each candidate.
    """
    update_nearest_candidate(x, sq_dist, nearest, candidates[known:], known, sq_norms)
    w = np.ones(x.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    local_cost = float(sq_dist @ w)
    d = candidates.shape[1]
    if rng is None:
        return SparseSeedRound(
            cost=local_cost,
            points=sp.csr_array((0, d)),
            thresholds=np.empty(0),
            candidate_weights=np.bincount(nearest, weights=w, minlength=candidates.shape[0]).astype(
                np.float64
            ),
        )
    chosen, thresholds = oversample(sq_dist, w, oversampling, local_cost, rng)
    return SparseSeedRound(
        cost=local_cost,
        points=as_csr(as_csr(x)[chosen]),
        thresholds=thresholds,
        candidate_weights=np.empty(0),
    )


def kmeans_plusplus(
    points: CSR,
    weights: F64,
    k: int,
    rng: np.random.Generator,
    n_local_trials: int | None = None,
) -> F64:
    """Weighted greedy k-means++ on sparse points, dense ``(k, d)`` centres out; twin of
    :func:`.init.kmeans_plusplus` (same draws, so the same centres up to rounding).

    Parameters
    ----------
    points : CSR array of shape (m, d)
    weights : ndarray of shape (m,), non-negative, not all zero
    k : int, 1 <= k
    """
    points = as_csr(points)
    m, d = points.shape
    trials = n_local_trials or 2 + int(math.log(k))
    centers = np.empty((k, d))
    pn = squared_norms(points)
    points_t = as_csr(points.T)  # (d, m): one conversion, not one per centre
    probs = weights / weights.sum()
    first = int(rng.choice(m, p=probs))
    centers[0] = dense_rows(points, [first])[0]
    closest = np.maximum(pn - 2 * (points @ centers[0]) + pn[first], 0.0)
    potential = float(weights @ closest)
    for c in range(1, k):
        if potential <= 0:
            centers[c] = dense_rows(points, [int(rng.choice(m, p=probs))])[0]
            continue
        cumulative = np.cumsum(weights * closest)
        draws = rng.random(trials) * cumulative[-1]
        ids = np.minimum(np.searchsorted(cumulative, draws), m - 1)
        dots = as_csr(points[ids] @ points_t).toarray()
        d2 = pn[ids][:, None] - 2 * dots + pn[None, :]
        np.maximum(d2, 0.0, out=d2)
        np.minimum(d2, closest[None, :], out=d2)
        pots = d2 @ weights
        best = int(np.argmin(pots))
        potential = float(pots[best])
        closest = d2[best]
        centers[c] = dense_rows(points, [int(ids[best])])[0]
    return centers


def local_lloyd(
    points: CSR,
    weights: F64,
    centers: F64,
    max_iter: int = 30,
    tol: float = 1e-4,
    spherical: bool = False,
    max_far: int = 32,
) -> F64:
    """Weighted Lloyd on sparse candidates (the driver's last k-means|| step): the loop of
    :func:`.init.local_lloyd` with this module's :func:`partial_stats`."""
    return dense_init.local_lloyd(
        points,
        weights,
        centers,
        max_iter=max_iter,
        tol=tol,
        spherical=spherical,
        max_far=max_far,
        stats_of=partial_stats,
    )


def reduce_candidates(
    candidates: CSR,
    weights: F64,
    k: int,
    rng: np.random.Generator,
    spherical: bool = False,
    max_iter: int = 30,
    reductions: int = 1,
    max_far: int = 32,
) -> F64:
    """k dense centres from weighted sparse candidates; twin of
    :func:`.init.reduce_candidates` (k-means++ then Lloyd, best of ``reductions``)."""
    candidates = as_csr(candidates)
    m, d = candidates.shape
    if m <= k:
        extra = rng.choice(m, size=k - m, p=weights / weights.sum()) if k > m else []
        rows = np.concatenate([np.arange(m), np.asarray(extra, dtype=np.int64)])
        return dense_rows(candidates, rows)
    # every centre below is a candidate or a mean of candidates: it lives in their columns,
    # so the k x d work shrinks to k x (their distinct columns), exactly
    columns, compact = compact_columns(candidates)
    best: F64 | None = None
    best_cost = np.inf
    for _ in range(max(1, reductions)):
        init = kmeans_plusplus(compact, weights, k, rng)
        centers = local_lloyd(
            compact,
            weights,
            init,
            max_iter=max_iter,
            tol=0.0,
            spherical=spherical,
            max_far=max_far,
        )
        cost = partial_stats(compact, weights, centers).cost
        if cost < best_cost:
            best, best_cost = centers, cost
    assert best is not None
    out = np.zeros((k, d))
    out[:, columns] = best
    return out


def compact_columns(x: CSR) -> tuple[I64, sp.csr_array]:
    """The sorted distinct columns ``x`` stores, and ``x`` restricted to them: column ``j``
    of the result is column ``columns[j]`` of ``x``."""
    x = as_csr(x)
    a, b = int(x.indptr[0]), int(x.indptr[-1])
    columns, inverse = np.unique(x.indices[a:b], return_inverse=True)
    compact = sp.csr_array(
        (x.data[a:b], inverse.astype(x.indices.dtype), x.indptr - a),
        shape=(x.shape[0], columns.size),
    )
    return columns.astype(np.int64), compact


# ---------------------------------------------------------------------------- scores


@dataclass
class SparseClusterMoments:
    """A CSR block's share of :class:`.scores.ClusterMoments`: per cluster rows, weight,
    ``sum w x`` as a ``(k, d)`` CSR array (only the (cluster, column) pairs that occur, so
    a task returns at most its block's non-zeros) and ``sum w |x|^2``.

    Merges with its like stay sparse; with a dense block's moments it becomes
    :class:`.scores.ClusterMoments` (:meth:`to_moments`). The second moment about the mean
    is then ``sum w |x|^2 - W |mean|^2``: the uncentred form, which keeps its precision for
    features near zero (counts, TF-IDF, unit rows) as the sparse distances do.
    """

    ids: F64  # (k,)
    counts: I64  # (k,)
    weights: F64  # (k,)
    sums: Sums  # (k, d) CSR, or dense once merged with a dense operand
    sq_norm_sums: F64  # (k,)

    def merge(self, other: Any) -> SparseClusterMoments | ClusterMoments:
        """Both parts together (neither input is modified); dense moments make it dense.
        Clusters are matched by id (a centre set's are ``0..k-1`` in every block; the
        evaluator's are the prediction values each partition happens to hold)."""
        if isinstance(other, ClusterMoments):
            return self.to_moments().merge(other)
        ids = self.ids if np.array_equal(self.ids, other.ids) else np.union1d(self.ids, other.ids)
        a, b = self.aligned(ids), other.aligned(ids)
        return SparseClusterMoments(
            ids=ids,
            counts=a.counts + b.counts,
            weights=a.weights + b.weights,
            sums=merge_sums(a.sums, b.sums),
            sq_norm_sums=a.sq_norm_sums + b.sq_norm_sums,
        )

    def aligned(self, ids: F64) -> SparseClusterMoments:
        """These moments on ``ids`` (a sorted superset of :attr:`ids`), zero elsewhere; the
        sums stay sparse (their rows moved by one sparse product)."""
        if np.array_equal(ids, self.ids):
            return self
        k = self.ids.size
        at = np.searchsorted(ids, self.ids)
        counts = np.zeros(ids.size, dtype=np.int64)
        weights, sq = np.zeros(ids.size), np.zeros(ids.size)
        counts[at], weights[at], sq[at] = self.counts, self.weights, self.sq_norm_sums
        if sp.issparse(self.sums):
            move = sp.csr_array((np.ones(k), (at, np.arange(k))), shape=(ids.size, k))
            sums: Sums = _compact_index(as_csr(move @ as_csr(self.sums)))
        else:
            sums = np.zeros((ids.size, self.sums.shape[1]))
            sums[at] = self.sums
        return SparseClusterMoments(ids, counts, weights, sums, sq)

    def to_moments(self) -> ClusterMoments:
        """As :class:`.scores.ClusterMoments` (dense ``(k, d)`` means: what a task may hold,
        see :func:`kmeans_spark.blocks.check_centers_memory`)."""
        w = self.weights
        filled = w > 0
        means = dense_sums(self.sums)
        np.divide(means, w[:, None], out=means, where=filled[:, None])
        means[~filled] = 0.0
        m2 = self.sq_norm_sums - w * np.einsum("ij,ij->i", means, means)
        return ClusterMoments(
            ids=self.ids,
            counts=self.counts.copy(),
            weights=w.copy(),
            means=means,
            m2=np.where(filled, np.maximum(m2, 0.0), 0.0),
        )


def _moment_sums(x: CSR, data: F64, labels: I64, ids: F64) -> SparseClusterMoments:
    """The per-cluster sums of rows labelled ``labels`` (``(n,)``, or ``(n, runs)`` for
    several centre sets stacked into one index range) with weights ``data``: one sparse
    product for every run's ``sum w x``, bincounts for the rest."""
    labels = labels.reshape(labels.shape[0], -1)
    runs, k = labels.shape[1], ids.size
    flat = labels.ravel()
    counts = np.bincount(flat, minlength=k).astype(np.int64)
    weights = np.bincount(flat, weights=np.repeat(data, runs), minlength=k).astype(np.float64)
    sq = np.bincount(flat, weights=np.repeat(data * squared_norms(x), runs), minlength=k)
    return SparseClusterMoments(
        ids=ids,
        counts=counts,
        weights=weights,
        sums=center_sums(x, data, labels, k),
        sq_norm_sums=sq.astype(np.float64),
    )


def labelled_moments(x: CSR, w: F64 | None, labels: F64) -> SparseClusterMoments:
    """The moments of CSR rows with given cluster labels (any numbers: the evaluator's
    predictions); twin of :func:`.scores.labelled_moments`, kept sparse until merged with a
    dense part or turned into :class:`.scores.ClusterMoments` on the driver."""
    x = as_csr(x)
    ids, index = np.unique(labels, return_inverse=True)
    data = np.ones(x.shape[0]) if w is None else np.asarray(w, dtype=np.float64)
    return _moment_sums(x, data, index.astype(np.int64), ids.astype(np.float64))


def assignment_block(
    x: CSR,
    w: F64 | None,
    stacked: StackedCenters,
    *,
    origin: F64 | None = None,
    sample_keys: F64,
    sample_size: int,
    partition: int,
    chunk: int | None = None,
) -> tuple[AssignmentPass, np.ndarray]:
    """A CSR block's pass 1 of the metrics; twin of :func:`.scores.assignment_block` (same
    labels, moments and sample up to rounding).

    One sparse product per tile ranks every run's centres; one more sparse product gives
    every run's per-cluster sums (:func:`center_sums`). The sample's rows stay CSR.
    ``origin`` must be None or zero: CSR blocks are stored uncentred.
    """
    assert origin is None or not np.any(origin), "CSR blocks have no origin"
    x = as_csr(x)
    n = x.shape[0]
    big_k = stacked.centers.shape[0]
    runs = stacked.runs
    data = np.ones(n) if w is None else np.asarray(w, dtype=np.float64)
    pc = PreparedCenters.of(stacked.centers)
    all_labels = np.empty((runs, n), dtype=label_dtype(big_k))
    for start, stop in sparse_tiles(n, big_k, chunk):
        out = distance_tile(row_slice(x, start, stop), pc)
        for r in range(runs):
            all_labels[r, start:stop] = np.argmin(out[:, stacked.run(r)], axis=1)
    offsets = np.asarray(stacked.layout.offsets[:-1], dtype=np.int64)
    stacked_labels = all_labels.T.astype(np.int64) + offsets  # (n, runs), into 0..K-1
    every = _moment_sums(x, data, stacked_labels, np.arange(big_k, dtype=np.float64))
    moments: list[ClusterMoments | SparseClusterMoments] = []
    for r in range(runs):
        part = stacked.run(r)
        moments.append(
            SparseClusterMoments(
                ids=np.arange(part.stop - part.start, dtype=np.float64),
                counts=every.counts[part],
                weights=every.weights[part],
                sums=as_csr(every.sums[part.start : part.stop]),
                sq_norm_sums=every.sq_norm_sums[part],
            )
        )
    take = block_sample_rows(sample_keys, sample_size)
    rows = as_csr(x[take])
    sample = RowSample(
        size=sample_size,
        keys=sample_keys[take],
        position=np.stack([np.full(take.size, partition), take], axis=1).astype(np.int64),
        rows=sp.csr_array(
            (np.asarray(rows.data, dtype=np.float64), rows.indices, rows.indptr), shape=rows.shape
        ),
        labels=all_labels[:, take].astype(np.int64),
    )
    return AssignmentPass(list(moments), sample), all_labels


def own_sq_dist(xc: CSR, means: F64, mean_sq_norms: F64, labels: I64) -> F64:
    """``|x_i - mean_{labels_i}|^2`` for a tile of CSR rows, from the rows' entries only
    (``O(nnz)``, no dense row): the squared differences where the row is stored, plus the
    mean's squares where it is not (``|mean|^2`` less those where it is). The term that
    vanishes for a row on its mean is computed by difference, so it does not cancel."""
    xc = as_csr(xc)
    rows = np.repeat(np.arange(xc.shape[0]), np.diff(xc.indptr))
    a, b = int(xc.indptr[0]), int(xc.indptr[-1])
    at = means[labels[rows], xc.indices[a:b]]
    diff = np.asarray(xc.data[a:b], dtype=np.float64) - at
    stored = np.bincount(rows, weights=diff * diff, minlength=xc.shape[0])
    covered = np.bincount(rows, weights=at * at, minlength=xc.shape[0])
    return stored + np.maximum(mean_sq_norms[labels] - covered, 0.0)


def separation_block(
    x: CSR,
    w: F64 | None,
    stacked: StackedCenters,
    spreads: Sequence[ClusterSpread],
    *,
    origin: F64 | None = None,
    labels: np.ndarray | None = None,
    chunk: int | None = None,
) -> list[SeparationSums]:
    """A CSR block's pass 2 of the metrics; twin of :func:`.scores.separation_block`: the
    distances to every mean by one sparse product per tile, each row's distance to its
    own cluster's mean by :func:`own_sq_dist`."""
    assert origin is None or not np.any(origin), "CSR blocks have no origin"
    x = as_csr(x)
    n = x.shape[0]
    big_k = stacked.centers.shape[0]
    means = np.concatenate([s.means for s in spreads])
    pm = PreparedCenters.of(means)
    pc = PreparedCenters.of(stacked.centers) if labels is None else None
    norms = squared_norms(x)
    out = [SeparationSums(np.zeros(k), 0.0, 0.0) for k in stacked.sizes()]
    data = None if w is None else np.asarray(w, dtype=np.float64)
    for start, stop in sparse_tiles(n, big_k, chunk):
        xc = row_slice(x, start, stop)
        to_means = _to_means(xc, norms[start:stop], pm)
        ranks = None if pc is None else distance_tile(xc, pc)
        wc = None if data is None else data[start:stop]
        for r in range(stacked.runs):
            part = stacked.run(r)
            if labels is None:
                assert ranks is not None
                lab = np.argmin(ranks[:, part], axis=1).astype(np.int64)
            else:
                lab = labels[r, start:stop].astype(np.int64)
            own = own_sq_dist(xc, means[part], pm.sq_norms[part], lab)
            out[r] = out[r].merge(separation_rows(to_means[:, part], own, lab, wc, spreads[r]))
    return out


def _to_means(xc: CSR, norms: F64, pm: PreparedCenters) -> F64:
    """``(rows, k)`` squared distances of a tile of rows (squared norms ``norms``) to the
    prepared means, clamped at 0 (the GEMM form, which ranks and averages; a row's own
    distance is :func:`own_sq_dist`'s)."""
    to_means = distance_tile(xc, pm)
    to_means += norms[:, None]
    np.maximum(to_means, 0.0, out=to_means)
    return to_means


def labelled_separation(
    x: CSR,
    w: F64 | None,
    labels: I64,
    spread: ClusterSpread,
    *,
    prepared: PreparedCenters | None = None,
    chunk: int | None = None,
) -> SeparationSums:
    """Pass 2 of CSR rows whose clusters are given (``labels`` index ``spread``'s
    clusters; the evaluator's predictions), tile by tile as :func:`separation_block`.

    ``prepared`` is ``PreparedCenters.of(spread.means)``, which a task builds once for all
    its batches (a ``(d, k)`` transpose: 40 MB at k = 20 and ``2**18`` features).
    """
    x = as_csr(x)
    n, k = x.shape[0], spread.means.shape[0]
    pm = PreparedCenters.of(spread.means) if prepared is None else prepared
    norms = squared_norms(x)
    data = None if w is None else np.asarray(w, dtype=np.float64)
    out = SeparationSums(np.zeros(k), 0.0, 0.0)
    for start, stop in sparse_tiles(n, k, chunk):
        xc = row_slice(x, start, stop)
        lab = np.asarray(labels[start:stop], dtype=np.int64)
        own = own_sq_dist(xc, spread.means, pm.sq_norms, lab)
        wc = None if data is None else data[start:stop]
        out = out.merge(separation_rows(_to_means(xc, norms[start:stop], pm), own, lab, wc, spread))
    return out
