"""How a :class:`~kmeans_spark.KMeansModel` is saved and loaded: in this project's format or
in Spark's, so models move both ways between this package and ``pyspark.ml`` (or a Scala job).

Both formats are Spark ML's layout: ``metadata/`` (one line of JSON: class, uid,
sparkVersion, paramMap, defaultParamMap) and ``data/`` (Parquet, one row per centre,
``clusterIdx int``, ``clusterCenter``), written through Spark so any Hadoop file system works.
They differ where Spark's reader insists:

* metadata ``class``: ``kmeans_spark.model.KMeansModel`` in ours (``"kmeans-spark"``, the
  default), ``org.apache.spark.ml.clustering.KMeansModel`` in Spark's (``"spark"``);
* ``paramMap``/``defaultParamMap``: every param in ours; Spark's params only in Spark's (its
  JVM reader fails on any other), with ours and the summary kept under ``"kmeansSpark"``,
  a key Spark's reader ignores, so an exported model loads back here unchanged;
* ``clusterCenter``: ``array<double>`` in ours, a ``VectorUDT`` vector in Spark's.

Why not always Spark's: a ``Pipeline`` reloads each stage by its metadata class, so a model
saved under Spark's class would come back as Spark's ``KMeansModel`` (another implementation,
without ``inputCols`` or ``distanceCol``). Export is a choice: ``write().format("spark")``,
Spark's own idiom (its ``KMeansModel.write()`` takes ``format("pmml")``).

:meth:`KMeansModelReader.load` reads both, so ``KMeansModel.load`` (and the job's
``--model``/``--init-model``) take models saved by Spark too; anything else at the path is
refused with a message naming it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
from pyspark.errors import AnalysisException
from pyspark.ml.linalg import DenseVector, Vector, VectorUDT
from pyspark.ml.param import Param
from pyspark.ml.util import DefaultParamsWriter, GeneralMLWriter, MLReader
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import ArrayType, DoubleType, IntegerType, StructField, StructType

from kmeans_spark.errors import KMeansInputError
from kmeans_spark.session import is_connect
from kmeans_spark.summary import KMeansSummary

if TYPE_CHECKING:
    from pyspark.ml.clustering import KMeansModel as SparkKMeansModel

    from kmeans_spark.model import KMeansModel

#: This project's format (the default) and Spark's.
NATIVE = "kmeans-spark"
SPARK = "spark"
FORMATS = (NATIVE, SPARK)

#: The metadata class of a model saved by Spark's KMeans (Python, Scala or Java).
SPARK_CLASS = "org.apache.spark.ml.clustering.KMeansModel"
#: Where Spark's format keeps what only this project reads (ignored by Spark's reader).
OURS_KEY = "kmeansSpark"


class KMeansModelWriter(GeneralMLWriter):
    """Saves a model in this project's format, or with ``format("spark")`` in Spark's.

    Spark's format keeps the centres, the uid and Spark's params for Spark's reader, and the
    rest (``inputCols``, ``distanceCol``, ``dtype``, ..., the summary) for ours, so a model
    exported and loaded back here is the same model. A Spark job reads its features from
    ``featuresCol``: a model fitted with ``inputCols`` needs them assembled into that vector
    column (``VectorAssembler``) before Spark scores with it.
    """

    def __init__(self, instance: KMeansModel) -> None:
        super().__init__()
        self.instance = instance
        self.source = NATIVE
        self._mode = "error"  # of the DataFrame writes; see save()

    def format(self, source: str) -> KMeansModelWriter:
        """``"kmeans-spark"`` (default) or ``"spark"`` (read by ``pyspark.ml.clustering.
        KMeansModel.load`` and by Scala/Java ``KMeansModel.load``)."""
        if source not in FORMATS:
            raise KMeansInputError(
                f"format={source!r} is not supported; use one of {', '.join(FORMATS)}."
            )
        self.source = source
        return self

    def overwrite(self) -> KMeansModelWriter:
        """Replace what is at the path (as Spark's writer: a typed ``self`` for chaining)."""
        super().overwrite()
        return self

    def save(self, path: str) -> None:
        """Save to ``path``. With :meth:`overwrite`, a classic session removes the path
        first (Spark's ``FileSystemOverwrite`` on the JVM); a Spark Connect client has no
        JVM to ask, so there ``metadata/`` and ``data/`` are written in overwrite mode and
        anything else at the path stays."""
        self._mode = "error"
        if self.shouldOverwrite and is_connect(self.sparkSession):
            self._mode = "overwrite"
            self.saveImpl(path)
            return
        super().save(path)

    def saveImpl(self, path: str) -> None:
        model = self.instance
        spark, mode = self.sparkSession, self._mode
        ours: dict[str, Any] = {"numFeatures": model.numFeatures}
        if model._summary is not None:
            ours["summary"] = model._summary.to_dict()
        if self.source == NATIVE:
            _save_metadata(model, path, spark, mode, extra=ours)
            _centers_frame(spark, model._centers, vectors=False).write.mode(mode).parquet(
                f"{path}/data"
            )
            return
        spark_names = spark_param_names()
        spark_set, ours["paramMap"] = _split(model._paramMap, spark_names)
        spark_defaults, ours["defaultParamMap"] = _split(model._defaultParamMap, spark_names)
        _save_metadata(
            model,
            path,
            spark,
            mode,
            extra={"class": SPARK_CLASS, "defaultParamMap": spark_defaults, OURS_KEY: ours},
            param_map=spark_set,
        )
        _centers_frame(spark, model._centers, vectors=True).write.mode(mode).parquet(f"{path}/data")


class KMeansModelReader(MLReader["KMeansModel"]):
    """Loads a model saved in either format (see the module's docstring)."""

    def __init__(self, cls: type[KMeansModel]) -> None:
        super().__init__()
        self.cls = cls

    def load(self, path: str) -> KMeansModel:
        spark = self.sparkSession
        metadata = _read_metadata(path, spark)
        kind = metadata["class"]
        if kind == SPARK_CLASS:
            ours = metadata.get(OURS_KEY) or {}
        elif kind.startswith("kmeans_spark.") and kind.endswith(".KMeansModel"):
            ours = metadata
        else:
            raise KMeansInputError(
                f"{path} holds a {kind}, not a k-means model; pass the directory of a model "
                f"saved by kmeans-spark or by Spark's KMeans ({SPARK_CLASS})."
            )
        centers = _read_centers(path, spark, int(ours.get("numFeatures", 0)))
        summary = KMeansSummary.from_dict(ours["summary"]) if "summary" in ours else None
        model = self.cls(centers, summary, uid=metadata["uid"])
        _set_params(model, metadata)
        if ours is not metadata:
            _set_params(model, ours)
        return model


def from_spark(cls: type[KMeansModel], model: SparkKMeansModel) -> KMeansModel:
    """``cls`` holding the centres, uid and params of Spark's fitted ``model``."""
    from pyspark.ml.clustering import KMeansModel as SparkKMeansModel

    if not isinstance(model, SparkKMeansModel):
        raise TypeError(
            f"fromSpark takes a pyspark.ml.clustering.KMeansModel, not a "
            f"{type(model).__module__}.{type(model).__name__}"
        )
    ours = cls(np.array(model.clusterCenters(), dtype=np.float64), uid=model.uid)
    for param in model.params:
        if not ours.hasParam(param.name):
            continue  # a param of a newer Spark: it cannot change how ours scores
        if model.isSet(param):
            ours._set(**{param.name: model.getOrDefault(param)})
        elif model.hasDefault(param):
            ours._setDefault(**{param.name: model.getOrDefault(param)})
    return ours


def spark_param_names() -> frozenset[str]:
    """The params of the running Spark's ``KMeansModel``: all its JVM reader accepts."""
    from pyspark.ml.clustering import KMeansModel as SparkKMeansModel

    return frozenset(
        name for name in dir(SparkKMeansModel) if isinstance(getattr(SparkKMeansModel, name), Param)
    )


def _split(
    values: dict[Param[Any], Any], spark_names: frozenset[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Param values as JSON maps: (Spark's, ours). Spark's JVM cannot decode a null, and an
    explicit None means what unset does (seed: 0, weightCol: unweighted), so it is left out."""
    spark = {p.name: v for p, v in values.items() if p.name in spark_names and v is not None}
    ours = {p.name: v for p, v in values.items() if p.name not in spark_names}
    return spark, ours


def _set_params(model: KMeansModel, section: dict[str, Any]) -> None:
    """Set the params of a metadata section that this model knows (a newer writer's others
    are skipped). ``_set`` lets an explicit None through, as it was saved."""
    for name, value in (section.get("paramMap") or {}).items():
        if model.hasParam(name):
            model._set(**{name: value})
    for name, value in (section.get("defaultParamMap") or {}).items():
        if model.hasParam(name):
            model._setDefault(**{name: value})


def _save_metadata(
    model: KMeansModel,
    path: str,
    spark: SparkSession,
    mode: str,
    *,
    extra: dict[str, Any],
    param_map: dict[str, Any] | None = None,
) -> None:
    """``DefaultParamsWriter.saveMetadata`` (the same one line of JSON in ``metadata/``),
    written in ``mode``: "overwrite" replaces it where the path could not be removed first
    (Spark Connect)."""
    text = DefaultParamsWriter._get_metadata_to_save(model, spark, extra, param_map)
    frame = spark.createDataFrame([(text,)], schema=["value"]).coalesce(1)
    frame.write.mode(mode).text(f"{path}/metadata")


def _centers_frame(spark: SparkSession, centers: np.ndarray, *, vectors: bool) -> DataFrame:
    """The ``data/`` of a model, one row per centre, in one Parquet file."""
    center_type = VectorUDT() if vectors else ArrayType(DoubleType(), containsNull=False)
    schema = StructType(
        [
            StructField("clusterIdx", IntegerType(), nullable=False),
            StructField("clusterCenter", center_type, nullable=True),
        ]
    )
    rows = [
        (i, DenseVector(c) if vectors else [float(v) for v in c]) for i, c in enumerate(centers)
    ]
    return spark.createDataFrame(rows, schema).coalesce(1)


def _read_metadata(path: str, spark: SparkSession) -> dict[str, Any]:
    try:
        row = spark.read.text(f"{path}/metadata").first()
    except AnalysisException as exc:
        if exc.getCondition() != "PATH_NOT_FOUND":
            raise
        raise KMeansInputError(
            f"no model at {path}: {path}/metadata does not exist; pass the directory a model "
            "was saved to (it holds metadata/ and data/)."
        ) from None
    try:
        metadata = json.loads(row[0]) if row is not None else None
    except ValueError:
        metadata = None
    if not isinstance(metadata, dict) or not {"class", "uid"} <= metadata.keys():
        raise KMeansInputError(
            f"{path}/metadata is not the metadata of a saved model (one line of JSON with its "
            "class and uid); pass the directory a model was saved to."
        )
    return metadata


def _read_centers(path: str, spark: SparkSession, num_features: int) -> np.ndarray:
    """The centres in ``clusterIdx`` order; a vector (Spark's) or an array (ours) per row."""
    try:
        rows = spark.read.parquet(f"{path}/data").orderBy("clusterIdx").collect()
    except AnalysisException as exc:
        if exc.getCondition() != "PATH_NOT_FOUND":
            raise
        raise KMeansInputError(
            f"the model at {path} has metadata but no data/ (its centres); it was not saved "
            "completely: save it again."
        ) from None
    centers = [
        r.clusterCenter.toArray() if isinstance(r.clusterCenter, Vector) else r.clusterCenter
        for r in rows
    ]
    if not centers:
        return np.empty((0, num_features))
    return np.array(centers, dtype=np.float64)
