#!/usr/bin/env bash
# Build what a cluster needs: dist/kmeans_spark.zip, the package for spark-submit --py-files
# (scripts/submit.sh rebuilds it for every non-local submission). With --wheel, also a wheel
# in dist/ for installing on the nodes.
#
# Third-party dependencies (numpy, pandas, pyarrow, scipy) must be importable by the
# executors' Python: installed on the nodes (as docker/Dockerfile does), or shipped as a
# packed virtual environment (see "Running on a cluster" in the README):
#   python -m venv env && env/bin/pip install -c constraints.txt numpy pandas pyarrow scipy venv-pack
#   env/bin/venv-pack -o dist/env.tar.gz
#   spark-submit --archives dist/env.tar.gz#env --conf spark.pyspark.python=./env/bin/python ...
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${KMEANS_SPARK_PYTHON:-${KMEANS_SPARK_VENV:-.venv}/bin/python}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
mkdir -p dist
"$PY" - <<'PYEOF'
import os
import pathlib
import zipfile

root = pathlib.Path("kmeans_spark")
tmp = "dist/kmeans_spark.zip.tmp"
with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
    # every subpackage (app/, kernels/, ...) and the package data, never caches
    for path in sorted([*root.rglob("*.py"), *root.rglob("*.properties")]):
        if "__pycache__" not in path.parts:
            zf.write(path, path.as_posix())
os.replace(tmp, "dist/kmeans_spark.zip")  # atomic: a concurrent submit never sees half a zip
print("dist/kmeans_spark.zip")
PYEOF
if [ "${1:-}" = "--wheel" ]; then
  "$PY" -m pip wheel --quiet --no-deps --disable-pip-version-check -w dist . >/dev/null
  ls dist/*.whl
fi
