"""fit writes its assignments from the fit's resident blocks (one read of the input), and
they are what ``predict`` (``model.transform`` of a second read) writes for the same rows:
ids in the right rows, kept features as read, bad rows dropped, ``is_outlier``. float32
blocks, and blocks lost before the write, keep the transform path; an error after the
assignments are written leaves nothing behind. In-process on the tests' session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from .conftest import InputScans, assert_nothing_written, in_process, summary

ROWS = 1200


@pytest.fixture(scope="module")
def dirty_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three blobs of 2 features far apart in scale, a text id and a numeric id, five rows
    with a NaN or infinite feature; two Parquet files."""
    rng = np.random.default_rng(12)
    x = np.vstack([rng.normal(c, 0.3, (ROWS // 3, 2)) for c in (0.0, 3.0, 6.0)])
    frame = pd.DataFrame(x * [1.0, 500.0] + [10.0, -2000.0], columns=["x0", "x1"])
    frame.loc[[4, 400, 401], "x0"] = [np.nan, np.inf, np.nan]
    frame.loc[[900, 1199], "x1"] = [-np.inf, np.nan]
    frame.insert(0, "name", [f"user-{i:05d}" for i in range(ROWS)])
    frame.insert(0, "id", rng.permutation(ROWS) * 3 + 1)
    root = tmp_path_factory.mktemp("assignments") / "in"
    root.mkdir()
    frame.iloc[:500].to_parquet(root / "a.parquet", index=False)
    frame.iloc[500:].to_parquet(root / "b.parquet", index=False)
    return root


def common(path: Path) -> list[str]:
    return ["--input", str(path), "--id-cols", "id,name", "--bad-rows", "drop"]


def fit_args(path: Path, out: Path, *extra: str) -> list[str]:
    return [
        "fit",
        *common(path),
        "--features",
        "x*",
        "--k",
        "3",
        "--seed",
        "5",
        "--scale",
        "standard",
        "--keep-features",
        "--outlier-quantile",
        "0.9",
        "--output",
        str(out),
        *extra,
    ]


def predicted(spark: Any, capsys: pytest.CaptureFixture[str], path: Path, fit: Path) -> Any:
    """The assignments ``predict`` writes with the fit's model: ``model.transform``."""
    out = fit.parent / (fit.name + "-predict")
    run = in_process(
        spark,
        capsys,
        "predict",
        *common(path),
        "--model",
        str(fit),
        "--keep-features",
        "--outlier-quantile",
        "0.9",
        "--output",
        str(out),
    )
    assert run.code == 0, run.stderr[-3000:]
    return read(out)


def read(run: Path) -> pd.DataFrame:
    return pd.read_parquet(run / "assignments").sort_values("id").reset_index(drop=True)


def assert_same_assignments(got: pd.DataFrame, want: pd.DataFrame, path: Path) -> None:
    assert list(got.columns) == list(want.columns)
    assert list(got.columns) == ["id", "name", "x0", "x1", "prediction", "distance", "is_outlier"]
    assert len(got) == ROWS - 5 and got["id"].is_unique
    np.testing.assert_array_equal(got["id"], want["id"])
    np.testing.assert_array_equal(got["prediction"], want["prediction"])
    np.testing.assert_allclose(got["distance"], want["distance"], rtol=1e-9)
    # the outlier limits are percentiles of (equal to 1e-9) distances: the same rows
    assert (got["is_outlier"] == want["is_outlier"]).mean() > 0.995
    # every row its own id, name and features, as read
    source = pd.concat([pd.read_parquet(f) for f in sorted(path.glob("*.parquet"))])
    source = source.set_index("id").loc[got["id"]]
    np.testing.assert_array_equal(got["name"], source["name"])
    np.testing.assert_array_equal(got[["x0", "x1"]].to_numpy(), source[["x0", "x1"]].to_numpy())


def test_fit_writes_from_its_blocks_what_transform_writes(
    spark: Any, capsys: pytest.CaptureFixture[str], dirty_input: Path, tmp_path: Path
) -> None:
    out = tmp_path / "fit"
    scans = InputScans(spark, ROWS)
    run = in_process(spark, capsys, *fit_args(dirty_input, out))
    assert run.code == 0, run.stderr[-3000:]
    assert len(scans.since()) == 1, scans.since()  # the load only, with the outliers too
    s = summary(out)
    assert s["assignments_path"] == "resident"
    assert (s["rows_read"], s["rows_dropped"], s["rows_used"]) == (ROWS, 5, ROWS - 5)
    assert s["seconds"]["write_assignments"] > 0 and "on_fitted" in s["seconds"]["engine"]
    got = read(out)
    assert_same_assignments(got, predicted(spark, capsys, dirty_input, out), dirty_input)
    sizes = got.groupby("prediction").size()
    assert [int(sizes.get(i, 0)) for i in range(3)] == s["cluster_sizes"]


def test_float32_blocks_keep_the_transform_path(
    spark: Any, capsys: pytest.CaptureFixture[str], dirty_input: Path, tmp_path: Path
) -> None:
    out = tmp_path / "fit"
    scans = InputScans(spark, ROWS)
    run = in_process(spark, capsys, *fit_args(dirty_input, out, "--dtype", "float32"))
    assert run.code == 0, run.stderr[-3000:]
    # the load, the outlier limits, the write: float32 blocks do not give transform's values
    assert len(scans.since()) == 3, scans.since()
    assert summary(out)["assignments_path"] == "transform"
    got = read(out)
    assert_same_assignments(got, predicted(spark, capsys, dirty_input, out), dirty_input)


def test_a_block_lost_before_the_write_falls_back_to_transform(
    spark: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    dirty_input: Path,
    tmp_path: Path,
) -> None:
    import os

    from kmeans_spark import blockstore
    from kmeans_spark.blocks import FittedBlocks

    labelled = FittedBlocks.assignments

    def lost_first(self: FittedBlocks, *args: Any, **kwargs: Any) -> Any:
        for directory in {os.path.dirname(h.x_path) for h in self.blocks.handles if h.x_path}:
            blockstore.remove_dir(directory)  # as if their executor were gone
        return labelled(self, *args, **kwargs)

    monkeypatch.setattr(FittedBlocks, "assignments", lost_first)
    out = tmp_path / "fit"
    run = in_process(spark, capsys, *fit_args(dirty_input, out))
    assert run.code == 0, run.stderr[-3000:]
    assert summary(out)["assignments_path"] == "transform"
    assert any("resident block files are missing" in r.getMessage() for r in caplog.records)
    got = read(out)
    assert_same_assignments(got, predicted(spark, capsys, dirty_input, out), dirty_input)


def test_an_error_after_the_assignments_are_written_leaves_nothing(
    spark: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    dirty_input: Path,
    tmp_path: Path,
) -> None:
    from kmeans_spark.app import fit

    def broken(*_: Any) -> str:
        raise OSError("disk full")

    monkeypatch.setattr(fit, "centers_csv", broken)
    out = tmp_path / "fit"
    run = in_process(spark, capsys, *fit_args(dirty_input, out))
    assert run.code == 1, run.stderr[-3000:]
    assert run.error_lines() == ["error: OSError: disk full (run with -v for the traceback)"]
    assert_nothing_written(out)
