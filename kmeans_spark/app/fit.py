"""``fit``: train on the input and write one output directory, atomically::

    OUTPUT/
      model/          KMeansModel.load(...)-able
      scaler.json     the fitted feature scaling (applied again by predict)
      assignments/    Parquet: id columns, features if asked, prediction, distance
      summary.json    what ran and what came out
      centers.csv     the centres in the original feature units
      _KMEANS_SPARK   the marker: an output of this job (--mode overwrite needs it)
      _SUCCESS

Spark-side modules are imported when the command runs, so ``--help`` and configuration
errors never load pyspark.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
from dataclasses import replace
from io import StringIO
from typing import TYPE_CHECKING, Any

import numpy as np

from kmeans_spark.app import flags, runner
from kmeans_spark.app.config import RunConfig
from kmeans_spark.options import OPTIONS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from kmeans_spark.app.io import AtomicOutput, SavedModel
    from kmeans_spark.blocks import FittedBlocks
    from kmeans_spark.estimator import KMeans

log = logging.getLogger("kmeans_spark")

HELP = "train a model; write model/, assignments/, summary.json, centers.csv"
DESCRIPTION = "Fit k-means on the input and write one output directory, atomically."
#: Every config key has a flag here, but predict's model, elbow's k range and the keys of
#: other commands only (recommend's [text]).
KEYS = tuple(
    o.key
    for o in OPTIONS
    if o.key and o.key not in ("job.model", "job.k_min", "job.k_max") and o.used_by("fit")
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    flags.add_job_flags(parser, KEYS)


def run(args: argparse.Namespace) -> int:
    cfg = flags.config_from_args(args, KEYS)
    flags.require_features(cfg)
    return runner.run_command("fit", cfg, fit, args)


def centers_csv(features: list[str], centers: np.ndarray, sizes: list[int]) -> str:
    buf = StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["cluster", "size", *features])
    for i, (row, size) in enumerate(zip(centers, sizes, strict=True)):
        writer.writerow([i, size, *[repr(float(v)) for v in row]])
    return buf.getvalue()


def warm_start(kmeans: KMeans, previous: SavedModel, cfg: RunConfig, features: list[str]) -> None:
    """Start ``kmeans`` from a previous run's centres (its features checked against this
    run's when the input was read), in this run's feature order and in original units: the
    fit scales them with this run's scaling, as it scales the rows. The previous run's k
    wins."""
    from kmeans_spark.app.features import trained_features

    name = cfg.name("job.init_model")
    centers = previous.centers
    known = trained_features(previous, name) or features  # a vector model's: by position
    original = previous.scaler.inverse(centers) if previous.scaler else centers
    by_name = original[:, [known.index(f) for f in features]]  # this run's order
    if centers.shape[0] != cfg.job.k:
        log.warning("k=%d of %s overrides k=%d", centers.shape[0], name, cfg.job.k)
    kmeans.setInitialCenters(by_name).setK(centers.shape[0])
    log.info("warm start from %s (%d centres)", cfg.job.init_model, centers.shape[0])


class AssignmentsWriter:
    """Writes ``assignments/`` once, and says how (``path``): from the fit's resident blocks
    while the fit runs (``"resident"``: :meth:`from_blocks`, the stage's ``on_fitted``), or
    after it by ``model.transform`` (``"transform"``: a second read of the input).

    The transform path is kept where the blocks cannot give its output: blocks stored as
    float32 (``job.dtype``) hold the rows rounded, so their labels and distances are not
    transform's of the input's doubles; and a block whose files were lost with their
    executor before the write (the labelling task fails rather than drop its rows: the
    write is thrown away, and the fit's model is written as usual). Falling back, rather
    than rebuilding the blocks, costs the same one read of the input, and is the path that
    writes a predict run's assignments anyway.
    """

    def __init__(
        self,
        out: AtomicOutput,
        cfg: RunConfig,
        names: list[str],
        phases: dict[str, float],
    ) -> None:
        self._out, self._cfg, self._names, self._phases = out, cfg, names, phases
        self.path = "transform"
        self.resident = cfg.job.dtype == "float64"
        #: why the transform path wrote them (for the log)
        self.reason = "" if self.resident else f"{cfg.name('job.dtype')}={cfg.job.dtype} blocks"

    def from_blocks(self, fitted: FittedBlocks) -> None:
        """Write the assignments from the fit's blocks (inside the fit, before they are
        removed); on a lost block file, leave them to :meth:`write` after the fit."""
        from kmeans_spark.blocks import is_missing_block
        from kmeans_spark.scoring import MISSING_BLOCK

        try:
            self.write(fitted.assignments())
        except Exception as exc:
            if not is_missing_block(exc):
                raise
            lines = str(exc).splitlines()
            first = next((line for line in lines if MISSING_BLOCK in line), MISSING_BLOCK)
            log.warning("%s; the assignments are written by transform instead", first.strip())
            self._out.fs.delete(self._out.path("assignments"))  # what the failed write left
            self.reason = "block files lost before the write"
            return
        self.path = "resident"

    def write(self, scored: DataFrame) -> None:
        """``scored`` (ids, kept features, prediction, distance), with ``is_outlier`` if
        asked, to ``assignments/``."""
        from kmeans_spark.app import features

        runner.timed(
            self._phases,
            "write_assignments",
            lambda: features.assignments(scored, self._cfg, self._names).write.parquet(
                self._out.path("assignments")
            ),
        )


def fit(spark: SparkSession, cfg: RunConfig) -> dict[str, Any]:
    """Fit on the configured input and write the run's output directory; return the summary.

    The input is read once: the fit's load validates and counts the rows, drops bad ones
    if asked, records the statistics the scaling needs
    (:class:`~kmeans_spark.app.features.FitStage`) and carries the id columns (and the
    features, with ``output.keep_features``) beside the blocks; the scaling is then applied
    to the stored blocks; once the centres are chosen the assignments are written from the
    blocks, inside the fit (:class:`AssignmentsWriter`, which says when ``transform``
    writes them instead). So the output is open around the fit: on any error nothing is
    left in it.
    """
    from pyspark.sql import functions as F

    from kmeans_spark.app import features, io
    from kmeans_spark.estimator import KMeans

    fs = io.JobFS(spark)
    out = io.open_output(fs, cfg, "fit")
    init, init_name = cfg.job.init_model, cfg.name("job.init_model")
    previous = io.load_saved_model(fs, init, init_name) if init else None
    phases: dict[str, float] = {}

    def same_as_previous(names: list[str]) -> list[str]:
        if previous is not None:
            features.model_features(previous, names, init_name)
        return names

    inp = features.load_input(spark, fs, cfg, cfg.input.features, same_as_previous)
    names = inp.features
    stage = features.FitStage(inp.df, cfg, names)
    kmeans = KMeans(**cfg.job.estimator_params(), inputCols=names, distanceCol="distance")
    writer = AssignmentsWriter(out, cfg, names, phases)
    carry = features.assignment_inputs(cfg, names) if writer.resident else []
    input_stage = stage.input_stage(carry, writer.from_blocks if writer.resident else None)
    if cfg.output.report:  # the metrics of the fit, computed on its blocks
        input_stage = replace(input_stage, metrics_sample=cfg.job.sample_size)
    kmeans.setInputStage(input_stage)
    if cfg.input.weight_col:
        kmeans.setWeightCol(cfg.input.weight_col)
    if previous is not None:
        warm_start(kmeans, previous, cfg, names)
    with out.writing():  # an error below, in the fit too, leaves nothing behind
        model = runner.timed(
            phases, "fit", lambda: kmeans.fit(features.fit_columns(inp.df, cfg, names, carry))
        )
        if writer.path == "resident":  # written inside the fit: a phase of its own
            phases["fit"] = round(phases["fit"] - phases["write_assignments"], 3)
        scaler = stage.scaler
        if scaler.constant:
            log.warning("features with no spread, left unscaled: %s", scaler.constant)
        # the model's centres are in scaled units: it reads the scaled copies of the features
        model.setInputCols([features.SCALED_PREFIX + c for c in names])
        summary = model.summary
        centers_scaled = np.array(model.clusterCenters())
        centers = scaler.inverse(centers_scaled)
        runner.timed(phases, "write_model", lambda: model.write().save(out.path("model")))
        fs.write_text(out.path("scaler.json"), scaler.to_json())
        if writer.path == "resident":
            log.info("assignments written from the fit's blocks (the input was read once)")
        else:
            data = features.prepared(inp.df, cfg, names, scaler)
            if stage.dropped:
                data = data.where(~F.col(features.BAD))
            writer.write(model.transform(data))
            log.info(
                "assignments written by transform (%s): a second read of the input",
                writer.reason,
            )
        result = runner.base_result(
            "fit",
            cfg,
            stage.counts.rows,
            stage.dropped,
            rows_used=summary.numRows,
            k=summary.k,
            features=names,
            centers=centers.tolist(),
            scaled_centers=centers_scaled.tolist(),
            cost=summary.trainingCost,
            iterations=summary.numIter,
            converged=summary.converged,
            convergence_reason=summary.convergenceReason,
            cluster_sizes=summary.clusterSizes,
            scaling=scaler.method,
            init_mode=summary.initMode,
            init_model=init or None,
            cost_history=summary.costHistory,
            run_costs=summary.diagnostics.runCosts,
            metrics=summary.metrics.to_dict() if summary.metrics is not None else None,
            assignments_path=writer.path,
            seconds={**phases, "engine": summary.diagnostics.phaseSeconds},
        )
        fs.write_text(out.path("summary.json"), json.dumps(result, indent=2))
        fs.write_text(out.path("centers.csv"), centers_csv(names, centers, summary.clusterSizes))
        if cfg.output.report:
            from kmeans_spark.app import reporting

            metrics = summary.metrics
            row = reporting.k_row(summary.k, summary.trainingCost, summary.numIter, metrics)
            report = reporting.report_data(
                f"k-means fit: {cfg.input.path}",
                reporting.run_facts(
                    cfg, stage, k=str(summary.k), restarts=str(len(summary.diagnostics.runCosts))
                ),
                [row],
                None,
                metrics,
                centers_scaled,
                scaler,
                result["config"],
            )
            reporting.write_report(fs, out, report, three_d=cfg.output.plots_3d)
    log.info("wrote %s (model/, assignments/, summary.json, centers.csv)", fs.qualify(out.final))
    return result
