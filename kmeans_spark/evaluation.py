"""``KMeansEvaluator``: a drop-in for ``pyspark.ml.evaluation.ClusteringEvaluator`` with
more metrics: Spark's silhouette (squared Euclidean or cosine, the same value), scikit-
learn's Calinski-Harabasz and Davies-Bouldin, and the within-cluster sum of squares.

It scores a DataFrame of predictions in at most two Arrow passes (``mapInArrow``; no
per-row Python): per-cluster moments first, then, for the silhouette and Davies-Bouldin,
each row against every cluster's mean. A column of ``SparseVector`` rows (hashed TF-IDF)
stays sparse, as in the fit: a task holds its batch's non-zeros plus ``k x d``. The math
is :mod:`kmeans_spark.kernels.scores`, the per-batch work
:mod:`kmeans_spark.prediction_scores`. As an ``Evaluator`` it tunes
``k`` in ``TrainValidationSplit`` / ``CrossValidator`` with any of its metrics.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
from pyspark import TaskContext, keyword_only
from pyspark.ml.evaluation import Evaluator
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasFeaturesCol, HasInputCols, HasPredictionCol, HasWeightCol
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import DataFrame
from pyspark.sql.types import NumericType

from kmeans_spark.dataset import (
    column,
    features_column,
    first_vector_is_sparse,
    weight_column,
)
from kmeans_spark.errors import KMeansInputError
from kmeans_spark.kernels.scores import (
    ClusterMoments,
    ClusterSpread,
    SeparationSums,
    as_moments,
    calinski_harabasz,
    davies_bouldin,
    defined,
    spark_silhouette,
)
from kmeans_spark.load import FEATURES, WEIGHT
from kmeans_spark.prediction_scores import (
    PREDICTION,
    PredictionMoments,
    moments_of_batches,
    separation_of_batches,
)

T = TypeVar("T")

#: Each metric and whether a larger value is better.
METRICS = {"silhouette": True, "calinskiHarabasz": True, "daviesBouldin": False, "sse": False}
DISTANCE_MEASURES = ("squaredEuclidean", "cosine")


def _one_of(name: str, allowed: tuple[str, ...]) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        text = TypeConverters.toString(value)
        if text not in allowed:
            raise ValueError(f"{name}={value!r} is not supported; use one of {list(allowed)}.")
        return text

    return convert


class KMeansEvaluator(
    Evaluator,
    HasFeaturesCol,
    HasPredictionCol,
    HasWeightCol,
    HasInputCols,
    DefaultParamsReadable["KMeansEvaluator"],
    DefaultParamsWritable,
):
    """Evaluator of clustering results, with ``ClusteringEvaluator``'s params and defaults.

    ``metricName``:

    * ``silhouette`` (default; larger is better): Spark's, exactly as
      ``ClusteringEvaluator`` computes it for ``distanceMeasure`` (``squaredEuclidean``
      or ``cosine``), weights included;
    * ``calinskiHarabasz`` (larger is better) and ``daviesBouldin`` (smaller is better):
      scikit-learn's ``calinski_harabasz_score`` / ``davies_bouldin_score`` of the features
      and predictions (weights count as repetitions of a row);
    * ``sse`` (smaller is better): ``sum w |x - mean|^2`` over clusters, the k-means cost
      with every cluster's centre at its mean.

    With ``distanceMeasure="cosine"`` every metric is computed on the L2-normalised
    features (``sse`` is then the cosine cost ``sum w (1 - cos(x, mean))``). Features are a
    vector or numeric-array ``featuresCol``, or numeric ``inputCols`` (as
    :class:`~kmeans_spark.KMeans` takes them). Rows with null, NaN or infinite features
    (zero vectors for cosine), a null prediction or a bad weight are refused, as Spark's
    evaluator fails on them too.

    Examples
    --------
    >>> from pyspark.ml.tuning import ParamGridBuilder, TrainValidationSplit  # doctest: +SKIP
    >>> km = KMeans(inputCols=["x", "y"])  # doctest: +SKIP
    >>> grid = ParamGridBuilder().addGrid(km.k, [2, 3, 4, 5]).build()  # doctest: +SKIP
    >>> ev = KMeansEvaluator(inputCols=["x", "y"], metricName="calinskiHarabasz")  # doctest: +SKIP
    >>> best = TrainValidationSplit(estimator=km, estimatorParamMaps=grid,
    ...                             evaluator=ev).fit(df).bestModel  # doctest: +SKIP
    """

    metricName: Param[str] = Param(
        Params._dummy(),
        "metricName",
        "metric name in evaluation: " + ", ".join(METRICS),
        typeConverter=_one_of("metricName", tuple(METRICS)),
    )
    distanceMeasure: Param[str] = Param(
        Params._dummy(),
        "distanceMeasure",
        "The distance measure. Supported options: 'squaredEuclidean' and 'cosine'.",
        typeConverter=_one_of("distanceMeasure", DISTANCE_MEASURES),
    )

    _input_kwargs: dict[str, Any]

    @keyword_only
    def __init__(
        self,
        *,
        predictionCol: str = "prediction",
        featuresCol: str = "features",
        metricName: str = "silhouette",
        distanceMeasure: str = "squaredEuclidean",
        weightCol: str | None = None,
        inputCols: list[str] | None = None,
    ) -> None:
        super().__init__()
        self._setDefault(metricName="silhouette", distanceMeasure="squaredEuclidean")
        self._set(**self._input_kwargs)

    @keyword_only
    def setParams(
        self,
        *,
        predictionCol: str = "prediction",
        featuresCol: str = "features",
        metricName: str = "silhouette",
        distanceMeasure: str = "squaredEuclidean",
        weightCol: str | None = None,
        inputCols: list[str] | None = None,
    ) -> KMeansEvaluator:
        """Sets params for the evaluator."""
        return self._set(**self._input_kwargs)

    def setMetricName(self, value: str) -> KMeansEvaluator:
        return self._set(metricName=value)

    def getMetricName(self) -> str:
        return self.getOrDefault(self.metricName)

    def setDistanceMeasure(self, value: str) -> KMeansEvaluator:
        return self._set(distanceMeasure=value)

    def getDistanceMeasure(self) -> str:
        return self.getOrDefault(self.distanceMeasure)

    def setFeaturesCol(self, value: str) -> KMeansEvaluator:
        return self._set(featuresCol=value)

    def setPredictionCol(self, value: str) -> KMeansEvaluator:
        return self._set(predictionCol=value)

    def setWeightCol(self, value: str) -> KMeansEvaluator:
        return self._set(weightCol=value)

    def setInputCols(self, value: list[str]) -> KMeansEvaluator:
        return self._set(inputCols=value)

    def _optional(self, param: Param[Any]) -> Any:
        return self.getOrDefault(param) if self.isDefined(param) else None

    def isLargerBetter(self) -> bool:
        return METRICS[self.getMetricName()]

    def _evaluate(self, dataset: DataFrame) -> float:
        metric = self.getMetricName()
        cosine = self.getDistanceMeasure() == "cosine"
        frame = self._columns(dataset)
        first = _per_partition(
            frame,
            lambda batches: moments_of_batches(batches, cosine=cosine),
            PredictionMoments.merge,
        )
        moments = self._checked(first, cosine)
        if metric == "sse":
            return _sse(moments, cosine)
        if not defined(moments):
            raise KMeansInputError(
                f"{metric} needs at least 2 clusters with rows and fewer clusters than rows; "
                f"the predictions have {int(moments.present.sum())} cluster(s) in "
                f"{int(moments.counts.sum())} rows."
            )
        if metric == "calinskiHarabasz":
            return calinski_harabasz(moments)
        ids, spread = moments.ids, ClusterSpread.of(moments)
        second = _per_partition(
            frame,
            lambda batches: separation_of_batches(batches, cosine=cosine, ids=ids, spread=spread),
            SeparationSums.merge,
        )
        if metric == "daviesBouldin":
            return davies_bouldin(moments, second.intra_distance)
        return spark_silhouette(moments, second)

    def _columns(self, dataset: DataFrame) -> DataFrame:
        """Features as ``array<double>`` (a ``VectorUDT`` column of sparse vectors as it is,
        Spark's struct, as the fit's load takes it: ``vector_to_array`` would make every
        row ``d`` doubles), prediction as double, weight as double (if any)."""
        pred = self.getPredictionCol()
        if pred not in dataset.columns:
            raise KMeansInputError(
                f"prediction column {pred!r} does not exist; the input has columns "
                f"{dataset.columns[:20]}. Set predictionCol to the model's."
            )
        if not isinstance(dataset.schema[pred].dataType, NumericType):
            raise KMeansInputError(
                f"prediction column {pred!r} has type "
                f"{dataset.schema[pred].dataType.simpleString()}, but must be numeric."
            )
        input_cols = self._optional(self.inputCols)
        keep = not input_cols and first_vector_is_sparse(dataset, self.getFeaturesCol())
        cols = [
            features_column(dataset, self.getFeaturesCol(), input_cols, keep_vectors=keep).alias(
                FEATURES
            ),
            column(pred).cast("double").alias(PREDICTION),
        ]
        weight = weight_column(dataset, self._optional(self.weightCol) or None)
        if weight is not None:
            cols.append(weight.alias(WEIGHT))
        return dataset.select(*cols)

    def _checked(self, found: PredictionMoments, cosine: bool) -> ClusterMoments:
        """The moments, after refusing input the metrics cannot be computed on."""
        if len(found.dims) > 1:
            raise KMeansInputError(
                f"the features have rows of different lengths ({list(found.dims)}); "
                "every row needs the same number of features."
            )
        if found.bad_features or found.bad_predictions or found.bad_weights:
            what = [
                f"{found.bad_features} with null, NaN, infinite or mis-sized features"
                + (" or zero vectors (cosine)" if cosine else "")
                if found.bad_features
                else "",
                f"{found.bad_predictions} with a null prediction" if found.bad_predictions else "",
                f"{found.bad_weights} with a null, negative, NaN or infinite weight"
                if found.bad_weights
                else "",
            ]
            raise KMeansInputError(
                f"{sum((found.bad_features, found.bad_predictions, found.bad_weights))} rows "
                f"cannot be evaluated: {'; '.join(w for w in what if w)}. Filter them out "
                "first (e.g. dropna())."
            )
        moments = None if found.moments is None else as_moments(found.moments)
        if moments is None or not moments.present.any():
            raise KMeansInputError("the predictions have no rows (of positive weight) to evaluate.")
        return moments


def _sse(m: ClusterMoments, cosine: bool) -> float:
    """``sum w |x - mean|^2``; for cosine (unit rows), ``sum w (1 - cos(x, mean))``, which
    is ``m2 / (1 + |mean|)`` per cluster (no cancellation for tight clusters)."""
    if not cosine:
        return float(m.m2.sum())
    return float((m.m2 / (1.0 + np.linalg.norm(m.means, axis=1))).sum())


def _per_partition(
    frame: DataFrame,
    fn: Callable[[Iterator[pa.RecordBatch]], T],
    merge: Callable[[T, T], T],
) -> T:
    """``fn`` over each partition's Arrow batches (one Spark job); the results, pickled
    back to the driver, merged in partition order (the same sums on every run)."""

    def task(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        context = TaskContext.get()
        partition = context.partitionId() if context is not None else 0
        result = fn(batches)
        yield pa.RecordBatch.from_arrays(
            [pa.array([partition], pa.int32()), pa.array([pickle.dumps(result)], pa.binary())],
            names=["partition", "payload"],
        )

    rows = frame.mapInArrow(task, "partition int, payload binary").collect()
    parts = [pickle.loads(r["payload"]) for r in sorted(rows, key=lambda r: r["partition"])]
    if not parts:  # a DataFrame of no partitions
        return fn(iter(()))
    out = parts[0]
    for part in parts[1:]:
        out = merge(out, part)
    return out
