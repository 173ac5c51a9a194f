"""kmeans-spark: distributed k-means for Apache Spark.

``KMeans`` is a ``pyspark.ml`` Estimator with the parameter names and defaults of
``pyspark.ml.clustering.KMeans``; ``KMeansModel`` the fitted Transformer.

The names below are imported on first use, not with the package: Spark's Python daemon
imports :mod:`kmeans_spark.worker_daemon` before it forks workers, and must not load
numpy or pyspark.ml (threads started at import do not survive a fork).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kmeans_spark.errors import KMeansInputError
    from kmeans_spark.estimator import KMeans
    from kmeans_spark.evaluation import KMeansEvaluator
    from kmeans_spark.model import KMeansModel
    from kmeans_spark.summary import FitDiagnostics, KMeansSummary

__all__ = [
    "FitDiagnostics",
    "KMeans",
    "KMeansEvaluator",
    "KMeansInputError",
    "KMeansModel",
    "KMeansSummary",
]
__version__ = "0.1.0"

_HOMES = {
    "KMeans": "kmeans_spark.estimator",
    "KMeansEvaluator": "kmeans_spark.evaluation",
    "KMeansInputError": "kmeans_spark.errors",
    "KMeansModel": "kmeans_spark.model",
    "KMeansSummary": "kmeans_spark.summary",
    "FitDiagnostics": "kmeans_spark.summary",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'kmeans_spark' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
