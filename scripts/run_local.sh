#!/usr/bin/env bash
# The README's first command: set up, generate a dated partition of Gaussian blobs, run the
# batch job on it in local mode through spark-submit, and print the run's summary.
# Environment: ROWS (200000), K (5), RUN_DATE (today, UTC).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
PY="${KMEANS_SPARK_VENV:-.venv}/bin/python"
RUN_DATE="${RUN_DATE:-$(date -u +%F)}"
ROWS="${ROWS:-200000}"
K="${K:-5}"
rm -rf "out/demo/lake/dt=$RUN_DATE"
"$PY" scripts/make_blobs.py out/demo/lake --rows "$ROWS" --dim 2 --k "$K" --dates "$RUN_DATE" >/dev/null
bash scripts/submit.sh fit \
  --input out/demo/lake --format parquet --where "dt = '{run_date}'" --run-date "$RUN_DATE" \
  --features 'x*' --id-cols id --k "$K" --scale standard \
  --output 'out/demo/runs/{run_date}' --mode overwrite --report
echo "== out/demo/runs/$RUN_DATE/summary.json (also: model/, assignments/, centers.csv, plots/)"
"$PY" - "out/demo/runs/$RUN_DATE" <<'PYEOF'
import json, sys
s = json.load(open(f"{sys.argv[1]}/summary.json"))
keep = ["run_date", "input", "output", "k", "features", "centers", "cost", "iterations",
        "converged", "convergence_reason", "cluster_sizes", "rows_read", "rows_dropped",
        "scaling", "seconds"]
for k in keep:
    print(f"{k:>20}: {json.dumps(s[k])}")
print(open(f"{sys.argv[1]}/centers.csv").read(), end="")
PYEOF
echo "== the report (open it in a browser): $(pwd)/out/demo/runs/$RUN_DATE/report.html"
