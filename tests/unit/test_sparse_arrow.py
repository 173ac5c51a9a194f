"""Arrow sparse columns to CSR (no Spark): the struct Spark 4 delivers for ``VectorUDT``.

The column is built with pyarrow in the exact type ``mapInArrow`` hands a Python worker
for a ``pyspark.ml.linalg.VectorUDT`` column (probed with Spark 4.x): sparse vectors
``{type: 0, size, indices, values}``, dense ones ``{type: 1, size: null, indices: null,
values}``, a null vector a null struct (whose children are null too).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import scipy.sparse as sp

from kmeans_spark.arrow import index_value_chunks, sparse_chunks

VECTOR = pa.struct(
    [
        pa.field("type", pa.int8(), nullable=False),
        pa.field("size", pa.int32()),
        pa.field("indices", pa.list_(pa.field("element", pa.int32(), nullable=False))),
        pa.field("values", pa.list_(pa.field("element", pa.float64(), nullable=False))),
    ]
)


def sv(size: int, indices: list[int], values: list[float]) -> dict[str, Any]:
    return {"type": 0, "size": size, "indices": indices, "values": values}


def dv(values: list[float]) -> dict[str, Any]:
    return {"type": 1, "size": None, "indices": None, "values": values}


def vectors(rows: list[dict[str, Any] | None]) -> pa.StructArray:
    return pa.array(rows, type=VECTOR)


def dense_of(rows: list[dict[str, Any] | None], dim: int) -> np.ndarray:
    """What each row means, densified (null rows: zeros)."""
    out = np.zeros((len(rows), dim))
    for i, row in enumerate(rows):
        if row is None:
            continue
        if row["type"] == 1:
            out[i] = row["values"]
        else:
            out[i, row["indices"]] = row["values"]
    return out


def check_csr(part: sp.csr_array) -> None:
    assert isinstance(part, sp.csr_array)
    assert part.has_canonical_format
    copy = sp.csr_array(part, copy=True)
    copy.has_sorted_indices = False
    copy.sort_indices()  # scipy's own check agrees: sorted already
    np.testing.assert_array_equal(copy.indices, part.indices)
    assert (part.indices >= 0).all() and (part.indices < part.shape[1]).all()


#: What Spark 4 delivered in the probe (one batch of a local[1] ``mapInArrow``).
SPARK_BATCH = [
    sv(5, [1, 3], [1.5, -2.0]),
    dv([1.0, 0.0, 2.0, 0.0, 3.0]),
    None,
    sv(5, [], []),
    sv(5, [0, 4], [float("inf"), 1.0]),
]


def test_spark_batch_as_probed() -> None:
    fc = sparse_chunks(vectors(SPARK_BATCH))
    assert (fc.dim, fc.mismatch, fc.rows, fc.dense_rows) == (5, 0, 5, 1)
    assert fc.valid.tolist() == [True, True, False, True, True]
    assert fc.finite.tolist() == [True, True, True, True, False]
    assert not fc.malformed.any()
    assert fc.bad.tolist() == [False, False, True, False, True]
    (part,) = fc.parts
    check_csr(part)
    np.testing.assert_array_equal(part.toarray(), dense_of(SPARK_BATCH, 5))
    assert fc.nnz == 2 + 3 + 0 + 0 + 2  # the dense row's zeros are not stored


def test_clean_sparse_chunk_is_wrapped_without_copies() -> None:
    rows = [sv(6, [0, 5], [1.0, 2.0]), sv(6, [], []), None, sv(6, [2], [3.0])]
    column = vectors(rows)
    part = sparse_chunks(column).parts[0]
    values = column.field("values").values.to_numpy()
    indices = column.field("indices").values.to_numpy()
    assert np.shares_memory(part.data, values) and np.shares_memory(part.indices, indices)
    assert part.indices.dtype == np.int32 and part.indptr.dtype == np.int32
    np.testing.assert_array_equal(part.toarray(), dense_of(rows, 6))


def test_chunked_and_sliced_columns() -> None:
    rows = [sv(4, [i % 4], [float(i)]) if i % 3 else dv([float(i)] * 4) for i in range(12)]
    rows[7] = None
    full = vectors(rows)
    column = pa.chunked_array([full.slice(0, 5), full.slice(5, 0), full.slice(5, 4), full[9:]])
    fc = sparse_chunks(column)
    assert len(fc.parts) == 3 and fc.rows == 12
    x = sp.vstack(fc.parts).toarray()
    np.testing.assert_array_equal(x, dense_of(rows, 4))
    np.testing.assert_array_equal(fc.block().toarray(), x)
    assert fc.valid.tolist() == [r is not None for r in rows]
    index = np.array([11, 0, 7, 5, 5])
    np.testing.assert_array_equal(fc.take(index).toarray(), x[index])


def test_null_struct_with_children_behind_it() -> None:
    """A null vector whose child slots still hold data (other producers than Spark)."""
    children = [
        pa.array([0, 0, 1], pa.int8()),
        pa.array([3, 3, None], pa.int32()),
        pa.array([[0], [1, 2], None], VECTOR.field("indices").type),
        pa.array([[1.0], [5.0, 6.0], [7.0, 0.0, 8.0]], VECTOR.field("values").type),
    ]
    column = pa.StructArray.from_arrays(
        children, fields=list(VECTOR), mask=pa.array([False, True, False])
    )
    fc = sparse_chunks(column)
    assert fc.valid.tolist() == [True, False, True] and not fc.bad[[0, 2]].any()
    np.testing.assert_array_equal(
        fc.parts[0].toarray(), [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [7.0, 0.0, 8.0]]
    )
    check_csr(fc.parts[0])


def test_size_mismatch_is_counted_and_stores_nothing() -> None:
    rows = [None, sv(5, [1], [1.0]), sv(7, [6], [1.0]), dv([1.0, 2.0]), sv(5, [], [])]
    fc = sparse_chunks(vectors(rows))
    assert (fc.dim, fc.mismatch, fc.parts) == (5, 2, [])
    given = sparse_chunks(vectors(rows), n_features=7)
    assert (given.dim, given.mismatch) == (7, 3)


def test_non_finite_values_mark_their_rows() -> None:
    rows = [sv(3, [0], [float("nan")]), dv([1.0, float("-inf"), 0.0]), sv(3, [2], [1.0])]
    fc = sparse_chunks(vectors(rows))
    assert fc.finite.tolist() == [False, False, True]
    assert fc.bad.tolist() == [True, True, False]
    assert np.isnan(fc.parts[0][[0]].toarray()[0, 0])  # kept, for the error message


def test_malformed_rows_are_emptied_and_unsorted_ones_sorted() -> None:
    bad_kind = {"type": 2, "size": 4, "indices": [0], "values": [1.0]}
    rows = [
        sv(4, [3, 1], [3.0, 1.0]),  # unsorted: sorted
        sv(4, [0, 4], [1.0, 2.0]),  # index out of range
        sv(4, [2, 2], [1.0, 2.0]),  # repeated index
        sv(4, [0, 1], [1.0]),  # lengths differ
        bad_kind,
        sv(4, [-1], [1.0]),  # negative
        sv(4, [2], [5.0]),
    ]
    fc = sparse_chunks(vectors(rows))
    assert fc.malformed.tolist() == [False, True, True, True, True, True, False]
    part = fc.parts[0]
    check_csr(part)
    expected = np.zeros((7, 4))
    expected[0, [1, 3]] = [1.0, 3.0]
    expected[6, 2] = 5.0
    np.testing.assert_array_equal(part.toarray(), expected)


def test_empty_column() -> None:
    fc = sparse_chunks(pa.chunked_array([], type=VECTOR))
    assert (fc.rows, fc.nnz, fc.parts, fc.mismatch) == (0, 0, [], 0)
    assert fc.block().shape == (0, 0) and fc.take(np.array([], dtype=np.int64)).shape == (0, 0)
    assert sparse_chunks(vectors([None, None]), n_features=3).parts[0].shape == (2, 3)


def test_a_column_of_another_type_is_refused() -> None:
    with pytest.raises(TypeError, match="vector struct"):
        sparse_chunks(pa.array([[1.0, 2.0]]))


def test_index_value_pair_columns() -> None:
    ints, floats = pa.list_(pa.int64()), pa.list_(pa.float32())
    # chunked differently, int64 indices (row 0 unsorted), float32 values
    indices = pa.chunked_array([pa.array([[4, 0], None], ints), pa.array([[], [1, 1], [2]], ints)])
    values = pa.chunked_array(
        [pa.array([[4.0, 1.0]], floats), pa.array([[9.0], [], [2, 3], [7]], floats)]
    )
    fc = index_value_chunks(indices, values, n_features=5)
    assert fc.rows == 5 and fc.dim == 5 and fc.mismatch == 0
    assert fc.valid.tolist() == [True, False, True, True, True]
    assert fc.malformed.tolist() == [False, False, False, True, False]
    x = sp.vstack(fc.parts).toarray()
    expected = np.zeros((5, 5))
    expected[0, [0, 4]] = [1.0, 4.0]
    expected[4, 2] = 7.0
    np.testing.assert_array_equal(x, expected)
    for part in fc.parts:
        check_csr(part)
        assert part.dtype == np.float64


def test_random_round_trip() -> None:
    rng = np.random.default_rng(0)
    dense = np.where(rng.random((300, 40)) < 0.1, rng.normal(size=(300, 40)), 0.0)
    rows: list[dict[str, Any] | None] = []
    for i, r in enumerate(dense):
        nz = np.flatnonzero(r)
        if i % 17 == 3:
            rows.append(None)
        elif i % 5 == 0:
            rows.append(dv(r.tolist()))
        else:
            rows.append(sv(40, nz.tolist(), r[nz].tolist()))
    full = vectors(rows)
    column = pa.chunked_array([full.slice(a, b - a) for a, b in ((0, 100), (100, 101), (101, 300))])
    fc = sparse_chunks(column)
    np.testing.assert_array_equal(fc.block().toarray(), dense_of(rows, 40))
    assert fc.nnz == int(np.count_nonzero(dense_of(rows, 40)))
    assert fc.bad.tolist() == [r is None for r in rows]
