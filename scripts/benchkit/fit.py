"""The fit benchmark (scripts/bench.py): for each preset, every variant warmed up once,
then timed ``--repeats`` times in a rotated order; medians, ratios, floor, memory; a table
on stdout and one JSON file per preset. What each row and column means: scripts/bench.py."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from .config import Config, parse_args
from .data import initial_centers, load_data, sse
from .floor import measure_floor
from .memory import MemoryProbe, machine, memory_record, merge_peaks
from .report import (
    all_ratios,
    print_floor,
    print_memory,
    print_oracle,
    print_ratios,
    print_table,
    ratio,
    summarize_all,
    table_ratios,
    write_json,
)
from .spark import (
    MllibLog,
    SparkJobs,
    bench_session,
    cached_input,
    cached_rdd,
    jvm_pid,
    storage_info,
    versions,
)
from .timing import interleaved, warm_up
from .variants import RUNNERS, Bench, Run

if TYPE_CHECKING:
    from pyspark import SparkContext
    from pyspark.sql import SparkSession


def _importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def run_preset(
    cfg: Config, spark: SparkSession, args: argparse.Namespace, log: MllibLog | None
) -> dict[str, Any]:
    """One preset: data, cached input, warm-up, the timed repeats, medians, ratios, floor
    and memory; prints the tables and returns the JSON record. The cached inputs are
    unpersisted whatever happens."""
    if "sklearn" in cfg.variants and not _importable("sklearn"):
        print("scikit-learn is not installed: no scikit-learn row", file=sys.stderr)
        cfg.variants.remove("sklearn")
    print(f"[{cfg.preset}] data: n={cfg.n} d={cfg.d} k={cfg.k}", file=sys.stderr, flush=True)
    x, path, data_info = load_data(cfg)
    df = cached_input(spark, path, cfg.partitions)
    rdd = None
    try:
        rdd = cached_rdd(df) if "mllib_rdd_init" in cfg.variants else None
        b = Bench(
            cfg=cfg,
            x=x,
            df=df,
            rdd=rdd,
            init=initial_centers(x, cfg.k, cfg.seed),
            log=log,
            jobs=SparkJobs(spark.sparkContext),
        )
        measured = _measure(cfg, b, spark.sparkContext, data_info)
    finally:
        if rdd is not None:
            rdd.unpersist()
        df.unpersist()
    return {
        "args": vars(args),
        "config": {**asdict(cfg), "json_path": str(cfg.json_path), "data_dir": str(cfg.data_dir)},
        "versions": versions(spark.sparkContext),
        "machine": machine(),
        "data": data_info,
        "initial_centers_for_same_init": "k distinct data points drawn with --seed",
        **measured,
    }


def _measure(cfg: Config, b: Bench, sc: SparkContext, data_info: dict[str, Any]) -> dict[str, Any]:
    """The preset's measurements on its cached input: warm-up, interleaved repeats, medians,
    ratios, floor, memory; prints the tables."""
    probe = MemoryProbe(jvm_pid(sc))
    order = sorted(cfg.variants, key=lambda v: v != "mllib_rdd_init")
    warmup = warm_up(order, lambda key: RUNNERS[key](b).record(), cfg.preset)
    raw: dict[str, list[dict[str, Any]]] = {key: [] for key in cfg.variants}
    peaks: dict[str, dict[str, float]] = {key: {} for key in cfg.variants}
    last: dict[str, Run] = {}
    for rep, key in interleaved(order, cfg.repeats):
        print(f"[{cfg.preset}] repeat {rep + 1}/{cfg.repeats} {key}", file=sys.stderr)
        probe.reset()
        run = RUNNERS[key](b)
        peaks[key] = merge_peaks(peaks[key], probe.peak_mb())
        raw[key].append(run.record())
        last[key] = run
    sse_values = {key: sse(b.x, last[key].centers) for key in order}
    by_order = summarize_all(order, raw, sse_values)
    medians = {key: by_order[key] for key in cfg.variants}  # table order
    ratios_table = table_ratios(medians)
    ratios_all = all_ratios(medians)
    floor = measure_floor(sc, b.x, b.init, cfg.partitions) if cfg.floor else None
    memory = memory_record(peaks, probe, b.x, storage_info(sc))
    oracle = data_info.get("oracle_sse")
    for m in medians.values():
        m["sse_over_oracle"] = ratio(m["sse"], oracle)
    print_table(cfg, medians, ratios_table)
    if oracle:
        print_oracle(medians, oracle)
    print_ratios(ratios_all)
    if floor is not None:
        print_floor(floor, medians)
    print_memory(cfg, memory)
    return {
        "warmup": warmup,
        "raw": raw,
        "medians": medians,
        "ratios_table": ratios_table,
        "ratios_all": ratios_all,
        "floor": floor,
        "memory": memory,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args, configs = parse_args(argv)
    with bench_session(args.driver_memory, mllib_log=args.mllib_split == "log") as (spark, log):
        for cfg in configs:
            write_json(run_preset(cfg, spark, args, log), cfg.json_path)
    return 0
