#!/usr/bin/env bash
# Submit the batch job with spark-submit, the way a scheduler would.
#
#   scripts/submit.sh [--master URL] COMMAND [job flags...]
#   scripts/submit.sh fit --input data/ --features 'x*' --k 5 --output out/run
#   scripts/submit.sh --master spark://host:7077 fit --config conf/cluster.toml ...
#
# Local masters (the default, local[*]) use conf/local.toml unless --config is given; other
# masters use conf/cluster.toml and ship the package with --py-files (built by
# scripts/package.sh). Extra spark-submit options go in SPARK_SUBMIT_OPTS_EXTRA.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${KMEANS_SPARK_VENV:-$here/.venv}"
# The Python with pyspark: KMEANS_SPARK_PYTHON (e.g. python3 in the Docker image), else .venv.
PY="${KMEANS_SPARK_PYTHON:-$VENV/bin/python}"
command -v "$PY" >/dev/null 2>&1 \
  || { echo "submit: $PY not found; run scripts/setup.sh first (or set KMEANS_SPARK_PYTHON)" >&2; exit 2; }

master="local[*]"
if [ "${1:-}" = "--master" ]; then master="$2"; shift 2; fi
[ $# -ge 1 ] || { echo "usage: scripts/submit.sh [--master URL] fit|predict [flags...]" >&2; exit 2; }

if [ -z "${SPARK_HOME:-}" ] || [ ! -x "$SPARK_HOME/bin/spark-submit" ]; then
  SPARK_HOME="$("$PY" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')"
fi
export SPARK_HOME
export PYSPARK_PYTHON="${PYSPARK_PYTHON:-$PY}"
export PYSPARK_DRIVER_PYTHON="${PYSPARK_DRIVER_PYTHON:-$PY}"
case "$master" in  # keep a local run or a cluster on this machine on the loopback interface
  local*|spark://127.*|spark://localhost*) export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}" ;;
esac

args=("$@")
has_config=0
for a in "${args[@]}"; do [ "$a" = "--config" ] && has_config=1; done
opts=(--master "$master")
# Spark's logging: the package's (warnings and errors, no stack frames), as python -m has it,
# unless you configured the driver's Java options or logging yourself (spark-defaults.conf,
# a log4j2 file in Spark's conf directory, SPARK_SUBMIT_OPTS, SPARK_SUBMIT_OPTS_EXTRA, ...):
# --driver-java-options would replace yours. The rule is session.driver_log_options'.
log_opts="$(PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" "$PY" -c '
import os
from kmeans_spark.session import DRIVER_JAVA_OPTIONS, driver_log_options
print(driver_log_options({}, os.environ).get(DRIVER_JAVA_OPTIONS, ""))')"
[ -z "$log_opts" ] || opts+=(--driver-java-options "$log_opts")
case "$master" in
  local*) [ $has_config = 1 ] || args+=(--config "$here/conf/local.toml") ;;
  *)
    [ $has_config = 1 ] || args+=(--config "$here/conf/cluster.toml")
    zip="$here/dist/kmeans_spark.zip"
    KMEANS_SPARK_PYTHON="$PY" bash "$here/scripts/package.sh" >&2
    opts+=(--py-files "$zip")
    ;;
esac
# shellcheck disable=SC2206
extra=(${SPARK_SUBMIT_OPTS_EXTRA:-})
exec "$SPARK_HOME/bin/spark-submit" "${opts[@]}" "${extra[@]}" "$here/jobs/kmeans_job.py" "${args[@]}"
