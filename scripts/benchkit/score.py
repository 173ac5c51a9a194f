"""The scoring benchmark: ``KMeansModel.transform`` of ours against Spark MLlib's, with the
same centres on the same cached DataFrame, in one SparkSession.

Ours runs on both of its paths (``Tuning.jvm_scoring_max_kd`` forces one): the JVM path
(Spark's own model labels, Spark SQL checks rows and measures distances) and the Arrow path
(one GEMM per Arrow batch in Python), each without and with ``distanceCol``; the table marks
the rows of the path the default rule picks. Each variant scores the whole input into Spark's
``noop`` sink (every row computed, nothing written), warmed up once, then timed ``repeats``
times in a rotating order; the table shows the minimum (the least disturbed run on a shared
machine) and the median. Before timing, one pass over every row counts the labels of each
path that differ from MLlib's and the largest distance difference between the paths.

``--sweep`` times both paths (with ``distanceCol``, as the batch job scores) and MLlib over a
grid of k and features instead: the measurements behind ``jvm_scoring_max_kd``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchkit.config import REPO, add_names, csv_list
from benchkit.data import initial_centers, load_data
from benchkit.report import Column, ratio, table_lines, write_json
from benchkit.spark import bench_session, cached_input, versions
from benchkit.timing import interleaved, timed

if TYPE_CHECKING:
    import numpy as np
    from pyspark.sql import DataFrame

#: The shapes of the issue's scoring goals: (rows, features, clusters) and the target ratio.
SCORE_PRESETS: dict[str, dict[str, Any]] = {
    "score16": {"n": 1_000_000, "d": 16, "k": 10, "target": 1.0},
    "score64": {"n": 300_000, "d": 64, "k": 100, "target": 1.0},
    "score1000": {"n": 200_000, "d": 32, "k": 1000, "target": 0.35},
}

#: Variant key -> (label, path forced or None for MLlib, with distanceCol).
VARIANTS: dict[str, tuple[str, str | None, bool]] = {
    "mllib": ("MLlib transform", None, False),
    "jvm": ("ours, jvm path", "jvm", False),
    "jvm_distance": ("ours, jvm + distance", "jvm", True),
    "arrow": ("ours, arrow path", "arrow", False),
    "arrow_distance": ("ours, arrow + distance", "arrow", True),
}

#: The sweep's grid: rows, features and clusters (the model's k; the data has 16 blobs).
SWEEP_ROWS = 300_000
SWEEP_DIMS = (2, 4, 8, 16)
SWEEP_KS = (2, 8, 32, 128, 512)
SWEEP_BLOBS = 16


@dataclass
class ScoreConfig:
    preset: str
    n: int
    d: int
    k: int
    target: float
    spread: float
    data_seed: int
    partitions: int
    repeats: int
    data_dir: Path


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, list[ScoreConfig]]:
    parser = argparse.ArgumentParser(description="Scoring: ours against MLlib's transform.")
    add_names(parser, "--preset", list(SCORE_PRESETS), list(SCORE_PRESETS), "preset")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--spread", type=float, default=1.0)
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--driver-memory", default="8g")
    parser.add_argument("--data-dir", default=str(REPO / "bench-data"))
    parser.add_argument("--json", default=None, help="default bench-results/score[-sweep].json")
    parser.add_argument("--sweep", action="store_true", help="the k x features grid instead")
    parser.add_argument("--sweep-rows", type=int, default=SWEEP_ROWS)
    parser.add_argument("--sweep-dims", default=",".join(map(str, SWEEP_DIMS)))
    parser.add_argument("--sweep-ks", default=",".join(map(str, SWEEP_KS)))
    args = parser.parse_args(argv)
    configs = [
        ScoreConfig(
            preset=name,
            spread=args.spread,
            data_seed=args.data_seed,
            partitions=args.partitions,
            repeats=args.repeats,
            data_dir=Path(args.data_dir),
            **SCORE_PRESETS[name],
        )
        for name in args.preset
    ]
    return args, configs


def spark_model_of(ours: Any, spark: Any) -> Any:
    """MLlib's own ``KMeansModel`` with our centres, through the Spark-format export."""
    from pyspark.ml.clustering import KMeansModel as SparkKMeansModel

    tmp = tempfile.mkdtemp(prefix="kmeans-score-")
    try:
        ours.write().format("spark").save(f"{tmp}/model")
        return SparkKMeansModel.load(f"{tmp}/model")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ours_on(centers: np.ndarray, path: str, distance: bool) -> Any:
    """Our model of ``centers``, forced onto ``path`` ("jvm" or "arrow"); None when it cannot
    take that path (the JVM path takes at most ``JVM_MAX_FEATURES``)."""
    from kmeans_spark import KMeansModel
    from kmeans_spark.tuning import DEFAULT_TUNING

    max_kd = 2**62 if path == "jvm" else 0
    model = KMeansModel(centers).setTuning(replace(DEFAULT_TUNING, jvm_scoring_max_kd=max_kd))
    if model.scoringPath() != path:
        return None
    return model.setDistanceCol("distance") if distance else model


def path_agreement(centers: np.ndarray, theirs: Any, df: DataFrame) -> dict[str, Any]:
    """One pass over every row: labels of each path that differ from MLlib's, and the
    largest distance difference between the paths (None for a path the model cannot take)."""
    from pyspark.sql import functions as F

    scored, checks = theirs.transform(df), []
    for path in ("jvm", "arrow"):
        model = ours_on(centers, path, True)
        if model is not None:
            model.setPredictionCol(f"p_{path}").setDistanceCol(f"d_{path}")
            scored = model.transform(scored)
            checks.append(
                F.sum((F.col(f"p_{path}") != F.col("prediction")).cast("int")).alias(path)
            )
    if len(checks) == 2:
        checks.append(F.max(F.abs(F.col("d_jvm") - F.col("d_arrow"))).alias("distance"))
    row = scored.agg(*checks).first()
    assert row is not None
    found = row.asDict()
    return {
        "jvm_labels_mismatched": found.get("jvm"),
        "arrow_labels_mismatched": found.get("arrow"),
        "max_distance_difference": found.get("distance"),
    }


def time_variants(
    models: dict[str, Any], df: DataFrame, repeats: int, label: str | None
) -> dict[str, list[float]]:
    """Seconds of each model's transform into the ``noop`` sink: one warm-up each, then
    ``repeats`` runs in a rotating order (each printed after ``label``, if any)."""

    def score(key: str) -> Callable[[], None]:
        return lambda: models[key].transform(df).write.format("noop").mode("overwrite").save()

    seconds: dict[str, list[float]] = {key: [] for key in models}
    for key in models:  # warm-up
        score(key)()
    for _, key in interleaved(list(models), repeats):
        elapsed, _ = timed(score(key))
        seconds[key].append(elapsed)
        if label is not None:
            print(f"  {label} {key}: {elapsed:.3f} s", flush=True)
    return seconds


def run_preset(cfg: ScoreConfig, spark: Any) -> dict[str, Any]:
    from kmeans_spark import KMeansModel

    x, path, data_info = load_data(cfg)
    centers = initial_centers(x, cfg.k, seed=1)
    del x
    df = cached_input(spark, path, cfg.partitions)
    try:
        rule_path = KMeansModel(centers).scoringPath()
        theirs = spark_model_of(KMeansModel(centers), spark)
        agreement = path_agreement(centers, theirs, df)
        models = {
            key: theirs if forced is None else ours_on(centers, forced, distance)
            for key, (_, forced, distance) in VARIANTS.items()
        }
        models = {key: model for key, model in models.items() if model is not None}
        seconds = time_variants(models, df, cfg.repeats, cfg.preset)
    finally:
        df.unpersist()
    best = {key: min(values) for key, values in seconds.items()}
    return {
        "preset": cfg.preset,
        "n": cfg.n,
        "d": cfg.d,
        "k": cfg.k,
        "partitions": cfg.partitions,
        "repeats": cfg.repeats,
        "target": cfg.target,
        "rule_path": rule_path,
        **agreement,
        "seconds": seconds,
        "min_s": best,
        "ratio_min": {key: ratio(best[key], best["mllib"]) for key in best},
        "data": data_info,
    }


COLUMNS = (
    Column("min s", "8.3f"),
    Column("median s", "8.3f"),
    Column("M rows/s", "8.2f"),
    Column("/MLlib", "7.2f"),
    Column("target", "7.2f"),
)


def print_result(result: dict[str, Any]) -> None:
    differing = result["max_distance_difference"]
    print(
        f"\n== {result['preset']}: n={result['n']} d={result['d']} k={result['k']} "
        f"partitions={result['partitions']} repeats={result['repeats']}; the rule picks the "
        f"{result['rule_path']} path (*); labels differing from MLlib's: jvm "
        f"{_or_dash(result['jvm_labels_mismatched'])}, arrow "
        f"{_or_dash(result['arrow_labels_mismatched'])}; largest distance difference jvm - "
        f"arrow: {'-' if differing is None else format(differing, '.2g')}"
    )
    rows = []
    for key, (label, forced, distance) in VARIANTS.items():
        if key not in result["min_s"]:
            continue  # a path this model cannot take
        best = result["min_s"][key]
        chosen = forced == result["rule_path"]
        target = result["target"] if chosen and not distance else None
        rows.append(
            (
                label + (" *" if chosen else ""),
                [
                    best,
                    statistics.median(result["seconds"][key]),
                    result["n"] / best / 1e6,
                    result["ratio_min"][key],
                    target,
                ],
            )
        )
    print("\n".join(table_lines("variant", 24, COLUMNS, rows)))


def _or_dash(value: Any) -> str:
    return "-" if value is None else str(value)


# -- the sweep behind the rule ----------------------------------------------------------------


@dataclass
class SweepData:
    """One data set of the sweep (a ``BlobSpec``): ``k`` is its number of blobs."""

    n: int
    d: int
    k: int
    spread: float
    data_seed: int
    data_dir: Path


SWEEP_VARIANTS = {"mllib": "MLlib", "jvm": "jvm + distance", "arrow": "arrow + distance"}


def run_sweep(args: argparse.Namespace, spark: Any) -> list[dict[str, Any]]:
    """Both paths with ``distanceCol`` and MLlib, for every (features, k) of the grid."""
    from kmeans_spark import KMeansModel

    out = []
    for d in (int(v) for v in csv_list([args.sweep_dims])):
        data = SweepData(
            args.sweep_rows, d, SWEEP_BLOBS, args.spread, args.data_seed, Path(args.data_dir)
        )
        x, path, _ = load_data(data)
        df = cached_input(spark, path, args.partitions)
        try:
            for k in (int(v) for v in csv_list([args.sweep_ks])):
                centers = initial_centers(x, k, seed=1)
                models = {
                    "mllib": spark_model_of(KMeansModel(centers), spark),
                    "jvm": ours_on(centers, "jvm", True),
                    "arrow": ours_on(centers, "arrow", True),
                }
                models = {key: model for key, model in models.items() if model is not None}
                seconds = time_variants(models, df, args.repeats, None)
                best = {key: min(values) for key, values in seconds.items()}
                out.append(
                    {"n": args.sweep_rows, "d": d, "k": k, "seconds": seconds, "min_s": best}
                )
                print_sweep_row(out[-1], header=len(out) == 1)
        finally:
            df.unpersist()
        del x
    return out


SWEEP_COLUMNS = (
    Column("k x d", "7.0f"),
    Column("MLlib s", "8.3f"),
    Column("jvm s", "8.3f"),
    Column("arrow s", "8.3f"),
    Column("jvm/ML", "7.2f"),
    Column("arrow/ML", "8.2f"),
    Column("arrow/jvm", "9.2f"),
)


def print_sweep_row(row: dict[str, Any], header: bool) -> None:
    best = row["min_s"]
    jvm = best.get("jvm")  # None past JVM_MAX_FEATURES
    values = [
        row["k"] * row["d"],
        best["mllib"],
        jvm,
        best["arrow"],
        ratio(jvm, best["mllib"]),
        ratio(best["arrow"], best["mllib"]),
        ratio(best["arrow"], jvm),
    ]
    lines = table_lines("d, k", 10, SWEEP_COLUMNS, [(f"{row['d']}, {row['k']}", values)])
    print("\n".join(lines if header else lines[2:]), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args, configs = parse_args(argv)
    name = "score-sweep.json" if args.sweep else "score.json"
    json_path = Path(args.json) if args.json else REPO / "bench-results" / name
    with bench_session(args.driver_memory, mllib_log=False) as (spark, _):
        if args.sweep:
            result: dict[str, Any] = {"sweep": run_sweep(args, spark)}
        else:
            result = {"presets": []}
            for cfg in configs:
                result["presets"].append(run_preset(cfg, spark))
                print_result(result["presets"][-1])
        result["versions"] = versions(spark.sparkContext)
    write_json(result, json_path)
    return 0
