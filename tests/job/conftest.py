"""The batch job through real ``spark-submit`` subprocesses (scripts/submit.sh, local mode)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def error_lines(self) -> list[str]:
        """The job's ``error:`` lines (spark-submit merges the Python driver's stderr into
        its stdout, so look in both)."""
        text = self.stdout + "\n" + self.stderr
        return [line for line in text.splitlines() if line.startswith("error: ")]


FAST_JVM_START = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


def in_process(spark: Any, capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    """The job's command line run in this process on the tests' session (its checks that
    need Spark, without the ~10 s of a spark-submit): exit code, stdout, stderr."""
    from kmeans_spark.app import cli

    capsys.readouterr()
    code = cli.main(list(args), spark=spark)
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


class InputScans:
    """The stages of this session that read at least ``rows`` records from files (Spark's
    own input metrics, from its status store): each is one full read of an input of
    ``rows`` rows. Reading the resident blocks' cached handles records a handful of
    records per pass, not ``rows``; a pass over block files records none."""

    def __init__(self, spark: Any, rows: int) -> None:
        self._store = spark.sparkContext._jsc.sc().statusStore()
        self._rows = rows
        self._before = {s.stageId() for s in self._stages()}

    def _stages(self) -> list[Any]:
        defaults = [getattr(self._store, f"stageList$default${i}")() for i in range(2, 6)]
        seq = self._store.stageList(None, *defaults)
        return [seq.apply(i) for i in range(seq.size())]

    def since(self) -> list[str]:
        """Names of the new stages that read the input, oldest first."""
        new = [s for s in self._stages() if s.stageId() not in self._before]
        return [
            str(s.name())
            for s in sorted(new, key=lambda s: s.stageId())
            if s.inputRecords() >= self._rows
        ]


def submit(
    *args: str, master: str = "local[2]", timeout: int = 600, env: dict[str, str] | None = None
) -> Run:
    env = {**os.environ, **(env or {})}
    env["KMEANS_SPARK_VENV"] = str(Path(sys.executable).parent.parent)
    # the driver JVM of these small runs starts faster with C1 only and a serial GC (about
    # 1.5 s of 13 s per run, measured); the job's own logging rule is unaffected
    env.setdefault("SPARK_SUBMIT_OPTS", FAST_JVM_START)
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "submit.sh"), "--master", master, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def summary(path: Path) -> dict[str, Any]:
    return json.loads((path / "summary.json").read_text())


def assert_nothing_written(out: Path) -> None:
    """No output and no temporary sibling left behind."""
    assert not out.exists(), f"{out} should not exist"
    leftovers = list(out.parent.glob(out.name + ".__*")) if out.parent.exists() else []
    assert leftovers == []


@pytest.fixture(scope="session")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two dated partitions of 3-D blobs as CSV, and the same data as Parquet."""
    from kmeans_spark.datagen import make_blobs, write_blobs

    root = tmp_path_factory.mktemp("lake")
    for i, date in enumerate(["2026-11-21", "2026-11-22"]):
        blobs = make_blobs(1500 + 500 * i, 3, 4, spread=0.5, seed=100 + i)
        write_blobs(str(root / "csv" / f"dt={date}"), blobs, "csv", files=2)
        write_blobs(str(root / "parquet" / f"dt={date}"), blobs, "parquet", files=2)
    return root
