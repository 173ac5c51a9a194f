"""The parameters shared by :class:`~kmeans_spark.KMeans` and its model.

One mixin, as Spark's ``_KMeansParams``: the params Spark's KMeans takes from its shared
mixins (``HasMaxIter``, ``HasSeed``, ``HasSolver``, ...) come from the same mixins, so their
names, docs and type converters are Spark's own; every other param is built from its entry
in :data:`kmeans_spark.options.OPTIONS`, and so are all the defaults. A value, a default or a
help text is therefore written once, in the options table, which the job's config and CLI
read too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import (
    HasDistanceMeasure,
    HasFeaturesCol,
    HasIntermediateStorageLevel,
    HasMaxBlockSizeInMB,
    HasMaxIter,
    HasPredictionCol,
    HasSeed,
    HasSolver,
    HasTol,
    HasWeightCol,
)

from kmeans_spark.options import BY_PARAM, OPTIONS

#: How a value of each option type becomes a param value (what ``_set`` applies).
CONVERTERS: dict[type, Callable[[Any], Any]] = {
    int: TypeConverters.toInt,
    float: TypeConverters.toFloat,
    str: TypeConverters.toString,
    bool: TypeConverters.toBoolean,
    list: TypeConverters.toListString,
}


def _param(name: str) -> Param[Any]:
    """The ``Param`` of option ``name``: its doc is the option's help."""
    option = BY_PARAM[name]
    return Param(Params._dummy(), name, option.help, typeConverter=CONVERTERS[option.type])


class KMeansParams(
    HasMaxIter,
    HasFeaturesCol,
    HasSeed,
    HasPredictionCol,
    HasTol,
    HasDistanceMeasure,
    HasWeightCol,
    HasSolver,
    HasMaxBlockSizeInMB,
    HasIntermediateStorageLevel,
):
    """Params of the estimator and the model (the mixins of Spark 4.3's ``_KMeansParams``,
    in its order, then ``k``, ``initMode``, ``initSteps`` as Spark declares them, then ours)."""

    k: Param[int] = _param("k")
    initMode: Param[str] = _param("initMode")
    initSteps: Param[int] = _param("initSteps")
    nInit: Param[int] = _param("nInit")
    oversamplingFactor: Param[float] = _param("oversamplingFactor")
    emptyClusterPolicy: Param[str] = _param("emptyClusterPolicy")
    zeroVectorPolicy: Param[str] = _param("zeroVectorPolicy")
    dtype: Param[str] = _param("dtype")
    inputCols: Param[list[str]] = _param("inputCols")
    numPartitions: Param[int] = _param("numPartitions")
    distanceCol: Param[str] = _param("distanceCol")
    # Not an option: a k x d matrix that no config key or flag carries (the job's warm start
    # is a model path, job.init_model), so its type converter is not one of CONVERTERS.
    initialCenters: Param[list[list[float]]] = Param(
        Params._dummy(),
        "initialCenters",
        "Explicit initial centres (k lists of d numbers), e.g. a previous model's centres "
        "for a warm start. Overrides initMode when set.",
        typeConverter=TypeConverters.toListListFloat,
    )

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        # seed keeps HasSeed's default (a hash of the class name), as Spark's does
        self._setDefault(
            **{o.param: o.default for o in OPTIONS if o.param and o.default is not None}
        )

    def getK(self) -> int:
        """Gets the value of `k`."""
        return self.getOrDefault(self.k)

    def getInitMode(self) -> str:
        """Gets the value of `initMode`."""
        return self.getOrDefault(self.initMode)

    def getInitSteps(self) -> int:
        """Gets the value of `initSteps`."""
        return self.getOrDefault(self.initSteps)

    def getNInit(self) -> int:
        return self.getOrDefault(self.nInit)

    def getOversamplingFactor(self) -> float:
        return self.getOrDefault(self.oversamplingFactor)

    def getEmptyClusterPolicy(self) -> str:
        return self.getOrDefault(self.emptyClusterPolicy)

    def getZeroVectorPolicy(self) -> str:
        return self.getOrDefault(self.zeroVectorPolicy)

    def getDtype(self) -> str:
        return self.getOrDefault(self.dtype)

    def getNumPartitions(self) -> int:
        return self.getOrDefault(self.numPartitions)

    def getInputCols(self) -> list[str] | None:
        """The feature columns, or None when the features are one ``featuresCol``."""
        return self._value_or_none(self.inputCols)

    def getDistanceCol(self) -> str | None:
        return self._value_or_none(self.distanceCol)

    def getInitialCenters(self) -> list[list[float]] | None:
        return self._value_or_none(self.initialCenters)

    def _value_or_none(self, param: Param[Any]) -> Any:
        """An optional param's value: None when unset (``getOrDefault`` raises then)."""
        return self.getOrDefault(param) if self.isDefined(param) else None

    def _weight_col(self) -> str | None:
        """The weight column, or None for unit weights (unset, None or ``""``, as Spark)."""
        return self._value_or_none(self.weightCol) or None
