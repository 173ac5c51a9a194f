"""Shared fixtures: one local[2] SparkSession for the whole run, created on first use."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything outside tests/unit/ needs a JVM and is marked ``spark`` (so
    ``-m "not spark"`` runs the fast, JVM-free tests alone)."""
    for item in items:
        if f"{os.sep}unit{os.sep}" not in str(item.fspath):
            item.add_marker(pytest.mark.spark)
