"""kmeans-spark: distributed k-means for Apache Spark.

``KMeans`` is a ``pyspark.ml`` Estimator with the parameter names and defaults of
``pyspark.ml.clustering.KMeans``; ``KMeansModel`` the fitted Transformer.
"""

from __future__ import annotations

from kmeans_spark.errors import KMeansInputError
from kmeans_spark.estimator import KMeans
from kmeans_spark.model import KMeansModel, KMeansSummary

__all__ = ["KMeans", "KMeansInputError", "KMeansModel", "KMeansSummary"]
__version__ = "0.1.0"
