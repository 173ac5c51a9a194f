"""The fitted model: centres, training summary, ``transform``/``predict``.

How it is saved and loaded, in this project's format or in Spark's, is
:mod:`kmeans_spark.model_io`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
from pyspark.ml import Model
from pyspark.ml.linalg import Vector
from pyspark.ml.util import MLReadable, MLWritable
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.functions import arrow_udf

from kmeans_spark.dataset import column, features_column
from kmeans_spark.errors import KMeansInputError
from kmeans_spark.kernels.distance import nearest_centers, normalize_rows
from kmeans_spark.model_io import KMeansModelReader, KMeansModelWriter, from_spark
from kmeans_spark.params import KMeansParams
from kmeans_spark.scoring import Scorer, assign_batch
from kmeans_spark.summary import KMeansSummary

if TYPE_CHECKING:
    from pyspark.ml.clustering import KMeansModel as SparkKMeansModel


class KMeansModel(Model, KMeansParams, MLWritable, MLReadable["KMeansModel"]):
    """A fitted k-means model; a ``pyspark.ml`` Transformer usable inside a ``Pipeline``.

    Parameters
    ----------
    centers : ndarray of shape (k, n_features), optional
    summary : KMeansSummary, optional
        The training summary (a fit gives one; :meth:`fromSpark` does not).
    uid : str, optional
        The estimator's uid, which a fitted model keeps (as Spark's models do).
    """

    def __init__(
        self,
        centers: np.ndarray | None = None,
        summary: KMeansSummary | None = None,
        *,
        uid: str | None = None,
    ) -> None:
        super().__init__()
        if uid is not None:
            self._resetUid(uid)
        self._centers = (
            np.empty((0, 0)) if centers is None else np.asarray(centers, dtype=np.float64)
        )
        self._summary = summary

    @classmethod
    def fromSpark(cls, model: SparkKMeansModel) -> KMeansModel:
        """This model of a fitted ``pyspark.ml.clustering.KMeansModel``: same uid, centres and
        params, no summary (as a loaded Spark model has none). To read one Spark saved, use
        :meth:`load`, which knows both formats."""
        return from_spark(cls, model)

    # -- Spark's KMeansModel API ---------------------------------------------------------

    def clusterCenters(self) -> list[np.ndarray]:
        """The centres, as Spark returns them: a list of 1-D float64 arrays."""
        return [row.copy() for row in self._centers]

    @property
    def numFeatures(self) -> int:
        """Number of features, i.e. length of the vectors this model transforms."""
        return int(self._centers.shape[1])

    @property
    def hasSummary(self) -> bool:
        """Whether a training summary exists. Unlike Spark's, a loaded model keeps the one
        it was saved with (without its ``predictions``)."""
        return self._summary is not None

    @property
    def summary(self) -> KMeansSummary:
        """The training summary; raises when there is none (:attr:`hasSummary`)."""
        if self._summary is None:
            raise RuntimeError(
                "No training summary available for this KMeansModel: summaries exist for "
                "fitted models and for models saved by kmeans-spark"
            )
        return self._summary

    def setFeaturesCol(self, value: str) -> KMeansModel:
        return self._set(featuresCol=value)

    def setPredictionCol(self, value: str) -> KMeansModel:
        return self._set(predictionCol=value)

    def setDistanceCol(self, value: str) -> KMeansModel:
        return self._set(distanceCol=value)

    def setInputCols(self, value: list[str]) -> KMeansModel:
        return self._set(inputCols=value)

    def predict(self, value: Vector | np.ndarray | list[float]) -> int:
        """The cluster index of one point."""
        x = np.asarray(
            value.toArray() if isinstance(value, Vector) else value, dtype=np.float64
        ).reshape(1, -1)
        if x.shape[1] != self.numFeatures:
            raise KMeansInputError(
                f"point has {x.shape[1]} features, but the model has {self.numFeatures}; "
                "pass a point with the model's dimension."
            )
        if self._spherical():
            x, _ = normalize_rows(x)
        scorer = Scorer.of(self._centers, self._spherical())
        labels, _ = nearest_centers(x - scorer.origin, scorer.centers)
        return int(labels[0])

    # -- transform -----------------------------------------------------------------------

    def _spherical(self) -> bool:
        return self.getDistanceMeasure() == "cosine"

    def _transform(self, dataset: DataFrame) -> DataFrame:
        taken = [
            c for c in (self.getPredictionCol(), self.getDistanceCol()) if c in dataset.columns
        ]
        if taken:
            raise KMeansInputError(
                f"column {taken[0]!r} already exists in the input; set predictionCol / "
                "distanceCol to a new name."
            )
        scorer = Scorer.of(self._centers, self._spherical())
        feats = features_column(dataset, self.getFeaturesCol(), self.getInputCols())

        @arrow_udf("prediction int, distance double")  # type: ignore[call-overload]
        def assign(column: pa.Array) -> pa.Array:
            return assign_batch(column, scorer)

        tmp = "__kmeans_assign"
        out = dataset.withColumn(tmp, assign(feats))
        cols = [column(c) for c in dataset.columns]
        cols.append(F.col(f"{tmp}.prediction").alias(self.getPredictionCol()))
        distance_col = self.getDistanceCol()
        if distance_col:
            cols.append(F.col(f"{tmp}.distance").alias(distance_col))
        return out.select(*cols)

    # -- persistence (see kmeans_spark.model_io) ------------------------------------------

    def write(self) -> KMeansModelWriter:
        """A writer of this model: this project's format by default, Spark's with
        ``.format("spark")`` (which Spark's own ``KMeansModel.load`` reads)."""
        return KMeansModelWriter(self)

    @classmethod
    def read(cls) -> KMeansModelReader:
        """A reader of both formats: this project's and Spark's."""
        return KMeansModelReader(cls)
