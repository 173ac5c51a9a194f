"""docker-compose.yml, read as YAML: Docker does not run on our build machines, so check that
every service, port, volume and command agrees with the scripts and the pinned versions."""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

import pytest

from kmeans_spark.app.cli import build_parser

from .conftest import ROOT, compose, compose_command

pytestmark = pytest.mark.jvm_free  # reads files only: part of -m "not spark"

MOUNT = "/opt/kmeans-spark/out"


def pinned(name: str) -> str:
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.startswith(f"{name}=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError(f"{name} is not pinned")


def test_services_and_ports() -> None:
    services = compose()["services"]
    assert set(services) == {
        "spark-master",
        "spark-worker-1",
        "spark-worker-2",
        "datagen",
        "submit",
    }
    master = compose_command("spark-master")
    assert master[1] == "org.apache.spark.deploy.master.Master"
    port = master[master.index("--port") + 1]
    ui = master[master.index("--webui-port") + 1]
    assert services["spark-master"]["ports"] == [f"{ui}:{ui}", f"{port}:{port}"]
    url = f"spark://spark-master:{port}"
    for worker in ("spark-worker-1", "spark-worker-2"):
        cmd = compose_command(worker)
        assert cmd[1:3] == ["org.apache.spark.deploy.worker.Worker", url]
        assert cmd[cmd.index("--cores") + 1] == "1" and cmd[cmd.index("--memory") + 1] == "1g"
        assert "spark-master" in services[worker]["depends_on"]
    submit = compose_command("submit")
    assert submit[submit.index("--master") + 1] == url
    deps = services["submit"]["depends_on"]
    assert deps["datagen"]["condition"] == "service_completed_successfully"


def test_image_matches_the_pinned_pyspark() -> None:
    version = pinned("pyspark")
    spark = compose()["x-spark"]
    assert spark["build"]["args"]["SPARK_VERSION"] == version
    assert spark["image"].endswith(f":{version}")
    dockerfile = (ROOT / spark["build"]["dockerfile"]).read_text()
    assert f"ARG SPARK_VERSION={version}" in dockerfile
    assert "FROM apache/spark:${SPARK_VERSION}-python3" in dockerfile
    for source in re.findall(r"^COPY (\S+) ", dockerfile, flags=re.M):
        assert (ROOT / source).exists(), source
    for lib in ("numpy", "pandas", "pyarrow", "scipy"):
        assert lib in dockerfile


def test_every_service_mounts_out_at_the_same_path() -> None:
    """Executors write the assignments where the driver renames them: every container must
    see the host's ./out at one path, the ``out/`` below the image's working directory (the
    Dockerfile's WORKDIR, whence the jobs' relative paths resolve)."""
    services = compose()["services"]
    mounts = {
        name: [v for v in service["volumes"] if v.startswith("./out:")]
        for name, service in services.items()
    }
    assert all(len(m) == 1 for m in mounts.values()), mounts
    assert {m[0] for m in mounts.values()} == {f"./out:{MOUNT}"}
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    (workdir,) = re.findall(r"^WORKDIR (\S+)$", dockerfile, flags=re.M)
    assert posixpath.join(workdir, "out") == MOUNT
    submit = compose_command("submit")
    for flag in ("--input", "--output"):
        inside = posixpath.join(workdir, submit[submit.index(flag) + 1])
        assert inside.startswith(MOUNT + "/"), (flag, inside)  # on the shared volume
    assert "out/" in (ROOT / ".gitignore").read_text().split()  # runs never land in git


def test_commands_name_existing_files_and_valid_flags() -> None:
    datagen = compose_command("datagen")
    assert (ROOT / datagen[1]).is_file()
    submit = compose_command("submit")
    assert (ROOT / submit[1]).is_file()
    job = submit[submit.index("--master") + 2 :]
    args = build_parser().parse_args(job)  # the job's own parser accepts every flag
    assert args.command == "fit"
    assert args.input == datagen[2]
    assert Path(args.output).parts[0] == "out" and Path(args.input).parts[0] == "out"
    assert (ROOT / "conf" / "cluster.toml").is_file()  # what submit.sh uses for this master
