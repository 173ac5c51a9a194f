"""Runs of the batch job on real files: through real spark-submit where the exit code, the log
and the session as a scheduler sees them matter, else in-process on the tests' session (the
same command line and checks, without ~8 s of JVM start per run)."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from kmeans_spark.datagen import make_blobs

from .conftest import (
    ROOT,
    InputScans,
    Run,
    assert_nothing_written,
    in_process,
    submit,
    summary,
)

FIT = ["fit", "--features", "x*", "--id-cols", "id", "--k", "4", "--seed", "3"]


def assert_no_stack_trace(run: Run) -> None:
    """Neither a Python traceback nor a Java stack frame, anywhere in the output."""
    text = run.stdout + run.stderr
    assert "Traceback" not in text, text[-3000:]
    assert not re.search(r"^\s+at [\w$.]+\(", text, flags=re.M), text[-3000:]
    assert "\\tat " not in text, text[-3000:]  # nor one inside a JSON log line


def read_assignments(run: Path) -> pd.DataFrame:
    return pd.read_parquet(run / "assignments").sort_values("id").reset_index(drop=True)


@pytest.fixture(scope="module")
def csv_run(lake: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "csv-{run_date}"
    result = submit(
        *FIT,
        "--input",
        str(lake / "csv"),
        "--format",
        "csv",
        "--where",
        "dt = '{run_date}'",
        "--run-date",
        "2026-11-22",
        "--scale",
        "standard",
        "--output",
        str(out),
    )
    assert result.code == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stdout + result.stderr  # a clean run says nothing alarming
    return out.parent / "csv-2026-11-22"


def test_fit_writes_a_complete_run_directory(csv_run: Path) -> None:
    names = sorted(p.name for p in csv_run.iterdir())
    assert names == [
        "_KMEANS_SPARK",
        "_SUCCESS",
        "assignments",
        "centers.csv",
        "model",
        "scaler.json",
        "summary.json",
    ]
    s = summary(csv_run)
    assert s["rows_read"] == 2000 and s["rows_dropped"] == 0  # only dt=2026-11-22
    assert s["k"] == 4 and s["converged"] and s["convergence_reason"] == "converged"
    assert sum(s["cluster_sizes"]) == 2000 and s["scaling"] == "standard"
    assert s["features"] == ["x0", "x1", "x2"] and s["run_date"] == "2026-11-22"
    assert s["config"]["input"]["where"] == "dt = '2026-11-22'"  # the config as TOML tables
    assert json.loads((csv_run / "_KMEANS_SPARK").read_text())["written_by"] == "kmeans-spark"
    assert {"fit", "write_model", "write_assignments", "engine"} <= set(s["seconds"])
    assert "load" in s["seconds"]["engine"]
    assert set(s["versions"]) == {"kmeans_spark", "pyspark", "numpy", "python"}
    truth = make_blobs(2000, 3, 4, spread=0.5, seed=101).centers
    centers = pd.read_csv(csv_run / "centers.csv")
    got = centers[["x0", "x1", "x2"]].to_numpy()
    for c in truth:  # centres are reported in the original units, not the scaled ones
        assert np.min(np.linalg.norm(got - c, axis=1)) < 0.1
    a = read_assignments(csv_run)
    assert list(a.columns) == ["id", "prediction", "distance"] and len(a) == 2000
    assert a["id"].is_unique


def test_model_directory_loads_with_kmeans_model(spark: Any, csv_run: Path) -> None:
    from kmeans_spark import KMeansModel

    model = KMeansModel.load(str(csv_run / "model"))
    assert len(model.clusterCenters()) == 4 and model.hasSummary


def test_predict_with_the_saved_model_reproduces_the_assignments(lake: Path, csv_run: Path) -> None:
    out = csv_run.parent / "predict-{run_date}"
    result = submit(
        "predict",
        "--model",
        str(csv_run),
        "--input",
        str(lake / "parquet"),
        "--where",
        "dt = '{run_date}'",
        "--run-date",
        "2026-11-22",
        "--id-cols",
        "id",
        "--features",
        "x2,x0,x1",  # another order: matched to the model's features by name
        "--keep-features",
        "--output",
        str(out),
    )
    assert result.code == 0, result.stderr[-3000:]
    done = csv_run.parent / "predict-2026-11-22"
    predicted = read_assignments(done)
    fitted = read_assignments(csv_run)
    assert list(predicted.columns) == ["id", "x0", "x1", "x2", "prediction", "distance"]
    assert (predicted["prediction"].to_numpy() == fitted["prediction"].to_numpy()).all()
    np.testing.assert_allclose(predicted["distance"], fitted["distance"], rtol=1e-9)
    s = summary(done)
    assert s["command"] == "predict" and s["cluster_sizes"] == summary(csv_run)["cluster_sizes"]
    assert json.loads(result.stdout.strip().splitlines()[-1])["rows_read"] == 2000


def test_warm_start_from_the_previous_run(
    spark: Any, capsys: pytest.CaptureFixture[str], lake: Path, csv_run: Path
) -> None:
    out = csv_run.parent / "warm"
    result = in_process(
        spark,
        capsys,
        *FIT,
        "--input",
        str(lake / "csv"),
        "--format",
        "csv",
        "--where",
        "dt = '2026-11-22'",
        "--scale",
        "standard",
        "--init-model",
        str(csv_run),
        "--output",
        str(out),
    )
    assert result.code == 0, result.stderr[-3000:]
    s = summary(out)
    assert s["init_mode"] == "initialCenters" and s["iterations"] <= 2
    np.testing.assert_allclose(s["centers"], summary(csv_run)["centers"], rtol=1e-6, atol=1e-6)


def test_parquet_overwrite_is_idempotent_and_error_mode_refuses(
    spark: Any, capsys: pytest.CaptureFixture[str], lake: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    out.mkdir()  # an empty directory holds nothing to lose: the run takes its place
    args = [*FIT, "--input", str(lake / "parquet" / "dt=2026-11-21"), "--output", str(out)]
    first = in_process(spark, capsys, *args, "--mode", "overwrite")
    assert first.code == 0, first.stderr[-3000:]
    assert (out / "_KMEANS_SPARK").is_file() and (out / "model").is_dir()
    before = summary(out)
    # an output of the version before the marker: recognised by its entries and summary
    (out / "_KMEANS_SPARK").unlink()
    again = in_process(spark, capsys, *args, "--mode", "overwrite")
    assert again.code == 0, again.stderr[-3000:]
    assert (out / "_KMEANS_SPARK").is_file()
    after = summary(out)
    assert after["centers"] == before["centers"] and after["cost"] == before["cost"]
    assert len(read_assignments(out)) == 1500  # replaced, never appended
    refused = in_process(spark, capsys, *args)  # default mode: error
    assert refused.code == 2
    assert refused.error_lines() == [
        f"error: output {str(out)!r} already exists; pass --mode overwrite to replace it, "
        "or choose another --output."
    ]
    assert summary(out) == after
    assert list(tmp_path.glob("run.__*")) == []


@pytest.fixture(scope="module")
def dirty(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CSV with one non-numeric value and one empty field, and Parquet with NaN and inf."""
    root = tmp_path_factory.mktemp("dirty")
    blobs = make_blobs(400, 2, 2, spread=0.3, seed=7)
    frame = pd.DataFrame(blobs.x, columns=["x0", "x1"])
    frame.insert(0, "id", range(400))
    text = frame.astype(object)
    text.loc[10, "x1"] = "abc"
    text.loc[20, "x0"] = None
    (root / "csv").mkdir()
    text.to_csv(root / "csv" / "part.csv", index=False)
    nan = frame.copy()
    nan.loc[5, "x0"] = np.nan
    nan.loc[6, "x1"] = np.inf
    (root / "parquet").mkdir()
    nan.to_parquet(root / "parquet" / "part.parquet", index=False)
    return root


def test_non_numeric_text_is_reported_then_dropped(
    spark: Any, capsys: pytest.CaptureFixture[str], dirty: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    args = [
        "fit",
        "--input",
        str(dirty / "csv"),
        "--format",
        "csv",
        "--features",
        "x0,x1",
        "--k",
        "2",
        "--output",
        str(out),
    ]
    refused = in_process(spark, capsys, *args)
    assert refused.code == 2
    assert refused.error_lines() == [
        "error: column 'x0' has 1 rows that are not finite numbers (null, NaN, infinite or "
        "non-numeric text), e.g. row 21 with value null; 2 rows are affected in all. Fix or "
        "remove them, or pass --bad-rows drop to skip them."
    ]
    assert_no_stack_trace(refused)
    assert_nothing_written(out)
    dropped = in_process(spark, capsys, *args, "--bad-rows", "drop")
    assert dropped.code == 0, dropped.stderr[-3000:]
    s = summary(out)
    assert s["rows_read"] == 400 and s["rows_dropped"] == 2 and s["rows_used"] == 398


def test_nan_and_inf_rows_under_both_policies(
    spark: Any, capsys: pytest.CaptureFixture[str], dirty: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    args = [
        "fit",
        "--input",
        str(dirty / "parquet"),
        "--features",
        "x0,x1",
        "--id-cols",
        "id",
        "--k",
        "2",
        "--output",
        str(out),
    ]
    refused = in_process(spark, capsys, *args)
    assert refused.code == 2
    (line,) = refused.error_lines()
    assert "column 'x0' has 1 rows" in line and "row 6 with value null" in line
    assert "2 rows are affected in all" in line
    assert_nothing_written(out)
    dropped = in_process(spark, capsys, *args, "--bad-rows", "drop")
    assert dropped.code == 0, dropped.stderr[-3000:]
    assert summary(out)["rows_dropped"] == 2
    ids = set(read_assignments(out)["id"])
    assert 5 not in ids and 6 not in ids and len(ids) == 398


def test_zero_vectors_under_cosine_are_refused_then_dropped(
    spark: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A zero row has no direction under cosine: one line naming the count and the flag,
    nothing written; ``--zero-vectors drop`` leaves them out and counts them."""
    blobs = make_blobs(300, 3, 3, spread=0.3, seed=11)
    frame = pd.DataFrame(blobs.x + 20.0, columns=["x0", "x1", "x2"])
    frame.insert(0, "id", range(300))
    frame.loc[[7, 70, 170], ["x0", "x1", "x2"]] = 0.0
    (tmp_path / "in").mkdir()
    frame.to_parquet(tmp_path / "in" / "part.parquet", index=False)
    out = tmp_path / "run"
    args = ["fit", "--input", str(tmp_path / "in"), "--features", "x0,x1,x2", "--id-cols", "id"]
    args += ["--k", "3", "--distance", "cosine", "--output", str(out)]
    refused = in_process(spark, capsys, *args)
    assert refused.code == 2
    assert refused.error_lines() == [
        "error: 3 rows are zero vectors (every feature 0, e.g. empty documents), which have "
        "no direction under --distance cosine; remove them, or pass --zero-vectors drop to "
        "leave them out of the fit and count them."
    ]
    assert_no_stack_trace(refused)
    assert_nothing_written(out)
    dropped = in_process(spark, capsys, *args, "--zero-vectors", "drop")
    assert dropped.code == 0, dropped.stderr[-3000:]
    s = summary(out)
    assert (s["rows_read"], s["rows_dropped"], s["rows_used"]) == (300, 3, 297)
    ids = set(read_assignments(out)["id"])
    assert ids.isdisjoint({7, 70, 170}) and len(ids) == 297


#: (flags, the one line), run through spark-submit (``True``: end to end, log and exit code
#: as a scheduler sees them) or in-process on the tests' session (the same checks, faster).
BAD_INPUT = [
    (
        ["--input", "{missing}"],
        r"^error: --input '.*/missing' does not exist; check the path, and --run-date "
        r"\(\d{4}-\d\d-\d\d\) if it uses \{run_date\}\.$",
        True,
    ),
    (["--features", "x0,nope"], r"feature column 'nope' matches no column of the input", False),
    (["--features", "x0", "--k", "5000"], r"the input has 3500 rows, fewer than k=5000", False),
    (["--where", "dt = '1999-01-01'"], r"has no usable rows .*filter: dt = '1999-01-01'", False),
    (
        ["--where", "nonsense_column > 1"],
        r"^error: --where 'nonsense_column > 1' is not a valid filter of the input "
        r"\(\[UNRESOLVED_COLUMN",
        True,
    ),
    (["--id-cols", "ident"], r"id column 'ident' does not exist in the input", False),
]


@pytest.mark.parametrize(("extra", "message", "end_to_end"), BAD_INPUT)
def test_bad_input_exits_2_with_one_line(
    spark: Any,
    capsys: pytest.CaptureFixture[str],
    lake: Path,
    tmp_path: Path,
    extra: list[str],
    message: str,
    end_to_end: bool,
) -> None:
    out = tmp_path / "run"
    base = {"--input": str(lake / "csv"), "--features": "x*", "--id-cols": "id"}
    args = ["fit", "--format", "csv", "--output", str(out)]
    flags = dict(base)
    i = 0
    while i < len(extra):
        flags[extra[i]] = extra[i + 1].replace("{missing}", str(tmp_path / "missing"))
        i += 2
    for flag, value in flags.items():
        args += [flag, value]
    result = submit(*args) if end_to_end else in_process(spark, capsys, *args)
    assert result.code == 2, result.stderr[-3000:]
    lines = result.error_lines()
    assert len(lines) == 1, result.stderr[-3000:]
    assert re.search(message, lines[0]), lines[0]
    assert_no_stack_trace(result)
    assert_nothing_written(out)


def test_spark_submit_settings_win_over_the_jobs_defaults(lake: Path, tmp_path: Path) -> None:
    """The job fills in its fast defaults only where spark-submit set nothing: an explicit
    ``--conf ...=false`` stays false (the fit then says what it costs), while the quiet worker
    daemon, not set by the user, is still chosen for this local master."""
    out = tmp_path / "run"
    off = "--conf spark.python.unix.domain.socket.enabled=false"
    result = submit(
        *FIT,
        "--input",
        str(lake / "parquet"),
        "--output",
        str(out),
        env={"SPARK_SUBMIT_OPTS_EXTRA": off},
    )
    assert result.code == 0, result.stderr[-3000:]
    text = result.stdout + result.stderr
    session = [line for line in text.splitlines() if "kmeans_spark.session: session:" in line]
    assert len(session) == 1, text[-3000:]
    assert "spark.python.daemon.module=kmeans_spark.worker_daemon" in session[0]
    assert "spark.python.unix.domain.socket.enabled" not in session[0]
    assert "spark.python.unix.domain.socket.enabled is off" in text
    assert "Traceback" not in text


@pytest.mark.parametrize("fmt", ["json", "orc"])
def test_json_and_orc_inputs(
    spark: Any, capsys: pytest.CaptureFixture[str], fmt: str, tmp_path: Path
) -> None:
    from kmeans_spark.datagen import blobs_frame

    frame = blobs_frame(make_blobs(600, 2, 3, spread=0.3, seed=17))
    data = tmp_path / "data"
    data.mkdir()
    if fmt == "json":
        frame.to_json(data / "part.json", orient="records", lines=True)
    else:
        import pyarrow as pa
        import pyarrow.orc as orc

        orc.write_table(pa.Table.from_pandas(frame, preserve_index=False), str(data / "part.orc"))
    out = tmp_path / "run"
    result = in_process(
        spark,
        capsys,
        "fit",
        "--input",
        str(data),
        "--format",
        fmt,
        "--features",
        "x0,x1",
        "--id-cols",
        "id",
        "--k",
        "3",
        "--output",
        str(out),
    )
    assert result.code == 0, result.stdout[-3000:] + result.stderr[-3000:]
    s = summary(out)
    assert s["rows_read"] == 600 and sorted(s["cluster_sizes"]) == [200, 200, 200]


# -- safety: what the job refuses to touch, and bad input in its own words -------------


def test_overwrite_refuses_what_the_job_did_not_write(
    spark: Any, capsys: pytest.CaptureFixture[str], lake: Path, tmp_path: Path
) -> None:
    """A scheduled job with a typo in its output path must never delete data it did not
    write: a directory without the job's marker (a lake root, say) and a plain file stay."""
    foreign = tmp_path / "lake-root"
    (foreign / "dt=2026-11-20").mkdir(parents=True)
    (foreign / "events.csv").write_text("id,x\n1,2\n")
    plain = tmp_path / "report.txt"
    plain.write_text("precious")
    lookalike = tmp_path / "lookalike"  # the job's entry names, but not its summary
    lookalike.mkdir()
    (lookalike / "_SUCCESS").write_text("")
    (lookalike / "summary.json").write_text('{"command": "fit"}')
    args = [*FIT, "--input", str(lake / "parquet" / "dt=2026-11-21"), "--mode", "overwrite"]
    for out, what in [
        (foreign, "a directory of 2 entries (dt=2026-11-20, events.csv)"),
        (plain, "a file (8 bytes)"),
        (lookalike, "a directory of 2 entries (_SUCCESS, summary.json)"),
    ]:
        refused = in_process(spark, capsys, *args, "--output", str(out))
        assert refused.code == 2, refused.stderr[-3000:]
        assert refused.error_lines() == [
            f"error: --output {str(out)!r} is {what}, not an output of this job (no "
            "_KMEANS_SPARK marker), so the run leaves it untouched: --mode overwrite replaces "
            "only an earlier output of this job. Check the path, or choose another --output."
        ]
        assert_no_stack_trace(refused)
        assert list(tmp_path.glob(out.name + ".__*")) == []  # not even a temp sibling
    assert sorted(p.name for p in foreign.iterdir()) == ["dt=2026-11-20", "events.csv"]
    assert (foreign / "events.csv").read_text() == "id,x\n1,2\n"
    assert plain.read_text() == "precious"
    assert sorted(p.name for p in lookalike.iterdir()) == ["_SUCCESS", "summary.json"]


def test_corrupt_input_files_are_named(
    spark: Any, capsys: pytest.CaptureFixture[str], lake: Path, tmp_path: Path
) -> None:
    """A file that is not Parquet: found when Spark reads the schema (one file), or later,
    while the job reads the data (a good file first, the bad one after it)."""
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "part-0.parquet").write_bytes(b"not parquet at all\n")
    later = tmp_path / "later"
    shutil.copytree(lake / "parquet" / "dt=2026-11-21", later)
    (later / "zz.parquet").write_bytes(b"not parquet at all\n")
    for data, bad in [(alone, alone / "part-0.parquet"), (later, later / "zz.parquet")]:
        out = tmp_path / f"run-{data.name}"
        result = in_process(spark, capsys, *FIT, "--input", str(data), "--output", str(out))
        assert result.code == 2, result.stderr[-3000:]
        assert result.error_lines() == [
            f"error: input file {str(bad)!r} cannot be read (it is not a Parquet file. Expected "
            "magic number at tail, but found [97, 108, 108, 10]); fix or remove the file, "
            "check --format, or pass --conf spark.sql.files.ignoreCorruptFiles=true to skip "
            "files that cannot be read."
        ]
        assert_no_stack_trace(result)
        assert_nothing_written(out)


def test_a_feature_listed_twice_is_refused(
    spark: Any, capsys: pytest.CaptureFixture[str], lake: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    result = in_process(
        spark, capsys, "fit", "--input", str(lake / "csv"), "--format", "csv",
        "--features", "x0,x1,x0", "--output", str(out),
    )  # fmt: skip
    assert result.code == 2
    assert result.error_lines() == [
        "error: --features 'x0,x1,x0' names 'x0' twice; name each column once."
    ]
    assert_nothing_written(out)


def test_python_m_reports_a_missing_input_without_a_java_stack_trace(tmp_path: Path) -> None:
    """The README's local form: Spark's default logging would print the FileStreamSink
    warning with a 40-line Java stack trace; the package's log4j2 config is used instead."""
    missing, out = tmp_path / "missing.csv", tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "kmeans_spark", "fit", "--input", str(missing), "--format",
         "csv", "--features", "x*", "--output", str(out), "--master", "local[1]",
         "--run-date", "2026-11-22"],
        capture_output=True, text=True, timeout=300, cwd=ROOT, stdin=subprocess.DEVNULL,
        env={**os.environ, "PYSPARK_PYTHON": sys.executable},
    )  # fmt: skip
    result = Run(proc.returncode, proc.stdout, proc.stderr)
    assert result.code == 2, result.stderr[-3000:]
    assert result.error_lines() == [
        f"error: --input {str(missing)!r} does not exist; check the path, and --run-date "
        "(2026-11-22) if it uses {run_date}."
    ]
    assert_no_stack_trace(result)
    assert "default log4j profile" not in result.stderr  # the package's config was used
    assert "FileNotFoundException" not in result.stderr
    assert_nothing_written(out)


def test_a_damaged_model_directory_is_one_clear_error(
    spark: Any, csv_run: Path, tmp_path: Path
) -> None:
    """What predict and --init-model say about the directories they read (in-process: the
    checks run on the tests' session, no spark-submit needed)."""
    from kmeans_spark.app.features import model_features
    from kmeans_spark.app.io import JobFS, load_saved_model
    from kmeans_spark.errors import KMeansInputError

    fs = JobFS(spark)

    def damaged(name: str, damage: Any) -> str:
        copy = tmp_path / name
        shutil.copytree(csv_run, copy)
        damage(copy)
        return str(copy)

    def garbage(run: Path, checksums: bool) -> None:
        """Overwrite the model's centres with bytes that are not Parquet: with the .crc side
        files of the good bytes, Hadoop's checksum finds it first; without, Parquet."""
        for part in (run / "model" / "data").glob("part-*"):
            crc = part.with_name(f".{part.name}.crc")
            if checksums and not crc.exists():  # Hadoop's format: magic, chunk size, CRC32s
                good = part.read_bytes()
                sums = [zlib.crc32(good[i : i + 512]) for i in range(0, len(good), 512)]
                crc.write_bytes(b"crc\0" + struct.pack(f">i{len(sums)}I", 512, *sums))
            if not checksums:
                crc.unlink(missing_ok=True)
            part.write_bytes(b"not parquet at all\n")

    fix = (
        r"; pass a fit run's output directory \(it holds model/ and scaler.json\), or a "
        r"directory a KMeansModel \(ours or pyspark.ml's\) was saved to\.$"
    )
    cases = {
        str(tmp_path / "nope"): r"--model '.*/nope' does not exist; pass a fit run's output",
        str(csv_run / "centers.csv"): r"--model '.*/centers.csv' is a file; pass a fit run's",
        damaged("no-model", lambda d: shutil.rmtree(d / "model")): r"holds no model \(no model",
        damaged("no-data", lambda d: shutil.rmtree(d / "model" / "data")): (
            r"^--model '.*/no-data': the model '.*/no-data/model' cannot be loaded \(the model "
            r"at .*/no-data/model has metadata but no data/ \(its centres\); it was not saved "
            r"completely: save it again\)" + fix
        ),
        damaged("bad-data", lambda d: garbage(d, checksums=False)): (
            r"^--model '.*/bad-data': the model '.*/bad-data/model' cannot be loaded \("
            r"java.lang.RuntimeException: file:/.*/bad-data/model/data/part-[^ ]+\.parquet is "
            r"not a Parquet file. Expected magic number at tail, but found \[97, 108, 108, 10\]"
            r"\)" + fix
        ),
        damaged("bad-checksum", lambda d: garbage(d, checksums=True)): (
            r"^--model '.*/bad-checksum': the model '.*/bad-checksum/model' cannot be loaded \("
            r"org.apache.hadoop.fs.ChecksumException: Checksum error: file:/.*/bad-checksum/"
            r"model/data/part-[^ ]+\.parquet at 0 exp: -?\d+ got: -?\d+\)" + fix
        ),
        damaged("bad-scaler", lambda d: (d / "scaler.json").write_text("{oops")): (
            r"--model '.*/bad-scaler': '.*/bad-scaler/scaler.json' is not the scaler of this "
            r"model \(not JSON \(.*\)\); pass the fit run's output directory as the job wrote "
            r"it\.$"
        ),
        damaged("short-scaler", lambda d: (d / "scaler.json").write_text(
            json.dumps({"method": "none", "features": ["x0"], "offset": [0], "scale": [1]})
        )): r"is not the scaler of this model \(1 features, but the model has 3\)",
    }  # fmt: skip
    for path, message in cases.items():
        with pytest.raises(KMeansInputError, match=message):
            load_saved_model(fs, path, "--model")
    saved = load_saved_model(fs, str(csv_run), "--model")
    with pytest.raises(
        KMeansInputError,
        match=r"^--model '.*' was trained on features \[x0, x1, x2\], but this run selects "
        r"\[x0, x1\]; select the model's features with --features, or pass another --model\.$",
    ):
        model_features(saved, ["x0", "x1"], "--model")
    assert model_features(saved, ["x2", "x0", "x1"], "--model") == ["x0", "x1", "x2"]


def test_a_file_system_failure_is_the_java_exceptions_own_line(spark: Any) -> None:
    """An output the job may not write fails in a JobFS call: pyspark passes the JVM's
    exception on as is, and its own text is only ``An error occurred while calling oNN.x``."""
    from py4j.protocol import Py4JJavaError

    from kmeans_spark.app import cli
    from kmeans_spark.app.io import JobFS

    with pytest.raises(Py4JJavaError) as failed:
        JobFS(spark).write_text("/proc/kmeans-spark-out/summary.json", "{}")
    assert cli.explain(failed.value) == (
        cli.EXIT_FAILURE,
        f"java.io.IOException: Mkdirs failed to create /proc/kmeans-spark-out (exists=false, "
        f"cwd=file:{os.getcwd()})",
    )


def test_a_model_is_matched_by_its_own_columns(
    spark: Any, lake: Path, csv_run: Path, tmp_path: Path
) -> None:
    """A model directory not named ``model`` holds a model alone: an unrelated scaler.json
    beside it is not its scaling, and a warm start from it checks the model's own input
    columns (a model trained on other columns is refused, not silently used); a run's model/
    keeps its scaler. In-process: fit stops before any pass over the data."""
    from kmeans_spark import KMeans
    from kmeans_spark.app import fit
    from kmeans_spark.app.config import load_config
    from kmeans_spark.app.io import JobFS, load_saved_model
    from kmeans_spark.errors import KMeansInputError

    other = tmp_path / "models" / "other"
    frame = spark.createDataFrame([(float(i), float(i % 3), 1.0) for i in range(12)])
    KMeans(k=2, seed=1, inputCols=["y0", "y1", "y2"]).fit(frame.toDF("y0", "y1", "y2")).write(
    ).save(str(other))  # fmt: skip
    shutil.copy(csv_run / "scaler.json", other.parent / "scaler.json")  # same width, unrelated
    fs = JobFS(spark)
    assert load_saved_model(fs, str(other), "--init-model").scaler is None
    assert load_saved_model(fs, str(csv_run / "model"), "--model").scaler is not None
    out = tmp_path / "out"
    cfg = load_config(
        None,
        {
            "input": {"path": str(lake / "parquet" / "dt=2026-11-21"), "features": "x*"},
            "job": {"init_model": str(other)},
            "output": {"path": str(out)},
        },
        None,
        keys=fit.KEYS,
    )
    with pytest.raises(
        KMeansInputError,
        match=r"^job.init_model '.*/models/other' was trained on features \[y0, y1, y2\], but "
        r"this run selects \[x0, x1, x2\]; ",
    ):
        fit.fit(spark, cfg)
    assert_nothing_written(out)


def test_predict_refuses_an_input_without_usable_rows(
    spark: Any, lake: Path, csv_run: Path, tmp_path: Path
) -> None:
    """Deliberate: a scheduled scoring run on a partition that has not landed fails loudly
    (exit 2, fit's message) instead of writing empty assignments."""
    from kmeans_spark.app import predict
    from kmeans_spark.app.config import load_config
    from kmeans_spark.errors import KMeansInputError

    out = tmp_path / "scores"
    cfg = load_config(
        None,
        {
            "input": {"path": str(lake / "parquet"), "where": "dt = '{run_date}'"},
            "job": {"model": str(csv_run)},
            "output": {"path": str(out)},
        },
        "2030-01-01",
        keys=predict.KEYS,
    )
    with pytest.raises(
        KMeansInputError,
        match=r"^the input '.*/parquet' has no usable rows \(filter: dt = '2030-01-01'\); check",
    ):
        predict.predict(spark, cfg)
    assert_nothing_written(out)


def test_weight_col_weighs_rows_as_the_api_does(
    spark: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """--weight-col passes instance weights to the fit: a far blob of weight 0 takes no
    centre (unweighted, it does); the weight column is never a feature, even under '*';
    a negative weight is one line naming the column."""
    rng = np.random.default_rng(4)
    x = np.vstack(
        [rng.normal(0, 0.3, (200, 2)), rng.normal(10, 0.3, (200, 2)), rng.normal(60, 0.3, (20, 2))]
    )
    frame = pd.DataFrame(x, columns=["x0", "x1"])
    frame["w"] = [1.0] * 400 + [0.0] * 20
    frame.insert(0, "id", range(420))
    (tmp_path / "in").mkdir()
    frame.to_parquet(tmp_path / "in" / "part.parquet", index=False)
    base = ["fit", "--input", str(tmp_path / "in"), "--features", "*", "--id-cols", "id"]
    base += ["--k", "2", "--seed", "3"]

    weighted = in_process(
        spark, capsys, *base, "--weight-col", "w", "--output", str(tmp_path / "w")
    )
    assert weighted.code == 0, weighted.stderr[-3000:]
    s = summary(tmp_path / "w")
    assert s["features"] == ["x0", "x1"]
    np.testing.assert_allclose(sorted(s["centers"]), [[0, 0], [10, 10]], atol=0.1)

    plain = in_process(spark, capsys, *base, "--features", "x*", "--output", str(tmp_path / "p"))
    assert plain.code == 0, plain.stderr[-3000:]
    assert max(max(c) for c in summary(tmp_path / "p")["centers"]) > 20  # the far blob's centre

    frame.loc[7, "w"] = -2.0
    frame.to_parquet(tmp_path / "in" / "part.parquet", index=False)
    refused = in_process(spark, capsys, *base, "--weight-col", "w", "--output", str(tmp_path / "n"))
    assert refused.code == 2
    (line,) = refused.error_lines()
    assert "weight in column 'w' (for example -2.0); weights must be finite and >= 0" in line
    assert_nothing_written(tmp_path / "n")


def test_the_input_is_read_once_before_the_fit(
    spark: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """fit reads the input once to load, validate, count, drop bad rows and gather the
    scaling statistics (the scaling is applied to the stored blocks); the assignments are
    written from the stored blocks; predict reads it once. Counted by Spark's own input metrics."""
    rng = np.random.default_rng(9)
    x = np.vstack([rng.normal(c, 0.2, (500, 2)) for c in (0.0, 4.0)]) * [1.0, 1000.0]
    frame = pd.DataFrame(x, columns=["x0", "x1"])
    frame.loc[[3, 700], "x1"] = np.nan
    frame.insert(0, "id", range(len(frame)))
    (tmp_path / "in").mkdir()
    frame.to_parquet(tmp_path / "in" / "part.parquet", index=False)
    args = ["--input", str(tmp_path / "in"), "--id-cols", "id", "--bad-rows", "drop"]

    scans = InputScans(spark, len(frame))
    fit = in_process(
        spark,
        capsys,
        "fit",
        *args,
        "--features",
        "x*",
        "--k",
        "2",
        "--scale",
        "standard",
        "--output",
        str(tmp_path / "fit"),
    )
    assert fit.code == 0, fit.stderr[-3000:]
    assert len(scans.since()) == 1, scans.since()  # the load (assignments from its blocks)
    s = summary(tmp_path / "fit")
    assert (s["rows_read"], s["rows_dropped"], s["rows_used"]) == (1000, 2, 998)
    assert "scale" in s["seconds"]["engine"]
    # the fit ran on standardised features: both clusters are found although x1 is 1000x x0
    good = frame.drop(index=[3, 700])
    blob_means = [good[good["id"] < 500], good[good["id"] >= 500]]
    np.testing.assert_allclose(
        sorted(s["centers"]), [b[["x0", "x1"]].mean().to_list() for b in blob_means], rtol=1e-9
    )
    scaler = json.loads((tmp_path / "fit" / "scaler.json").read_text())
    np.testing.assert_allclose(scaler["offset"], good[["x0", "x1"]].mean(), rtol=1e-12)
    np.testing.assert_allclose(scaler["scale"], good[["x0", "x1"]].std(ddof=0), rtol=1e-12)
    a = read_assignments(tmp_path / "fit")
    assert len(a) == 998 and set(a["prediction"]) == {0, 1}

    scans = InputScans(spark, len(frame))
    predict = in_process(
        spark,
        capsys,
        "predict",
        *args,
        "--model",
        str(tmp_path / "fit"),
        "--output",
        str(tmp_path / "predict"),
    )
    assert predict.code == 0, predict.stderr[-3000:]
    assert len(scans.since()) == 1, scans.since()
    p = summary(tmp_path / "predict")
    assert (p["rows_read"], p["rows_dropped"]) == (1000, 2)
    assert sorted(p["cluster_sizes"]) == sorted(s["cluster_sizes"])


def test_elbow_chooses_k_and_writes_the_report(
    spark: Any, capsys: pytest.CaptureFixture[str], lake: Path, tmp_path: Path
) -> None:
    """elbow sweeps k on one read of the input: summary.json has every k's metrics and the
    choice, plots/ and a self-contained report.html, and the chosen k's model, which
    predict takes as a fit run's output."""
    data = str(lake / "parquet" / "dt=2026-11-22")
    out = tmp_path / "elbow"
    args = ["--input", data, "--features", "x*", "--id-cols", "id", "--scale", "standard"]
    scans = InputScans(spark, 2000)
    run = in_process(
        spark,
        capsys,
        "elbow",
        *args,
        "--k-min",
        "2",
        "--k-max",
        "7",
        "--sample-size",
        "800",
        "--output",
        str(out),
    )
    assert run.code == 0, run.stderr[-3000:]
    assert len(scans.since()) == 1, scans.since()  # the sweep's load is the only read
    s = summary(out)
    assert s["ks"] == [2, 3, 4, 5, 6, 7] and s["choice"]["k"] == 4
    # a line per k as its run stops (no bar: not a terminal), then the one JSON line
    *progress, last = run.stdout.strip().splitlines()
    assert json.loads(last)["command"] == "elbow"
    sse = {r["k"]: r["sse"] for r in s["sweep"]}
    shown = {int(line.split(":")[0].removeprefix("k=")): line for line in progress}
    assert sorted(shown) == s["ks"] and len(progress) == 6, progress
    assert progress[-1].endswith("(6/6)") and "\r" not in run.stdout
    for k, line in shown.items():
        assert f"SSE {sse[k]:.6g}" in line, line
    assert s["choice"]["verdict"] == "k = 4"
    by_k = {r["k"]: r for r in s["sweep"]}
    assert by_k[4]["sample_size"] == 800 and by_k[4]["silhouette"] > 0.5
    assert by_k[4]["calinski_harabasz"] == max(r["calinski_harabasz"] for r in s["sweep"])
    truth = make_blobs(2000, 3, 4, spread=0.5, seed=101).centers
    for c in truth:  # the centres of the chosen k, in the original units
        assert np.min(np.linalg.norm(np.array(by_k[4]["centers"]) - c, axis=1)) < 0.1
    names = sorted(p.name for p in (out / "plots").iterdir())
    assert names == ["clusters.png", "elbow.png", "silhouette.png", "sizes.png"]
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "http://" not in html and "https://" not in html
    scored = in_process(
        spark,
        capsys,
        "predict",
        "--input",
        data,
        "--id-cols",
        "id",
        "--model",
        str(out),
        "--output",
        str(tmp_path / "scored"),
    )
    assert scored.code == 0, scored.stderr[-3000:]
    assert sorted(summary(tmp_path / "scored")["cluster_sizes"]) == [500] * 4

    refused = in_process(
        spark,
        capsys,
        "elbow",
        *args,
        "--k-min",
        "9",
        "--k-max",
        "4",
        "--output",
        str(tmp_path / "no"),
    )
    assert refused.code == 2
    assert refused.error_lines() == [
        "error: --k-min=9 is above --k-max=4; the sweep needs k_min <= k_max, e.g. "
        "--k-min 2 --k-max 15."
    ]
    assert_nothing_written(tmp_path / "no")


def test_fit_report_has_the_metrics_of_the_fit(
    spark: Any, capsys: pytest.CaptureFixture[str], lake: Path, tmp_path: Path
) -> None:
    """fit --report --3d --n-init 3: the fit's metrics in summary.json (from its own blocks,
    without another read of the input), every restart's cost, plots and report.html."""
    data = str(lake / "parquet" / "dt=2026-11-22")
    out = tmp_path / "fit"
    scans = InputScans(spark, 2000)
    run = in_process(
        spark,
        capsys,
        "fit",
        "--input",
        data,
        "--features",
        "x*",
        "--id-cols",
        "id",
        "--k",
        "4",
        "--n-init",
        "3",
        "--report",
        "--3d",
        "--sample-size",
        "500",
        "--output",
        str(out),
    )
    assert run.code == 0, run.stderr[-3000:]
    assert len(scans.since()) == 1, scans.since()  # the load (assignments from its blocks)
    s = summary(out)
    assert len(s["run_costs"]) == 3 and s["cost"] == min(s["run_costs"])
    m = s["metrics"]
    assert m["k"] == 4 and m["sample_size"] == 500 and m["silhouette"] > 0.5
    assert m["sse"] == pytest.approx(s["cost"], rel=1e-6)
    # one k: no elbow to draw; --3d adds a 3-D view of the clusters (3 features here)
    names = sorted(p.name for p in (out / "plots").iterdir())
    assert names == ["clusters.png", "clusters_3d.png", "silhouette.png", "sizes.png"]
    assert "data:image/png;base64," in (out / "report.html").read_text()


def test_elbow_on_xclara_picks_three(
    spark: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The public xclara data (3,000 2-D points, 3 clusters; tests/data/xclara.csv): the
    knee, the best Calinski-Harabasz and the best silhouette all say k = 3; elbow.json has
    the curve as lists."""
    out = tmp_path / "elbow"
    run = in_process(
        spark,
        capsys,
        "elbow",
        "--input",
        str(ROOT / "tests" / "data" / "xclara.csv"),
        "--format",
        "csv",
        "--features",
        "V1,V2",
        "--k-min",
        "2",
        "--k-max",
        "10",
        "--output",
        str(out),
    )
    assert run.code == 0, run.stderr[-3000:]
    curve = json.loads((out / "elbow.json").read_text())
    assert curve["k"] == list(range(2, 11)) and len(curve["sse"]) == 9
    assert (curve["knee"], curve["best_calinski_harabasz"], curve["best_silhouette"]) == (3, 3, 3)
    assert curve["best_k"] == 3 and curve["verdict"] == "k = 3"


def test_outlier_flag_marks_the_far_tail_of_each_cluster(
    spark: Any, capsys: pytest.CaptureFixture[str], lake: Path, tmp_path: Path
) -> None:
    """--outlier-quantile 0.9: is_outlier is true for the rows beyond their cluster's 90th
    percentile of distance, about 10% of each cluster; a bad quantile is one line."""
    data = str(lake / "parquet" / "dt=2026-11-22")
    args = ["fit", "--input", data, "--features", "x*", "--id-cols", "id", "--k", "4"]
    run = in_process(
        spark, capsys, *args, "--outlier-quantile", "0.9", "--output", str(tmp_path / "f")
    )
    assert run.code == 0, run.stderr[-3000:]
    a = read_assignments(tmp_path / "f")
    assert list(a.columns) == ["id", "prediction", "distance", "is_outlier"]
    for _, group in a.groupby("prediction"):
        share = group["is_outlier"].mean()
        assert 0.08 <= share <= 0.12, share
        limit = group.loc[~group["is_outlier"], "distance"].max()
        assert (group.loc[group["is_outlier"], "distance"] > limit).all()
    refused = in_process(
        spark, capsys, *args, "--outlier-quantile", "1.5", "--output", str(tmp_path / "n")
    )
    assert refused.code == 2
    (line,) = refused.error_lines()
    assert "--outlier-quantile" in line and "1.5" in line and "must be >= 0 and < 1" in line
    assert_nothing_written(tmp_path / "n")
