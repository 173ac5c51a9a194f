#!/usr/bin/env bash
# Build what a cluster needs: dist/kmeans_spark.zip (the package, for --py-files) and a wheel.
# Third-party dependencies (numpy, pandas, pyarrow, scipy) must be on the executors' Python:
# install them there, or ship a packed virtual environment with --archives (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${KMEANS_SPARK_VENV:-.venv}/bin/python"
mkdir -p dist
rm -f dist/kmeans_spark.zip
"$PY" - <<'PYEOF'
import pathlib
import zipfile

root = pathlib.Path("kmeans_spark")
with zipfile.ZipFile("dist/kmeans_spark.zip", "w", zipfile.ZIP_DEFLATED) as zf:
    for path in sorted(root.rglob("*.py")):
        zf.write(path, path.as_posix())
print("dist/kmeans_spark.zip")
PYEOF
"$PY" -m pip wheel --quiet --no-deps --disable-pip-version-check -w dist . >/dev/null
ls dist/*.whl
