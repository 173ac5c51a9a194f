"""The parameters shared by :class:`~kmeans_spark.KMeans` and its model.

Names and defaults follow ``pyspark.ml.clustering.KMeans`` (``k=2, maxIter=20, tol=1e-4,
initMode="k-means||", initSteps=2, distanceMeasure="euclidean"``), so switching is a change
of import; the parameters after those are this project's own.
"""

from __future__ import annotations

from typing import Any

from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import (
    HasDistanceMeasure,
    HasFeaturesCol,
    HasMaxIter,
    HasPredictionCol,
    HasSeed,
    HasTol,
    HasWeightCol,
)

INIT_MODES = ("k-means||", "random")
DISTANCE_MEASURES = ("euclidean", "cosine")
EMPTY_CLUSTER_POLICIES = ("reseed", "keep")
DTYPES = ("float64", "float32")


class KMeansParams(
    HasFeaturesCol,
    HasPredictionCol,
    HasMaxIter,
    HasTol,
    HasSeed,
    HasWeightCol,
    HasDistanceMeasure,
):
    """Params of the estimator and the model (one mixin, as Spark's ``_KMeansParams``)."""

    k: Param[int] = Param(
        Params._dummy(),
        "k",
        "The number of clusters to create. Must be > 1.",
        typeConverter=TypeConverters.toInt,
    )
    initMode: Param[str] = Param(
        Params._dummy(),
        "initMode",
        'The initialization algorithm: "k-means||" (Bahmani et al.) or "random". '
        "Ignored when initialCenters is set.",
        typeConverter=TypeConverters.toString,
    )
    initSteps: Param[int] = Param(
        Params._dummy(),
        "initSteps",
        "The number of k-means|| sampling rounds. Must be > 0.",
        typeConverter=TypeConverters.toInt,
    )
    oversamplingFactor: Param[float] = Param(
        Params._dummy(),
        "oversamplingFactor",
        "k-means|| samples about oversamplingFactor * k points per round. Must be > 0.",
        typeConverter=TypeConverters.toFloat,
    )
    initialCenters: Param[list[list[float]]] = Param(
        Params._dummy(),
        "initialCenters",
        "Explicit initial centres (k lists of d numbers), e.g. a previous model's centres "
        "for a warm start. Overrides initMode when set.",
        typeConverter=TypeConverters.toListListFloat,
    )
    emptyClusterPolicy: Param[str] = Param(
        Params._dummy(),
        "emptyClusterPolicy",
        'What to do with a cluster that loses all its points: "reseed" it at one of the '
        'points farthest from its centre (default), or "keep" its centre (Spark\'s behaviour).',
        typeConverter=TypeConverters.toString,
    )
    dtype: Param[str] = Param(
        Params._dummy(),
        "dtype",
        'Precision of the cached blocks and distance computations: "float64" (default) or '
        '"float32" (half the memory, faster; sums are still accumulated in float64).',
        typeConverter=TypeConverters.toString,
    )
    inputCols: Param[list[str]] = Param(
        Params._dummy(),
        "inputCols",
        "Numeric columns to use as features, one per dimension; when set, featuresCol is not read.",
        typeConverter=TypeConverters.toListString,
    )
    numPartitions: Param[int] = Param(
        Params._dummy(),
        "numPartitions",
        "Number of resident blocks. 0 (default): the input's partitions, coalesced to the "
        "default parallelism when there are more. Iterations cost about one task per block.",
        typeConverter=TypeConverters.toInt,
    )
    solver: Param[str] = Param(
        Params._dummy(),
        "solver",
        "Accepted for compatibility with pyspark.ml.clustering.KMeans ('auto', 'row' or "
        "'block'); this implementation has one solver, so the value changes nothing.",
        typeConverter=TypeConverters.toString,
    )
    maxBlockSizeInMB: Param[float] = Param(
        Params._dummy(),
        "maxBlockSizeInMB",
        "Accepted for compatibility with pyspark.ml.clustering.KMeans; blocks here are one "
        "per partition (see numPartitions), so the value changes nothing.",
        typeConverter=TypeConverters.toFloat,
    )
    distanceCol: Param[str] = Param(
        Params._dummy(),
        "distanceCol",
        "When set, transform also writes each row's distance to its centre (Euclidean "
        "distance, or 1 - cosine similarity) to this column.",
        typeConverter=TypeConverters.toString,
    )

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._setDefault(
            k=2,
            maxIter=20,
            tol=1e-4,
            initMode="k-means||",
            initSteps=2,
            oversamplingFactor=2.0,
            distanceMeasure="euclidean",
            emptyClusterPolicy="reseed",
            dtype="float64",
            numPartitions=0,
            solver="auto",
            maxBlockSizeInMB=0.0,
        )

    def getK(self) -> int:
        return self.getOrDefault(self.k)

    def getInitMode(self) -> str:
        return self.getOrDefault(self.initMode)

    def getInitSteps(self) -> int:
        return self.getOrDefault(self.initSteps)

    def getOversamplingFactor(self) -> float:
        return self.getOrDefault(self.oversamplingFactor)

    def getInitialCenters(self) -> list[list[float]] | None:
        return (
            self.getOrDefault(self.initialCenters) if self.isDefined(self.initialCenters) else None
        )

    def getEmptyClusterPolicy(self) -> str:
        return self.getOrDefault(self.emptyClusterPolicy)

    def getDtype(self) -> str:
        return self.getOrDefault(self.dtype)

    def getInputCols(self) -> list[str] | None:
        return self.getOrDefault(self.inputCols) if self.isDefined(self.inputCols) else None

    def getNumPartitions(self) -> int:
        return self.getOrDefault(self.numPartitions)

    def getDistanceCol(self) -> str | None:
        return self.getOrDefault(self.distanceCol) if self.isDefined(self.distanceCol) else None

    def _weight_col(self) -> str | None:
        if self.isDefined(self.weightCol) and self.getWeightCol():
            return self.getWeightCol()
        return None
