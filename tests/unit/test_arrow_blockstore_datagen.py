"""Arrow conversion, the executor-local block files, and the blob generator (no Spark)."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pytest

from kmeans_spark import blockstore
from kmeans_spark.arrow import feature_chunks
from kmeans_spark.datagen import make_blobs


def test_feature_chunks_dense_nulls_and_null_elements() -> None:
    col = pa.array([[1.0, 2.0], None, [3.0, None]], type=pa.list_(pa.float64()))
    fc = feature_chunks(col)
    assert fc.dim == 2 and fc.mismatch == 0
    assert fc.valid.tolist() == [True, False, True]
    x = np.concatenate(fc.parts)
    np.testing.assert_array_equal(x[0], [1.0, 2.0])
    assert np.isnan(x[1]).all() and np.isnan(x[2, 1]) and x[2, 0] == 3.0


def test_feature_chunks_report_ragged_rows() -> None:
    col = pa.array([[1.0, 2.0], [1.0], [1.0, 2.0, 3.0]], type=pa.list_(pa.float64()))
    fc = feature_chunks(col)
    assert (fc.dim, fc.mismatch) == (2, 2)
    assert fc.parts == []  # unusable input: nothing converted


def test_feature_chunks_sliced_and_chunked() -> None:
    full = pa.array([[float(i), float(-i)] for i in range(10)], type=pa.list_(pa.float64()))
    chunked = pa.chunked_array([full.slice(2, 3), full.slice(7, 2)])
    x = np.concatenate(feature_chunks(chunked).parts)
    np.testing.assert_array_equal(x[:, 0], [2, 3, 4, 7, 8])


def test_feature_chunks_stream_without_copies_and_take_rows_across_chunks() -> None:
    full = pa.array([[float(i), float(-i)] for i in range(10)], type=pa.list_(pa.float64()))
    with_null = pa.array([[10.0, -10.0], None], type=pa.list_(pa.float64()))
    fc = feature_chunks(pa.chunked_array([full.slice(0, 4), full.slice(4, 6), with_null]))
    assert (fc.rows, fc.dim, fc.mismatch) == (12, 2, 0)
    assert [p.shape for p in fc.parts] == [(4, 2), (6, 2), (2, 2)]
    assert not fc.parts[0].flags.writeable  # a view of Arrow's buffer, not a copy
    assert np.isnan(fc.parts[2][1]).all() and fc.valid.tolist() == [True] * 11 + [False]
    np.testing.assert_array_equal(
        fc.take(np.array([9, 0, 10, 4])), [[9, -9], [0, 0], [10, -10], [4, -4]]
    )


def test_save_rows_writes_chunks_atomically(tmp_path: pytest.TempPathFactory) -> None:
    x = np.arange(12.0).reshape(6, 2)
    path = os.path.join(str(tmp_path), "b.npy")
    blockstore.save_rows(path, (6, 2), np.dtype("float32"), [x[:2], x[2:]])
    np.testing.assert_array_equal(np.load(path), x.astype(np.float32))
    with pytest.raises(ValueError, match="wrote 2 rows of 6"):
        blockstore.save_rows(path + "2", (6, 2), np.dtype("float64"), [x[:2]])
    assert sorted(os.listdir(str(tmp_path))) == ["b.npy"]  # no partial file left


def test_block_files_round_trip_and_removal(
    tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPARK_LOCAL_DIRS", f"{tmp_path},/elsewhere")
    path = blockstore.block_path("fit1", 0, 3)
    assert path.startswith(str(tmp_path))
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    blockstore.save_array(path, x)
    opened = blockstore.open_block(path)
    assert opened is not None and opened.dtype == np.float32
    np.testing.assert_array_equal(opened, x)
    assert blockstore.open_block(path) is opened  # cached per worker process
    assert blockstore.remove_fit("fit1")
    assert not os.path.exists(path)
    assert blockstore.open_block(path) is None
    assert not blockstore.remove_fit("fit1")


def test_blobs_are_seeded_and_oracle_is_their_sse() -> None:
    """The oracle is the SSE of the generating clusters, checked against independent
    references: per-cluster variances times sizes, and scikit-learn's best of 10 Lloyd runs,
    which on separated blobs finds exactly the generating partition (the optimum)."""
    sklearn_cluster = pytest.importorskip("sklearn.cluster")
    a = make_blobs(600, 3, 4, seed=5)
    b = make_blobs(600, 3, 4, seed=5)
    np.testing.assert_array_equal(a.x, b.x)
    assert np.bincount(a.labels).tolist() == [150] * 4
    by_variance = sum(150 * a.x[a.labels == j].var(axis=0).sum() for j in range(4))
    assert a.oracle_cost() == pytest.approx(by_variance, rel=1e-12)
    best = sklearn_cluster.KMeans(4, n_init=10, random_state=0).fit(a.x)
    assert best.inertia_ == pytest.approx(a.oracle_cost(), rel=1e-9)
    assert len({(int(t), int(p)) for t, p in zip(a.labels, best.labels_, strict=True)}) == 4
