"""``KMeans``: the ``pyspark.ml`` Estimator. Validates once, then runs load, seeding, Lloyd."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from pyspark import keyword_only
from pyspark.ml import Estimator
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import DataFrame

from kmeans_spark import seeding
from kmeans_spark.blocks import BlockHandle, ResidentBlocks
from kmeans_spark.dataset import feature_name, prepare
from kmeans_spark.errors import KMeansInputError
from kmeans_spark.lloyd import run_lloyd
from kmeans_spark.model import KMeansModel, KMeansSummary
from kmeans_spark.params import (
    DISTANCE_MEASURES,
    DTYPES,
    EMPTY_CLUSTER_POLICIES,
    INIT_MODES,
    KMeansParams,
)
from kmeans_spark.session import UNIX_SOCKET_IPC

log = logging.getLogger(__name__)


class KMeans(Estimator[KMeansModel], KMeansParams, DefaultParamsReadable, DefaultParamsWritable):
    """Distributed k-means with k-means|| seeding, a drop-in for ``pyspark.ml.clustering.KMeans``.

    Examples
    --------
    >>> from kmeans_spark import KMeans
    >>> model = KMeans(k=3, seed=1, inputCols=["x", "y"]).fit(df)  # doctest: +SKIP
    >>> model.summary.trainingCost  # doctest: +SKIP
    """

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
        oversamplingFactor: float = 2.0,
        emptyClusterPolicy: str = "reseed",
        dtype: str = "float64",
        inputCols: list[str] | None = None,
        numPartitions: int = 0,
        initialCenters: list[list[float]] | None = None,
        distanceCol: str | None = None,
        solver: str = "auto",
        maxBlockSizeInMB: float = 0.0,
    ) -> None:
        super().__init__()
        kwargs = self._input_kwargs  # type: ignore[attr-defined]  # set by @keyword_only
        self.setParams(**kwargs)

    @keyword_only
    def setParams(self, **kwargs: Any) -> KMeans:
        """Set any of the constructor's parameters; returns self."""
        return self._set(**{k: v for k, v in kwargs.items() if v is not None})

    def setK(self, value: int) -> KMeans:
        return self._set(k=value)

    def setInitMode(self, value: str) -> KMeans:
        return self._set(initMode=value)

    def setInitSteps(self, value: int) -> KMeans:
        return self._set(initSteps=value)

    def setMaxIter(self, value: int) -> KMeans:
        return self._set(maxIter=value)

    def setTol(self, value: float) -> KMeans:
        return self._set(tol=value)

    def setSeed(self, value: int) -> KMeans:
        return self._set(seed=value)

    def setFeaturesCol(self, value: str) -> KMeans:
        return self._set(featuresCol=value)

    def setPredictionCol(self, value: str) -> KMeans:
        return self._set(predictionCol=value)

    def setWeightCol(self, value: str) -> KMeans:
        return self._set(weightCol=value)

    def setDistanceMeasure(self, value: str) -> KMeans:
        return self._set(distanceMeasure=value)

    def setOversamplingFactor(self, value: float) -> KMeans:
        return self._set(oversamplingFactor=value)

    def setEmptyClusterPolicy(self, value: str) -> KMeans:
        return self._set(emptyClusterPolicy=value)

    def setDtype(self, value: str) -> KMeans:
        return self._set(dtype=value)

    def setInputCols(self, value: list[str]) -> KMeans:
        return self._set(inputCols=value)

    def setNumPartitions(self, value: int) -> KMeans:
        return self._set(numPartitions=value)

    def setInitialCenters(
        self, value: Sequence[Sequence[float]] | Sequence[np.ndarray] | np.ndarray
    ) -> KMeans:
        return self._set(initialCenters=[[float(v) for v in row] for row in value])

    def setInitialModel(self, model: KMeansModel) -> KMeans:
        """Warm start from a previous model: its centres become the initial centres and
        ``k`` becomes its number of centres."""
        centers = model.clusterCenters()
        return self.setInitialCenters(centers).setK(len(centers))

    def setDistanceCol(self, value: str) -> KMeans:
        return self._set(distanceCol=value)

    def setSolver(self, value: str) -> KMeans:
        """Accepted for compatibility with Spark's KMeans; see the ``solver`` param."""
        return self._set(solver=value)

    def setMaxBlockSizeInMB(self, value: float) -> KMeans:
        """Accepted for compatibility with Spark's KMeans; see ``maxBlockSizeInMB``."""
        return self._set(maxBlockSizeInMB=value)

    # -- validation ----------------------------------------------------------------------

    def _check_params(self) -> None:
        def choice(name: str, value: str, allowed: Sequence[str]) -> None:
            if value not in allowed:
                raise KMeansInputError(
                    f"{name}={value!r} is not supported; use one of {', '.join(allowed)}."
                )

        k = self.getK()
        if k < 2:
            raise KMeansInputError(f"k={k} must be >= 2; ask for at least two clusters.")
        if self.getMaxIter() < 1:
            raise KMeansInputError(f"maxIter={self.getMaxIter()} must be >= 1.")
        tol = self.getTol()
        if not (math.isfinite(tol) and tol >= 0):
            raise KMeansInputError(f"tol={tol} must be a finite number >= 0.")
        if self.getInitSteps() < 1:
            raise KMeansInputError(f"initSteps={self.getInitSteps()} must be >= 1.")
        factor = self.getOversamplingFactor()
        if not (math.isfinite(factor) and factor > 0):
            raise KMeansInputError(f"oversamplingFactor={factor} must be a finite number > 0.")
        if self.getNumPartitions() < 0:
            raise KMeansInputError(
                f"numPartitions={self.getNumPartitions()} must be >= 0 (0 picks it for you)."
            )
        choice("initMode", self.getInitMode(), INIT_MODES)
        choice("distanceMeasure", self.getDistanceMeasure(), DISTANCE_MEASURES)
        choice("emptyClusterPolicy", self.getEmptyClusterPolicy(), EMPTY_CLUSTER_POLICIES)
        choice("dtype", self.getDtype(), DTYPES)
        choice("solver", self.getOrDefault(self.solver), ("auto", "row", "block"))

    def _check_blocks(self, handles: Sequence[BlockHandle]) -> tuple[int, int]:
        """Validate what the load job found; return (rows, dimension)."""
        features_col, input_cols = self.getFeaturesCol(), self.getInputCols()
        for h in handles:
            if h.dim_mismatch:
                raise KMeansInputError(
                    f"{h.dim_mismatch} rows of partition {h.partition} have a different number "
                    f"of features than its first row ({h.dim}); all feature vectors must have "
                    "the same length."
                )
        bad = [h for h in handles if h.bad_rows]
        if bad:
            first = bad[0]
            shown = ", ".join(
                f"{feature_name(i, features_col, input_cols)}={v!r}"
                for i, v in enumerate(first.bad_row)
            )
            raise KMeansInputError(
                f"{sum(h.bad_rows for h in bad)} rows have null, NaN or infinite features "
                f"(first: partition {first.partition}, row {first.bad_row_index}: {shown}); "
                "features must be finite numbers: drop or impute those rows before fitting "
                "(e.g. df.na.drop())."
            )
        dims = sorted({h.dim for h in handles if h.rows > 0 and h.x_path})
        if len(dims) > 1:
            raise KMeansInputError(
                f"feature vectors have different lengths across partitions ({dims}); all "
                "feature vectors must have the same length."
            )
        bad_w = [h for h in handles if h.bad_weights]
        if bad_w:
            raise KMeansInputError(
                f"{sum(h.bad_weights for h in bad_w)} rows have a null, negative, NaN or "
                f"infinite weight in column {self.getWeightCol()!r} (for example "
                f"{bad_w[0].bad_weight!r}); weights must be finite and >= 0."
            )
        zero = sum(h.zero_rows for h in handles)
        if zero:
            raise KMeansInputError(
                f"{zero} rows are zero vectors, which have no direction for "
                "distanceMeasure='cosine'; drop them or use distanceMeasure='euclidean'."
            )
        rows = sum(h.rows for h in handles)
        k = self.getK()
        if rows < k:
            raise KMeansInputError(
                f"the input has {rows} rows, fewer than k={k}; k must be <= the number of "
                "rows: lower k or add data."
            )
        weight = sum(h.weight_sum for h in handles)
        if not weight > 0:
            raise KMeansInputError(
                f"the weights in column {self.getWeightCol()!r} sum to {weight}; at least one "
                "row needs a positive weight."
            )
        dim = dims[0]
        if dim < 1:
            raise KMeansInputError("feature vectors are empty; give at least one feature.")
        return rows, dim

    def _initial_centers(self, dim: int) -> np.ndarray | None:
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
        if self.getDistanceMeasure() == "cosine":
            norms = np.linalg.norm(centers, axis=1)
            if (norms == 0).any():
                raise KMeansInputError(
                    "initialCenters contains a zero vector, which has no direction for "
                    "distanceMeasure='cosine'."
                )
            centers = centers / norms[:, None]
        return centers

    def _partitioned(self, features: DataFrame) -> DataFrame:
        wanted = self.getNumPartitions()
        if wanted == 0:  # coalesce never adds partitions, so no need to count them first
            return features.coalesce(features.sparkSession.sparkContext.defaultParallelism)
        current = features.rdd.getNumPartitions()
        if wanted < current:
            return features.coalesce(wanted)
        if wanted > current:
            return features.repartition(wanted)
        return features

    # -- fit -----------------------------------------------------------------------------

    def _fit(self, dataset: DataFrame) -> KMeansModel:
        self._check_params()
        started = time.perf_counter()
        spherical = self.getDistanceMeasure() == "cosine"
        features = prepare(dataset, self.getFeaturesCol(), self.getInputCols(), self._weight_col())
        features = self._partitioned(features)
        sc = dataset.sparkSession.sparkContext
        k = self.getK()
        seed = int(self.getSeed()) & 0xFFFFFFFFFFFF
        explicit = self.isDefined(self.initialCenters)
        init_mode = "initialCenters" if explicit else self.getInitMode()
        log.info(
            "k-means fit: k=%d, initMode=%s, maxIter=%d, tol=%g, distance=%s, dtype=%s, seed=%d",
            k,
            init_mode,
            self.getMaxIter(),
            self.getTol(),
            self.getDistanceMeasure(),
            self.getDtype(),
            seed,
        )
        if sc.getConf().get(UNIX_SOCKET_IPC, "false").lower() != "true":
            log.info(
                "%s is off: every pass pays ~40 ms more per Python task; set it to true "
                "when the session is created",
                UNIX_SOCKET_IPC,
            )
        phases: dict[str, float] = {}
        with ResidentBlocks(
            features,
            dtype=self.getDtype(),
            spherical=spherical,
            sample_size=k if init_mode == "random" else 1,
            seed=seed,
            k=k,
            validate=self._check_blocks,
        ) as blocks:
            t0 = time.perf_counter()
            handles = blocks.load()
            phases["load"] = time.perf_counter() - t0
            rows, dim = self._check_blocks(handles)
            log.info(
                "loaded %d rows x %d features into %d blocks in %.3f s",
                rows,
                dim,
                len(handles),
                phases["load"],
            )
            t0 = time.perf_counter()
            given = self._initial_centers(dim)
            if given is not None:
                init = seeding.SeedingResult(centers=given, mode="initialCenters")
            elif init_mode == "random":
                init = seeding.random_init(handles, k, dim, seed)
            else:
                init = seeding.kmeans_parallel(
                    blocks,
                    k=k,
                    dim=dim,
                    oversampling_factor=self.getOversamplingFactor(),
                    steps=self.getInitSteps(),
                    seed=seed,
                    spherical=spherical,
                )
            phases["init"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            result = run_lloyd(
                blocks,
                init.centers,
                max_iter=self.getMaxIter(),
                tol=self.getTol(),
                spherical=spherical,
                reseed_empty=self.getEmptyClusterPolicy() == "reseed",
            )
            phases["lloyd"] = time.perf_counter() - t0
            rebuilds = blocks.rebuilds
            pass_tasks, pass_threads = blocks.tasks, blocks.threads
        phases["total"] = time.perf_counter() - started
        summary = KMeansSummary(
            k=k,
            trainingCost=result.cost,
            clusterSizes=result.cluster_sizes,
            clusterWeights=result.cluster_weights,
            numIter=result.num_iter,
            converged=result.converged,
            convergenceReason=result.convergence_reason,
            costHistory=result.cost_history,
            shiftHistory=result.shift_history,
            iterationSeconds=result.iteration_seconds,
            initMode=init.mode,
            initCost=init.candidate_cost,
            initCandidates=init.candidates,
            numRows=rows,
            numPartitions=len(handles),
            numFeatures=dim,
            reseededClusters=result.reseeded,
            blockRebuilds=rebuilds,
            passTasks=pass_tasks,
            passThreads=pass_threads,
            prunedFraction=result.pruned_fraction,
            phaseSeconds=phases,
        )
        log.info(
            "k-means done: cost %.9g after %d iterations (%s), %.3f s",
            result.cost,
            result.num_iter,
            result.convergence_reason,
            phases["total"],
        )
        model = KMeansModel(result.centers, summary)
        self._copyValues(model)
        summary._predictionCol = model.getPredictionCol()
        summary._featuresCol = model.getFeaturesCol()
        summary._make_predictions = lambda: model.transform(dataset)
        return model
