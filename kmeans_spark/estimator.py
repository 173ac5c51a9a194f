"""``KMeans``: the ``pyspark.ml`` Estimator. Validates once, then runs load, seeding, Lloyd."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
from pyspark import keyword_only
from pyspark.ml import Estimator
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import DataFrame, SparkSession

from kmeans_spark import options, seeding
from kmeans_spark.blocks import (
    BlockTransport,
    FittedBlocks,
    ResidentBlocks,
    choose_transport,
    in_partitions,
)
from kmeans_spark.dataset import feature_name, prepare
from kmeans_spark.errors import KMeansInputError
from kmeans_spark.handle import BlockHandle
from kmeans_spark.lloyd import LloydResult, run_lloyd_runs
from kmeans_spark.load import Affine, InputStage, LoadSettings, check_handles
from kmeans_spark.metrics import CENTER_SETS, compute_metrics
from kmeans_spark.model import KMeansModel
from kmeans_spark.params import KMeansParams
from kmeans_spark.progress import RunProgress
from kmeans_spark.session import UNIX_SOCKET_IPC, is_connect, log_server_owned, setting
from kmeans_spark.summary import KMeansSummary
from kmeans_spark.sweep import KMeansSweep, sweep_blocks
from kmeans_spark.tuning import DEFAULT_TUNING, Tuning

if TYPE_CHECKING:
    from pyspark.ml.clustering import KMeansModel as SparkKMeansModel

log = logging.getLogger(__name__)

#: A seed that is None (set explicitly, as Spark allows) seeds like 0: Spark's JVM reads the
#: null as 0, and ``KMeans(seed=None)`` there gives the centres of ``seed=0``.
NONE_SEED = 0


class KMeans(
    Estimator[KMeansModel],
    KMeansParams,
    DefaultParamsReadable["KMeans"],
    DefaultParamsWritable,
):
    """Distributed k-means with k-means|| seeding, a drop-in for ``pyspark.ml.clustering.KMeans``.

    Every param, method and default of Spark's (4.3) is here, so switching is a change of
    import (``tests/spark/test_parity.py`` checks it); the params after Spark's in the
    signature are this project's.

    Sparse input: a ``featuresCol`` of ``SparseVector`` rows (TF-IDF from ``HashingTF`` or
    ``CountVectorizer`` and ``IDF``) stays sparse, as CSR blocks on the executors, with
    dense ``k x numFeatures`` centres; ``distanceMeasure="cosine"`` (spherical k-means) is
    the setting for text. Zero vectors (empty documents) under cosine are refused, or left
    out and counted with ``zeroVectorPolicy="drop"``. The fit fails right after loading
    when the dense centres would not fit a task's memory (README, "Sparse input").
    Seeding on text: k-means|| stays the default for sparse input, measured against
    random init on TF-IDF of synthetic topic documents (20,000 documents, 2^18 hashed
    features, 50 topics, k=50, cosine, 3 seeds; ``scripts/bench_sparse_engine.py init``):
    final cost 10,491 against 11,437 (median), 8 Lloyd iterations against 18, adjusted
    Rand index to the topics 0.975 against 0.715.

    Examples
    --------
    >>> from kmeans_spark import KMeans
    >>> model = KMeans(k=3, seed=1, inputCols=["x", "y"]).fit(df)  # doctest: +SKIP
    >>> model.summary.trainingCost  # doctest: +SKIP
    """

    _input_kwargs: dict[str, Any]

    @keyword_only
    def __init__(
        self,
        *,
        featuresCol: str = "features",
        predictionCol: str = "prediction",
        k: int = 2,
        initMode: str = "k-means||",
        initSteps: int = 2,
        tol: float = 1e-4,
        maxIter: int = 20,
        seed: int | None = None,
        distanceMeasure: str = "euclidean",
        weightCol: str | None = None,
        solver: str = "auto",
        maxBlockSizeInMB: float = 0.0,
        intermediateStorageLevel: str = "MEMORY_AND_DISK",
        oversamplingFactor: float = 2.0,
        emptyClusterPolicy: str = "reseed",
        zeroVectorPolicy: str = "error",
        nInit: int = 1,
        dtype: str = "float64",
        inputCols: list[str] | None = None,
        numPartitions: int = 0,
        initialCenters: list[list[float]] | None = None,
        distanceCol: str | None = None,
    ) -> None:
        super().__init__()
        self._tuning = DEFAULT_TUNING
        self._input_stage: InputStage | None = None
        self.setParams(**self._input_kwargs)

    @keyword_only
    def setParams(
        self,
        *,
        featuresCol: str = "features",
        predictionCol: str = "prediction",
        k: int = 2,
        initMode: str = "k-means||",
        initSteps: int = 2,
        tol: float = 1e-4,
        maxIter: int = 20,
        seed: int | None = None,
        distanceMeasure: str = "euclidean",
        weightCol: str | None = None,
        solver: str = "auto",
        maxBlockSizeInMB: float = 0.0,
        intermediateStorageLevel: str = "MEMORY_AND_DISK",
        oversamplingFactor: float = 2.0,
        emptyClusterPolicy: str = "reseed",
        zeroVectorPolicy: str = "error",
        nInit: int = 1,
        dtype: str = "float64",
        inputCols: list[str] | None = None,
        numPartitions: int = 0,
        initialCenters: list[list[float]] | None = None,
        distanceCol: str | None = None,
    ) -> KMeans:
        """Sets the params given, as Spark's: only those, and an explicit None too (then
        ``getSeed()`` is None, which seeds like 0 as on Spark's JVM). Returns self."""
        return self._set(**self._input_kwargs)

    # -- Spark's setters -----------------------------------------------------------------

    def setK(self, value: int) -> KMeans:
        return self._set(k=value)

    def setInitMode(self, value: str) -> KMeans:
        return self._set(initMode=value)

    def setInitSteps(self, value: int) -> KMeans:
        return self._set(initSteps=value)

    def setDistanceMeasure(self, value: str) -> KMeans:
        return self._set(distanceMeasure=value)

    def setMaxIter(self, value: int) -> KMeans:
        return self._set(maxIter=value)

    def setFeaturesCol(self, value: str) -> KMeans:
        return self._set(featuresCol=value)

    def setPredictionCol(self, value: str) -> KMeans:
        return self._set(predictionCol=value)

    def setSeed(self, value: int) -> KMeans:
        return self._set(seed=value)

    def setTol(self, value: float) -> KMeans:
        return self._set(tol=value)

    def setWeightCol(self, value: str) -> KMeans:
        return self._set(weightCol=value)

    def setSolver(self, value: str) -> KMeans:
        """Accepted for compatibility with Spark's KMeans; see the ``solver`` param."""
        return self._set(solver=value)

    def setMaxBlockSizeInMB(self, value: float) -> KMeans:
        """Accepted for compatibility with Spark's KMeans; see ``maxBlockSizeInMB``."""
        return self._set(maxBlockSizeInMB=value)

    def setIntermediateStorageLevel(self, value: str) -> KMeans:
        """Accepted for compatibility with Spark's KMeans; see ``intermediateStorageLevel``."""
        return self._set(intermediateStorageLevel=value)

    # -- ours ----------------------------------------------------------------------------

    def setNInit(self, value: int) -> KMeans:
        return self._set(nInit=value)

    def setOversamplingFactor(self, value: float) -> KMeans:
        return self._set(oversamplingFactor=value)

    def setEmptyClusterPolicy(self, value: str) -> KMeans:
        return self._set(emptyClusterPolicy=value)

    def setZeroVectorPolicy(self, value: str) -> KMeans:
        return self._set(zeroVectorPolicy=value)

    def setDtype(self, value: str) -> KMeans:
        return self._set(dtype=value)

    def setInputCols(self, value: list[str]) -> KMeans:
        return self._set(inputCols=value)

    def setNumPartitions(self, value: int) -> KMeans:
        return self._set(numPartitions=value)

    def setDistanceCol(self, value: str) -> KMeans:
        return self._set(distanceCol=value)

    def setInitialCenters(
        self, value: Sequence[Sequence[float]] | Sequence[np.ndarray] | np.ndarray
    ) -> KMeans:
        return self._set(initialCenters=value)

    def setInitialModel(self, model: KMeansModel | SparkKMeansModel) -> KMeans:
        """Warm start from a fitted model, ours or Spark's (``pyspark.ml.clustering.
        KMeansModel``; to read one from disk, ``KMeansModel.load`` takes both formats): its
        centres become ``initialCenters`` and ``k`` its number of centres."""
        centers = model.clusterCenters()
        return self.setInitialCenters(centers).setK(len(centers))

    def setTuning(self, value: Tuning) -> KMeans:
        """Engine knobs (:class:`kmeans_spark.tuning.Tuning`) for tests and benchmarks: not a
        Spark param, not saved; the measured defaults suit real use."""
        self._tuning = value
        return self

    def getTuning(self) -> Tuning:
        return self._tuning

    def setInputStage(self, stage: InputStage | None) -> KMeans:
        """The batch job's hook into the load (:class:`kmeans_spark.load.InputStage`): drop
        bad rows, see the per-feature statistics, scale the stored blocks; so the job reads
        its input once before the fit. Not a Spark param, not saved."""
        self._input_stage = stage
        return self

    # -- fit -----------------------------------------------------------------------------

    def _fit(self, dataset: DataFrame) -> KMeansModel:
        self._check_params()
        started = time.perf_counter()
        phases: dict[str, float] = {}
        self._log_start(dataset)
        stage = self._input_stage
        with self._resident_blocks(dataset) as blocks:
            # every run's centres in Lloyd; the best run's twice in the metrics' pass
            measured = stage is not None and stage.metrics_sample > 0
            centers = max(self.getK() * self.getNInit(), CENTER_SETS * self.getK() * measured)
            rows, dim, affine = self._load(blocks, phases, centers=centers)
            with _timed(phases, "init"):
                inits = self._seed_centers(blocks, dim, affine)
            with _timed(phases, "lloyd"):
                runs = self._iterate(blocks, [i.centers for i in inits])
            costs = [r.cost for r in runs]
            best = int(np.argmin(costs))  # the first of equal costs
            lloyd = runs[best]
            scores = None
            if stage is not None and stage.metrics_sample > 0:
                with _timed(phases, "metrics"):
                    (scores,) = compute_metrics(
                        blocks,
                        [lloyd.centers],
                        spherical=self._spherical(),
                        sample_size=stage.metrics_sample,
                        seed=self._seed(),
                    )
            if stage is not None and stage.on_fitted is not None:
                # the blocks still exist: the stage labels its rows with the chosen centres
                with _timed(phases, "on_fitted"):
                    stage.on_fitted(FittedBlocks(blocks, lloyd.centers, self._spherical()))
        phases["total"] = time.perf_counter() - started
        if len(runs) > 1:
            log.info("restarts: costs %s, kept run %d", ", ".join(f"{c:.9g}" for c in costs), best)
        summary = KMeansSummary.of_fit(
            lloyd,
            inits[best],
            blocks,
            k=self.getK(),
            rows=rows,
            dim=dim,
            phases=phases,
            run_costs=costs,
            best_run=best,
        )
        summary.metrics = scores
        log.info(
            "k-means done: %d rows x %d features, cost %.9g after %d iterations (%s), %.3f s",
            rows,
            dim,
            summary.trainingCost,
            summary.numIter,
            summary.convergenceReason,
            phases["total"],
        )
        # scaled blocks: the centres are not in the dataset's units, so no predictions of it
        return self._model(lloyd, summary, dataset if affine is None else None)

    def _load(
        self, blocks: ResidentBlocks, phases: dict[str, float], *, centers: int
    ) -> tuple[int, int, Affine | None]:
        """The load job, the input stage's say (the batch job's counts and scaling) and the
        validation of what the load found; the stored blocks scaled if the stage asks.
        ``centers`` dense centres of the data's dimension (every run's) must fit a task
        (:func:`kmeans_spark.blocks.check_centers_memory`): checked once the dimension is
        known, before seeding. Returns (rows, dimension, the scaling applied)."""
        with _timed(phases, "load"):
            handles = blocks.load()
            wanted = self.getNumPartitions()
            if wanted and len(handles) != wanted:  # Spark Connect: the count was unknown
                log.info("the input has %d partitions: loading it in %d", len(handles), wanted)
                handles = blocks.reload_in(wanted)
            stage = self._input_stage
            affine = stage.on_load(handles) if stage is not None else None
            rows, dim = self._check_blocks(handles)
            blocks.check_centers(centers, dim)
            sparse = sum(h.sparse for h in handles)
            if sparse:
                log.info(
                    "%d of %d blocks are sparse (CSR), %d stored entries",
                    sparse,
                    sum(1 for h in handles if h.rows),
                    sum(h.nnz for h in handles),
                )
        if affine is not None and sparse and any(affine[0]):
            raise KMeansInputError(
                "the scaling centres the features (an offset per feature), which would make "
                f"the {sparse} sparse blocks dense; sparse features can be scaled, not "
                "centred: scale without an offset (e.g. divide by the spread), or fit "
                "dense features."
            )
        if affine is None and self._spherical() and stage is not None and stage.scales:
            affine = ((0.0,) * dim, (1.0,) * dim)  # the rows still need normalising
        if affine is not None:
            with _timed(phases, "scale"):
                scaled = blocks.transform(affine, spherical=self._spherical())
                if stage is not None and stage.on_scaled is not None:
                    stage.on_scaled(scaled)  # rows centred onto zero: refused or dropped
                rows, dim = self._check_blocks(scaled)
        return rows, dim, affine

    # -- k sweep -------------------------------------------------------------------------

    def sweep(
        self,
        dataset: DataFrame,
        ks: Iterable[int] = range(2, 16),
        *,
        metrics: bool = True,
        sampleSize: int = 10_000,
        progress: RunProgress | None = None,
    ) -> KMeansSweep:
        """Fit every k of ``ks`` on one load of ``dataset``, one k-means|| seeding (for the
        largest k, reduced to each k on the driver) and shared Lloyd passes, and score each
        (SSE, Calinski-Harabasz, Davies-Bouldin, Spark's and scikit-learn's silhouette on a
        sample of ``sampleSize`` rows); see :mod:`kmeans_spark.sweep`. This estimator's
        params apply to every k (its ``k`` and ``nInit`` aside; ``initialCenters`` is
        refused). ``KMeansSweep.choice()`` picks k by the elbow, CH and silhouette.
        ``progress`` (a :class:`kmeans_spark.progress.RunProgress`) hears of each k as its
        run stops."""
        wanted = sorted({int(k) for k in ks})
        if not wanted or wanted[0] < 2:
            raise KMeansInputError(
                f"ks={wanted} must be one or more values of k, each >= 2; e.g. range(2, 16)."
            )
        if self.getInitialCenters() is not None:
            raise KMeansInputError(
                "initialCenters is set, but a sweep seeds every k itself; unset it."
            )
        if sampleSize < 2:
            raise KMeansInputError(f"sampleSize={sampleSize} must be >= 2; e.g. 10000.")
        est = self.copy().setK(wanted[-1]).setNInit(1)  # rows >= every k; one seeding
        est._check_params()
        est._log_start(dataset)
        phases: dict[str, float] = {}
        started = time.perf_counter()
        with est._resident_blocks(dataset) as blocks:
            centers = sum(wanted) * (CENTER_SETS if metrics else 1)
            rows, dim, affine = est._load(blocks, phases, centers=centers)
            outcome = sweep_blocks(
                blocks,
                wanted,
                dim=dim,
                init_mode=est.getInitMode(),
                oversampling_factor=est.getOversamplingFactor(),
                steps=est.getInitSteps(),
                seed=est._seed(),
                max_iter=est.getMaxIter(),
                tol=est.getTol(),
                spherical=est._spherical(),
                reseed_empty=est.getEmptyClusterPolicy() == "reseed",
                metrics=metrics,
                sample_size=sampleSize,
                tuning=_lloyd_tuning(est._tuning, blocks.handles),
                progress=progress,
            )
        phases.update(outcome.seconds)
        phases["total"] = time.perf_counter() - started
        models = []
        for run in outcome.runs:
            summary = KMeansSummary.of_fit(
                run.lloyd, run.init, blocks, k=run.k, rows=rows, dim=dim, phases=phases
            )
            fitted = est.copy().setK(run.k)
            models.append(fitted._model(run.lloyd, summary, dataset if affine is None else None))
        return KMeansSweep(outcome, models, phases)

    def _seed(self) -> int:
        seed = self.getSeed()
        return (NONE_SEED if seed is None else int(seed)) & 0xFFFFFFFFFFFF

    def _spherical(self) -> bool:
        return self.getDistanceMeasure() == "cosine"

    def _log_start(self, dataset: DataFrame) -> None:
        log.info(
            "k-means fit: k=%d, initMode=%s, maxIter=%d, tol=%g, distance=%s, dtype=%s, seed=%d",
            self.getK(),
            "initialCenters" if self.getInitialCenters() is not None else self.getInitMode(),
            self.getMaxIter(),
            self.getTol(),
            self.getDistanceMeasure(),
            self.getDtype(),
            self._seed(),
        )
        spark = dataset.sparkSession
        if is_connect(spark):
            _log_connect_once(spark)
            return  # the server's settings: said once, by log_server_owned
        if (setting(spark, UNIX_SOCKET_IPC, "false") or "").lower() != "true":
            log.info(
                "%s is off: every pass pays ~40 ms more per Python task; set it to true "
                "when the session is created",
                UNIX_SOCKET_IPC,
            )

    def _resident_blocks(self, dataset: DataFrame) -> ResidentBlocks:
        """The fit's input as resident blocks (loaded on ``load()``, removed on exit), with
        the columns the input stage carries."""
        stage = self._input_stage
        carry = stage.carry if stage is not None else ()
        features = prepare(
            dataset, self.getFeaturesCol(), self.getInputCols(), self._weight_col(), carry
        )
        random_init = self.getInitMode() == "random" and self.getInitialCenters() is None
        settings = LoadSettings(
            dtype=self.getDtype(),
            # rows scaled later are normalised then: their direction depends on the scaling
            spherical=self._spherical() and not (stage is not None and stage.scales),
            drop_bad_rows=stage is not None and stage.drop_bad_rows,
            drop_zero_rows=self.getZeroVectorPolicy() == "drop",
            column_stats=stage is not None,
            # the load's weighted sample: each restart's first centre, or its k random rows
            sample_size=(self.getK() if random_init else 1) * self.getNInit(),
            seed=self._seed(),
        )
        transport = choose_transport(dataset.sparkSession, self._tuning)
        return ResidentBlocks(
            self._partitioned(features, transport),
            settings,
            k=self.getK(),
            validate=self._check_blocks,
            tuning=self._tuning,
            carry=carry,
            transport=transport,
        )

    def _partitioned(self, features: DataFrame, transport: BlockTransport) -> DataFrame:
        """The input in ``numPartitions`` blocks (coalesced, or repartitioned when it has
        fewer), or at most the default parallelism's.

        Under Spark Connect the partition count cannot be had before the load (no RDD): the
        input is loaded as it is, and a load of another count than ``numPartitions`` loads
        again from the coalesced or repartitioned input (:meth:`_load`), which is what a
        classic session loads (:func:`~kmeans_spark.blocks.in_partitions` both times), so
        both store the same blocks and give the same centres."""
        wanted = self.getNumPartitions()
        if wanted == 0:  # coalesce never adds partitions, so no need to count them first
            return features.coalesce(transport.default_parallelism())
        current = transport.partitions(features)
        return features if current is None else in_partitions(features, wanted, current)

    def _seed_centers(
        self, blocks: ResidentBlocks, dim: int, affine: Affine | None
    ) -> list[seeding.SeedingResult]:
        """The initial centres of each restart: given (``initialCenters``: one run), random
        rows, or k-means||."""
        given = self._given_centers(dim, affine)
        if given is not None:
            if self.getNInit() > 1:
                log.warning("nInit=%d is ignored: initialCenters are given", self.getNInit())
            return [seeding.SeedingResult(centers=given, mode="initialCenters")]
        if self.getInitMode() == "random":
            return seeding.random_init(
                blocks.handles, self.getK(), dim, self._seed(), runs=self.getNInit()
            )
        return seeding.kmeans_parallel(
            blocks,
            k=self.getK(),
            dim=dim,
            oversampling_factor=self.getOversamplingFactor(),
            steps=self.getInitSteps(),
            seed=self._seed(),
            spherical=self._spherical(),
            tuning=self._tuning,
            runs=self.getNInit(),
        )

    def _iterate(self, blocks: ResidentBlocks, starts: list[np.ndarray]) -> list[LloydResult]:
        return run_lloyd_runs(
            blocks,
            starts,
            max_iter=self.getMaxIter(),
            tol=self.getTol(),
            spherical=self._spherical(),
            reseed_empty=self.getEmptyClusterPolicy() == "reseed",
            tuning=_lloyd_tuning(self._tuning, blocks.handles),
        )

    def _model(
        self, lloyd: LloydResult, summary: KMeansSummary, dataset: DataFrame | None
    ) -> KMeansModel:
        """The fitted model: the estimator's uid and params (as Spark's), and a summary
        whose predictions come from the model as fitted (later setters do not change them)."""
        model = self._copyValues(KMeansModel(lloyd.centers, summary, uid=self.uid))
        if dataset is not None:
            as_fitted = model.copy()
            summary.attach_predictions(
                model.getPredictionCol(),
                model.getFeaturesCol(),
                lambda: as_fitted.transform(dataset),
            )
        return model

    # -- validation ----------------------------------------------------------------------

    def _check_params(self) -> None:
        """Every param against its rule in :data:`kmeans_spark.options.OPTIONS`, before any
        Spark job. An explicit None (which Spark's setParams sets, as here) is refused where
        the param needs a value."""
        for param in self.params:
            value = self.getOrDefault(param) if self.isDefined(param) else None
            option = options.BY_PARAM.get(param.name)
            default = option.default if option else self._defaultParamMap.get(param)
            if value is None and default is not None:  # seed's option default is None
                raise KMeansInputError(
                    f"{param.name}=None is not allowed: {param.name} needs a value; leave it "
                    f"out for the default {default!r}."
                )
            if option is not None:
                options.check(option, value)

    def _check_blocks(self, handles: Sequence[BlockHandle]) -> tuple[int, int]:
        """Validate what the load job found; return (rows, dimension)."""
        features_col, input_cols = self.getFeaturesCol(), self.getInputCols()
        return check_handles(
            handles,
            k=self.getK(),
            weight_col=self._weight_col(),
            feature_name=lambda i: feature_name(i, features_col, input_cols),
        )

    def _given_centers(self, dim: int, affine: Affine | None = None) -> np.ndarray | None:
        """``initialCenters`` checked against k and the data's dimension (unit rows for
        cosine), or None when unset. They are in the input's units: the scaling of an
        :class:`InputStage` (``affine``) applies to them as to the rows."""
        given = self.getInitialCenters()
        if given is None:
            return None
        k = self.getK()
        centers = np.asarray(given, dtype=np.float64)
        if centers.ndim != 2 or centers.shape != (k, dim):
            raise KMeansInputError(
                f"initialCenters has shape {centers.shape}, but k={k} centres of the data's "
                f"dimension {dim} are needed: shape ({k}, {dim})."
            )
        if not np.isfinite(centers).all():
            raise KMeansInputError("initialCenters contains NaN or infinite values.")
        if affine is not None:
            offset, scale = (np.asarray(v, dtype=np.float64) for v in affine)
            centers = (centers - offset) / scale
        if self._spherical():
            norms = np.linalg.norm(centers, axis=1)
            if (norms == 0).any():
                raise KMeansInputError(
                    "initialCenters contains a zero vector, which has no direction for "
                    "distanceMeasure='cosine'."
                )
            centers = centers / norms[:, None]
        return centers


#: Whether this process has said what a fit under Spark Connect does without.
_connect_noted = False


def _log_connect_once(spark: SparkSession) -> None:
    """Say once per process what a fit under Spark Connect does differently, and (through
    :func:`~kmeans_spark.session.log_server_owned`, also once) the server-owned settings."""
    global _connect_noted
    if _connect_noted:
        return
    _connect_noted = True
    log.info(
        "Spark Connect: the fit's passes are DataFrame jobs (mapInArrow over cached block "
        "handles, values inline; no RDD, no broadcast), ~0.1 s more per pass than a classic "
        "session's RDD passes"
    )
    log_server_owned(spark)


def _lloyd_tuning(tuning: Tuning, handles: Sequence[BlockHandle]) -> Tuning:
    """``tuning`` without pruning for a fit with CSR blocks: they never prune (see
    :func:`kmeans_spark.lloyd._sparse_runs`), and a run that prunes costs the driver the
    centres' pairwise distances every pass, ``k^2 x features`` (2.3 s of a 3.6 s
    four-iteration fit at k = 50 and 2^18 features, measured)."""
    if tuning.prune is None and any(h.sparse for h in handles):
        return replace(tuning, prune=False)
    return tuning


@contextlib.contextmanager
def _timed(phases: dict[str, float], name: str) -> Iterator[None]:
    """Add the seconds the block takes to ``phases[name]``."""
    started = time.perf_counter()
    yield
    phases[name] = time.perf_counter() - started
