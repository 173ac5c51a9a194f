"""``transform``'s Arrow path on a ``VectorUDT`` column (Spark's vector struct), no JVM:
sparse batches scored by the CSR kernel, dense ones as arrays, against the brute-force
reference of tests/unit/test_scoring.py on the densified rows; memory that never holds
``n x d``."""

from __future__ import annotations

import tracemalloc
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from kmeans_spark.scoring import Scorer, assign_batch, vector_sizes

from .test_scoring import brute
from .test_sparse_arrow import VECTOR, dv, sv, vectors

NAN, INF = float("nan"), float("inf")


def meaning(row: dict[str, Any] | None, dim: int) -> list[float] | None:
    """What a vector means as a dense row for :func:`brute`: None when it cannot be read
    (null, bad indices, an unknown type); its own length when it has another."""
    if row is None or row["type"] not in (0, 1):
        return None
    if row["type"] == 1:
        return list(row["values"])
    indices, values = row["indices"], row["values"]
    if len(indices) != len(values) or len(set(indices)) != len(indices):
        return None
    if row["size"] != dim:
        return [0.0] * row["size"]
    if any(i < 0 or i >= dim for i in indices):
        return None
    out = [0.0] * dim
    for i, v in zip(indices, values, strict=True):
        out[i] = v
    return out


def check(rows: list[dict[str, Any] | None], centers: np.ndarray, spherical: bool) -> None:
    got = assign_batch(vectors(rows), Scorer.of(centers, spherical)).to_pylist()
    want = brute([meaning(r, centers.shape[1]) for r in rows], centers, spherical)
    assert len(got) == len(want) == len(rows)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        if w is None:
            assert g == {"prediction": None, "distance": None}, i
        else:
            assert g["prediction"] == w[0], i
            assert g["distance"] == pytest.approx(w[1], rel=1e-9, abs=1e-12), i


def random_rows(rng: np.random.Generator, n: int, dim: int, nnz: int) -> list[dict[str, Any]]:
    rows = []
    for _ in range(n):
        idx = np.sort(rng.choice(dim, size=nnz, replace=False))
        rows.append(sv(dim, idx.tolist(), rng.random(nnz).tolist()))
    return rows


@pytest.mark.parametrize("spherical", [False, True])
def test_sparse_batches_equal_brute_force_with_bad_rows(spherical: bool) -> None:
    rng = np.random.default_rng(5)
    centers = np.abs(rng.normal(size=(4, 30)))
    rows: list[dict[str, Any] | None] = list(random_rows(rng, 40, 30, 5))
    rows[1] = None
    rows[2] = sv(31, [0], [1.0])  # another length
    rows[3] = sv(30, [0, 4], [NAN, 1.0])
    rows[4] = sv(30, [7], [INF])
    rows[5] = sv(30, [30], [1.0])  # index out of range
    rows[6] = sv(30, [2, 2], [1.0, 2.0])  # repeated index
    rows[7] = sv(30, [], [])  # an empty document: no direction for cosine
    rows[8] = dv((0.9 * centers[2]).tolist())  # a dense vector among sparse ones
    rows[9] = dv([1.0, 2.0])  # a dense one of another length
    rows[10] = sv(30, [9, 3], [2.0, 1.0])  # unsorted: read as sorted
    check(rows, centers, spherical)


@pytest.mark.parametrize("spherical", [False, True])
def test_a_batch_of_dense_vectors_scores_as_arrays_do(spherical: bool) -> None:
    rng = np.random.default_rng(2)
    centers = rng.normal(size=(3, 4)) + 500.0  # far from zero: the centring matters
    x = centers[rng.integers(0, 3, 20)] + rng.normal(size=(20, 4))
    rows: list[dict[str, Any] | None] = [dv(r) for r in x.tolist()]
    rows[4], rows[6] = None, dv([1.0, 2.0])
    scorer = Scorer.of(centers, spherical)
    arrays = [None if r is None else r["values"] for r in rows]
    as_arrays = assign_batch(pa.array(arrays, pa.list_(pa.float64())), scorer)
    assert assign_batch(vectors(rows), scorer).equals(as_arrays)
    check(rows, centers, spherical)


def test_empty_batches_and_batches_without_usable_rows() -> None:
    scorer = Scorer.of(np.eye(3), spherical=True)
    assert len(assign_batch(pa.array([], type=VECTOR), scorer)) == 0
    assert len(assign_batch(pa.chunked_array([], type=VECTOR), scorer)) == 0
    nulls = [{"prediction": None, "distance": None}] * 3
    bad = [None, sv(4, [0], [1.0]), sv(3, [], [])]  # null, other length, no direction
    assert assign_batch(vectors(bad), scorer).to_pylist() == nulls
    assert assign_batch(vectors([None, dv([1.0]), None]), scorer).to_pylist() == nulls


def test_chunked_and_sliced_vector_columns() -> None:
    rng = np.random.default_rng(8)
    centers = rng.random((3, 12))
    rows: list[dict[str, Any] | None] = list(random_rows(rng, 30, 12, 3))
    rows[11] = None
    full = vectors(rows)
    chunked = pa.chunked_array([full.slice(0, 7), full.slice(7, 23)])
    scorer = Scorer.of(centers, spherical=False)
    assert assign_batch(chunked, scorer).equals(assign_batch(full, scorer))
    assert assign_batch(full.slice(5, 10), scorer).equals(assign_batch(full, scorer)[5:15])


def test_vector_sizes() -> None:
    rows = [sv(5, [1], [1.0]), dv([1.0, 2.0]), None, sv(7, [], [])]
    sizes, dense = vector_sizes(vectors(rows))
    assert sizes.tolist() == [5, 2, -1, 7] and dense.tolist() == [False, True, False, False]


def test_a_wide_sparse_batch_is_never_densified() -> None:
    """5,000 rows of 2^18 features would be 10 GB dense; scored sparse, the batch costs its
    non-zeros plus the k x d centres (a few times 8 MB here)."""
    rng = np.random.default_rng(1)
    k, dim, n, nnz = 4, 2**18, 5000, 20
    support = rng.choice(dim, size=(k, 200), replace=False)
    centers = np.zeros((k, dim))
    for j in range(k):
        centers[j, support[j]] = 1.0
    labels = rng.integers(0, k, n)
    rows: list[dict[str, Any] | None] = []
    for j in labels:  # 20 of its centre's columns and one anywhere
        cols = {*support[j, rng.choice(200, nnz, replace=False)].tolist(), int(rng.integers(dim))}
        rows.append(sv(dim, sorted(cols), [1.0] * len(cols)))
    column = vectors(rows)
    for spherical in (False, True):
        scorer = Scorer.of(centers, spherical)
        tracemalloc.start()
        try:
            got = assign_batch(column, scorer)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 6 * centers.nbytes, peak  # 8 MB each; n x d would be 10 GB
        assert got.field("prediction").to_numpy().tolist() == labels.tolist()
        # the prepared centres are kept for the task's next batch
        assert scorer.sparse_centers is scorer.sparse_centers
