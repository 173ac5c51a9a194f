"""The numpy kernels against brute-force references (no Spark)."""

from __future__ import annotations

import numpy as np
import pytest

from kmeans_spark.kernels import distance, init, step


def brute_nearest(x: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d2 = ((x[:, None, :].astype(np.float64) - c[None, :, :]) ** 2).sum(axis=2)
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


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("chunk", [None, 7, 1000])
def test_nearest_centers_matches_brute_force(dtype: type, chunk: int | None) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(503, 5)).astype(dtype)
    c = rng.normal(size=(9, 5))
    labels, d2 = distance.nearest_centers(x, c, chunk=chunk)
    ref_labels, ref_d2 = brute_nearest(x, c)
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(d2, ref_d2, rtol=rtol, atol=rtol)
    agree = np.mean(labels == ref_labels)
    assert agree == 1.0 if dtype == np.float64 else agree > 0.99


def test_nearest_centers_clamps_rounding_below_zero() -> None:
    x = np.full((4, 3), 1e4) + np.arange(4)[:, None] * 1e-9
    labels, d2 = distance.nearest_centers(x, x[:1].copy())
    assert (d2 >= 0).all() and (labels == 0).all()


def test_nearest_centers_empty_block() -> None:
    labels, d2 = distance.nearest_centers(np.empty((0, 3)), np.ones((2, 3)))
    assert labels.shape == (0,) and d2.shape == (0,)


@pytest.mark.parametrize("weighted", [False, True])
def test_partial_stats_matches_brute_force(weighted: bool) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1000, 4))
    c = rng.normal(size=(6, 4))
    w = rng.uniform(0.1, 3.0, size=1000) if weighted else np.ones(1000)
    stats = step.partial_stats(x, w if weighted else None, c, n_far=5, chunk=128)
    sums, weights, costs, labels, d2 = brute_stats(x, w, c)
    np.testing.assert_allclose(stats.sums, sums, rtol=1e-10)
    np.testing.assert_allclose(stats.weights, weights, rtol=1e-12)
    np.testing.assert_allclose(stats.costs, costs, rtol=1e-9)
    np.testing.assert_array_equal(stats.counts, np.bincount(labels, minlength=6))
    top = np.argsort(-d2)[:5]
    np.testing.assert_allclose(stats.far_sq_dist, d2[top], rtol=1e-9)
    np.testing.assert_allclose(stats.far_points, x[top])
    np.testing.assert_array_equal(stats.far_labels, labels[top])


def test_merge_equals_whole_block() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(900, 3))
    c = rng.normal(size=(4, 3))
    whole = step.partial_stats(x, None, c, n_far=3)
    parts = [step.partial_stats(p, None, c, n_far=3) for p in np.array_split(x, [0, 400, 401])]
    merged = parts[0].merge(parts[1]).merge(parts[2]).merge(parts[3])
    np.testing.assert_allclose(merged.sums, whole.sums, rtol=1e-12)
    np.testing.assert_allclose(merged.costs, whole.costs, rtol=1e-12)
    np.testing.assert_array_equal(merged.counts, whole.counts)
    np.testing.assert_allclose(merged.far_sq_dist, whole.far_sq_dist)
    np.testing.assert_allclose(merged.far_points, whole.far_points)


def brute_sse(x: np.ndarray, w: np.ndarray, labels: np.ndarray, c: np.ndarray) -> float:
    return float((w * ((x - c[labels]) ** 2).sum(axis=1)).sum())


def test_update_centers_means_and_exact_cost() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(500, 3))
    w = rng.uniform(0.5, 2, size=500)
    c = rng.normal(size=(5, 3))
    stats = step.partial_stats(x, w, c)
    upd = step.update_centers(stats, c)
    labels, _ = brute_nearest(x, c)
    for j in range(5):
        members = labels == j
        np.testing.assert_allclose(
            upd.centers[j], np.average(x[members], axis=0, weights=w[members]), rtol=1e-10
        )
    assert upd.cost == pytest.approx(brute_sse(x, w, labels, upd.centers), rel=1e-10)
    assert upd.reseeded == []


def test_update_centers_reseeds_empty_cluster_at_far_point() -> None:
    rng = np.random.default_rng(4)
    x = np.concatenate([rng.normal(size=(200, 2)), [[40.0, 40.0]]])
    c = np.array([[0.0, 0.0], [1000.0, 1000.0]])  # the second centre gets no point
    stats = step.partial_stats(x, None, c, n_far=2)
    upd = step.update_centers(stats, c, reseed_empty=True)
    assert upd.reseeded == [1]
    np.testing.assert_allclose(upd.centers[1], [40.0, 40.0])
    np.testing.assert_allclose(upd.centers[0], x[:200].mean(axis=0), rtol=1e-10)
    assert upd.counts.tolist() == [200, 1]
    labels = np.array([0] * 200 + [1])
    assert upd.cost == pytest.approx(brute_sse(x, np.ones(201), labels, upd.centers), rel=1e-9)
    assert np.isfinite(upd.centers).all()


def test_update_centers_keep_policy_keeps_old_centre() -> None:
    x = np.random.default_rng(5).normal(size=(50, 2))
    c = np.array([[0.0, 0.0], [1000.0, 1000.0]])
    upd = step.update_centers(step.partial_stats(x, None, c, n_far=2), c, reseed_empty=False)
    np.testing.assert_array_equal(upd.centers[1], c[1])
    assert upd.reseeded == [] and upd.counts.tolist() == [50, 0]


def test_update_centers_never_empties_the_donor_cluster() -> None:
    x = np.array([[0.0, 0.0], [5.0, 5.0]])
    c = np.array([[0.0, 0.0], [5.0, 5.0], [100.0, 100.0]])  # each point sits on a centre
    upd = step.update_centers(step.partial_stats(x, None, c, n_far=3), c)
    assert upd.reseeded == []
    np.testing.assert_array_equal(upd.centers, c)


def test_spherical_update_normalises_and_reports_cosine_cost() -> None:
    rng = np.random.default_rng(6)
    x, _ = distance.normalize_rows(rng.normal(size=(300, 4)) + np.array([3.0, 0, 0, 0]))
    c, _ = distance.normalize_rows(rng.normal(size=(3, 4)))
    stats = step.partial_stats(x, None, c)
    upd = step.update_centers(stats, c, spherical=True)
    np.testing.assert_allclose(np.linalg.norm(upd.centers, axis=1), 1.0)
    labels, _ = brute_nearest(x, c)
    cosine_cost = float((1 - np.einsum("ij,ij->i", x, upd.centers[labels])).sum())
    assert upd.cost == pytest.approx(cosine_cost, rel=1e-10)


def test_max_center_shift() -> None:
    a = np.array([[0.0, 0.0], [1.0, 1.0]])
    b = np.array([[3.0, 4.0], [1.0, 1.0]])
    assert step.max_center_shift(a, b) == pytest.approx(5.0)
    u = np.array([[1.0, 0.0]])
    v = np.array([[0.0, 1.0]])
    assert step.max_center_shift(u, v, spherical=True) == pytest.approx(1.0)


def test_oversample_two_blocks_equals_textbook_rule() -> None:
    """Pre-selecting against each block's own cost, then filtering by the global cost,
    keeps exactly the points with u < l w d^2 / phi."""
    rng = np.random.default_rng(7)
    d2 = [rng.exponential(size=300), rng.exponential(size=500) * 3]
    w = [rng.uniform(0.5, 2, 300), rng.uniform(0.5, 2, 500)]
    factor = 20.0
    phi = sum(float(a @ b) for a, b in zip(d2, w, strict=True))
    for block in range(2):
        local = float(d2[block] @ w[block])
        idx, t = init.oversample(d2[block], w[block], factor, local, np.random.default_rng(block))
        kept = set(idx[t > phi].tolist())
        u = np.random.default_rng(block).random(d2[block].size)
        expected = set(np.flatnonzero(u < factor * w[block] * d2[block] / phi).tolist())
        assert kept == expected
        assert len(idx) <= 3 * factor  # pre-selection stays small (about l in expectation)


def test_seed_round_block_is_idempotent() -> None:
    rng = np.random.default_rng(8)
    x = rng.normal(size=(200, 3))
    cands = rng.normal(size=(5, 3))
    d2 = np.full(200, np.inf)
    near = np.zeros(200, dtype=np.int64)
    init.seed_round_block(x, None, d2, near, cands, 0, oversampling=4, rng=None)
    d2_once, near_once = d2.copy(), near.copy()
    out = init.seed_round_block(x, None, d2, near, cands, 0, oversampling=4, rng=None)
    np.testing.assert_array_equal(d2, d2_once)
    np.testing.assert_array_equal(near, near_once)
    ref_labels, ref_d2 = brute_nearest(x, cands)
    np.testing.assert_array_equal(near, ref_labels)
    np.testing.assert_allclose(d2, ref_d2, rtol=1e-10)
    np.testing.assert_allclose(out.candidate_weights, np.bincount(ref_labels, minlength=5))


def test_incremental_candidates_equal_all_at_once() -> None:
    rng = np.random.default_rng(9)
    x = rng.normal(size=(300, 2))
    cands = rng.normal(size=(7, 2))
    d2a, na = np.full(300, np.inf), np.zeros(300, dtype=np.int64)
    init.update_nearest_candidate(x, d2a, na, cands, 0)
    d2b, nb = np.full(300, np.inf), np.zeros(300, dtype=np.int64)
    init.update_nearest_candidate(x, d2b, nb, cands[:3], 0)
    init.update_nearest_candidate(x, d2b, nb, cands[3:], 3)
    np.testing.assert_allclose(d2a, d2b)
    np.testing.assert_array_equal(na, nb)


def test_sampling_keys_follow_weights() -> None:
    w = np.array([0.0, 1.0, 3.0])
    wins = np.zeros(3)
    for s in range(4000):
        keys = init.sampling_keys(w, np.random.default_rng(s))
        wins[int(np.argmax(keys))] += 1
    assert wins[0] == 0
    assert wins[2] / wins[1] == pytest.approx(3.0, rel=0.15)


def test_kmeans_plusplus_skips_zero_weight_and_spreads_out() -> None:
    pts = np.array([[0.0, 0], [0.1, 0], [10, 10], [10.1, 10], [-10, 5], [99, 99]])
    w = np.array([1, 1, 1, 1, 1, 0.0])
    centers = init.kmeans_plusplus(pts, w, 3, np.random.default_rng(0))
    assert not any(np.allclose(c, [99, 99]) for c in centers)
    groups = {tuple(np.round(c[:1] / 5)) for c in centers}
    assert len(groups) == 3


def test_kmeans_plusplus_with_fewer_distinct_points_than_k() -> None:
    pts = np.array([[1.0, 1.0], [1.0, 1.0], [2.0, 2.0]])
    centers = init.kmeans_plusplus(pts, np.ones(3), 4, np.random.default_rng(0))
    assert centers.shape == (4, 2) and np.isfinite(centers).all()


def test_reduce_candidates_pads_when_too_few() -> None:
    cands = np.array([[0.0, 0.0], [1.0, 1.0]])
    out = init.reduce_candidates(cands, np.array([1.0, 2.0]), 3, np.random.default_rng(0))
    assert out.shape == (3, 2)
    np.testing.assert_array_equal(out[:2], cands)


def test_local_lloyd_matches_scikit_learn() -> None:
    sklearn_cluster = pytest.importorskip("sklearn.cluster")
    rng = np.random.default_rng(10)
    x = np.concatenate([rng.normal(loc=m, size=(100, 2)) for m in (0, 6, 12)])
    w = rng.uniform(0.5, 2.0, size=300)
    start = x[[0, 1, 2]].copy()
    ours = init.local_lloyd(x, w, start, max_iter=100, tol=0.0)
    ref = sklearn_cluster.KMeans(3, init=start, n_init=1, max_iter=100, tol=0.0).fit(
        x, sample_weight=w
    )
    np.testing.assert_allclose(ours, ref.cluster_centers_, rtol=1e-9, atol=1e-9)


def test_normalize_rows_reports_zero_rows() -> None:
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    out, zero = distance.normalize_rows(x)
    np.testing.assert_allclose(out[0], [0.6, 0.8])
    assert zero.tolist() == [False, True]


@pytest.mark.parametrize(("dtype", "offset"), [(np.float64, 1.7e9), (np.float32, 52000.0)])
def test_centred_blocks_keep_precision_far_from_zero(dtype: type, offset: float) -> None:
    """Data near 1.7e9 (epoch seconds) or 52000 (income): the GEMM form on raw values
    mislabels points; on a block centred on its mean (as the load job stores it) it does not."""
    rng = np.random.default_rng(11)
    centres = offset + np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]])
    x = np.concatenate([c + rng.normal(size=(300, 2)) for c in centres])
    ref_labels, ref_d2 = brute_nearest(x, centres)
    origin = x.mean(axis=0)
    block = (x - origin).astype(dtype)
    stats = step.partial_stats(block, None, centres, n_far=4, origin=origin)
    sums, _, costs, _, _ = brute_stats(x, np.ones(len(x)), centres)
    np.testing.assert_array_equal(stats.counts, np.bincount(ref_labels, minlength=3))
    rtol = 1e-9 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(stats.costs, costs, rtol=rtol)
    np.testing.assert_allclose(stats.sums, sums, rtol=1e-9 if dtype == np.float64 else 1e-6)
    top = np.argsort(-ref_d2)[:4]
    np.testing.assert_allclose(stats.far_points, x[top], rtol=1e-9)
    upd = step.update_centers(stats, centres)
    # the centres themselves carry ~1e-7 absolute error at 1.7e9, hence 1e-8 for the cost
    expected = brute_sse(x, np.ones(len(x)), ref_labels, upd.centers)
    assert upd.cost == pytest.approx(expected, rel=max(rtol, 1e-8))


def test_points_on_their_centre_are_not_reseeded() -> None:
    """Fewer distinct points than k: empty clusters stay empty (kept), instead of being
    reseeded at duplicates forever, so the fit can converge."""
    x = np.repeat(np.array([[0.1, 0.2], [5.3, 1.7], [9.9, 4.4]]), 50, axis=0)
    centres = np.array([[0.1, 0.2], [5.3, 1.7], [9.9, 4.4], [0.1, 0.2], [5.3, 1.7], [9.9, 4.4]])
    stats = step.partial_stats(x - x.mean(0), None, centres, n_far=6, origin=x.mean(0))
    assert (stats.far_sq_dist < 1e-20).all()
    upd = step.update_centers(stats, centres)
    assert upd.reseeded == []
    assert upd.counts.tolist() == [50, 50, 50, 0, 0, 0]
    assert step.max_center_shift(centres, upd.centers) < 1e-12
