"""The batch job on a real standalone cluster: shipped package, local parity, lost executor,
lost driver. The job and its data are exactly what docker-compose.yml's ``datagen`` and
``submit`` services run, with this cluster's master URL and temporary paths swapped in."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from .conftest import ROOT, compose_command
from .standalone import Cluster


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


@pytest.fixture(scope="module")
def local_run(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("local") / "run"
    result = run(job_args("local[2]", data, out))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def cluster_run(
    cluster: Cluster,
    data: Path,
    package_zip: Path,
    executor_python: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    out = tmp_path_factory.mktemp("cluster") / "run"
    result = run(job_args(cluster.master_url, data, out), executor_python=executor_python)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


def test_cluster_output_equals_local_output(local_run: Path, cluster_run: Path) -> None:
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
    cluster: Cluster, data: Path, cluster_run: Path, executor_python: str, tmp_path: Path
) -> None:
    out = tmp_path / "run"

    def kill_driver(proc: subprocess.Popen[str]) -> None:
        os.killpg(proc.pid, signal.SIGKILL)

    code, _ = run_until(
        job_args(cluster.master_url, data, out),
        "iteration 2:",
        kill_driver,
        executor_python=executor_python,
    )
    assert code != 0
    assert not out.exists()  # nothing at the final path; at most a temporary sibling
    rerun = run(job_args(cluster.master_url, data, out), executor_python=executor_python)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    np.testing.assert_allclose(centers(out), centers(cluster_run), rtol=1e-9, atol=0)
