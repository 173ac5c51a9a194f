"""A k sweep in shared passes: every k of a range fitted on one load, one seeding and the
same Lloyd passes, with the metrics that judge each k (the elbow workflow).

The MLlib way is a Python loop of ``KMeans().fit`` calls, one per k, each reseeding the
data and running its own passes. Here:

* the data are loaded once (the caller's resident blocks);
* k-means|| runs once, oversampled for the largest k (``oversamplingFactor * max(ks)``
  candidates per round), and its weighted candidates are reduced on the driver to each k
  (:func:`kmeans_spark.seeding.reduce_to`): the seeding costs ``initSteps + 1`` passes
  for the whole sweep;
* Lloyd runs every k in the same passes (:func:`kmeans_spark.lloyd.run_lloyd_runs`: one
  GEMM per tile against all the sweep's centres, converged runs drop out);
* the metrics of every k share two more passes (:func:`kmeans_spark.metrics.compute_metrics`).

A run of the sweep is the fit that :class:`~kmeans_spark.estimator.KMeans` makes from the
same initial centres (``initialCenters``), to rounding. It is not always the fit of
``KMeans(k=k, seed=s)``: that one draws its own k-means|| candidates, about ``2k`` per
round rather than ``2 max(ks)``, so on hard data it may start, and end, elsewhere.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from kmeans_spark import seeding
from kmeans_spark.handle import Blocks
from kmeans_spark.lloyd import LloydResult, run_lloyd_runs
from kmeans_spark.metrics import ClusteringMetrics, compute_metrics
from kmeans_spark.progress import RunProgress
from kmeans_spark.selection import KChoice, choose_k
from kmeans_spark.tuning import DEFAULT_TUNING, Tuning

log = logging.getLogger(__name__)


@dataclass
class SweepRun:
    """One k of a sweep: where Lloyd started, what it reached, and its metrics (None when
    the sweep was asked for none)."""

    k: int
    init: seeding.SeedingResult
    lloyd: LloydResult
    metrics: ClusteringMetrics | None


@dataclass
class SweepOutcome:
    """What :func:`sweep_blocks` found, per k in increasing order, and its passes' seconds."""

    runs: list[SweepRun]
    seconds: dict[str, float] = field(default_factory=dict)


def sweep_blocks(
    blocks: Blocks,
    ks: list[int],
    *,
    dim: int,
    init_mode: str,
    oversampling_factor: float,
    steps: int,
    seed: int,
    max_iter: int,
    tol: float,
    spherical: bool,
    reseed_empty: bool,
    metrics: bool = True,
    sample_size: int = 10_000,
    tuning: Tuning = DEFAULT_TUNING,
    progress: RunProgress | None = None,
) -> SweepOutcome:
    """Fit every k of ``ks`` (sorted, distinct, each <= the rows) on ``blocks``; see the
    module docstring. ``init_mode`` ``"random"`` takes the first k rows of one weighted
    sample of ``max(ks)`` rows for every k (the load drew it)."""
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    k_max = max(ks)
    if init_mode == "random":
        (drawn,) = seeding.random_init(blocks.handles, k_max, dim, seed)
        inits = [seeding.SeedingResult(centers=drawn.centers[:k], mode="random") for k in ks]
    else:
        (found,) = seeding.candidate_rounds(
            blocks, dim=dim, oversampling=oversampling_factor * k_max, steps=steps, seeds=[seed]
        )
        inits = [
            seeding.SeedingResult(
                centers=seeding.reduce_to(found, k, seed, spherical=spherical, tuning=tuning),
                mode="k-means||",
                candidates=int(found.points.shape[0]),
                candidate_cost=found.cost / 2.0 if spherical else found.cost,
            )
            for k in ks
        ]
    seconds["init"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    lloyds = run_lloyd_runs(
        blocks,
        [i.centers for i in inits],
        max_iter=max_iter,
        tol=tol,
        spherical=spherical,
        reseed_empty=reseed_empty,
        tuning=tuning,
        progress=progress,
    )
    seconds["lloyd"] = time.perf_counter() - t0
    scores: list[ClusteringMetrics | None] = [None] * len(ks)
    if metrics:
        t0 = time.perf_counter()
        scores = list(
            compute_metrics(
                blocks,
                [r.centers for r in lloyds],
                spherical=spherical,
                sample_size=sample_size,
                seed=seed,
            )
        )
        seconds["metrics"] = time.perf_counter() - t0
    log.info(
        "sweep of k=%s: costs %s",
        ",".join(map(str, ks)),
        ", ".join(f"{r.cost:.6g}" for r in lloyds),
    )
    runs = [
        SweepRun(k, init, lloyd, score)
        for k, init, lloyd, score in zip(ks, inits, lloyds, scores, strict=True)
    ]
    return SweepOutcome(runs, seconds)


def sweep_table(outcome: SweepOutcome) -> list[dict[str, Any]]:
    """One plain dict per k (for JSON and for printing): k, SSE, iterations, convergence
    and the metrics' scalars."""
    rows = []
    for run in outcome.runs:
        row: dict[str, Any] = {
            "k": run.k,
            "sse": run.lloyd.cost,
            "iterations": run.lloyd.num_iter,
            "converged": run.lloyd.converged,
            "cluster_sizes": run.lloyd.cluster_sizes,
        }
        if run.metrics is not None:
            row.update(run.metrics.to_dict())
            row["sse"] = run.lloyd.cost  # the fit's objective (metrics' is re-assigned)
        rows.append(row)
    return rows


class KMeansSweep:
    """The result of :meth:`kmeans_spark.KMeans.sweep`: per k (increasing) the fitted model
    (with its summary), its metrics, and the table and choice of k built from them."""

    def __init__(self, outcome: SweepOutcome, models: list[Any], seconds: dict[str, float]):
        self.outcome = outcome
        self.models = models
        self.seconds = seconds

    @property
    def ks(self) -> list[int]:
        return [r.k for r in self.outcome.runs]

    def model(self, k: int) -> Any:
        """The fitted :class:`~kmeans_spark.KMeansModel` of ``k``."""
        return self.models[self.ks.index(k)]

    def metrics(self, k: int) -> ClusteringMetrics | None:
        return self.outcome.runs[self.ks.index(k)].metrics

    def table(self) -> list[dict[str, Any]]:
        return sweep_table(self.outcome)

    def choice(self) -> KChoice:
        """The k of the SSE curve's knee, of the best Calinski-Harabasz and of the best
        silhouette, and the verdict (:func:`kmeans_spark.selection.choose_k`)."""
        rows = self.table()

        def column(name: str) -> list[float] | None:
            return [r[name] for r in rows] if rows and name in rows[0] else None

        return choose_k(
            [r["k"] for r in rows],
            [r["sse"] for r in rows],
            calinski_harabasz=column("calinski_harabasz"),
            silhouette=column("silhouette"),
        )
