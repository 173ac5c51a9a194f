"""A real standalone cluster (master + 2 workers, 1 core and 1 GiB each) on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .standalone import Cluster, start_cluster

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    import yaml

    with open(ROOT / "docker-compose.yml") as fh:
        data: dict[str, Any] = yaml.safe_load(fh)
    return data


def compose_command(service: str) -> list[str]:
    return [str(a) for a in compose()["services"][service]["command"]]


@pytest.fixture(scope="session")
def executor_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A Python that has the dependencies but NOT kmeans_spark, for the executors: so the
    package must arrive the way a user ships it (--py-files), not from the dev install."""
    venv = tmp_path_factory.mktemp("executor-venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = sysconfig.get_paths()["purelib"]
    target = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # A plain path line: the dev venv's packages, without processing its .pth files (the
    # editable install of kmeans_spark is one of them).
    Path(target, "dev-site-packages.pth").write_text(purelib + "\n")
    python = str(venv / "bin" / "python")
    check = (
        "import numpy, pyarrow, pyspark\n"
        "try:\n import kmeans_spark\nexcept ImportError:\n print('ok')"
    )
    probe = subprocess.run(
        [python, "-c", check],
        capture_output=True,
        text=True,
        check=True,
        cwd=venv,  # not the checkout, whose kmeans_spark/ would be importable from the cwd
    )
    assert probe.stdout.strip() == "ok", "executor python must see the deps but not the package"
    return python


@pytest.fixture(scope="session")
def package_zip() -> Path:
    env = dict(os.environ, KMEANS_SPARK_VENV=str(Path(sys.executable).parent.parent))
    subprocess.run(
        ["bash", str(ROOT / "scripts" / "package.sh")],
        check=True,
        env=env,
        cwd=ROOT,
        capture_output=True,
    )
    return ROOT / "dist" / "kmeans_spark.zip"


@pytest.fixture(scope="module")  # not session: a module's own fixture may start before it
def cluster(tmp_path_factory: pytest.TempPathFactory, executor_python: str) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("standalone")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    running = start_cluster(root, workers=2, cores=1, memory="1g", python=executor_python)
    try:
        yield running
    finally:
        running.stop()
