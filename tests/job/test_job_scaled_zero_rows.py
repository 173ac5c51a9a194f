"""Zero rows that appear only after the job's scaling (``--distance cosine --scale
standard``: a row equal to the features' mean is centred onto the zero vector): refused in
one line by default, left out and counted with ``--zero-vectors drop``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from .conftest import assert_nothing_written, in_process, summary


def test_zero_rows_after_scaling_are_refused_then_dropped_and_counted(
    spark: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rng = np.random.default_rng(4)
    mean = np.array([10.0, 20.0, 30.0])
    half = rng.integers(1, 10, size=(60, 3)) * rng.choice([-1.0, 1.0], size=(60, 3))
    # pairs symmetric about the mean, and 3 rows on it: the mean is exact, and those 3
    # rows (ids 120..122) become zero vectors once centred
    x = np.vstack([mean + half, mean - half, np.tile(mean, (3, 1))])
    frame = pd.DataFrame(x, columns=["x0", "x1", "x2"])
    frame.insert(0, "id", range(len(x)))
    (tmp_path / "in").mkdir()
    frame.to_parquet(tmp_path / "in" / "part.parquet", index=False)
    out = tmp_path / "run"
    args = ["fit", "--input", str(tmp_path / "in"), "--features", "x0,x1,x2", "--id-cols", "id"]
    args += ["--k", "3", "--distance", "cosine", "--scale", "standard", "--output", str(out)]
    refused = in_process(spark, capsys, *args)
    assert refused.code == 2, refused.stderr[-3000:]
    assert refused.error_lines() == [
        "error: 3 rows become zero vectors once --scale centres them (rows equal to the "
        "features' mean), which have no direction under --distance cosine; remove them, or "
        "pass --zero-vectors drop to leave them out of the fit and count them."
    ]
    assert_nothing_written(out)
    dropped = in_process(spark, capsys, *args, "--zero-vectors", "drop")
    assert dropped.code == 0, dropped.stderr[-3000:]
    s = summary(out)
    ids = set(pd.read_parquet(out / "assignments")["id"])
    assert ids.isdisjoint({120, 121, 122}) and len(ids) == 120
    assert (s["rows_read"], s["rows_dropped"], s["rows_used"]) == (123, 3, 120)
