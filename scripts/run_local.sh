#!/usr/bin/env bash
# The README's first command: set up, then fit k-means in local mode on the built-in
# generated dataset and print the result. Extra arguments go to the demo
# (e.g. --rows 1000000 --dim 8 --k 10).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec "${KMEANS_SPARK_VENV:-.venv}/bin/python" -m kmeans_spark demo "$@"
