"""Pictures and a report of a k-means run or sweep (matplotlib on Agg, no Spark, no display).

* :mod:`.data` what a report is made of: :class:`KRow` per fit, :class:`ReportData`;
* :mod:`.plots` the figures (elbow, clusters, sizes, silhouette) and their PNGs;
* :mod:`.html` one self-contained ``report.html`` with the plots inlined.
"""

from __future__ import annotations

from kmeans_spark.report.data import KRow, ReportData
from kmeans_spark.report.html import render_report, write_report
from kmeans_spark.report.plots import (
    clusters_figure,
    elbow_figure,
    report_figures,
    silhouette_figure,
    sizes_figure,
    write_plots,
    write_png,
)
from kmeans_spark.selection import KChoice

__all__ = [
    "KChoice",
    "KRow",
    "ReportData",
    "clusters_figure",
    "elbow_figure",
    "render_report",
    "report_figures",
    "silhouette_figure",
    "sizes_figure",
    "write_plots",
    "write_png",
    "write_report",
]
