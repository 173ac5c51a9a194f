"""Arrow-batch scoring (:mod:`kmeans_spark.scoring`) against a brute-force reference."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from kmeans_spark.scoring import (
    ARROW,
    JVM,
    JVM_MAX_FEATURES,
    Scorer,
    assign_batch,
    rows_of,
    scoring_path,
)


def brute(rows: list[list[float] | None], centers: np.ndarray, spherical: bool) -> list:
    """Per row, by explicit differences: (cluster, distance) or None when unassignable."""
    out: list[tuple[int, float] | None] = []
    for r in rows:
        if r is None or len(r) != centers.shape[1] or not np.isfinite(r).all():
            out.append(None)
            continue
        x = np.asarray(r, dtype=np.float64)
        if spherical:
            if not (x @ x) > 0:
                out.append(None)
                continue
            c = centers / np.linalg.norm(centers, axis=1, keepdims=True)
            cos = c @ (x / np.linalg.norm(x))
            j = int(np.argmax(cos))
            out.append((j, 1.0 - float(cos[j])))
        else:
            d = np.sqrt(((centers - x) ** 2).sum(axis=1))
            j = int(np.argmin(d))
            out.append((j, float(d[j])))
    return out


@pytest.mark.parametrize("spherical", [False, True])
def test_assignments_equal_brute_force_with_bad_rows(spherical: bool) -> None:
    rng = np.random.default_rng(3)
    centers = rng.normal(size=(5, 3)) * 4 + 1000.0  # far from zero: the origin matters
    if spherical:
        centers = rng.normal(size=(5, 3))
    good = (centers[rng.integers(0, 5, 40)] + rng.normal(size=(40, 3))).tolist()
    rows: list[list[float] | None] = list(good)
    rows[3] = None  # null row
    rows[7] = [1.0, 2.0]  # another length
    rows[11] = [float("nan"), 1.0, 2.0]
    rows[12] = [float("inf"), 1.0, 2.0]
    rows[20] = [0.0, 0.0, 0.0]  # no direction for cosine
    column = pa.array(rows, type=pa.list_(pa.float64()))
    got = assign_batch(column, Scorer.of(centers, spherical)).to_pylist()
    want = brute(rows, centers, spherical)
    assert len(got) == len(want) == 40
    for g, w in zip(got, want, strict=True):
        if w is None:
            assert g == {"prediction": None, "distance": None}
        else:
            assert g["prediction"] == w[0]
            assert g["distance"] == pytest.approx(w[1], rel=1e-9, abs=1e-9)


def test_rows_of_is_a_view_when_every_row_is_present_and_handles_slices() -> None:
    x = np.arange(12, dtype=np.float64).reshape(4, 3)
    column = pa.array(x.tolist(), type=pa.list_(pa.float64()))
    rows, ok = rows_of(column, 3)
    np.testing.assert_array_equal(rows, x)
    assert ok.all() and not rows.flags.owndata
    sliced = pa.array([[9.0, 9.0], *x.tolist()], type=pa.list_(pa.float64())).slice(1, 3)
    rows, ok = rows_of(sliced, 3)  # an offset into the buffers, and a bad row before it
    np.testing.assert_array_equal(rows, x[:3])
    with_bad = pa.array([[1.0, 2.0, 3.0], [1.0], None, [4.0, None, 6.0]], pa.list_(pa.float64()))
    rows, ok = rows_of(with_bad, 3)
    assert ok.tolist() == [True, False, False, True]
    np.testing.assert_array_equal(rows[0], [1.0, 2.0, 3.0])
    assert np.isnan(rows[3, 1]) and rows[3, 2] == 6.0


def test_an_empty_batch_and_a_batch_without_usable_rows() -> None:
    scorer = Scorer.of(np.eye(2), spherical=False)
    empty = assign_batch(pa.array([], type=pa.list_(pa.float64())), scorer)
    assert len(empty) == 0
    bad = assign_batch(pa.array([None, [1.0]], type=pa.list_(pa.float64())), scorer)
    assert bad.to_pylist() == [{"prediction": None, "distance": None}] * 2


def test_the_jvm_path_is_for_small_models_only() -> None:
    assert scoring_path(10, 16, jvm_max_kd=512) == JVM
    assert scoring_path(32, 16, jvm_max_kd=512) == JVM  # at the limit
    assert scoring_path(33, 16, jvm_max_kd=512) == ARROW
    assert scoring_path(2, JVM_MAX_FEATURES + 1, jvm_max_kd=10**9) == ARROW  # too wide for SQL
    assert scoring_path(2, 2, jvm_max_kd=0) == ARROW  # 0: never the JVM
    assert scoring_path(0, 0, jvm_max_kd=512) == ARROW  # no centres: nothing for Spark's model
