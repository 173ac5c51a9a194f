"""The sparse load without Spark: Spark's vector struct in, a CSR block (or a dense one, by
the density rule) out; CSR block files; the shared reseeding plan; the centres' memory
rule; the seeding and Lloyd passes on CSR blocks against dense blocks of the same rows."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import scipy.sparse as sp

from kmeans_spark import blockstore
from kmeans_spark.arrow import vector_chunks
from kmeans_spark.blocks import (
    check_centers_memory,
    check_centers_message,
    memory_bytes,
    task_memory,
)
from kmeans_spark.colstats import ColumnStats
from kmeans_spark.errors import KMeansInputError
from kmeans_spark.handle import BlockHandle
from kmeans_spark.kernels import sparse as csr
from kmeans_spark.kernels.step import PartialStats, plan_reseeding, update_centers
from kmeans_spark.load import (
    CARRY_PREFIX,
    FEATURES,
    WEIGHT,
    LoadSettings,
    check_handles,
    load_partition,
    transform_block,
)
from kmeans_spark.tasks import block_task, merge_in_order

from .test_sparse_arrow import VECTOR, dv, sv


def struct_of(x: sp.csr_array) -> pa.StructArray:
    """CSR rows as Spark's ``VectorUDT`` struct (every row a SparseVector)."""
    rows = []
    for i in range(x.shape[0]):
        a, b = x.indptr[i], x.indptr[i + 1]
        rows.append(sv(x.shape[1], x.indices[a:b].tolist(), x.data[a:b].tolist()))
    return pa.array(rows, type=VECTOR)


def batch(column: pa.Array, weights: np.ndarray | None = None, ids: Any = None) -> pa.RecordBatch:
    arrays, names = [column], [FEATURES]
    if weights is not None:
        arrays.append(pa.array(weights))
        names.append(WEIGHT)
    if ids is not None:
        arrays.append(pa.array(ids))
        names.append(CARRY_PREFIX + "0")
    return pa.RecordBatch.from_arrays(arrays, names=names)


def random_csr(n: int, d: int, density: float, seed: int = 0) -> sp.csr_array:
    x = sp.random_array((n, d), density=density, format="csr", rng=np.random.default_rng(seed))
    x = sp.csr_array(x)
    x.sort_indices()
    return x


@pytest.fixture
def fit_dir(tmp_path: Any, monkeypatch: Any) -> Iterator[str]:
    monkeypatch.setenv("SPARK_LOCAL_DIRS", str(tmp_path))
    yield str(tmp_path)


def load(column: pa.Array, fit_id: str = "f", **kw: Any) -> BlockHandle:
    settings = LoadSettings(**{"sample_size": 3, **kw.pop("settings", {})})
    return load_partition(
        [batch(column, **kw)], partition=0, fit_id=fit_id, generation=0, settings=settings
    )


def test_csr_block_files_round_trip(fit_dir: str) -> None:
    x = random_csr(50, 40, 0.1)
    path = blockstore.csr_path("f", 0, 3)
    parts = [csr.row_slice(x, 0, 20), csr.row_slice(x, 20, 50)]
    assert blockstore.save_csr(path, x.shape, np.dtype(np.float64), parts) == x.nnz
    back = blockstore.open_block(path)
    assert isinstance(back, sp.csr_array) and back.shape == x.shape
    assert not back.data.flags.owndata and not back.indices.flags.owndata  # mapped
    np.testing.assert_array_equal(back.toarray(), x.toarray())
    data, indices, indptr = blockstore.csr_files(path)
    assert os.path.getsize(data) - 128 == 8 * x.nnz
    assert os.path.getsize(indices) - 128 == 4 * x.nnz
    assert os.path.getsize(indptr) - 128 == 4 * 51
    os.unlink(indices)
    assert blockstore.open_block(path) is None


def test_an_all_empty_csr_block(fit_dir: str) -> None:
    path = blockstore.csr_path("f", 0, 0)
    blockstore.save_csr(path, (3, 5), np.dtype(np.float64), [sp.csr_array((3, 5))])
    back = blockstore.open_block(path)
    assert back.shape == (3, 5) and back.nnz == 0


def test_vector_chunks_rule() -> None:
    dense_only = pa.array([dv([1.0, 0.0]), None, dv([0.0, 3.0])], type=VECTOR)
    chunks = vector_chunks(dense_only)
    assert not hasattr(chunks, "nnz")  # FeatureChunks: today's dense path
    assert chunks.valid.tolist() == [True, False, True]
    np.testing.assert_array_equal(chunks.parts[0][[0, 2]], [[1.0, 0.0], [0.0, 3.0]])
    sparse_rows = pa.array([sv(10, [1], [2.0]), sv(10, [], []), dv([0.0] * 10)], type=VECTOR)
    assert hasattr(vector_chunks(sparse_rows), "nnz")  # 1 of 30 cells: CSR
    crowded = pa.array([sv(2, [0, 1], [1.0, 2.0]), None], type=VECTOR)
    densified = vector_chunks(crowded, max_density=0.4)  # 2 of 4 cells
    assert not hasattr(densified, "nnz")
    assert densified.valid.tolist() == [True, False]
    assert np.isnan(densified.parts[0][1]).all()


def test_sparse_load_stores_csr_with_sample_weights_and_ids(fit_dir: str) -> None:
    x = random_csr(30, 50, 0.05, seed=1)
    w = np.linspace(0.5, 2.0, 30)
    h = load(struct_of(x), weights=w, ids=list(range(100, 130)), settings={"seed": 4})
    assert h.sparse and h.rows == 30 and h.dim == 50 and h.nnz == x.nnz
    assert h.origin == () and h.weight_sum == pytest.approx(w.sum())
    block = blockstore.open_block(h.x_path)
    np.testing.assert_array_equal(block.toarray(), x.toarray())
    np.testing.assert_array_equal(np.load(h.w_path), w)
    assert blockstore.open_table(h.carry_path).column(0).to_pylist() == list(range(100, 130))
    rows = h.sample_rows()
    assert rows.shape == (3, 50)
    dense = x.toarray()
    assert all(any(np.array_equal(r, d) for d in dense) for r in rows)


def test_sparse_load_validates_as_dense(fit_dir: str) -> None:
    x = random_csr(20, 30, 0.1, seed=2)
    x.data[x.indptr[4]] = np.inf
    column = x.indices[x.indptr[4]]
    h = load(struct_of(x))
    assert h.bad_rows == 1 and h.bad_row_index == 4 and not h.x_path
    with pytest.raises(KMeansInputError, match=rf"row 4: f\[{column}\]=inf"):
        check_handles([h], k=2, weight_col=None, feature_name=lambda i: f"f[{i}]")
    dropped = load(struct_of(x), settings={"drop_bad_rows": True})
    assert (
        dropped.dropped_rows == 1
        and dropped.rows == 19
        and dropped.nnz == x.nnz - (x.indptr[5] - x.indptr[4])
    )
    bad_w = load(struct_of(random_csr(5, 8, 0.3)), weights=np.array([1.0, -1, 1, 1, 1]))
    assert bad_w.bad_weights == 1
    mismatch = load(pa.array([sv(4, [1], [1.0]), sv(5, [1], [1.0])], type=VECTOR))
    assert mismatch.dim_mismatch == 1 and not mismatch.x_path


def test_zero_rows_under_cosine_are_refused_or_dropped(fit_dir: str) -> None:
    rows = [sv(6, [1], [2.0]), sv(6, [], []), sv(6, [0, 5], [1.0, 1.0]), sv(6, [], [])]
    column = pa.array(rows, type=VECTOR)
    refused = load(column, settings={"spherical": True, "sparse_max_density": 1.0})
    assert refused.zero_rows == 2
    with pytest.raises(KMeansInputError, match="2 rows are zero vectors"):
        check_handles([refused], k=2, weight_col=None, feature_name=str)
    dropped = load(
        column,
        ids=["a", "b", "c", "d"],
        settings={"spherical": True, "drop_zero_rows": True, "sparse_max_density": 1.0},
    )
    assert (dropped.rows, dropped.dropped_zero_rows, dropped.zero_rows) == (2, 2, 0)
    assert blockstore.open_table(dropped.carry_path).column(0).to_pylist() == ["a", "c"]
    block = blockstore.open_block(dropped.x_path)
    np.testing.assert_allclose(csr.squared_norms(block), 1.0)  # stored as unit rows


def test_sparse_column_stats_include_the_implicit_zeros(fit_dir: str) -> None:
    x = random_csr(40, 12, 0.2, seed=3)
    h = load(struct_of(x), settings={"column_stats": True, "sparse_max_density": 1.0})
    assert h.sparse
    want = ColumnStats.of_rows(x.toarray())
    got = h.column_stats
    np.testing.assert_allclose(got.mean, want.mean, atol=1e-12)
    np.testing.assert_allclose(got.m2, want.m2, atol=1e-9)
    np.testing.assert_array_equal(got.minimum, want.minimum)
    np.testing.assert_array_equal(got.maximum, want.maximum)


def test_sparse_blocks_are_scaled_without_centring(fit_dir: str) -> None:
    x = random_csr(25, 10, 0.3, seed=5)
    h = load(struct_of(x), settings={"sparse_max_density": 1.0})
    scale = np.linspace(1.0, 3.0, 10)
    affine = (tuple([0.0] * 10), tuple(scale))
    done = transform_block(
        h, fit_id="f", generation=1, settings=LoadSettings(affine=affine, spherical=True)
    )
    assert done.sparse and done.generation == 1
    want = x.toarray() / scale
    norms = np.linalg.norm(want, axis=1, keepdims=True)
    want = np.divide(want, norms, out=np.zeros_like(want), where=norms > 0)
    np.testing.assert_allclose(blockstore.open_block(done.x_path).toarray(), want, atol=1e-15)
    assert done.zero_rows == int((norms == 0).sum())
    assert blockstore.open_block(h.x_path) is None  # the older generation is gone


def test_plan_reseeding_is_the_rule_of_both_updates() -> None:
    stats = PartialStats(
        sums=np.zeros((4, 2)),
        weights=np.array([3.0, 0.0, 1.0, 0.0]),
        counts=np.array([3, 0, 1, 0]),
        costs=np.zeros(4),
        far_sq_dist=np.array([5.0, 4.0, 0.0, 3.0]),
        far_points=np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0], [3.0, 3.0]]),
        far_labels=np.array([2, 0, 0, 0]),
        far_weights=np.ones(4),
    )
    # far point 0 would empty cluster 2; point 2 sits on its centre: 1 then 3 are used
    assert plan_reseeding(stats, [1.0] * 4) == [(1, 1), (3, 3)]
    centers = np.zeros((4, 2))
    dense = update_centers(stats, centers)
    sparse_stats = csr.SparsePartialStats(
        sums=sp.csr_array(stats.sums),
        weights=stats.weights,
        counts=stats.counts,
        costs=stats.costs,
        far_sq_dist=stats.far_sq_dist,
        far_points=sp.csr_array(stats.far_points),
        far_labels=stats.far_labels,
        far_weights=stats.far_weights,
    )
    via_step = update_centers(sparse_stats, centers)  # hands CSR statistics to the twin
    assert dense.reseeded == via_step.reseeded == [1, 3]
    np.testing.assert_allclose(via_step.centers, dense.centers)


def test_dense_and_sparse_statistics_merge_either_way() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.random((20, 5)), random_csr(15, 5, 0.4, seed=7)
    centers = rng.random((3, 5))
    from kmeans_spark.kernels.step import partial_stats

    dense_part = partial_stats(a, None, centers, n_far=3)
    sparse_part = csr.partial_stats(b, None, centers, n_far=3)
    whole = partial_stats(np.vstack([a, b.toarray()]), None, centers, n_far=3)
    for merged in (dense_part.merge(sparse_part), sparse_part.merge(dense_part)):
        np.testing.assert_allclose(csr.dense_sums(merged.sums), whole.sums, atol=1e-12)
        np.testing.assert_array_equal(merged.counts, whole.counts)
        np.testing.assert_allclose(sorted(merged.far_sq_dist), sorted(whole.far_sq_dist))


def test_memory_rule_of_the_centres() -> None:
    assert memory_bytes("4g") == 4 << 30 and memory_bytes("512m") == 512 << 20
    assert memory_bytes("1024") == 1024 << 20 and memory_bytes("2GB") == 2 << 30
    assert task_memory({}, "local[2]", 2) == (
        512 << 20,
        "spark.driver.memory=1g shared by 2 concurrent tasks",
    )
    assert task_memory({"spark.executor.pyspark.memory": "2g"}, "yarn", 4)[0] == 512 << 20
    assert task_memory({"spark.executor.memory": "8g"}, "yarn", 1)[0] == int(0.1 * (8 << 30))
    assert task_memory({}, "spark://h:7077", 1)[0] == 384 << 20
    check_centers_memory(50, 2**18, 512 << 20, "x")  # 300 MiB: fits
    with pytest.raises(KMeansInputError, match=r"100 x 262144 dense centres need 600 MiB"):
        check_centers_memory(100, 2**18, 512 << 20, "spark.driver.memory=1g")


def test_centres_must_fit_a_spark_connect_message() -> None:
    """Under Connect the centres ride in every pass's plan (no broadcast): 128 MiB by
    default, Spark's spark.connect.grpc.maxInboundMessageSize (in bytes)."""
    assert memory_bytes("134217728", "b") == 128 << 20
    check_centers_message(50, 2**18, 128 << 20, None)  # 100 MiB: fits
    with pytest.raises(KMeansInputError, match=r"^k x features = 100 x 262144 centres are 200 MiB"):
        check_centers_message(100, 2**18, 128 << 20, None)
    with pytest.raises(KMeansInputError, match=r"maxInboundMessageSize=67108864 \(64 MiB\)"):
        check_centers_message(40, 2**18, 64 << 20, "67108864")


def test_a_pass_over_csr_blocks_opens_them_as_csr(fit_dir: str) -> None:
    """The task of a pass hands a CSR block to its function as a CSR array."""
    x = random_csr(30, 20, 0.1, seed=8)
    h = load(struct_of(x))
    seen: list[Any] = []

    def fn(handle: BlockHandle, block: Any, w: Any) -> int:
        seen.append(block)
        return int(block.nnz)

    ((missing, results),) = list(block_task(fn)(iter([h])))
    assert missing == () and merge_in_order(results, lambda p, q: p + q) == x.nnz
    assert sp.issparse(seen[0])


class StructBlocks:
    """:class:`~kmeans_spark.handle.Blocks` in this process over partitions given as Spark's
    vector struct (as the load job receives them), so CSR blocks run the real passes."""

    def __init__(self, columns: list[pa.Array], settings: LoadSettings) -> None:
        self.fit_id = f"struct-{id(self)}"
        self.handles = [
            load_partition(
                [batch(c)], partition=p, fit_id=self.fit_id, generation=0, settings=settings
            )
            for p, c in enumerate(columns)
        ]

    def share(self, value: Any) -> Any:
        import contextlib

        from kmeans_spark.tasks import Inline

        return contextlib.nullcontext(Inline(value))

    def run(self, fn: Any, merge: Any) -> Any:
        results: list[tuple[int, Any]] = []
        for h in self.handles:
            for missing, done in block_task(fn)(iter([h])):
                assert not missing
                results.extend(done)
        return merge_in_order(results, merge)


def dense_struct(x: np.ndarray) -> pa.StructArray:
    return pa.array([dv(r.tolist()) for r in x], type=VECTOR)


@pytest.mark.parametrize("spherical", [False, True])
@pytest.mark.parametrize("mixed", [False, True])
def test_seeding_and_lloyd_on_csr_blocks_match_dense_blocks(
    fit_dir: str, spherical: bool, mixed: bool
) -> None:
    """The passes of a fit on CSR blocks (and on a mix of CSR and dense blocks) find the
    centres the dense blocks of the same rows find."""
    from kmeans_spark import seeding
    from kmeans_spark.lloyd import run_lloyd_runs

    x = sp.csr_array(sp.vstack([random_csr(40, 30, 0.08, seed=s) for s in range(3)]))
    x.data += 0.5
    parts = [csr.row_slice(x, a, a + 40) for a in (0, 40, 80)]
    settings = LoadSettings(spherical=spherical, seed=3)

    def fit(columns: list[pa.Array]) -> list[np.ndarray]:
        blocks = StructBlocks(columns, settings)
        starts = seeding.kmeans_parallel(
            blocks,
            k=4,
            dim=30,
            oversampling_factor=2.0,
            steps=2,
            seed=3,
            spherical=spherical,
            runs=2,
        )
        runs = run_lloyd_runs(
            blocks,
            [s.centers for s in starts],
            max_iter=8,
            tol=0.0,
            spherical=spherical,
            reseed_empty=True,
        )
        return [r.centers for r in runs]

    dense = fit([dense_struct(p.toarray()) for p in parts])
    columns = [struct_of(p) for p in parts]
    if mixed:
        columns[1] = dense_struct(parts[1].toarray())
    got = fit(columns)
    for a, b in zip(got, dense, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-9)


def test_zero_rows_of_dense_blocks_are_dropped_too(fit_dir: str) -> None:
    """``zeroVectorPolicy="drop"`` is the same rule for dense blocks (numeric columns)."""
    from kmeans_spark.localblocks import rows_batch

    x = np.array([[1.0, 2.0], [0.0, 0.0], [3.0, -1.0], [np.nan, 1.0], [0.0, 0.0]])
    ids = pa.array(["a", "b", "c", "d", "e"])
    rows = rows_batch(x).append_column(CARRY_PREFIX + "0", ids)
    settings = LoadSettings(spherical=True, drop_zero_rows=True, drop_bad_rows=True)
    h = load_partition([rows], partition=0, fit_id="d", generation=0, settings=settings)
    assert (h.rows, h.dropped_rows, h.dropped_zero_rows, h.zero_rows) == (2, 1, 2, 0)
    assert not h.sparse
    assert blockstore.open_table(h.carry_path).column(0).to_pylist() == ["a", "c"]
    np.testing.assert_allclose(np.linalg.norm(blockstore.open_block(h.x_path), axis=1), 1.0)
