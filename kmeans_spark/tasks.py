"""How a pass over blocks is cut into tasks, and what one task does (no Spark here: the
Spark side and the in-process :class:`~kmeans_spark.localblocks.LocalBlocks` share it)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

import numpy as np

from kmeans_spark import blockstore
from kmeans_spark.handle import BlockHandle

T = TypeVar("T")

log = logging.getLogger(__name__)

#: What one task returns: the partitions whose files it found missing, and each other
#: non-empty block's result, by partition.
TaskResult = tuple[tuple[int, ...], list[tuple[int, Any]]]

#: Work (rows x (dim x k + ROW_WORK)) worth a task of its own; see :func:`plan_tasks`.
#: About 50-100 ms of a pass on one core, measured on a 2-core machine where a second
#: Python task per pass costs 25-35 ms: `small` (200k x 2, k=3) runs as one task,
#: `medium` (1M x 16, k=10) as one, `wide` (1M x 64, k=100) as one per block.
MIN_TASK_WORK = float(2**28)
#: Per-row work besides the distances (norms, argmin, sums), in the same units.
ROW_WORK = 64


class Inline(Generic[T]):
    """A value shipped inside the task's closure, read as ``.value`` like a broadcast."""

    def __init__(self, value: T) -> None:
        self.value = value


def block_task(
    fn: Callable[[BlockHandle, np.ndarray, np.ndarray | None], Any],
    threads: int = 1,
) -> Callable[[Iterator[BlockHandle]], Iterator[TaskResult]]:
    """The task of a pass: ``fn`` on each of its blocks, on up to ``threads`` threads.

    Threads pay off for a task that does several blocks while cores sit idle (see
    :func:`plan_tasks`): the numpy work (GEMM, argmin, sums) releases the GIL, so two
    blocks on two threads take ~0.55x the time of one after the other (measured, 500k x 16
    rows each), without the 25-35 ms of a second Python task. Each block's result is its
    own, so the order of work does not change it. Blocks are opened here, on the task's
    thread (the map cache is not shared across threads).
    """

    def task(handles: Iterator[BlockHandle]) -> Iterator[TaskResult]:
        missing: list[int] = []
        found: list[tuple[BlockHandle, np.ndarray, np.ndarray | None]] = []
        for h in handles:  # read the whole (tiny) input: a worker that skips it is not reused
            if h.rows == 0:
                continue
            x = blockstore.open_block(h.x_path)
            w = blockstore.open_block(h.w_path) if h.w_path else None
            if x is None or (h.w_path and w is None):
                missing.append(h.partition)
                continue
            found.append((h, x, w))
        if threads > 1 and len(found) > 1:
            with ThreadPoolExecutor(min(threads, len(found))) as pool:
                done = list(pool.map(lambda b: fn(*b), found))
        else:
            done = [fn(*b) for b in found]
        yield tuple(missing), [(h.partition, r) for (h, _, _), r in zip(found, done, strict=True)]

    return task


def plan_tasks(
    handles: list[BlockHandle], work_per_row: float, min_task_work: float
) -> list[list[BlockHandle]] | None:
    """Which blocks each task of a pass works on; ``None``: one task per block.

    A Python task has a fixed cost (tens of ms: scheduling, the worker round trip, and on a
    machine with few cores, contention with the other tasks), so a block whose pass takes
    less than that is cheaper done by a task that also does its neighbours. Blocks are
    packed in partition order into groups of at least ``min_task_work`` (rows times
    ``work_per_row``); never more groups than blocks. Only blocks on one host are grouped:
    a task can open every block file of its own host, not another host's.
    """
    blocks = [h for h in handles if h.rows > 0]
    if len(blocks) < 2 or len({h.host for h in blocks}) > 1:
        return None
    groups: list[list[BlockHandle]] = [[]]
    work = 0.0
    for h in blocks:
        if groups[-1] and work >= min_task_work:
            groups.append([])
            work = 0.0
        groups[-1].append(h)
        work += h.rows * work_per_row
    if len(groups) > 1 and work < min_task_work:  # a light tail joins the previous group
        groups[-2].extend(groups.pop())
    return None if len(groups) == len(blocks) else groups


def merge_in_order(results: list[tuple[int, Any]], merge: Callable[[Any, Any], Any]) -> Any:
    """Per-block results merged in partition order, whatever order the tasks ran in: the
    same floating-point sums for a given partitioning, however blocks were grouped."""
    if not results:
        raise RuntimeError("a pass over blocks that are all empty")
    ordered = [r for _, r in sorted(results, key=lambda pr: pr[0])]
    out = ordered[0]
    for r in ordered[1:]:
        out = merge(out, r)
    return out


def run_with_rebuilds(
    collect: Callable[[], tuple[list[int], list[tuple[int, T]]]],
    merge: Callable[[T, T], T],
    rebuild: Callable[[], None],
    max_rebuilds: int,
) -> T:
    """One pass over resident blocks (:meth:`kmeans_spark.blocks.ResidentBlocks.run`, on
    either transport): ``collect`` runs it and returns the
    partitions whose block files were missing and every other block's result; those are
    merged in partition order (so the result depends neither on the grouping of blocks
    into tasks nor on retries). Missing files mean ``rebuild`` (the blocks reloaded from
    the input) and the pass again, at most ``max_rebuilds`` times."""
    for attempt in range(max_rebuilds + 1):
        missing, results = collect()
        if not missing:
            return merge_in_order(results, merge)
        if attempt == max_rebuilds:
            break
        log.warning(
            "block files of partitions %s are not where their tasks ran; rebuilding the "
            "blocks from the input (rebuild %d)",
            sorted(missing),
            attempt + 1,
        )
        rebuild()
    raise RuntimeError(
        f"block files of partitions {sorted(missing)} went missing after {max_rebuilds} "
        "rebuilds; check that spark.local.dir is on a local disk that is not cleaned "
        "during the job"
    )
