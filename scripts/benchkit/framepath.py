"""The frame-path benchmark (scripts/bench_frame_path.py): a Lloyd pass over resident blocks
(:class:`kmeans_spark.blocks.ResidentBlocks`) on its RDD transport (the cached RDD of
handles, :mod:`kmeans_spark.blocks_rdd`) against its DataFrame transport (the cached
DataFrame of handles, :mod:`kmeans_spark.blocks_frame`), same data, same start. The variant
``resident`` is ``Tuning(transport="rdd")``, ``frame`` is ``Tuning(transport="dataframe")``.

Per preset (``medium``, ``wide`` of scripts/bench.py): the Parquet input is read once, as
one ``array<double>`` feature column repartitioned to ``--partitions`` and cached. Each
variant then loads its blocks (timed: ``load s``), runs ``run_lloyd_runs`` from the same
start (k rows of the load's seeded sample, ``seeding.random_init`` on the first load's
handles), ``tol=0``, ``--max-iter`` passes at most, and removes its blocks. Every variant
is run once untimed, then ``--repeats`` times, interleaved, the order rotated each repeat.

Then ``--empty-passes`` passes whose step does nothing but open the blocks: the fixed cost
of a pass on each path (job, closure, collect), its median per fit in ``empty pass``.

Per pass: ``LloydResult.iteration_seconds`` (driver wall time of one pass: closure, job,
collect, merge, centre update), without the first pass (no pruning bounds yet). Per fit the
median of those; the table shows the median and the minimum over the repeats, and the
ratio frame / resident of each, and the median over the repeats of the ratio within each
repeat (its two fits ran next to each other: the steadiest figure on a shared machine).
Under ``--session connect`` (a local Connect server, see kmeans_spark.connectserver) only
the frame path runs; ``--compare`` checks its centres against a classic run's JSON
(relative 1e-9).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .config import PRESETS, REPO, add_names, check_at_least
from .data import data_path
from .memory import machine
from .report import Column, table_lines, write_json
from .timing import interleaved, warm_up

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from kmeans_spark.lloyd import LloydResult

VARIANTS = {"resident": "RDD transport", "frame": "DataFrame transport"}
#: The engine's transport of each variant (``Tuning.transport``).
TRANSPORT = {"resident": "rdd", "frame": "dataframe"}
#: The issue's rule: within this ratio per pass, one path serves both session kinds.
SAME_SPEED = 0.05


@dataclass
class Preset:
    preset: str
    n: int
    d: int
    k: int
    spread: float
    data_seed: int
    data_dir: Path


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Per-pass time of Lloyd over resident blocks: RDD path vs DataFrame path.",
        epilog="See scripts/benchkit/framepath.py for what every number means.",
    )
    add_names(p, "--preset", list(PRESETS), ["medium", "wide"], "preset")
    p.add_argument("--session", choices=("classic", "connect"), default="classic")
    # default: both in a classic session, the frame path alone under Connect
    add_names(p, "--variants", list(VARIANTS), [], "variant")
    p.add_argument("--repeats", type=int, default=5, help="timed repetitions")
    p.add_argument("--max-iter", type=int, default=10)
    p.add_argument("--partitions", type=int, default=2, help="partitions of the cached input")
    p.add_argument("--seed", type=int, default=1, help="seed of the load's sample (the start)")
    p.add_argument(
        "--empty-passes", type=int, default=10, help="passes that do nothing, per fit (0: none)"
    )
    p.add_argument("--driver-memory", default="4g")
    p.add_argument("--data-dir", default=str(REPO / "bench-data"))
    p.add_argument("--json", default=str(REPO / "bench-results" / "frame-path-{session}.json"))
    p.add_argument("--compare", help="a classic run's JSON: compare centres (rtol 1e-9)")
    args = p.parse_args(argv)
    args.presets = args.preset
    default = ["resident", "frame"] if args.session == "classic" else ["frame"]
    args.variant_keys = args.variants or default
    if args.session == "connect" and "resident" in args.variant_keys:
        p.error("--session connect has no RDD API: only the frame variant runs there")
    check_at_least(p, args, repeats=1, max_iter=2)
    return args


# -- sessions and input ---------------------------------------------------------------------


@contextlib.contextmanager
def session(kind: str, driver_memory: str) -> Iterator[SparkSession]:
    """A classic local[2] session, or a client of a local[2] Connect server (a subprocess,
    stopped at the end); the settings of the job's local sessions either way."""
    from kmeans_spark.session import LOCAL_DEFAULTS, local_session, session_defaults

    if kind == "classic":
        spark = local_session(
            "kmeans-spark frame-path bench",
            master="local[2]",
            conf={"spark.driver.memory": driver_memory, "spark.ui.showConsoleProgress": "false"},
        )
        spark.sparkContext.setLogLevel("WARN")
        try:
            yield spark
        finally:
            spark.stop()
        return
    from kmeans_spark.connectserver import remote_session, start_server
    from kmeans_spark.session import driver_log_options

    conf = {**LOCAL_DEFAULTS, **session_defaults("local[2]", sys.executable)}
    conf.update(driver_log_options(conf, {}))
    with tempfile.TemporaryDirectory(prefix="kmeans-connect-") as log_dir:
        server = start_server(Path(log_dir), conf=conf, driver_memory=driver_memory)
        try:
            with remote_session(server.url) as remote:
                yield remote
        finally:
            server.stop()


def input_path(cfg: Preset) -> tuple[Path, list[str] | None]:
    """The preset's Parquet blobs (one ``features`` list column), else the job benchmark's
    files of the same data (columns ``x0..``), written by scripts/bench_job.py."""
    path = data_path(cfg)
    if path.exists():
        return path, None
    job = cfg.data_dir / (
        f"job-n{cfg.n}-d{cfg.d}-k{cfg.k}-spread{cfg.spread:g}-seed{cfg.data_seed}-files4"
    )
    if job.is_dir():
        return job, [f"x{i}" for i in range(cfg.d)]
    raise SystemExit(
        f"no input for n={cfg.n} d={cfg.d} k={cfg.k}: neither {path} nor {job}; run "
        f"scripts/bench.py --preset {cfg.preset} --data-dir {cfg.data_dir} once to write it"
    )


def cached_features(spark: SparkSession, cfg: Preset, partitions: int) -> DataFrame:
    """The load's input columns (:func:`kmeans_spark.dataset.prepare`), repartitioned and
    cached, so every variant's load reads the same partitions from memory."""
    from kmeans_spark.dataset import prepare

    path, columns = input_path(cfg)
    raw = spark.read.parquet(str(path))
    df = prepare(raw, "features", columns, None).repartition(partitions).cache()
    df.count()
    return df


# -- one timed fit --------------------------------------------------------------------------


def fit_once(
    variant: str,
    features: DataFrame,
    cfg: Preset,
    args: argparse.Namespace,
    starts: list[np.ndarray],
) -> tuple[dict[str, Any], LloydResult]:
    """Load the blocks with ``variant``'s engine, run Lloyd from ``starts`` (when empty:
    from the load's sample, appended to it), remove the blocks; the timings."""
    from kmeans_spark.blocks import ResidentBlocks
    from kmeans_spark.lloyd import run_lloyd_runs
    from kmeans_spark.load import LoadSettings
    from kmeans_spark.seeding import random_init
    from kmeans_spark.tuning import Tuning

    settings = LoadSettings(sample_size=cfg.k, seed=args.seed)
    tuning = Tuning(transport=TRANSPORT[variant])
    t0 = time.perf_counter()
    with ResidentBlocks(features, settings, k=cfg.k, tuning=tuning) as blocks:
        handles = blocks.load()
        load_s = time.perf_counter() - t0
        if not starts:
            starts.append(random_init(handles, cfg.k, cfg.d, args.seed)[0].centers)
        (result,) = run_lloyd_runs(
            blocks, starts, max_iter=args.max_iter, tol=0.0, spherical=False, reseed_empty=True
        )
        threads = blocks.threads
        empty = [empty_pass(blocks) for _ in range(args.empty_passes)]
    passes = result.iteration_seconds[1:]
    record = {
        "load_s": load_s,
        "pass_s": result.iteration_seconds,
        "pass_median_s": statistics.median(passes) if passes else float("nan"),
        "iters": result.num_iter,
        "cost": result.cost,
        "threads": threads,
        "total_s": time.perf_counter() - t0,
        "empty_pass_s": empty,
        "empty_pass_median_s": statistics.median(empty) if empty else float("nan"),
    }
    return record, result


def empty_pass(blocks: Any) -> float:
    """Seconds of a pass whose step does nothing (it still opens every block): the fixed
    cost of a pass on this path. Lambdas, so the workers need not import this module."""
    t0 = time.perf_counter()
    blocks.run(lambda h, x, w: h.rows, lambda a, b: a + b)
    return time.perf_counter() - t0


# -- the preset -----------------------------------------------------------------------------


def summary(runs: list[dict[str, Any]]) -> dict[str, float]:
    medians = [r["pass_median_s"] for r in runs]
    return {
        "pass_median_s": statistics.median(medians),
        "pass_min_s": min(min(r["pass_s"][1:], default=float("nan")) for r in runs),
        "fit_pass_median_min_s": min(medians),
        "load_median_s": statistics.median(r["load_s"] for r in runs),
        "empty_pass_median_s": statistics.median(r["empty_pass_median_s"] for r in runs),
        "iters": runs[0]["iters"],
    }


def run_preset(cfg: Preset, spark: SparkSession, args: argparse.Namespace) -> dict[str, Any]:
    features = cached_features(spark, cfg, args.partitions)
    starts: list[np.ndarray] = []
    centers: dict[str, np.ndarray] = {}

    def run(variant: str) -> dict[str, Any]:
        record, result = fit_once(variant, features, cfg, args, starts)
        centers[variant] = result.centers
        return record

    try:
        label = f"{cfg.preset} {args.session}"
        warm_up(args.variant_keys, run, label)
        runs: dict[str, list[dict[str, Any]]] = {v: [] for v in args.variant_keys}
        for rep, variant in interleaved(args.variant_keys, args.repeats):
            print(f"[{label}] repeat {rep + 1} {variant}", file=sys.stderr, flush=True)
            runs[variant].append(run(variant))
    finally:
        features.unpersist()
    stats = {v: summary(r) for v, r in runs.items()}
    out: dict[str, Any] = {
        "preset": cfg.preset,
        "n": cfg.n,
        "d": cfg.d,
        "k": cfg.k,
        "partitions": args.partitions,
        "start": starts[0].tolist(),
        "runs": runs,
        "summary": stats,
        "centers": {v: c.tolist() for v, c in centers.items()},
    }
    if {"resident", "frame"} <= stats.keys():
        a, b = stats["frame"], stats["resident"]
        paired = [
            f["pass_median_s"] / r["pass_median_s"]
            for f, r in zip(runs["frame"], runs["resident"], strict=True)
        ]
        out["ratio_frame_over_resident"] = {
            "pass_median": a["pass_median_s"] / b["pass_median_s"],
            "paired_pass_median": statistics.median(paired),
            "fit_pass_median_min": a["fit_pass_median_min_s"] / b["fit_pass_median_min_s"],
            "pass_min": a["pass_min_s"] / b["pass_min_s"],
            "load_median": a["load_median_s"] / b["load_median_s"],
            "empty_pass_median": a["empty_pass_median_s"] / b["empty_pass_median_s"],
        }
        out["max_rel_center_diff"] = relative_diff(centers["frame"], centers["resident"])
    return out


def relative_diff(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max(|b|, tiny), elementwise."""
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


PASS_COLUMNS = (
    Column("s/pass med", "10.4f"),
    Column("s/pass min", "10.4f"),
    Column("best fit med", "12.4f"),
    Column("empty pass", "10.4f"),
    Column("load s", "7.2f"),
    Column("iters", "5.0f"),
)


def print_preset(out: dict[str, Any], args: argparse.Namespace) -> None:
    print(
        f"\n== {out['preset']}: n={out['n']} d={out['d']} k={out['k']} "
        f"partitions={out['partitions']} session={args.session} repeats={args.repeats} "
        f"maxIter={args.max_iter} tol=0 (pass 1 left out)"
    )
    rows = []
    for v, s in out["summary"].items():
        values = [
            s["pass_median_s"],
            s["pass_min_s"],
            s["fit_pass_median_min_s"],
            s["empty_pass_median_s"],
            s["load_median_s"],
            s["iters"],
        ]
        rows.append((VARIANTS[v], values))
    print("\n".join(table_lines("path", 24, PASS_COLUMNS, rows)))
    r = out.get("ratio_frame_over_resident")
    if r:
        verdict = "within" if abs(r["pass_median"] - 1) <= SAME_SPEED else "outside"
        print(
            f"frame / resident: per pass {r['pass_median']:.3f} (medians), "
            f"{r['paired_pass_median']:.3f} (median of each repeat's ratio), "
            f"{r['fit_pass_median_min']:.3f} (best fit), {r['pass_min']:.3f} (fastest pass); "
            f"empty pass {r['empty_pass_median']:.3f}; load {r['load_median']:.3f}; "
            f"{verdict} {SAME_SPEED:.0%}"
        )
        diff = out["max_rel_center_diff"]
        print(f"centres frame vs resident: max relative difference {diff:.3g}")
    if "compare" in out:
        c = out["compare"]
        print(f"centres vs {c['path']} ({c['against']}): max relative difference {c['diff']:.3g}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    reference = {}
    if args.compare:
        with open(args.compare) as fh:
            reference = {p["preset"]: p for p in json.load(fh)["presets"]}
    start_machine = machine()
    results = []
    with session(args.session, args.driver_memory) as spark:
        for name in args.presets:
            size = PRESETS[name]
            data_dir = Path(args.data_dir).resolve()  # a Connect server has its own cwd
            cfg = Preset(name, size["n"], size["d"], size["k"], 1.0, 0, data_dir)
            out = run_preset(cfg, spark, args)
            ref = reference.get(name)
            if ref is not None:
                against = "resident" if "resident" in ref["centers"] else "frame"
                out["compare"] = {
                    "path": args.compare,
                    "against": against,
                    "same_start": ref["start"] == out["start"],
                    "diff": relative_diff(
                        np.asarray(out["centers"]["frame"]), np.asarray(ref["centers"][against])
                    ),
                }
            print_preset(out, args)
            results.append(out)
    result = {
        "session": args.session,
        "args": dict(vars(args)),
        "machine": {**start_machine, "loadavg_end": list(os.getloadavg())},
        "note": "shared 2-core machine: other workers ran meanwhile; variants interleaved",
        "presets": results,
    }
    write_json(result, Path(args.json.replace("{session}", args.session)))
    return 0
