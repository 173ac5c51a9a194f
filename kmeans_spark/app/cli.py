"""Command line of the batch job: ``spark-submit jobs/kmeans_job.py COMMAND ...`` or
``python -m kmeans_spark COMMAND ...`` (local mode).

Each subcommand is one module of this package, listed in :data:`COMMANDS`, with ``HELP``,
``DESCRIPTION``, ``add_arguments(parser)`` and ``run(args) -> exit code``; a new subcommand
is one new module and its name here.

Exit codes, which schedulers rely on: 0 success; 2 bad configuration or input (one line
``error: ...`` on stderr naming the value, the rule and the fix; no stack trace); 1 any
other failure (one line; ``-v`` logs the traceback).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from kmeans_spark.errors import KMeansInputError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger("kmeans_spark")

#: The subcommands, in the order ``--help`` lists them (modules of kmeans_spark.app).
COMMANDS = ("fit", "predict", "elbow", "recommend", "demo")

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2


class UsageError(KMeansInputError):
    """A command line the parser refuses (unknown flag, missing argument)."""


class _Parser(argparse.ArgumentParser):
    """Reports a bad command line in one ``error:`` line, as every other bad input."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help).")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kmeans-spark",
        description="Distributed k-means on Apache Spark: " + ", ".join(COMMANDS) + ".",
        epilog="Exit codes: 0 success, 2 bad configuration or input, 1 other failure.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"kmeans_spark.app.{name}")
        command = sub.add_parser(name, help=module.HELP, description=module.DESCRIPTION)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0].strip()[:2000] if text.strip() else ""


def _java_exception_line(exc: BaseException) -> str | None:
    """For a JVM exception pyspark passes on as is (``Py4JJavaError``, whose own text is
    ``An error occurred while calling o45.load.``): the Java exception in one line, its root
    cause (``java.io.IOException: Mkdirs failed to create /x``), or the exception itself when
    the cause has no message. None for any other exception."""
    protocol = sys.modules.get("py4j.protocol")
    if protocol is None or not isinstance(exc, protocol.Py4JJavaError):
        return None
    try:
        top = root = exc.java_exception
        while root.getCause() is not None:
            root = root.getCause()
        top_line, root_line = _first_line(top.toString()), _first_line(root.toString())
    except Exception:  # the JVM is out of reach: what py4j kept of the error
        return f"{type(exc).__name__}: {_first_line(str(exc.errmsg or ''))}"
    if ": " not in root_line:  # a cause without a message says less than its wrapper
        return f"{top_line} (caused by {root_line})" if root_line != top_line else top_line
    return root_line


def one_line(exc: BaseException) -> str:
    """The first meaningful line of an error (Spark's carry a JVM stack trace after it); for
    a JVM exception, the Java exception's own, class name first."""
    java = _java_exception_line(exc)
    if java is not None:
        return java
    return _first_line(str(exc)) or type(exc).__name__


def describe(exc: BaseException) -> str:
    """``one_line`` with the exception's type in front (a Java line has its class already)."""
    java = _java_exception_line(exc)
    if java is not None:
        return java
    text = _first_line(str(exc))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


_READ_FAILURE = re.compile(
    r"\[FAILED_READ_FILE(?:\.(\w+))?\] Encountered error while reading file (.+?)\.(?:\s|$)"
)
_CAUSE = re.compile(r"^Caused by: (.*)$", re.MULTILINE)
_CLASS = re.compile(r"^[\w.$]+(?:Exception|Error): ")
#: What a reader says about a file whose bytes are wrong: corrupt, truncated, of another
#: format. A file that could not be reached (a socket timeout, a lost DataNode, an object
#: store's throttling, no permission) says none of these; a retry may read it.
_CORRUPT = re.compile(
    r"not an? [\w ]*file|magic number|footer|malformed|corrupt|checksum|EOFException"
    r"|unexpected end of|end of (?:the )?stream|not in gzip format|FAILED_TO_UNCOMPRESS"
    r"|invalid (?:block type|distance|stored block lengths|code lengths)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ReadFailure:
    """Spark's failure to read one file: which, why (the root cause), and whether the file
    itself is at fault (corrupt, truncated, of another format) or only its reading."""

    path: str
    reason: str
    corrupt: bool

    def message(self) -> str:
        if self.corrupt:
            return (
                f"input file {self.path!r} cannot be read ({self.reason}); fix or remove the "
                "file, check --format, or pass --conf spark.sql.files.ignoreCorruptFiles=true "
                "to skip files that cannot be read."
            )
        return (
            f"file {self.path!r} could not be read ({self.reason}); its content is not the "
            "problem: check that the file system is reachable and the job may read the file, "
            "then run again."
        )


def read_failure(text: str) -> ReadFailure | None:
    """Spark's failure to read a file, from the error's text with its Java causes; None for
    any other error. The root cause decides whether the file is at fault: a footer that
    cannot be read because a socket timed out is no corrupt file."""
    found = _READ_FAILURE.search(text)
    if found is None:
        return None
    kind, path = found.group(1) or "", found.group(2)
    local = re.sub(r"^file:/*", "/", path)
    causes = [c.strip() for c in _CAUSE.findall(text) if c.strip()]
    root = causes[-1] if causes else ""
    corrupt = bool(_CORRUPT.search(root)) if root else kind == "CANNOT_READ_FILE_FOOTER"
    reason = _CLASS.sub("", root) or "Spark gives no reason"
    # Parquet's reason names the file again ("file:/x.parquet is not a Parquet file")
    reason = re.sub(r"^(?:file:)?/*" + re.escape(local.lstrip("/")) + r"\b", "it", reason)
    return ReadFailure(local, reason, corrupt)


def error_text(exc: BaseException) -> str:
    """An error's whole text: for Spark's, with the Java stack trace and its causes ("" when
    the JVM cannot give it)."""
    try:
        return f"{exc}\n{getattr(exc, '_stackTrace', '') or ''}"
    except Exception:
        return ""


def explain(exc: Exception) -> tuple[int, str]:
    """The exit code and the one line (without ``error:``) for a failure the job did not
    report itself: bad input Spark found (exit 2), or any other failure (exit 1)."""
    if "pyspark" in sys.modules:  # else no Spark yet: not a Spark error
        from pyspark.errors import AnalysisException

        failure = read_failure(error_text(exc))
        if failure is not None:
            return (EXIT_BAD_INPUT if failure.corrupt else EXIT_FAILURE), failure.message()
        if isinstance(exc, AnalysisException):  # an unknown column, a bad expression
            return EXIT_BAD_INPUT, one_line(exc)
    return EXIT_FAILURE, describe(exc)


def main(argv: Sequence[str] | None = None, *, spark: SparkSession | None = None) -> int:
    """Run one command line; return its exit code. ``spark``: run on this session instead
    of starting one (the tests run the job's Spark-side checks in-process this way)."""
    try:
        args = build_parser().parse_args(argv)
        args.session = spark
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return EXIT_BAD_INPUT
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("py4j").setLevel(logging.WARNING)
    try:
        return int(args.run(args))
    except KMeansInputError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return EXIT_BAD_INPUT
    except Exception as exc:
        log.debug("failure", exc_info=True)
        code, line = explain(exc)
        hint = " (run with -v for the traceback)" if code == EXIT_FAILURE else ""
        print(f"error: {line}{hint}", file=sys.stderr, flush=True)
        return code
