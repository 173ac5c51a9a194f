"""Clustering metrics of one or more centre sets, in two passes over resident blocks.

:func:`compute_metrics` works over the :class:`~kmeans_spark.handle.Blocks` interface only,
so it runs on Spark's resident blocks and on :class:`~kmeans_spark.localblocks.LocalBlocks`
alike. All centre sets (a k sweep's runs) share the same two passes:

1. every row's nearest centre in every set (one GEMM per tile against the stacked
   centres), per-cluster moments (count, weight, mean, second moment), and a seeded
   weighted sample of rows with their labels;
2. with the means known: each row's distance to its cluster's mean (Davies-Bouldin) and
   its Spark silhouette from the distances to every mean.

The driver then computes SSE, Calinski-Harabasz, Davies-Bouldin and Spark's silhouette
from the merged aggregates, and scikit-learn's Euclidean silhouette on the sample. The
math is in :mod:`kmeans_spark.kernels.scores`.

Sparse (CSR) blocks run the CSR twins of both passes (:mod:`kmeans_spark.kernels.sparse`),
picked per block: per-cluster sums stay sparse, the means are dense ``k x d`` (what the
fit's centres already need, see :func:`kmeans_spark.blocks.check_centers_memory`), the
second moments come from squared row norms, and the sample stays CSR. A task's memory is
its block's non-zeros plus ``k x d``, never ``n x d``; the metrics equal those of the
same rows stored dense, up to rounding.

For a cosine (spherical) fit the blocks hold unit rows, and every metric is computed on
them: Spark's cosine silhouette (exactly ``ClusteringEvaluator(distanceMeasure="cosine")``),
Calinski-Harabasz, Davies-Bouldin and the sample silhouette Euclidean on the unit rows
(scikit-learn's scores of the L2-normalised data), and ``sse`` the fit's own cost
``sum w (1 - cos(x, c))``. With a scaled fit (the batch job's ``--scale``) the metrics are
those of the scaled rows, the space the clustering lives in.
"""

from __future__ import annotations

import functools
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kmeans_spark.handle import BlockHandle, Blocks, carry_state
from kmeans_spark.kernels import scores
from kmeans_spark.kernels import sparse as csr
from kmeans_spark.kernels.distance import normalize_rows
from kmeans_spark.kernels.init import sampling_keys
from kmeans_spark.kernels.scores import (
    AssignmentPass,
    ClusterSpread,
    SeparationSums,
    StackedCenters,
    as_moments,
    calinski_harabasz,
    davies_bouldin,
    silhouette_samples,
    spark_silhouette,
)

#: The metrics' second pass holds two ``k x d`` sets per centre set (the centres and their
#: clusters' means, each shipped and tiled as a pass's centres are): what the fit's memory
#: check (:func:`kmeans_spark.blocks.check_centers_memory`) counts a centre set as.
CENTER_SETS = 2
#: Rows of the sample scikit-learn's silhouette is computed on, by default.
DEFAULT_SAMPLE_SIZE = 10_000
#: Salt of the sample's per-block random streams (the load's seeding sample has its own).
_SAMPLE_SALT = 0x5C0E


@dataclass
class ClusteringMetrics:
    """The metrics of one centre set. ``to_dict`` gives the scalars and lists (for JSON);
    the sample arrays are for plots (a scatter of the sample, a silhouette plot).

    Scores that are undefined (fewer than two non-empty clusters, or no more rows than
    clusters, where scikit-learn raises and Spark fails) are NaN (``None`` in ``to_dict``).
    """

    k: int
    distance_measure: str  # "squaredEuclidean" or "cosine"
    rows: int
    weight: float  # total weight (rows when unweighted)
    sse: float  # sum w |x - c|^2 to the nearest centre; cosine: sum w (1 - cos)
    sse_per_cluster: list[float]
    #: the weighted mean (unsquared) distance of a cluster's rows to its mean
    mean_distance_per_cluster: list[float]
    cluster_sizes: list[int]  # rows nearest to each centre
    cluster_weights: list[float]
    calinski_harabasz: float  # scikit-learn's, weights as repetitions
    davies_bouldin: float  # scikit-learn's, weights as repetitions
    silhouette: float  # Spark's ClusteringEvaluator (distance_measure), exact
    silhouette_sample: float  # scikit-learn's silhouette_score (Euclidean) on the sample
    sample_size: int
    #: (m, d) as the blocks hold them, uncentred: an ndarray, or a scipy.sparse CSR array
    #: when the fit has sparse (CSR) blocks (a dense sample of 2**18 features would not fit)
    sample_rows: Any = field(repr=False)
    sample_labels: np.ndarray = field(repr=False)  # (m,)
    sample_silhouette: np.ndarray = field(repr=False)  # (m,) scikit-learn's per row

    def to_dict(self) -> dict[str, Any]:
        """The metrics without the sample arrays; NaN becomes ``None`` (valid JSON)."""

        def plain(v: Any) -> Any:
            if isinstance(v, float) and not math.isfinite(v):
                return None
            if isinstance(v, list):
                return [plain(e) for e in v]
            return v

        skip = {"sample_rows", "sample_labels", "sample_silhouette"}
        return {
            name: plain(getattr(self, name))
            for name in self.__dataclass_fields__
            if name not in skip
        }


def compute_metrics(
    blocks: Blocks,
    centers_list: Sequence[np.ndarray],
    *,
    spherical: bool,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    seed: int = 0,
) -> list[ClusteringMetrics]:
    """The metrics of each centre set on the blocks, in two passes for all of them.

    Parameters
    ----------
    blocks : Blocks
        The fit's resident blocks (unit rows for a cosine fit).
    centers_list : sequence of ndarray of shape (k_r, d)
        One centre set per run, in original coordinates (the model's ``clusterCenters``);
        rows are labelled by their nearest centre of each set.
    spherical : bool
        A cosine fit: centres are normalised, and metrics are as the module says.
    sample_size : int
        Rows of the seeded sample for scikit-learn's silhouette (weighted, without
        replacement; the whole data when it has no more rows); 0 skips it.
    seed : int
        The sample's seed: the same seed and partitioning give the same sample.

    Returns
    -------
    list of ClusteringMetrics, one per centre set, in order.
    """
    handles = [h for h in blocks.handles if h.rows > 0]
    if not handles:
        raise ValueError("the blocks hold no rows; metrics need at least one.")
    dim = handles[0].dim
    if not centers_list:
        raise ValueError("centers_list is empty; pass at least one (k, d) array of centres.")
    sets = []
    for r, c in enumerate(centers_list):
        c = np.asarray(c, dtype=np.float64)
        if c.ndim != 2 or c.shape[0] < 1 or c.shape[1] != dim:
            raise ValueError(
                f"centers_list[{r}] has shape {c.shape}, but must be (k, {dim}) with k >= 1 "
                f"(the blocks have {dim} features)."
            )
        if not np.isfinite(c).all():
            raise ValueError(f"centers_list[{r}] has NaN or infinite values.")
        sets.append(normalize_rows(c)[0] if spherical else c)
    if sample_size != 0 and sample_size < 2:
        raise ValueError(
            f"sample_size={sample_size} should be 0 (no sample) or >= 2 "
            "(a silhouette needs two rows)."
        )
    stacked = StackedCenters.of(sets)

    # each block's labels wait in a file beside it for pass 2 (which assigns again if absent)
    labels_state = f"metrics-{uuid.uuid4().hex[:12]}"
    with blocks.share((stacked.centers, stacked.layout)) as shared:
        step = functools.partial(
            _assignment, shared=shared, sample_size=sample_size, seed=seed, state=labels_state
        )
        first = blocks.run(step, AssignmentPass.merge)
    moments_list = [as_moments(m) for m in first.moments]  # all-CSR fits: sparse until here
    spreads = [ClusterSpread.of(m) for m in moments_list]
    packed = (
        stacked.centers,
        stacked.layout,
        np.concatenate([s.means for s in spreads]),
        np.concatenate([s.variances for s in spreads]),
        np.concatenate([s.weights for s in spreads]),
    )
    with blocks.share(packed) as shared:
        step2 = functools.partial(_separation, shared=shared, state=labels_state)
        second = blocks.run(step2, _merge_separation)

    sample = first.sample.in_data_order()
    per_row = silhouette_samples(sample.rows, list(sample.labels)) if sample_size else []
    scale = 0.5 if spherical else 1.0  # unit rows: |x - c|^2 = 2 (1 - cos)
    out = []
    for r, (moments, sums) in enumerate(zip(moments_list, second, strict=True)):
        sse = moments.sse_about(sets[r]) * scale
        values = per_row[r] if per_row else np.empty(0)
        out.append(
            ClusteringMetrics(
                k=int(sets[r].shape[0]),
                distance_measure="cosine" if spherical else "squaredEuclidean",
                rows=int(moments.counts.sum()),
                weight=float(moments.weights.sum()),
                sse=float(sse.sum()),
                sse_per_cluster=[float(v) for v in sse],
                mean_distance_per_cluster=[
                    float(d / w) if w > 0 else float("nan")
                    for d, w in zip(sums.intra_distance, moments.weights, strict=True)
                ],
                cluster_sizes=[int(v) for v in moments.counts],
                cluster_weights=[float(v) for v in moments.weights],
                calinski_harabasz=calinski_harabasz(moments),
                davies_bouldin=davies_bouldin(moments, sums.intra_distance),
                silhouette=spark_silhouette(moments, sums),
                silhouette_sample=float(values.mean()) if values.size else float("nan"),
                sample_size=int(values.size),
                sample_rows=sample.rows,
                sample_labels=sample.labels[r] if values.size else np.empty(0, np.int64),
                sample_silhouette=values,
            )
        )
    return out


def _assignment(
    h: BlockHandle,
    x: np.ndarray,
    w: np.ndarray | None,
    *,
    shared: Any,
    sample_size: int,
    seed: int,
    state: str,
) -> AssignmentPass:
    centers, layout = shared.value
    keys = np.empty(0)
    if sample_size:
        rng = np.random.default_rng([seed, _SAMPLE_SALT, h.partition])
        keys = sampling_keys(np.ones(x.shape[0]) if w is None else np.asarray(w), rng)

    kernels: Any = csr if h.sparse else scores  # the CSR twin for a CSR block

    def assign(_: np.ndarray | None) -> tuple[AssignmentPass, np.ndarray]:
        result: tuple[AssignmentPass, np.ndarray] = kernels.assignment_block(
            x,
            w,
            StackedCenters(centers, layout),
            origin=h.origin_array,
            sample_keys=keys,
            sample_size=sample_size,
            partition=h.partition,
        )
        return result

    return carry_state(h, None, state, assign)


def _separation(
    h: BlockHandle, x: np.ndarray, w: np.ndarray | None, *, shared: Any, state: str
) -> list[SeparationSums]:
    centers, layout, means, variances, weights = shared.value
    stacked = StackedCenters(centers, layout)
    spreads = [
        ClusterSpread(means[stacked.run(r)], variances[stacked.run(r)], weights[stacked.run(r)])
        for r in range(stacked.runs)
    ]

    kernels: Any = csr if h.sparse else scores  # the CSR twin for a CSR block

    def separate(labels: np.ndarray | None) -> tuple[list[SeparationSums], None]:
        if labels is not None and labels.shape != (stacked.runs, x.shape[0]):
            labels = None
        sums: list[SeparationSums] = kernels.separation_block(
            x, w, stacked, spreads, origin=h.origin_array, labels=labels
        )
        return sums, None

    return carry_state(h, state, None, separate)


def _merge_separation(a: list[SeparationSums], b: list[SeparationSums]) -> list[SeparationSums]:
    return [p.merge(q) for p, q in zip(a, b, strict=True)]
