"""A real Spark standalone cluster on 127.0.0.1, started from the installed pyspark.

Used by the cluster tests (tests/cluster/conftest.py); it starts one master and N
workers with ``spark-class`` directly (not the daemonising ``sbin`` scripts), each in its own
process group with its own work and log directories, and stops exactly those processes
(and the executors they launched) on :meth:`Cluster.stop`, also when a test fails.
No Spark import here: this only runs processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spark_home(python: str = sys.executable) -> str:
    out = subprocess.run(
        [python, "-c", "import os, pyspark; print(os.path.dirname(pyspark.__file__))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


@dataclass
class Cluster:
    """Handles of a running standalone cluster."""

    master_url: str
    ui_url: str
    root: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def state(self) -> dict[str, object]:
        with urllib.request.urlopen(f"{self.ui_url}/json/", timeout=5) as resp:
            data: dict[str, object] = json.loads(resp.read())
            return data

    def alive_workers(self) -> int:
        try:
            return int(self.state().get("aliveworkers", 0))  # type: ignore[call-overload]
        except OSError:
            return 0

    def executor_pids(self) -> list[int]:
        """Executor JVMs launched by this cluster's workers (their child processes)."""
        workers = {proc.pid for proc in self.processes[1:]}
        pids: list[int] = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid in workers and b"CoarseGrainedExecutorBackend" in cmd:
                pids.append(int(entry.name))
        return sorted(pids)

    def stop(self) -> None:
        for proc in reversed(self.processes):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in self.processes:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


#: JVM options of the cluster's daemons and, through the workers' environment, of the
#: executors they launch: C1 only and a serial GC start a JVM faster, and these jobs are
#: short (the job's own driver gets the same from the tests' ``SPARK_SUBMIT_OPTS``).
FAST_JVM_START = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


def wait_for_port(port: int, proc: subprocess.Popen[bytes], deadline: float) -> bool:
    """Whether something listens on 127.0.0.1:``port`` before ``deadline`` (and before
    ``proc`` exits)."""
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return True
        time.sleep(0.1)
    return False


def start_cluster(
    root: Path,
    workers: int = 2,
    cores: int = 1,
    memory: str = "1g",
    python: str = sys.executable,
    timeout: float = 90.0,
) -> Cluster:
    """Start a master and ``workers`` workers on 127.0.0.1 and wait until all registered.

    The workers start once the master's port is open: a worker that finds no master
    retries only after ~10 s (Spark's first registration retry)."""
    home = spark_home(python)
    root.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        SPARK_HOME=home,
        SPARK_LOCAL_IP="127.0.0.1",
        SPARK_LOG_DIR=str(root / "logs"),
        PYSPARK_PYTHON=env.get("PYSPARK_PYTHON", python),
        SPARK_NO_DAEMONIZE="1",
        JAVA_TOOL_OPTIONS=f"{env.get('JAVA_TOOL_OPTIONS', '')} {FAST_JVM_START}".strip(),
    )
    port, ui_port = free_port(), free_port()
    spark_class = os.path.join(home, "bin", "spark-class")
    log_dir = root / "logs"
    log_dir.mkdir(exist_ok=True)

    def launch(name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = open(log_dir / f"{name}.out", "wb")  # noqa: SIM115 - lives as long as the process
        return subprocess.Popen(
            [spark_class, *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=root,
        )

    cluster = Cluster(f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{ui_port}", root)
    deadline = time.monotonic() + timeout
    master = launch(
        "master",
        [
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webui-port",
            str(ui_port),
        ],
    )
    cluster.processes.append(master)
    if wait_for_port(port, master, deadline):
        for i in range(workers):
            work = root / f"worker{i}"
            work.mkdir(exist_ok=True)
            cluster.processes.append(
                launch(
                    f"worker{i}",
                    [
                        "org.apache.spark.deploy.worker.Worker",
                        cluster.master_url,
                        "--host",
                        "127.0.0.1",
                        "--cores",
                        str(cores),
                        "--memory",
                        memory,
                        "--work-dir",
                        str(work),
                        "--webui-port",
                        str(free_port()),
                    ],
                )
            )
        while time.monotonic() < deadline:
            if cluster.alive_workers() == workers:
                return cluster
            if any(p.poll() is not None for p in cluster.processes):
                break
            time.sleep(0.2)
    cluster.stop()
    logs = "; ".join(
        f"{p.name}: {p.read_text(errors='replace')[-400:]}" for p in sorted(log_dir.glob("*.out"))
    )
    raise RuntimeError(f"standalone cluster did not start within {timeout:.0f} s: {logs}")
