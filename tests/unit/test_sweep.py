"""A k sweep over in-process blocks (no JVM): one seeding and shared Lloyd passes for
every k, each run equal to a separate Lloyd from the same start, metrics for each k."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from kmeans_spark.datagen import make_blobs
from kmeans_spark.lloyd import run_lloyd
from kmeans_spark.load import LoadSettings
from kmeans_spark.localblocks import LocalBlocks
from kmeans_spark.sweep import sweep_blocks, sweep_table

#: block files under each test's own directory (tests/unit/conftest.py)
pytestmark = pytest.mark.usefixtures("local_dirs")


def parts(x: np.ndarray) -> list[np.ndarray]:
    return [x[:1000], x[1000:1000], x[1000:]]


KW: dict[str, Any] = dict(max_iter=40, tol=1e-6, spherical=False, reseed_empty=True)


@pytest.mark.parametrize("init_mode", ["k-means||", "random"])
def test_a_sweep_seeds_once_and_each_k_equals_its_own_lloyd(init_mode: str) -> None:
    blobs = make_blobs(3000, 3, 5, spread=0.5, seed=3)
    ks = [2, 3, 4, 5, 6, 7, 8]
    settings = LoadSettings(seed=9, sample_size=max(ks) if init_mode == "random" else 1)
    with LocalBlocks(parts(blobs.x), settings, k=8) as blocks:
        out = sweep_blocks(
            blocks, ks, dim=3, init_mode=init_mode, oversampling_factor=2.0, steps=2, seed=9,
            metrics=True, sample_size=500, **KW,
        )  # fmt: skip
        passes = blocks.passes
    lloyd_passes = max(r.lloyd.num_iter for r in out.runs)
    seeding_passes = 3 if init_mode == "k-means||" else 0
    assert passes == seeding_passes + lloyd_passes + 2  # + the two metrics passes
    for run in out.runs:
        assert run.init.centers.shape == (run.k, 3)
        with LocalBlocks(parts(blobs.x), LoadSettings(), k=run.k) as alone_blocks:
            alone = run_lloyd(alone_blocks, run.init.centers, **KW)
        assert run.lloyd.num_iter == alone.num_iter
        assert run.lloyd.cost == pytest.approx(alone.cost, rel=1e-9)
        assert run.metrics is not None and run.metrics.k == run.k
    table = sweep_table(out)
    assert [r["k"] for r in table] == ks
    if init_mode == "random":
        return  # random rows need not find 5 blobs: the quality claims are k-means||'s
    sse = [r["sse"] for r in table]
    assert all(a >= b for a, b in itertools.pairwise(sse[:5]))  # decreasing up to true k
    assert sse[3] == pytest.approx(blobs.oracle_cost(), rel=1e-9)  # k=5 finds the blobs
    best_ch = max(table, key=lambda r: r["calinski_harabasz"])["k"]
    best_silhouette = max(table, key=lambda r: r["silhouette"])["k"]
    assert best_ch == best_silhouette == 5
