"""Fixtures of the Spark Connect tests (issue #17): one Connect server on this machine for
the whole run, started on first use, and a client session per test module.

The server is a subprocess (``spark-submit --class ...SparkConnectServer``, local[2], bound
to 127.0.0.1, a random token), not PySpark's in-process ``remote("local[2]")``: that one
refuses to start in a process that holds a classic session (the ``spark`` fixture of
tests/conftest.py) and, once started, turns every later builder of the process into a
Connect one. Here the classic session is left alone: the client session switches PySpark
to Connect (``SPARK_CONNECT_MODE_ENABLED``) only while its module runs. See
:mod:`kmeans_spark.connectserver`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from kmeans_spark.connectserver import ConnectServer, remote_session, start_server


@pytest.fixture(scope="session")
def connect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConnectServer]:
    from kmeans_spark.session import LOCAL_DEFAULTS, driver_log_options, session_defaults

    conf = {
        **LOCAL_DEFAULTS,
        **session_defaults("local[2]", sys.executable),  # as the job's sessions have them
        "spark.default.parallelism": "2",
    }
    conf.update(driver_log_options(conf, os.environ))  # warnings only, in the server's log
    server = start_server(tmp_path_factory.mktemp("connect"), master="local[2]", conf=conf)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def connect(connect_server: ConnectServer) -> Iterator[Any]:
    """A Spark Connect ``SparkSession`` of the shared server (PySpark in Connect mode while
    the module runs)."""
    with remote_session(connect_server.url) as session:
        yield session
