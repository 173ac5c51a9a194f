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
from typing import NoReturn

from kmeans_spark.errors import KMeansInputError

log = logging.getLogger("kmeans_spark")

#: The subcommands, in the order ``--help`` lists them (modules of kmeans_spark.app).
COMMANDS = ("fit", "predict", "demo")

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


def one_line(exc: BaseException) -> str:
    """The first meaningful line of an error (Spark's carry a JVM stack trace after it)."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0].strip()[:2000]


_READ_FAILURE = re.compile(
    r"\[FAILED_READ_FILE[.\w]*\] Encountered error while reading file (.+?)\.(?:\s|$)"
)
_CAUSE = re.compile(r"^Caused by: (?:[\w.$]+(?:Exception|Error): )?(.*)$", re.MULTILINE)


def read_failure(text: str) -> str | None:
    """Our line for Spark's failure to read an input file (corrupt, truncated, of another
    format, unreadable), from the error's text with its Java causes; None for others."""
    found = _READ_FAILURE.search(text)
    if found is None:
        return None
    path = found.group(1)
    local = re.sub(r"^file:/*", "/", path)
    causes = [c.strip() for c in _CAUSE.findall(text) if c.strip()]
    reason = causes[-1] if causes else "Spark gives no reason"
    # Parquet's reason names the file again ("file:/x.parquet is not a Parquet file")
    reason = re.sub(r"^(?:file:)?/*" + re.escape(local.lstrip("/")) + r"\b", "it", reason)
    return (
        f"input file {local!r} cannot be read ({reason}); fix or remove the file, check "
        "--format, or pass --conf spark.sql.files.ignoreCorruptFiles=true to skip files "
        "that cannot be read."
    )


def explain(exc: Exception) -> str | None:
    """Our one-line message for a Spark error that comes from bad input, else None."""
    if "pyspark" not in sys.modules:  # no Spark yet: not a Spark error
        return None
    from pyspark.errors import AnalysisException

    text = f"{exc}\n{getattr(exc, '_stackTrace', '') or ''}"
    failure = read_failure(text)
    if failure is not None:
        return failure
    if isinstance(exc, AnalysisException):  # an unknown column, a bad expression
        return one_line(exc)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
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
        message = explain(exc)
        if message is not None:
            print(f"error: {message}", file=sys.stderr, flush=True)
            return EXIT_BAD_INPUT
        print(
            f"error: {type(exc).__name__}: {one_line(exc)} (run with -v for the traceback)",
            file=sys.stderr,
            flush=True,
        )
        return EXIT_FAILURE
