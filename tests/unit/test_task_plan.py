"""How the blocks of a pass are laid out over tasks (:func:`kmeans_spark.blocks.plan_tasks`)."""

from __future__ import annotations

from typing import Any

from kmeans_spark.blocks import BlockHandle, plan_tasks


def handle(partition: int, rows: int, host: str = "h1") -> BlockHandle:
    fields: dict[str, Any] = dict(
        partition=partition,
        generation=0,
        x_path=f"/tmp/p{partition}-x.npy",
        w_path="",
        rows=rows,
        dim=2,
        dim_mismatch=0,
        weight_sum=float(rows),
        bad_rows=0,
        bad_row_index=-1,
        bad_row=(),
        bad_weights=0,
        bad_weight=0.0,
        zero_rows=0,
        sample_keys=(),
        sample_points=(),
        origin=(0.0, 0.0),
        host=host,
    )
    return BlockHandle(**fields)


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
    and each result exactly what the block alone gives."""
    import threading
    import time

    import numpy as np

    from kmeans_spark import blockstore, kernels
    from kmeans_spark.blocks import _block_task

    rng = np.random.default_rng(5)
    centers = rng.standard_normal((4, 3))
    hs, xs = [], []
    for p in range(5):
        x = rng.standard_normal((3000 + 100 * p, 3))
        path = str(tmp_path / f"p{p}-x.npy")
        if p != 3:  # partition 3's file is missing
            blockstore.save_array(path, x)
        hs.append(_with_path(handle(p, len(x)), path))
        xs.append(x)
    names: set[str] = set()

    def fn(h: BlockHandle, x: Any, w: Any) -> Any:
        names.add(threading.current_thread().name)
        time.sleep(0.02)  # long enough that both threads get a block
        return kernels.partial_stats(x, w, centers)

    [(missing, results)] = list(_block_task(fn, threads=2)(iter(hs)))
    assert missing == (3,)
    assert [p for p, _ in results] == [0, 1, 2, 4]
    for p, stats in results:
        alone = kernels.partial_stats(xs[p], None, centers)
        np.testing.assert_array_equal(stats.sums, alone.sums)
        np.testing.assert_array_equal(stats.counts, alone.counts)
    assert len(names) == 2  # the work ran on two threads
    [(_, serial)] = list(_block_task(fn, threads=1)(iter(hs)))
    assert [p for p, _ in serial] == [0, 1, 2, 4]


def _with_path(h: BlockHandle, path: str) -> BlockHandle:
    import dataclasses

    return dataclasses.replace(h, x_path=path)
