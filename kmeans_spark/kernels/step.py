"""One Lloyd step: a block's partial statistics, and the driver's centre update.

A block's :class:`PartialStats` (per-centre sums, weights, counts, costs, and its few
farthest points) merge associatively; :func:`update_centers` turns the merged statistics
into new centres, reseeding empty clusters from the far points, so no extra pass is needed.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from kmeans_spark.kernels.distance import (
    F64,
    I64,
    FloatArray,
    PreparedCenters,
    distance_tile,
    exact_sq_dist,
    origin_or_zero,
    row_tiles,
    squared_norms,
    top_indices,
)


@dataclass
class PartialStats:
    """What one block contributes to a Lloyd step, mergeable in any order.

    ``costs`` are per-cluster sums of ``w * d^2`` to the centres the step was computed with;
    ``far_*`` are the few points farthest from their centre (for reseeding empty clusters
    without another pass over the data). Merging is associative and commutative up to
    floating-point rounding; the driver merges in partition order, so results are
    deterministic for a given partitioning.
    """

    sums: F64  # (k, d) weighted sums of the points assigned to each centre
    weights: F64  # (k,) summed weights
    counts: I64  # (k,) number of points
    costs: F64  # (k,) summed w * squared distance
    far_sq_dist: F64 = field(default_factory=lambda: np.empty(0))
    far_points: F64 = field(default_factory=lambda: np.empty((0, 0)))
    far_labels: I64 = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    far_weights: F64 = field(default_factory=lambda: np.empty(0))
    n_far: int = 0
    computed: int = 0  # rows whose distances to every centre were computed (not pruned)
    #: a dense block's statistics; :class:`.sparse.SparsePartialStats` is the CSR twin,
    #: which :meth:`merge` and :func:`update_centers` hand the work to
    sparse: ClassVar[bool] = False

    @classmethod
    def zeros(cls, k: int, d: int, n_far: int) -> PartialStats:
        return cls(
            sums=np.zeros((k, d)),
            weights=np.zeros(k),
            counts=np.zeros(k, dtype=np.int64),
            costs=np.zeros(k),
            far_sq_dist=np.empty(0),
            far_points=np.empty((0, d)),
            far_labels=np.empty(0, dtype=np.int64),
            far_weights=np.empty(0),
            n_far=n_far,
        )

    @property
    def cost(self) -> float:
        return float(self.costs.sum())

    def _keep_farthest(self) -> None:
        keep = top_indices(self.far_sq_dist, self.n_far)
        self.far_sq_dist = self.far_sq_dist[keep]
        self.far_points = self.far_points[keep]
        self.far_labels = self.far_labels[keep]
        self.far_weights = self.far_weights[keep]

    def update(self, centers: F64, *, reseed_empty: bool, spherical: bool) -> CenterUpdate:
        """:func:`update_centers` of these statistics (the sparse twin has its own)."""
        return update_centers(self, centers, reseed_empty=reseed_empty, spherical=spherical)

    def merge(self, other: PartialStats) -> PartialStats:
        """Return the statistics of both blocks together (neither input is modified); with
        a CSR block's (a fit of dense and sparse blocks) the sparse twin merges them."""
        if other.sparse:
            return other.merge(self)
        out = PartialStats(
            sums=self.sums + other.sums,
            weights=self.weights + other.weights,
            counts=self.counts + other.counts,
            costs=self.costs + other.costs,
            far_sq_dist=np.concatenate([self.far_sq_dist, other.far_sq_dist]),
            far_points=np.concatenate([self.far_points, other.far_points]),
            far_labels=np.concatenate([self.far_labels, other.far_labels]),
            far_weights=np.concatenate([self.far_weights, other.far_weights]),
            n_far=max(self.n_far, other.n_far),
            computed=self.computed + other.computed,
        )
        out._keep_farthest()
        return out


class Accumulator:
    """Per-tile accumulation shared by :func:`multi_partial_stats` and :func:`pruned_stats`:
    per-centre sums as one sparse one-hot product, weights, counts, costs, far points."""

    def __init__(self, k: int, d: int, n_far: int) -> None:
        self.k = k
        self.stats = PartialStats.zeros(k, d, n_far)
        self.far: tuple[list[F64], list[F64], list[I64], list[F64]] = ([], [], [], [])

    def add(self, xc: FloatArray, wc: F64 | None, labels: I64, d2: F64) -> None:
        data = np.ones(xc.shape[0]) if wc is None else np.asarray(wc, dtype=np.float64)
        self.add_sums(xc, data, labels[:, None], d2[:, None])
        self.add_far(xc, data, labels, d2)

    def add_sums(self, xc: FloatArray, data: F64, labels: I64, d2: F64) -> None:
        """Sums, weights, counts and costs of a tile. ``labels`` and ``d2`` have one column
        per run (stacked labels: run ``r``'s are offset into its slice), so one sparse
        product and three bincounts serve every run of a sweep."""
        rows, runs = labels.shape
        k, stats = self.k, self.stats
        flat = labels.ravel()
        each = data if runs == 1 else np.repeat(data, runs)
        # ``runs`` entries per column: CSC needs no sorting, unlike (row, col) pairs
        onehot = sp.csc_matrix((each, flat, np.arange(0, rows * runs + 1, runs)), shape=(k, rows))
        stats.sums += onehot @ xc
        stats.weights += np.bincount(flat, weights=each, minlength=k)
        stats.counts += np.bincount(flat, minlength=k)
        stats.costs += np.bincount(flat, weights=(d2 * data[:, None]).ravel(), minlength=k)

    def add_far(self, xc: FloatArray, data: F64, labels: I64, d2: F64) -> None:
        """Keep the tile's rows farthest from their centre (one run's labels)."""
        if self.stats.n_far > 0:
            top = top_indices(d2, self.stats.n_far)
            self.far[0].append(d2[top])
            self.far[1].append(np.asarray(xc[top], dtype=np.float64))
            self.far[2].append(labels[top])
            self.far[3].append(data[top])

    def finish(self, centers: F64, shift: F64) -> PartialStats:
        """Back to original coordinates; far points' distances recomputed exactly."""
        stats = self.stats
        stats.sums += stats.weights[:, None] * shift
        if stats.n_far > 0 and self.far[1]:
            stats.far_points = np.concatenate(self.far[1]) + shift
            stats.far_labels = np.concatenate(self.far[2])
            stats.far_sq_dist = exact_sq_dist(stats.far_points, centers[stats.far_labels])
            stats.far_weights = np.concatenate(self.far[3])
            stats._keep_farthest()
        return stats


@dataclass(frozen=True)
class RunLayout:
    """Several runs' centre sets stacked into one ``(sum of k_r, d)`` matrix: run ``r``
    owns rows ``offsets[r]:offsets[r + 1]``. One GEMM per tile then serves every run (a k
    sweep or restarts), and each run takes its argmin within its own slice."""

    offsets: tuple[int, ...]

    @classmethod
    def of(cls, ks: list[int] | tuple[int, ...]) -> RunLayout:
        return cls(tuple(int(v) for v in np.concatenate([[0], np.cumsum(ks)])))

    @property
    def runs(self) -> int:
        return len(self.offsets) - 1

    def slices(self) -> list[slice]:
        return [slice(a, b) for a, b in zip(self.offsets[:-1], self.offsets[1:], strict=True)]

    def split(self, stacked: F64) -> list[F64]:
        return [stacked[s] for s in self.slices()]


def partial_stats(
    x: FloatArray,
    weights: F64 | None,
    centers: F64,
    n_far: int = 0,
    chunk: int | None = None,
    origin: F64 | None = None,
) -> PartialStats:
    """One block's share of a Lloyd step: per-centre sums, weights, counts and costs.

    The per-centre sums are one sparse-times-dense product per tile (a one-hot
    ``(k x rows)`` matrix times the tile), not a loop over clusters or dimensions.

    Parameters
    ----------
    x : ndarray of shape (n, d), float32 or float64
    weights : ndarray of shape (n,) or None
        Non-negative point weights; ``None`` means all ones.
    centers : ndarray of shape (k, d), float64
    n_far : int
        How many of the points farthest from their centre to keep (for empty clusters);
        their distances are recomputed exactly, so a point sitting on its centre has 0.
    origin : ndarray of shape (d,), optional
        The block is ``points - origin`` (see the module docstring); sums and far points
        are returned in the original coordinates.
    """
    layout = RunLayout.of([centers.shape[0]])
    return multi_partial_stats(x, weights, centers, layout, n_far, chunk, origin)[0]


def bounds_array(n: int, k: int) -> np.ndarray:
    """An empty ``(2, n)`` array of Hamerly bounds (each row's centre, and a lower bound on
    its distance to every other centre; see :func:`.pruning.pruned_stats`) for ``k``
    centres: float32, half the bytes of the state file written and read back every pass
    (labels are exact in float32 below 2**24 centres; lower bounds go in by
    :func:`set_bounds`, rounded down, so they stay bounds)."""
    return np.empty((2, n), dtype=np.float32 if k <= 2**24 else np.float64)


def set_bounds(bounds: np.ndarray, start: int, stop: int, labels: I64, lower: F64) -> None:
    """Rows ``start:stop`` of ``bounds`` (see :func:`bounds_array`)."""
    bounds[0, start:stop] = labels
    low = lower.astype(bounds.dtype)
    if low.dtype != lower.dtype:  # the nearest float32 may be above: step down to below
        np.nextafter(low, -np.inf, out=low, where=low > lower)
    bounds[1, start:stop] = low


def multi_partial_stats(
    x: FloatArray,
    weights: F64 | None,
    stacked: F64,
    layout: RunLayout,
    n_far: int | Sequence[int] = 0,
    chunk: int | None = None,
    origin: F64 | None = None,
) -> list[PartialStats]:
    """:func:`partial_stats` of every run of ``layout`` at once: one distance tile against
    all stacked centres (one GEMM), then each run's argmin within its slice and its own
    statistics. A run's result equals what :func:`partial_stats` gives for its centres
    alone, up to the rounding of sums taken over differently sized tiles. ``n_far`` is one
    count for every run, or one per run."""
    stats, _ = multi_partial_stats_and_bounds(x, weights, stacked, layout, n_far, chunk, origin)
    return stats


def multi_partial_stats_and_bounds(
    x: FloatArray,
    weights: F64 | None,
    stacked: F64,
    layout: RunLayout,
    n_far: int | Sequence[int] = 0,
    chunk: int | None = None,
    origin: F64 | None = None,
    bounds_for: Collection[int] = (),
) -> tuple[list[PartialStats], dict[int, np.ndarray]]:
    """:func:`multi_partial_stats`, and for each run in ``bounds_for`` (by position in
    ``layout``) the Hamerly bounds :func:`.pruning.pruned_stats` goes on from
    (:func:`bounds_array`: each row's centre within the run and its distance to the run's
    second-nearest centre), from the same distance tile. So the first pass of a run that
    prunes costs its share of the stacked GEMM, not a pass of its own."""
    big_k, d = stacked.shape
    slices = layout.slices()
    fars = [n_far] * len(slices) if isinstance(n_far, int) else list(n_far)
    # far points per run; sums, weights, counts and costs of every run in one accumulator
    accs = [Accumulator(s.stop - s.start, d, f) for s, f in zip(slices, fars, strict=True)]
    total = Accumulator(big_k, d, 0)
    n = x.shape[0]
    bounds = {r: bounds_array(n, slices[r].stop - slices[r].start) for r in bounds_for}
    stacked = np.asarray(stacked, dtype=np.float64)
    if n == 0:
        return [acc.stats for acc in accs], bounds
    shift = origin_or_zero(origin, d)
    pc = PreparedCenters.of(stacked - shift, x.dtype)
    for start, stop, tile in row_tiles(x, big_k, chunk):
        xc = x[start:stop]
        data = (
            np.ones(stop - start)
            if weights is None
            else np.asarray(weights[start:stop], np.float64)
        )
        out = distance_tile(xc, pc, tile)
        norms = squared_norms(xc)
        labels = np.empty((stop - start, len(slices)), dtype=np.int64)
        d2 = np.empty((stop - start, len(slices)))
        for r, (acc, part) in enumerate(zip(accs, slices, strict=True)):
            block = out[:, part]
            run_labels = np.argmin(block, axis=1)
            best = np.take_along_axis(block, run_labels[:, None], axis=1)[:, 0].astype(np.float64)
            best += norms
            np.maximum(best, 0.0, out=best)
            acc.add_far(xc, data, run_labels, best)
            labels[:, r] = run_labels + part.start
            d2[:, r] = best
            if r in bounds:
                second = _second_nearest(block, run_labels, norms)
                set_bounds(bounds[r], start, stop, run_labels, second)
        total.add_sums(xc, data, labels, d2)
    results = []
    for acc, part in zip(accs, slices, strict=True):
        mine = acc.stats
        mine.sums = total.stats.sums[part].copy()
        mine.weights = total.stats.weights[part].copy()
        mine.counts = total.stats.counts[part].copy()
        mine.costs = total.stats.costs[part].copy()
        mine.computed = n
        results.append(acc.finish(stacked[part], shift))
    return results, bounds


def _second_nearest(block: np.ndarray, labels: I64, norms: F64) -> F64:
    """Each row's distance to its second-nearest centre of ``block`` (a run's slice of a
    distance tile, less ``|x|^2``; overwritten), as :func:`.distance.two_nearest_tile`:
    ``inf`` for one centre."""
    if block.shape[1] == 1:
        return np.full(block.shape[0], np.inf)
    np.put_along_axis(block, labels[:, None], np.inf, axis=1)
    second = block.min(axis=1).astype(np.float64) + norms
    return np.sqrt(np.maximum(second, 0.0))


def merge_runs(a: list[PartialStats], b: list[PartialStats]) -> list[PartialStats]:
    """Merge two blocks' statistics run by run."""
    return [x.merge(y) for x, y in zip(a, b, strict=True)]


@dataclass
class CenterUpdate:
    """The driver's result of one Lloyd step."""

    centers: F64  # (k, d) new centres
    weights: F64  # (k,) summed weight of each cluster (after reseeding)
    counts: I64  # (k,) points in each cluster (after reseeding)
    cost: float  # k-means objective of this assignment about the *new* centres
    reseeded: list[int]  # clusters that were empty and got a far point


def update_centers(
    stats: PartialStats,
    centers: F64,
    *,
    reseed_empty: bool = True,
    spherical: bool = False,
) -> CenterUpdate:
    """New centres from merged statistics, with empty clusters reseeded or kept.

    Empty clusters (no weight) are reseeded, as scikit-learn does, at the points farthest
    from their centre: the point leaves its old cluster (whose sums are corrected) and
    becomes the new centre. A candidate whose removal would empty its own cluster, or that
    already sits on its centre, is passed over. Clusters left empty keep their old centre
    (Spark's behaviour, also ``reseed_empty=False``): never the origin, never NaN.

    The returned ``cost`` is exact for the assignment this step used and the centres it
    returns, without another pass: for Euclidean, each cluster's cost about its old centre
    minus ``W |m - c|^2`` (the parallel-axis identity); for spherical k-means,
    ``W - S.m`` with ``S`` the cluster's weighted sum and ``m`` the unit centre.
    """
    if stats.sparse:  # merged statistics of CSR blocks: the twin's update
        return stats.update(centers, reseed_empty=reseed_empty, spherical=spherical)
    sums = stats.sums.copy()
    weights = stats.weights.copy()
    counts = stats.counts.copy()
    costs = stats.costs.copy()
    old = np.asarray(centers, dtype=np.float64)
    anchor = old.copy()  # the point each cluster's ``costs`` were measured from
    reseeded: list[int] = []
    if reseed_empty and (weights <= 0).any():
        scales = [
            float(x @ x + old[src] @ old[src])
            for x, src in zip(stats.far_points, stats.far_labels, strict=True)
        ]
        for j, i in plan_reseeding(stats, scales):
            src = int(stats.far_labels[i])
            wx = float(stats.far_weights[i])
            x = stats.far_points[i]
            sums[src] -= wx * x
            weights[src] -= wx
            counts[src] -= 1
            costs[src] = max(costs[src] - wx * float(stats.far_sq_dist[i]), 0.0)
            sums[j] = wx * x
            weights[j] = wx
            counts[j] = 1
            costs[j] = 0.0
            anchor[j] = x
            reseeded.append(j)
    new = old.copy()
    filled = weights > 0
    new[filled] = sums[filled] / weights[filled, None]
    if spherical:
        norms = np.linalg.norm(new, axis=1)
        ok = filled & (norms > 0)
        new[ok] /= norms[ok, None]
        new[~ok] = old[~ok]
        cluster_costs = np.where(ok, weights - np.einsum("ij,ij->i", sums, new), costs / 2.0)
    else:
        shift2 = np.einsum("ij,ij->i", new - anchor, new - anchor)
        cluster_costs = np.where(filled, costs - weights * shift2, 0.0)
    cost = float(np.maximum(cluster_costs, 0.0).sum())
    return CenterUpdate(centers=new, weights=weights, counts=counts, cost=cost, reseeded=reseeded)


def plan_reseeding(stats: Any, scales: Sequence[float]) -> list[tuple[int, int]]:
    """Which far point reseeds each empty cluster: ``(cluster, far point)`` pairs, shared by
    the dense and the sparse :func:`update_centers` (they differ only in how they move
    the point's sums).

    Empty clusters (weight 0) take, in order, the far points in their stored order (the
    farthest first within a block's share); a point is passed over when it already sits on
    its centre (``far_sq_dist <= 1e-20 * scales[i]``, ``scales[i]`` being ``|x|^2 +
    |c|^2``: moving it would only duplicate a centre), has no weight, or would empty its
    own cluster (the weights left after earlier moves count). A point is used once.

    Parameters
    ----------
    stats : PartialStats or SparsePartialStats
        Merged statistics: ``weights`` ``(k,)`` and the far points' ``far_sq_dist``,
        ``far_labels``, ``far_weights`` ``(m,)``.
    scales : sequence of float, length m
    """
    weights = np.array(stats.weights, dtype=np.float64)
    plan: list[tuple[int, int]] = []
    candidates = iter(range(stats.far_sq_dist.size))
    for j in np.flatnonzero(weights <= 0):
        for i in candidates:
            src = int(stats.far_labels[i])
            wx = float(stats.far_weights[i])
            if stats.far_sq_dist[i] <= 1e-20 * scales[i] or wx <= 0 or weights[src] - wx <= 0:
                continue
            weights[src] -= wx
            weights[j] = wx
            plan.append((int(j), i))
            break
    return plan


def max_center_shift(old: F64, new: F64, spherical: bool = False) -> float:
    """Largest move of any centre: Euclidean distance, or ``1 - cos`` for spherical k-means.

    This is Spark's convergence measure: the fit stops once it is at most ``tol``.
    """
    if spherical:
        cos = np.einsum("ij,ij->i", old, new)
        return float(np.max(1.0 - cos)) if cos.size else 0.0
    diff = new - old
    return float(np.sqrt(np.max(np.einsum("ij,ij->i", diff, diff)))) if diff.size else 0.0
