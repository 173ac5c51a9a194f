"""The MapReduce Lloyd iteration: blocks -> partial statistics -> driver -> broadcast.

Each iteration is exactly one Spark job over the resident blocks (see
:mod:`kmeans_spark.blocks`): every block returns per-centre sums, weights, counts, costs and
its few farthest points; the driver merges them, computes the new centres (reseeding empty
clusters from those far points, so no extra pass), and ships the centres to the next
iteration's tasks (inside the task when small, else as a broadcast; see
:meth:`ResidentBlocks.share`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kmeans_spark import blockstore, kernels
from kmeans_spark.blocks import BlockHandle, ResidentBlocks

log = logging.getLogger(__name__)

#: Far points each block reports, for reseeding empty clusters within the same pass.
MAX_FAR_POINTS = 32


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
    blocks: ResidentBlocks,
    centers: np.ndarray,
    *,
    max_iter: int,
    tol: float,
    spherical: bool,
    reseed_empty: bool,
    prune: bool | None = None,
) -> LloydResult:
    """Lloyd iterations until every centre moves at most ``tol`` (Spark's rule) or
    ``max_iter`` iterations have run.

    ``cost_history[i]`` is the cost of iteration ``i``'s assignment to the centres it
    started from (what MLlib logs); the returned ``cost`` is the objective of the last
    assignment about the returned centres, exact without another pass.

    With ``prune`` (default: when :func:`kernels.use_pruning` says it pays) each block
    keeps Hamerly's bounds in a state file beside it from one iteration to the next
    (``lloyd<i>``, written by the task of iteration ``i``), and most rows skip most
    distances; the assignments are those of the plain step. A task that finds no state
    (first iteration, a retry, a rebuilt block) computes its block in full.
    """
    k, dim = centers.shape
    prune = kernels.use_pruning(k, dim) if prune is None else prune
    n_far = min(k, MAX_FAR_POINTS) if reseed_empty else 0
    centers = np.asarray(centers, dtype=np.float64)
    costs: list[float] = []
    shifts: list[float] = []
    seconds: list[float] = []
    reseeded = 0
    update: kernels.CenterUpdate | None = None
    converged = False
    scale = 0.5 if spherical else 1.0  # unit vectors: |x - c|^2 = 2 (1 - cos)
    pruned: list[float] = []
    previous: np.ndarray | None = None
    for it in range(1, max_iter + 1):
        t0 = time.perf_counter()
        moves = None
        if prune and previous is not None:
            moves = kernels.CenterMoves.between(previous, centers)
        with blocks.share((centers, moves)) as shared:

            def step(
                h: BlockHandle,
                x: np.ndarray,
                w: np.ndarray | None,
                shared: Any = shared,
                it: int = it,
            ) -> kernels.PartialStats:
                centers, moves = shared.value
                if not prune:
                    return kernels.partial_stats(x, w, centers, n_far=n_far, origin=h.origin_array)
                state_in = h.state_path(f"lloyd{it - 1}")
                bounds = blockstore.load_state(state_in) if moves is not None else None
                stats, bounds_out = kernels.pruned_stats(
                    x, w, centers, bounds, moves, n_far=n_far, origin=h.origin_array
                )
                blockstore.save_array(h.state_path(f"lloyd{it}"), bounds_out)
                if bounds is not None:  # a retry of this task finds none and starts afresh
                    with contextlib.suppress(OSError):
                        os.unlink(state_in)
                return stats

            stats = blocks.run(step, kernels.PartialStats.merge)
        previous = centers
        update = kernels.update_centers(
            stats, centers, reseed_empty=reseed_empty, spherical=spherical
        )
        shift = kernels.max_center_shift(centers, update.centers, spherical)
        centers = update.centers
        reseeded += len(update.reseeded)
        costs.append(stats.cost * scale)
        pruned.append(1.0 - stats.computed / max(int(stats.counts.sum()), 1))
        shifts.append(shift)
        seconds.append(time.perf_counter() - t0)
        log.info(
            "iteration %d: cost %.9g, max centre shift %.3g, %.3f s, %.0f%% of rows pruned%s",
            it,
            costs[-1],
            shift,
            seconds[-1],
            100 * pruned[-1],
            f", reseeded {len(update.reseeded)} empty clusters" if update.reseeded else "",
        )
        if update.reseeded:
            continue  # a reseeded centre has not been tried yet: never stop on it
        if shift <= tol:
            converged = True
            break
    assert update is not None, "max_iter >= 1"
    return LloydResult(
        centers=centers,
        cost=update.cost,
        cluster_sizes=[int(c) for c in update.counts],
        cluster_weights=[float(w) for w in update.weights],
        num_iter=len(costs),
        converged=converged,
        convergence_reason="converged" if converged else "maxIter",
        cost_history=costs,
        shift_history=shifts,
        iteration_seconds=seconds,
        reseeded=reseeded,
        pruned_fraction=pruned,
    )
