#!/usr/bin/env bash
# The README's second command (and CI's): set up, lint, type-check, run the whole test suite.
# Arguments go to pytest (e.g. scripts/test.sh -m "not spark" for the JVM-free tests only).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
PY="${KMEANS_SPARK_VENV:-.venv}/bin/python"
echo "== ruff" >&2
"$PY" -m ruff check .
"$PY" -m ruff format --check .
echo "== mypy" >&2
"$PY" -m mypy
echo "== pytest" >&2
exec "$PY" -m pytest "$@"
