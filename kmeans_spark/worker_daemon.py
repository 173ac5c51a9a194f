"""Spark's Python worker daemon, quiet when the executor retires an idle worker.

Why this exists: over a Unix domain socket (:data:`kmeans_spark.session.UNIX_SOCKET_IPC`,
which takes ~40 ms off every Spark job of a fit) PySpark 4.x prints a ``BrokenPipeError``
traceback each time the executor retires an idle Python worker: the executor closes the
worker's socket, the worker wakes on end-of-file, writes an error reply into its buffer, and
the daemon's final flush fails on the closed socket (over TCP the same write is silently
accepted). Executors retire idle workers after a minute without Python tasks and when the
session stops, so the traceback showed up after correct runs and after a job's one-line
error. It is noise: the worker was idle and was meant to exit.

This module runs ``pyspark.daemon`` unchanged except that a worker whose socket was closed
by the executor exits as if told to, without a traceback. Every other error is untouched.
:func:`kmeans_spark.session.session_defaults` selects it (``spark.python.daemon.module``)
only where the executors' Python can import this package, because a daemon that fails to
start fails every Python task.

It imports nothing but ``pyspark.daemon``: the daemon forks its workers, and a library that
starts threads at import (numpy's BLAS, pyarrow) must not be loaded before a fork.
"""

from __future__ import annotations

import socket
from typing import Any

import pyspark.daemon as _daemon

_spark_worker = _daemon.worker

#: The errors of writing to a socket whose other end the executor has closed.
CLOSED_BY_EXECUTOR = (BrokenPipeError, ConnectionResetError)


def worker(sock: socket.socket, authenticated: bool) -> int:
    """Run one task in this worker, as ``pyspark.daemon.worker`` does.

    A non-zero return makes the daemon's worker loop wait for the socket to close and exit
    the process: what Spark does after a failed flush, minus the printed traceback.
    """
    try:
        code: Any = _spark_worker(sock, authenticated)
    except CLOSED_BY_EXECUTOR:
        sock.close()  # the daemon's loop then ends this worker at once, whatever the peer does
        return 1
    return int(code)


def main() -> None:
    """Start the daemon with :func:`worker` in place of Spark's own."""
    _daemon.worker = worker
    _daemon.manager()


if __name__ == "__main__":
    main()
