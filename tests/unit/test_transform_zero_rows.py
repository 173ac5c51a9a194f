"""Zero rows that appear only when the stored blocks are scaled (cosine after centring: a
row equal to the mean becomes the zero vector), without a JVM: ``zeroVectorPolicy="error"``
counts them for the fit's one-line error; ``"drop"`` leaves them out of the block, its
weights, its carried columns and its seeding sample, and counts them in the handle's
``dropped_zero_rows``, as the load does for rows that are zero from the start. Dense and
CSR blocks alike; a retried rewrite returns the same handle."""

from __future__ import annotations

import glob
import os
from dataclasses import replace
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import scipy.sparse as sp

from kmeans_spark import blockstore
from kmeans_spark.errors import KMeansInputError
from kmeans_spark.handle import BlockHandle
from kmeans_spark.lloyd import run_lloyd
from kmeans_spark.load import (
    LoadSettings,
    carry_column,
    check_handles,
    load_partition,
    transform_block,
)
from kmeans_spark.localblocks import LocalBlocks, rows_batch, sparse_rows_batch

#: block files under each test's own directory (tests/unit/conftest.py)
pytestmark = pytest.mark.usefixtures("local_dirs")

FIT = "zero-rows"
#: rows 2 and 5 equal the mean of the columns: zero vectors once centred
X = np.array([[1.0, 2.0], [3.0, 5.0], [2.0, 3.0], [-1.0, 4.0], [5.0, 1.0], [2.0, 3.0], [4.0, 1.0]])
MEAN, SPREAD = (2.0, 3.0), (1.5, 2.0)
ZERO = [2, 5]


def load_with_ids(x: Any, w: np.ndarray, settings: LoadSettings) -> BlockHandle:
    """One partition with weights and a carried id column (the job's), loaded as the job's
    fit loads it when it scales: not yet normalised (spherical only after scaling)."""
    batch = (sparse_rows_batch if sp.issparse(x) else rows_batch)(x, w)
    ids = pa.array(np.arange(x.shape[0], dtype=np.int64))
    batch = pa.RecordBatch.from_arrays(
        [*batch.columns, ids], names=[*batch.schema.names, carry_column(0)]
    )
    return load_partition([batch], partition=0, fit_id=FIT, generation=0, settings=settings)


def stored(h: BlockHandle) -> np.ndarray:
    x = blockstore.open_block(h.x_path)
    assert x is not None
    dense = x.toarray() if sp.issparse(x) else np.asarray(x, dtype=np.float64)
    return dense if h.sparse else dense + h.origin_array


def carried_ids(h: BlockHandle) -> list[int]:
    table = blockstore.open_table(h.carry_path)
    assert table is not None
    return table.column(0).to_pylist()


def unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_zero_rows_after_centring_are_dropped_and_counted() -> None:
    w = np.arange(1.0, 8.0)
    h = load_with_ids(X, w, LoadSettings(sample_size=7, seed=1))
    assert (h.rows, h.zero_rows) == (7, 0)  # not spherical yet: nothing to count
    settings = LoadSettings(affine=(MEAN, SPREAD), spherical=True, drop_zero_rows=True)
    got = transform_block(h, fit_id=FIT, generation=1, settings=settings)
    keep = np.setdiff1d(np.arange(7), ZERO)
    assert (got.rows, got.zero_rows, got.dropped_zero_rows) == (5, 0, 2)
    np.testing.assert_allclose(stored(got), unit((X[keep] - MEAN) / SPREAD), atol=1e-15)
    np.testing.assert_array_equal(np.load(got.w_path), w[keep])
    assert got.weight_sum == w[keep].sum()
    assert carried_ids(got) == keep.tolist()
    # the seeding sample (every row here) loses the zero rows and their keys
    assert len(got.sample_keys) == 5 and len(got.sample_points) == 5 * 2
    np.testing.assert_allclose(np.linalg.norm(got.sample_rows(), axis=1), 1.0)
    on_mean = (h.sample_rows() == MEAN).all(axis=1)
    assert on_mean.sum() == 2
    assert got.sample_keys == tuple(np.asarray(h.sample_keys)[~on_mean])
    assert not glob.glob(os.path.join(blockstore.fit_dir(FIT), "g0-*"))
    check_handles([got], k=2, weight_col="w", feature_name=str)  # nothing left to refuse
    assert transform_block(h, fit_id=FIT, generation=1, settings=settings) == got  # a retry


def test_zero_rows_after_centring_are_counted_for_the_error_by_default() -> None:
    h = load_with_ids(X, np.ones(7), LoadSettings())
    settings = LoadSettings(affine=(MEAN, SPREAD), spherical=True)
    got = transform_block(h, fit_id=FIT, generation=1, settings=settings)
    assert (got.rows, got.zero_rows, got.dropped_zero_rows) == (7, 2, 0)
    assert carried_ids(got) == list(range(7))
    with pytest.raises(KMeansInputError, match=r"^2 rows are zero vectors .*zeroVectorPolicy"):
        check_handles([got], k=2, weight_col=None, feature_name=str)
    assert transform_block(h, fit_id=FIT, generation=1, settings=settings) == got  # a retry


def test_empty_documents_of_a_csr_block_are_dropped_when_normalised_after_scaling() -> None:
    x = sp.csr_array(np.array([[0.0, 2.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 3.0], [0.0] * 3]))
    w = np.array([1.0, 2.0, 3.0, 4.0])
    h = load_with_ids(x, w, LoadSettings(sample_size=4, sparse_max_density=1.0))
    assert h.sparse and h.rows == 4
    scale = (2.0, 1.0, 0.5)
    settings = LoadSettings(
        affine=((0.0,) * 3, scale), spherical=True, drop_zero_rows=True, sparse_max_density=1.0
    )
    got = transform_block(h, fit_id=FIT, generation=1, settings=settings)
    assert got.sparse and (got.rows, got.zero_rows, got.dropped_zero_rows) == (2, 0, 2)
    np.testing.assert_allclose(stored(got), unit(x.toarray()[[0, 2]] / scale), atol=1e-15)
    np.testing.assert_array_equal(np.load(got.w_path), [1.0, 3.0])
    assert carried_ids(got) == [0, 2] and got.weight_sum == 4.0
    assert len(got.sample_keys) == 2 and got.sample_rows().shape == (2, 3)
    assert transform_block(h, fit_id=FIT, generation=1, settings=settings) == got  # a retry
    counted = transform_block(
        load_with_ids(x, w, LoadSettings(sparse_max_density=1.0)),
        fit_id=FIT,
        generation=2,
        settings=replace(settings, drop_zero_rows=False),
    )
    assert (counted.rows, counted.zero_rows, counted.dropped_zero_rows) == (4, 2, 0)


def test_a_block_of_zero_rows_only_is_left_empty() -> None:
    h = load_with_ids(X[ZERO], np.array([2.0, 5.0]), LoadSettings())
    settings = LoadSettings(affine=(MEAN, SPREAD), spherical=True, drop_zero_rows=True)
    got = transform_block(h, fit_id=FIT, generation=1, settings=settings)
    assert (got.rows, got.x_path, got.w_path, got.carry_path) == (0, "", "", "")
    assert (got.dropped_zero_rows, got.weight_sum, got.sample_keys) == (2, 0.0, ())
    assert not glob.glob(os.path.join(blockstore.fit_dir(FIT), "*"))


def test_a_fit_on_blocks_that_dropped_zero_rows_when_scaled() -> None:
    """Through the Blocks interface: the partitions' counts add up, check_handles passes,
    and Lloyd's cost is that of the rows left (the dropped ones are nowhere)."""
    parts = [X[:4], X[4:4], X[4:]]
    with LocalBlocks(parts, LoadSettings(drop_zero_rows=True)) as blocks:
        handles = blocks.transform((MEAN, SPREAD), spherical=True)
        assert [h.dropped_zero_rows for h in handles] == [1, 0, 1]
        rows, _ = check_handles(handles, k=2, weight_col=None, feature_name=str)
        assert rows == 5
        kept = unit((np.delete(X, ZERO, axis=0) - MEAN) / SPREAD)
        result = run_lloyd(
            blocks, kept[[0, 3]], max_iter=10, tol=0.0, spherical=True, reseed_empty=True
        )
        assert sum(result.cluster_sizes) == 5
