"""The MapReduce Lloyd iteration: blocks -> partial statistics -> driver -> broadcast.

Each iteration is exactly one Spark job over the resident blocks (see
:mod:`kmeans_spark.blocks`): every block returns per-centre sums, weights, counts, costs and
its few farthest points; the driver merges them, computes the new centres (reseeding empty
clusters from those far points, so no extra pass), and ships the centres to the next
iteration's tasks (inside the task when small, else as a broadcast; see
:meth:`ResidentBlocks.share`).
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kmeans_spark.handle import BlockHandle, Blocks, carry_state
from kmeans_spark.kernels.pruning import CenterMoves, pruned_stats, use_pruning
from kmeans_spark.kernels.step import (
    CenterUpdate,
    PartialStats,
    RunLayout,
    max_center_shift,
    merge_runs,
    multi_partial_stats,
    partial_stats,
    update_centers,
)
from kmeans_spark.tuning import DEFAULT_TUNING, Tuning

log = logging.getLogger(__name__)


@dataclass
class LloydResult:
    centers: np.ndarray
    cost: float
    cluster_sizes: list[int]
    cluster_weights: list[float]
    num_iter: int
    converged: bool
    convergence_reason: str
    cost_history: list[float] = field(default_factory=list)
    shift_history: list[float] = field(default_factory=list)
    iteration_seconds: list[float] = field(default_factory=list)
    reseeded: int = 0
    pruned_fraction: list[float] = field(default_factory=list)


def run_lloyd(
    blocks: Blocks,
    centers: np.ndarray,
    *,
    max_iter: int,
    tol: float,
    spherical: bool,
    reseed_empty: bool,
    tuning: Tuning = DEFAULT_TUNING,
) -> LloydResult:
    """Lloyd iterations until every centre moves at most ``tol`` (Spark's rule) or
    ``max_iter`` iterations have run.

    ``cost_history[i]`` is the cost of iteration ``i``'s assignment to the centres it
    started from (what MLlib logs); the returned ``cost`` is the objective of the last
    assignment about the returned centres, exact without another pass.

    With pruning (``tuning.prune``; by default where :func:`use_pruning` says it pays) each block
    keeps Hamerly's bounds in a state file beside it from one iteration to the next
    (``lloyd<i>``, written by the task of iteration ``i``), and most rows skip most
    distances; the assignments are those of the plain step. A task that finds no state
    (first iteration, a retry, a rebuilt block) computes its block in full.
    """
    k, dim = centers.shape
    prune = use_pruning(k, dim) if tuning.prune is None else tuning.prune
    n_far = min(k, tuning.max_far_points) if reseed_empty else 0
    state = _RunState(np.asarray(centers, dtype=np.float64))
    scale = 0.5 if spherical else 1.0  # unit vectors: |x - c|^2 = 2 (1 - cos)
    previous: np.ndarray | None = None
    for it in range(1, max_iter + 1):
        t0 = time.perf_counter()
        moves = None
        if prune and previous is not None:
            moves = CenterMoves.between(previous, state.centers)
        with blocks.share((state.centers, moves)) as shared:
            step = functools.partial(_lloyd_block, shared=shared, it=it, prune=prune, n_far=n_far)
            stats = blocks.run(step, PartialStats.merge)
        previous = state.centers
        state.step(stats, tol, spherical, reseed_empty, scale, time.perf_counter() - t0)
        update = state.update
        assert update is not None
        log.info(
            "iteration %d: cost %.9g, max centre shift %.3g, %.3f s, %.0f%% of rows pruned%s",
            it,
            state.costs[-1],
            state.shifts[-1],
            state.seconds[-1],
            100 * state.pruned[-1],
            f", reseeded {len(update.reseeded)} empty clusters" if update.reseeded else "",
        )
        if state.done:
            break
    return state.result()


def run_lloyd_runs(
    blocks: Blocks,
    starts: list[np.ndarray],
    *,
    max_iter: int,
    tol: float,
    spherical: bool,
    reseed_empty: bool,
    tuning: Tuning = DEFAULT_TUNING,
) -> list[LloydResult]:
    """Lloyd for several runs at once (restarts, or the k of a sweep), in shared passes:
    each pass stacks the centres of the runs still iterating into one matrix (one GEMM per
    tile, :func:`kmeans_spark.kernels.step.multi_partial_stats`); a run that has converged
    drops out of later passes. Each run stops by the rule of :func:`run_lloyd` and returns
    what :func:`run_lloyd` would for its start (up to the rounding of sums over other tile
    sizes). One run alone is :func:`run_lloyd` itself, with its pruning; several runs skip
    pruning (its bounds are per run; the shared GEMM is the saving here).
    """
    if len(starts) == 1:
        return [
            run_lloyd(
                blocks,
                starts[0],
                max_iter=max_iter,
                tol=tol,
                spherical=spherical,
                reseed_empty=reseed_empty,
                tuning=tuning,
            )
        ]
    states = [_RunState(np.asarray(c, dtype=np.float64)) for c in starts]
    scale = 0.5 if spherical else 1.0
    for it in range(1, max_iter + 1):
        active = [s for s in states if not s.done]
        if not active:
            break
        t0 = time.perf_counter()
        layout = RunLayout.of([s.centers.shape[0] for s in active])
        stacked = np.concatenate([s.centers for s in active])
        n_far = tuple(
            min(s.centers.shape[0], tuning.max_far_points) if reseed_empty else 0 for s in active
        )
        with blocks.share(stacked) as shared:
            step = functools.partial(_runs_block, shared=shared, layout=layout, n_far=n_far)
            all_stats = blocks.run(step, merge_runs)
        seconds = time.perf_counter() - t0
        for state, stats in zip(active, all_stats, strict=True):
            state.step(stats, tol, spherical, reseed_empty, scale, seconds)
            if state.done:
                log.info(
                    "run of k=%d converged after %d iterations, cost %.9g",
                    state.centers.shape[0],
                    it,
                    state.update.cost if state.update else float("nan"),
                )
        log.info(
            "iteration %d of %d runs: %d converged, %.3f s",
            it,
            len(active),
            sum(s.done for s in active),
            seconds,
        )
    return [s.result() for s in states]


@dataclass
class _RunState:
    """One run between passes, of :func:`run_lloyd` or of :func:`run_lloyd_runs`: its
    centres, history and whether it has stopped."""

    centers: np.ndarray
    done: bool = False
    converged: bool = False
    update: CenterUpdate | None = None
    costs: list[float] = field(default_factory=list)
    shifts: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    reseeded: int = 0
    pruned: list[float] = field(default_factory=list)

    def step(
        self,
        stats: PartialStats,
        tol: float,
        spherical: bool,
        reseed_empty: bool,
        scale: float,
        seconds: float,
    ) -> None:
        """The driver's side of one iteration: new centres, the pass's cost and shift, and
        Spark's stopping rule (never on a reseeded centre, which has not been tried yet)."""
        update = update_centers(stats, self.centers, reseed_empty=reseed_empty, spherical=spherical)
        shift = max_center_shift(self.centers, update.centers, spherical)
        self.centers, self.update = update.centers, update
        self.reseeded += len(update.reseeded)
        self.costs.append(stats.cost * scale)
        self.shifts.append(shift)
        self.seconds.append(seconds)
        self.pruned.append(1.0 - stats.computed / max(int(stats.counts.sum()), 1))
        if not update.reseeded and shift <= tol:
            self.done = self.converged = True

    def result(self) -> LloydResult:
        update = self.update
        assert update is not None, "max_iter >= 1"
        return LloydResult(
            centers=self.centers,
            cost=update.cost,
            cluster_sizes=[int(c) for c in update.counts],
            cluster_weights=[float(w) for w in update.weights],
            num_iter=len(self.costs),
            converged=self.converged,
            convergence_reason="converged" if self.converged else "maxIter",
            cost_history=self.costs,
            shift_history=self.shifts,
            iteration_seconds=self.seconds,
            reseeded=self.reseeded,
            pruned_fraction=self.pruned,
        )


def _runs_block(
    h: BlockHandle,
    x: np.ndarray,
    w: np.ndarray | None,
    *,
    shared: Any,
    layout: RunLayout,
    n_far: tuple[int, ...],
) -> list[PartialStats]:
    """One pass of several runs on one block (see :func:`run_lloyd_runs`)."""
    return multi_partial_stats(x, w, shared.value, layout, n_far=n_far, origin=h.origin_array)


def _lloyd_block(
    h: BlockHandle,
    x: np.ndarray,
    w: np.ndarray | None,
    *,
    shared: Any,
    it: int,
    prune: bool,
    n_far: int,
) -> PartialStats:
    """Iteration ``it`` on one block: plain, or pruned with the bounds the block's task of
    iteration ``it - 1`` left beside it (valid for the centres before ``moves``)."""
    centers, moves = shared.value
    if not prune:
        return partial_stats(x, w, centers, n_far=n_far, origin=h.origin_array)

    def with_bounds(bounds: np.ndarray | None) -> tuple[PartialStats, np.ndarray]:
        return pruned_stats(x, w, centers, bounds, moves, n_far=n_far, origin=h.origin_array)

    bounds_in = f"lloyd{it - 1}" if moves is not None else None
    return carry_state(h, bounds_in, f"lloyd{it}", with_bounds)
