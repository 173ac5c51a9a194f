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
