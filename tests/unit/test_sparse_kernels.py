"""The CSR kernels against brute-force dense references and their dense twins (no Spark)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from kmeans_spark.datagen import make_topic_documents, tfidf
from kmeans_spark.kernels import distance, init, sparse, step

RTOL = 1e-12


def random_csr(
    n: int,
    d: int,
    rng: np.random.Generator,
    density: float = 0.2,
    empty_rows: tuple[int, ...] = (0, 5),
) -> sp.csr_array:
    """Canonical CSR (sorted, distinct indices) with some empty rows."""
    dense = np.where(rng.random((n, d)) < density, rng.normal(size=(n, d)), 0.0)
    dense[[r for r in empty_rows if r < n]] = 0.0
    return sp.csr_array(dense)


def brute_nearest(x: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d2 = ((x[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)
    return d2.argmin(axis=1), d2.min(axis=1)


def brute_stats(x: np.ndarray, w: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, ...]:
    labels, d2 = brute_nearest(x, c)
    k, d = c.shape
    sums = np.zeros((k, d))
    weights = np.zeros(k)
    costs = np.zeros(k)
    for i, j in enumerate(labels):
        sums[j] += w[i] * x[i]
        weights[j] += w[i]
        costs[j] += w[i] * d2[i]
    return sums, weights, costs, labels, d2


def setting(
    spherical: bool, n: int = 240, d: int = 30, k: int = 6, seed: int = 0
) -> tuple[sp.csr_array, np.ndarray]:
    """A block and centres: unit rows and unit centres for spherical k-means."""
    rng = np.random.default_rng(seed)
    x = random_csr(n, d, rng)
    c = rng.normal(size=(k, d))
    if spherical:
        x = sparse.normalize_rows(x)[0]
        c /= np.linalg.norm(c, axis=1)[:, None]
    return x, c


def assert_close(a: np.ndarray, b: np.ndarray) -> None:
    """Equal to ``RTOL`` relative to the arrays' scale (sums of mixed signs can be ~0)."""
    scale = max(float(np.abs(b).max(initial=0.0)), 1.0)
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=RTOL * scale)


def test_squared_norms_and_normalize_rows_match_dense() -> None:
    x = random_csr(50, 12, np.random.default_rng(1))
    dense = x.toarray()
    assert_close(sparse.squared_norms(x), distance.squared_norms(dense))
    assert_close(
        sparse.squared_norms(sparse.row_slice(x, 3, 40)), distance.squared_norms(dense[3:40])
    )
    unit, zero = sparse.normalize_rows(x)
    ref, ref_zero = distance.normalize_rows(dense)
    assert_close(unit.toarray(), ref)
    np.testing.assert_array_equal(zero, ref_zero)
    assert zero[0] and zero[5] and unit.nnz == x.nnz


def test_row_slice() -> None:
    x = random_csr(30, 8, np.random.default_rng(2))
    for a, b in ((4, 17), (0, 30), (5, 5), (29, 30)):
        part = sparse.row_slice(x, a, b)
        assert part.shape == (b - a, 8)
        np.testing.assert_array_equal(part.toarray(), x.toarray()[a:b])


@pytest.mark.parametrize("chunk", [None, 7])
@pytest.mark.parametrize("sparse_centers", [False, True])
def test_nearest_centers_matches_brute_force_and_dense(
    chunk: int | None, sparse_centers: bool
) -> None:
    rng = np.random.default_rng(3)
    x = random_csr(203, 15, rng)
    c = random_csr(9, 15, rng, density=0.5, empty_rows=())
    centers = c if sparse_centers else c.toarray()
    labels, d2 = sparse.nearest_centers(x, centers, chunk=chunk)
    ref_labels, ref_d2 = brute_nearest(x.toarray(), c.toarray())
    dense_labels, dense_d2 = distance.nearest_centers(x.toarray(), c.toarray(), chunk=chunk)
    np.testing.assert_array_equal(labels, ref_labels)
    np.testing.assert_array_equal(labels, dense_labels)
    assert_close(d2, ref_d2)
    assert_close(d2, dense_d2)


def test_nearest_centers_clamps_rounding_below_zero() -> None:
    x = sp.csr_array(np.array([[1e4, 0.0, 1e4 + 1e-9], [0.0, 3.0, 0.0]]))
    labels, d2 = sparse.nearest_centers(x, x.toarray())
    np.testing.assert_array_equal(labels, [0, 1])
    assert (d2 >= 0).all()


def test_nearest_centers_empty_block() -> None:
    labels, d2 = sparse.nearest_centers(sp.csr_array((0, 4)), np.ones((2, 4)))
    assert labels.shape == (0,) and d2.shape == (0,)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("spherical", [False, True])
@pytest.mark.parametrize("chunk", [None, 13])
def test_partial_stats_matches_brute_force_and_dense(
    weighted: bool, spherical: bool, chunk: int | None
) -> None:
    x, c = setting(spherical)
    rng = np.random.default_rng(4)
    w = rng.uniform(0.0, 3.0, size=x.shape[0]) if weighted else np.ones(x.shape[0])
    if weighted:
        w[[1, 7]] = 0.0
    given = w if weighted else None
    stats = sparse.partial_stats(x, given, c, n_far=5, chunk=chunk)
    dense = step.partial_stats(x.toarray(), given, c, n_far=5, chunk=chunk)
    sums, weights, costs, labels, d2 = brute_stats(x.toarray(), w, c)
    assert sp.issparse(stats.sums) and stats.sums.shape == c.shape
    for ref in (sums, dense.sums):
        assert_close(stats.sums.toarray(), ref)
    assert_close(stats.weights, weights)
    assert_close(stats.costs, costs)
    assert_close(stats.costs, dense.costs)
    np.testing.assert_array_equal(stats.counts, np.bincount(labels, minlength=c.shape[0]))
    assert stats.computed == x.shape[0]
    np.testing.assert_array_equal(stats.far_labels, dense.far_labels)
    np.testing.assert_array_equal(stats.far_points.toarray(), dense.far_points)
    np.testing.assert_array_equal(stats.far_weights, dense.far_weights)
    assert_close(stats.far_sq_dist, dense.far_sq_dist)
    top = np.argsort(-d2, kind="stable")[:5]
    assert_close(stats.far_sq_dist, d2[top])


def test_sums_store_only_the_pairs_that_occur() -> None:
    x, c = setting(False, n=400, d=200, k=8)
    x = random_csr(400, 200, np.random.default_rng(5), density=0.02)
    stats = sparse.partial_stats(x, None, c)
    labels, _ = brute_nearest(x.toarray(), c)
    occurring = {(int(labels[i]), int(j)) for i, j in zip(*x.nonzero(), strict=True)}
    stored = set(zip(*stats.sums.nonzero(), strict=True))
    assert stored == occurring and stats.sums.nnz <= x.nnz
    assert stats.sums.has_canonical_format and stats.sums.indices.dtype == np.int32


def test_far_point_on_its_centre_has_distance_exactly_zero() -> None:
    x = sp.csr_array(np.array([[0.1, 0.0, 0.3], [0.0, 0.2, 0.0], [0.1, 0.0, 0.3]]))
    c = np.array([[0.1, 0.0, 0.3], [0.0, 0.2, 0.0]])
    stats = sparse.partial_stats(x, None, c, n_far=3)
    assert (stats.far_sq_dist == 0.0).all()


def test_partial_stats_empty_block() -> None:
    stats = sparse.partial_stats(sp.csr_array((0, 6)), None, np.ones((3, 6)), n_far=2)
    assert stats.sums.shape == (3, 6) and stats.sums.nnz == 0
    assert stats.weights.tolist() == [0, 0, 0] and stats.counts.tolist() == [0, 0, 0]
    assert stats.far_points.shape == (0, 6) and stats.far_sq_dist.size == 0


def test_multi_partial_stats_matches_dense() -> None:
    rng = np.random.default_rng(6)
    x = random_csr(300, 20, rng)
    ks = [3, 5, 2]
    stacked = rng.normal(size=(sum(ks), 20))
    layout = step.RunLayout.of(ks)
    w = rng.uniform(0.5, 2.0, size=300)
    mine = sparse.multi_partial_stats(x, w, stacked, layout, n_far=[2, 0, 4], chunk=64)
    ref = step.multi_partial_stats(x.toarray(), w, stacked, layout, n_far=[2, 0, 4], chunk=64)
    for a, b in zip(mine, ref, strict=True):
        assert_close(a.sums.toarray(), b.sums)
        assert_close(a.costs, b.costs)
        np.testing.assert_array_equal(a.counts, b.counts)
        np.testing.assert_array_equal(a.far_labels, b.far_labels)
        np.testing.assert_array_equal(a.far_points.toarray(), b.far_points)


def test_merge_equals_whole_block_and_dense_merge() -> None:
    x, c = setting(False, n=500)
    whole = sparse.partial_stats(x, None, c, n_far=3)
    cuts = [(0, 0), (0, 200), (200, 201), (201, 500)]  # one empty block
    parts = [sparse.partial_stats(sparse.row_slice(x, a, b), None, c, n_far=3) for a, b in cuts]
    merged = parts[0].merge(parts[1]).merge(parts[2]).merge(parts[3])
    dense_parts = [step.partial_stats(x.toarray()[a:b], None, c, n_far=3) for a, b in cuts]
    dense_merged = dense_parts[0].merge(dense_parts[1]).merge(dense_parts[2]).merge(dense_parts[3])
    assert sp.issparse(merged.sums)
    assert_close(merged.sums.toarray(), whole.sums.toarray())
    assert_close(merged.sums.toarray(), dense_merged.sums)
    assert_close(merged.costs, whole.costs)
    np.testing.assert_array_equal(merged.counts, whole.counts)
    np.testing.assert_array_equal(merged.far_points.toarray(), dense_merged.far_points)
    # a sparse block merged with a dense one: dense sums, CSR far points
    mixed = parts[1].merge(dense_parts[3])
    assert not sp.issparse(mixed.sums) and sp.issparse(mixed.far_points)
    assert_close(mixed.sums, dense_parts[1].merge(dense_parts[3]).sums)
    assert_close(mixed.to_dense().far_points, dense_parts[1].merge(dense_parts[3]).far_points)


def test_merge_sums_sparse_and_dense_operands() -> None:
    rng = np.random.default_rng(7)
    a = random_csr(4, 10, rng, density=0.3, empty_rows=())
    b = random_csr(4, 10, rng, density=0.3, empty_rows=())
    ref = a.toarray() + b.toarray()
    both = sparse.merge_sums(a, b)
    assert sp.issparse(both) and both.has_canonical_format
    assert_close(both.toarray(), ref)
    dense_b = b.toarray()
    for left, right in ((a, dense_b), (dense_b, a)):
        out = sparse.merge_sums(left, right)
        assert isinstance(out, np.ndarray)
        assert_close(out, ref)
    np.testing.assert_array_equal(dense_b, b.toarray())  # inputs untouched
    # duplicates in a non-canonical operand are summed, not overwritten
    coo = sp.coo_array((np.array([1.0, 2.0]), (np.array([0, 0]), np.array([3, 3]))), shape=(4, 10))
    out = sparse.add_sums_into(np.zeros((4, 10)), coo)
    assert out[0, 3] == 3.0


@pytest.mark.parametrize("spherical", [False, True])
@pytest.mark.parametrize("reseed_empty", [False, True])
def test_update_centers_matches_dense_with_empty_clusters(
    spherical: bool, reseed_empty: bool
) -> None:
    x, c = setting(spherical, n=300, k=5, seed=8)
    centers = np.concatenate([c, c[:2]])  # copies lose every tie: two empty clusters
    stats = sparse.partial_stats(x, None, centers, n_far=6)
    dense = step.partial_stats(x.toarray(), None, centers, n_far=6)
    mine = sparse.update_centers(stats, centers, reseed_empty=reseed_empty, spherical=spherical)
    ref = step.update_centers(dense, centers, reseed_empty=reseed_empty, spherical=spherical)
    assert_close(mine.centers, ref.centers)
    assert mine.reseeded == ref.reseeded
    np.testing.assert_array_equal(mine.counts, ref.counts)
    assert_close(mine.weights, ref.weights)
    assert mine.cost == pytest.approx(ref.cost, rel=RTOL)
    assert mine.reseeded == ([5, 6] if reseed_empty else [])


@pytest.mark.parametrize("sparse_candidates", [False, True])
def test_update_nearest_candidate_matches_dense_and_is_idempotent(sparse_candidates: bool) -> None:
    rng = np.random.default_rng(9)
    x = random_csr(150, 12, rng)
    cand = random_csr(7, 12, rng, density=0.5, empty_rows=())
    given = cand if sparse_candidates else cand.toarray()
    state = (np.full(150, np.inf), np.zeros(150, dtype=np.int64))
    ref = (np.full(150, np.inf), np.zeros(150, dtype=np.int64))
    sparse.update_nearest_candidate(x, *state, given[:3], 0)
    sparse.update_nearest_candidate(x, *state, given[3:], 3)
    init.update_nearest_candidate(x.toarray(), *ref, cand.toarray()[:3], 0)
    init.update_nearest_candidate(x.toarray(), *ref, cand.toarray()[3:], 3)
    assert_close(state[0], ref[0])
    np.testing.assert_array_equal(state[1], ref[1])
    before = (state[0].copy(), state[1].copy())
    sparse.update_nearest_candidate(x, *state, given[3:], 3)  # a retried task
    np.testing.assert_array_equal(state[0], before[0])
    np.testing.assert_array_equal(state[1], before[1])


def test_seed_round_block_matches_dense() -> None:
    rng = np.random.default_rng(10)
    x = random_csr(400, 16, rng)
    w = rng.uniform(0.0, 2.0, size=400)
    cand = x[[3, 50, 120]]
    ours = (np.full(400, np.inf), np.zeros(400, dtype=np.int64))
    theirs = (np.full(400, np.inf), np.zeros(400, dtype=np.int64))
    mine = sparse.seed_round_block(
        x, w, *ours, cand, 0, oversampling=4.0, rng=np.random.default_rng(1)
    )
    ref = init.seed_round_block(
        x.toarray(), w, *theirs, cand.toarray(), 0, oversampling=4.0, rng=np.random.default_rng(1)
    )
    assert mine.cost == pytest.approx(ref.cost, rel=RTOL)
    assert sp.issparse(mine.points) and mine.points.shape[0] > 0
    np.testing.assert_array_equal(mine.points.toarray(), ref.points)
    assert_close(mine.thresholds, ref.thresholds)
    final = sparse.seed_round_block(x, w, *ours, cand, 3, oversampling=4.0, rng=None)
    ref_final = init.seed_round_block(
        x.toarray(), w, *theirs, cand.toarray(), 3, oversampling=4.0, rng=None
    )
    assert_close(final.candidate_weights, ref_final.candidate_weights)
    merged = mine.merge(final)
    assert merged.points.shape == mine.points.shape and merged.cost == mine.cost + final.cost


@pytest.mark.parametrize("spherical", [False, True])
def test_kmeans_plusplus_and_reduce_candidates_match_dense(spherical: bool) -> None:
    x, _ = setting(spherical, n=120, d=25, seed=11)
    w = np.random.default_rng(12).uniform(0.5, 2.0, size=120)
    w[0] = 0.0  # an empty row (zero weight too, as the load would leave it)
    plus = sparse.kmeans_plusplus(x, w, 6, np.random.default_rng(5))
    ref_plus = init.kmeans_plusplus(x.toarray(), w, 6, np.random.default_rng(5))
    np.testing.assert_array_equal(plus, ref_plus)
    reduced = sparse.reduce_candidates(
        x, w, 6, np.random.default_rng(5), spherical=spherical, reductions=2
    )
    ref = init.reduce_candidates(
        x.toarray(), w, 6, np.random.default_rng(5), spherical=spherical, reductions=2
    )
    assert_close(reduced, ref)
    few = sparse.reduce_candidates(x[:4], w[1:5], 6, np.random.default_rng(2))
    ref_few = init.reduce_candidates(x.toarray()[:4], w[1:5], 6, np.random.default_rng(2))
    np.testing.assert_array_equal(few, ref_few)


def test_kmeans_plusplus_with_fewer_distinct_points_than_k() -> None:
    x = sp.csr_array(np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 2.0]]))
    centers = sparse.kmeans_plusplus(x, np.ones(3), 4, np.random.default_rng(0))
    ref = init.kmeans_plusplus(x.toarray(), np.ones(3), 4, np.random.default_rng(0))
    np.testing.assert_array_equal(centers, ref)


def test_topic_documents_are_seeded_hashed_counts() -> None:
    docs = make_topic_documents(600, 2**12, words_per_doc=30, topics=4, seed=3)
    again = make_topic_documents(600, 2**12, words_per_doc=30, topics=4, seed=3)
    counts = docs.counts
    assert counts.shape == (600, 2**12) and counts.has_canonical_format
    assert (counts != again.counts).nnz == 0
    np.testing.assert_array_equal(docs.labels, again.labels)
    np.testing.assert_array_equal(np.bincount(docs.labels), [150] * 4)
    assert (counts.data >= 1).all() and (counts.data == np.round(counts.data)).all()
    assert counts.sum(axis=1).min() >= 1
    assert 20 < counts.sum() / 600 < 40


def test_tfidf_matches_a_brute_force_formula() -> None:
    counts = sp.csr_array(np.array([[2.0, 0.0, 1.0], [0.0, 0.0, 3.0], [0.0, 0.0, 0.0]]))
    dense = counts.toarray()
    for smooth, extra in ((False, 0.0), (True, 1.0)):
        df = (dense > 0).sum(axis=0)
        ref = dense * (np.log(4.0 / (df + 1.0)) + extra)
        norms = np.linalg.norm(ref, axis=1)
        ref = np.divide(ref, norms[:, None], out=np.zeros_like(ref), where=norms[:, None] > 0)
        assert_close(tfidf(counts, smooth_idf=smooth).toarray(), ref)
    assert tfidf(counts).sum(axis=1)[2] == 0.0  # an empty document stays empty


def test_spherical_lloyd_on_topic_documents_finds_the_topics() -> None:
    from sklearn.metrics import adjusted_rand_score

    docs = make_topic_documents(1500, 2**12, words_per_doc=40, topics=5, seed=4)
    x = docs.tfidf()
    w = np.ones(x.shape[0])
    centers = sparse.reduce_candidates(
        x, w, 5, np.random.default_rng(0), spherical=True, max_iter=20, reductions=3
    )
    labels, _ = sparse.nearest_centers(x, centers)
    assert adjusted_rand_score(docs.labels, labels) > 0.9


def test_update_centers_of_mixed_merge_and_of_a_cancelling_spherical_cluster() -> None:
    x, c = setting(False, n=200, seed=13)
    half = sparse.partial_stats(sparse.row_slice(x, 0, 120), None, c, n_far=4)
    other = step.partial_stats(x.toarray()[120:], None, c, n_far=4)
    mixed = half.merge(other)  # dense sums
    ref = step.update_centers(mixed.to_dense(), c)
    mine = sparse.update_centers(mixed, c)
    assert_close(mine.centers, ref.centers)
    assert mine.cost == pytest.approx(ref.cost, rel=RTOL)
    # a point and its opposite in one cluster: their mean has no direction, the centre stays
    pair = sp.csr_array(np.array([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.6, 0.8]]))
    centers = np.array([[0.0, 0.0, 1.0], [0.0, 0.6, 0.8]])
    stats = sparse.partial_stats(pair, None, centers)
    ref = step.update_centers(stats.to_dense(), centers, spherical=True)
    mine = sparse.update_centers(stats, centers, spherical=True)
    np.testing.assert_array_equal(stats.counts, [2, 1])
    assert_close(mine.centers, ref.centers)
    np.testing.assert_array_equal(mine.centers[0], centers[0])
    assert mine.cost == pytest.approx(ref.cost, rel=RTOL)


def test_compact_columns() -> None:
    x = sp.csr_array(
        np.array([[0.0, 0.0, 2.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0, 0.0], [0, 3, 0, 0, 0]])
    )
    columns, compact = sparse.compact_columns(sparse.row_slice(x, 0, 3))
    np.testing.assert_array_equal(columns, [1, 2, 4])
    np.testing.assert_array_equal(compact.toarray(), x.toarray()[:, columns])


def test_merge_sums_of_non_canonical_operands_is_canonical() -> None:
    unsorted = sp.csr_array(
        (np.array([1.0, 2.0, 3.0]), np.array([3, 1, 1]), np.array([0, 3, 3])), shape=(2, 4)
    )
    other = sp.csr_array(np.array([[0.0, 1.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0]]))
    out = sparse.merge_sums(unsorted, other)
    np.testing.assert_array_equal(out.toarray(), [[0.0, 6.0, 0.0, 2.0], [1.0, 0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(out.indices, [1, 3, 0])
    np.testing.assert_array_equal(out.indptr, [0, 2, 3])
