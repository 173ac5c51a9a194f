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
    sse: float
    calinski_harabasz: float | None = None
    davies_bouldin: float | None = None
    #: Spark's silhouette (squared Euclidean, from cluster aggregates, on all rows).
    silhouette: float | None = None
    #: scikit-learn's Euclidean silhouette on a sample of the rows.
    silhouette_sample: float | None = None
    iterations: int | None = None
    #: Rows per cluster, in cluster order (length k).
    cluster_sizes: Sequence[int] | None = None


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
