"""The batch job as a Spark Connect client (#17): ``python -m kmeans_spark ... --remote URL``
in a subprocess against the tests' server (no JVM in the job's process), with the outputs of
the classic run of the same command line (in-process, on the tests' classic session).

The server runs on this host, so it and the client see the same local files: the server
writes ``assignments/`` and the model, the client the JSON files, both into one output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from kmeans_spark.connectserver import ConnectServer
from kmeans_spark.datagen import make_blobs

from ..job.conftest import Run, assert_nothing_written, in_process

#: Random starts: fewer passes than k-means|| (each is a job), the same check of parity.
FIT = ["fit", "--features", "x*", "--id-cols", "id", "--k", "4", "--seed", "3"]
FIT += ["--init-mode", "random", "--scale", "standard", "--run-date", "2026-11-22"]
#: What a fit run writes, under Connect as in a classic session.
RUN_FILES = ["_KMEANS_SPARK", "_SUCCESS", "assignments", "centers.csv", "model", "scaler.json"]
RUN_FILES += ["summary.json"]


def job(server: ConnectServer, cwd: Path, *args: str) -> Run:
    """The job as a Connect client of ``server`` (its URL carries the token)."""
    env = {k: v for k, v in os.environ.items() if k not in ("SPARK_REMOTE", "PYSPARK_SUBMIT_ARGS")}
    done = subprocess.run(
        [sys.executable, "-m", "kmeans_spark", *args, "--remote", server.url],
        capture_output=True, text=True, timeout=300, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return Run(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,200 rows of 3-D blobs with ids, as two Parquet files (two partitions either way)."""
    root = tmp_path_factory.mktemp("connect-lake")
    blobs = make_blobs(1200, 3, 4, spread=0.5, seed=17)
    frame = pd.DataFrame(blobs.x, columns=["x0", "x1", "x2"])
    frame.insert(0, "id", range(len(frame)))
    (root / "in").mkdir()
    for i in range(2):
        frame.iloc[i * 600 : (i + 1) * 600].to_parquet(root / "in" / f"part-{i}.parquet")
    return root


def assignments(run: Path) -> pd.DataFrame:
    return pd.read_parquet(run / "assignments").sort_values("id").reset_index(drop=True)


def test_fit_under_connect_writes_what_a_classic_session_writes(
    spark: Any, capsys: pytest.CaptureFixture[str], connect_server: ConnectServer, lake: Path
) -> None:
    """Same files, centres (1e-9), cost and labels as the classic run; the token is never
    shown; a re-run is refused without --mode overwrite and replaces the output with it."""
    args = [*FIT, "--input", str(lake / "in")]
    classic = in_process(spark, capsys, *args, "--output", str(lake / "classic"))
    assert classic.code == 0, classic.stderr[-3000:]
    # a relative --output: the client makes it a file:// URL of the absolute path, so the
    # server writes it there too (not relative to its own directory, nor on fs.defaultFS)
    remote = job(connect_server, lake, *args, "--output", "remote")
    assert remote.code == 0, remote.stderr[-3000:]
    out = lake / "remote"
    assert sorted(p.name for p in out.iterdir()) == RUN_FILES
    assert json.loads(remote.stdout.splitlines()[-1])["output"] == f"file://{out}"
    assert "Spark Connect: server sc://localhost:" in remote.stderr
    assert connect_server.token not in remote.stderr + remote.stdout
    assert "Traceback" not in remote.stderr

    ours, theirs = (json.loads((d / "summary.json").read_text()) for d in (out, lake / "classic"))
    np.testing.assert_allclose(ours["centers"], theirs["centers"], rtol=1e-9, atol=0)
    np.testing.assert_allclose(ours["scaled_centers"], theirs["scaled_centers"], rtol=1e-9)
    assert ours["cost"] == pytest.approx(theirs["cost"], rel=1e-9)
    for key in ("rows_read", "rows_used", "cluster_sizes", "iterations", "assignments_path"):
        assert ours[key] == theirs[key], key
    assert ours["config"]["spark"] == {
        "spark.remote": connect_server.url.split("token=")[0] + "token=***"
    }
    labels, gold = assignments(out), assignments(lake / "classic")
    assert labels["id"].tolist() == gold["id"].tolist() == list(range(1200))
    assert labels["prediction"].tolist() == gold["prediction"].tolist()
    np.testing.assert_allclose(labels["distance"], gold["distance"], rtol=1e-9, atol=1e-12)

    again = job(connect_server, lake, *args, "--output", "remote")
    assert again.code == 2
    assert again.error_lines() == [
        f"error: output {f'file://{out}'!r} already exists; pass --mode overwrite to replace "
        "it, or choose another --output."
    ]
    rerun = job(connect_server, lake, *args, "--output", "remote", "--mode", "overwrite")
    assert rerun.code == 0, rerun.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == RUN_FILES
    redone = json.loads((out / "summary.json").read_text())
    assert redone["centers"] == ours["centers"] and redone["cost"] == ours["cost"]
    assert assignments(out)["prediction"].tolist() == gold["prediction"].tolist()
    assert sorted(p.name for p in lake.iterdir()) == ["classic", "in", "remote"]  # no leftovers


def test_bad_input_under_connect_is_one_line_exit_2_and_nothing_written(
    connect_server: ConnectServer, tmp_path: Path
) -> None:
    """A missing input (the client's file system), a filter naming no column (analysed
    before the run starts, though a Connect client analyses lazily), and a non-numeric cell
    (found by the fit's load on the server; the row number from a DataFrame-only pass, as in
    a classic session: tests/job/test_job.py::test_non_numeric_text_is_reported_then_dropped)."""
    frame = pd.DataFrame(make_blobs(400, 2, 2, spread=0.3, seed=7).x, columns=["x0", "x1"])
    text = frame.astype(object)
    text.loc[10, "x1"] = "abc"
    text.loc[20, "x0"] = None
    (tmp_path / "csv").mkdir()
    text.to_csv(tmp_path / "csv" / "part.csv", index=False)
    fit = ["fit", "--features", "x0,x1", "--k", "2", "--run-date", "2026-11-22"]
    cases = {
        ("missing",): (
            # the client passes the server a file:// URL (not read on its fs.defaultFS)
            f"error: --input {'file://' + str(tmp_path / 'missing')!r} does not exist"
        ),
        ("csv", "--where", "nonsense_column > 1"): (
            "error: --where 'nonsense_column > 1' is not a valid filter of the input "
            "([UNRESOLVED_COLUMN.WITH_SUGGESTION] A column, variable, or function parameter "
            "with name `nonsense_column` cannot be resolved."
        ),
        ("csv",): (
            "error: column 'x0' has 1 rows that are not finite numbers (null, NaN, infinite or "
            "non-numeric text), e.g. row 21 with value null; 2 rows are affected in all. Fix or "
            "remove them, or pass --bad-rows drop to skip them."
        ),
    }
    for (name, *extra), line in cases.items():
        run = job(connect_server, tmp_path, *fit, "--input", name, "--format", "csv", *extra,
                  "--output", "out")  # fmt: skip
        assert run.code == 2, run.stderr[-3000:]
        (error,) = run.error_lines()
        assert error.startswith(line), error
        assert run.stdout == "" and "Traceback" not in run.stderr
        assert_nothing_written(tmp_path / "out")
