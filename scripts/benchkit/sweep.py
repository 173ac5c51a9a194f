"""The model-selection benchmark (scripts/bench_sweep.py): a k sweep of ours in shared passes
against the MLlib way (a Python loop of ``pyspark.ml.clustering.KMeans`` fits, one per k),
ours' single fit at the largest k, and restarts (``nInit``); the goals of issue #14.

Every variant reads the same cached DataFrame in one SparkSession, is run once untimed
(warm-up), then ``--repeats`` times in an order rotated each repeat; the tables show the
minimum (the least disturbed run on a shared machine) and the median. The quality table
recomputes every SSE with numpy on the same data (``data.sse``), so it does not depend on
how each library reports its cost.

Only the ``run_*`` functions, ``cached_columns`` and ``main`` touch Spark (imported inside
them); the goal, quality and table helpers are unit-tested without a JVM
(tests/unit/test_bench_sweep.py).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .config import PRESETS, REPO, add_names, add_run_args, add_size_args, check_at_least, sized
from .data import load_data, sse
from .memory import machine
from .report import Column, fmt, ratio, table_lines, write_json
from .spark import MllibLog, bench_session, cached_input, versions
from .timing import interleaved, timed, warm_up

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

#: Variant keys in table order (labels depend on the config: ``variant_labels``).
VARIANT_KEYS = (
    "sweep",
    "sweep_metrics",
    "mllib_loop",
    "ours_loop",
    "ours_kmax",
    "ours_ninit1",
    "ours_ninit",
)


@dataclass
class SweepConfig:
    """One run of the benchmark; ``n, d, k, spread, data_seed, data_dir`` name the data
    (a ``data.BlobSpec``), ``k`` is also the k of the restart rows."""

    preset: str
    n: int
    d: int
    k: int
    spread: float
    data_seed: int
    data_dir: Path
    seed: int
    partitions: int
    max_iter: int
    tol: float
    k_min: int
    k_max: int
    n_init: int
    repeats: int
    ours_input: str
    variants: list[str]
    json_path: Path

    @property
    def ks(self) -> list[int]:
        return list(range(self.k_min, self.k_max + 1))

    @property
    def input_cols(self) -> list[str]:
        return [f"x{i}" for i in range(self.d)]


def variant_labels(k_min: int, k_max: int, k: int, n_init: int) -> dict[str, str]:
    """Variant key -> row label, in table order."""
    fits = k_max - k_min + 1
    return {
        "sweep": f"ours sweep k={k_min}..{k_max}",
        "sweep_metrics": "ours sweep + metrics",
        "mllib_loop": f"MLlib loop ({fits} fits)",
        "ours_loop": f"ours loop ({fits} fits)",
        "ours_kmax": f"ours fit k={k_max}",
        "ours_ninit1": f"ours nInit=1 k={k}",
        "ours_ninit": f"ours nInit={n_init} k={k}",
    }


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, SweepConfig]:
    p = argparse.ArgumentParser(
        description="Model selection: ours' k sweep against a loop of MLlib fits, ours' "
        "single fit and restarts (issue #14's goals).",
        epilog="See scripts/bench_sweep.py for what every number means.",
    )
    p.add_argument("--preset", default="medium", choices=list(PRESETS))
    add_size_args(p, k_help="blobs in the data and k of the nInit rows")
    add_run_args(p)
    p.add_argument("--tol", type=float, default=1e-4)
    p.add_argument("--k-min", type=int, default=2)
    p.add_argument("--k-max", type=int, default=15)
    p.add_argument("--n-init", type=int, default=5, help="restarts of the nInit row")
    p.add_argument(
        "--ours-input",
        choices=("vector", "columns"),
        default="vector",
        help="what ours reads: the cached vector column MLlib reads (featuresCol, default) "
        "or d double columns cached beside it in the same DataFrame (inputCols)",
    )
    add_names(p, "--variants", VARIANT_KEYS, VARIANT_KEYS, "variant")
    p.add_argument("--data-dir", default=str(REPO / "bench-results" / "data"))
    p.add_argument("--json", default=str(REPO / "bench-results" / "sweep.json"))
    args = p.parse_args(argv)
    size = sized(PRESETS[args.preset], args)
    check_at_least(p, args, repeats=1, partitions=1, max_iter=1)
    if args.k_min < 2 or args.k_max < args.k_min:
        p.error(f"--k-min={args.k_min} must be >= 2 and --k-max={args.k_max} >= --k-min")
    if args.n_init < 2:
        p.error(f"--n-init={args.n_init} must be >= 2 (the row compared with nInit=1)")
    cfg = SweepConfig(
        preset=args.preset,
        n=size["n"],
        d=size["d"],
        k=size["k"],
        spread=args.spread,
        data_seed=args.data_seed,
        data_dir=Path(args.data_dir),
        seed=args.seed,
        partitions=args.partitions,
        max_iter=args.max_iter,
        tol=args.tol,
        k_min=args.k_min,
        k_max=args.k_max,
        n_init=args.n_init,
        repeats=args.repeats,
        ours_input=args.ours_input,
        variants=[v for v in VARIANT_KEYS if v in args.variants],
        json_path=Path(args.json),
    )
    return args, cfg


# -- one timed run of each variant ------------------------------------------------------------


@dataclass
class SweepRun:
    """One timed run of one variant: wall seconds, its Lloyd passes over the data and its
    iterations summed over k, per k what it found (``per_k``), and the centres per k (for
    the SSE recomputed with numpy; not in the JSON)."""

    seconds: float
    passes: int
    iters_sum: int
    per_k: list[dict[str, Any]]
    centers: dict[int, np.ndarray] = field(repr=False)
    extra: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        out = asdict(self)
        del out["centers"]
        return out


@dataclass
class SweepBench:
    """What every variant needs: the config, the cached input and MLlib's timing log."""

    cfg: SweepConfig
    df: DataFrame
    log: MllibLog | None


def ours_estimator(cfg: SweepConfig, **params: Any) -> Any:
    """Ours with the benchmark's seed, maxIter, tol, input and partitioning."""
    from kmeans_spark import KMeans

    features: dict[str, Any] = (
        {"inputCols": cfg.input_cols}
        if cfg.ours_input == "columns"
        else {"featuresCol": "features"}
    )
    return KMeans(
        seed=cfg.seed,
        maxIter=cfg.max_iter,
        tol=cfg.tol,
        numPartitions=cfg.partitions,
        **features,
        **params,
    )


def run_sweep(b: SweepBench, metrics: bool) -> SweepRun:
    cfg = b.cfg
    est = ours_estimator(cfg)
    wall, result = timed(lambda: est.sweep(b.df, cfg.ks, metrics=metrics))
    rows = result.table()
    per_k = [
        {
            key: value
            for key, value in row.items()
            if key != "cluster_sizes" and isinstance(value, (int, float, bool))
        }
        for row in rows
    ]
    iters = [int(row["iterations"]) for row in rows]
    extra: dict[str, Any] = {"phaseSeconds": dict(result.seconds)}
    if metrics:
        choice = result.choice()
        extra["choice"] = {
            "knee": choice.knee,
            "best_calinski_harabasz": choice.best_calinski_harabasz,
            "best_silhouette": choice.best_silhouette,
            "verdict": choice.verdict,
        }
    return SweepRun(
        seconds=wall,
        passes=max(iters),  # every k in the same passes; a converged k drops out
        iters_sum=sum(iters),
        per_k=per_k,
        centers={k: np.array(result.model(k).clusterCenters()) for k in cfg.ks},
        extra=extra,
    )


def _fit(est: Any, df: DataFrame) -> tuple[float, Any]:
    return timed(lambda: est.fit(df))


def run_mllib_loop(b: SweepBench) -> SweepRun:
    """The MLlib way: one ``pyspark.ml.clustering.KMeans`` fit per k, their times summed;
    its seeding and iteration seconds from its own log lines, where logged."""
    from pyspark.ml.clustering import KMeans as MLKMeans

    cfg = b.cfg
    per_k: list[dict[str, Any]] = []
    centers: dict[int, np.ndarray] = {}
    for k in cfg.ks:
        offset = b.log.mark() if b.log else 0
        est = MLKMeans(k=k, seed=cfg.seed, maxIter=cfg.max_iter, tol=cfg.tol)
        wall, model = _fit(est.setFeaturesCol("features"), b.df)
        logged = b.log.since(offset) if b.log else {}
        per_k.append(
            {
                "k": k,
                "seconds": wall,
                "iterations": int(model.summary.numIter),
                "sse": float(model.summary.trainingCost),
                "init_s": logged.get("init_s"),
                "iterations_s": logged.get("iterations_s"),
            }
        )
        centers[k] = np.array(model.clusterCenters())
    iters = sum(row["iterations"] for row in per_k)
    return SweepRun(sum(row["seconds"] for row in per_k), iters, iters, per_k, centers)


def _ours_row(k: int, wall: float, model: Any) -> dict[str, Any]:
    s = model.summary
    return {
        "k": k,
        "seconds": wall,
        "iterations": int(s.numIter),
        "sse": float(s.trainingCost),
        "converged": bool(s.converged),
        "runCosts": list(s.diagnostics.runCosts),
        "bestRun": int(s.diagnostics.bestRun),
        "phaseSeconds": dict(s.diagnostics.phaseSeconds),
    }


def run_ours_loop(b: SweepBench) -> SweepRun:
    """Ours the MLlib way: one fit per k (also the separate fits a sweep's runs are
    compared with)."""
    per_k: list[dict[str, Any]] = []
    centers: dict[int, np.ndarray] = {}
    for k in b.cfg.ks:
        wall, model = _fit(ours_estimator(b.cfg, k=k), b.df)
        per_k.append(_ours_row(k, wall, model))
        centers[k] = np.array(model.clusterCenters())
    iters = sum(row["iterations"] for row in per_k)
    return SweepRun(sum(row["seconds"] for row in per_k), iters, iters, per_k, centers)


def run_ours_fit(b: SweepBench, k: int, n_init: int) -> SweepRun:
    wall, model = _fit(ours_estimator(b.cfg, k=k, nInit=n_init), b.df)
    row = _ours_row(k, wall, model)
    return SweepRun(
        wall, row["iterations"], row["iterations"], [row], {k: np.array(model.clusterCenters())}
    )


def runners(cfg: SweepConfig) -> dict[str, Callable[[SweepBench], SweepRun]]:
    return {
        "sweep": lambda b: run_sweep(b, metrics=False),
        "sweep_metrics": lambda b: run_sweep(b, metrics=True),
        "mllib_loop": run_mllib_loop,
        "ours_loop": run_ours_loop,
        "ours_kmax": lambda b: run_ours_fit(b, cfg.k_max, 1),
        "ours_ninit1": lambda b: run_ours_fit(b, cfg.k, 1),
        "ours_ninit": lambda b: run_ours_fit(b, cfg.k, cfg.n_init),
    }


# -- statistics, goals, quality (no Spark) ----------------------------------------------------


def time_stats(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Min and median seconds of a variant's timed runs, and its Lloyd passes and iterations
    (those of the last run: the seeds are fixed, so every run iterates alike)."""
    seconds = [r["seconds"] for r in runs]
    return {
        "min_s": min(seconds),
        "median_s": float(statistics.median(seconds)),
        "seconds": seconds,
        "passes": runs[-1]["passes"],
        "iters_sum": runs[-1]["iters_sum"],
    }


@dataclass(frozen=True)
class Goal:
    """``num`` seconds over ``den`` seconds should be at most ``target``; ``binding``: one
    of the issue's goals (else shown for information)."""

    name: str
    num: str
    den: str
    target: float
    binding: bool = True


def goals(k_max: int, n_init: int) -> tuple[Goal, ...]:
    return (
        Goal("sweep / MLlib loop", "sweep", "mllib_loop", 0.1),
        Goal(f"sweep / ours fit k={k_max}", "sweep", "ours_kmax", 4.0),
        Goal(f"nInit={n_init} / nInit=1", "ours_ninit", "ours_ninit1", 2.0),
        Goal("sweep + metrics / MLlib loop", "sweep_metrics", "mllib_loop", 0.1, False),
        Goal(f"sweep + metrics / ours fit k={k_max}", "sweep_metrics", "ours_kmax", 4.0, False),
        Goal("sweep / ours loop", "sweep", "ours_loop", 1.0, False),
    )


def goal_rows(stats: dict[str, dict[str, Any]], wanted: Sequence[Goal]) -> list[dict[str, Any]]:
    """Each goal whose two variants ran: its ratio on the minima and on the medians, and
    whether each meets the target (None when the ratio is missing)."""
    rows = []
    for g in wanted:
        if g.num not in stats or g.den not in stats:
            continue
        by_min = ratio(stats[g.num]["min_s"], stats[g.den]["min_s"])
        by_median = ratio(stats[g.num]["median_s"], stats[g.den]["median_s"])
        rows.append(
            {
                "goal": g.name,
                "binding": g.binding,
                "target": g.target,
                "ratio_min": by_min,
                "ratio_median": by_median,
                "met_min": None if by_min is None else by_min <= g.target,
                "met_median": None if by_median is None else by_median <= g.target,
            }
        )
    return rows


def relative_difference(a: float | None, b: float | None) -> float | None:
    """``|a - b| / |b|`` (0 when both are 0), or None when either is missing."""
    if a is None or b is None or np.isnan(a) or np.isnan(b):
        return None
    if b == 0:
        return 0.0 if a == 0 else None
    return abs(a - b) / abs(b)


def quality_rows(
    ks: Sequence[int],
    sse_by: dict[str, dict[int, float]],
    iters_by: dict[str, dict[int, int]],
) -> list[dict[str, Any]]:
    """Per k: the SSE and iterations of the sweep, of MLlib's fit and of ours' separate fit
    (``sse_by`` / ``iters_by`` keyed ``"sweep"``, ``"mllib"``, ``"ours"``; missing ones are
    None), the sweep's SSE over MLlib's and its relative difference from ours' fit."""
    rows = []
    for k in ks:
        sweep_sse = sse_by.get("sweep", {}).get(k)
        mllib_sse = sse_by.get("mllib", {}).get(k)
        ours_sse = sse_by.get("ours", {}).get(k)
        rows.append(
            {
                "k": k,
                "sweep_sse": sweep_sse,
                "mllib_sse": mllib_sse,
                "sweep_over_mllib": ratio(sweep_sse, mllib_sse),
                "ours_fit_sse": ours_sse,
                "sweep_vs_ours_fit": relative_difference(sweep_sse, ours_sse),
                "sweep_iters": iters_by.get("sweep", {}).get(k),
                "mllib_iters": iters_by.get("mllib", {}).get(k),
                "ours_fit_iters": iters_by.get("ours", {}).get(k),
            }
        )
    return rows


def quality_summary(rows: Sequence[dict[str, Any]], same_tol: float = 1e-9) -> dict[str, Any]:
    """Over the ks: the worst and geometric-mean sweep/MLlib SSE ratio, how many ks the
    sweep is worse than MLlib by more than 1e-6 relative, and how many reach ours' separate
    fit within ``same_tol`` relative."""
    ratios = [r["sweep_over_mllib"] for r in rows if r["sweep_over_mllib"] is not None]
    diffs = [r["sweep_vs_ours_fit"] for r in rows if r["sweep_vs_ours_fit"] is not None]
    return {
        "sweep_over_mllib_max": max(ratios) if ratios else None,
        "sweep_over_mllib_geomean": float(np.exp(np.mean(np.log(ratios)))) if ratios else None,
        "ks_worse_than_mllib": sum(1 for v in ratios if v > 1.0 + 1e-6),
        "ks_compared_with_mllib": len(ratios),
        "ks_same_as_ours_fit": sum(1 for v in diffs if v <= same_tol),
        "ks_compared_with_ours_fit": len(diffs),
        "same_tol": same_tol,
    }


# -- tables -----------------------------------------------------------------------------------

TIME_COLUMNS = (
    Column("min s", "8.3f"),
    Column("median s", "8.3f"),
    Column("passes", "6.0f"),
    Column("iters", "5.0f"),
)

GOAL_COLUMNS = (
    Column("min", "6.3f"),
    Column("median", "6.3f"),
    Column("target", "6.2f"),
)

QUALITY_COLUMNS = (
    Column("sweep SSE", "12.6g"),
    Column("MLlib SSE", "12.6g"),
    Column("sweep/ML", "8.4f"),
    Column("ours fit SSE", "12.6g"),
    Column("|sweep-fit|/fit", "15.1e"),
    Column("it sweep", "8.0f"),
    Column("it ML", "5.0f"),
    Column("it fit", "6.0f"),
)

TABLE_NOTES = """\
passes   Lloyd passes over the data: a sweep runs every k in the same passes (its longest k);
         a loop runs one fit after another (the sum). iters: Lloyd iterations summed over k.
met      yes/no on the medians (min: the least disturbed run); "info" rows are no goal."""


def yes_no(value: bool | None) -> str | None:
    return None if value is None else ("yes" if value else "no")


def time_table(labels: dict[str, str], stats: dict[str, dict[str, Any]]) -> list[str]:
    rows = [
        (
            labels[key],
            [
                stats[key]["min_s"],
                stats[key]["median_s"],
                stats[key]["passes"],
                stats[key]["iters_sum"],
            ],
        )
        for key in labels
        if key in stats
    ]
    return table_lines("variant", 28, TIME_COLUMNS, rows)


def goal_table(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The goals' ratios, and "yes"/"no" (on the medians) in a last column; "info" for
    the rows that are no goal."""
    named = [(r["goal"] if r["binding"] else f"{r['goal']} (info)", r) for r in rows]
    lines = table_lines(
        "goal (ratio of seconds)",
        40,
        GOAL_COLUMNS,
        [(name, [r["ratio_min"], r["ratio_median"], r["target"]]) for name, r in named],
    )
    met = [f"{yes_no(r['met_median']) or '-':>4}" for _, r in named]
    return [lines[0] + "  met", lines[1] + "-" * 5] + [
        line + " " + cell for line, cell in zip(lines[2:], met, strict=True)
    ]


def quality_table(rows: Sequence[dict[str, Any]]) -> list[str]:
    out = []
    for r in rows:
        values = [
            r["sweep_sse"],
            r["mllib_sse"],
            r["sweep_over_mllib"],
            r["ours_fit_sse"],
            r["sweep_vs_ours_fit"],
            r["sweep_iters"],
            r["mllib_iters"],
            r["ours_fit_iters"],
        ]
        out.append((str(r["k"]), values))
    return table_lines("k", 3, QUALITY_COLUMNS, out)


def restarts_record(
    single: dict[str, Any] | None, multi: dict[str, Any] | None, oracle: float | None
) -> dict[str, Any] | None:
    """nInit=1 against nInit=N at the same k: costs (recomputed), every restart's cost,
    the run kept, iterations, each over the oracle SSE of the generating clusters."""
    if single is None or multi is None:
        return None
    return {
        "k": single["k"],
        "ninit1_sse": single["sse_numpy"],
        "ninit_best_sse": multi["sse_numpy"],
        "ninit_over_ninit1": ratio(multi["sse_numpy"], single["sse_numpy"]),
        "ninit_run_costs": multi["runCosts"],
        "ninit_best_run": multi["bestRun"],
        "ninit1_iters": single["iterations"],
        "ninit_best_iters": multi["iterations"],
        "oracle_sse": oracle,
        "ninit1_over_oracle": ratio(single["sse_numpy"], oracle),
        "ninit_over_oracle": ratio(multi["sse_numpy"], oracle),
    }


# -- the run ----------------------------------------------------------------------------------


def cached_columns(spark: SparkSession, path: Path, d: int, partitions: int) -> DataFrame:
    """As ``spark.cached_input``, plus the d features as double columns x0..x{d-1} in the
    same cached DataFrame (for ``--ours-input columns``; the columnar cache reads only the
    columns a query selects)."""
    from pyspark.ml.functions import array_to_vector
    from pyspark.sql import functions as F

    raw = spark.read.parquet(str(path))
    cols = [array_to_vector(F.col("features")).alias("features")]
    cols += [F.col("features")[i].alias(f"x{i}") for i in range(d)]
    df = raw.select(*cols).repartition(partitions).cache()
    df.count()
    return df


def _loads(values: Sequence[float]) -> str:
    return " ".join(f"{v:.2f}" for v in values)


def _loadavg() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def measure(cfg: SweepConfig, b: SweepBench, x: np.ndarray) -> dict[str, Any]:
    """Warm-up, the timed repeats, statistics, goals and quality; returns the JSON part."""
    run = runners(cfg)
    order = cfg.variants
    warmup = warm_up(order, lambda key: run[key](b).record(), cfg.preset)
    raw: dict[str, list[dict[str, Any]]] = {key: [] for key in order}
    last: dict[str, SweepRun] = {}
    for rep, key in interleaved(order, cfg.repeats):
        load = _loadavg()
        one = run[key](b)
        print(
            f"[{cfg.preset}] repeat {rep + 1}/{cfg.repeats} {key}: {one.seconds:.3f} s "
            f"(load {load[0]:.2f})",
            file=sys.stderr,
            flush=True,
        )
        raw[key].append({**one.record(), "loadavg_before": load})
        last[key] = one
    stats = {key: time_stats(raw[key]) for key in order}
    # the SSE of every variant's centres, recomputed the same way on the same data
    sse_numpy = {key: {k: sse(x, c) for k, c in one.centers.items()} for key, one in last.items()}
    for key, one in last.items():
        for row in one.per_k:
            row["sse_numpy"] = sse_numpy[key][row["k"]]
    iters = {key: {row["k"]: row["iterations"] for row in one.per_k} for key, one in last.items()}
    names = {"sweep": "sweep", "mllib_loop": "mllib", "ours_loop": "ours"}
    if "sweep" not in last and "sweep_metrics" in last:
        names["sweep_metrics"] = "sweep"
    quality = quality_rows(
        cfg.ks,
        {names[key]: sse_numpy[key] for key in names if key in last},
        {names[key]: iters[key] for key in names if key in last},
    )
    return {
        "warmup": warmup,
        "raw": raw,
        "stats": stats,
        "last_per_k": {key: one.per_k for key, one in last.items()},
        "last_extra": {key: one.extra for key, one in last.items()},
        "goals": goal_rows(stats, goals(cfg.k_max, cfg.n_init)),
        "quality": quality,
        "quality_summary": quality_summary(quality),
    }


def print_report(cfg: SweepConfig, result: dict[str, Any]) -> None:
    labels = variant_labels(cfg.k_min, cfg.k_max, cfg.k, cfg.n_init)
    m = result["machine"]
    print(
        f"\n== sweep benchmark, preset {cfg.preset}: n={cfg.n} d={cfg.d} ({cfg.k} blobs, "
        f"spread {cfg.spread:g}) k={cfg.k_min}..{cfg.k_max} maxIter={cfg.max_iter} "
        f"tol={cfg.tol:g} seed={cfg.seed} partitions={cfg.partitions} repeats={cfg.repeats} "
        f"ours reads {cfg.ours_input}\n   load average (1, 5, 15 min) {_loads(m['loadavg_start'])} "
        f"at the start, {_loads(result['loadavg_end'])} at the end, on {m['usable_cpus']} CPUs"
    )
    print("\n".join(time_table(labels, result["stats"])))
    print("\n".join(goal_table(result["goals"])))
    print(TABLE_NOTES)
    if result["quality"]:
        print(
            "\nquality per k: SSE of each one's centres recomputed with numpy on the same data; "
            "iterations (it)"
        )
        print("\n".join(quality_table(result["quality"])))
        q = result["quality_summary"]
        print(
            f"sweep/MLlib SSE: max {fmt(q['sweep_over_mllib_max'], '.4f')}, geometric mean "
            f"{fmt(q['sweep_over_mllib_geomean'], '.4f')}, worse than MLlib at "
            f"{q['ks_worse_than_mllib']} of {q['ks_compared_with_mllib']} k; same SSE as ours' "
            f"separate fit (<= {q['same_tol']:g} relative) at {q['ks_same_as_ours_fit']} of "
            f"{q['ks_compared_with_ours_fit']} k"
        )
    r = result["restarts"]
    if r is not None:
        costs = ", ".join(f"{c:.6g}" for c in r["ninit_run_costs"])
        print(
            f"restarts at k={r['k']}: nInit=1 SSE {r['ninit1_sse']:.6g} ({r['ninit1_iters']} "
            f"iters), nInit={cfg.n_init} best SSE {r['ninit_best_sse']:.6g} (run "
            f"{r['ninit_best_run']}, {r['ninit_best_iters']} iters), ratio "
            f"{fmt(r['ninit_over_ninit1'], '.6f')}; run costs [{costs}]; over the oracle SSE "
            f"{fmt(r['oracle_sse'], '.6g')}: {fmt(r['ninit1_over_oracle'], '.4f')} and "
            f"{fmt(r['ninit_over_oracle'], '.4f')}"
        )
    extra = result["last_extra"]
    for key in ("sweep", "sweep_metrics"):
        if key in extra:
            phases = ", ".join(f"{p} {s:.3f}" for p, s in extra[key]["phaseSeconds"].items())
            print(f"{labels[key]} phases (last run, s): {phases}")
    if "sweep_metrics" in extra:
        c = extra["sweep_metrics"]["choice"]
        print(
            f"choice of the sweep + metrics: knee {c['knee']}, best CH "
            f"{c['best_calinski_harabasz']}, best silhouette {c['best_silhouette']}: "
            f"{c['verdict']}"
        )
    if "mllib_loop" in result["last_per_k"]:
        rows = result["last_per_k"]["mllib_loop"]
        init = [r["init_s"] for r in rows if r["init_s"] is not None]
        loop = [r["iterations_s"] for r in rows if r["iterations_s"] is not None]
        if init and loop:
            print(
                f"MLlib loop (last run, its log lines): seeding {sum(init):.3f} s, iterations "
                f"{sum(loop):.3f} s, of {sum(r['seconds'] for r in rows):.3f} s"
            )


def run(cfg: SweepConfig, args: argparse.Namespace) -> dict[str, Any]:
    print(f"[{cfg.preset}] data: n={cfg.n} d={cfg.d} k={cfg.k}", file=sys.stderr, flush=True)
    x, path, data_info = load_data(cfg)
    with bench_session(args.driver_memory, mllib_log=True) as (spark, log):
        info = machine()
        if cfg.ours_input == "columns":
            df = cached_columns(spark, path, cfg.d, cfg.partitions)
        else:
            df = cached_input(spark, path, cfg.partitions)
        try:
            measured = measure(cfg, SweepBench(cfg, df, log), x)
        finally:
            df.unpersist()
        lib_versions = versions(spark.sparkContext)
    per_k = measured["last_per_k"]
    single, multi = per_k.get("ours_ninit1"), per_k.get("ours_ninit")
    return {
        "args": vars(args),
        "config": {**asdict(cfg), "json_path": str(cfg.json_path), "data_dir": str(cfg.data_dir)},
        "versions": lib_versions,
        "machine": info,
        "loadavg_end": _loadavg(),
        "data": data_info,
        **measured,
        "restarts": restarts_record(
            single[0] if single else None, multi[0] if multi else None, data_info.get("oracle_sse")
        ),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args, cfg = parse_args(argv)
    result = run(cfg, args)
    print_report(cfg, result)
    write_json(result, cfg.json_path)
    return 0
