"""A Spark Connect server on this machine, in a subprocess, and a client session of it (for
the tests and benchmarks of issue #17).

Why not ``SparkSession.builder.remote("local[2]")``: PySpark starts that server *inside the
calling Python process* (``pyspark.sql.connect.session.SparkSession._start_connect_server``:
a classic ``SparkContext`` on this process's JVM with ``spark.plugins=org.apache.spark.sql.
connect.SparkConnectPlugin`` and the builder's settings, the gRPC port 15002, a random
``SPARK_CONNECT_AUTHENTICATE_TOKEN``), and it refuses to when the process already has a
classic session (``SESSION_ALREADY_EXIST``); and once it runs, ``SPARK_CONNECT_MODE_ENABLED``
switches every ``pyspark.sql.functions`` call and every new builder of the process to
Connect. A test process with a classic session fixture therefore cannot hold both. The
server here is a process of its own, as on a real cluster (nothing of the client's JVM or
``SparkContext`` can be used by mistake): ``spark-submit --class ...SparkConnectServer``,
what ``sbin/start-connect-server.sh`` runs, bound to 127.0.0.1 on a free port, with a
random token passed in its environment; the client reaches it as ``sc://localhost`` (gRPC
local credentials: loopback only) with that token.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kmeans_spark.session import CONNECT_MODE

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
#: Settings of the server's session: loopback only, no UI, few shuffle partitions.
SERVER_DEFAULTS: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class ConnectServer:
    """A running server process; :meth:`stop` ends it."""

    process: subprocess.Popen[bytes]
    port: int
    token: str
    log_path: Path

    @property
    def url(self) -> str:
        """The connection string of a client (``localhost``: gRPC's loopback credentials)."""
        return f"sc://localhost:{self.port}/;token={self.token}"

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM (Spark stops its context and Python workers), then SIGKILL to the
        server's process group if it has not exited within ``timeout`` seconds."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)  # its own group (new session)
            self.process.wait(10)


def start_server(
    log_dir: Path,
    *,
    master: str = "local[2]",
    conf: Mapping[str, str] | None = None,
    python: str = sys.executable,
    driver_memory: str = "1g",
    timeout: float = 180.0,
) -> ConnectServer:
    """Start a Connect server with ``master`` and wait until it accepts connections.

    Its Python workers run ``python`` (the package must be importable there); ``conf``
    adds or overrides :data:`SERVER_DEFAULTS`. Its output goes to ``log_dir/connect-server.log``.
    """
    from pyspark.find_spark_home import _find_spark_home

    spark_home = os.environ.get("SPARK_HOME") or _find_spark_home()
    port, token = _free_port(), secrets.token_hex(16)
    settings = {
        **SERVER_DEFAULTS,
        "spark.pyspark.python": python,
        **(conf or {}),
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.connect.grpc.binding.port": str(port),
    }
    cmd = [
        os.path.join(spark_home, "bin", "spark-submit"),
        "--class",
        SERVER_CLASS,
        "--name",
        "kmeans-spark connect server",
        "--master",
        master,
        "--driver-memory",
        driver_memory,
    ]
    for key, value in settings.items():
        cmd += ["--conf", f"{key}={value}"]
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SPARK_REMOTE", "SPARK_LOCAL_REMOTE", CONNECT_MODE, "PYSPARK_SUBMIT_ARGS")
    }
    env.update(
        SPARK_CONNECT_AUTHENTICATE_TOKEN=token,  # in the environment: never on a command line
        PYSPARK_PYTHON=python,
        PYSPARK_DRIVER_PYTHON=python,
    )
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / "connect-server.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=log_dir,  # where Spark may leave spark-warehouse/ and the like
            start_new_session=True,
        )
    server = ConnectServer(process, port, token, log_path)
    deadline = time.monotonic() + timeout
    while not _listening(port):
        if process.poll() is not None:
            raise RuntimeError(
                f"the Spark Connect server exited with code {process.returncode} before "
                f"listening on 127.0.0.1:{port}; its log ({log_path}) ends with:\n"
                + server.log_tail()
            )
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(
                f"the Spark Connect server did not listen on 127.0.0.1:{port} within "
                f"{timeout:.0f} s; its log ({log_path}) ends with:\n" + server.log_tail()
            )
        time.sleep(0.25)
    return server


@contextlib.contextmanager
def remote_session(url: str) -> Iterator[Any]:
    """A Connect client session of ``url``, with PySpark switched to Connect for its
    duration (``SPARK_CONNECT_MODE_ENABLED``) and back afterwards; the session is stopped
    on exit. Built with the Connect builder itself, so a classic session of this process,
    if any, is left alone (unused meanwhile)."""
    from pyspark.sql.connect.session import SparkSession as RemoteSparkSession

    before = os.environ.get(CONNECT_MODE)
    os.environ[CONNECT_MODE] = "1"
    session = None
    try:
        session = RemoteSparkSession.builder.remote(url).create()
        yield session
    finally:
        try:
            if session is not None:
                session.stop()
        finally:
            if before is None:
                os.environ.pop(CONNECT_MODE, None)
            else:
                os.environ[CONNECT_MODE] = before
