"""Clustering metrics (kernels.scores, metrics.compute_metrics over LocalBlocks, and the
evaluator's Arrow batches) against scikit-learn and brute-force references, no JVM."""

from __future__ import annotations

import functools
import glob
import itertools
import json
import os
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from kmeans_spark.datagen import make_blobs
from kmeans_spark.kernels.scores import (
    ClusterSpread,
    StackedCenters,
    assignment_block,
    calinski_harabasz,
    davies_bouldin,
    labelled_moments,
    separation_block,
    silhouette_samples,
    spark_silhouette,
)
from kmeans_spark.load import FEATURES, WEIGHT, LoadSettings
from kmeans_spark.localblocks import LocalBlocks, rows_batch
from kmeans_spark.metrics import ClusteringMetrics, compute_metrics
from kmeans_spark.prediction_scores import (
    PREDICTION,
    moments_of_batches,
    separation_of_batches,
)

skm = pytest.importorskip("sklearn.metrics")

TOL = 1e-9


#: block files under each test's own directory (tests/unit/conftest.py)
pytestmark = pytest.mark.usefixtures("local_dirs")


# --------------------------------------------------------------------------- references


def nearest(x: np.ndarray, centers: np.ndarray) -> np.ndarray:
    return ((x[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def spark_silhouette_gold(
    x: np.ndarray, labels: np.ndarray, w: np.ndarray | None = None, cosine: bool = False
) -> float:
    """Spark's silhouette by its definition (``ClusteringMetrics.scala``), with every
    pairwise distance: squared Euclidean or ``1 - cos``; a row whose weight is its whole
    cluster's scores 0; the own-cluster average leaves the row's weight out."""
    w = np.ones(len(x)) if w is None else w
    if cosine:
        u = unit(x)
        dist = 1.0 - u @ u.T
    else:
        dist = ((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=2)
    ids = np.unique(labels)
    weight = {c: w[labels == c].sum() for c in ids}
    avg = np.stack([(dist[:, labels == c] * w[labels == c]).sum(axis=1) / weight[c] for c in ids])
    s = np.zeros(len(x))
    for i in range(len(x)):
        own = labels[i]
        if weight[own] == w[i]:
            continue
        a = avg[np.searchsorted(ids, own), i] * weight[own] / (weight[own] - w[i])
        b = min(avg[j, i] for j, c in enumerate(ids) if c != own)
        s[i] = 1 - a / b if a < b else (b / a - 1 if a > b else 0.0)
    return float((w * s).sum() / w.sum())


def split(x: np.ndarray, *arrays: np.ndarray, parts: int = 3) -> list[list[np.ndarray]]:
    """Uneven partitions of ``x`` (and of each array alike), one of them empty."""
    cuts = [0, *sorted({len(x) // 5, len(x) // 2})[: parts - 1], len(x)]
    out = []
    for a in (x, *arrays):
        pieces = [a[i:j] for i, j in itertools.pairwise(cuts)]
        out.append([pieces[0], a[:0], *pieces[1:]])
    return out


def metrics_of(
    x: np.ndarray,
    centers_list: list[np.ndarray],
    *,
    weights: np.ndarray | None = None,
    spherical: bool = False,
    parts: int = 3,
    dtype: str = "float64",
    **kw: Any,
) -> list[ClusteringMetrics]:
    if weights is None:
        (xs,) = split(x, parts=parts)
        ws = None
    else:
        xs, ws = split(x, weights, parts=parts)
    settings = LoadSettings(spherical=spherical, dtype=dtype)
    with LocalBlocks(xs, settings, weights=ws) as blocks:
        got = compute_metrics(blocks, centers_list, spherical=spherical, **kw)
        assert blocks.passes == 2
    return got


def close(got: float, want: float, tol: float = TOL) -> None:
    assert got == pytest.approx(want, rel=tol, abs=tol), (got, want)


# --------------------------------------------------------------------------- data


def blobs(n: int = 1200, d: int = 3, k: int = 4, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    b = make_blobs(n, d, k, spread=1.5, seed=seed)
    centers = np.array([b.x[b.labels == j].mean(axis=0) for j in range(k)])
    return b.x, centers


def unequal_with_singleton() -> tuple[np.ndarray, np.ndarray]:
    """Clusters of 600, 80 and 7 rows and one far-away row alone in its cluster."""
    rng = np.random.default_rng(5)
    x = np.concatenate(
        [
            rng.normal([0, 0], 1.0, size=(600, 2)),
            rng.normal([9, 1], 0.5, size=(80, 2)),
            rng.normal([2, 12], 2.0, size=(7, 2)),
            [[40.0, -30.0]],
        ]
    )
    x = x[rng.permutation(len(x))]
    centers = np.array([[0.0, 0.0], [9.0, 1.0], [2.0, 12.0], [40.0, -30.0]])
    return x, centers


def with_an_empty_cluster() -> tuple[np.ndarray, np.ndarray]:
    """A centre no row is nearest to: scikit-learn never sees its label, Spark never sees
    its cluster; it must not count."""
    x, centers = unequal_with_singleton()
    return x, np.concatenate([centers[:2], [[-500.0, 500.0]], centers[2:]])


CASES = {
    "blobs": blobs,
    "unequal+singleton": unequal_with_singleton,
    "empty cluster": with_an_empty_cluster,
    "d=1": lambda: blobs(n=500, d=1, k=3, seed=3),
}


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("case", CASES)
def test_metrics_equal_scikit_learn_and_spark_definition(case: str) -> None:
    x, centers = CASES[case]()
    labels = nearest(x, centers)
    (m,) = metrics_of(x, [centers], sample_size=len(x) + 5)
    close(m.calinski_harabasz, skm.calinski_harabasz_score(x, labels))
    close(m.davies_bouldin, skm.davies_bouldin_score(x, labels))
    close(m.silhouette, spark_silhouette_gold(x, labels))
    # the whole data is the sample: scikit-learn's silhouette of the data itself
    assert m.sample_size == len(x)
    np.testing.assert_allclose(m.sample_rows, x, rtol=1e-13, atol=1e-13)  # x - origin + origin
    np.testing.assert_array_equal(m.sample_labels, labels)
    close(m.silhouette_sample, skm.silhouette_score(x, labels))
    np.testing.assert_allclose(
        m.sample_silhouette, skm.silhouette_samples(x, labels), rtol=TOL, atol=TOL
    )
    sse = [((x[labels == j] - centers[j]) ** 2).sum() for j in range(len(centers))]
    np.testing.assert_allclose(m.sse_per_cluster, sse, rtol=1e-12)
    close(m.sse, sum(sse), 1e-12)
    members = [x[labels == j] for j in range(len(centers))]
    spread = [
        np.linalg.norm(p - p.mean(axis=0), axis=1).mean() if len(p) else np.nan for p in members
    ]
    np.testing.assert_allclose(m.mean_distance_per_cluster, spread, rtol=1e-12)
    assert m.cluster_sizes == np.bincount(labels, minlength=len(centers)).tolist()
    assert (m.k, m.rows, m.weight) == (len(centers), len(x), float(len(x)))


def test_weighted_metrics_count_weights_as_repeated_rows() -> None:
    """Integer weights: SSE, CH and DB equal scikit-learn's on the rows repeated; Spark's
    silhouette equals its own weighted definition."""
    x, centers = unequal_with_singleton()
    w = np.random.default_rng(2).integers(1, 4, size=len(x)).astype(float)
    labels = nearest(x, centers)
    (m,) = metrics_of(x, [centers], weights=w)
    rep, rep_labels = np.repeat(x, w.astype(int), axis=0), np.repeat(labels, w.astype(int))
    close(m.calinski_harabasz, skm.calinski_harabasz_score(rep, rep_labels))
    close(m.davies_bouldin, skm.davies_bouldin_score(rep, rep_labels))
    close(m.sse, float((w * ((x - centers[labels]) ** 2).sum(axis=1)).sum()), 1e-12)
    close(m.silhouette, spark_silhouette_gold(x, labels, w))
    assert m.weight == w.sum() and m.rows == len(x)


def test_cosine_metrics_are_on_unit_rows() -> None:
    """Spark's cosine silhouette of the raw rows; CH, DB and the sample silhouette are
    scikit-learn's on the L2-normalised rows; sse is the cosine cost sum (1 - cos)."""
    rng = np.random.default_rng(7)
    dirs = unit(rng.normal(size=(4, 3)))
    x = np.concatenate(
        [d * rng.uniform(1, 5, (150, 1)) + rng.normal(0, 0.3, (150, 3)) for d in dirs]
    )
    centers = dirs * 3.0  # any length: a cosine fit's centres are directions
    u = unit(x)
    labels = (u @ dirs.T).argmax(axis=1)
    (m,) = metrics_of(x, [centers], spherical=True, sample_size=10_000)
    assert m.distance_measure == "cosine"
    close(m.silhouette, spark_silhouette_gold(x, labels, cosine=True))
    close(m.calinski_harabasz, skm.calinski_harabasz_score(u, labels))
    close(m.davies_bouldin, skm.davies_bouldin_score(u, labels))
    close(m.silhouette_sample, skm.silhouette_score(u, labels))
    close(m.sse, float((1.0 - (u * dirs[labels]).sum(axis=1)).sum()), 1e-12)


def test_several_centre_sets_at_once_equal_one_at_a_time() -> None:
    x, _ = blobs(n=1500, d=4, k=5, seed=8)
    sets = [x[:k] + 0.1 for k in range(2, 7)]
    together = metrics_of(x, sets, sample_size=300, seed=4)
    for centers, got in zip(sets, together, strict=True):
        (alone,) = metrics_of(x, [centers], sample_size=300, seed=4)
        for name, value in alone.to_dict().items():
            if isinstance(value, float):
                close(getattr(got, name), value, 1e-12)
            else:
                assert getattr(got, name) == value, name
        np.testing.assert_array_equal(got.sample_rows, alone.sample_rows)
        np.testing.assert_array_equal(got.sample_labels, alone.sample_labels)
        np.testing.assert_allclose(got.sample_silhouette, alone.sample_silhouette, rtol=1e-12)


def test_sample_is_seeded_deterministic_and_scored_like_scikit_learn() -> None:
    x, centers = blobs(n=3000, d=3, k=4, seed=2)
    first = metrics_of(x, [centers], sample_size=400, seed=11)[0]
    again = metrics_of(x, [centers], sample_size=400, seed=11)[0]
    other = metrics_of(x, [centers], sample_size=400, seed=12)[0]
    assert first.sample_size == 400
    np.testing.assert_array_equal(first.sample_rows, again.sample_rows)
    assert first.silhouette_sample == again.silhouette_sample
    assert not np.array_equal(first.sample_rows, other.sample_rows)
    # rows of the data, labelled by their nearest centre, each once
    taken = nearest(first.sample_rows, x)
    np.testing.assert_allclose(first.sample_rows, x[taken], rtol=1e-13, atol=1e-13)
    assert len(set(taken.tolist())) == 400
    np.testing.assert_array_equal(first.sample_labels, nearest(x, centers)[taken])
    close(first.silhouette_sample, skm.silhouette_score(first.sample_rows, first.sample_labels))
    np.testing.assert_allclose(
        first.sample_silhouette,
        skm.silhouette_samples(first.sample_rows, first.sample_labels),
        rtol=TOL,
        atol=TOL,
    )


def test_weighted_sample_never_takes_zero_weight_rows() -> None:
    x, centers = blobs(n=600, d=2, k=3, seed=4)
    w = np.ones(len(x))
    w[::2] = 0.0
    (m,) = metrics_of(x, [centers], weights=w, sample_size=1000)
    np.testing.assert_allclose(m.sample_rows, x[1::2], rtol=1e-13, atol=1e-13)


def test_aggregates_do_not_depend_on_the_partitioning() -> None:
    x, centers = unequal_with_singleton()
    w = np.random.default_rng(3).uniform(0.5, 2.0, len(x))
    one = metrics_of(x, [centers], weights=w, parts=1, sample_size=0)[0].to_dict()
    three = metrics_of(x, [centers], weights=w, parts=3, sample_size=0)[0].to_dict()
    for name, value in one.items():
        if isinstance(value, float):
            close(three[name], value, 1e-11)
        elif isinstance(value, list) and value and isinstance(value[0], float):
            np.testing.assert_allclose(three[name], value, rtol=1e-11)
        else:
            assert three[name] == value, name


def test_metrics_keep_their_precision_far_from_zero() -> None:
    """Blocks are stored centred and distances to own centres taken by difference: data
    offset by 1e6 scores as the same data at the origin (scikit-learn's own GEMM-form
    distances would not)."""
    x, centers = blobs(n=800, d=3, k=3, seed=6)
    labels = nearest(x, centers)
    (m,) = metrics_of(x + 1e6, [centers + 1e6], sample_size=0)
    close(m.calinski_harabasz, skm.calinski_harabasz_score(x, labels), 1e-7)
    close(m.davies_bouldin, skm.davies_bouldin_score(x, labels), 1e-7)
    close(m.silhouette, spark_silhouette_gold(x, labels), 1e-7)


def test_float32_blocks_give_float32_accurate_metrics() -> None:
    x, centers = blobs(n=1000, d=3, k=4, seed=9)
    (m64,) = metrics_of(x, [centers], sample_size=0)
    (m32,) = metrics_of(x, [centers], sample_size=0, dtype="float32")
    for name in ("sse", "calinski_harabasz", "davies_bouldin", "silhouette"):
        close(getattr(m32, name), getattr(m64, name), 1e-5)


def test_undefined_scores_are_nan_and_to_dict_is_json() -> None:
    x, _ = blobs(n=200, d=2, k=2, seed=1)
    far = np.array([[1e3, 1e3], [x[0, 0], x[0, 1]]])  # every row nearest the second centre
    (m,) = metrics_of(x, [far], sample_size=50)
    assert m.cluster_sizes == [0, 200]
    for name in ("calinski_harabasz", "davies_bouldin", "silhouette", "silhouette_sample"):
        assert np.isnan(getattr(m, name)), name
    d = m.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["silhouette"] is None and "sample_rows" not in d and d["sse"] > 0


def test_compute_metrics_validates_its_arguments() -> None:
    x, centers = blobs(n=100, d=3, k=2)
    with LocalBlocks([x], LoadSettings()) as blocks:
        with pytest.raises(ValueError, match=r"shape \(2, 2\), but must be \(k, 3\)"):
            compute_metrics(blocks, [centers[:, :2]], spherical=False)
        with pytest.raises(ValueError, match="centers_list is empty"):
            compute_metrics(blocks, [], spherical=False)
        with pytest.raises(ValueError, match="sample_size=1 should be 0"):
            compute_metrics(blocks, [centers], spherical=False, sample_size=1)
        with pytest.raises(ValueError, match="NaN"):
            compute_metrics(blocks, [centers * np.nan], spherical=False)


def test_labels_kept_between_passes_change_nothing_and_are_removed(
    local_dirs: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pass 2 reads each block's labels from the file pass 1 left (and deletes it); a block
    without it assigns its rows again, to the same labels and the same sums."""
    x, _ = blobs(n=2000, d=3, k=4, seed=3)
    sets = [x[:3] + 0.05, x[3:8] + 0.05]
    stacked = StackedCenters.of(sets)
    _, labels = assignment_block(
        x, None, stacked, origin=None, sample_keys=np.empty(0), sample_size=0, partition=0,
        chunk=300,
    )  # fmt: skip
    spreads = [
        ClusterSpread.of(labelled_moments(x, None, labels[r].astype(float)).aligned(
            np.arange(len(c), dtype=float)))
        for r, c in enumerate(sets)
    ]  # fmt: skip
    again = separation_block(x, None, stacked, spreads, origin=None, chunk=300)
    kept = separation_block(x, None, stacked, spreads, origin=None, labels=labels, chunk=300)
    for a, b in zip(again, kept, strict=True):
        np.testing.assert_array_equal(a.intra_distance, b.intra_distance)
        assert (a.silhouette, a.weight) == (b.silhouette, b.weight)
    import kmeans_spark.kernels.scores as scores_module  # metrics picks its twin from it

    given: list[bool] = []

    def recording(*args: Any, **kw: Any) -> Any:
        given.append(kw.get("labels") is not None)
        return separation_block(*args, **kw)

    monkeypatch.setattr(scores_module, "separation_block", recording)
    metrics_of(x, sets, sample_size=0)
    assert given == [True, True, True]  # every non-empty block read its labels
    assert not glob.glob(os.path.join(local_dirs, "**", "*metrics-*"), recursive=True)


# --------------------------------------------------------------------------- kernels


def test_moments_merge_equals_moments_of_all_rows() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(500, 4))
    w = rng.uniform(0, 2, 500)
    labels = rng.integers(0, 5, 500).astype(float)
    whole = labelled_moments(x, w, labels)
    # parts that lack some clusters, merged in an order of their own
    parts = [slice(0, 3), slice(3, 300), slice(300, 500)]
    pieces = [labelled_moments(x[s], w[s], labels[s]) for s in parts]
    assert pieces[0].ids.size < 5  # a part that lacks some clusters
    got = pieces[2].merge(pieces[0]).merge(pieces[1])
    np.testing.assert_array_equal(got.ids, whole.ids)
    np.testing.assert_array_equal(got.counts, whole.counts)
    np.testing.assert_allclose(got.weights, whole.weights, rtol=1e-13)
    np.testing.assert_allclose(got.means, whole.means, rtol=1e-12)
    np.testing.assert_allclose(got.m2, whole.m2, rtol=1e-12)
    for j, c in enumerate(whole.ids):
        rows = labels == c
        np.testing.assert_allclose(whole.sums[j], (w[rows, None] * x[rows]).sum(axis=0))
        np.testing.assert_allclose(
            whole.sq_norm_sums[j], (w[rows] * (x[rows] ** 2).sum(axis=1)).sum()
        )


def test_silhouette_samples_matches_scikit_learn_for_several_labelings() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 3)) + 50.0
    labelings = [rng.integers(0, k, 300) for k in (2, 3, 7)]
    labelings[2][labelings[2] == 4] = 5  # a label that never occurs
    labelings[2][0] = 6
    labelings[2][labelings[2] == 6] = 5
    labelings[2][0] = 6  # a singleton
    got = silhouette_samples(x, labelings, tile_bytes=8 * 300 * 7)  # several tiles
    for lab, values in zip(labelings, got, strict=True):
        np.testing.assert_allclose(values, skm.silhouette_samples(x, lab), rtol=TOL, atol=TOL)
    assert np.isnan(silhouette_samples(x, [np.zeros(300, dtype=np.int64)])[0]).all()


# --------------------------------------------------------------------------- evaluator batches


def prediction_batches(
    x: np.ndarray, labels: np.ndarray, w: np.ndarray | None = None, size: int = 97
) -> list[pa.RecordBatch]:
    out = []
    for start in range(0, len(x), size):
        s = slice(start, start + size)
        rb = rows_batch(x[s], None if w is None else w[s])
        cols = {FEATURES: rb.column(FEATURES), PREDICTION: pa.array(labels[s].astype(float))}
        if w is not None:
            cols[WEIGHT] = rb.column(WEIGHT)
        out.append(pa.RecordBatch.from_pydict(cols))
    return out


@pytest.mark.parametrize("cosine", [False, True])
def test_evaluator_batches_equal_the_references(cosine: bool) -> None:
    """The evaluator's two passes over Arrow batches, partition by partition: Spark's
    silhouette by its weighted definition; CH and DB scikit-learn's on the rows repeated
    by their (integer) weights, unit rows for cosine."""
    x, centers = unequal_with_singleton()
    x = x + (5.0 if cosine else 0.0)  # no zero vectors for cosine
    w = np.random.default_rng(6).integers(1, 4, len(x)).astype(float)
    labels = nearest(x, centers) * 10 + 3  # any numbers name the clusters
    batches = prediction_batches(x, labels, w)
    parts = [batches[:2], batches[2:5], [], batches[5:]]
    found = functools.reduce(
        lambda a, b: a.merge(b), [moments_of_batches(iter(p), cosine=cosine) for p in parts]
    )
    assert (found.bad_features, found.bad_predictions, found.bad_weights) == (0, 0, 0)
    m = found.moments
    assert m is not None and m.ids.tolist() == sorted(set(labels.tolist()))
    spread = ClusterSpread.of(m)
    sums = functools.reduce(
        lambda a, b: a.merge(b),
        [separation_of_batches(iter(p), cosine=cosine, ids=m.ids, spread=spread) for p in parts],
    )
    close(spark_silhouette(m, sums), spark_silhouette_gold(x, labels, w, cosine=cosine))
    rows = unit(x) if cosine else x
    rep, rep_labels = np.repeat(rows, w.astype(int), axis=0), np.repeat(labels, w.astype(int))
    close(calinski_harabasz(m), skm.calinski_harabasz_score(rep, rep_labels))
    close(davies_bouldin(m, sums.intra_distance), skm.davies_bouldin_score(rep, rep_labels))


def test_evaluator_batches_count_rows_they_cannot_score() -> None:
    feats = pa.array([[1.0, 2.0], None, [1.0, float("nan")], [3.0], [0.0, 0.0], [2.0, 2.0]])
    batch = pa.RecordBatch.from_pydict(
        {
            FEATURES: feats,
            PREDICTION: pa.array([0.0, 1.0, 0.0, 1.0, 1.0, None]),
            WEIGHT: pa.array([1.0, 1.0, 1.0, -1.0, None, 2.0]),
        }
    )
    got = moments_of_batches(iter([batch]), cosine=True)
    assert (got.bad_features, got.bad_predictions, got.bad_weights) == (4, 1, 2)
    assert got.moments is not None and got.moments.counts.tolist() == [1]
    assert got.dim == 2 and got.rows == 6
