"""The Lloyd step with Hamerly's bounds: the same assignment as :func:`.step.partial_stats`,
computing distances to every centre only for the rows that may have changed centre."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kmeans_spark.kernels.distance import (
    F64,
    FloatArray,
    PreparedCenters,
    exact_pairwise_sq_dist,
    exact_sq_dist,
    origin_or_zero,
    row_tiles,
    two_nearest_tile,
)
from kmeans_spark.kernels.step import Accumulator, PartialStats, bounds_array, set_bounds

#: The fewest centres of a run that prunes among several runs (see :func:`use_pruning`).
MIN_K_AMONG_RUNS = 40


def use_pruning(k: int, d: int, min_k: int = 8, min_kd: int = 256, *, runs: int = 1) -> bool:
    """Whether bounds pay for a run of ``k`` centres in ``d`` dimensions: once the full
    distance product is large next to the per-row bookkeeping (measured, one run, 100k rows,
    iterations 2-20: k=10 d=16 1.27x slower; k=25 d=16 1.8x faster; k=100 d=64 1.8x; k=1000
    d=32 5x).

    Among ``runs`` > 1 runs sharing each pass, a run that does not prune costs only its
    share of the stacked GEMM and its argmin, the per-row work around them being shared, so
    bounds pay from :data:`MIN_K_AMONG_RUNS` centres (measured: 5 restarts of 300k rows, up
    to 20 iterations, CPU time pruned / stacked: k=10-25 1.0-2.1x slower at d=8-64; k=40
    0.63-0.92 at d=8-32, 1.03 at d=64; k=100 d=64 0.39; a sweep k=2..15 at d=16 or 64, 1.2-1.6x
    slower if every run pruned).
    """
    return k >= (min_k if runs == 1 else max(min_k, MIN_K_AMONG_RUNS)) and k * d >= min_kd


@dataclass(frozen=True)
class CenterMoves:
    """What the bounds need to know of one centre update (computed on the driver)."""

    moved: F64  # (k,) distance each centre moved since the previous pass
    half_gap: F64  # (k,) half the distance from each centre to its nearest other centre

    @property
    def nbytes(self) -> int:
        return int(self.moved.nbytes + self.half_gap.nbytes)

    @classmethod
    def between(cls, old: F64, new: F64) -> CenterMoves:
        moved = np.sqrt(exact_sq_dist(np.asarray(new, dtype=np.float64), old))
        k = new.shape[0]
        if k == 1:
            return cls(moved=moved, half_gap=np.full(1, np.inf))
        gaps = exact_pairwise_sq_dist(np.asarray(new, dtype=np.float64))
        np.fill_diagonal(gaps, np.inf)
        return cls(moved=moved, half_gap=0.5 * np.sqrt(gaps.min(axis=1)))


def pruned_stats(
    x: FloatArray,
    weights: F64 | None,
    centers: F64,
    bounds: np.ndarray | None,
    moves: CenterMoves | None,
    n_far: int = 0,
    chunk: int | None = None,
    origin: F64 | None = None,
) -> tuple[PartialStats, np.ndarray]:
    """:func:`partial_stats` with Hamerly's bounds: the same assignment, and the same
    statistics, computing distances to every centre only for the rows that may have moved.

    ``bounds`` is what the previous call returned for this block (or the stacked pass of
    :func:`.step.multi_partial_stats_and_bounds`): a ``(2, n)`` array of each row's centre
    and a lower bound on its distance to every *other* centre (float32, see
    :func:`.step.bounds_array`), valid for the centres before ``moves``. ``None`` (first
    pass, or the state was lost) computes every row in full; the result does not depend on
    which. Per row, with ``a`` its centre:

    * the lower bound shrinks by the largest move of any other centre;
    * the exact distance ``u`` to ``a`` is computed (one row-wise difference, ``d`` flops);
    * if ``u`` is at most the lower bound, or at most half the gap from ``a`` to its
      nearest other centre, no other centre can be nearer: the row keeps ``a``;
    * otherwise its distances to all centres are computed (GEMM form, as the plain step),
      giving its centre and a fresh lower bound.

    Costs use exact row-wise distances to the assigned centre. Returns the statistics and
    the bounds to pass to the next call (after the centres move again).
    """
    k, d = centers.shape
    acc = Accumulator(k, d, n_far)
    n = x.shape[0]
    out_bounds = bounds_array(n, k)
    if n == 0:
        return acc.stats, out_bounds
    shift = origin_or_zero(origin, d)
    centers = np.asarray(centers, dtype=np.float64)
    local = centers - shift
    local_x = local.astype(x.dtype)  # the rows' dtype: differences need no upcast copy
    pc = PreparedCenters.of(local, x.dtype)
    use = bounds is not None and moves is not None and bounds.shape == (2, n) and k > 1
    if use:
        assert moves is not None
        order = np.argsort(-moves.moved, kind="stable")
        fastest, top_move, next_move = order[0], moves.moved[order[0]], moves.moved[order[1]]
    computed = 0
    for start, stop, tile in row_tiles(x, k, chunk):
        xc = x[start:stop]
        if use:
            assert bounds is not None and moves is not None
            labels = bounds[0, start:stop].astype(np.int64)
            lower = bounds[1, start:stop] - np.where(labels == fastest, next_move, top_move)
            d2 = exact_sq_dist(xc, local_x[labels])
            need = np.flatnonzero(np.sqrt(d2) > np.maximum(moves.half_gap[labels], lower))
        else:
            labels = np.zeros(stop - start, dtype=np.int64)
            lower = np.empty(stop - start)
            d2 = np.empty(stop - start)
            need = np.arange(stop - start)
        if need.size:
            sub_labels, sub_second = two_nearest_tile(xc[need], pc, tile)
            moved_rows = need if not use else need[sub_labels != labels[need]]
            labels[need] = sub_labels
            lower[need] = np.sqrt(sub_second)
            computed += need.size
            if moved_rows.size:
                d2[moved_rows] = exact_sq_dist(xc[moved_rows], local_x[labels[moved_rows]])
        set_bounds(out_bounds, start, stop, labels, lower)
        acc.add(xc, None if weights is None else weights[start:stop], labels, d2)
    acc.stats.computed = computed
    return acc.finish(centers, shift), out_bounds
