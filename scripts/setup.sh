#!/usr/bin/env bash
# Set up everything the project needs, from nothing: check prerequisites (Python >= 3.10,
# Java >= 17), create .venv and install the package with the pinned versions of
# constraints.txt. Idempotent: a second run with unchanged pins installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV="${KMEANS_SPARK_VENV:-.venv}"

fail() { echo "setup: $*" >&2; exit 2; }

command -v "$PYTHON" >/dev/null 2>&1 \
  || fail "no '$PYTHON' on PATH; install Python 3.10 or newer (or set PYTHON=/path/to/python3)."
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
  || fail "$("$PYTHON" --version 2>&1) is too old; Python 3.10 or newer is needed."
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null \
  || fail "Python's venv/ensurepip modules are missing; install them (Debian: apt-get install python3-venv)."

JAVA="java"
if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then JAVA="$JAVA_HOME/bin/java"; fi
command -v "$JAVA" >/dev/null 2>&1 \
  || fail "Java not found; Spark 4 needs Java 17 or newer (Debian: apt-get install openjdk-17-jre-headless, or set JAVA_HOME)."
java_version=$("$JAVA" -version 2>&1 | sed -n 's/.*version "\([0-9][0-9]*\).*/\1/p' | head -n 1)
[ -n "$java_version" ] || fail "could not read the Java version from '$JAVA -version'; Java 17 or newer is needed."
[ "$java_version" -ge 17 ] \
  || fail "Java $java_version found at $(command -v "$JAVA"); Spark 4 needs Java 17 or newer (set JAVA_HOME)."

stamp="$VENV/.kmeans-spark-installed"
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$VENV/bin/python" ]; then
  exit 0
fi
echo "setup: creating $VENV and installing pinned dependencies (first run takes a few minutes)" >&2
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "pip>=23"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
  -c constraints.txt -e ".[dev]"
echo "$want" > "$stamp"
echo "setup: ready ($("$VENV/bin/python" -c 'import pyspark, numpy, pandas; print("pyspark", pyspark.__version__, "numpy", numpy.__version__, "pandas", pandas.__version__)'))" >&2
