"""The fitted model: centres, training summary, ``transform``/``predict``, save and load.

Saved as Spark ML saves a Python-only model: ``metadata/`` (class, uid, params, and here the
training summary) written by :class:`~pyspark.ml.util.DefaultParamsWriter`, and ``data/``, a
Parquet file of the centres (float64, exact round trip), written through Spark so any
Hadoop file system works (HDFS, S3, local).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd
from pyspark.ml import Model
from pyspark.ml.linalg import Vector
from pyspark.ml.util import (
    DefaultParamsReader,
    DefaultParamsWriter,
    MLReadable,
    MLReader,
    MLWritable,
    MLWriter,
)
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.functions import pandas_udf

from kmeans_spark import kernels
from kmeans_spark.dataset import column, features_column
from kmeans_spark.errors import KMeansInputError
from kmeans_spark.params import KMeansParams


@dataclass
class KMeansSummary:
    """What the fit did, kept with the model (and saved with it).

    ``trainingCost`` is the k-means objective (sum of weighted squared distances, or of
    ``1 - cos`` for cosine) of the final assignment about the final centres.
    ``costHistory[i]`` is iteration ``i``'s cost about the centres it started from.
    """

    k: int
    trainingCost: float
    clusterSizes: list[int]
    clusterWeights: list[float]
    numIter: int
    converged: bool
    convergenceReason: str
    costHistory: list[float] = field(default_factory=list)
    shiftHistory: list[float] = field(default_factory=list)
    iterationSeconds: list[float] = field(default_factory=list)
    initMode: str = "k-means||"
    initCost: float | None = None
    initCandidates: int = 0
    numRows: int = 0
    numPartitions: int = 0
    numFeatures: int = 0
    reseededClusters: int = 0
    blockRebuilds: int = 0
    passTasks: int = 0  # tasks of each pass (blocks, or fewer when grouped)
    passThreads: int = 1  # threads a task of a pass uses at most (grouped blocks, idle cores)
    prunedFraction: list[float] = field(default_factory=list)  # rows pruned, per iteration
    phaseSeconds: dict[str, float] = field(default_factory=dict)
    _predictions: DataFrame | None = field(default=None, repr=False, compare=False)
    _make_predictions: Callable[[], DataFrame] | None = field(
        default=None, repr=False, compare=False
    )
    _predictionCol: str = field(default="prediction", repr=False, compare=False)
    _featuresCol: str = field(default="features", repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KMeansSummary:
        names = {f for f in cls.__dataclass_fields__ if not f.startswith("_")}
        return cls(**{k: v for k, v in data.items() if k in names})

    @property
    def predictions(self) -> DataFrame:
        """The training data with predictions (computed on demand, as Spark's summary)."""
        if self._predictions is None and self._make_predictions is not None:
            self._predictions = self._make_predictions()  # built on first use, not in fit
        if self._predictions is None:
            raise RuntimeError("predictions are only available on a freshly fitted model")
        return self._predictions

    @property
    def cluster(self) -> DataFrame:
        return self.predictions.select(self._predictionCol)

    @property
    def predictionCol(self) -> str:
        return self._predictionCol

    @property
    def featuresCol(self) -> str:
        return self._featuresCol


class KMeansModel(Model, KMeansParams, MLWritable, MLReadable["KMeansModel"]):
    """A fitted k-means model; a ``pyspark.ml`` Transformer usable inside a ``Pipeline``."""

    def __init__(
        self,
        centers: np.ndarray | None = None,
        summary: KMeansSummary | None = None,
    ) -> None:
        super().__init__()
        self._centers = (
            np.empty((0, 0)) if centers is None else np.asarray(centers, dtype=np.float64)
        )
        self._summary = summary

    # -- Spark's KMeansModel API ---------------------------------------------------------

    def clusterCenters(self) -> list[np.ndarray]:
        """The centres, as Spark returns them: a list of 1-D float64 arrays."""
        return [row.copy() for row in self._centers]

    @property
    def numFeatures(self) -> int:
        return int(self._centers.shape[1])

    @property
    def hasSummary(self) -> bool:
        return self._summary is not None

    @property
    def summary(self) -> KMeansSummary:
        if self._summary is None:
            raise RuntimeError(
                "no training summary for this model; summaries exist for fitted or loaded models"
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

    def _spherical(self) -> bool:
        return self.getDistanceMeasure() == "cosine"

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
            x, _ = kernels.normalize_rows(x)
        labels, _ = kernels.nearest_centers(x - self._origin, self._centers - self._origin)
        return int(labels[0])

    @property
    def _origin(self) -> np.ndarray:
        """Where distances are computed from: the mean of the centres, so the GEMM form
        keeps its precision for data far from zero (see :mod:`kmeans_spark.kernels`)."""
        return self._centers.mean(axis=0) if self._centers.size else np.zeros(0)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        taken = [
            c for c in (self.getPredictionCol(), self.getDistanceCol()) if c in dataset.columns
        ]
        if taken:
            raise KMeansInputError(
                f"column {taken[0]!r} already exists in the input; set predictionCol / "
                "distanceCol to a new name."
            )
        origin = self._origin
        centers = self._centers - origin
        spherical = self._spherical()
        dim = self.numFeatures
        feats = features_column(dataset, self.getFeaturesCol(), self.getInputCols())

        @pandas_udf("prediction int, distance double")  # type: ignore[call-overload]
        def assign(column: pd.Series) -> pd.DataFrame:
            n = len(column)
            values = column.to_numpy(dtype=object)
            usable = np.fromiter(
                (v is not None and len(v) == dim for v in values), dtype=bool, count=n
            )
            x = np.full((n, dim), np.nan)
            if usable.any():
                x[usable] = np.stack(values[usable]).astype(np.float64, copy=False)
            ok = np.isfinite(x).all(axis=1)
            if spherical:  # a zero vector has no direction: no cluster, as a NaN row
                ok &= np.einsum("ij,ij->i", np.nan_to_num(x), np.nan_to_num(x)) > 0
            xs = x[ok]
            if spherical:
                xs, _ = kernels.normalize_rows(xs)
            labels, d2 = kernels.nearest_centers(xs - origin, centers)
            dist = d2 / 2.0 if spherical else np.sqrt(d2)
            pred = pd.array([None] * n, dtype="Int32")
            pred[ok] = labels
            out_dist = np.full(n, np.nan)
            out_dist[ok] = dist
            return pd.DataFrame({"prediction": pred, "distance": out_dist})

        tmp = "__kmeans_assign"
        out = dataset.withColumn(tmp, assign(feats))
        cols = [column(c) for c in dataset.columns]
        cols.append(F.col(f"{tmp}.prediction").alias(self.getPredictionCol()))
        distance_col = self.getDistanceCol()
        if distance_col:
            cols.append(F.col(f"{tmp}.distance").alias(distance_col))
        return out.select(*cols)

    # -- persistence ---------------------------------------------------------------------

    def write(self) -> MLWriter:
        return _KMeansModelWriter(self)

    @classmethod
    def read(cls) -> MLReader[KMeansModel]:
        return _KMeansModelReader()


class _KMeansModelWriter(MLWriter):
    def __init__(self, instance: KMeansModel) -> None:
        super().__init__()
        self.instance = instance

    def saveImpl(self, path: str) -> None:
        model = self.instance
        extra: dict[str, Any] = {"numFeatures": model.numFeatures}
        if model._summary is not None:
            extra["summary"] = model._summary.to_dict()
        DefaultParamsWriter.saveMetadata(model, path, self.sparkSession, extraMetadata=extra)
        rows = [(i, [float(v) for v in c]) for i, c in enumerate(model._centers)]
        self.sparkSession.createDataFrame(
            rows, "clusterIdx int, clusterCenter array<double>"
        ).coalesce(1).write.parquet(f"{path}/data")


class _KMeansModelReader(MLReader[KMeansModel]):
    def load(self, path: str) -> KMeansModel:
        metadata = DefaultParamsReader.loadMetadata(path, self.sparkSession)
        rows = self.sparkSession.read.parquet(f"{path}/data").orderBy("clusterIdx").collect()
        centers = np.array([r.clusterCenter for r in rows], dtype=np.float64)
        if centers.size == 0:
            centers = np.empty((0, int(metadata.get("numFeatures", 0))))
        summary = (
            KMeansSummary.from_dict(json.loads(json.dumps(metadata["summary"])))
            if "summary" in metadata
            else None
        )
        model = KMeansModel(centers, summary)
        model._resetUid(metadata["uid"])
        DefaultParamsReader.getAndSetParams(model, metadata)
        return model
