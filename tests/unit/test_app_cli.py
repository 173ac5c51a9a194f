"""The job's command line in-process, for everything that fails before Spark starts: exit
code 2, exactly one ``error:`` line, nothing written. (Runs that start Spark are
spark-submit tests in tests/job/: an in-process run would stop the tests' SparkContext.)"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyspark  # noqa: F401  (cli.explain reads Spark's errors once pyspark is loaded)
import pytest

from kmeans_spark import session
from kmeans_spark.app import cli, fit, predict, runner
from kmeans_spark.options import OPTIONS

FIT = ["fit", "--input", "lake", "--features", "x*", "--output", "out"]

pytestmark = pytest.mark.usefixtures("no_spark")


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
            "distance, dtype, init_mode, init_model, init_steps, k, k_max, k_min, "
            "max_iter, model, n_init, partitions, sample_size, scale, seed, tol, zero_vectors.",
        ),
        (
            [*FIT, "--set", "job.k=three"],
            "error: job.k='three' (the command line) must be an integer; fix the value.",
        ),
        ([*FIT, "--set", "k=3"], "error: --set 'k=3' must name table.key, e.g. job.tol=1e-6."),
        (
            [*FIT, "--set", "spark.sql.shuffle.partitions=8"],
            "error: --set 'spark.sql.shuffle.partitions=8' names a Spark setting; pass Spark "
            "settings with --conf key=value, e.g. --conf spark.sql.shuffle.partitions=8.",
        ),
        (
            [*FIT, "--conf", "kmeans_spark.logLevel=LOUD"],
            "error: spark setting kmeans_spark.logLevel='LOUD' is not a log level of Spark; use "
            "one of ALL, DEBUG, ERROR, FATAL, INFO, OFF, TRACE, WARN.",
        ),
        (
            ["fit", "--input", "lake", "--features", "x", "--output", "runs/dt=*"],
            "error: --output 'runs/dt=*' has a glob character (* ? [ {), but an output is one "
            "directory named exactly: choose a path without them.",
        ),
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
            "error: no model to score with; pass --model DIR (a fit run's output directory), "
            "or set job.model.",
        ),
        (  # the model from --set: templated, and kept apart from the output as --model is
            [
                "predict",
                "--set",
                "job.model=runs/{run_date}",
                "--input",
                "lake",
                "--output",
                "runs/2026-11-22/scores",
            ],
            "error: --output 'runs/2026-11-22/scores' is inside job.model 'runs/2026-11-22'; a "
            "run must never write where it reads: choose an --output outside job.model.",
        ),
        (
            ["fit", "--model", "runs/a", "--input", "lake", "--features", "x", "--output", "o"],
            "error: unrecognized arguments: --model runs/a (see kmeans-spark --help).",
        ),
        (
            [*FIT, "--remote", "localhost:15002/;token=hunter2"],
            "error: --remote 'localhost:15002/;token=***' is not a Spark Connect URL: it must "
            "look like sc://HOST:PORT (port 1-65535, 15002 if left out; options as "
            "/;token=..., no '=' inside a value), e.g. sc://spark-connect.example.com:15002; "
            "fix the URL, or leave --remote out to run a session of the job's own.",
        ),
        (
            [*FIT, "--remote", "sc://spark:15002", "--master", "local[2]"],
            "error: --remote 'sc://spark:15002' and --master 'local[2]' are both given, but a "
            "Spark Connect server has its own master: pass --master for a session of the "
            "job's own, or --remote for the server's.",
        ),
        (["demo", "--k", "1"], "error: --k=1 must be >= 2; ask for at least two clusters."),
        (["demo", "--rows", "3"], "error: --rows=3 must be >= --k=5; ask for more rows."),
    ],
)
def test_bad_command_lines_fail_before_spark(
    bad_command_line: Callable[..., str], argv: list[str], line: str
) -> None:
    dated = argv[0] == "demo" or "--run-date" in argv
    assert bad_command_line(*argv, *([] if dated else ["--run-date", "2026-11-22"])) == line


def test_malformed_config(bad_command_line: Callable[..., str]) -> None:
    Path("bad.toml").write_text("[job]\nk = = 3\n")
    line = bad_command_line("fit", "--config", "bad.toml", "--input", "x", "--output", "o")
    assert line.startswith("error: config file 'bad.toml' is not valid TOML (")
    Path("bad.toml").write_text('[job]\nk = "five"\n')
    line = bad_command_line("fit", "--config", "bad.toml", "--input", "x", "--output", "o")
    assert line == (
        "error: job.k='five' (config file 'bad.toml') must be an integer; fix the value."
    )


@pytest.mark.parametrize("command", [fit, predict])
def test_help_lists_every_key_of_the_command_and_exits_0(
    capsys: pytest.CaptureFixture[str], command: Any
) -> None:
    assert cli.main([command.__name__.rsplit(".", 1)[1], "--help"]) == 0
    text = capsys.readouterr().out
    for option in OPTIONS:
        if option.key:
            listed = option.cli_flag in text and f"[{option.key}" in text
            assert listed == (option.key in command.KEYS), option.key
    assert "--mode {error,overwrite}" in text and "--no-header" in text
    if command is predict:
        assert "--model DIR the model to score with (required)" in " ".join(text.split())


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
# Texts as Spark 4.3 and Hadoop word them: the error's message, Java frames, and its causes.


def spark_error(condition: str, path: str, *causes: str) -> str:
    """A failure to read ``path``, as a task reports it, with its ``Caused by:`` chain."""
    head = (
        f"[FAILED_READ_FILE.{condition}] Encountered error while reading file {path}.  "
        "SQLSTATE: KD001"
    )
    return "\n".join(
        [
            "An error occurred while calling o88.collectToPython.",
            ": org.apache.spark.SparkException: Job aborted due to stage failure: Task 1 in stage "
            "1.0 failed 4 times, most recent failure: Lost task 1.3 in stage 1.0 (TID 7) "
            f"(10.0.0.5 executor 1): org.apache.spark.SparkException: {head}",
            "\tat org.apache.spark.sql.errors.QueryExecutionErrors$.cannotReadFilesError(x)",
            "Driver stacktrace:",
            f"Caused by: org.apache.spark.SparkException: {head}",
            "\tat org.apache.spark.sql.execution.datasources.FileScanRDD$$anon$1.next(x)",
            *[f"Caused by: {c}\n\tat org.example.Frame.call(Frame.java:1)" for c in causes],
        ]
    )


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
HDFS = "hdfs://nn:8020/lake/dt=2026-11-22/part-00003.parquet"
CORRUPT = {
    "truncated": spark_error(
        "NO_HINT", HDFS, "java.io.EOFException: Reached the end of stream with 1042 bytes left"
    ),
    "checksum": spark_error(
        "CANNOT_READ_FILE_FOOTER",
        "file:/data/in/part-1.parquet",
        "org.apache.hadoop.fs.ChecksumException: Checksum error: file:/data/in/part-1.parquet "
        "at 0 exp: -610680514 got: -1377498319",
    ),
    "orc": spark_error(
        "NO_HINT",
        "hdfs://nn:8020/lake/part-0.orc",
        "org.apache.orc.FileFormatException: Malformed ORC file hdfs://nn:8020/lake/part-0.orc. "
        "Invalid postscript.",
    ),
    "gzip": spark_error(
        "NO_HINT", "file:/data/in/part-0.csv.gz", "java.util.zip.ZipException: Not in GZIP format"
    ),
    "snappy": spark_error(
        "NO_HINT",
        HDFS,
        "java.io.IOException: could not read page in col [x0] optional double x0",
        "org.xerial.snappy.SnappyIOException: [FAILED_TO_UNCOMPRESS] failed to uncompress",
    ),
    "footer without a cause": FOOTER.split("\tat")[0],
}
NOT_CORRUPT = {
    "socket timeout": spark_error(
        "CANNOT_READ_FILE_FOOTER",  # the footer could not be read, but the network is at fault
        HDFS,
        "java.net.SocketTimeoutException: 60000 millis timeout while waiting for channel to be "
        "ready for read. ch : java.nio.channels.SocketChannel[connected local=/10.0.0.5:50010 "
        "remote=/10.0.0.7:9866]",
    ),
    "lost datanode": spark_error(
        "NO_HINT",
        HDFS,
        "org.apache.hadoop.hdfs.BlockMissingException: Could not obtain block: "
        "BP-1401547430-10.0.0.2-1700000000000:blk_1073741901_1077 file=/lake/dt=2026-11-22/"
        "part-00003.parquet No live nodes contain current block Block locations: Dead nodes: "
        "DatanodeInfoWithStorage[10.0.0.7:9866,DS-5e1c,DISK]",
    ),
    "premature eof": spark_error(
        "NO_HINT", HDFS, "java.io.IOException: Premature EOF from inputStream"
    ),
    "s3 throttling": spark_error(
        "NO_HINT",
        "s3a://lake/events/part-0.parquet",
        "org.apache.hadoop.fs.s3a.AWSServiceThrottledException: GET "
        "https://lake.s3.amazonaws.com/events/part-0.parquet on events/part-0.parquet: "
        "software.amazon.awssdk.services.s3.model.S3Exception: Please reduce your request "
        "rate. (Service: S3, Status Code: 503, Request ID: 7XQ):SlowDown",
    ),
    "permission": spark_error(
        "NO_HINT", "file:///data/in/zz.parquet", "java.io.IOException: Permission denied"
    ),
    "deleted while read": spark_error(
        "FILE_NOT_EXIST",
        "file:/data/in/part-1.parquet",
        "java.io.FileNotFoundException: File file:/data/in/part-1.parquet does not exist",
    ),
}


def test_a_corrupt_file_is_bad_input_named_with_its_reason() -> None:
    assert cli.explain(RuntimeError(FOOTER)) == (
        cli.EXIT_BAD_INPUT,
        "input file '/data/in/part-0.parquet' cannot be read (it is not a Parquet file. "
        "Expected magic number at tail, but found [97, 108, 108, 10]); fix or remove the "
        "file, check --format, or pass --conf spark.sql.files.ignoreCorruptFiles=true to skip "
        "files that cannot be read.",
    )
    code, line = cli.explain(RuntimeError(CORRUPT["truncated"]))
    assert (code, line.split(";")[0]) == (
        cli.EXIT_BAD_INPUT,
        f"input file {HDFS!r} cannot be read (Reached the end of stream with 1042 bytes left)",
    )


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_corrupt_files_exit_2(case: str) -> None:
    failure = cli.read_failure(CORRUPT[case])
    assert failure is not None and failure.corrupt, failure
    code, line = cli.explain(RuntimeError(CORRUPT[case]))
    assert code == cli.EXIT_BAD_INPUT and "ignoreCorruptFiles=true" in line


@pytest.mark.parametrize("case", sorted(NOT_CORRUPT))
def test_files_that_could_not_be_reached_exit_1_without_the_corrupt_files_advice(
    case: str,
) -> None:
    """A scheduler retries exit 1; skipping "corrupt" files would silently drop good data."""
    failure = cli.read_failure(NOT_CORRUPT[case])
    assert failure is not None and not failure.corrupt, failure
    code, line = cli.explain(RuntimeError(NOT_CORRUPT[case]))
    assert code == cli.EXIT_FAILURE and "ignoreCorruptFiles" not in line
    assert line.endswith(
        "; its content is not the problem: check that the file system is reachable and the "
        "job may read the file, then run again."
    )


def test_a_read_failure_names_the_file_and_the_root_cause() -> None:
    failure = cli.read_failure(NOT_CORRUPT["permission"])
    assert failure == cli.ReadFailure("/data/in/zz.parquet", "Permission denied", False)
    assert failure.message().startswith(
        "file '/data/in/zz.parquet' could not be read (Permission denied); "
    )
    throttled = cli.read_failure(NOT_CORRUPT["s3 throttling"])
    assert throttled is not None and throttled.path == "s3a://lake/events/part-0.parquet"
    assert throttled.reason.startswith("GET https://lake.s3.amazonaws.com/events/part-0.parquet")
    assert cli.read_failure("[PATH_NOT_FOUND] Path does not exist: file:/x.") is None


class JavaException:
    """What py4j hands Python for a Java exception: a proxy whose methods call the JVM."""

    _target_id = "o77"
    _gateway_client = None

    def __init__(self, text: str, cause: JavaException | None = None) -> None:
        self.text, self.cause = text, cause

    def toString(self) -> str:
        if self.text is None:
            raise ConnectionError("the gateway is closed")
        return self.text

    def getCause(self) -> JavaException | None:
        return self.cause


def py4j_error(exception: JavaException, call: str = "o45.create") -> Exception:
    from py4j.protocol import Py4JJavaError

    return Py4JJavaError(f"An error occurred while calling {call}.\n", exception)


@pytest.mark.parametrize(
    ("exception", "line"),
    [
        (  # a JobFS call on an output the job may not write
            JavaException("java.io.IOException: Mkdirs failed to create /proc/out (exists=false)"),
            "java.io.IOException: Mkdirs failed to create /proc/out (exists=false)",
        ),
        (  # a failed Spark job: its root cause says what is wrong, the wrapper says where
            JavaException(
                "org.apache.spark.SparkException: Job aborted due to stage failure: Task 0 in "
                "stage 12.0 failed 1 times, most recent failure: Lost task 0.0\n\tat x.y(z)",
                JavaException(
                    "org.apache.hadoop.security.AccessControlException: Permission denied: "
                    'user=etl, access=WRITE, inode="/models":hdfs:supergroup:drwxr-xr-x'
                ),
            ),
            "org.apache.hadoop.security.AccessControlException: Permission denied: user=etl, "
            'access=WRITE, inode="/models":hdfs:supergroup:drwxr-xr-x',
        ),
        (  # a root cause without a message: the wrapper's, and the cause's class
            JavaException(
                "org.apache.spark.SparkException: Task failed while writing rows.",
                JavaException("java.lang.NullPointerException"),
            ),
            "org.apache.spark.SparkException: Task failed while writing rows. (caused by "
            "java.lang.NullPointerException)",
        ),
        (  # the JVM is out of reach: what py4j kept
            JavaException(None),  # type: ignore[arg-type]
            "Py4JJavaError: An error occurred while calling o45.create.",
        ),
    ],
)
def test_a_jvm_exception_is_reported_by_its_java_message(
    exception: JavaException, line: str
) -> None:
    error = py4j_error(exception)
    assert cli.describe(error) == line
    assert cli.explain(error) == (cli.EXIT_FAILURE, line)


def test_an_unexpected_jvm_failure_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: Any, **kwargs: Any) -> int:
        raise py4j_error(JavaException("java.io.IOException: Mkdirs failed to create /proc/o"))

    monkeypatch.setattr(runner, "run_on_spark", fail)
    assert cli.main([*FIT, "--run-date", "2026-11-22"]) == cli.EXIT_FAILURE
    assert capsys.readouterr().err.splitlines()[-1] == (
        "error: java.io.IOException: Mkdirs failed to create /proc/o (run with -v for the "
        "traceback)"
    )


def test_other_failures_keep_their_python_type() -> None:
    assert cli.explain(ValueError("bad\nmore")) == (cli.EXIT_FAILURE, "ValueError: bad")
    assert cli.describe(RuntimeError()) == "RuntimeError"


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


def test_a_local_session_leaves_the_process_environment_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """spark.driver.host and bindAddress pin the local driver to 127.0.0.1; SPARK_LOCAL_IP
    in os.environ would outlive the session and bind later ones in this process too."""
    settings: dict[str, str] = {}

    class Builder:
        def master(self, master: str) -> Builder:
            return self

        def appName(self, name: str) -> Builder:
            return self

        def config(self, key: str, value: str) -> Builder:
            settings[key] = value
            return self

        def getOrCreate(self) -> str:
            return "session"

    monkeypatch.setattr(session, "SparkSession", type("SparkSession", (), {"builder": Builder()}))
    monkeypatch.delenv("SPARK_LOCAL_IP", raising=False)
    for name in ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON"):
        monkeypatch.setenv(name, sys.executable)
    before = dict(os.environ)
    assert session.local_session("t", master="local[2]") == "session"
    assert dict(os.environ) == before
    assert settings["spark.driver.host"] == settings["spark.driver.bindAddress"] == "127.0.0.1"


# -- Spark Connect: a server that does not answer -------------------------------------------


def test_a_connect_server_that_does_not_answer_is_one_line(tmp_path: Path) -> None:
    """No JVM: the job is a Connect client that cannot reach its server (a closed port); one
    line naming the URL (token masked) and the fix, exit 2, nothing written."""
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (tmp_path / "in").mkdir()
    url = f"sc://127.0.0.1:{port}/;token=hunter2"
    done = subprocess.run(
        [sys.executable, "-m", "kmeans_spark", *FIT[:2], "in", *FIT[3:], "--remote", url],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, stdin=subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if k != "SPARK_REMOTE"},
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert [line for line in lines if not line.split(" ", 2)[-1].startswith("INFO")] == [
        f"error: cannot reach the Spark Connect server sc://127.0.0.1:{port}/;token=*** (given "
        "by --remote): UNAVAILABLE: Connection refused; start the server "
        "(sbin/start-connect-server.sh) or fix the URL (host, port, ;token=), then run again."
    ]
    assert "hunter2" not in done.stderr and "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]
