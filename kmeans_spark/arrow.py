"""Arrow to numpy for the feature column (no Spark: runs in the worker, tested without a JVM)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import scipy.sparse as sp


@dataclass
class FeatureChunks:
    """An Arrow ``list<double>`` column as one ``(rows, d)`` float64 array per Arrow chunk.

    A chunk without null rows is a zero-copy, read-only view of Arrow's buffer; one with
    null rows is a copy whose null rows are NaN. Null elements are NaN either way. So a
    consumer can stream the partition chunk by chunk and never hold a second full copy
    (the load writes the block file this way: less memory, and no fresh pages to fault in).
    """

    parts: list[np.ndarray]
    dim: int
    mismatch: int  # rows whose length differs from the first non-null row's (then no parts)
    valid: np.ndarray  # (n,) bool: the row is not null

    @property
    def rows(self) -> int:
        return int(self.valid.size)

    def take(self, index: np.ndarray) -> np.ndarray:
        """Rows by global index, as a new ``(len(index), d)`` array."""
        starts = np.cumsum([0] + [p.shape[0] for p in self.parts])
        chunk = np.searchsorted(starts, index, side="right") - 1
        out = np.empty((index.size, self.dim))
        for i, (c, r) in enumerate(zip(chunk, index - starts[chunk], strict=True)):
            out[i] = self.parts[c][r]
        return out


def feature_chunks(column: pa.Array | pa.ChunkedArray) -> FeatureChunks:
    """The column's chunks as float64 arrays; see :class:`FeatureChunks`."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    chunks = [c for c in chunks if len(c)]
    if not chunks:
        return FeatureChunks([], 0, 0, np.ones(0, dtype=bool))
    valid = np.concatenate([~c.is_null().to_numpy(zero_copy_only=False) for c in chunks])
    lengths = np.concatenate(
        [c.value_lengths().fill_null(-1).to_numpy(zero_copy_only=False) for c in chunks]
    ).astype(np.int64)
    present = lengths[valid]
    dim = int(present[0]) if present.size else 0
    mismatch = int(np.count_nonzero(present != dim))
    if mismatch:
        return FeatureChunks([], dim, mismatch, valid)
    parts = []
    start = 0
    for chunk in chunks:
        rows = len(chunk)
        flat = chunk.flatten().to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
        chunk_valid = valid[start : start + rows]
        if chunk_valid.all():
            parts.append(flat.reshape(rows, dim))
        else:
            part = np.full((rows, dim), np.nan)
            part[chunk_valid] = flat.reshape(-1, dim)
            parts.append(part)
        start += rows
    return FeatureChunks(parts, dim, 0, valid)


#: The ``type`` field of Spark's ``VectorUDT`` struct: 0 a ``SparseVector``, 1 a ``DenseVector``.
VECTOR_SPARSE, VECTOR_DENSE = 0, 1
#: The fields of ``VectorUDT.sqlType()``, as ``mapInArrow`` and ``arrow_udf`` deliver them.
VECTOR_FIELDS = ("type", "size", "indices", "values")


@dataclass
class SparseFeatureChunks:
    """A sparse feature column as one CSR array (``scipy.sparse.csr_array``) per Arrow chunk.

    The twin of :class:`FeatureChunks` for Spark ``VectorUDT`` columns (and index/value list
    pairs). A chunk of clean sparse vectors is wrapped without a copy: ``data`` and
    ``indices`` are read-only views of Arrow's buffers (int32 indices, as Spark's), and only
    ``indptr`` (``rows + 1`` ints) is new. Dense vectors in the column become CSR rows of
    their non-zero entries. Explicit zeros of sparse vectors are kept as stored (dropping
    them would copy the chunk for nothing: they change no product).

    A row that cannot be trusted is left *empty* in its part and flagged, so the parts are
    always valid CSR (scipy's products do not check indices) and the load applies its own
    bad-row rule (refuse, or drop and count) to :attr:`bad`:

    * ``valid`` False: a null vector;
    * ``finite`` False: a NaN or infinite stored value (the row keeps its entries, so the
      message can show them);
    * ``malformed`` True: an index outside ``[0, dim)``, a repeated index, indices and values
      of different lengths, or an unknown vector type (the row is emptied).

    Rows with unsorted but distinct indices are sorted (Spark's vectors never have them;
    an index/value column pair may).
    """

    parts: list[sp.csr_array]
    dim: int
    mismatch: int  # valid rows whose size differs from ``dim`` (then no parts)
    valid: np.ndarray  # (n,) bool: the row is not null
    finite: np.ndarray  # (n,) bool: every stored value is finite
    malformed: np.ndarray  # (n,) bool: the row had bad indices and was emptied
    dense_rows: int = 0  # rows that came as dense vectors (turned into CSR)

    @property
    def rows(self) -> int:
        return int(self.valid.size)

    @property
    def nnz(self) -> int:
        """Stored entries over all parts (what the block's memory is proportional to)."""
        return int(sum(p.nnz for p in self.parts))

    @property
    def bad(self) -> np.ndarray:
        """``(n,)`` bool: null, non-finite or malformed rows (the load's bad rows)."""
        return ~self.valid | ~self.finite | self.malformed

    def densified(self) -> FeatureChunks:
        """The same rows as dense :class:`FeatureChunks` (NaN rows where a row is null or
        malformed; non-finite values stay where they are)."""
        parts = []
        start = 0
        for part in self.parts:
            rows = part.shape[0]
            dense = np.asarray(part.toarray(), dtype=np.float64)
            unusable = ~self.valid[start : start + rows] | self.malformed[start : start + rows]
            dense[unusable] = np.nan
            parts.append(dense)
            start += rows
        return FeatureChunks(parts, self.dim, 0, self.valid & ~self.malformed)

    def block(self) -> sp.csr_array:
        """The whole partition as one CSR array (a copy of the parts when there are several)."""
        if len(self.parts) == 1:
            return self.parts[0]
        if not self.parts:
            return sp.csr_array((0, self.dim))
        return sp.csr_array(sp.vstack(self.parts, format="csr"))

    def take(self, index: np.ndarray) -> sp.csr_array:
        """Rows by global index, in that order, as a new ``(len(index), dim)`` CSR array."""
        index = np.asarray(index, dtype=np.int64)
        if index.size == 0 or not self.parts:
            return sp.csr_array((0, self.dim))
        starts = np.cumsum([0] + [p.shape[0] for p in self.parts])
        chunk = np.searchsorted(starts, index, side="right") - 1
        pieces, where = [], []
        for c in np.unique(chunk):
            mine = np.flatnonzero(chunk == c)
            pieces.append(self.parts[c][index[mine] - starts[c]])
            where.append(mine)
        stacked = sp.csr_array(sp.vstack(pieces, format="csr"))
        order = np.empty(index.size, dtype=np.int64)
        order[np.concatenate(where)] = np.arange(index.size)
        return sp.csr_array(stacked[order])


@dataclass
class _RawChunk:
    """One Arrow chunk's sparse rows as flat numpy arrays, before the CSR checks."""

    valid: np.ndarray  # (n,) bool
    dense: np.ndarray  # (n,) bool: a dense vector (its values are the whole row)
    size: np.ndarray  # (n,) int64: the declared size (a dense row's length); -1 when null
    kind_ok: np.ndarray  # (n,) bool: a known vector type
    index_lengths: np.ndarray  # (n,) int64
    indices: np.ndarray  # (sum of index_lengths,)
    value_lengths: np.ndarray  # (n,) int64
    values: np.ndarray  # (sum of value_lengths,) float64


def sparse_chunks(
    column: pa.Array | pa.ChunkedArray, n_features: int | None = None
) -> SparseFeatureChunks:
    """A Spark ``VectorUDT`` column, as Arrow delivers it, to CSR parts; no per-row Python.

    In ``mapInArrow`` and ``arrow_udf`` (Spark 4) a ``VectorUDT`` column arrives as its SQL
    type, ``struct<type: int8, size: int32, indices: list<int32>, values: list<double>>``:
    sparse vectors have ``type`` 0 and all four fields; dense vectors have ``type`` 1,
    ``size``/``indices`` null and every value in ``values``; a null vector is a null struct.
    So no ``vector_to_array`` (which densifies) is needed on the JVM side.

    Parameters
    ----------
    column : pyarrow StructArray or ChunkedArray of them
        The struct above (other fields are ignored).
    n_features : int, optional
        The expected size of every vector; by default the first valid row's size.

    Returns
    -------
    SparseFeatureChunks
        One CSR part of shape ``(rows, dim)`` per non-empty chunk; none if ``mismatch``.
    """
    chunks = [c for c in _chunks(column) if len(c)]
    raws = [_vector_raw(c) for c in chunks]
    return _assemble(raws, n_features)


#: A partition of ``VectorUDT`` rows (some sparse) is stored as a CSR block when at most
#: this fraction of its ``rows x dim`` cells is stored, else densified into a dense block.
#: Measured (``scripts/bench_sparse_engine.py density``: one Lloyd step's kernel, 20,000
#: rows, d = 64 and 512, k = 10 and 50, on a shared 2-core machine): CSR time / dense time
#: 0.1-0.8 at density 0.01-0.05, 0.4-1.1 at 0.1, 0.4-2.0 at 0.2 and 0.7-1.9 above; CSR
#: files are smaller up to 2/3 (12 bytes an entry against 8 a cell). 0.1 is where CSR is
#: never clearly slower.
SPARSE_MAX_DENSITY = 0.1


def vector_chunks(
    column: pa.Array | pa.ChunkedArray, max_density: float = SPARSE_MAX_DENSITY
) -> FeatureChunks | SparseFeatureChunks:
    """A ``VectorUDT`` column (Spark's struct, see :func:`sparse_chunks`) as the load stores
    it: dense chunks (:class:`FeatureChunks`) or CSR chunks (:class:`SparseFeatureChunks`).

    The rule, per partition: when every vector is a ``DenseVector`` (or null), the struct's
    ``values`` lists are exactly the ``list<double>`` column ``vector_to_array`` would have
    made, and become :class:`FeatureChunks` without a copy (the dense path of the load,
    unchanged). Otherwise the rows become CSR; the partition stays CSR when it stores at
    most ``max_density`` of its cells, else its rows are densified (NaN for null and
    malformed rows, so the load finds them bad as in a dense column). A size mismatch or
    an empty column is returned as :class:`SparseFeatureChunks` (the load reports it).
    """
    chunks = [c for c in _chunks(column) if len(c)]
    if chunks and all(_only_dense(c) for c in chunks):
        return feature_chunks(pa.chunked_array([_dense_values(c) for c in chunks]))
    found = sparse_chunks(column)
    if found.mismatch or found.rows == 0 or found.nnz <= max_density * found.rows * found.dim:
        return found
    return found.densified()


def _only_dense(chunk: pa.Array) -> bool:
    """Every present vector of the chunk is a ``DenseVector``."""
    if not pa.types.is_struct(chunk.type) or chunk.type.get_field_index("type") < 0:
        return False
    kind = chunk.field("type").fill_null(VECTOR_DENSE).to_numpy(zero_copy_only=False)
    valid = ~_mask(chunk.is_null())
    return bool((kind[valid] == VECTOR_DENSE).all())


def _dense_values(chunk: pa.Array) -> pa.Array:
    """The ``values`` lists of a chunk of dense vectors, null where the vector is null
    (``field`` does not apply the struct's own nulls)."""
    values = chunk.field("values")
    if not chunk.null_count:
        return values
    missing = pa.array(_mask(chunk.is_null()) | _mask(values.is_null()))
    return pa.ListArray.from_arrays(values.offsets, values.values, type=values.type, mask=missing)


def index_value_chunks(
    indices: pa.Array | pa.ChunkedArray,
    values: pa.Array | pa.ChunkedArray,
    n_features: int,
) -> SparseFeatureChunks:
    """An index list column and a value list column (one sparse row each) to CSR parts.

    A row is null when either list is null. Indices may come unsorted (they are sorted);
    a repeated index, an index outside ``[0, n_features)`` or lists of different lengths
    make the row malformed (see :class:`SparseFeatureChunks`).
    """
    table = pa.table({"indices": indices, "values": values})
    raws = []
    for batch in table.to_batches():  # one chunking for both columns, by zero-copy slices
        if not batch.num_rows:
            continue
        ind, val = batch.column(0), batch.column(1)
        valid = ~_mask(ind.is_null()) & ~_mask(val.is_null())
        n = len(ind)
        index_lengths, flat_indices = _list_parts(ind, fill=-1)
        value_lengths, flat_values = _list_parts(val, fill=np.nan)
        raws.append(
            _RawChunk(
                valid=valid,
                dense=np.zeros(n, dtype=bool),
                size=np.where(valid, n_features, -1).astype(np.int64),
                kind_ok=np.ones(n, dtype=bool),
                index_lengths=index_lengths,
                indices=flat_indices,
                value_lengths=value_lengths,
                values=flat_values,
            )
        )
    return _assemble(raws, n_features)


def _chunks(column: pa.Array | pa.ChunkedArray) -> list[pa.Array]:
    return list(column.chunks) if isinstance(column, pa.ChunkedArray) else [column]


def _mask(array: pa.Array) -> np.ndarray:
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=bool)


def _list_parts(array: pa.Array, fill: float) -> tuple[np.ndarray, np.ndarray]:
    """Row lengths and the flat elements of a list array, zero-copy when possible.

    The flat elements are the slice of the child array between the first and the last
    offset (no copy); a null slot counts its length as the offsets give it (callers drop
    the entries of invalid rows). Null elements become ``fill``.
    """
    offsets = array.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
    lengths = np.diff(offsets)
    flat = array.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
    if flat.null_count:
        flat = flat.fill_null(fill)
    return lengths, flat.to_numpy(zero_copy_only=False)


def _vector_raw(chunk: pa.Array) -> _RawChunk:
    """The flat arrays of one chunk of Spark's vector struct."""
    if not pa.types.is_struct(chunk.type) or any(
        chunk.type.get_field_index(name) < 0 for name in VECTOR_FIELDS
    ):
        raise TypeError(
            f"a sparse feature column must be Spark's vector struct with fields "
            f"{VECTOR_FIELDS}, but it has type {chunk.type}; pass a VectorUDT column."
        )
    # field() applies the chunk's offset but not the struct's nulls: rows are masked below
    kind_a, size_a, ind_a, val_a = (chunk.field(name) for name in VECTOR_FIELDS)
    valid = ~_mask(chunk.is_null())
    kind = kind_a.fill_null(-1).to_numpy(zero_copy_only=False)
    dense = valid & (kind == VECTOR_DENSE)
    index_lengths, flat_indices = _list_parts(ind_a, fill=-1)
    value_lengths, flat_values = _list_parts(val_a, fill=np.nan)
    if ind_a.null_count:  # a null list (a dense row's indices) has no entries, whatever its slot
        index_lengths = np.where(_mask(ind_a.is_null()), 0, index_lengths)
        if index_lengths.sum() != flat_indices.size:
            index_lengths, flat_indices = _dropping_null_slots(ind_a, fill=-1)
    if val_a.null_count:
        value_lengths = np.where(_mask(val_a.is_null()), 0, value_lengths)
        if value_lengths.sum() != flat_values.size:
            value_lengths, flat_values = _dropping_null_slots(val_a, fill=np.nan)
    declared = size_a.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    size = np.where(dense, value_lengths, declared)
    return _RawChunk(
        valid=valid,
        dense=dense,
        size=np.where(valid, size, -1),
        kind_ok=(kind == VECTOR_SPARSE) | (kind == VECTOR_DENSE),
        index_lengths=index_lengths,
        indices=flat_indices,
        value_lengths=value_lengths,
        values=flat_values,
    )


def _dropping_null_slots(array: pa.Array, fill: float) -> tuple[np.ndarray, np.ndarray]:
    """Lengths and elements without the entries behind null slots (a copy; Spark never
    writes such slots, other producers may)."""
    lengths = array.value_lengths().fill_null(0).to_numpy(zero_copy_only=False)
    flat = array.flatten()
    if flat.null_count:
        flat = flat.fill_null(fill)
    return lengths.astype(np.int64), flat.to_numpy(zero_copy_only=False)


def _assemble(raws: list[_RawChunk], n_features: int | None) -> SparseFeatureChunks:
    """Size check over the whole column, then each chunk to CSR."""
    if not raws:
        empty = np.zeros(0, dtype=bool)
        return SparseFeatureChunks([], n_features or 0, 0, empty, empty.copy(), empty.copy())
    valid = np.concatenate([r.valid for r in raws])
    sizes = np.concatenate([r.size for r in raws])[valid]
    dim = int(n_features) if n_features is not None else int(sizes[0]) if sizes.size else 0
    mismatch = int(np.count_nonzero(sizes != dim))
    dense_rows = int(sum(np.count_nonzero(r.dense) for r in raws))
    if mismatch:
        none = np.zeros(valid.size, dtype=bool)
        return SparseFeatureChunks([], dim, mismatch, valid, ~none, none, dense_rows)
    parts, finite, malformed = [], [], []
    for raw in raws:
        part, ok, bad = _raw_csr(raw, dim)
        parts.append(part)
        finite.append(ok)
        malformed.append(bad)
    return SparseFeatureChunks(
        parts, dim, 0, valid, np.concatenate(finite), np.concatenate(malformed), dense_rows
    )


def _raw_csr(raw: _RawChunk, dim: int) -> tuple[sp.csr_array, np.ndarray, np.ndarray]:
    """One chunk as CSR, its rows' finiteness and malformed rows (emptied).

    The common case (sparse rows only, matching lengths, null rows empty, sorted distinct
    indices in range) wraps Arrow's buffers as they are; anything else takes the general
    path, still vectorised: entries get their row by ``np.repeat`` and are filtered.
    """
    n = raw.valid.size
    sparse_ok = raw.valid & ~raw.dense & raw.kind_ok & (raw.index_lengths == raw.value_lengths)
    dense_ok = raw.dense & (raw.index_lengths == 0)
    malformed = raw.valid & ~(sparse_ok | dense_ok)
    plain = (
        not raw.dense.any()
        and not malformed.any()
        and np.array_equal(raw.index_lengths, raw.value_lengths)
        and not raw.value_lengths[~raw.valid].any()
    )
    if plain:
        data, cols, lengths = raw.values, raw.indices, raw.value_lengths
    else:
        row_of_value = np.repeat(np.arange(n), raw.value_lengths)
        row_of_index = np.repeat(np.arange(n), raw.index_lengths)
        from_sparse = sparse_ok[row_of_value]
        from_dense = dense_ok[row_of_value]
        cols = np.zeros(raw.values.size, dtype=np.int64)
        cols[from_sparse] = raw.indices[sparse_ok[row_of_index]]
        value_starts = np.cumsum(raw.value_lengths) - raw.value_lengths
        position = np.arange(raw.values.size) - value_starts[row_of_value]
        cols[from_dense] = position[from_dense]
        keep = from_sparse | (from_dense & (raw.values != 0))
        data, cols = raw.values[keep], cols[keep]
        lengths = np.bincount(row_of_value[keep], minlength=n)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    data, cols, indptr, malformed = _checked_indices(data, cols, indptr, dim, malformed)
    finite = np.ones(n, dtype=bool)
    nonfinite = np.flatnonzero(~np.isfinite(data))
    if nonfinite.size:
        finite[np.searchsorted(indptr, nonfinite, side="right") - 1] = False
    index_type = np.int32 if max(dim, data.size) < 2**31 else np.int64
    part = sp.csr_array(
        (
            np.asarray(data, dtype=np.float64),
            cols.astype(index_type, copy=False),
            indptr.astype(index_type, copy=False),
        ),
        shape=(n, dim),
    )
    part.has_canonical_format = True  # checked above: sorted, distinct, in range
    return part, finite, malformed


def _checked_indices(
    data: np.ndarray, cols: np.ndarray, indptr: np.ndarray, dim: int, malformed: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Indices in range and strictly increasing per row; unsorted rows sorted, rows with an
    index out of range or repeated emptied and marked ``malformed`` (a new array)."""
    if cols.size == 0:
        return data, cols, indptr, malformed
    step = np.diff(cols)
    step[indptr[1:-1][(indptr[1:-1] > 0) & (indptr[1:-1] < cols.size)] - 1] = 1  # row starts
    out_of_range = (cols < 0) | (cols >= dim)
    if (step > 0).all() and not out_of_range.any():
        return data, cols, indptr, malformed
    n = indptr.size - 1
    malformed = malformed.copy()
    row = np.repeat(np.arange(n), np.diff(indptr))
    malformed[row[out_of_range]] = True
    keep = ~malformed[row]
    data, cols, row = data[keep], np.asarray(cols[keep], dtype=np.int64), row[keep]
    order = np.lexsort((cols, row))
    data, cols, row = data[order], cols[order], row[order]
    repeated = np.flatnonzero((np.diff(cols) == 0) & (np.diff(row) == 0))
    malformed[row[repeated]] = True
    keep = ~malformed[row]
    data, cols, row = data[keep], cols[keep], row[keep]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(row, minlength=n), out=indptr[1:])
    return data, cols, indptr, malformed
