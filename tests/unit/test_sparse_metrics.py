"""Clustering metrics on sparse (CSR) blocks, without Spark: the CSR twins of both metrics
passes give the metrics of the same rows stored dense (1e-9), weights included, for squared
Euclidean and cosine; a fit of mixed blocks (some CSR, some dense by the density rule)
merges both kinds; the sample stays CSR and scikit-learn's silhouette on it is
scikit-learn's own. The evaluator's passes over batches of Spark's vector struct give the
scores of the same rows as ``list<double>`` batches."""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import scipy.sparse as sp
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score
from sklearn.metrics import silhouette_samples as sk_silhouette_samples

from kmeans_spark.kernels import scores
from kmeans_spark.kernels import sparse as csr
from kmeans_spark.kernels.scores import StackedCenters
from kmeans_spark.load import FEATURES, WEIGHT, LoadSettings
from kmeans_spark.localblocks import LocalBlocks
from kmeans_spark.metrics import ClusteringMetrics, compute_metrics
from kmeans_spark.prediction_scores import (
    PREDICTION,
    batch_rows,
    moments_of_batches,
    separation_of_batches,
)

SCALARS = ("sse", "calinski_harabasz", "davies_bouldin", "silhouette", "silhouette_sample")
LISTS = ("sse_per_cluster", "mean_distance_per_cluster", "cluster_weights")


@pytest.fixture(autouse=True)
def local_dirs(tmp_path: Any, monkeypatch: Any) -> Iterator[None]:
    monkeypatch.setenv("SPARK_LOCAL_DIRS", str(tmp_path))
    yield


def topic_docs(n: int, d: int, topics: int, per_row: int, seed: int = 0) -> sp.csr_array:
    """Rows of ``per_row`` non-zeros drawn from one topic's columns: clusters in sparse data
    (density ``per_row / d``, below the load's 10% so blocks are stored CSR)."""
    rng = np.random.default_rng(seed)
    width = d // topics
    rows, cols, vals = [], [], []
    for i in range(n):
        t = i % topics
        chosen = rng.choice(width, size=per_row, replace=False) + t * width
        rows += [i] * per_row
        cols += sorted(chosen.tolist())
        vals += rng.uniform(0.5, 2.0, per_row).tolist()
    x = sp.csr_array((vals, (rows, cols)), shape=(n, d))
    x.sort_indices()
    return x


def split(x: Any, bounds: list[int]) -> list[Any]:
    edges = [0, *bounds, x.shape[0]]
    return [x[a:b] for a, b in itertools.pairwise(edges)]


def centres_of(x: np.ndarray, k: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return x[rng.choice(x.shape[0], size=k, replace=False)] + rng.normal(0, 0.05, (k, x.shape[1]))


def metrics_of(
    parts: list[Any], centres: list[np.ndarray], *, spherical: bool, weights: Any = None
) -> list[ClusteringMetrics]:
    settings = LoadSettings(spherical=spherical)
    with LocalBlocks(parts, settings, weights=weights) as blocks:
        stored = [h.sparse for h in blocks.handles if h.rows]
        assert stored == [sp.issparse(p) for p in parts if p.shape[0]]
        return compute_metrics(blocks, centres, spherical=spherical, sample_size=60, seed=5)


def assert_same(a: ClusteringMetrics, b: ClusteringMetrics) -> None:
    assert a.cluster_sizes == b.cluster_sizes
    assert (a.rows, a.sample_size) == (b.rows, b.sample_size)
    for name in SCALARS:
        assert getattr(a, name) == pytest.approx(getattr(b, name), rel=1e-9, abs=1e-12), name
    for name in LISTS:
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(a.sample_labels, b.sample_labels)
    np.testing.assert_allclose(a.sample_silhouette, b.sample_silhouette, rtol=1e-9, atol=1e-12)
    dense_rows = a.sample_rows.toarray() if sp.issparse(a.sample_rows) else a.sample_rows
    np.testing.assert_allclose(dense_rows, np.asarray(b.sample_rows), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("spherical", [False, True], ids=["squaredEuclidean", "cosine"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_sparse_blocks_give_the_metrics_of_the_same_rows_dense(
    spherical: bool, weighted: bool
) -> None:
    x = topic_docs(150, 60, 4, 4)
    dense = x.toarray()
    bounds = [40, 40, 95]  # an empty partition among them
    w = np.random.default_rng(3).uniform(0.2, 3.0, x.shape[0]) if weighted else None
    weights = None if w is None else split(w, bounds)
    unit = dense / np.linalg.norm(dense, axis=1, keepdims=True) if spherical else dense
    centres = [centres_of(unit, 3), centres_of(unit, 4, seed=2), centres_of(unit, 6, seed=3)]
    sparse_metrics = metrics_of(split(x, bounds), centres, spherical=spherical, weights=weights)
    dense_metrics = metrics_of(split(dense, bounds), centres, spherical=spherical, weights=weights)
    for s, d in zip(sparse_metrics, dense_metrics, strict=True):
        assert sp.issparse(s.sample_rows) and not sp.issparse(d.sample_rows)
        assert s.sample_size == 60
        assert_same(s, d)
        assert math.isfinite(s.silhouette) and math.isfinite(s.davies_bouldin)


def test_sparse_metrics_are_scikit_learns() -> None:
    """CH and DB (all rows) and the sample silhouette (CSR sample) are scikit-learn's."""
    x = topic_docs(90, 45, 3, 3, seed=4)
    dense = x.toarray()
    centres = [centres_of(dense, 3)]
    (m,) = metrics_of(split(x, [30, 60]), centres, spherical=False)
    labels = np.argmin(((dense[:, None, :] - centres[0][None]) ** 2).sum(axis=2), axis=1)
    assert m.sample_size == 60  # the sample: 60 of 90 rows
    assert m.calinski_harabasz == pytest.approx(calinski_harabasz_score(dense, labels), rel=1e-9)
    assert m.davies_bouldin == pytest.approx(davies_bouldin_score(dense, labels), rel=1e-9)
    expected = sk_silhouette_samples(m.sample_rows, m.sample_labels)
    np.testing.assert_allclose(m.sample_silhouette, expected, rtol=1e-9, atol=1e-12)


def test_a_fit_of_mixed_blocks_merges_sparse_and_dense_moments() -> None:
    """A partition denser than the load's 10% is stored dense (with its origin): its
    moments and sample rows merge with the CSR blocks' into the same metrics."""
    x = topic_docs(120, 40, 4, 3)
    dense = x.toarray()
    busy = topic_docs(30, 40, 4, 8, seed=9).toarray() + 5.0 * (np.arange(40) % 2 == 0)
    parts_sparse = [x[:60], sp.csr_array(busy), x[60:]]
    parts_dense = [dense[:60], busy, dense[60:]]
    centres = [centres_of(np.vstack([dense, busy]), 4)]
    settings = LoadSettings()
    with LocalBlocks(parts_sparse, settings) as blocks:
        assert [h.sparse for h in blocks.handles] == [True, False, True]
        (mixed,) = compute_metrics(blocks, centres, spherical=False, sample_size=50, seed=5)
    # the same 50-row sample: its keys depend on the weights, the partition and the seed
    with LocalBlocks(parts_dense, settings) as blocks:
        (plain,) = compute_metrics(blocks, centres, spherical=False, sample_size=50, seed=5)
    assert sp.issparse(mixed.sample_rows)
    assert_same(mixed, plain)


def test_sparse_moments_merge_like_the_dense_ones() -> None:
    x = topic_docs(80, 30, 3, 3, seed=2)
    dense = x.toarray()
    w = np.random.default_rng(1).uniform(0.5, 2.0, 80)
    stacked = StackedCenters.of([centres_of(dense, 3), centres_of(dense, 5, seed=4)])
    keys = np.full(80, -np.inf)
    passes = []
    for kernels, data in ((csr, x), (scores, dense)):
        a, la = kernels.assignment_block(
            data[:50],
            w[:50],
            stacked,
            origin=None,
            sample_keys=keys[:50],
            sample_size=0,
            partition=0,
        )
        b, lb = kernels.assignment_block(
            data[50:],
            w[50:],
            stacked,
            origin=None,
            sample_keys=keys[50:],
            sample_size=0,
            partition=1,
        )
        np.testing.assert_array_equal(np.hstack([la, lb]).shape, (2, 80))
        passes.append((a.merge(b), np.hstack([la, lb])))
    (sparse_pass, sparse_labels), (dense_pass, dense_labels) = passes
    np.testing.assert_array_equal(sparse_labels, dense_labels)
    assert isinstance(sparse_pass.moments[0], csr.SparseClusterMoments)
    for s, d in zip(sparse_pass.moments, dense_pass.moments, strict=True):
        s_m, d_m = scores.as_moments(s), scores.as_moments(d)
        np.testing.assert_array_equal(s_m.counts, d_m.counts)
        np.testing.assert_allclose(s_m.weights, d_m.weights, rtol=1e-12)
        np.testing.assert_allclose(s_m.means, d_m.means, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(s_m.m2, d_m.m2, rtol=1e-10)
    spreads = [scores.ClusterSpread.of(scores.as_moments(m)) for m in dense_pass.moments]
    for labels in (dense_labels, None):  # carried labels, or assigned again
        got = csr.separation_block(x, w, stacked, spreads, labels=labels, chunk=16)
        want = scores.separation_block(dense, w, stacked, spreads, origin=None, labels=labels)
        for g, e in zip(got, want, strict=True):
            np.testing.assert_allclose(g.intra_distance, e.intra_distance, rtol=1e-10)
            assert g.silhouette == pytest.approx(e.silhouette, rel=1e-10)
            assert g.weight == pytest.approx(e.weight, rel=1e-12)


def test_own_distance_of_a_row_on_its_mean_is_zero() -> None:
    rows = sp.csr_array(np.array([[0.0, 1.5, 0.0, 2.0], [3.0, 0.0, 0.0, 0.0]]))
    means = np.array([[0.0, 1.5, 0.0, 2.0], [1.0, 1.0, 0.0, 0.0]])
    got = csr.own_sq_dist(rows, means, np.einsum("ij,ij->i", means, means), np.array([0, 1]))
    assert got[0] == 0.0
    assert got[1] == pytest.approx(4.0 + 1.0)


def test_the_sample_silhouette_of_a_csr_sample_is_scikit_learns() -> None:
    x = topic_docs(70, 50, 3, 4, seed=6)
    labels = [np.arange(70) % 3, np.arange(70) % 5]
    got = scores.silhouette_samples(x, labels, tile_bytes=8 * 70 * 9)  # tiles of 9 rows
    dense = scores.silhouette_samples(x.toarray(), labels)
    for g, d, lab in zip(got, dense, labels, strict=True):
        np.testing.assert_allclose(g, sk_silhouette_samples(x, lab), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(g, d, rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------- the evaluator


VECTOR = pa.struct(  # Spark's VectorUDT struct, as mapInArrow delivers it
    [
        pa.field("type", pa.int8(), nullable=False),
        pa.field("size", pa.int32()),
        pa.field("indices", pa.list_(pa.field("element", pa.int32(), nullable=False))),
        pa.field("values", pa.list_(pa.field("element", pa.float64(), nullable=False))),
    ]
)


def vector_batch(
    rows: list[dict[str, Any] | None], labels: np.ndarray, w: np.ndarray | None
) -> pa.RecordBatch:
    cols: dict[str, Any] = {
        FEATURES: pa.array(rows, type=VECTOR),
        PREDICTION: pa.array(labels.astype(float)),
    }
    if w is not None:
        cols[WEIGHT] = pa.array(w)
    return pa.RecordBatch.from_pydict(cols)


def sparse_rows(x: Any, as_dense: bool = False) -> list[dict[str, Any] | None]:
    """CSR rows as Spark's vector structs: sparse vectors, or dense ones (``as_dense``)."""
    x = sp.csr_array(x)
    out: list[dict[str, Any] | None] = []
    for i in range(x.shape[0]):
        a, b = x.indptr[i], x.indptr[i + 1]
        if as_dense:
            out.append({"type": 1, "values": x[[i]].toarray()[0].tolist()})
        else:
            idx, val = x.indices[a:b].tolist(), x.data[a:b].tolist()
            out.append({"type": 0, "size": x.shape[1], "indices": idx, "values": val})
    return out


def list_batch(x: np.ndarray, labels: np.ndarray, w: np.ndarray | None) -> pa.RecordBatch:
    cols: dict[str, Any] = {
        FEATURES: pa.array(x.tolist(), pa.list_(pa.float64())),
        PREDICTION: pa.array(labels.astype(float)),
    }
    if w is not None:
        cols[WEIGHT] = pa.array(w)
    return pa.RecordBatch.from_pydict(cols)


def evaluator_passes(parts: list[list[pa.RecordBatch]], cosine: bool) -> tuple[Any, Any]:
    """Both passes of the evaluator over partitions of batches, merged as on the driver."""
    found = functools.reduce(
        lambda a, b: a.merge(b), [moments_of_batches(iter(p), cosine=cosine) for p in parts]
    )
    assert found.moments is not None
    m = scores.as_moments(found.moments)
    spread = scores.ClusterSpread.of(m)
    sums = functools.reduce(
        lambda a, b: a.merge(b),
        [separation_of_batches(iter(p), cosine=cosine, ids=m.ids, spread=spread) for p in parts],
    )
    return found, (m, sums)


@pytest.mark.parametrize("cosine", [False, True], ids=["squaredEuclidean", "cosine"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_evaluator_batches_of_sparse_vectors_equal_the_dense_ones(
    cosine: bool, weighted: bool
) -> None:
    """The evaluator's passes over Spark's vector struct (sparse vectors, one batch of
    dense vectors, a batch dense enough to be densified, an empty partition and bad rows)
    give the scores of the same rows as ``list<double>`` batches, to 1e-9."""
    x = topic_docs(240, 400, 4, 6, seed=3)
    dense = x.toarray()
    w = np.random.default_rng(2).uniform(0.3, 3.0, 240) if weighted else None
    labels = (np.arange(240) % 4) * 7.0 - 2.0  # any numbers name the clusters
    labels[[5, 17, 30]] = 11.0  # a small fifth cluster, in one partition only
    bounds = [(0, 60), (60, 100), (100, 130), (130, 240)]

    def wpart(a: int, b: int) -> np.ndarray | None:
        return None if w is None else w[a:b]

    # a crowded batch (rows 100..130 with columns 0..59 filled): densified by the fit's rule
    crowded = x[100:130].toarray()
    crowded[:, :60] += 0.25
    dense[100:130] = crowded
    struct_batches = [
        vector_batch(sparse_rows(x[0:60]), labels[0:60], wpart(0, 60)),
        vector_batch(sparse_rows(x[60:100], as_dense=True), labels[60:100], wpart(60, 100)),
        vector_batch(sparse_rows(sp.csr_array(crowded)), labels[100:130], wpart(100, 130)),
        vector_batch(sparse_rows(x[130:240]), labels[130:240], wpart(130, 240)),
    ]
    list_batches = [list_batch(dense[a:b], labels[a:b], wpart(a, b)) for a, b in bounds]
    shape = [[0, 1], [], [2, 3]]  # partitions: two batches, none, two batches
    got_found, (got_m, got_sums) = evaluator_passes(
        [[struct_batches[i] for i in p] for p in shape], cosine
    )
    want_found, (want_m, want_sums) = evaluator_passes(
        [[list_batches[i] for i in p] for p in shape], cosine
    )
    assert (got_found.dim, got_found.rows) == (want_found.dim, want_found.rows) == (400, 240)
    np.testing.assert_array_equal(got_m.ids, want_m.ids)
    np.testing.assert_array_equal(got_m.counts, want_m.counts)
    np.testing.assert_allclose(got_m.weights, want_m.weights, rtol=1e-12)
    np.testing.assert_allclose(got_m.means, want_m.means, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got_m.m2, want_m.m2, rtol=1e-9)
    np.testing.assert_allclose(got_sums.intra_distance, want_sums.intra_distance, rtol=1e-9)
    got_scores = (
        scores.spark_silhouette(got_m, got_sums),
        scores.calinski_harabasz(got_m),
        scores.davies_bouldin(got_m, got_sums.intra_distance),
    )
    want_scores = (
        scores.spark_silhouette(want_m, want_sums),
        scores.calinski_harabasz(want_m),
        scores.davies_bouldin(want_m, want_sums.intra_distance),
    )
    assert got_scores == pytest.approx(want_scores, rel=1e-9)
    kinds = [sp.issparse(batch_rows(b, 400, cosine=cosine).x) for b in struct_batches]
    assert kinds == [True, False, False, True]  # dense vectors; densified by the 10% rule
    # and scikit-learn's own (unweighted: its scores take no weights)
    if w is None:
        rows = dense / np.linalg.norm(dense, axis=1, keepdims=True) if cosine else dense
        assert scores.calinski_harabasz(got_m) == pytest.approx(
            calinski_harabasz_score(rows, labels), rel=1e-9
        )
        assert scores.davies_bouldin(got_m, got_sums.intra_distance) == pytest.approx(
            davies_bouldin_score(rows, labels), rel=1e-9
        )


def test_sparse_evaluator_batches_keep_their_rows_sparse_and_count_bad_ones() -> None:
    """Bad rows of a sparse batch (null, another size, NaN, a repeated index; a zero vector
    under cosine) are counted as a dense batch's are; the rows reach the kernel as CSR."""
    rows: list[dict[str, Any] | None] = [
        {"type": 0, "size": 60, "indices": [0, 2], "values": [1.0, 2.0]},
        None,
        {"type": 0, "size": 50, "indices": [1], "values": [1.0]},
        {"type": 0, "size": 60, "indices": [1], "values": [float("nan")]},
        {"type": 0, "size": 60, "indices": [3, 3], "values": [1.0, 1.0]},
        {"type": 0, "size": 60, "indices": [], "values": []},
        {"type": 0, "size": 60, "indices": [4], "values": [3.0]},
        {"type": 0, "size": 60, "indices": [59], "values": [3.0]},
    ]
    batch = vector_batch(rows, np.array([0, 1, 0, 1, 0, 1, 0, 1.0]), None)
    part = batch_rows(batch, 60, cosine=True)
    assert sp.issparse(part.x) and part.x.shape == (3, 60)
    assert part.bad_features == 5  # null, size 50, NaN, repeated index, zero (cosine)
    assert part.x.nnz == 4 and part.x[[2]].toarray()[0, 59] == 1.0
    np.testing.assert_array_equal(part.labels, [0, 0, 1])
    got = moments_of_batches(iter([batch]), cosine=False)
    assert (got.bad_features, got.dim, got.rows) == (4, 60, 8)
    assert isinstance(got.moments, csr.SparseClusterMoments)


def test_sparse_moments_of_different_clusters_merge_by_id() -> None:
    """Partitions that hold different clusters merge into the moments of all the rows,
    sparse with sparse (sums still CSR) and sparse with dense."""
    x = topic_docs(90, 40, 3, 4, seed=8)
    labels = np.where(np.arange(90) < 45, np.arange(90) % 2, 5 + np.arange(90) % 3).astype(float)
    w = np.random.default_rng(3).uniform(0.5, 2.0, 90)
    a = csr.labelled_moments(x[:45], w[:45], labels[:45])
    b = csr.labelled_moments(x[45:], w[45:], labels[45:])
    merged = a.merge(b)
    assert isinstance(merged, csr.SparseClusterMoments) and sp.issparse(merged.sums)
    want = scores.labelled_moments(x.toarray(), w, labels)
    for got in (merged, a.merge(scores.labelled_moments(x[45:].toarray(), w[45:], labels[45:]))):
        m = scores.as_moments(got)
        np.testing.assert_array_equal(m.ids, [0, 1, 5, 6, 7])
        np.testing.assert_array_equal(m.counts, want.counts)
        np.testing.assert_allclose(m.means, want.means, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(m.m2, want.m2, rtol=1e-10)
