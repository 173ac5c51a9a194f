"""The batch job's one pass before the fit, without a JVM: the load drops bad rows and
records per-feature statistics (:mod:`kmeans_spark.colstats`), and stored blocks are
scaled where they lie (:func:`kmeans_spark.load.transform_block`) to exactly what a load of
pre-scaled rows would have stored."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from kmeans_spark import blockstore
from kmeans_spark.colstats import ColumnStats
from kmeans_spark.datagen import make_blobs
from kmeans_spark.handle import BlockHandle
from kmeans_spark.lloyd import run_lloyd
from kmeans_spark.load import LoadSettings, transform_block
from kmeans_spark.localblocks import LocalBlocks

#: block files under each test's own directory (tests/unit/conftest.py)
pytestmark = pytest.mark.usefixtures("local_dirs")


def stored_rows(h: BlockHandle) -> np.ndarray:
    x = blockstore.open_block(h.x_path)
    assert x is not None
    return np.asarray(x, dtype=np.float64) + h.origin_array


def test_column_stats_merge_equals_numpy_also_far_from_zero() -> None:
    rng = np.random.default_rng(0)
    x = 1e9 + rng.normal(size=(1000, 3)) * [1e-3, 1.0, 5.0]  # sums of squares lose this
    parts = [x[:1], x[1:400], x[400:400], x[400:]]
    got = ColumnStats.combine((ColumnStats.of_rows(p) for p in parts), 3)
    assert got.count == 1000
    np.testing.assert_allclose(got.mean, x.mean(axis=0), rtol=1e-14)
    # spread 1e-12 of the mean: the means themselves round at 1e-16 of it, so merging them
    # costs ~1e-6 of the spread; the spreads of real features keep 1e-9
    np.testing.assert_allclose(got.std[0], x[:, 0].std(), rtol=1e-5)
    np.testing.assert_allclose(got.std[1:], x[:, 1:].std(axis=0), rtol=1e-9)
    np.testing.assert_array_equal(got.minimum, x.min(axis=0))
    np.testing.assert_array_equal(got.maximum, x.max(axis=0))
    assert ColumnStats.combine([], 2).count == 0


def test_load_drops_bad_rows_counts_them_per_column_and_keeps_weights_aligned() -> None:
    x = np.arange(30, dtype=np.float64).reshape(10, 3)
    x[2, 0] = np.nan
    x[5, 1] = np.inf
    x[5, 2] = np.nan
    x[9, 2] = -np.inf
    w = np.arange(10, dtype=np.float64) + 1
    good = np.ones(10, bool)
    good[[2, 5, 9]] = False
    settings = LoadSettings(drop_bad_rows=True, column_stats=True)
    with LocalBlocks([x[:6], x[6:]], settings, weights=[w[:6], w[6:]]) as blocks:
        h0, h1 = blocks.handles
        assert (h0.rows, h0.dropped_rows, h0.bad_rows) == (4, 2, 0)
        assert (h1.rows, h1.dropped_rows) == (3, 1)
        assert h0.bad_per_column == (1.0, 1.0, 1.0) and h1.bad_per_column == (0.0, 0.0, 1.0)
        np.testing.assert_allclose(np.vstack([stored_rows(h0), stored_rows(h1)]), x[good])
        kept_w = np.concatenate([np.load(h.w_path) for h in (h0, h1)])
        np.testing.assert_array_equal(kept_w, w[good])
        assert h0.weight_sum + h1.weight_sum == w[good].sum()
        stats = ColumnStats.combine((h.column_stats for h in blocks.handles), 3)
        np.testing.assert_allclose(stats.mean, x[good].mean(axis=0))
        np.testing.assert_allclose(stats.std, x[good].std(axis=0))


def test_a_partition_of_only_bad_rows_stores_nothing_under_drop() -> None:
    x = np.full((4, 2), np.nan)
    with LocalBlocks([x], LoadSettings(drop_bad_rows=True, column_stats=True)) as blocks:
        (h,) = blocks.handles
        assert (h.rows, h.dropped_rows, h.x_path) == (0, 4, "")


def test_without_drop_bad_rows_still_refuse_the_partition() -> None:
    x = np.ones((4, 2))
    x[1, 1] = np.nan
    with LocalBlocks([x], LoadSettings(column_stats=True)) as blocks:
        (h,) = blocks.handles
        assert (h.bad_rows, h.dropped_rows, h.x_path, h.bad_per_column) == (1, 0, "", (0.0, 1.0))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_scaling_stored_blocks_equals_loading_scaled_rows(dtype: str) -> None:
    data = make_blobs(3000, 4, 5, spread=0.4, seed=2)
    x = data.x * [1.0, 100.0, 0.01, 7.0] + [5.0, -300.0, 1e4, 0.0]
    parts = [x[:1000], x[1000:1000], x[1000:]]
    offset, scale = x.mean(axis=0), x.std(axis=0)
    affine = (tuple(offset), tuple(scale))
    base = LoadSettings(dtype=dtype, sample_size=3, seed=5)
    with (
        LocalBlocks(parts, base) as raw,
        LocalBlocks([(p - offset) / scale for p in parts], base) as direct,
        LocalBlocks(parts, replace(base, affine=affine)) as rebuilt,
    ):
        scaled = raw.transform(affine, spherical=False)
        tol = 1e-12 if dtype == "float64" else 1e-5
        for a, b, c in zip(scaled, direct.handles, rebuilt.handles, strict=True):
            assert a.rows == b.rows and a.generation == 1
            if not a.rows:
                continue
            np.testing.assert_allclose(stored_rows(a), stored_rows(b), atol=tol)
            np.testing.assert_allclose(stored_rows(c), stored_rows(b), atol=tol)
            np.testing.assert_allclose(a.sample_points, b.sample_points, atol=1e-12)
            assert a.sample_keys == b.sample_keys
        # the source generation is gone; Lloyd on either gives the same centres
        assert not any(glob_gen0(raw.fit_id))
        init = (x[[0, 900, 1500, 2200, 2900]] - offset) / scale
        got = run_lloyd(raw, init, max_iter=20, tol=0.0, spherical=False, reseed_empty=True)
        want = run_lloyd(direct, init, max_iter=20, tol=0.0, spherical=False, reseed_empty=True)
        np.testing.assert_allclose(got.centers, want.centers, atol=100 * tol)


def glob_gen0(fit_id: str) -> list[str]:
    import glob
    import os

    return glob.glob(os.path.join(blockstore.fit_dir(fit_id), "g0-*"))


def test_cosine_rows_are_normalised_after_scaling_and_zero_rows_counted() -> None:
    x = np.array([[1.0, 2.0], [3.0, 4.0], [2.0, 3.0], [-1.0, 5.0]])
    offset, scale = (2.0, 3.0), (1.0, 2.0)  # row [2, 3] becomes the zero vector
    with LocalBlocks([x], LoadSettings(column_stats=True)) as blocks:
        (h,) = blocks.transform((offset, scale), spherical=True)
        want = (x - offset) / scale
        norms = np.linalg.norm(want, axis=1, keepdims=True)
        unit = np.divide(want, norms, out=np.zeros_like(want), where=norms > 0)
        np.testing.assert_allclose(stored_rows(h), unit, atol=1e-15)
        assert h.zero_rows == 1 and h.origin == (0.0, 0.0)


def test_a_retried_rewrite_returns_the_same_handle_and_a_lost_block_asks_for_a_rebuild() -> None:
    x = make_blobs(500, 3, 2, seed=1).x
    settings = LoadSettings(affine=((1.0, 2.0, 3.0), (2.0, 2.0, 0.5)))
    with LocalBlocks([x], LoadSettings()) as blocks:
        (h,) = blocks.handles
        first = transform_block(h, fit_id=blocks.fit_id, generation=1, settings=settings)
        retried = transform_block(h, fit_id=blocks.fit_id, generation=1, settings=settings)
        assert retried == first  # the source is gone by now: the finished target counts
        lost = transform_block(first, fit_id=blocks.fit_id, generation=7, settings=settings)
        assert lost.x_path and lost.rows == 500
        blockstore.remove_fit(blocks.fit_id)
        missing = transform_block(first, fit_id=blocks.fit_id, generation=8, settings=settings)
        assert missing.x_path == "" and missing.rows == 500
