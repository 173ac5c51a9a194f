"""Presets, the variants (rows) and the fit benchmark's command line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PRESETS: dict[str, dict[str, int]] = {
    "small": {"n": 200_000, "d": 2, "k": 3},
    "medium": {"n": 1_000_000, "d": 16, "k": 10},
    "wide": {"n": 1_000_000, "d": 64, "k": 100},
    "manyk": {"n": 200_000, "d": 32, "k": 1000},
}

#: Variant key -> label in the table, in table order.
VARIANTS: dict[str, str] = {
    "ours": "ours",
    "ours_f32": "ours float32",
    "mllib_auto": "MLlib auto",
    "mllib_row": "MLlib row",
    "ours_init": "ours same-init",
    "mllib_rdd_init": "MLlib RDD same-init",
    "sklearn": "scikit-learn",
}

#: The MLlib row each of ours is compared with in the table.
TABLE_REFERENCE: dict[str, str] = {
    "ours": "mllib_auto",
    "ours_f32": "mllib_auto",
    "ours_init": "mllib_rdd_init",
}


@dataclass
class Config:
    preset: str
    n: int
    d: int
    k: int
    spread: float
    data_seed: int
    seed: int
    partitions: int
    max_iter: int
    repeats: int
    variants: list[str]
    floor: bool
    json_path: Path
    data_dir: Path


def csv_list(values: Sequence[str]) -> list[str]:
    """Repeated and comma-separated values as one list: ``["a,b", "c"]`` -> ``[a, b, c]``."""
    return [v.strip() for text in values for v in text.split(",") if v.strip()]


def add_run_args(p: argparse.ArgumentParser) -> None:
    """The flags of every side-by-side benchmark in one session: the data's and the fits'
    seeds (the fits' also draws a shared init), the cached input's partitions, maxIter,
    timed repeats, the driver's memory."""
    p.add_argument("--data-seed", type=int, default=0, help="seed of the generated data")
    p.add_argument("--seed", type=int, default=1, help="seed of every fit (and shared init)")
    p.add_argument("--partitions", type=int, default=2, help="partitions of the cached input")
    p.add_argument("--max-iter", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3, help="timed repetitions")
    p.add_argument("--driver-memory", default="12g", help="spark.driver.memory")


def chosen(
    parser: argparse.ArgumentParser,
    given: Sequence[str],
    known: Sequence[str],
    what: str,
    default: Sequence[str],
) -> list[str]:
    """The names of a repeatable, comma-separated flag (``default`` when none is given), in
    the order given; an unknown one is a usage error (exit 2) naming the choices."""
    names = csv_list(given) or list(default)
    unknown = [name for name in names if name not in known]
    if unknown:
        parser.error(f"unknown {what}(s) {unknown}; choose from {', '.join(known)}")
    return names


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, list[Config]]:
    p = argparse.ArgumentParser(
        description="Benchmark kmeans_spark.KMeans against Spark MLlib and scikit-learn.",
        epilog="See the module docstring (scripts/bench.py) for what every number means.",
    )
    p.add_argument("--preset", action="append", default=[], help="name or comma list")
    p.add_argument("--n", type=int, help="rows (overrides the preset)")
    p.add_argument("--d", type=int, help="dimensions")
    p.add_argument("--k", type=int, help="true and fitted k")
    p.add_argument("--spread", type=float, default=1.0, help="blob std (centres in [-10,10]^d)")
    add_run_args(p)
    p.add_argument(
        "--variants", action="append", default=[], help=f"subset of {','.join(VARIANTS)}"
    )
    p.add_argument("--floor", action="store_true", help="also measure the platform floor")
    p.add_argument(
        "--mllib-split",
        choices=("log", "diff"),
        default="log",
        help="how MLlib's seeding and iteration times are had: its own log lines (default) "
        "or t(maxIter=N) - t(maxIter=1)",
    )
    p.add_argument("--data-dir", default=str(REPO / "bench-results" / "data"))
    p.add_argument(
        "--json",
        default=str(REPO / "bench-results" / "bench-{preset}.json"),
        help="output path; {preset} is replaced by the preset name",
    )
    args = p.parse_args(argv)
    presets = chosen(p, args.preset, list(PRESETS), "preset", ["small"])
    variants = chosen(p, args.variants, list(VARIANTS), "variant", list(VARIANTS))
    if len(presets) > 1 and "{preset}" not in args.json:
        p.error("with several presets, --json must contain {preset}")
    if args.repeats < 1 or args.max_iter < 2 or args.partitions < 1:
        p.error("--repeats and --partitions must be >= 1, --max-iter >= 2")
    configs = []
    for name in presets:
        size = {key: getattr(args, key) or value for key, value in PRESETS[name].items()}
        configs.append(
            Config(
                preset=name,
                n=size["n"],
                d=size["d"],
                k=size["k"],
                spread=args.spread,
                data_seed=args.data_seed,
                seed=args.seed,
                partitions=args.partitions,
                max_iter=args.max_iter,
                repeats=args.repeats,
                variants=[v for v in VARIANTS if v in variants],
                floor=args.floor,
                json_path=Path(args.json.replace("{preset}", name)),
                data_dir=Path(args.data_dir),
            )
        )
    return args, configs
