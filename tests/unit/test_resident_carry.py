"""The columns a fit carries beside its blocks (the batch job's ids), without a JVM: the load
stores them in the block's row order, bad rows dropped as from the block; a scaling rewrite
links them to the new generation; and a block labelled where it lies
(:func:`kmeans_spark.scoring.label_block`) gives ``transform``'s labels and distances,
each with its own ids."""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pytest

from kmeans_spark import blockstore
from kmeans_spark.datagen import make_blobs
from kmeans_spark.handle import BlockHandle
from kmeans_spark.load import LoadSettings, carry_column, load_partition, transform_block
from kmeans_spark.localblocks import rows_batch
from kmeans_spark.scoring import (
    LABEL_CHUNK_ROWS,
    MISSING_BLOCK,
    BlockFilesMissingError,
    Scorer,
    assign_batch,
    label_block,
)

#: block files under each test's own directory (tests/unit/conftest.py)
pytestmark = pytest.mark.usefixtures("local_dirs")

FIT = "f" * 32


def batches_of(
    x: np.ndarray, ids: np.ndarray, *, cuts: Sequence[int] = (), weights: np.ndarray | None = None
) -> list[pa.RecordBatch]:
    """Rows as the load receives them, cut into batches at ``cuts`` (an empty one too),
    with two carried columns: ``id`` (int64) and its text (string)."""
    bounds = [0, *cuts, len(x)]
    out = []
    for a, b in itertools.pairwise(bounds):
        batch = rows_batch(x[a:b], None if weights is None else weights[a:b])
        carried = [
            pa.array(ids[a:b], pa.int64()),
            pa.array([f"row-{i}" for i in ids[a:b]], pa.string()),
        ]
        out.append(
            pa.RecordBatch.from_arrays(
                [*batch.columns, *carried],
                names=[*batch.schema.names, carry_column(0), carry_column(1)],
            )
        )
    return out


def load(batches: list[pa.RecordBatch], settings: LoadSettings, generation: int = 0) -> BlockHandle:
    return load_partition(
        batches, partition=3, fit_id=FIT, generation=generation, settings=settings
    )


def carried_ids(h: BlockHandle) -> list[int]:
    table = blockstore.open_table(h.carry_path)
    assert table is not None
    assert table.column_names == [carry_column(0), carry_column(1)]
    ids = table.column(0).to_pylist()
    assert table.column(1).to_pylist() == [f"row-{i}" for i in ids]
    return ids


def test_the_load_carries_the_rows_of_its_block_in_order_without_the_dropped_ones() -> None:
    x = make_blobs(300, 3, 2, seed=4).x
    x[[0, 77, 150, 299], [0, 2, 1, 0]] = [np.nan, np.inf, np.nan, -np.inf]
    ids = np.arange(1000, 1300)
    batches = batches_of(x, ids, cuts=(100, 100, 220), weights=np.arange(300.0))
    h = load(batches, LoadSettings(drop_bad_rows=True))
    kept = np.isfinite(x).all(axis=1)
    assert (h.rows, h.dropped_rows) == (296, 4)
    assert h.carry_path == blockstore.block_path(FIT, 0, 3, "ids", ".arrow")
    assert carried_ids(h) == ids[kept].tolist()
    # the same rows as the block and the weights
    stored = np.asarray(blockstore.open_block(h.x_path)) + h.origin_array
    np.testing.assert_allclose(stored, x[kept], atol=1e-12)
    np.testing.assert_array_equal(np.load(h.w_path), np.arange(300.0)[kept])
    assert [p for p in os.listdir(blockstore.fit_dir(FIT)) if p.endswith(".tmp")] == []


def test_nothing_is_carried_unless_asked_and_a_partition_without_rows_stores_none() -> None:
    x = make_blobs(50, 2, 2, seed=1).x
    plain = load([rows_batch(x)], LoadSettings())
    assert plain.rows == 50 and plain.carry_path == ""
    # labelled all the same: a run without id columns writes prediction and distance only
    (only,) = label_block(plain, Scorer.of(x[:2], False), [])
    assert only.schema.names == ["prediction", "distance"] and only.num_rows == 50
    bad = load(batches_of(np.full((5, 2), np.nan), np.arange(5)), LoadSettings(drop_bad_rows=True))
    assert (bad.rows, bad.dropped_rows, bad.carry_path) == (0, 5, "")
    refused = load(batches_of(np.full((5, 2), np.nan), np.arange(5)), LoadSettings())
    assert (refused.bad_rows, refused.x_path, refused.carry_path) == (5, "", "")
    empty = load([], LoadSettings())
    assert (empty.rows, empty.carry_path) == (0, "")


def test_a_rebuild_writes_the_carried_columns_again_and_removes_the_old_generation() -> None:
    x = make_blobs(40, 2, 2, seed=2).x
    first = load(batches_of(x, np.arange(40)), LoadSettings())
    again = load(batches_of(x, np.arange(40)), LoadSettings(), generation=1)
    assert again.carry_path != first.carry_path and carried_ids(again) == list(range(40))
    assert not os.path.exists(first.carry_path) and not os.path.exists(first.x_path)


def test_scaling_links_the_carried_columns_to_the_new_generation_idempotently() -> None:
    x = make_blobs(500, 3, 2, seed=1).x
    h = load(batches_of(x, np.arange(500), cuts=(123,)), LoadSettings())
    settings = LoadSettings(affine=((1.0, 2.0, 3.0), (2.0, 2.0, 0.5)))
    scaled = transform_block(h, fit_id=FIT, generation=1, settings=settings)
    assert scaled.carry_path == blockstore.block_path(FIT, 1, 3, "ids", ".arrow")
    assert carried_ids(scaled) == list(range(500))
    assert not os.path.exists(h.carry_path)  # the old generation is gone
    retried = transform_block(h, fit_id=FIT, generation=1, settings=settings)
    assert retried == scaled  # its sources gone, the finished targets count
    # a carried file lost (with its executor) asks for a rebuild, as a lost block does
    os.unlink(scaled.carry_path)
    lost = transform_block(scaled, fit_id=FIT, generation=2, settings=settings)
    assert lost.x_path == "" and lost.rows == 500


def test_link_or_copy_copies_where_links_are_refused(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = os.path.join(str(tmp_path), "a.arrow")
    blockstore.save_table(source, pa.table({"id": [1, 2, 3]}))
    target = os.path.join(str(tmp_path), "sub", "b.arrow")

    def refuse(*_: object) -> None:
        raise PermissionError("no hard links here")

    monkeypatch.setattr(os, "link", refuse)
    assert blockstore.link_or_copy(source, target)
    table = blockstore.open_table(target)
    assert table is not None and table.column("id").to_pylist() == [1, 2, 3]
    os.unlink(source)
    assert blockstore.link_or_copy(source, target)  # a retry: the target is there
    assert not blockstore.link_or_copy(source, target + ".other")
    assert blockstore.open_table(source) is None


def labelled(h: BlockHandle, scorer: Scorer) -> pa.Table:
    return pa.Table.from_batches(list(label_block(h, scorer, ["id", "text"])))


@pytest.mark.parametrize("spherical", [False, True])
def test_a_labelled_block_equals_transform_of_its_rows_with_its_own_ids(spherical: bool) -> None:
    rng = np.random.default_rng(3)
    n = LABEL_CHUNK_ROWS + 500  # two chunks
    x = rng.normal(size=(n, 4)) * [1.0, 100.0, 0.01, 7.0] + [5.0, -300.0, 1e4, 1.0]
    ids = rng.permutation(n) + 10
    offset, scale = x.mean(axis=0), x.std(axis=0)
    centers = rng.normal(size=(6, 4))  # in scaled units; none on a row (see below)
    # as the batch job stores them: raw rows, then scaled (and normalised) where they lie
    h = load(batches_of(x, ids, cuts=(1000,)), LoadSettings(sample_size=2))
    settings = LoadSettings(affine=(tuple(offset), tuple(scale)), spherical=spherical)
    h = transform_block(h, fit_id=FIT, generation=1, settings=settings)
    scorer = Scorer.of(centers, spherical)
    got = labelled(h, scorer)
    assert got.column_names == ["id", "text", "prediction", "distance"]
    assert got.schema.field("prediction").type == pa.int32()
    assert got.column("id").to_pylist() == ids.tolist()
    want = assign_batch(rows_batch((x - offset) / scale).column(0), scorer)
    np.testing.assert_array_equal(got.column("prediction"), want.field("prediction"))
    # both GEMM forms; 1e-9 holds away from a centre (a row on one is ~1e-8 from it either way)
    np.testing.assert_allclose(got.column("distance"), want.field("distance"), rtol=1e-9)


def test_a_block_labelled_where_its_files_are_not_fails_instead_of_dropping_rows() -> None:
    x = make_blobs(30, 2, 2, seed=5).x
    h = load(batches_of(x, np.arange(30)), LoadSettings())
    scorer = Scorer.of(x[:2], False)
    assert labelled(h, scorer).num_rows == 30
    os.unlink(h.carry_path)
    with pytest.raises(BlockFilesMissingError, match=MISSING_BLOCK):
        labelled(h, scorer)
    blockstore.remove_fit(FIT)
    with pytest.raises(BlockFilesMissingError, match="partition 3"):
        labelled(h, scorer)
    # an empty block has nothing to label, and no files to miss
    assert list(label_block(BlockHandle(partition=0), scorer, ["id"])) == []
