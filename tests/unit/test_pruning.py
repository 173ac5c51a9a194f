"""Hamerly-pruned Lloyd steps against the plain step (no Spark)."""

from __future__ import annotations

import numpy as np
import pytest

from kmeans_spark.datagen import make_blobs
from kmeans_spark.kernels import pruning, step


def lloyd_both_ways(
    x: np.ndarray,
    w: np.ndarray | None,
    centers: np.ndarray,
    iters: int,
    chunk: int | None = None,
    origin: np.ndarray | None = None,
    n_far: int = 4,
) -> list[tuple[step.PartialStats, step.PartialStats]]:
    """Run Lloyd with the plain step, and the pruned step alongside on the same centres."""
    pairs = []
    bounds, previous = None, None
    for _ in range(iters):
        plain = step.partial_stats(x, w, centers, n_far=n_far, chunk=chunk, origin=origin)
        moves = None if previous is None else pruning.CenterMoves.between(previous, centers)
        pruned, bounds = pruning.pruned_stats(
            x, w, centers, bounds, moves, n_far=n_far, chunk=chunk, origin=origin
        )
        pairs.append((plain, pruned))
        previous, centers = centers, step.update_centers(plain, centers).centers
    return pairs


def assert_same_step(plain: step.PartialStats, pruned: step.PartialStats) -> None:
    np.testing.assert_array_equal(pruned.counts, plain.counts)
    np.testing.assert_array_equal(pruned.weights, plain.weights)
    np.testing.assert_array_equal(pruned.sums, plain.sums)  # same rows, same order: bitwise
    np.testing.assert_allclose(pruned.costs, plain.costs, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(pruned.far_points, plain.far_points)
    np.testing.assert_allclose(pruned.far_sq_dist, plain.far_sq_dist, rtol=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("chunk", [None, 97])
def test_pruned_steps_equal_plain_steps_and_skip_most_rows(
    weighted: bool, chunk: int | None
) -> None:
    blobs = make_blobs(6000, 8, 30, spread=1.0, seed=3)
    rng = np.random.default_rng(4)
    w = rng.uniform(0.5, 2.0, size=6000) if weighted else None
    origin = blobs.x.mean(axis=0)
    x = blobs.x - origin
    start = blobs.x[rng.choice(6000, 30, replace=False)]
    pairs = lloyd_both_ways(x, w, start, iters=12, chunk=chunk, origin=origin)
    for plain, pruned in pairs:
        assert_same_step(plain, pruned)
    assert pairs[0][1].computed == 6000  # no bounds yet: every row in full
    assert all(plain.computed == 6000 for plain, _ in pairs)
    assert pairs[-1][1].computed < 0.2 * 6000  # late iterations: most rows pruned


def test_pruned_step_in_float32() -> None:
    blobs = make_blobs(3000, 6, 12, spread=0.5, seed=5)
    x = blobs.x.astype(np.float32)
    start = blobs.x[np.random.default_rng(6).choice(3000, 12, replace=False)]
    for plain, pruned in lloyd_both_ways(x, None, start, iters=8):
        np.testing.assert_array_equal(pruned.counts, plain.counts)
        np.testing.assert_allclose(pruned.sums, plain.sums, rtol=1e-6)


def test_missing_or_stale_bounds_mean_a_full_pass() -> None:
    blobs = make_blobs(500, 3, 5, spread=1.0, seed=7)
    c0 = blobs.x[:5]
    first, bounds = pruning.pruned_stats(blobs.x, None, c0, None, None)
    c1 = step.update_centers(first, c0).centers
    moves = pruning.CenterMoves.between(c0, c1)
    with_bounds, _ = pruning.pruned_stats(blobs.x, None, c1, bounds, moves)
    stale, _ = pruning.pruned_stats(blobs.x, None, c1, bounds[:, :400], moves)  # wrong size
    none, _ = pruning.pruned_stats(blobs.x, None, c1, None, moves)
    assert stale.computed == none.computed == 500
    assert with_bounds.computed < 500
    for other in (stale, none):
        assert_same_step(with_bounds, other)


def test_bounds_survive_a_centre_that_jumps() -> None:
    """A reseeded centre moves far in one step: its move loosens every lower bound, so a
    row it captures is still found (and the step still equals the plain one)."""
    blobs = make_blobs(2000, 2, 4, spread=0.5, seed=8)
    c = np.array(blobs.centers, dtype=np.float64)
    c[3] = [1e3, 1e3]  # starts far away: empty
    _, bounds = pruning.pruned_stats(blobs.x, None, c, None, None)
    jumped = c.copy()
    jumped[3] = blobs.centers[0] + 0.1  # lands inside cluster 0
    moves = pruning.CenterMoves.between(c, jumped)
    pruned, _ = pruning.pruned_stats(blobs.x, None, jumped, bounds, moves)
    plain = step.partial_stats(blobs.x, None, jumped)
    assert plain.counts[3] > 0
    assert_same_step(plain, pruned)


def test_center_moves() -> None:
    old = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 10.0]])
    new = np.array([[0.0, 1.0], [4.0, 0.0], [0.0, 7.0]])
    moves = pruning.CenterMoves.between(old, new)
    np.testing.assert_allclose(moves.moved, [1.0, 0.0, 3.0])
    np.testing.assert_allclose(moves.half_gap, [0.5 * np.hypot(4, 1), 0.5 * np.hypot(4, 1), 3.0])
    one = pruning.CenterMoves.between(old[:1], new[:1])
    assert one.half_gap.tolist() == [np.inf]


def test_pruning_only_where_it_pays() -> None:
    assert not pruning.use_pruning(3, 2)  # small: the plain step is cheaper
    assert not pruning.use_pruning(10, 16)
    assert pruning.use_pruning(100, 64) and pruning.use_pruning(1000, 32)


def test_a_stacked_pass_gives_the_bounds_a_pruned_pass_starts_from() -> None:
    """The first pass of a run that prunes is taken in the stack of several runs: its
    bounds (each row's centre, the distance to the second-nearest) are those of a pruned
    pass without bounds, its statistics those of the plain stacked pass, and the pruned
    pass after it equals the plain one."""
    blobs = make_blobs(4000, 5, 12, spread=1.0, seed=9)
    origin = blobs.x.mean(axis=0)
    x = blobs.x - origin
    rng = np.random.default_rng(10)
    sets = [blobs.x[rng.choice(4000, k, replace=False)] for k in (1, 5, 12)]
    layout = step.RunLayout.of([len(c) for c in sets])
    stacked = np.concatenate(sets)
    stats, bounds = step.multi_partial_stats_and_bounds(
        x, None, stacked, layout, n_far=3, chunk=512, origin=origin, bounds_for=[0, 2]
    )
    assert sorted(bounds) == [0, 2]
    plain = step.multi_partial_stats(x, None, stacked, layout, n_far=3, chunk=512, origin=origin)
    for with_bounds, without in zip(stats, plain, strict=True):
        for name in ("counts", "sums", "costs", "far_points", "far_sq_dist"):
            np.testing.assert_array_equal(getattr(with_bounds, name), getattr(without, name))
    for r in (0, 2):
        _, want = pruning.pruned_stats(x, None, sets[r], None, None, origin=origin)
        np.testing.assert_array_equal(bounds[r][0], want[0])
        np.testing.assert_allclose(bounds[r][1], want[1], rtol=1e-9)
    assert np.isinf(bounds[0][1]).all()  # one centre: no other to be near
    c1 = step.update_centers(stats[2], sets[2]).centers
    moves = pruning.CenterMoves.between(sets[2], c1)
    pruned, _ = pruning.pruned_stats(x, None, c1, bounds[2], moves, n_far=3, origin=origin)
    assert pruned.computed < 4000
    assert_same_step(step.partial_stats(x, None, c1, n_far=3, origin=origin), pruned)


def test_bounds_are_kept_in_float32_rounded_down() -> None:
    """Bounds are written and read back every pass: float32 halves the file, labels stay
    exact and lower bounds stay lower bounds (rounded down, never to the nearest)."""
    rng = np.random.default_rng(13)
    lower = np.concatenate([rng.uniform(0, 100, 1000), [0.0, np.inf, 1 / 3]])
    labels = rng.integers(0, 5000, lower.size)
    bounds = step.bounds_array(lower.size + 2, 5000)
    step.set_bounds(bounds, 1, lower.size + 1, labels, lower)
    assert bounds.dtype == np.float32
    np.testing.assert_array_equal(bounds[0, 1:-1].astype(np.int64), labels)
    assert (bounds[1, 1:-1] <= lower).all() and bounds[1, 1:-1][-2] == np.inf
    np.testing.assert_allclose(bounds[1, 1:-1], lower, rtol=2e-7)
    assert step.bounds_array(3, 2**25).dtype == np.float64  # labels past float32's integers
