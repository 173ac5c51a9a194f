"""The quiet worker daemon, against a real daemon process with this test as the executor.

No JVM: the test speaks the executor's side of the daemon protocol over a Unix socket
(read the socket path, connect, read the forked worker's pid, close), which is exactly what
an executor does when it retires an idle worker after a minute or at shutdown.
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _read_exact(read: object, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = read(n - len(data))  # type: ignore[operator]
        if not chunk:
            raise EOFError(f"got {len(data)} of {n} bytes")
        data += chunk
    return data


def _read_int(read: object) -> int:
    return int(struct.unpack("!i", _read_exact(read, 4))[0])


def _exited(pid: int, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def retire_an_idle_worker(module: str, sock_dir: Path) -> tuple[bool, str]:
    """Start ``module`` as Spark starts its daemon, have it fork a worker, close the worker's
    socket as the executor does, then stop the daemon. Returns (worker exited, daemon stderr)."""
    env = {
        **os.environ,
        "PYTHON_UNIX_DOMAIN_ENABLED": "true",
        "PYTHON_WORKER_FACTORY_SOCK_DIR": str(sock_dir),
        "SPARK_REUSE_WORKER": "1",
        "PYTHON_DAEMON_KILL_WORKER_ON_FLUSH_FAILURE": "true",  # Spark 4's default
    }
    daemon = subprocess.Popen(
        [sys.executable, "-m", module],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert daemon.stdout is not None and daemon.stdin is not None
        path = _read_exact(daemon.stdout.read, _read_int(daemon.stdout.read)).decode()
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(path)
        pid = _read_int(conn.recv)
        time.sleep(0.2)  # the worker is now idle, waiting for a task
        conn.close()
        exited = _exited(pid)
        time.sleep(0.2)  # let it print, if it prints
        daemon.stdin.close()  # the executor is gone: the daemon shuts down
        daemon.wait(timeout=30)
        assert daemon.stderr is not None
        return exited, daemon.stderr.read().decode(errors="replace")
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()


def test_spark_daemon_prints_a_traceback_when_an_idle_worker_is_retired(tmp_path: Path) -> None:
    """The control: the noise this module exists to remove (PySpark 4.x over a Unix socket).
    If a PySpark upgrade makes this fail, Spark fixed it and the module can go."""
    exited, err = retire_an_idle_worker("pyspark.daemon", tmp_path)
    assert exited
    assert "BrokenPipeError" in err, err


def test_quiet_daemon_retires_an_idle_worker_silently(tmp_path: Path) -> None:
    exited, err = retire_an_idle_worker("kmeans_spark.worker_daemon", tmp_path)
    assert exited, "the retired worker must still exit"
    assert "Traceback" not in err and "Error" not in err, err


def test_quiet_daemon_imports_nothing_that_starts_threads() -> None:
    """The daemon forks its workers; numpy's BLAS or pyarrow threads must not exist yet."""
    probe = (
        "import sys, kmeans_spark.worker_daemon; "
        "print(sorted(m for m in ('numpy', 'pandas', 'pyarrow', 'pyspark.ml') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    ("master", "quiet"),
    [
        ("local", True),
        ("local[2]", True),
        ("local[*]", True),
        ("local-cluster[2,1,1024]", False),
        ("spark://127.0.0.1:7077", False),
        ("yarn", False),
    ],
)
def test_session_defaults_choose_the_quiet_daemon_only_in_process(master: str, quiet: bool) -> None:
    from kmeans_spark.session import DAEMON_MODULE, UNIX_SOCKET_IPC, session_defaults

    settings = session_defaults(master, sys.executable)
    assert settings[UNIX_SOCKET_IPC] == "true"
    assert (DAEMON_MODULE in settings) == quiet


def test_session_defaults_skip_the_quiet_daemon_when_the_python_cannot_import_it(
    tmp_path: Path,
) -> None:
    from kmeans_spark.session import DAEMON_MODULE, session_defaults

    bare = tmp_path / "python"  # a Python without this package: the system one, isolated
    bare.write_text(f'#!/bin/sh\nexec {sys.executable} -I -S "$@"\n')
    bare.chmod(0o755)
    assert DAEMON_MODULE not in session_defaults("local[2]", str(bare))
    assert DAEMON_MODULE not in session_defaults("local[2]", str(tmp_path / "no-such-python"))


def test_a_package_found_only_through_pythonpath_gets_sparks_own_daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under spark-submit the driver's PYTHONPATH has the --py-files zip, which the daemon's
    does not: the check must not count it."""
    import shutil

    from kmeans_spark import session

    copy = tmp_path / "src"
    shutil.copytree(Path(session.__file__).parent, copy / "kmeans_spark")
    bare = tmp_path / "python"  # no site-packages, so the package is found only via PYTHONPATH
    bare.write_text(f'#!/bin/sh\nexec {sys.executable} -S "$@"\n')
    bare.chmod(0o755)
    monkeypatch.setenv("PYTHONPATH", str(copy))
    monkeypatch.chdir(tmp_path)
    session._can_import.cache_clear()
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec(sys.argv[1]) is None)"
    with_path = subprocess.run([str(bare), "-c", probe, session.QUIET_DAEMON], check=False)
    assert with_path.returncode == 0  # the driver's view: found, through PYTHONPATH
    assert not session._can_import(str(bare), session.QUIET_DAEMON)  # the daemon's view
    monkeypatch.delenv("PYTHONPATH")
    session._can_import.cache_clear()
