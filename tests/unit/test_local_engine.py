"""Seeding and Lloyd over in-process blocks (:class:`kmeans_spark.localblocks.LocalBlocks`):
the engine's logic against brute-force numpy references, without a JVM."""

from __future__ import annotations

import glob
import itertools
import os
from typing import Any

import numpy as np
import pytest

from kmeans_spark import blockstore
from kmeans_spark.datagen import make_blobs
from kmeans_spark.handle import BlockHandle
from kmeans_spark.lloyd import run_lloyd
from kmeans_spark.load import LoadSettings
from kmeans_spark.localblocks import LocalBlocks
from kmeans_spark.seeding import kmeans_parallel
from kmeans_spark.tuning import Tuning

#: block files under each test's own directory (tests/unit/conftest.py)
pytestmark = pytest.mark.usefixtures("local_dirs")


def split(x: np.ndarray, parts: int) -> list[np.ndarray]:
    """Uneven partitions, one of them empty (as the Spark tests lay data out)."""
    cuts = sorted({0, len(x) // 3, len(x) // 3, 2 * len(x) // 3, len(x)})[: parts + 1]
    pieces = [x[a:b] for a, b in itertools.pairwise(cuts)]
    return [*pieces[:1], x[:0], *pieces[1:]]


def brute_lloyd(
    x: np.ndarray, centers: np.ndarray, max_iter: int, tol: float
) -> tuple[np.ndarray, list[float], int]:
    """Textbook Lloyd with explicit distances: no GEMM form, no pruning, no reseeding (the
    data below never empties a cluster), Spark's stopping rule."""
    costs = []
    for it in range(1, max_iter + 1):
        d2 = ((x[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
        labels = d2.argmin(axis=1)
        costs.append(float(d2[np.arange(len(x)), labels].sum()))
        new = np.array([x[labels == j].mean(axis=0) for j in range(len(centers))])
        shift = float(np.sqrt(((new - centers) ** 2).sum(axis=1)).max())
        centers = new
        if shift <= tol:
            return centers, costs, it
    return centers, costs, max_iter


def test_load_partition_stores_centred_blocks_and_reports_what_it_found() -> None:
    x = np.arange(24, dtype=np.float64).reshape(8, 3) + 1000.0
    with LocalBlocks([x[:5], x[:0], x[5:]], LoadSettings(sample_size=2, seed=3)) as blocks:
        h0, h1, h2 = blocks.handles
        assert (h0.rows, h1.rows, h2.rows) == (5, 0, 3)
        assert h1.x_path == "" and h0.dim == 3
        np.testing.assert_allclose(h0.origin, x[:5].mean(axis=0))
        stored = blockstore.open_block(h0.x_path)
        assert stored is not None
        np.testing.assert_allclose(np.asarray(stored) + h0.origin_array, x[:5])
        assert len(h0.sample_keys) == 2 and len(h0.sample_points) == 6
        assert {tuple(p) for p in np.reshape(h0.sample_points, (-1, 3))} <= {
            tuple(r) for r in x[:5]
        }


def test_load_partition_refuses_bad_rows_and_weights_without_storing() -> None:
    x = np.ones((6, 2))
    x[4, 1] = np.nan
    w = np.array([1.0, 1.0, -2.0, 1.0, 1.0, 1.0])
    with LocalBlocks([x], LoadSettings(), weights=[w]) as blocks:
        (h,) = blocks.handles
        assert (h.bad_rows, h.bad_row_index, h.bad_weights, h.bad_weight) == (1, 4, 1, -2.0)
        assert np.isnan(h.bad_row[1]) and h.x_path == ""
    zero = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 2.0]])
    with LocalBlocks([zero], LoadSettings(spherical=True)) as blocks:
        assert blocks.handles[0].zero_rows == 1


def test_handle_round_trips_through_its_arrow_schema() -> None:
    import pyarrow as pa

    from kmeans_spark.handle import HANDLE_ARROW_SCHEMA

    h = BlockHandle(partition=3, rows=7, bad_row=(1.0, float("nan")), origin=(0.5,), host="h")
    (row,) = pa.RecordBatch.from_pylist([h.to_dict()], schema=HANDLE_ARROW_SCHEMA).to_pylist()
    back = BlockHandle.from_dict(row)
    assert back.to_dict().keys() == h.to_dict().keys()
    assert back.origin == (0.5,) and back.rows == 7 and np.isnan(back.bad_row[1])


def test_lloyd_over_blocks_equals_brute_force_lloyd() -> None:
    blobs = make_blobs(900, 3, 4, spread=1.5, seed=11)
    start = blobs.x[[0, 1, 2, 3]].copy()
    want, want_costs, want_iter = brute_lloyd(blobs.x, start, max_iter=50, tol=1e-9)
    with LocalBlocks(split(blobs.x, 3), LoadSettings(), k=4) as blocks:
        got = run_lloyd(blocks, start, max_iter=50, tol=1e-9, spherical=False, reseed_empty=True)
    np.testing.assert_allclose(got.centers, want, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(got.cost_history, want_costs, rtol=1e-10)
    assert got.num_iter == want_iter and got.converged
    assert sum(got.cluster_sizes) == 900


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_pruned_lloyd_is_identical_to_plain_lloyd(dtype: str) -> None:
    """Hamerly's bounds skip distances, never change an assignment: the same centres,
    bit for bit, with bounds carried across passes in the blocks' state files."""
    blobs = make_blobs(3000, 4, 25, spread=2.0, seed=4)
    start = blobs.x[:25].copy()
    runs = {}
    for prune in (False, True):
        with LocalBlocks(split(blobs.x, 3), LoadSettings(dtype=dtype), k=25) as blocks:
            runs[prune] = run_lloyd(
                blocks,
                start,
                max_iter=15,
                tol=0.0,
                spherical=False,
                reseed_empty=True,
                tuning=Tuning(prune=prune, min_task_work=0.0),
            )
    np.testing.assert_array_equal(runs[True].centers, runs[False].centers)
    assert runs[True].cluster_sizes == runs[False].cluster_sizes
    assert max(runs[True].pruned_fraction[1:]) > 0.5  # the bounds did skip most rows
    assert runs[False].pruned_fraction == [0.0] * runs[False].num_iter


def seed_once(x: np.ndarray, k: int, seed: int, **kw: Any) -> tuple[np.ndarray, int]:
    with LocalBlocks(split(x, 3), LoadSettings(seed=seed), k=k, **kw) as blocks:
        got = kmeans_parallel(
            blocks, k=k, dim=x.shape[1], oversampling_factor=2.0, steps=2, seed=seed,
            spherical=False,
        )[0]  # fmt: skip
        return got.centers, blocks.passes


def test_kmeans_parallel_costs_one_pass_per_round_and_finds_the_optimum() -> None:
    """On 50 separated blobs (5-D), Lloyd from k-means|| reaches the generating clusters
    (the oracle SSE) for most seeds, and more often than scikit-learn's greedy k-means++
    with one init on the same seeds; seeding costs steps + 1 passes."""
    sklearn_cluster = pytest.importorskip("sklearn.cluster")
    blobs = make_blobs(5000, 5, 50, seed=2)
    oracle = blobs.oracle_cost() * (1 + 1e-9)
    reached = theirs = 0
    for seed in range(10):
        centers, passes = seed_once(blobs.x, 50, seed)
        assert passes == 3
        with LocalBlocks(split(blobs.x, 3), LoadSettings(), k=50) as blocks:
            fit = run_lloyd(
                blocks, centers, max_iter=30, tol=1e-6, spherical=False, reseed_empty=True
            )
        reached += fit.cost <= oracle
        sk = sklearn_cluster.KMeans(50, n_init=1, random_state=seed).fit(blobs.x)
        theirs += sk.inertia_ <= oracle
    assert reached >= 7 and reached > theirs, (reached, theirs)


def test_seeding_does_not_depend_on_state_files_or_task_grouping(
    local_dirs: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task that finds no state (a retry, a lost file) recomputes it from all candidates:
    deleting every state file before every pass gives the same centres, and so does one
    task per block instead of grouped blocks."""
    blobs = make_blobs(2000, 3, 6, seed=8)
    want, _ = seed_once(blobs.x, 6, seed=5)
    per_block, _ = seed_once(blobs.x, 6, seed=5, tuning=Tuning(min_task_work=0.0))
    np.testing.assert_array_equal(per_block, want)

    original = LocalBlocks.run

    def forgetful(self: LocalBlocks, fn: Any, merge: Any) -> Any:
        for path in glob.glob(os.path.join(local_dirs, "**", "*-seed*.npy"), recursive=True):
            os.unlink(path)
        return original(self, fn, merge)

    monkeypatch.setattr(LocalBlocks, "run", forgetful)
    without_state, _ = seed_once(blobs.x, 6, seed=5)
    np.testing.assert_allclose(without_state, want, rtol=1e-12)
