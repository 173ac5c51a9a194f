"""Shared fixtures: one local[2] SparkSession for the whole run, created on first use."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    from kmeans_spark.session import session_defaults

    builder = SparkSession.builder
    for key, value in session_defaults("local[2]", sys.executable).items():  # as the job has them
        builder = builder.config(key, value)
    session = (
        builder.master("local[2]")
        .appName("kmeans-spark-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", "2")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def block_root(spark: object) -> str:
    """Where this session's fits keep their block files (a directory per fit): the first
    local directory a Python worker gets, asked of a task."""
    dirs = (
        spark.sparkContext.parallelize([0], 1)  # type: ignore[attr-defined]
        .map(lambda _: os.environ.get("SPARK_LOCAL_DIRS", ""))
        .collect()[0]
    )
    return os.path.join(str(dirs.split(",")[0]), "kmeans_spark")


@pytest.fixture(autouse=True)
def no_leaked_blocks(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails a test on the shared session that leaves a fit's block files behind: a fit
    removes its own, whether it succeeds or fails (also when its load job fails, e.g. on a
    corrupt input file); a leak fills executors' disks."""
    if "spark" not in request.fixturenames:
        yield
        return
    root = request.getfixturevalue("block_root")
    before = set(os.listdir(root)) if os.path.isdir(root) else set()
    yield
    after = set(os.listdir(root)) if os.path.isdir(root) else set()
    assert after <= before, f"block files of fits {sorted(after - before)} left in {root}"


#: Test tiers by directory: tests/spark/ (a local SparkSession), tests/job/ (spark-submit
#: subprocesses), tests/cluster/ (a standalone cluster on 127.0.0.1), tests/connect/ (a Spark
#: Connect server on 127.0.0.1, tests/connect/conftest.py); tests/unit/ needs none.
TIERS = ("spark", "job", "cluster", "connect")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its tier (``job``, ``cluster``, ``connect``) and with ``spark``
    when it needs a JVM: everything outside tests/unit/ except modules marked ``jvm_free``.
    So ``-m "not spark"`` runs every JVM-free test (seconds), and each tier runs alone:
    ``-m "spark and not job and not cluster and not connect"``, ``-m job``, ``-m cluster``,
    ``-m connect``."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        tier = next((t for t in TIERS if t in parts[-3:-1]), None)
        if tier in ("job", "cluster", "connect"):
            item.add_marker(getattr(pytest.mark, tier))
        if tier is not None and item.get_closest_marker("jvm_free") is None:
            item.add_marker(pytest.mark.spark)
