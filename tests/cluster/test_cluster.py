"""The batch job on a real standalone cluster: shipped package, local parity, lost executor,
lost driver. The job and its data are exactly what docker-compose.yml's ``datagen`` and
``submit`` services run, with this cluster's master URL and temporary paths swapped in.

Two and a half cluster submissions serve the three tests: a run whose driver is killed at
iteration 2 and its rerun (also the cluster run compared with the local one, which runs in
the background meanwhile), and a run that loses an executor at iteration 2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from .conftest import ROOT, compose_command
from .standalone import FAST_JVM_START, Cluster


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data the compose file's ``datagen`` service makes, written by the same command."""
    root = tmp_path_factory.mktemp("cluster-data")
    args = compose_command("datagen")
    assert args[:2] == ["python3", "scripts/make_blobs.py"]
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_blobs.py"), str(root), *args[3:]],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    return root


def job_args(master: str, data: Path, out: Path) -> list[str]:
    """The compose file's ``submit`` command, with this cluster's master and these paths."""
    args = compose_command("submit")
    assert args[:2] == ["bash", "scripts/submit.sh"]
    swap = {
        "spark://spark-master:7077": master,
        "out/compose/data": str(data),
        "out/compose/runs/{run_date}": str(out),
    }
    return [swap.get(a, a) for a in args[2:]]


def submit_cmd(args: list[str]) -> list[str]:
    return ["bash", str(ROOT / "scripts" / "submit.sh"), *args]


def job_env(executor_python: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env["KMEANS_SPARK_VENV"] = str(Path(sys.executable).parent.parent)
    env["PYSPARK_DRIVER_PYTHON"] = sys.executable
    env.setdefault("SPARK_SUBMIT_OPTS", FAST_JVM_START)  # the driver JVM, as tests/job's
    if executor_python:
        env["PYSPARK_PYTHON"] = executor_python
    return env


def run(args: list[str], executor_python: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        submit_cmd(args),
        capture_output=True,
        text=True,
        timeout=600,
        env=job_env(executor_python),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )


def run_until(
    args: list[str], line_prefix: str, action: Any, executor_python: str | None = None
) -> tuple[int, str]:
    """Run the job, call ``action(proc)`` when a stdout line contains ``line_prefix``."""
    proc = subprocess.Popen(
        submit_cmd(args),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=job_env(executor_python),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    lines: list[str] = []
    fired = False
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if not fired and line_prefix in line:
            fired = True
            action(proc)
    code = proc.wait(timeout=600)
    assert fired, "".join(lines[-40:])
    return code, "".join(lines)


def centers(out: Path) -> np.ndarray:
    return np.array(json.loads((out / "summary.json").read_text())["scaled_centers"])


class LocalJob:
    """The local run, started in the background: it goes on while the cluster starts and
    runs (the cluster's daemons and a submission mostly wait)."""

    def __init__(self, data: Path, out: Path) -> None:
        self.out = out
        self.log = out.with_name("local.log")
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(
                submit_cmd(job_args("local[2]", data, out)),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=job_env(None),
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def result(self) -> Path:
        """The finished run's output directory."""
        code = self.proc.wait(timeout=600)
        assert code == 0, self.log.read_text(errors="replace")[-6000:]
        return self.out

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=60)


@pytest.fixture(scope="module")
def local_job(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalJob]:
    job = LocalJob(data, tmp_path_factory.mktemp("local") / "run")
    try:
        yield job
    finally:
        job.stop()


@pytest.fixture(scope="module")
def local_run(local_job: LocalJob) -> Path:
    return local_job.result()


@dataclass
class DriverKilled:
    """A cluster run whose driver was killed mid-fit, and the rerun into the same output."""

    code: int
    output: str
    left_behind: bool  # whether anything stood at the output path after the kill
    rerun: subprocess.CompletedProcess[str]
    out: Path


@pytest.fixture(scope="module")
def driver_killed(
    local_job: LocalJob,  # first: the local run starts before the cluster does
    cluster: Cluster,
    data: Path,
    package_zip: Path,
    executor_python: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> DriverKilled:
    """The job killed with its driver at iteration 2, then rerun to the end. The rerun is a
    whole cluster run from a fresh application, so it is also the cluster run the other
    tests compare with: one spark-submit fewer (the tests assert on what this records)."""
    out = tmp_path_factory.mktemp("cluster") / "run"

    def kill_driver(proc: subprocess.Popen[str]) -> None:
        os.killpg(proc.pid, signal.SIGKILL)

    args = job_args(cluster.master_url, data, out)
    code, output = run_until(args, "iteration 2:", kill_driver, executor_python=executor_python)
    left_behind = out.exists()
    rerun = run(args, executor_python=executor_python)
    return DriverKilled(code, output, left_behind, rerun, out)


@pytest.fixture(scope="module")
def cluster_run(driver_killed: DriverKilled) -> Path:
    result = driver_killed.rerun
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return driver_killed.out


def test_cluster_output_equals_local_output(cluster_run: Path, local_run: Path) -> None:
    """The cluster's run (the rerun of :func:`driver_killed`) and the local run: the same
    centres, sizes and iterations. (``cluster_run`` first: the local run, started in the
    background before the cluster, is only waited for once the cluster's runs are done.)"""
    np.testing.assert_allclose(centers(cluster_run), centers(local_run), rtol=1e-9, atol=0)
    a = json.loads((local_run / "summary.json").read_text())
    b = json.loads((cluster_run / "summary.json").read_text())
    assert a["cluster_sizes"] == b["cluster_sizes"] and a["iterations"] == b["iterations"] == 8
    assert (cluster_run / "_SUCCESS").exists()


def test_killed_executor_changes_nothing(
    cluster: Cluster, data: Path, cluster_run: Path, executor_python: str, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    killed: list[int] = []

    def kill_one_executor(_: subprocess.Popen[str]) -> None:
        pids = cluster.executor_pids()
        assert pids, "no executor to kill"
        os.kill(pids[0], signal.SIGKILL)
        killed.append(pids[0])

    code, output = run_until(
        job_args(cluster.master_url, data, out),
        "iteration 2:",
        kill_one_executor,
        executor_python=executor_python,
    )
    assert code == 0, output[-4000:]
    assert killed
    np.testing.assert_allclose(centers(out), centers(cluster_run), rtol=1e-9, atol=0)
    assert json.loads((out / "summary.json").read_text())["iterations"] == 8
    deadline = time.monotonic() + 60  # the worker replaces the lost executor for later tests
    while cluster.alive_workers() < 2 and time.monotonic() < deadline:
        time.sleep(1)


def test_killed_driver_fails_cleanly_and_a_rerun_succeeds(
    driver_killed: DriverKilled, local_run: Path
) -> None:
    """SIGKILL of the driver (spark-submit and its Python) at iteration 2: a failed exit,
    nothing at the final path; the rerun into the same path succeeds with the same centres."""
    assert driver_killed.code != 0, driver_killed.output[-3000:]
    assert not driver_killed.left_behind  # nothing at the final path; at most a temp sibling
    rerun = driver_killed.rerun
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    np.testing.assert_allclose(centers(driver_killed.out), centers(local_run), rtol=1e-9, atol=0)
