"""scripts/submit.sh's spark-submit command line, seen by a stand-in spark-submit that prints
its arguments (no JVM): the package's logging is added only where it replaces nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kmeans_spark import session

ROOT = Path(__file__).resolve().parents[2]
OURS = f"-Dlog4j2.configurationFile={session.LOG_CONFIG.as_uri()}"


@pytest.fixture
def spark_home(tmp_path: Path) -> Path:
    home = tmp_path / "spark"
    (home / "bin").mkdir(parents=True)
    fake = home / "bin" / "spark-submit"
    fake.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n')
    fake.chmod(0o755)
    return home


def submitted(spark_home: Path, **env: str) -> list[str]:
    """The arguments submit.sh passes to spark-submit for a local fit."""
    clean = {k: v for k, v in os.environ.items() if k not in session._JVM_OPTION_VARIABLES}
    clean.pop("SPARK_CONF_DIR", None)
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "submit.sh"), "fit", "--input", "in", "--output", "o"],
        capture_output=True,
        text=True,
        check=True,
        env={**clean, "SPARK_HOME": str(spark_home), "KMEANS_SPARK_PYTHON": sys.executable, **env},
    )
    return done.stdout.splitlines()


def test_the_packaged_logging_by_default(spark_home: Path) -> None:
    args = submitted(spark_home)
    assert args[:4] == ["--master", "local[*]", "--driver-java-options", OURS]
    assert args[4].endswith("jobs/kmeans_job.py")


def test_driver_options_in_spark_defaults_are_kept(spark_home: Path) -> None:
    conf = spark_home / "conf"
    conf.mkdir()
    (conf / "spark-defaults.conf").write_text("spark.driver.extraJavaOptions -Dcorp.proxy=on\n")
    args = submitted(spark_home)
    assert "--driver-java-options" not in args and OURS not in args


def test_a_log4j_config_in_spark_conf_dir_is_kept(spark_home: Path, tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "log4j2.properties").write_text("rootLogger.level = info\n")
    assert "--driver-java-options" not in submitted(spark_home, SPARK_CONF_DIR=str(conf))


def test_driver_options_given_to_submit_sh_are_kept(spark_home: Path) -> None:
    extra = "--conf spark.driver.extraJavaOptions=-Dcorp.proxy=on"
    args = submitted(spark_home, SPARK_SUBMIT_OPTS_EXTRA=extra)
    assert "--driver-java-options" not in args
    assert args[2:4] == ["--conf", "spark.driver.extraJavaOptions=-Dcorp.proxy=on"]
