"""The scoring benchmark: ``KMeansModel.transform`` of ours against Spark MLlib's, with the
same centres on the same cached DataFrame, in one SparkSession.

Each variant scores the whole input into Spark's ``noop`` sink (every row computed, nothing
written), warmed up once, then timed ``repeats`` times in a rotating order; the table shows
the minimum (the least disturbed run on a shared machine) and the median. Before timing,
the labels of ours are checked against MLlib's on every row.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchkit.config import REPO, csv_list
from benchkit.data import initial_centers, load_data
from benchkit.report import Column, ratio, table_lines, write_json
from benchkit.spark import bench_session, cached_input, versions
from benchkit.timing import interleaved, timed

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

#: The shapes of the issue's scoring goals: (rows, features, clusters) and the target ratio.
SCORE_PRESETS: dict[str, dict[str, Any]] = {
    "score16": {"n": 1_000_000, "d": 16, "k": 10, "target": 1.0},
    "score64": {"n": 300_000, "d": 64, "k": 100, "target": 1.0},
    "score1000": {"n": 200_000, "d": 32, "k": 1000, "target": 0.35},
}

VARIANTS = {
    "mllib": "MLlib transform",
    "ours": "ours transform",
    "ours_distance": "ours + distanceCol",
}


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
    parser.add_argument("--preset", action="append", default=[], help="score16,score64,...")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--spread", type=float, default=1.0)
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--driver-memory", default="8g")
    parser.add_argument("--data-dir", default=str(REPO / "bench-data"))
    parser.add_argument("--json", default=str(REPO / "bench-results" / "score.json"))
    args = parser.parse_args(argv)
    names = csv_list(args.preset) or list(SCORE_PRESETS)
    unknown = [n for n in names if n not in SCORE_PRESETS]
    if unknown:
        parser.error(f"unknown preset {unknown[0]!r}; choose from {', '.join(SCORE_PRESETS)}")
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
        for name in names
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


def mismatched_labels(ours: Any, theirs: Any, df: DataFrame) -> int:
    """Rows whose label differs between the two models (all rows, not a sample)."""
    from pyspark.sql import functions as F

    both = ours.setPredictionCol("ours").transform(theirs.transform(df))
    ours.setPredictionCol("prediction")
    return int(both.where(F.col("ours") != F.col("prediction")).count())


def run_preset(cfg: ScoreConfig, spark: Any) -> dict[str, Any]:
    from kmeans_spark import KMeansModel

    x, path, data_info = load_data(cfg)
    centers = initial_centers(x, cfg.k, seed=1)
    del x
    df = cached_input(spark, path, cfg.partitions)
    try:
        ours = KMeansModel(centers)
        theirs = spark_model_of(ours, spark)
        mismatched = mismatched_labels(ours, theirs, df)
        with_distance = KMeansModel(centers).setDistanceCol("distance")
        models: dict[str, Any] = {"mllib": theirs, "ours": ours, "ours_distance": with_distance}

        def score(key: str) -> Callable[[], None]:
            return lambda: models[key].transform(df).write.format("noop").mode("overwrite").save()

        seconds: dict[str, list[float]] = {key: [] for key in VARIANTS}
        for key in VARIANTS:  # warm-up
            score(key)()
        for _, key in interleaved(list(VARIANTS), cfg.repeats):
            elapsed, _ = timed(score(key))
            seconds[key].append(elapsed)
            print(f"  {cfg.preset} {VARIANTS[key]}: {elapsed:.3f} s", flush=True)
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
        "labels_mismatched": mismatched,
        "seconds": seconds,
        "min_s": best,
        "ratio_min": {key: ratio(best[key], best["mllib"]) for key in VARIANTS},
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
    import statistics

    print(
        f"\n== {result['preset']}: n={result['n']} d={result['d']} k={result['k']} "
        f"partitions={result['partitions']} repeats={result['repeats']}, labels differing "
        f"from MLlib's: {result['labels_mismatched']}"
    )
    rows = []
    for key, label in VARIANTS.items():
        best = result["min_s"][key]
        target = result["target"] if key == "ours" else None
        rows.append(
            (
                label,
                [
                    best,
                    statistics.median(result["seconds"][key]),
                    result["n"] / best / 1e6,
                    result["ratio_min"][key],
                    target,
                ],
            )
        )
    print("\n".join(table_lines("variant", 20, COLUMNS, rows)))


def main(argv: Sequence[str] | None = None) -> int:
    args, configs = parse_args(argv)
    results = []
    with bench_session(args.driver_memory, mllib_log=False) as (spark, _):
        for cfg in configs:
            results.append(run_preset(cfg, spark))
            print_result(results[-1])
        env = versions(spark.sparkContext)
    write_json({"presets": results, "versions": env}, Path(args.json))
    return 0
