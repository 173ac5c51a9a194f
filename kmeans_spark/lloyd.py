"""The MapReduce Lloyd iteration: blocks -> partial statistics -> driver -> broadcast.

Each iteration is exactly one Spark job over the resident blocks (see
:mod:`kmeans_spark.blocks`): every block returns per-centre sums, weights, counts, costs and
its few farthest points; the driver merges them, computes the new centres (reseeding empty
clusters from those far points, so no extra pass), and ships the centres to the next
iteration's tasks (inside the task when small, else as a broadcast where the transport has
one; see :meth:`ResidentBlocks.share`).

Several runs (restarts, or the k of a sweep) share each pass: the runs computed in full
are stacked into one matrix (one GEMM per tile), and each run that prunes is computed on its
own, with its own Hamerly bounds beside every block (see :func:`run_lloyd_runs`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
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
    multi_partial_stats_and_bounds,
    update_centers,
)
from kmeans_spark.progress import NoProgress, RunDone, RunProgress
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
    (written by the task of iteration ``i``, read by that of ``i + 1``), and most rows skip
    most distances; the assignments are those of the plain step. A task that finds no state
    (first iteration, a retry, a rebuilt block) computes its block in full.

    One run of :func:`run_lloyd_runs`: a restart among several computes what this computes
    for its start, up to the rounding of sums over other tile sizes.
    """
    (result,) = run_lloyd_runs(
        blocks,
        [centers],
        max_iter=max_iter,
        tol=tol,
        spherical=spherical,
        reseed_empty=reseed_empty,
        tuning=tuning,
    )
    return result


def run_lloyd_runs(
    blocks: Blocks,
    starts: list[np.ndarray],
    *,
    max_iter: int,
    tol: float,
    spherical: bool,
    reseed_empty: bool,
    tuning: Tuning = DEFAULT_TUNING,
    progress: RunProgress | None = None,
) -> list[LloydResult]:
    """Lloyd for several runs at once (restarts, or the k of a sweep), in shared passes,
    one Spark job each; a run that has converged drops out of later passes. Each run stops
    by the rule of :func:`run_lloyd` and returns what :func:`run_lloyd` would for its start
    (up to the rounding of sums over other tile sizes).

    The centres of the runs are stacked into one matrix (one GEMM per tile for all of them,
    :func:`kmeans_spark.kernels.step.multi_partial_stats`), except those of the runs that
    prune (decided once per run by :func:`prunes`; by default from 40 centres among several
    runs). Each of those keeps Hamerly's bounds in a state file per block, named by its
    index in ``starts`` (stable as other runs drop out), and is computed on its own by
    :func:`kmeans_spark.kernels.pruning.pruned_stats`. Its first pass, which has no bounds
    yet, is taken in the stack and keeps the bounds it finds; a task that finds no bounds
    later (a retry, a rebuilt block) computes the run in full. Pruning changes no label, so
    the results do not depend on it.

    ``progress`` hears, on the driver, of every run as it stops (converged, or at
    ``max_iter``) and of every pass (see :mod:`kmeans_spark.progress`).
    """
    progress = progress or NoProgress()
    dim = starts[0].shape[1]
    states = [
        _RunState(
            np.asarray(c, dtype=np.float64),
            prune=prunes(c.shape[0], dim, runs=len(starts), tuning=tuning),
        )
        for c in starts
    ]
    scale = 0.5 if spherical else 1.0  # unit vectors: |x - c|^2 = 2 (1 - cos)
    stale: list[str] = []  # bounds of runs that stopped in the last pass
    for it in range(1, max_iter + 1):
        active = [r for r, s in enumerate(states) if not s.done]
        if not active:
            break
        t0 = time.perf_counter()
        plan = _Pass.of(
            states,
            active,
            it,
            last=it == max_iter,
            tuning=tuning,
            reseed_empty=reseed_empty,
            stale=tuple(stale),
        )
        with blocks.share(plan) as shared:
            step = functools.partial(_runs_block, shared=shared)
            all_stats = blocks.run(step, merge_runs)
        seconds = time.perf_counter() - t0
        stale = []
        for r, stats in zip(plan.order, all_stats, strict=True):
            state = states[r]
            state.step(stats, tol, spherical, reseed_empty, scale, seconds)
            if state.done and state.prune:
                stale.append(_bounds_name(r, it))
        _log_pass(it, [states[r] for r in active], seconds)
        for r in plan.order:
            if states[r].done:
                progress.run_done(_run_done(r, states[r]))
        progress.pass_done(it, sum(s.done for s in states), len(states))
    for r, state in enumerate(states):
        if not state.done:  # stopped by max_iter
            progress.run_done(_run_done(r, state))
    return [s.result() for s in states]


def _run_done(index: int, state: _RunState) -> RunDone:
    update = state.update
    return RunDone(
        index=index,
        k=int(state.centers.shape[0]),
        iterations=len(state.costs),
        converged=state.converged,
        cost=update.cost if update is not None else float("nan"),
    )


def prunes(k: int, dim: int, *, runs: int = 1, tuning: Tuning = DEFAULT_TUNING) -> bool:
    """Whether a run of ``k`` centres in ``dim`` dimensions, one of ``runs`` sharing their
    passes, keeps Hamerly's bounds: ``tuning.prune`` if set, else where :func:`use_pruning`
    says they pay (from more centres among several runs than alone). Decided once: a run
    left alone when the others have stopped keeps its way."""
    return use_pruning(k, dim, runs=runs) if tuning.prune is None else tuning.prune


def _bounds_name(run: int, it: int) -> str:
    """The state file of ``run``'s bounds after iteration ``it``."""
    return f"lloyd{it}" if run == 0 else f"lloyd{it}-run{run}"


@dataclass(frozen=True)
class _PrunedRun:
    """A run that prunes, in a pass after its first: its centres, how they moved since its
    bounds were computed, and the state files to read and write (none written by the last
    pass ``max_iter`` allows: nothing would read them)."""

    centers: np.ndarray
    moves: CenterMoves
    n_far: int
    bounds_in: str
    bounds_out: str | None


@dataclass(frozen=True)
class _Pass:
    """What every block's task of one pass needs: the stacked runs (``layout``), then the
    runs that prune; ``order`` is the index in ``starts`` of each run's result, in the
    order the task returns them. ``first_bounds`` are the stacked runs that prune from the
    next pass on (position in the stack, state file to keep their bounds in). ``stale`` are
    the bounds of runs that have stopped, removed by the task (disk space, not correctness:
    no later pass reads them).
    """

    stacked: np.ndarray
    layout: RunLayout
    n_far: tuple[int, ...]
    first_bounds: tuple[tuple[int, str], ...]
    pruned: tuple[_PrunedRun, ...]
    order: tuple[int, ...]
    stale: tuple[str, ...]

    @property
    def nbytes(self) -> int:
        """What decides between shipping the pass inside the task and a broadcast."""
        return int(
            self.stacked.nbytes + sum(p.centers.nbytes + p.moves.nbytes for p in self.pruned)
        )

    @classmethod
    def of(
        cls,
        states: list[_RunState],
        active: list[int],
        it: int,
        *,
        last: bool,
        tuning: Tuning,
        reseed_empty: bool,
        stale: tuple[str, ...],
    ) -> _Pass:
        def n_far(r: int) -> int:
            return min(states[r].centers.shape[0], tuning.max_far_points) if reseed_empty else 0

        stacked = [r for r in active if states[r].previous is None]
        pruned = [r for r in active if states[r].previous is not None]
        runs = []
        for r in pruned:
            s = states[r]
            assert s.previous is not None
            runs.append(
                _PrunedRun(
                    centers=s.centers,
                    moves=CenterMoves.between(s.previous, s.centers),
                    n_far=n_far(r),
                    bounds_in=_bounds_name(r, it - 1),
                    bounds_out=None if last else _bounds_name(r, it),
                )
            )
        dim = states[active[0]].centers.shape[1]
        return cls(
            stacked=np.concatenate([states[r].centers for r in stacked] or [np.empty((0, dim))]),
            layout=RunLayout.of([states[r].centers.shape[0] for r in stacked]),
            n_far=tuple(n_far(r) for r in stacked),
            first_bounds=tuple(
                (i, _bounds_name(r, it))
                for i, r in enumerate(stacked)
                if states[r].prune and not last
            ),
            pruned=tuple(runs),
            order=tuple(stacked + pruned),
            stale=stale,
        )


def _log_pass(it: int, active: list[_RunState], seconds: float) -> None:
    if len(active) == 1:
        (state,) = active
        update = state.update
        assert update is not None
        log.info(
            "iteration %d: cost %.9g, max centre shift %.3g, %.3f s, %.0f%% of rows pruned%s",
            it,
            state.costs[-1],
            state.shifts[-1],
            seconds,
            100 * state.pruned[-1],
            f", reseeded {len(update.reseeded)} empty clusters" if update.reseeded else "",
        )
        return
    for state in active:
        if state.done:
            log.info(
                "run of k=%d converged after %d iterations, cost %.9g",
                state.centers.shape[0],
                it,
                state.update.cost if state.update else float("nan"),
            )
    log.info(
        "iteration %d of %d runs (%d pruning, %.0f%% of their rows pruned): %d converged, %.3f s",
        it,
        len(active),
        sum(s.prune for s in active),
        100 * float(np.mean([s.pruned[-1] for s in active if s.prune] or [0.0])),
        sum(s.done for s in active),
        seconds,
    )


@dataclass
class _RunState:
    """One run between passes: its centres (and, when it prunes, those its bounds were
    computed for), history and whether it has stopped."""

    centers: np.ndarray
    prune: bool = False
    previous: np.ndarray | None = None
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
        self.previous = self.centers if self.prune else None
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
    h: BlockHandle, x: np.ndarray, w: np.ndarray | None, *, shared: Any
) -> list[PartialStats]:
    """One pass of every active run on one block (see :class:`_Pass`): the stacked runs in
    one GEMM per tile, keeping the first bounds of those that prune from the next pass on,
    then each pruned run with the bounds the block's task of the previous pass left beside
    the block (valid for the centres before its ``moves``; without them, in full)."""
    plan: _Pass = shared.value
    origin = h.origin_array
    for name in plan.stale:
        with contextlib.suppress(OSError):
            os.unlink(h.state_path(name))
    if h.sparse:
        return _sparse_runs(x, w, plan)
    out: list[PartialStats] = []
    if plan.layout.runs:
        out, bounds = multi_partial_stats_and_bounds(
            x,
            w,
            plan.stacked,
            plan.layout,
            n_far=plan.n_far,
            origin=origin,
            bounds_for=[i for i, _ in plan.first_bounds],
        )
        for i, name in plan.first_bounds:
            carry_state(h, None, name, functools.partial(_keep, bounds[i]))
    for run in plan.pruned:
        with_bounds = functools.partial(_pruned_run, x, w, run, origin)
        out.append(carry_state(h, run.bounds_in, run.bounds_out, with_bounds))
    return out


def _keep(state: np.ndarray, _: np.ndarray | None) -> tuple[None, np.ndarray]:
    """A :func:`carry_state` step that only keeps a state computed already."""
    return None, state


def _pruned_run(
    x: np.ndarray,
    w: np.ndarray | None,
    run: _PrunedRun,
    origin: np.ndarray | None,
    bounds: np.ndarray | None,
) -> tuple[PartialStats, np.ndarray]:
    return pruned_stats(x, w, run.centers, bounds, run.moves, n_far=run.n_far, origin=origin)


def _sparse_runs(x: Any, w: np.ndarray | None, plan: _Pass) -> list[Any]:
    """One pass of every active run on a CSR block (:mod:`kmeans_spark.kernels.sparse`):
    the stacked runs in one sparse product per tile, each run that prunes elsewhere in
    full, in the order of :func:`_runs_block`. Its statistics merge with dense blocks'
    (a fit may hold both, see :func:`kmeans_spark.arrow.vector_chunks`).

    No pruning on sparse blocks, and no bounds kept beside them: Hamerly's bounds skip the
    rows whose nearest centre cannot have changed, but a CSR tile's product already costs
    only its stored entries times k, and computing the surviving rows alone means copying
    them out of the tile first; whether that ever pays on text is not measured yet. What
    was measured is the driver's side of a pruning run, the centres' pairwise distances
    every pass (``k^2 x d``: 2.3 s of 3.6 s at k = 50, d = 2^18), so the estimator runs a
    fit with CSR blocks without pruning (``Tuning.prune=False``). A run that prunes anyway
    (set explicitly) finds no bounds here and needs none.
    """
    from kmeans_spark.kernels import sparse  # the CSR twins, needed only by sparse fits

    out: list[Any] = []
    if plan.layout.runs:
        out = list(sparse.multi_partial_stats(x, w, plan.stacked, plan.layout, plan.n_far))
    for run in plan.pruned:
        out.append(sparse.partial_stats(x, w, run.centers, n_far=run.n_far))
    return out
