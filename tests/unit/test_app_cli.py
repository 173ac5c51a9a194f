"""The job's command line in-process, for everything that fails before Spark starts: exit
code 2, exactly one ``error:`` line, nothing written. (Runs that start Spark are
spark-submit tests in tests/job/: an in-process run would stop the tests' SparkContext.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kmeans_spark import session
from kmeans_spark.app import cli, runner
from kmeans_spark.options import OPTIONS

FIT = ["fit", "--input", "lake", "--features", "x*", "--output", "out"]


@pytest.fixture(autouse=True)
def no_spark(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Work in an empty directory, and fail the test if a command would start Spark."""
    monkeypatch.chdir(tmp_path)

    def refuse(*args: Any, **kwargs: Any) -> int:
        raise AssertionError("this command line should have failed before Spark starts")

    monkeypatch.setattr(runner, "run_on_spark", refuse)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run the command line; return its one error line, after checking the contract."""
    assert cli.main(list(argv)) == cli.EXIT_BAD_INPUT
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert errors == lines[-1:] and len(errors) == 1, err
    assert "Traceback" not in err
    assert set(os.listdir(".")) <= {"bad.toml"}  # nothing written, not even a temp sibling
    return errors[0]


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            [*FIT, "--run-date", "22/11/2026"],
            "error: run date '22/11/2026' is not a date; use YYYY-MM-DD, e.g. 2026-11-22.",
        ),
        (
            [*FIT, "--set", "job.kk=3"],
            "error: unknown key job.kk in the command line; known keys of [job]: bad_rows, "
            "distance, dtype, init_mode, init_model, init_steps, k, max_iter, partitions, "
            "scale, seed, tol.",
        ),
        (
            [*FIT, "--set", "job.k=three"],
            "error: job.k='three' (the command line) must be an integer; fix the value.",
        ),
        ([*FIT, "--set", "k=3"], "error: --set 'k=3' must name table.key, e.g. job.tol=1e-6."),
        ([*FIT, "--k", "three"], "error: --k='three' must be an integer; fix the value."),
        ([*FIT, "--k", "1"], "error: --k=1 must be >= 2; ask for at least two clusters."),
        ([*FIT, "--tol", "nan"], "error: --tol=nan must be a finite number >= 0."),
        (
            [*FIT, "--scale", "log"],
            "error: --scale='log' is not supported; use one of none, standard, minmax.",
        ),
        (
            [*FIT, "--features", "a,b,a"],
            "error: --features 'a,b,a' names 'a' twice; name each column once.",
        ),
        (
            [*FIT, "--id-cols", "id,id"],
            "error: --id-cols 'id,id' names 'id' twice; name each column once.",
        ),
        (
            [*FIT, "--features", "id", "--id-cols", "id"],
            "error: column 'id' is in both --features and --id-cols; id columns are copied to "
            "the assignments and are never features (patterns skip them): name it in one of "
            "the two.",
        ),
        (
            ["fit", "--input", "lake", "--output", "out"],
            "error: no feature columns given; pass --features COL,COL,... (names or patterns "
            "like 'x*').",
        ),
        (
            ["fit", "--input", "lake", "--features", "x", "--output", "lake/runs/{run_date}"],
            "error: --output 'lake/runs/2026-11-22' is inside --input 'lake'; a run must never "
            "write where it reads: choose an --output outside --input.",
        ),
        (
            ["fit", "--input", "lake/dt=*", "--features", "x", "--output", "."],
            "error: --output '.' contains --input 'lake/dt=*'; a run must never write where it "
            "reads: choose an --output that does not contain --input.",
        ),
        (
            ["predict", "--model", "runs/a", "--input", "lake", "--output", "runs/a"],
            "error: --output 'runs/a' is the same path as --model 'runs/a'; a run must never "
            "write where it reads: choose another --output.",
        ),
        (
            [*FIT, "--kk", "3"],
            "error: unrecognized arguments: --kk 3 (see kmeans-spark --help).",
        ),
        (
            ["predict", "--input", "lake", "--output", "out"],
            "error: the following arguments are required: --model (see kmeans-spark predict "
            "--help).",
        ),
        (["demo", "--k", "1"], "error: --k=1 must be >= 2; ask for at least two clusters."),
        (["demo", "--rows", "3"], "error: --rows=3 must be >= --k=5; ask for more rows."),
    ],
)
def test_bad_command_lines_fail_before_spark(
    capsys: pytest.CaptureFixture[str], argv: list[str], line: str
) -> None:
    dated = argv[0] == "demo" or "--run-date" in argv
    assert run(capsys, *argv, *([] if dated else ["--run-date", "2026-11-22"])) == line


def test_malformed_config(capsys: pytest.CaptureFixture[str]) -> None:
    Path("bad.toml").write_text("[job]\nk = = 3\n")
    line = run(capsys, "fit", "--config", "bad.toml", "--input", "x", "--output", "o")
    assert line.startswith("error: config file 'bad.toml' is not valid TOML (")
    Path("bad.toml").write_text('[job]\nk = "five"\n')
    line = run(capsys, "fit", "--config", "bad.toml", "--input", "x", "--output", "o")
    assert line == (
        "error: job.k='five' (config file 'bad.toml') must be an integer; fix the value."
    )


def test_help_lists_every_config_key_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["fit", "--help"]) == 0
    text = capsys.readouterr().out
    for option in OPTIONS:
        if option.key:
            assert option.cli_flag in text and f"[{option.key}" in text
    assert "--mode {error,overwrite}" in text and "--no-header" in text


def test_the_command_line_does_not_import_pyspark() -> None:
    """--help and configuration errors come back fast, without loading Spark."""
    probe = (
        "import sys\n"
        "from kmeans_spark.app import cli\n"
        "code = cli.main(['fit', '--input', 'i', '--output', 'o', '--k', '1'])\n"
        "assert code == 2, code\n"
        "assert 'pyspark' not in sys.modules, 'pyspark imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "error: --k=1 must be >= 2; ask for at least two clusters."


# -- Spark's errors, mapped to one line --------------------------------------------------

FOOTER = (
    "An error occurred while calling o45.load.\n"
    ": org.apache.spark.SparkException: [FAILED_READ_FILE.CANNOT_READ_FILE_FOOTER] Encountered "
    "error while reading file file:/data/in/part-0.parquet. Could not read footer. Please "
    "ensure that the file is in either ORC or Parquet format.\n"
    "\tat org.apache.spark.sql.errors.QueryExecutionErrors$.cannotReadFooterForFileError(x)\n"
    "Caused by: java.lang.RuntimeException: file:/data/in/part-0.parquet is not a Parquet "
    "file. Expected magic number at tail, but found [97, 108, 108, 10]\n"
    "\tat org.apache.parquet.hadoop.ParquetFileReader.readFooter(ParquetFileReader.java:622)\n"
)
AT_READ = (
    "An error occurred while calling o88.collectToPython.\n"
    ": org.apache.spark.SparkException: Job aborted due to stage failure: Task 1 in stage 1.0 "
    "failed 1 times, most recent failure: Lost task 1.0 in stage 1.0 (TID 2) (localhost "
    "executor driver): org.apache.spark.SparkException: [FAILED_READ_FILE.NO_HINT] Encountered "
    "error while reading file file:///data/in/zz.parquet.  SQLSTATE: KD001\n"
    "\tat org.apache.spark.sql.errors.QueryExecutionErrors$.cannotReadFilesError(x)\n"
    "Caused by: java.io.IOException: Permission denied\n"
)


def test_read_failures_name_the_file() -> None:
    assert cli.read_failure(FOOTER) == (
        "input file '/data/in/part-0.parquet' cannot be read (it is not a Parquet file. "
        "Expected magic number at tail, but found [97, 108, 108, 10]); fix or remove the "
        "file, check --format, or pass --conf spark.sql.files.ignoreCorruptFiles=true to skip "
        "files that cannot be read."
    )
    line = cli.read_failure(AT_READ)
    assert line is not None
    assert line.startswith("input file '/data/in/zz.parquet' cannot be read (Permission denied)")
    assert cli.read_failure("[PATH_NOT_FOUND] Path does not exist: file:/x.") is None


# -- the driver JVM's logging --------------------------------------------------------------


def test_local_sessions_log_with_the_packaged_config(tmp_path: Path) -> None:
    assert session.LOG_CONFIG.is_file()
    option = f"-Dlog4j2.configurationFile={session.LOG_CONFIG.as_uri()}"
    key = session.DRIVER_JAVA_OPTIONS
    assert session.driver_log_options({}, {}) == {key: option}
    assert session.driver_log_options({key: "-Xss4m"}, {}) == {key: f"-Xss4m {option}"}
    # the user's own logging wins
    assert session.driver_log_options({key: "-Dlog4j2.configurationFile=x"}, {}) == {}
    assert session.driver_log_options({}, {"SPARK_SUBMIT_OPTS": "-Dlog4j.debug"}) == {}
    assert session.driver_log_options({}, {"PYSPARK_SUBMIT_ARGS": "--driver-java-options x"}) == {}
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    assert session.driver_log_options({}, {"SPARK_CONF_DIR": str(conf_dir)}) == {key: option}
    (conf_dir / "log4j2.properties").write_text("rootLogger.level = info\n")
    assert session.driver_log_options({}, {"SPARK_CONF_DIR": str(conf_dir)}) == {}
