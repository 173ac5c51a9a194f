"""The load of one partition: Arrow batches in, one validated block file and its handle out.

This is the body of the load job (:meth:`kmeans_spark.blocks.ResidentBlocks.load` runs it
in ``mapInArrow``; :class:`kmeans_spark.localblocks.LocalBlocks` runs it in-process). Plain
numpy and pyarrow, no Spark. One pass over the partition does everything the fit needs
before seeding:

* validation: rows of another length, null / NaN / infinite values (the first one kept for
  the message), bad weights, zero vectors for cosine;
* the block's mean (its origin: blocks are stored centred, see :mod:`kmeans_spark.kernels`);
* the partition's share of a weighted sample (the first k-means|| centre, or random init);
* the block file itself, streamed chunk by chunk from Arrow's buffers;
* the columns the caller asked to carry (:attr:`InputStage.carry`: the batch job's ids),
  the block's rows in its order, as one Arrow file beside it, so the fit's assignments are
  written from the blocks instead of a second read of the input.
"""

from __future__ import annotations

import contextlib
import glob
import os
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from kmeans_spark import blockstore
from kmeans_spark.arrow import (
    SPARSE_MAX_DENSITY,
    FeatureChunks,
    SparseFeatureChunks,
    feature_chunks,
    vector_chunks,
)
from kmeans_spark.colstats import ColumnStats
from kmeans_spark.errors import KMeansInputError
from kmeans_spark.handle import BlockHandle
from kmeans_spark.kernels import sparse as csr
from kmeans_spark.kernels.distance import normalize_rows, squared_norms, top_indices
from kmeans_spark.kernels.init import sampling_keys

if TYPE_CHECKING:
    from kmeans_spark.blocks import FittedBlocks

#: Column names of the load's input (set by :func:`kmeans_spark.dataset.prepare`).
FEATURES = "__kmeans_features"
WEIGHT = "__kmeans_weight"
#: Prefix of the carried columns (:func:`carry_column`): numbered, so no name of the
#: caller's can clash with the features, the weight or each other.
CARRY_PREFIX = "__kmeans_carry_"


def carry_column(index: int) -> str:
    """The load's name of the ``index``-th carried column (:attr:`InputStage.carry`)."""
    return f"{CARRY_PREFIX}{index}"


#: Values of a bad row kept for the error message.
BAD_ROW_VALUES = 16


#: ``(offset, scale)`` per feature: rows are stored as ``(x - offset) / scale``.
Affine = tuple[tuple[float, ...], tuple[float, ...]]


@dataclass(frozen=True)
class LoadSettings:
    """How a fit stores its blocks: ``dtype`` of the block files, unit rows for cosine
    (``spherical``), and how many rows each partition offers to the first seeding sample.

    For the batch job: ``drop_bad_rows`` leaves rows with non-finite features out (counted
    in the handle) instead of refusing the partition; ``column_stats`` records per-feature
    statistics and bad-value counts (for scaling and messages); ``affine`` (offset, scale)
    stores ``(x - offset) / scale`` instead of ``x`` (a rebuild of scaled blocks, see
    :func:`transform_block`).
    """

    dtype: str = "float64"
    spherical: bool = False
    sample_size: int = 1
    seed: int = 0
    drop_bad_rows: bool = False
    column_stats: bool = False
    affine: Affine | None = None
    #: cosine: leave zero vectors (empty documents) out, counted in the handle, instead of
    #: refusing them (``zeroVectorPolicy="drop"``)
    drop_zero_rows: bool = False
    #: a partition of vectors, some sparse, is stored CSR up to this density (see
    #: :func:`kmeans_spark.arrow.vector_chunks`)
    sparse_max_density: float = SPARSE_MAX_DENSITY


@dataclass(frozen=True)
class InputStage:
    """The batch job's part in a fit's load (``KMeans.setInputStage``), so the job reads its
    input once before the fit: the load drops bad rows (``drop_bad_rows``) and records
    per-feature statistics; ``on_load`` sees every handle before the fit validates them
    (it raises the job's own messages: bad rows, no usable rows) and returns the scaling to
    apply to the stored blocks, or None. ``scales`` says it may return one: then cosine
    rows are normalised only after scaling (their direction depends on it).

    ``carry`` names columns of the fit's dataset the load stores beside each block (the
    job's ids, and the original feature values it writes with ``keep_features``), and
    ``on_fitted`` is called once the best run's centres are chosen, before the blocks are
    removed, with the :class:`~kmeans_spark.blocks.FittedBlocks` whose ``assignments()``
    label every stored row with them: so the job writes its assignments without reading
    its input again."""

    on_load: Callable[[Sequence[BlockHandle]], Affine | None]
    drop_bad_rows: bool = False
    scales: bool = False
    #: > 0: the fit also computes its clustering metrics (``summary.metrics``), with a
    #: sample of this many rows for the silhouette of scikit-learn and the plots
    metrics_sample: int = 0
    carry: tuple[str, ...] = ()
    on_fitted: Callable[[FittedBlocks], None] | None = None
    #: called with the handles of the scaled blocks (:func:`transform_block`), before the
    #: fit validates them: cosine rows centred onto zero appear only there, refused or
    #: dropped (``dropped_zero_rows``), so the job counts and refuses them as the load's
    on_scaled: Callable[[Sequence[BlockHandle]], None] | None = None


def load_partition(
    batches: Iterable[pa.RecordBatch],
    *,
    partition: int,
    fit_id: str,
    generation: int,
    settings: LoadSettings,
) -> BlockHandle:
    """Validate one partition's rows and store them as a block; see the module docstring.

    A partition with bad rows (unless ``settings.drop_bad_rows``), bad weights or rows of
    mixed length stores nothing: its handle carries what is wrong, for the driver's
    one-line error. A ``VectorUDT`` feature column (a struct) is stored as a CSR block
    or a dense one by :func:`kmeans_spark.arrow.vector_chunks`'s rule (:func:`_load_sparse`).
    """
    batch_list = list(batches)
    names = batch_list[0].schema.names if batch_list else []
    weighted = WEIGHT in names
    carried = [n for n in names if n.startswith(CARRY_PREFIX)]
    # the partition stays Arrow; numpy views of its chunks stream into the block file
    column = (
        pa.chunked_array([b.column(FEATURES) for b in batch_list])
        if batch_list
        else pa.array([], type=pa.list_(pa.float64()))
    )
    if pa.types.is_struct(column.type):
        chunks = vector_chunks(column, settings.sparse_max_density)
        if isinstance(chunks, SparseFeatureChunks):
            return _load_sparse(
                chunks,
                batch_list,
                partition=partition,
                fit_id=fit_id,
                generation=generation,
                settings=settings,
            )
        fc = chunks
    else:
        fc = feature_chunks(column)
    base = BlockHandle(
        partition=partition, generation=generation, dim=fc.dim, host=socket.gethostname()
    )
    if fc.mismatch or fc.rows == 0:
        total_rows = sum(b.num_rows for b in batch_list)
        return _with(base, rows=total_rows, dim_mismatch=fc.mismatch)
    if settings.affine is not None:
        offset, scale = (np.asarray(v, dtype=np.float64) for v in settings.affine)
        fc = FeatureChunks([(p - offset) / scale for p in fc.parts], fc.dim, 0, fc.valid)
    w = (
        pa.chunked_array([b.column(WEIGHT) for b in batch_list]).to_numpy().astype(np.float64)
        if weighted
        else np.ones(fc.rows, dtype=np.float64)
    )
    found = _scan(fc, settings.column_stats)
    keep = found.pop("keep")
    column_stats = found.pop("stats")
    kept: np.ndarray | None = None  # the rows left after dropping bad ones; None: all
    if found["bad_rows"] and settings.drop_bad_rows:
        found["dropped_rows"], found["bad_rows"] = found["bad_rows"], 0
        kept = np.concatenate(
            [
                np.ones(p.shape[0], bool) if k is None else k
                for p, k in zip(fc.parts, keep, strict=True)
            ]
        )
        fc = FeatureChunks(
            [p if k is None else p[k] for p, k in zip(fc.parts, keep, strict=True)],
            fc.dim,
            0,
            np.ones(fc.rows - found["dropped_rows"], dtype=bool),
        )
        w = w[kept]
        if fc.rows == 0:
            return _with(base, rows=0, **found)
    found.update(_check_weights(w))
    if settings.spherical:
        zero = [squared_norms(p) == 0 for p in fc.parts]
        found["zero_rows"] = sum(int(np.count_nonzero(z)) for z in zero)
        if found["zero_rows"] and settings.drop_zero_rows:
            found["dropped_zero_rows"], found["zero_rows"] = found["zero_rows"], 0
            nonzero = ~np.concatenate(zero)
            kept = nonzero if kept is None else _narrowed(kept, nonzero)
            fc = FeatureChunks(
                [p[~z] for p, z in zip(fc.parts, zero, strict=True)],
                fc.dim,
                0,
                np.ones(int(nonzero.sum()), dtype=bool),
            )
            w = w[nonzero]
            if fc.rows == 0:
                return _with(base, rows=0, **found)
    if found["bad_rows"] or found["bad_weights"]:
        return _with(base, rows=fc.rows, **{**found, "zero_rows": 0})
    carry = _carried(batch_list, carried, kept) if carried else None
    return _store(
        fc,
        w if weighted else None,
        carry,
        found["sum"],
        base,
        fit_id=fit_id,
        generation=generation,
        settings=settings,
        found={**found, **(column_stats.as_tuples() if column_stats else {})},
    )


def _narrowed(kept: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Rows of the partition still kept after keeping ``keep`` of those ``kept`` so far."""
    out = kept.copy()
    out[np.flatnonzero(kept)[~keep]] = False
    return out


def _load_sparse(
    sc: SparseFeatureChunks,
    batch_list: list[pa.RecordBatch],
    *,
    partition: int,
    fit_id: str,
    generation: int,
    settings: LoadSettings,
) -> BlockHandle:
    """:func:`load_partition` for a partition stored as a CSR block: the same validation,
    drops, weights, carried columns and sample, on the CSR parts, never densified.

    Differences, and why: no origin (centring would make the block dense: sparse features
    sit near zero, where the distances keep their precision uncentred); a scaling
    (``settings.affine``) may only divide, never shift (the driver refuses centring sparse
    features before it gets here); a bad row is reported by its stored entries (their
    columns in ``bad_row_columns``), a row of ``2**18`` mostly zero features has no useful
    first 16 values.
    """
    names = batch_list[0].schema.names
    weighted = WEIGHT in names
    carried = [n for n in names if n.startswith(CARRY_PREFIX)]
    base = BlockHandle(
        partition=partition,
        generation=generation,
        dim=sc.dim,
        host=socket.gethostname(),
        sparse=True,
    )
    if sc.mismatch or sc.rows == 0:
        return _with(base, rows=sum(b.num_rows for b in batch_list), dim_mismatch=sc.mismatch)
    parts = list(sc.parts)
    if settings.affine is not None:
        offset, scale = (np.asarray(v, dtype=np.float64) for v in settings.affine)
        assert not offset.any(), "sparse blocks are scaled, never centred"
        parts = [_divide_columns(p, scale) for p in parts]
    w = (
        pa.chunked_array([b.column(WEIGHT) for b in batch_list]).to_numpy().astype(np.float64)
        if weighted
        else np.ones(sc.rows, dtype=np.float64)
    )
    found = _scan_sparse(sc, parts, settings.column_stats)
    stats = found.pop("stats")
    bad = sc.bad
    kept: np.ndarray | None = None
    if found["bad_rows"] and settings.drop_bad_rows:
        found["dropped_rows"], found["bad_rows"] = found["bad_rows"], 0
        kept = ~bad
        parts = _rows_where(parts, kept)
        w = w[kept]
        if not kept.any():
            return _with(base, rows=0, **found)
    found.update(_check_weights(w))
    if settings.spherical:
        zero = np.concatenate([csr.squared_norms(p) == 0 for p in parts])
        found["zero_rows"] = int(zero.sum())
        if found["zero_rows"] and settings.drop_zero_rows:
            found["dropped_zero_rows"], found["zero_rows"] = found["zero_rows"], 0
            kept = ~zero if kept is None else _narrowed(kept, ~zero)
            parts = _rows_where(parts, ~zero)
            w = w[~zero]
            if not w.size:
                return _with(base, rows=0, **found)
    rows = int(w.size)
    if found["bad_rows"] or found["bad_weights"]:
        return _with(base, rows=rows, **{**found, "zero_rows": 0})
    carry = _carried(batch_list, carried, kept) if carried else None
    rng = np.random.default_rng([settings.seed, 0x5EED, partition])
    keys = sampling_keys(np.ones(rows) if not weighted else w, rng)
    take = top_indices(keys, settings.sample_size)
    take = take[np.isfinite(keys[take])]
    if settings.spherical:
        parts = [csr.normalize_rows(p)[0] for p in parts]
    points = SparseFeatureChunks(
        parts, sc.dim, 0, *(np.ones(rows, dtype=bool),) * 2, np.zeros(rows, dtype=bool)
    ).take(take)
    x_path = blockstore.csr_path(fit_id, generation, partition)
    nnz = blockstore.save_csr(x_path, (rows, sc.dim), np.dtype(settings.dtype), parts)
    w_path = ""
    if weighted:
        w_path = blockstore.block_path(fit_id, generation, partition, "w")
        blockstore.save_array(w_path, w)
    carry_path = ""
    if carry is not None:
        assert carry.num_rows == rows, (carry.num_rows, rows)
        carry_path = _carry_path(fit_id, generation, partition)
        blockstore.save_table(carry_path, carry)
    _remove_older_generations(fit_id, generation, partition)
    return _with(
        base,
        rows=rows,
        x_path=x_path,
        nnz=nnz,
        w_path=w_path,
        carry_path=carry_path,
        weight_sum=float(w.sum()),
        sample_keys=tuple(float(v) for v in keys[take]),
        **_sample_fields(points),
        **found,
        **(stats.as_tuples() if stats is not None else {}),
    )


def _sample_fields(points: Any) -> dict[str, tuple[float, ...]]:
    """A CSR block's sampled rows as handle fields (their entries, see
    :meth:`BlockHandle.sample_rows`)."""
    points = csr.as_csr(points)
    return {
        "sample_points": tuple(float(v) for v in points.data),
        "sample_indices": tuple(float(v) for v in points.indices),
        "sample_indptr": tuple(float(v) for v in points.indptr),
    }


def _rows_where(parts: list[Any], keep: np.ndarray) -> list[Any]:
    """The CSR parts' rows where ``keep`` (one mask over all parts' rows)."""
    out, start = [], 0
    for p in parts:
        rows = p.shape[0]
        mine = keep[start : start + rows]
        out.append(p if mine.all() else csr.as_csr(p[np.flatnonzero(mine)]))
        start += rows
    return out


def _divide_columns(part: Any, scale: np.ndarray) -> sp.csr_array:
    """A CSR part with every column divided by its ``scale`` (same pattern, new data)."""
    part = csr.as_csr(part)
    a, b = int(part.indptr[0]), int(part.indptr[-1])
    data = np.asarray(part.data[a:b], dtype=np.float64) / scale[part.indices[a:b]]
    out = sp.csr_array(
        (data, np.asarray(part.indices[a:b]), np.asarray(part.indptr) - a), shape=part.shape
    )
    out.has_canonical_format = True
    return out


def _scan_sparse(sc: SparseFeatureChunks, parts: list[Any], column_stats: bool) -> dict[str, Any]:
    """:func:`_scan` for CSR parts: bad rows (null, non-finite or malformed; the first kept
    with its stored entries), and with ``column_stats`` the per-column non-finite counts
    and the good rows' statistics, implicit zeros included."""
    bad = sc.bad
    found: dict[str, Any] = {"bad_rows": int(bad.sum()), "zero_rows": 0, "stats": None}
    if found["bad_rows"]:
        first = int(np.argmax(bad))
        found["bad_row_index"] = first
        row = sc.take(np.array([first]))
        shown = slice(0, BAD_ROW_VALUES)
        if not sc.valid[first]:
            found["bad_row"], found["bad_row_columns"] = (float("nan"),), ()
        else:
            found["bad_row"] = tuple(float(v) for v in row.data[shown])
            found["bad_row_columns"] = tuple(float(c) for c in row.indices[shown])
    if column_stats:
        per_column = np.zeros(sc.dim)
        for p in parts:
            a, b = int(p.indptr[0]), int(p.indptr[-1])
            nonfinite = ~np.isfinite(p.data[a:b])
            per_column += np.bincount(p.indices[a:b][nonfinite], minlength=sc.dim)
        found["bad_per_column"] = tuple(float(v) for v in per_column)
        found["stats"] = _sparse_column_stats(_rows_where(parts, ~bad), sc.dim)
    return found


def _sparse_column_stats(parts: list[Any], dim: int) -> ColumnStats:
    """Per-column statistics of CSR rows, implicit zeros included, in ``O(nnz + d)``: each
    column's squared deviations are its stored entries' about the mean plus the mean's
    square once per implicit zero (exact, no sum of squares)."""
    n = sum(int(p.shape[0]) for p in parts)
    if n == 0:
        return ColumnStats.empty(dim)
    block = csr.as_csr(sp.vstack(parts, format="csr")) if len(parts) > 1 else csr.as_csr(parts[0])
    a, b = int(block.indptr[0]), int(block.indptr[-1])
    data = np.asarray(block.data[a:b], dtype=np.float64)
    cols = np.asarray(block.indices[a:b])
    stored = np.bincount(cols, minlength=dim)
    mean = np.bincount(cols, weights=data, minlength=dim) / n
    dev = data - mean[cols]
    m2 = np.bincount(cols, weights=dev * dev, minlength=dim) + (n - stored) * mean**2
    low = np.full(dim, np.inf)
    high = np.full(dim, -np.inf)
    np.minimum.at(low, cols, data)
    np.maximum.at(high, cols, data)
    implicit = stored < n
    low[implicit] = np.minimum(low[implicit], 0.0)
    high[implicit] = np.maximum(high[implicit], 0.0)
    return ColumnStats(n, mean, m2, low, high)


def _carried(
    batch_list: list[pa.RecordBatch], names: list[str], kept: np.ndarray | None
) -> pa.Table:
    """The carried columns of the partition, the rows of its block in its order: those
    left after dropping bad rows (``kept``), as the features and weights."""
    table = pa.Table.from_batches([b.select(names) for b in batch_list])
    return table if kept is None else table.filter(pa.array(kept))


def _store(
    fc: FeatureChunks,
    w: np.ndarray | None,
    carry: pa.Table | None,
    total: np.ndarray,
    base: BlockHandle,
    *,
    fit_id: str,
    generation: int,
    settings: LoadSettings,
    found: dict[str, Any],
) -> BlockHandle:
    """Draw the partition's seeding sample, write the block (and weight, and carried
    columns) file, and return the handle of what was stored."""
    spherical = settings.spherical
    origin = np.zeros(fc.dim) if spherical else total / fc.rows
    rng = np.random.default_rng([settings.seed, 0x5EED, base.partition])
    keys = sampling_keys(np.ones(fc.rows) if w is None else w, rng)
    take = top_indices(keys, settings.sample_size)  # O(n), unlike sorting every key
    take = take[np.isfinite(keys[take])]
    points = fc.take(take)
    if spherical:
        points = normalize_rows(points)[0]

    def stored(part: np.ndarray) -> np.ndarray:
        # cosine: unit vectors (nothing to gain from centring); else centred on the block's
        # mean, so GEMM-form distances keep their precision
        return normalize_rows(part)[0] if spherical else part - origin

    x_path = blockstore.block_path(fit_id, generation, base.partition, "x")
    blockstore.save_rows(
        x_path, (fc.rows, fc.dim), np.dtype(settings.dtype), (stored(p) for p in fc.parts)
    )
    w_path = ""
    if w is not None:
        w_path = blockstore.block_path(fit_id, generation, base.partition, "w")
        blockstore.save_array(w_path, w)
    carry_path = ""
    if carry is not None:
        assert carry.num_rows == fc.rows, (carry.num_rows, fc.rows)
        carry_path = _carry_path(fit_id, generation, base.partition)
        blockstore.save_table(carry_path, carry)
    _remove_older_generations(fit_id, generation, base.partition)
    return _with(
        base,
        rows=fc.rows,
        x_path=x_path,
        w_path=w_path,
        carry_path=carry_path,
        weight_sum=float(fc.rows if w is None else w.sum()),
        sample_keys=tuple(float(v) for v in keys[take]),
        sample_points=tuple(float(v) for v in points.ravel()),
        origin=tuple(float(v) for v in origin),
        **found,
    )


def _scan(fc: FeatureChunks, column_stats: bool) -> dict[str, Any]:
    """Bad rows (the first one kept, and which rows to keep), the sum of the good rows (for
    the mean) and, if asked, per-feature bad counts and statistics of the good rows, in
    one pass over the chunks."""
    found: dict[str, Any] = {"bad_rows": 0, "zero_rows": 0}
    total = np.zeros(fc.dim)
    per_column = np.zeros(fc.dim, dtype=np.int64)
    stats = ColumnStats.empty(fc.dim) if column_stats else None
    keep: list[np.ndarray | None] = []  # per chunk: the good rows, None for all
    start = 0
    for part in fc.parts:
        rows = part.shape[0]
        finite = np.isfinite(part)
        bad = ~finite.all(axis=1) | ~fc.valid[start : start + rows]
        bad_here = int(bad.sum())
        if bad_here:
            if not found["bad_rows"]:
                first = int(np.argmax(bad))
                found["bad_row_index"] = start + first
                found["bad_row"] = tuple(float(v) for v in part[first, :BAD_ROW_VALUES])
            per_column += (~finite).sum(axis=0)
            good = ~bad
            keep.append(good)
            kept = part[good]
        else:
            keep.append(None)
            kept = part
        found["bad_rows"] += bad_here
        total += kept.sum(axis=0)
        if stats is not None:
            stats = stats.merge(ColumnStats.of_rows(kept))
        start += rows
    found["sum"] = total
    found["stats"] = stats
    found["keep"] = keep
    if column_stats:
        found["bad_per_column"] = tuple(float(v) for v in per_column)
    return found


def _check_weights(w: np.ndarray) -> dict[str, Any]:
    bad_w = ~np.isfinite(w) | (w < 0)
    found: dict[str, Any] = {"bad_weights": int(bad_w.sum())}
    if found["bad_weights"]:
        found["bad_weight"] = float(w[int(np.argmax(bad_w))])
    return found


#: Rows per chunk when a stored block is rewritten (bounded memory, whatever the block).
TRANSFORM_CHUNK_ROWS = 1 << 16


def transform_block(
    handle: BlockHandle, *, fit_id: str, generation: int, settings: LoadSettings
) -> BlockHandle:
    """Rewrite one stored block as ``(x - offset) / scale`` (``settings.affine``), unit rows
    when ``settings.spherical``, as block ``generation``; return its handle.

    This is how the batch job scales its features without reading the input again: the
    load stored the raw rows (centred, and for cosine not yet normalised: a row's direction
    depends on the scaling) and their statistics; the driver chose the scaling from those;
    each block is then rewritten where it lies. A block stored centred on ``origin``
    becomes centred on ``(origin - offset) / scale``, so only the file's columns are divided.
    The carried columns' file goes to the new generation as a hard link (their rows do not
    change). A retried task whose source file is already gone finds the finished target
    and returns the same handle; a source missing altogether (its executor lost) gives a
    handle with no ``x_path``, and the caller rebuilds the blocks from the input.

    Under cosine a row can become a zero vector only now (centring moves a row equal to
    the mean onto 0): it is counted in ``zero_rows`` (the fit refuses it), or with
    ``settings.drop_zero_rows`` left out of the block, its weights, its carried columns and
    its sample, and counted in ``dropped_zero_rows``, as the load does.
    """
    if handle.rows == 0 or not handle.x_path:
        return _with(handle, generation=generation)
    if handle.sparse:
        return _transform_sparse(handle, fit_id=fit_id, generation=generation, settings=settings)
    assert settings.affine is not None
    offset, scale = (np.asarray(v, dtype=np.float64) for v in settings.affine)
    origin = handle.origin_array
    assert origin is not None
    spherical = settings.spherical
    x_path = blockstore.block_path(fit_id, generation, handle.partition, "x")
    source = blockstore.open_block(handle.x_path)
    if source is not None:
        starts = range(0, handle.rows, TRANSFORM_CHUNK_ROWS)

        def scaled(start: int) -> np.ndarray:
            part = np.asarray(source[start : start + TRANSFORM_CHUNK_ROWS], np.float64)
            # cosine rows are normalised about the origin 0: back to the data's coordinates
            return (part + origin - offset) / scale if spherical else part / scale

        zero = np.zeros(handle.rows, dtype=bool)
        if spherical and settings.drop_zero_rows:
            # one read more, so the file is written with its final row count; otherwise the
            # zero rows are counted as they are written (and the fit refuses them)
            zero = np.concatenate([squared_norms(scaled(s)) == 0 for s in starts])
        drop = settings.drop_zero_rows and bool(zero.any())

        def rewritten() -> Iterable[np.ndarray]:
            for start in starts:
                part = scaled(start)
                if spherical:
                    part, found = normalize_rows(part)
                    if drop:
                        part = part[~zero[start : start + TRANSFORM_CHUNK_ROWS]]
                    elif not settings.drop_zero_rows:
                        zero[start : start + len(found)] = found
                yield part

        rows = handle.rows - int(zero.sum()) if drop else handle.rows
        if rows:
            blockstore.save_rows(x_path, (rows, handle.dim), np.dtype(settings.dtype), rewritten())
        kept = _Kept.of(zero, drop)
    elif os.path.exists(x_path):  # a retry: this task already wrote it
        done = blockstore.open_block(x_path)
        kept = _Kept.written(handle, 0 if done is None else int(done.shape[0]), spherical)
        if spherical and done is not None:
            kept.zero_rows = int(np.count_nonzero(squared_norms(done) == 0))
    else:
        return _with(handle, x_path="")
    points = (np.asarray(handle.sample_points).reshape(-1, handle.dim) - offset) / scale
    if spherical:
        points, zero_points = normalize_rows(points)
        if settings.drop_zero_rows:
            points = points[~zero_points]
    new_origin = np.zeros(handle.dim) if spherical else (origin - offset) / scale
    return _finish_transform(
        handle,
        kept,
        fit_id=fit_id,
        generation=generation,
        x_path=x_path,
        sample={
            "sample_points": tuple(float(v) for v in points.ravel()),
            "origin": tuple(float(v) for v in new_origin),
        },
        sample_kept=None if not spherical or not settings.drop_zero_rows else ~zero_points,
    )


@dataclass
class _Kept:
    """What a block's rewrite kept: its rows (``mask`` of the source's rows, None when all
    or when a retry finds them already written and filtered), the zero rows it kept (the
    fit refuses them) and those it left out."""

    rows: int
    mask: np.ndarray | None
    zero_rows: int
    dropped: int

    @classmethod
    def of(cls, zero: np.ndarray, drop: bool) -> _Kept:
        if drop:
            return cls(int((~zero).sum()), ~zero, 0, int(zero.sum()))
        return cls(int(zero.size), None, int(zero.sum()), 0)

    @classmethod
    def written(cls, handle: BlockHandle, rows: int, spherical: bool) -> _Kept:
        """A retry's: the rows already written (fewer than the source's when zero rows were
        dropped: the weights and carried columns beside them are filtered too)."""
        return cls(rows, None, 0, handle.rows - rows if spherical else 0)


def _finish_transform(
    handle: BlockHandle,
    kept: _Kept,
    *,
    fit_id: str,
    generation: int,
    x_path: str,
    sample: dict[str, Any],
    sample_kept: np.ndarray | None,
) -> BlockHandle:
    """The tail :func:`transform_block` shares with :func:`_transform_sparse`: the weights
    and carried columns follow the block to its new generation (filtered like its rows),
    the older generations go, and the handle says what was written. ``sample`` holds the
    rewritten sample fields; ``sample_kept`` which of the sampled rows stay (their keys
    follow)."""
    beside = _move_beside(handle, fit_id=fit_id, generation=generation, kept=kept)
    if beside is None:
        return _with(handle, x_path="")  # lost with its executor: rebuild
    w_path, carry_path, weight_sum = beside
    keys = handle.sample_keys
    if sample_kept is not None:
        keys = tuple(k for k, keep in zip(keys, sample_kept, strict=True) if keep)
    empty = kept.rows == 0  # every row dropped: nothing stored, as the load leaves it
    return _with(
        handle,
        generation=generation,
        x_path="" if empty else x_path,
        w_path=w_path,
        carry_path=carry_path,
        rows=kept.rows,
        weight_sum=weight_sum,
        zero_rows=kept.zero_rows,
        dropped_zero_rows=handle.dropped_zero_rows + kept.dropped,
        sample_keys=keys,
        **sample,
    )


def _move_beside(
    handle: BlockHandle, *, fit_id: str, generation: int, kept: _Kept
) -> tuple[str, str, float] | None:
    """What a rewritten block keeps beside it in its new generation, dense or CSR: the
    weights (copied) and the carried columns (linked), both filtered to ``kept.mask`` when
    rows were dropped, as ``(w_path, carry_path, weight_sum)`` ("" for none); then the
    older generations' files go. ``None`` when the carried file was lost with its
    executor: the block must be rebuilt from the input."""
    mask = kept.mask
    weight_sum = handle.weight_sum
    w_path = ""
    if handle.w_path and kept.rows:
        w_path = blockstore.block_path(fit_id, generation, handle.partition, "w")
        if not os.path.exists(w_path):
            w = np.load(handle.w_path, allow_pickle=False)
            blockstore.save_array(w_path, w if mask is None else w[mask])
        if mask is not None or kept.rows != handle.rows:
            weight_sum = float(np.load(w_path, allow_pickle=False).sum())
    elif kept.rows != handle.rows:
        weight_sum = float(kept.rows)  # unweighted: a row weighs 1
    carry_path = ""
    if handle.carry_path and kept.rows:
        carry_path = _carry_path(fit_id, generation, handle.partition)
        if mask is None:
            if not blockstore.link_or_copy(handle.carry_path, carry_path):
                return None
        elif not os.path.exists(carry_path):
            table = blockstore.open_table(handle.carry_path)
            if table is None:
                return None
            blockstore.save_table(carry_path, table.filter(pa.array(mask)))
    _remove_older_generations(fit_id, generation, handle.partition)
    return w_path, carry_path, weight_sum


def _transform_sparse(
    handle: BlockHandle, *, fit_id: str, generation: int, settings: LoadSettings
) -> BlockHandle:
    """:func:`transform_block` of a CSR block: columns divided by the scale (the offset is
    0: the driver refuses centring sparse features), rows normalised for cosine (zero rows
    counted, or dropped with ``settings.drop_zero_rows``)."""
    assert settings.affine is not None
    scale = np.asarray(settings.affine[1], dtype=np.float64)
    spherical = settings.spherical
    x_path = blockstore.csr_path(fit_id, generation, handle.partition)
    source = blockstore.open_block(handle.x_path)
    if source is not None:
        parts, zeros = [], []
        for start in range(0, handle.rows, TRANSFORM_CHUNK_ROWS):
            stop = min(start + TRANSFORM_CHUNK_ROWS, handle.rows)
            part = _divide_columns(csr.row_slice(source, start, stop), scale)
            zero = np.zeros(stop - start, dtype=bool)
            if spherical:
                part, zero = csr.normalize_rows(part)
            parts.append(part)
            zeros.append(zero)
        zero = np.concatenate(zeros)
        drop = settings.drop_zero_rows and bool(zero.any())
        if drop:
            parts = _rows_where(parts, ~zero)
        kept = _Kept.of(zero, drop)
        if kept.rows:
            shape = (kept.rows, handle.dim)
            blockstore.save_csr(x_path, shape, np.dtype(settings.dtype), parts)
    elif (done := blockstore.open_block(x_path)) is not None:  # a retry: already written
        kept = _Kept.written(handle, int(done.shape[0]), spherical)
        if spherical:
            kept.zero_rows = int(np.count_nonzero(csr.squared_norms(done) == 0))
    else:
        return _with(handle, x_path="")
    indptr = np.asarray(handle.sample_indptr, dtype=np.int64)
    points = sp.csr_array(
        (
            np.asarray(handle.sample_points, dtype=np.float64),
            np.asarray(handle.sample_indices, dtype=np.int64),
            indptr,
        ),
        shape=(max(indptr.size - 1, 0), handle.dim),
    )
    points = _divide_columns(points, scale)
    sample_kept = None
    if spherical:
        points, zero_points = csr.normalize_rows(points)
        if settings.drop_zero_rows:
            sample_kept = ~zero_points
            points = csr.as_csr(points[np.flatnonzero(sample_kept)])
    return _finish_transform(
        handle,
        kept,
        fit_id=fit_id,
        generation=generation,
        x_path=x_path,
        sample=_sample_fields(points),
        sample_kept=sample_kept,
    )


def _with(base: BlockHandle, **values: Any) -> BlockHandle:
    values.pop("sum", None)  # the scan's working total, not a handle field
    return BlockHandle(**{**base.to_dict(), **values})


def _carry_path(fit_id: str, generation: int, partition: int) -> str:
    return blockstore.block_path(
        fit_id, generation, partition, blockstore.CARRY_KIND, blockstore.CARRY_SUFFIX
    )


def _remove_older_generations(fit_id: str, generation: int, partition: int) -> None:
    for g in range(generation):
        for path in glob.glob(blockstore.generation_files(fit_id, g, partition)):
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
        columns = [int(c) for c in first.bad_row_columns] or range(len(first.bad_row))
        shown = ", ".join(
            f"{feature_name(i)}={v!r}" for i, v in zip(columns, first.bad_row, strict=False)
        )
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
            f"{zero} rows are zero vectors (empty documents), which have no direction for "
            "distanceMeasure='cosine'; drop them (zeroVectorPolicy='drop' leaves them out "
            "and counts them) or use distanceMeasure='euclidean'."
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
