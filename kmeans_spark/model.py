"""The fitted model: centres, training summary, ``transform``/``predict``.

How it is saved and loaded, in this project's format or in Spark's, is
:mod:`kmeans_spark.model_io`.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from pyspark.ml import Model
from pyspark.ml.functions import array_to_vector
from pyspark.ml.linalg import Vector, VectorUDT
from pyspark.ml.util import MLReadable, MLWritable
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.functions import arrow_udf

from kmeans_spark.dataset import column, features_column
from kmeans_spark.errors import KMeansInputError
from kmeans_spark.kernels.distance import nearest_centers, normalize_rows
from kmeans_spark.model_io import KMeansModelReader, KMeansModelWriter, from_spark
from kmeans_spark.params import KMeansParams
from kmeans_spark.scoring import ARROW, JVM, Scorer, assign_batch, scoring_path
from kmeans_spark.session import is_connect
from kmeans_spark.summary import KMeansSummary
from kmeans_spark.tuning import DEFAULT_TUNING, Tuning

if TYPE_CHECKING:
    from pyspark.ml.clustering import KMeansModel as SparkKMeansModel

log = logging.getLogger(__name__)

#: Prefix of transform's temporary columns (none is left in its output).
_TMP = "__kmeans_"


class KMeansModel(Model, KMeansParams, MLWritable, MLReadable["KMeansModel"]):
    """A fitted k-means model; a ``pyspark.ml`` Transformer usable inside a ``Pipeline``.

    ``transform`` adds the nearest centre (``predictionCol``) and, with ``distanceCol``, the
    distance to it (Euclidean, or ``1 - cos``); a row it cannot place (null, another length,
    NaN or infinite values, a zero vector under cosine: an empty document) gets nulls. A
    ``SparseVector`` column is scored sparse (TF-IDF of 2^18 features is never densified):
    :mod:`kmeans_spark.scoring`.

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
        self._tuning = DEFAULT_TUNING
        #: Spark's own model of these centres, built on the first JVM-path transform:
        #: (SparkContext, distance measure, model).
        self._on_jvm: tuple[Any, str, Any] | None = None

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

    def setTuning(self, value: Tuning) -> KMeansModel:
        """Engine knobs (:class:`kmeans_spark.tuning.Tuning`) for tests and benchmarks, as
        :meth:`KMeans.setTuning`: not a Spark param, not saved. ``transform`` reads
        ``jvm_scoring_max_kd``."""
        self._tuning = value
        return self

    def getTuning(self) -> Tuning:
        return self._tuning

    def scoringPath(self) -> str:
        """How :meth:`transform` scores with this model: ``"jvm"`` (Spark's own
        ``KMeansModel`` of these centres, for a small k x features; not under Spark Connect)
        or ``"arrow"`` (Arrow batches, one GEMM or CSR product each, in Python). Same labels
        and distances either way; :mod:`kmeans_spark.scoring` has the rule and its
        measurements."""
        k, d = self._centers.shape
        return scoring_path(k, d, self._tuning.jvm_scoring_max_kd)

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
        feats = features_column(dataset, self.getFeaturesCol(), self.getInputCols())
        if not self.getInputCols():  # vector_to_array fails on a null vector: skip those rows
            feats = F.when(column(self.getFeaturesCol()).isNotNull(), feats)
        path = self.scoringPath()
        if is_connect(dataset.sparkSession):  # no JVM to reach
            path = ARROW
        log.info(
            "transform: k=%d x %d features scored on the %s path (jvm_scoring_max_kd=%d)",
            *self._centers.shape,
            path,
            self._tuning.jvm_scoring_max_kd,
        )
        distance_col = self.getDistanceCol()
        if path == JVM:
            out, prediction, distance = self._score_on_jvm(dataset, feats, bool(distance_col))
        else:  # a vector column goes as Spark's struct: vector_to_array would densify it
            vector = self._vector_column(dataset)
            scored = feats if vector is None else column(vector)
            out, prediction, distance = self._score_with_arrow(dataset, scored)
        cols = [column(c) for c in dataset.columns]
        cols.append(prediction.alias(self.getPredictionCol()))
        if distance_col:
            cols.append(distance.alias(distance_col))
        return out.select(*cols)

    def _vector_column(self, dataset: DataFrame) -> str | None:
        """The features column when it is a ``VectorUDT`` one (not ``inputCols``), else None."""
        source = None if self.getInputCols() else self.getFeaturesCol()
        if source is not None and isinstance(dataset.schema[source].dataType, VectorUDT):
            return source
        return None

    def _score_with_arrow(
        self, dataset: DataFrame, feats: Column
    ) -> tuple[DataFrame, Column, Column]:
        """Arrow batches of the features (an ``array<double>`` column, or a vector column as
        Spark's struct), one GEMM or one CSR product each (:func:`scoring.assign_batch`)."""
        scorer = Scorer.of(self._centers, self._spherical())

        @arrow_udf("prediction int, distance double")  # type: ignore[call-overload]
        def assign(column: pa.Array) -> pa.Array:
            return assign_batch(column, scorer)

        out = dataset.withColumn(_TMP + "assign", assign(feats))
        return out, F.col(_TMP + "assign.prediction"), F.col(_TMP + "assign.distance")

    def _score_on_jvm(
        self, dataset: DataFrame, feats: Column, with_distance: bool
    ) -> tuple[DataFrame, Column, Column]:
        """Spark's own ``KMeansModel`` of these centres labels the rows; Spark SQL checks
        them first and measures the distance to the chosen centre.

        Spark's model fails on a null, short or NaN row (and on a zero one for cosine), so
        every row it sees is usable: an unusable one (null, another length, a null, NaN or
        infinite value, a zero vector for cosine) is replaced by a stand-in, and its label
        dropped. The
        expressions are SQL text, few and long: as ``Column`` objects they would cost a py4j
        call per term, and every step and every expression costs the driver an analysis or a
        parse (a few ms each).
        """
        d = self.numFeatures
        spherical = self._spherical()
        x, ok, label, norm2 = _TMP + "x", _TMP + "ok", _TMP + "label", _TMP + "norm2"
        xs = [f"get({x}, {j})" for j in range(d)]
        out = dataset.select("*", feats.alias(x))
        # v - v is 0 for a finite v, NaN for NaN or infinity and null for null: one sum
        # checks every value (array_max and array_min would too, at twice the whole cost)
        usable = f"size({x}) = {d} AND {_sql_sum([f'({v} - {v})' for v in xs])} = 0.0D"
        if spherical:  # as assign_batch: a zero vector has no direction
            out = out.selectExpr("*", f"{_sql_sum([f'{v} * {v}' for v in xs])} AS {norm2}")
            usable += f" AND {norm2} > 0.0D"
        ok_expr = F.expr(f"coalesce({usable}, false)")
        # Spark's model reads the vector rather than its array copy; from an array, a vector:
        # Spark's model refuses arrays whose values may be null
        source = self._vector_column(dataset)
        vector = column(source) if source is not None else array_to_vector(F.col(x))
        stand_in = array_to_vector(F.expr(f"array_repeat(1.0D, {d})"))
        out = out.select(
            "*",
            ok_expr.alias(ok),
            F.when(ok_expr, vector).otherwise(stand_in).alias(_TMP + "in"),
        )
        out = DataFrame(self._spark_model(out.sparkSession).transform(out._jdf), out.sparkSession)
        prediction = F.expr(f"CASE WHEN {ok} THEN {label} END")
        if not with_distance:
            return out, prediction, F.lit(None)
        # the chosen centre from a constant written as JSON: Spark analyses the numbers of
        # SQL text at ~0.1 ms each, and folds from_json into one constant
        centers = normalize_rows(self._centers)[0] if spherical else self._centers
        matrix = json.dumps(centers.tolist())  # repr of a float reads back as the same double
        centre = _TMP + "c"
        out = out.selectExpr(
            "*", f"get(from_json('{matrix}', 'array<array<double>>'), {label}) AS {centre}"
        )
        cs = [f"get({centre}, {j})" for j in range(d)]
        if spherical:  # 1 - cos: the unit centre against the row over its length
            dot = _sql_sum([f"{v} * {w}" for v, w in zip(xs, cs, strict=True)])
            return out, prediction, F.expr(f"CASE WHEN {ok} THEN 1.0D - {dot} / sqrt({norm2}) END")
        # each difference a column of its own: squared inline, it would be computed twice
        # (and an array of them makes more code: see JVM_MAX_FEATURES)
        ts = [f"{_TMP}t{j}" for j in range(d)]
        out = out.selectExpr(
            "*", *[f"{v} - {w} AS {t}" for v, w, t in zip(xs, cs, ts, strict=True)]
        )
        distance = f"sqrt({_sql_sum([f'{t} * {t}' for t in ts])})"
        return out, prediction, F.expr(f"CASE WHEN {ok} THEN {distance} END")

    def _spark_model(self, spark: SparkSession) -> Any:
        """Spark's ``KMeansModel`` (the JVM object) of these centres and distance measure,
        reading ``__kmeans_in`` and writing ``__kmeans_label``: built once per SparkContext
        (~0.03 s) and kept. Called directly, not through ``pyspark.ml``'s wrapper, which
        would copy every param to the JVM at each transform."""
        from pyspark.mllib.linalg import DenseVector as OldDenseVector
        from pyspark.serializers import CPickleSerializer

        sc, measure = spark.sparkContext, self.getDistanceMeasure()
        if self._on_jvm is not None and self._on_jvm[0] is sc and self._on_jvm[1] == measure:
            return self._on_jvm[2]
        jvm: Any = sc._jvm
        old = jvm.org.apache.spark.mllib
        pickled = CPickleSerializer().dumps([OldDenseVector(c) for c in self._centers])
        centers = old.api.python.SerDe.loads(bytearray(pickled))  # a java.util.List
        # py4j cannot pass a list as the Vector[] the full constructor takes; the Iterable
        # constructor (Euclidean) makes that array
        as_array = old.clustering.KMeansModel(centers).clusterCenters()
        parent = old.clustering.KMeansModel(as_array, measure, 0.0, 0)
        model = jvm.org.apache.spark.ml.clustering.KMeansModel(self.uid, parent)
        model.setFeaturesCol(_TMP + "in").setPredictionCol(_TMP + "label")
        self._on_jvm = (sc, measure, model)
        return model

    # -- persistence (see kmeans_spark.model_io) ------------------------------------------

    def write(self) -> KMeansModelWriter:
        """A writer of this model: this project's format by default, Spark's with
        ``.format("spark")`` (which Spark's own ``KMeansModel.load`` reads)."""
        return KMeansModelWriter(self)

    @classmethod
    def read(cls) -> KMeansModelReader:
        """A reader of both formats: this project's and Spark's."""
        return KMeansModelReader(cls)


def _sql_sum(terms: list[str]) -> str:
    """The sum of SQL terms as a balanced tree (a chain of d additions nests d deep)."""
    while len(terms) > 1:
        pairs = [f"({terms[i]} + {terms[i + 1]})" for i in range(0, len(terms) - 1, 2)]
        terms = pairs + terms[len(terms) - len(terms) % 2 :]
    return terms[0]
