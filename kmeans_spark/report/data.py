"""What a report is made of: plain values the job (or a user) fills in, no Spark.

Every field but the title may be missing: a single fit has one row and no choice, a sweep
may skip the silhouette, a report without a sample has no cluster plots.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kmeans_spark.errors import KMeansInputError
from kmeans_spark.selection import KChoice


@dataclass(frozen=True)
class KRow:
    """One fit of a sweep (or the single fit of a run): its k, scores, iterations, sizes."""

    k: int
    #: ``sum w |x - c|^2``; for a cosine fit its cost ``sum w (1 - cos(x, c))``.
    sse: float
    calinski_harabasz: float | None = None
    davies_bouldin: float | None = None
    #: Spark's silhouette (from cluster aggregates, on all rows) of ``distance_measure``.
    silhouette: float | None = None
    #: scikit-learn's Euclidean silhouette on a sample of the rows (unit rows for cosine).
    silhouette_sample: float | None = None
    iterations: int | None = None
    #: Rows per cluster, in cluster order (length k).
    cluster_sizes: Sequence[int] | None = None
    #: The fit's ``distanceMeasure`` (``"squaredEuclidean"`` or ``"cosine"``, as
    #: :attr:`kmeans_spark.metrics.ClusteringMetrics.distance_measure`): what the SSE and
    #: the silhouettes are of, so the plots and tables can say so. ``None``: not known
    #: (the labels then name no measure rather than guess one).
    distance_measure: str | None = None

    @classmethod
    def of_metrics(cls, k: int, sse: float, iterations: int | None, metrics: Any) -> KRow:
        """The row of a fit from its :class:`~kmeans_spark.metrics.ClusteringMetrics`
        (``None``: the SSE and iterations alone), its distance measure included."""
        if metrics is None:
            return cls(k=k, sse=sse, iterations=iterations)
        return cls(
            k=k,
            sse=sse,
            calinski_harabasz=metrics.calinski_harabasz,
            davies_bouldin=metrics.davies_bouldin,
            silhouette=metrics.silhouette,
            silhouette_sample=metrics.silhouette_sample,
            iterations=iterations,
            cluster_sizes=metrics.cluster_sizes,
            distance_measure=metrics.distance_measure,
        )


#: How each distance measure's scores are labelled: the all-rows silhouette, the sample
#: silhouette, the SSE's axis. Spark's silhouette is of the fit's measure; scikit-learn's
#: sample silhouette is Euclidean, on the unit rows for a cosine fit (the space it clusters).
MEASURE_LABELS: dict[str | None, tuple[str, str, str]] = {
    "squaredEuclidean": (
        "squared Euclidean",
        "Euclidean",
        "SSE (sum of squared distances\nto the nearest centre)",
    ),
    "cosine": (
        "cosine",
        "Euclidean on unit rows",
        "cosine cost (sum of 1 - cos\nto the nearest centre)",
    ),
    None: ("Spark's", "Euclidean", "SSE (sum of squared distances\nto the nearest centre)"),
}


@dataclass(frozen=True)
class ReportData:
    """Everything :func:`kmeans_spark.report.write_report` draws and tabulates.

    The sample arrays describe one clustering, the one with ``len(centers)`` clusters (the
    chosen k of a sweep, or the run's k): ``sample_x`` of shape (m, d) in the units the
    plots should show (an ndarray, or a ``scipy.sparse`` CSR array: a sparse fit's
    sample), ``sample_labels`` of shape (m,) with values in ``[0, k)``,
    ``centers`` of shape (k, d) in the same units, ``silhouette_values`` of shape (m,) the
    per-row silhouette of the sample. ``total_rows`` is the number of rows the sample was
    drawn from (the plots say "sample of m of total_rows rows").
    """

    title: str
    #: Run facts shown at the top (input, rows, features, seconds, versions, ...), in order.
    facts: Mapping[str, str] = field(default_factory=dict)
    rows: Sequence[KRow] = ()
    choice: KChoice | None = None
    sample_x: Any = None  # ndarray or scipy.sparse CSR array of shape (m, d)
    sample_labels: np.ndarray | None = None
    centers: np.ndarray | None = None
    feature_names: Sequence[str] | None = None
    silhouette_values: np.ndarray | None = None
    total_rows: int | None = None
    #: Per-cluster SSE and mean (unsquared) distance to the centre, on all rows (length k).
    cluster_sse: Sequence[float] | None = None
    cluster_mean_distance: Sequence[float] | None = None
    #: The run's configuration, shown as JSON at the end (values must be JSON-serialisable).
    config: Mapping[str, object] | None = None

    @property
    def distance_measure(self) -> str | None:
        """The rows' distance measure (:attr:`KRow.distance_measure`; :meth:`validate`
        refuses rows of different ones), ``None`` when no row names one."""
        return distance_measure_of(self.rows)

    @property
    def k(self) -> int | None:
        """The number of clusters of the sample's clustering, if there is one."""
        return None if self.centers is None else int(np.shape(self.centers)[0])

    def cluster_sizes(self) -> tuple[list[int], bool] | None:
        """Rows per cluster of the sample's clustering and whether they count all rows.

        From the row of ``rows`` with that k when it has sizes (all rows), else counted on
        the sample (``False``).
        """
        k = self.k
        if k is None:
            return None
        for row in self.rows:
            if row.k == k and row.cluster_sizes is not None:
                return [int(n) for n in row.cluster_sizes], True
        if self.sample_labels is None:
            return None
        return np.bincount(np.asarray(self.sample_labels), minlength=k).tolist(), False

    def validate(self) -> None:
        """Check that the arrays fit together; raise :class:`KMeansInputError` if not."""
        measures = sorted({row.distance_measure for row in self.rows if row.distance_measure})
        if len(measures) > 1:
            raise KMeansInputError(
                f"the rows have distance measures {measures}; a report compares the fits of "
                "one measure (their scores are not comparable across measures)."
            )
        for row in self.rows:
            if row.cluster_sizes is not None and len(row.cluster_sizes) != row.k:
                raise KMeansInputError(
                    f"KRow(k={row.k}) has {len(row.cluster_sizes)} cluster sizes; "
                    f"it should have one per cluster ({row.k})."
                )
        if self.choice is not None and self.rows:
            ks = {row.k for row in self.rows}
            choice = self.choice
            named = (choice.knee, choice.best_calinski_harabasz, choice.best_silhouette, choice.k)
            stray = sorted({k for k in named if k is not None} - ks)
            if stray:
                raise KMeansInputError(
                    f"the choice names k={stray}, which no row has (rows have k={sorted(ks)}); "
                    "give the choice made on these rows."
                )
        x, labels, centers = self.sample_x, self.sample_labels, self.centers
        if (x is None) != (labels is None):
            raise KMeansInputError("sample_x and sample_labels go together: give both or neither.")
        if centers is not None and np.ndim(centers) != 2:
            raise KMeansInputError(
                f"centers has shape {np.shape(centers)}; it should be (k, n_features)."
            )
        if x is not None and labels is not None:
            if np.ndim(x) != 2 or np.shape(labels) != (np.shape(x)[0],):
                raise KMeansInputError(
                    f"sample_x has shape {np.shape(x)} and sample_labels {np.shape(labels)}; "
                    "they should be (m, n_features) and (m,)."
                )
            if centers is None:
                raise KMeansInputError("sample_x needs the centers of its clustering.")
            if np.shape(centers)[1] != np.shape(x)[1]:
                raise KMeansInputError(
                    f"centers has {np.shape(centers)[1]} features and sample_x "
                    f"{np.shape(x)[1]}; they should be the same."
                )
            label_arr = np.asarray(labels)
            if label_arr.size and (
                not np.issubdtype(label_arr.dtype, np.integer)
                or label_arr.min() < 0
                or label_arr.max() >= len(centers)
            ):
                raise KMeansInputError(
                    f"sample_labels should be integers in [0, {len(centers)}) "
                    f"(one per centre), got {label_arr.dtype} in "
                    f"[{label_arr.min()}, {label_arr.max()}]."
                )
            if self.silhouette_values is not None and np.shape(self.silhouette_values) != (
                np.shape(x)[0],
            ):
                raise KMeansInputError(
                    f"silhouette_values has shape {np.shape(self.silhouette_values)}; "
                    f"it should have one value per sample row ({np.shape(x)[0]},)."
                )
        d = None if centers is None else np.shape(centers)[1]
        if self.feature_names is not None and d is not None and len(self.feature_names) != d:
            raise KMeansInputError(
                f"{len(self.feature_names)} feature_names for {d} features; "
                "give one name per feature."
            )
        k = self.k
        for name, values in (
            ("cluster_sse", self.cluster_sse),
            ("cluster_mean_distance", self.cluster_mean_distance),
        ):
            if values is not None and (k is None or len(values) != k):
                raise KMeansInputError(
                    f"{name} has {len(values)} values; it should have one per centre ({k})."
                )


def distance_measure_of(rows: Sequence[KRow]) -> str | None:
    """The one distance measure the rows name (the first, if they disagree: the report's
    :meth:`ReportData.validate` refuses that), or ``None``."""
    return next((row.distance_measure for row in rows if row.distance_measure), None)
