"""``elbow``: choose k. Fit every k of ``--k-min``..``--k-max`` on one read of the input
(:meth:`kmeans_spark.KMeans.sweep`: one load, one seeding, shared Lloyd and metrics
passes) and write, atomically::

    OUTPUT/
      elbow.json      the curve in lists (k, sse, calinski_harabasz, davies_bouldin,
                      silhouette) and knee, best_k, verdict
      summary.json    per k: SSE, Calinski-Harabasz, Davies-Bouldin, silhouette (Spark's,
                      and scikit-learn's on a sample), iterations, sizes, centres; the choice
      report.html     one self-contained page: the k table, the choice, the plots
      plots/          elbow.png, clusters.png, sizes.png, silhouette.png
      model/          the chosen k's model (only when the rules agree: see below)
      scaler.json     the feature scaling (with model/, as fit writes them)
      _KMEANS_SPARK, _SUCCESS

The choice is the knee of the SSE curve (Kneedle), reported beside the k of the best
Calinski-Harabasz and of the best silhouette; when they disagree by more than one, the
run says ``no clear k``, writes no model/, and draws the knee's clustering (or the
smallest k's) in the report.
"""

from __future__ import annotations

import argparse
import json
import logging
from typing import TYPE_CHECKING, Any

from kmeans_spark.app import flags, runner
from kmeans_spark.app.config import RunConfig
from kmeans_spark.app.progress import KLines
from kmeans_spark.errors import KMeansInputError
from kmeans_spark.options import OPTIONS

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from kmeans_spark.selection import KChoice

log = logging.getLogger("kmeans_spark")

HELP = "fit every k of a range in shared passes; write the metrics per k, the choice, report.html"
DESCRIPTION = (
    "Choose k: sweep k over --k-min..--k-max on one read of the input; write summary.json, "
    "plots/, report.html and the chosen k's model."
)
#: The fit's keys but those that make no sense for a sweep (k, restarts, warm start, the
#: model to score with, the assignments' features and the fit's own report flag).
NOT_FOR_A_SWEEP = (
    "job.k",
    "job.n_init",
    "job.init_model",
    "job.model",
    "output.keep_features",
    "output.outlier_quantile",
    "output.report",
)
KEYS = tuple(
    o.key for o in OPTIONS if o.key and o.key not in NOT_FOR_A_SWEEP and o.used_by("elbow")
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    flags.add_job_flags(parser, KEYS)


def run(args: argparse.Namespace) -> int:
    cfg = flags.config_from_args(args, KEYS)
    flags.require_features(cfg)
    lo, hi = cfg.job.k_min, cfg.job.k_max
    if lo > hi:
        raise KMeansInputError(
            f"{cfg.name('job.k_min')}={lo} is above {cfg.name('job.k_max')}={hi}; the sweep "
            "needs k_min <= k_max, e.g. --k-min 2 --k-max 15."
        )
    return runner.run_command("elbow", cfg, elbow, args)


def elbow(spark: SparkSession, cfg: RunConfig) -> dict[str, Any]:
    """Sweep k on the configured input and write the run's output; return the summary."""
    import numpy as np

    from kmeans_spark.app import features, io, reporting
    from kmeans_spark.estimator import KMeans

    fs = io.JobFS(spark)
    out = io.open_output(fs, cfg, "elbow")
    phases: dict[str, float] = {}
    inp = features.load_input(spark, fs, cfg, cfg.input.features)
    names = inp.features
    stage = features.FitStage(inp.df, cfg, names)
    params = {k: v for k, v in cfg.job.estimator_params().items() if k not in ("k", "nInit")}
    kmeans = KMeans(**params, inputCols=names).setInputStage(stage.input_stage())
    if cfg.input.weight_col:
        kmeans.setWeightCol(cfg.input.weight_col)
    ks = range(cfg.job.k_min, cfg.job.k_max + 1)
    data = features.fit_columns(inp.df, cfg, names)
    lines = KLines(len(ks))  # a line per k on stdout as it stops; a bar on a terminal
    try:
        sweep = runner.timed(
            phases,
            "sweep",
            lambda: kmeans.sweep(data, ks, sampleSize=cfg.job.sample_size, progress=lines),
        )
    finally:
        lines.close()
    scaler = stage.scaler
    choice = sweep.choice()
    log.info("choice: %s (%s)", choice.verdict, choice.explanation)
    table = sweep.table()
    for row in table:
        centers = np.array(sweep.model(row["k"]).clusterCenters())
        row["centers"] = scaler.inverse(centers).tolist()
    shown_k = choice.k or choice.knee or sweep.ks[0]
    shown = sweep.model(shown_k)
    rows = [
        reporting.k_row(r["k"], r["sse"], r["iterations"], sweep.metrics(r["k"])) for r in table
    ]
    result = runner.base_result(
        "elbow",
        cfg,
        stage.counts.rows,
        stage.dropped,
        features=names,
        ks=sweep.ks,
        choice={
            "k": choice.k,
            "verdict": choice.verdict,
            "knee": choice.knee,
            "best_calinski_harabasz": choice.best_calinski_harabasz,
            "best_silhouette": choice.best_silhouette,
            "explanation": choice.explanation,
        },
        scaling=scaler.method,
        sweep=table,
        seconds={**phases, "engine": sweep.seconds},
    )
    report = reporting.report_data(
        f"k-means elbow: {cfg.input.path}",
        reporting.run_facts(
            cfg, stage, **{"k range": f"{sweep.ks[0]}..{sweep.ks[-1]}", "drawn": f"k = {shown_k}"}
        ),
        rows,
        choice,
        sweep.metrics(shown_k),
        np.array(shown.clusterCenters()),
        scaler,
        result["config"],
    )
    with out.writing():
        if choice.k is not None:
            model = sweep.model(choice.k)
            model.setInputCols([features.SCALED_PREFIX + c for c in names])
            model.write().save(out.path("model"))
            fs.write_text(out.path("scaler.json"), scaler.to_json())
        reporting.write_report(fs, out, report, three_d=cfg.output.plots_3d)
        fs.write_text(out.path("summary.json"), json.dumps(result, indent=2))
        fs.write_text(out.path("elbow.json"), json.dumps(elbow_json(table, choice), indent=2))
    log.info("wrote %s (summary.json, report.html, plots/)", fs.qualify(out.final))
    return result


def elbow_json(table: list[dict[str, Any]], choice: KChoice) -> dict[str, Any]:
    """The curve as lists, one entry per k, and the choice (for a plotting tool or a
    scheduler that reads one file)."""
    names = ("k", "sse", "calinski_harabasz", "davies_bouldin", "silhouette", "silhouette_sample")
    curve: dict[str, Any] = {name: [row.get(name) for row in table] for name in names}
    return {
        **curve,
        "knee": choice.knee,
        "best_calinski_harabasz": choice.best_calinski_harabasz,
        "best_silhouette": choice.best_silhouette,
        "best_k": choice.k,
        "verdict": choice.verdict,
    }
