"""Medians per variant, ratios ours / MLlib, the printed tables and the JSON file.

What every column means is in scripts/bench.py's docstring; ``TABLE_NOTES`` is its short
form, printed under the table. Spark-free: unit-tested without a JVM.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .config import TABLE_REFERENCE, VARIANTS, Config
from .timing import median_of, split_fixed_cost

TABLE_NOTES = """\
seed s   ours: diagnostics.phaseSeconds["init"] (k-means||); MLlib: its log line
         "Initialization with k-means|| took N ms"; scikit-learn: a kmeans_plusplus call
         (median of 3).
s/iter   ours: median of summary.diagnostics.iterationSeconds (driver wall time of each iteration);
         MLlib: its log line "Iterations took N ms" less iteration 1's one-off work (from
         its job), / iters; scikit-learn: (fit - seed s) / iters. "-": not measurable.
other s  total - seed s - iters x s/iter: ours' load job and block cleanup; MLlib's setup
         (auto: a density pass; block: blockify in iteration 1; RDD API: Python -> JVM).
SSE      the objective of each row's centres, recomputed with numpy on the same data.
/ML      ours over MLlib auto (ours, ours float32) or MLlib RDD same-init (ours same-init).
         non-iter = seed s + other s. All pairs below and in the JSON."""

#: Ours and the MLlib rows, for the table of every pair.
OURS_ROWS = ("ours", "ours_f32", "ours_init")
MLLIB_ROWS = ("mllib_auto", "mllib_row", "mllib_rdd_init")


# -- medians and ratios ---------------------------------------------------------------------


def summarize(
    key: str, runs: list[dict[str, Any]], sse_value: float, fallback: float
) -> dict[str, Any]:
    """Medians over the repeats; other s = total - seed s - iters x s/iter on the medians.
    MLlib rows timed by difference (no log lines) are split from the medians of their two
    timings (more robust than the median of per-repeat differences); ``fallback`` is then
    their s/iter when the full fit ran one iteration."""
    names = ("seed_s", "s_per_iter", "iters", "total_s", "reported_cost")
    out: dict[str, Any] = {name: median_of(runs, name) for name in names}
    methods = sorted({r["extra"].get("split_method", "measured") for r in runs})
    out["split_method"] = ", ".join(methods)
    if key.startswith("mllib") and all("t_maxIter1_s" in r["extra"] for r in runs):
        t_one = median_of(
            [r["extra"] for r in runs if "t_maxIter1_s" in r["extra"]], "t_maxIter1_s"
        )
        out["t_maxIter1_s"] = t_one
        out["seed_s"], out["s_per_iter"], out["split_method"] = split_fixed_cost(
            out["total_s"], out["iters"], t_one, fallback
        )
    out["other_s"] = out["total_s"] - out["seed_s"] - out["s_per_iter"] * out["iters"]
    out["non_iter_s"] = out["seed_s"] + out["other_s"]
    out["sse"] = sse_value
    return out


def summarize_all(
    order: Sequence[str], raw: dict[str, list[dict[str, Any]]], sse_values: dict[str, float]
) -> dict[str, dict[str, Any]]:
    """``summarize`` of every variant, in ``order``: the MLlib RDD row goes first, as its
    s/iter is the ml rows' fallback; without it, a row's fallback is its own mean s/iter."""
    medians: dict[str, dict[str, Any]] = {}
    for key in order:
        rdd_row = medians.get("mllib_rdd_init")
        fallback = (
            rdd_row["s_per_iter"]
            if key != "mllib_rdd_init" and rdd_row
            else median_of(raw[key], "total_s") / max(median_of(raw[key], "iters"), 1.0)
        )
        medians[key] = summarize(key, raw[key], sse_values[key], fallback)
    return medians


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b``, or None when either is missing (None, NaN) or ``b`` is zero."""
    if a is None or b is None or not b or math.isnan(a) or math.isnan(b):
        return None
    return a / b


def ratios(ours: dict[str, Any], ref: dict[str, Any]) -> dict[str, float | None]:
    """Ours over a reference row; no seed ratio when ours did not seed (given centres)."""
    return {
        "seed": ratio(ours["seed_s"], ref["seed_s"]) if ours["seed_s"] > 0 else None,
        "non_iter": ratio(ours["non_iter_s"], ref["non_iter_s"]),
        "s_per_iter": ratio(ours["s_per_iter"], ref["s_per_iter"]),
        "total": ratio(ours["total_s"], ref["total_s"]),
    }


def table_ratios(medians: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Each of ours over its reference in the table (``TABLE_REFERENCE``), where both ran."""
    return {
        key: ratios(medians[key], medians[ref])
        for key, ref in TABLE_REFERENCE.items()
        if key in medians and ref in medians
    }


def all_ratios(medians: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Every pair ``"ours_key/mllib_key"`` of ours over an MLlib row, where both ran."""
    return {
        f"{ours}/{ref}": ratios(medians[ours], medians[ref])
        for ours in OURS_ROWS
        for ref in MLLIB_ROWS
        if ours in medians and ref in medians
    }


# -- tables ---------------------------------------------------------------------------------


def fmt(value: float | None, spec: str) -> str:
    """``format(value, spec)``, or a right-aligned "-" of the same width when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        width = spec.split(".")[0]
        return "-".rjust(int(width) if width.isdigit() else 1)
    return format(value, spec)


@dataclass(frozen=True)
class Column:
    """A numeric column: its title and the format spec of its values, whose leading digits
    are the column's width (``"8.3f"``: 8)."""

    title: str
    spec: str

    @property
    def width(self) -> int:
        digits = self.spec.split(".")[0]
        return int(digits) if digits.isdigit() else 1


def table_lines(
    label: str,
    label_width: int,
    columns: Sequence[Column],
    rows: Iterable[tuple[str, Sequence[float | None]]],
    rule: bool = True,
) -> list[str]:
    """A fixed-width table: a left-aligned label column, then right-aligned numbers, one
    space apart; missing values (None, NaN) as "-"; ``rule``: a dashed line under the head."""
    head = " ".join([f"{label:<{label_width}}", *(f"{c.title:>{c.width}}" for c in columns)])
    lines = [head, "-" * len(head)] if rule else [head]
    for name, values in rows:
        cells = (fmt(value, c.spec) for c, value in zip(columns, values, strict=True))
        lines.append(" ".join([f"{name:<{label_width}}", *cells]))
    return lines


FIT_COLUMNS = (
    Column("seed s", "8.3f"),
    Column("s/iter", "8.4f"),
    Column("iters", "5.0f"),
    Column("other s", "8.3f"),
    Column("total s", "8.3f"),
    Column("SSE", "12.6g"),
    Column("SSE/sk", "7.4f"),
    Column("/ML seed", "8.2f"),
    Column("/ML s/iter", "10.2f"),
    Column("/ML total", "9.2f"),
)

RATIO_COLUMNS = (
    Column("seed", "8.2f"),
    Column("non-iter", "8.2f"),
    Column("s/iter", "8.2f"),
    Column("total", "8.2f"),
)


def print_table(
    cfg: Config,
    medians: dict[str, dict[str, Any]],
    table_ratios: dict[str, dict[str, float | None]],
) -> None:
    print(
        f"\n== preset {cfg.preset}: n={cfg.n} d={cfg.d} k={cfg.k} spread={cfg.spread:g} "
        f"partitions={cfg.partitions} maxIter={cfg.max_iter} repeats={cfg.repeats} (medians)"
    )
    sk = medians.get("sklearn")
    rows = []
    for key, m in medians.items():
        r = table_ratios.get(key, {})
        values = [m["seed_s"], m["s_per_iter"], m["iters"], m["other_s"], m["total_s"]]
        values += [m["sse"], ratio(m["sse"], sk["sse"]) if sk else None]
        values += [r.get("seed"), r.get("s_per_iter"), r.get("total")]
        rows.append((VARIANTS[key], values))
    print("\n".join(table_lines("variant", 20, FIT_COLUMNS, rows)))
    print(TABLE_NOTES)


def print_oracle(medians: dict[str, dict[str, Any]], oracle: float) -> None:
    shown = ", ".join(
        f"{VARIANTS[key]} {fmt(m['sse_over_oracle'], '.4f')}" for key, m in medians.items()
    )
    print(f"SSE / oracle (SSE of the generating clusters, {oracle:.6g}): {shown}")


def print_ratios(all_ratios: dict[str, dict[str, float | None]]) -> None:
    if not all_ratios:
        return
    rows = []
    for pair, r in all_ratios.items():
        ours, ref = pair.split("/")
        values = [r["seed"], r["non_iter"], r["s_per_iter"], r["total"]]
        rows.append((f"  {VARIANTS[ours]} / {VARIANTS[ref]}", values))
    lines = table_lines("ratios ours / MLlib (all pairs)", 40, RATIO_COLUMNS, rows, rule=False)
    print("\n".join(lines))


def print_memory(cfg: Config, memory: dict[str, Any]) -> None:
    peaks = memory["peaks_mb"]
    what = "reset before each fit" if memory["peaks_reset"] else "cumulative: reset not allowed"
    print(
        f"memory: peak resident set (VmHWM) in MB during the timed fits ({what}); jvm keeps "
        "its heap, so it is a high-water mark of the run so far;\n  workers_py = sum over "
        "the Python worker processes (shared pages counted in each), workers_n = their number"
    )
    for key, p in peaks.items():
        cols = "  ".join(
            f"{name}={value:3.0f}" if name == "workers_n" else f"{name}={value:8.1f}"
            for name, value in sorted(p.items())
        )
        print(f"  {VARIANTS[key]:<20} {cols}")
    mb = 1024.0 * 1024.0
    print(
        f"  raw numpy {memory['raw_numpy_bytes'] / mb:.1f} MB; ours' resident blocks "
        f"(rows x d x itemsize) float64 {memory['blocks_f64_bytes'] / mb:.1f} MB, "
        f"float32 {memory['blocks_f32_bytes'] / mb:.1f} MB; driver ru_maxrss "
        f"{memory['driver_ru_maxrss_mb']:.1f} MB"
    )
    for info in memory["spark_storage"]:
        print(
            f"  Spark storage: {info['what']:<56} memory {info['mem_bytes'] / mb:.1f} MB "
            f"disk {info['disk_bytes'] / mb:.1f} MB"
        )


def print_floor(floor: dict[str, Any], medians: dict[str, dict[str, Any]]) -> None:
    threads = "1 thread" if floor["single_thread"] else "numpy default threads"
    rows, d, k = floor["gemm_tile"]
    print(
        f"floor: GEMM ({rows} x {d}) @ ({d} x {k}), {threads}: "
        f"{floor['gemm_gflops_f64']:.2f} GFLOP/s float64, "
        f"{floor['gemm_gflops_f32']:.2f} GFLOP/s float32"
    )
    print(f"floor: empty Spark job (2 tasks, median of 10): {floor['empty_job_s'] * 1e3:.1f} ms")
    print(
        f"floor: in-process Lloyd step on {floor['block_rows']} rows (partial_stats, {threads}): "
        f"{floor['step_s_f64'] * 1e3:.1f} ms float64, {floor['step_s_f32'] * 1e3:.1f} ms float32"
    )
    print(
        f"floor: per iteration = empty job + step: {floor['floor_s_per_iter_f64'] * 1e3:.1f} ms "
        f"float64, {floor['floor_s_per_iter_f32'] * 1e3:.1f} ms float32"
    )
    for key, floor_key in (
        ("ours", "floor_s_per_iter_f64"),
        ("ours_f32", "floor_s_per_iter_f32"),
        ("ours_init", "floor_s_per_iter_f64"),
    ):
        if key in medians:
            value = ratio(medians[key]["s_per_iter"], floor[floor_key])
            print(f"floor: {VARIANTS[key]} s/iter / floor = {fmt(value, '.2f')}")


# -- JSON -----------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """Plain JSON: NaN and infinities become null, numpy scalars Python numbers."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def write_json(result: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        json.dump(jsonable(result), fh, indent=1, allow_nan=False)
    print(f"wrote {path}")
