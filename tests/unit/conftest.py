"""Fixtures of the JVM-free tests."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kmeans_spark import blockstore


@pytest.fixture
def local_dirs(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Block files under the test's own directory, as under an executor's local dir
    (``pytestmark = pytest.mark.usefixtures("local_dirs")`` in a module of block tests)."""
    monkeypatch.setenv("SPARK_LOCAL_DIRS", str(tmp_path))
    yield str(tmp_path)
    blockstore.forget(str(tmp_path))


@pytest.fixture
def no_spark(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Work in an empty directory, and fail the test if a command would start Spark (the
    command-line tests: ``pytestmark = pytest.mark.usefixtures("no_spark")``)."""
    from kmeans_spark.app import runner

    monkeypatch.chdir(tmp_path)

    def refuse(*args: Any, **kwargs: Any) -> int:
        raise AssertionError("this command line should have failed before Spark starts")

    monkeypatch.setattr(runner, "run_on_spark", refuse)
    return tmp_path


@pytest.fixture
def bad_command_line(capsys: pytest.CaptureFixture[str], no_spark: Path) -> Callable[..., str]:
    """Run a command line that must fail before Spark starts and return its one error line,
    after checking the contract: exit 2, nothing on stdout, exactly one ``error:`` line on
    stderr (the last) and no traceback, nothing written (not even a temporary sibling)."""
    from kmeans_spark.app import cli

    def run(*argv: str) -> str:
        before = set(os.listdir("."))  # what the test made (a config file)
        assert cli.main(list(argv)) == cli.EXIT_BAD_INPUT
        out, err = capsys.readouterr()
        assert out == ""
        lines = err.splitlines()
        errors = [line for line in lines if line.startswith("error: ")]
        assert errors == lines[-1:] and len(errors) == 1, err
        assert "Traceback" not in err
        assert set(os.listdir(".")) <= before
        return errors[0]

    return run
