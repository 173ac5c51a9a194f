"""The report of a run (``elbow``, ``fit --report``): its metrics and a sample of its
clustering, back in the original feature units, drawn as PNGs (``plots/``) and one
self-contained ``report.html`` in the run's output directory.

The numbers come from the fit's own passes (:mod:`kmeans_spark.metrics`); the drawing is
:mod:`kmeans_spark.report` (matplotlib on Agg canvases, no Spark).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from kmeans_spark.app.config import RunConfig
from kmeans_spark.app.features import FitStage
from kmeans_spark.app.io import AtomicOutput, JobFS
from kmeans_spark.app.scaler import Scaler
from kmeans_spark.metrics import ClusteringMetrics
from kmeans_spark.report import KRow, ReportData
from kmeans_spark.report.html import render_report
from kmeans_spark.report.plots import png_bytes, report_figures
from kmeans_spark.selection import KChoice

log = logging.getLogger("kmeans_spark")


def k_row(k: int, sse: float, iterations: int, metrics: ClusteringMetrics | None) -> KRow:
    """One row of the report's k table: the fit's SSE and iterations, and its metrics."""
    return KRow.of_metrics(k, sse, iterations, metrics)


def run_facts(cfg: RunConfig, stage: FitStage, **extra: str) -> dict[str, str]:
    """The facts at the top of a report: what was read and how it was used, then
    ``extra`` (the command's own)."""
    return {
        "input": cfg.input.path,
        "rows read": f"{stage.counts.rows:,}",
        "rows dropped": f"{stage.dropped:,}",
        "features": ", ".join(stage.scaler.features),
        "scaling": stage.scaler.method,
        "run date": cfg.run_date,
        **extra,
    }


def report_data(
    title: str,
    facts: Mapping[str, str],
    rows: Sequence[KRow],
    choice: KChoice | None,
    shown: ClusteringMetrics | None,
    centers: np.ndarray | None,
    scaler: Scaler,
    config: Mapping[str, Any],
) -> ReportData:
    """The report of ``rows`` with the clustering ``shown`` drawn: its sample and its
    ``centers`` (in the fit's scaled units) mapped back to the original units."""
    if shown is None or centers is None:
        return ReportData(title=title, facts=dict(facts), rows=list(rows), choice=choice)
    return ReportData(
        title=title,
        facts=dict(facts),
        rows=list(rows),
        choice=choice,
        sample_x=scaler.inverse(shown.sample_rows),
        sample_labels=np.asarray(shown.sample_labels),
        centers=scaler.inverse(centers),
        feature_names=list(scaler.features),
        silhouette_values=np.asarray(shown.sample_silhouette),
        total_rows=shown.rows,
        cluster_sse=list(shown.sse_per_cluster),
        cluster_mean_distance=list(shown.mean_distance_per_cluster),
        config=dict(config),
    )


def write_report(
    fs: JobFS, out: AtomicOutput, data: ReportData, *, three_d: bool = False
) -> list[str]:
    """Write ``plots/NAME.png`` and ``report.html`` (the same plots embedded) into the run's
    output, with a 3-D view of the clusters if asked; return the names written."""
    written = []
    for name, fig in report_figures(data, three_d=three_d).items():
        fs.write_bytes(out.path(f"plots/{name}.png"), png_bytes(fig))
        written.append(f"plots/{name}.png")
    fs.write_text(out.path("report.html"), render_report(data, three_d=three_d))
    written.append("report.html")
    log.info("report: %s", ", ".join(written))
    return written
