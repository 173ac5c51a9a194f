"""The load of one partition: Arrow batches in, one validated block file and its handle out.

This is the body of the load job (:meth:`kmeans_spark.blocks.ResidentBlocks.load` runs it
in ``mapInArrow``; :class:`kmeans_spark.localblocks.LocalBlocks` runs it in-process). Plain
numpy and pyarrow, no Spark. One pass over the partition does everything the fit needs
before seeding:

* validation: rows of another length, null / NaN / infinite values (the first one kept for
  the message), bad weights, zero vectors for cosine;
* the block's mean (its origin: blocks are stored centred, see :mod:`kmeans_spark.kernels`);
* the partition's share of a weighted sample (the first k-means|| centre, or random init);
* the block file itself, streamed chunk by chunk from Arrow's buffers.
"""

from __future__ import annotations

import contextlib
import glob
import os
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from kmeans_spark import blockstore
from kmeans_spark.arrow import FeatureChunks, feature_chunks
from kmeans_spark.errors import KMeansInputError
from kmeans_spark.handle import BlockHandle
from kmeans_spark.kernels.distance import normalize_rows, squared_norms, top_indices
from kmeans_spark.kernels.init import sampling_keys

#: Column names of the load's input (set by :func:`kmeans_spark.dataset.prepare`).
FEATURES = "__kmeans_features"
WEIGHT = "__kmeans_weight"

#: Values of a bad row kept for the error message.
BAD_ROW_VALUES = 16


@dataclass(frozen=True)
class LoadSettings:
    """How a fit stores its blocks: ``dtype`` of the block files, unit rows for cosine
    (``spherical``), and how many rows each partition offers to the first seeding sample."""

    dtype: str = "float64"
    spherical: bool = False
    sample_size: int = 1
    seed: int = 0


def load_partition(
    batches: Iterable[pa.RecordBatch],
    *,
    partition: int,
    fit_id: str,
    generation: int,
    settings: LoadSettings,
) -> BlockHandle:
    """Validate one partition's rows and store them as a block; see the module docstring.

    A partition with bad rows, bad weights or rows of mixed length stores nothing: its
    handle carries what is wrong, for the driver's one-line error.
    """
    spherical = settings.spherical
    batch_list = list(batches)
    weighted = bool(batch_list) and WEIGHT in batch_list[0].schema.names
    # the partition stays Arrow; numpy views of its chunks stream into the block file
    fc = feature_chunks(
        pa.chunked_array([b.column(FEATURES) for b in batch_list])
        if batch_list
        else pa.array([], type=pa.list_(pa.float64()))
    )
    base = BlockHandle(
        partition=partition, generation=generation, dim=fc.dim, host=socket.gethostname()
    )
    if fc.mismatch or fc.rows == 0:
        total_rows = sum(b.num_rows for b in batch_list)
        return _with(base, rows=total_rows, dim_mismatch=fc.mismatch)
    w = (
        pa.chunked_array([b.column(WEIGHT) for b in batch_list]).to_numpy().astype(np.float64)
        if weighted
        else np.ones(fc.rows, dtype=np.float64)
    )
    found = _scan(fc, w, spherical)
    if found["bad_rows"] or found["bad_weights"]:
        return _with(base, rows=fc.rows, **{**found, "zero_rows": 0})
    total = found.pop("sum")
    origin = np.zeros(fc.dim) if spherical else total / fc.rows
    rng = np.random.default_rng([settings.seed, 0x5EED, partition])
    keys = sampling_keys(w, rng)
    take = top_indices(keys, settings.sample_size)  # O(n), unlike sorting every key
    take = take[np.isfinite(keys[take])]
    points = fc.take(take)
    if spherical:
        points = normalize_rows(points)[0]

    def stored(part: np.ndarray) -> np.ndarray:
        # cosine: unit vectors (nothing to gain from centring); else centred on the block's
        # mean, so GEMM-form distances keep their precision
        return normalize_rows(part)[0] if spherical else part - origin

    x_path = blockstore.block_path(fit_id, generation, partition, "x")
    blockstore.save_rows(
        x_path, (fc.rows, fc.dim), np.dtype(settings.dtype), (stored(p) for p in fc.parts)
    )
    w_path = ""
    if weighted:
        w_path = blockstore.block_path(fit_id, generation, partition, "w")
        blockstore.save_array(w_path, w)
    _remove_older_generations(fit_id, generation, partition)
    return _with(
        base,
        rows=fc.rows,
        x_path=x_path,
        w_path=w_path,
        weight_sum=float(w.sum()),
        sample_keys=tuple(float(v) for v in keys[take]),
        sample_points=tuple(float(v) for v in points.ravel()),
        origin=tuple(float(v) for v in origin),
        **found,
    )


def _scan(fc: FeatureChunks, w: np.ndarray, spherical: bool) -> dict[str, Any]:
    """Bad rows (the first one kept), bad weights, zero rows (cosine) and the sum of the
    rows (for the mean), in one pass over the chunks."""
    found: dict[str, Any] = {"bad_rows": 0, "zero_rows": 0}
    total = np.zeros(fc.dim)
    start = 0
    for part in fc.parts:
        rows = part.shape[0]
        bad = ~np.isfinite(part).all(axis=1) | ~fc.valid[start : start + rows]
        bad_here = int(bad.sum())
        if bad_here and not found["bad_rows"]:
            first = int(np.argmax(bad))
            found["bad_row_index"] = start + first
            found["bad_row"] = tuple(float(v) for v in part[first, :BAD_ROW_VALUES])
        found["bad_rows"] += bad_here
        if spherical:
            found["zero_rows"] += int(np.count_nonzero(squared_norms(part) == 0))
        elif not found["bad_rows"]:
            total += part.sum(axis=0)
        start += rows
    bad_w = ~np.isfinite(w) | (w < 0)
    found["bad_weights"] = int(bad_w.sum())
    if found["bad_weights"]:
        found["bad_weight"] = float(w[int(np.argmax(bad_w))])
    found["sum"] = total
    return found


def _with(base: BlockHandle, **values: Any) -> BlockHandle:
    values.pop("sum", None)  # the scan's working total, not a handle field
    return BlockHandle(**{**base.to_dict(), **values})


def _remove_older_generations(fit_id: str, generation: int, partition: int) -> None:
    for g in range(generation):
        pattern = blockstore.block_path(fit_id, g, partition, "*")
        for path in glob.glob(pattern):
            blockstore.forget(path)
            with contextlib.suppress(OSError):
                os.unlink(path)


def check_handles(
    handles: Sequence[BlockHandle],
    *,
    k: int,
    weight_col: str | None,
    feature_name: Callable[[int], str],
) -> tuple[int, int]:
    """Validate what the load found in every partition, as one-line errors naming the
    value, the rule and the fix; return (rows, dimension). ``feature_name(i)`` names
    feature ``i`` in messages (its column, or ``features[i]``)."""
    for h in handles:
        if h.dim_mismatch:
            raise KMeansInputError(
                f"{h.dim_mismatch} rows of partition {h.partition} have a different number "
                f"of features than its first row ({h.dim}); all feature vectors must have "
                "the same length."
            )
    bad = [h for h in handles if h.bad_rows]
    if bad:
        first = bad[0]
        shown = ", ".join(f"{feature_name(i)}={v!r}" for i, v in enumerate(first.bad_row))
        raise KMeansInputError(
            f"{sum(h.bad_rows for h in bad)} rows have null, NaN or infinite features "
            f"(first: partition {first.partition}, row {first.bad_row_index}: {shown}); "
            "features must be finite numbers: drop or impute those rows before fitting "
            "(e.g. df.na.drop())."
        )
    dims = sorted({h.dim for h in handles if h.rows > 0 and h.x_path})
    if len(dims) > 1:
        raise KMeansInputError(
            f"feature vectors have different lengths across partitions ({dims}); all "
            "feature vectors must have the same length."
        )
    bad_w = [h for h in handles if h.bad_weights]
    if bad_w:
        raise KMeansInputError(
            f"{sum(h.bad_weights for h in bad_w)} rows have a null, negative, NaN or "
            f"infinite weight in column {weight_col!r} (for example "
            f"{bad_w[0].bad_weight!r}); weights must be finite and >= 0."
        )
    zero = sum(h.zero_rows for h in handles)
    if zero:
        raise KMeansInputError(
            f"{zero} rows are zero vectors, which have no direction for "
            "distanceMeasure='cosine'; drop them or use distanceMeasure='euclidean'."
        )
    rows = sum(h.rows for h in handles)
    if rows < k:
        raise KMeansInputError(
            f"the input has {rows} rows, fewer than k={k}; k must be <= the number of "
            "rows: lower k or add data."
        )
    weight = sum(h.weight_sum for h in handles)
    if not weight > 0:
        raise KMeansInputError(
            f"the weights in column {weight_col!r} sum to {weight}; at least one "
            "row needs a positive weight."
        )
    dim = dims[0]
    if dim < 1:
        raise KMeansInputError("feature vectors are empty; give at least one feature.")
    return rows, dim
