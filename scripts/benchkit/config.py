"""Presets, the variants (rows) and the fit benchmark's command line; the command-line parts
every benchmark shares: name lists (:func:`add_names`), preset sizes and their overrides
(:func:`add_size_args`, :func:`sized`), seeds and repeats (:func:`add_run_args`), and the
usage errors (:func:`check_at_least`, :func:`check_json_per_name`)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


class _Names(argparse.Action):
    """A repeatable, comma-separated flag of names out of ``known`` (see :func:`add_names`):
    the names given, in order, else the default; an unknown name is a usage error (exit 2)
    naming the choices."""

    def __init__(self, *args: Any, known: Sequence[str], what: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.known = list(known)
        self.what = what

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        names = csv_list([str(values)])
        unknown = [name for name in names if name not in self.known]
        if unknown:
            parser.error(f"unknown {self.what}(s) {unknown}; choose from {', '.join(self.known)}")
        given = getattr(namespace, self.dest)
        # the default is replaced by the first use, not extended
        setattr(namespace, self.dest, (given if given is not self.default else []) + names)


def add_names(
    p: argparse.ArgumentParser,
    flag: str,
    known: Sequence[str],
    default: Sequence[str],
    what: str,
) -> None:
    """``flag`` (repeatable, comma lists) names some of ``known``: ``args.<flag>`` is the
    list given, in the order given, else ``default`` (empty: the caller decides)."""
    if not default or list(default) == list(known):
        shown = " (default all)" if default else ""
    else:
        shown = f" (default {','.join(default)})"
    p.add_argument(
        flag,
        action=_Names,
        known=known,
        what=what,
        default=list(default),
        metavar="NAMES",
        help=f"{what}s, comma list of {','.join(known)}{shown}",
    )


def add_size_args(p: argparse.ArgumentParser, k_help: str = "true and fitted k") -> None:
    """The blobs' shape, each overriding the preset's, and their spread."""
    p.add_argument("--n", type=int, help="rows (overrides the preset)")
    p.add_argument("--d", type=int, help="dimensions")
    p.add_argument("--k", type=int, help=k_help)
    p.add_argument("--spread", type=float, default=1.0, help="blob std (centres in [-10,10]^d)")


def sized(preset: Mapping[str, int], args: argparse.Namespace) -> dict[str, int]:
    """A preset's sizes, each replaced by the flag of its name where one is given."""
    return {key: getattr(args, key, None) or value for key, value in preset.items()}


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


def check_at_least(p: argparse.ArgumentParser, args: argparse.Namespace, **least: int) -> None:
    """A usage error (exit 2) naming every flag below its least value (``None``: not given,
    fine): ``check_at_least(p, args, repeats=1, max_iter=2)``."""
    low = [
        f"--{name.replace('_', '-')}={value} must be >= {bound}"
        for name, bound in least.items()
        if (value := getattr(args, name)) is not None and value < bound
    ]
    if low:
        p.error("; ".join(low))


def check_json_per_name(
    p: argparse.ArgumentParser, template: str, placeholder: str, names: Sequence[str]
) -> None:
    """With several names, each run's JSON needs its own path: ``placeholder`` in it."""
    if len(names) > 1 and placeholder not in template:
        p.error(f"with several {placeholder[1:-1]}s, --json must contain {placeholder}")


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, list[Config]]:
    p = argparse.ArgumentParser(
        description="Benchmark kmeans_spark.KMeans against Spark MLlib and scikit-learn.",
        epilog="See the module docstring (scripts/bench.py) for what every number means.",
    )
    add_names(p, "--preset", list(PRESETS), ["small"], "preset")
    add_size_args(p)
    add_run_args(p)
    add_names(p, "--variants", list(VARIANTS), list(VARIANTS), "variant")
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
    check_json_per_name(p, args.json, "{preset}", args.preset)
    check_at_least(p, args, repeats=1, partitions=1, max_iter=2)
    configs = []
    for name in args.preset:
        size = sized(PRESETS[name], args)
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
                variants=[v for v in VARIANTS if v in args.variants],
                floor=args.floor,
                json_path=Path(args.json.replace("{preset}", name)),
                data_dir=Path(args.data_dir),
            )
        )
    return args, configs
