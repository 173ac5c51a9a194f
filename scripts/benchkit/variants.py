"""The rows of the fit benchmark: one timed fit of each variant, split into seeding,
iterations and the rest (see scripts/bench.py for what each row runs and why)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .config import Config
from .spark import ITERATION_JOB, MllibLog, SparkJobs
from .timing import first_iteration_corrected, split_fixed_cost, timed

if TYPE_CHECKING:
    from pyspark import RDD
    from pyspark.sql import DataFrame


@dataclass
class Run:
    """One timed fit of one variant (all seconds are wall time on the driver)."""

    total_s: float
    seed_s: float
    s_per_iter: float
    iters: int
    lloyd_s: float
    reported_cost: float
    centers: np.ndarray = field(repr=False)
    extra: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        out = asdict(self)
        del out["centers"]
        out["other_s"] = self.total_s - self.seed_s - self.iters * self.s_per_iter
        return out


@dataclass
class Bench:
    """What every variant needs: the config, the data in both forms, the shared init."""

    cfg: Config
    x: np.ndarray
    df: DataFrame
    rdd: RDD[Any] | None
    init: np.ndarray
    log: MllibLog | None
    jobs: SparkJobs


def run_ours(b: Bench, dtype: str, same_init: bool) -> Run:
    from kmeans_spark import KMeans

    cfg = b.cfg
    params: dict[str, Any] = {
        "k": cfg.k,
        "seed": cfg.seed,
        "maxIter": cfg.max_iter,
        "featuresCol": "features",
        "numPartitions": cfg.partitions,
        "dtype": dtype,
    }
    if same_init:
        # Spark's empty-cluster rule too, so both sides run the same algorithm
        params.update(initialCenters=b.init.tolist(), tol=0.0, emptyClusterPolicy="keep")
    wall, model = timed(lambda: KMeans(**params).fit(b.df))
    s = model.summary
    iters = s.diagnostics.iterationSeconds
    phases = dict(s.diagnostics.phaseSeconds)
    inside = phases["total"] - phases["load"] - phases["init"] - phases["lloyd"]
    return Run(
        total_s=wall,
        seed_s=s.diagnostics.phaseSeconds["init"],
        s_per_iter=statistics.median(iters),
        iters=s.numIter,
        lloyd_s=s.diagnostics.phaseSeconds["lloyd"],
        reported_cost=s.trainingCost,
        centers=np.array(model.clusterCenters()),
        extra={
            "phaseSeconds": phases,
            "iterationSeconds": list(iters),
            "reseededClusters": s.diagnostics.reseededClusters,
            "convergenceReason": s.convergenceReason,
            # total - load - init - lloyd: checks, cleanup job of the block files
            "unphased_in_total_s": inside,
            # wall - phaseSeconds["total"]: before the fit's clock starts, and the summary
            "outside_total_s": wall - phases["total"],
        },
    )


def _mllib_fit(b: Bench, solver: str, max_iter: int) -> tuple[float, Any]:
    from pyspark.ml.clustering import KMeans as MLKMeans

    est = MLKMeans(
        k=b.cfg.k, seed=b.cfg.seed, maxIter=max_iter, solver=solver, featuresCol="features"
    )
    return timed(lambda: est.fit(b.df))


def mllib_run(
    b: Bench, fit: Callable[[int], tuple[float, Any]], read: Callable[[Any], tuple[int, float]]
) -> tuple[Run, Any]:
    """Time ``fit(maxIter)`` and split it into seeding and iterations.

    Seeding and the iteration loop: MLlib's own log lines ("Initialization with k-means||
    took N ms", "Iterations took N ms"), the loop corrected for its first iteration's
    one-off work with the durations of the iteration jobs (Spark's status store). Without
    the log lines (``--mllib-split diff``, or not found), a second fit with ``maxIter=1``
    gives the split by difference (this per-repeat value, without fallback, goes to the
    raw JSON only).
    """
    offset = b.log.mark() if b.log else 0
    mark = b.jobs.mark()
    t_full, result = fit(b.cfg.max_iter)
    iters, cost = read(result)
    logged = b.log.since(offset) if b.log else {}
    iteration_jobs = b.jobs.durations_since(mark, ITERATION_JOB)
    extra: dict[str, Any] = {"mllib_log": logged, "iteration_jobs_s": iteration_jobs}
    if "init_s" in logged and "iterations_s" in logged:
        seed_s, lloyd_s = logged["init_s"], logged["iterations_s"]
        per_iter, method = first_iteration_corrected(lloyd_s, iters, iteration_jobs)
    else:
        t_one, _ = fit(1)
        seed_s, per_iter, method = split_fixed_cost(t_full, iters, t_one, math.nan)
        lloyd_s = per_iter * iters
        extra["t_maxIter1_s"] = t_one
    extra["split_method"] = method
    run = Run(
        total_s=t_full,
        seed_s=seed_s,
        s_per_iter=per_iter,
        iters=iters,
        lloyd_s=lloyd_s,
        reported_cost=cost,
        centers=np.empty(0),
        extra=extra,
    )
    return run, result


def run_mllib(b: Bench, solver: str) -> Run:
    run, model = mllib_run(
        b,
        lambda max_iter: _mllib_fit(b, solver, max_iter),
        lambda m: (int(m.summary.numIter), float(m.summary.trainingCost)),
    )
    run.centers = np.array(model.clusterCenters())
    return run


def _mllib_rdd_fit(b: Bench, max_iter: int) -> tuple[float, Any]:
    """``pyspark.mllib.clustering.KMeans.train(rdd, k, maxIter, initialModel=..., epsilon=0)``
    made through the same JVM call, keeping the Java model to read ``numIter``."""
    from pyspark.mllib.common import callJavaFunc, callMLlibFunc
    from pyspark.mllib.linalg import _convert_to_vector

    assert b.rdd is not None
    rdd = b.rdd

    def fit() -> tuple[Any, list[Any]]:
        java_model = callMLlibFunc(
            "trainKMeansModel",
            rdd.map(_convert_to_vector),
            b.cfg.k,
            max_iter,
            "k-means||",
            b.cfg.seed,
            2,
            0.0,
            [_convert_to_vector(c) for c in b.init],
            "euclidean",
        )
        return java_model, callJavaFunc(rdd.context, java_model.clusterCenters)

    return timed(fit)


def run_mllib_rdd(b: Bench) -> Run:
    run, (_, centers) = mllib_run(
        b,
        lambda max_iter: _mllib_rdd_fit(b, max_iter),
        lambda r: (int(r[0].numIter()), float(r[0].trainingCost())),
    )
    run.centers = np.array([c.toArray() for c in centers])
    return run


def run_sklearn(b: Bench) -> Run:
    from sklearn.cluster import KMeans as SkKMeans
    from sklearn.cluster import kmeans_plusplus

    cfg = b.cfg
    seed_s = statistics.median(
        timed(lambda: kmeans_plusplus(b.x, cfg.k, random_state=cfg.seed))[0] for _ in range(3)
    )
    est = SkKMeans(n_clusters=cfg.k, n_init=1, max_iter=cfg.max_iter, random_state=cfg.seed)
    wall, model = timed(lambda: est.fit(b.x))
    iters = int(model.n_iter_)
    lloyd_s = wall - seed_s if wall > seed_s else math.nan  # NaN: noise, not measured
    return Run(
        total_s=wall,
        seed_s=seed_s,
        s_per_iter=lloyd_s / max(iters, 1),
        iters=iters,
        lloyd_s=lloyd_s,
        reported_cost=float(model.inertia_),
        centers=np.asarray(model.cluster_centers_, dtype=np.float64),
    )


RUNNERS: dict[str, Callable[[Bench], Run]] = {
    "ours": lambda b: run_ours(b, "float64", same_init=False),
    "ours_f32": lambda b: run_ours(b, "float32", same_init=False),
    "mllib_auto": lambda b: run_mllib(b, "auto"),
    "mllib_row": lambda b: run_mllib(b, "row"),
    "ours_init": lambda b: run_ours(b, "float64", same_init=True),
    "mllib_rdd_init": run_mllib_rdd,
    "sklearn": run_sklearn,
}
