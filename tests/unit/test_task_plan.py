"""How the blocks of a pass are laid out over tasks (:mod:`kmeans_spark.tasks`)."""

from __future__ import annotations

import dataclasses
from typing import Any

from kmeans_spark.handle import BlockHandle
from kmeans_spark.tasks import block_task, plan_tasks


def handle(partition: int, rows: int, host: str = "h1") -> BlockHandle:
    return BlockHandle(
        partition=partition, x_path=f"/tmp/p{partition}-x.npy", rows=rows, dim=2, host=host
    )


def partitions(groups: list[list[BlockHandle]] | None) -> list[list[int]] | None:
    return None if groups is None else [[h.partition for h in g] for g in groups]


def test_light_blocks_on_one_host_share_a_task() -> None:
    hs = [handle(i, 100) for i in range(4)]
    assert partitions(plan_tasks(hs, 1.0, 1000.0)) == [[0, 1, 2, 3]]


def test_groups_reach_the_minimum_work_and_a_light_tail_joins_the_last_group() -> None:
    hs = [handle(i, 100) for i in range(7)]
    # 250 work per group: two blocks make 200 (< 250), three make 300
    assert partitions(plan_tasks(hs, 1.0, 250.0)) == [[0, 1, 2], [3, 4, 5, 6]]


def test_heavy_blocks_keep_a_task_each() -> None:
    hs = [handle(i, 1000) for i in range(3)]
    assert plan_tasks(hs, 1.0, 500.0) is None  # as many groups as blocks: no grouping
    assert plan_tasks(hs, 1.0, 0.0) is None


def test_blocks_on_several_hosts_are_never_grouped() -> None:
    hs = [handle(0, 10, "a"), handle(1, 10, "b"), handle(2, 10, "a")]
    assert plan_tasks(hs, 1.0, 1e9) is None


def test_empty_blocks_take_no_task_and_one_block_needs_no_plan() -> None:
    hs = [handle(0, 0), handle(1, 50), handle(2, 0), handle(3, 50)]
    assert partitions(plan_tasks(hs, 1.0, 1e9)) == [[1, 3]]
    assert plan_tasks([handle(0, 0), handle(1, 50)], 1.0, 1e9) is None


def test_executor_cores_from_the_master_and_the_executor_setting() -> None:
    from kmeans_spark.blocks import executor_cores

    assert executor_cores("local", None, 8) == 1
    assert executor_cores("local[2]", None, 8) == 2
    assert executor_cores("local[3, 2]", None, 8) == 3  # local[N, maxFailures]
    assert executor_cores("local[*]", None, 6) == 6  # as Spark counts the cores
    assert executor_cores("spark://h:7077", "4", 16) == 4
    assert executor_cores("spark://h:7077", None, 16) == 1  # unknown: no extra threads
    assert executor_cores("yarn", "nonsense", 16) == 1


def test_a_task_on_threads_returns_each_blocks_own_result_in_order(tmp_path: Any) -> None:
    """Blocks done on several threads: results in block order, a missing file reported,
    each result exactly what the block alone gives, and the blocks really ran two at a
    time (a two-party barrier times out unless two calls are inside ``fn`` at once)."""
    import threading

    import numpy as np

    from kmeans_spark import blockstore
    from kmeans_spark.kernels import step

    rng = np.random.default_rng(5)
    centers = rng.standard_normal((4, 3))
    hs, xs = [], []
    for p in range(5):
        x = rng.standard_normal((3000 + 100 * p, 3))
        path = str(tmp_path / f"p{p}-x.npy")
        if p != 3:  # partition 3's file is missing
            blockstore.save_array(path, x)
        hs.append(dataclasses.replace(handle(p, len(x)), x_path=path))
        xs.append(x)
    together = threading.Barrier(2, timeout=30)

    def concurrent(h: BlockHandle, x: Any, w: Any) -> Any:
        together.wait()  # four blocks found: two rounds of two threads
        return step.partial_stats(x, w, centers)

    [(missing, results)] = list(block_task(concurrent, threads=2)(iter(hs)))
    assert missing == (3,)
    assert [p for p, _ in results] == [0, 1, 2, 4]
    for p, stats in results:
        alone = step.partial_stats(xs[p], None, centers)
        np.testing.assert_array_equal(stats.sums, alone.sums)
        np.testing.assert_array_equal(stats.counts, alone.counts)
    assert not together.broken

    def serial(h: BlockHandle, x: Any, w: Any) -> Any:
        return step.partial_stats(x, w, centers)

    [(_, one_thread)] = list(block_task(serial, threads=1)(iter(hs)))
    assert [p for p, _ in one_thread] == [0, 1, 2, 4]
