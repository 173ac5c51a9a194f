"""Executor-local storage of resident blocks: one ``.npy`` file per partition, memory-mapped.

Why files: a cached RDD of numpy blocks travels from the JVM to the Python worker on every
iteration, and that copy, not the arithmetic, dominates a Lloyd step. A block written once to
the executor's local directory and opened with ``mmap`` is shared through the page cache by
every Python worker of that host, costs nothing to reopen, and survives worker restarts.

This module is plain Python, numpy and pyarrow (no Spark), so it runs in the worker and is
testable without a JVM. Files of one fit live under ``<local dir>/kmeans_spark/<fit id>/``;
they are removed when the fit ends. A file that is missing where a task runs (executor
lost, or the task scheduled on another host) is reported by :func:`open_block` returning
``None``; the Spark side then rebuilds the blocks from the input. Beside a block's ``.npy``
files, the columns the load carries for the fit's caller (the batch job's ids) are one
Arrow IPC file (:func:`save_table`): they need no numpy form and come back zero-copy.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from numpy.lib.format import dtype_to_descr, write_array_header_1_0

#: Opened memory maps (arrays, or CSR arrays over three maps), kept per worker process so
#: a reused worker does not reopen them.
_OPEN: OrderedDict[str, Any] = OrderedDict()
_MAX_OPEN = 64


def local_root() -> str:
    """The first of Spark's local directories for this process, else the system temp dir.

    Spark sets ``SPARK_LOCAL_DIRS`` in every Python worker it starts to the executor's
    block-manager directories, which are on local disk and cleaned by Spark on exit.
    """
    dirs = os.environ.get("SPARK_LOCAL_DIRS", "")
    first = dirs.split(",")[0].strip()
    return first or tempfile.gettempdir()


def fit_dir(fit_id: str, root: str | None = None) -> str:
    return os.path.join(root or local_root(), "kmeans_spark", fit_id)


#: Kind and suffix of the file of carried columns (see :func:`save_table`).
CARRY_KIND = "ids"
CARRY_SUFFIX = ".arrow"


def block_path(
    fit_id: str, generation: int, partition: int, kind: str = "x", suffix: str = ".npy"
) -> str:
    """Path of one partition's file; ``generation`` changes when blocks are rebuilt."""
    return os.path.join(fit_dir(fit_id), f"g{generation}-p{partition:05d}-{kind}{suffix}")


#: The suffix of a sparse block's name (:func:`save_csr`): no file of that name exists, its
#: three arrays are ``.npy`` files beside it (:func:`csr_files`).
CSR_SUFFIX = ".csr"
#: The arrays of a CSR block, in scipy's names.
CSR_PARTS = ("data", "indices", "indptr")


def csr_path(fit_id: str, generation: int, partition: int) -> str:
    """The name of one partition's sparse block (see :data:`CSR_SUFFIX`)."""
    return block_path(fit_id, generation, partition, "x", CSR_SUFFIX)


def csr_files(path: str) -> tuple[str, str, str]:
    """The ``.npy`` files of the CSR block named ``path``: data, indices, indptr."""
    base = path[: -len(CSR_SUFFIX)]
    data, indices, indptr = (f"{base}.{part}.npy" for part in CSR_PARTS)
    return data, indices, indptr


def is_csr(path: str) -> bool:
    return path.endswith(CSR_SUFFIX)


def generation_files(fit_id: str, generation: int, partition: int) -> str:
    """A glob pattern of every file of one partition's generation (arrays, carried columns,
    per-block state)."""
    return block_path(fit_id, generation, partition, "*", "")


@contextlib.contextmanager
def _atomic(path: str) -> Iterator[str]:
    """A temporary path beside ``path`` to write, renamed to ``path`` once written: a reader
    never sees half a file, and a retried task that writes the same path again simply
    replaces it. Removed if the write fails."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def save_array(path: str, array: np.ndarray) -> None:
    """Write atomically (temp file + rename): a reader never sees half a file, and a retried
    task that writes the same path again simply replaces it."""
    save_rows(path, array.shape, array.dtype, [array])


def save_rows(
    path: str, shape: tuple[int, ...], dtype: np.dtype, parts: Iterable[np.ndarray]
) -> None:
    """Write a ``.npy`` file of ``shape`` and ``dtype`` from consecutive chunks of its
    first axis, atomically as :func:`save_array`, without ever holding the whole array."""
    header = {"descr": dtype_to_descr(dtype), "fortran_order": False, "shape": tuple(shape)}
    with _atomic(path) as tmp, open(tmp, "wb") as fh:
        write_array_header_1_0(fh, header)
        rows = 0
        for part in parts:
            fh.write(np.ascontiguousarray(part, dtype=dtype).data)
            rows += part.shape[0] if part.ndim else 1
        if rows != (shape[0] if shape else 1):
            raise ValueError(f"wrote {rows} rows of {shape[0]} to {path}")


def save_table(path: str, table: pa.Table) -> None:
    """Write ``table`` as one Arrow IPC file, atomically as :func:`save_array`. IPC rather
    than Parquet: uncompressed and memory-mappable, so :func:`open_table` reads it
    zero-copy, whatever the column types."""
    with (
        _atomic(path) as tmp,
        pa.OSFile(tmp, "wb") as sink,
        pa.ipc.new_file(sink, table.schema) as writer,
    ):
        writer.write_table(table)


def open_table(path: str) -> pa.Table | None:
    """The table of :func:`save_table`, memory-mapped; ``None`` when the file is not on
    this host (as :func:`open_block`)."""
    if not os.path.exists(path):
        return None
    try:
        return pa.ipc.open_file(pa.memory_map(path, "r")).read_all()
    except (OSError, pa.ArrowInvalid):
        return None


def link_or_copy(source: str, target: str) -> bool:
    """Make ``target`` hold the file ``source`` (a hard link: no bytes copied; a copy where
    the file system refuses links); True if ``target`` exists afterwards. An existing
    ``target`` is kept, so a retried task whose ``source`` is already gone still succeeds;
    False only when neither exists (the file was lost with its executor)."""
    if os.path.exists(target):
        return True
    if not os.path.exists(source):
        return False
    os.makedirs(os.path.dirname(target), exist_ok=True)
    try:
        os.link(source, target)  # atomic: the name appears with the whole file behind it
    except FileExistsError:  # another attempt of this task made it meanwhile
        pass
    except FileNotFoundError:  # the source went in the meantime
        return os.path.exists(target)
    except OSError:
        with _atomic(target) as tmp:
            shutil.copyfile(source, tmp)
    return True


def save_csr(
    path: str, shape: tuple[int, int], dtype: np.dtype, parts: Iterable[sp.csr_array]
) -> int:
    """Write a sparse block named ``path`` (:func:`csr_path`) from consecutive CSR row
    chunks: ``data`` (``dtype``), ``indices`` and ``indptr`` (int32, as Spark's indices) as
    three ``.npy`` files (and its shape in a fourth), each atomic as :func:`save_array`;
    ``indptr`` last, so a reader that finds it finds the others complete. The files hold
    ``12 nnz + 4 (n + 1)`` bytes for float64 data, never ``n x d``. Returns the stored
    entries."""
    chunks = list(parts)
    nnz = sum(int(c.nnz) for c in chunks)
    data_file, indices_file, indptr_file = csr_files(path)
    save_array(_shape_file(path), np.asarray(shape, dtype=np.int64))  # d is in no array
    save_rows(data_file, (nnz,), np.dtype(dtype), (_entries(c, "data") for c in chunks))
    save_rows(indices_file, (nnz,), np.dtype(np.int32), (_entries(c, "indices") for c in chunks))
    lengths = [np.diff(np.asarray(c.indptr, dtype=np.int64)) for c in chunks]
    # int32 like the indices when it fits: scipy casts both to one type, so mixed types
    # would copy the mapped indices on every open
    indptr = np.zeros(shape[0] + 1, dtype=np.int32 if nnz < 2**31 else np.int64)
    if lengths:
        np.cumsum(np.concatenate(lengths), out=indptr[1:])
    save_array(indptr_file, indptr)
    return nnz


def _entries(chunk: sp.csr_array, name: str) -> np.ndarray:
    """The stored entries of one CSR chunk (its buffers may be views of a larger array)."""
    a, b = int(chunk.indptr[0]), int(chunk.indptr[-1])
    return np.asarray(getattr(chunk, name)[a:b])


def open_csr(path: str) -> sp.csr_array | None:
    """The sparse block named ``path`` as a CSR array over three read-only memory maps, or
    ``None`` when one of its files is not on this host."""
    files = csr_files(path)
    if not all(os.path.exists(f) for f in files):
        return None
    try:
        data, indices, indptr = (_mapped(f) for f in files)
    except (OSError, ValueError):
        return None
    n, d = (int(v) for v in np.load(_shape_file(path), allow_pickle=False))
    block = sp.csr_array((data, indices, indptr), shape=(n, d), copy=False)
    block.has_sorted_indices = True  # written from canonical chunks: no check, no copy
    return block


def _mapped(path: str) -> np.ndarray:
    """A ``.npy`` file memory-mapped; read plainly when it holds no element (an empty
    map is refused by ``mmap``)."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError:
        array = np.load(path, allow_pickle=False)
        if array.size:
            raise
        return array


def _shape_file(path: str) -> str:
    return path[: -len(CSR_SUFFIX)] + ".shape.npy"


def open_block(path: str) -> Any:
    """Memory-map a block read-only (an ndarray, or for a sparse block's name a CSR array,
    :func:`open_csr`), or ``None`` when the file is not on this host.

    A cached map is only reused while its file still exists (one ``stat``): a deleted file
    means the fit's blocks are gone here and must be rebuilt, not silently kept alive.
    """
    sparse = is_csr(path)
    if not (all(os.path.exists(f) for f in csr_files(path)) if sparse else os.path.exists(path)):
        _OPEN.pop(path, None)
        return None
    cached = _OPEN.get(path)
    if cached is not None:
        _OPEN.move_to_end(path)
        return cached
    try:
        array = open_csr(path) if sparse else np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return None
    if array is None:
        return None
    # A map keeps its file's disk space even after the file is deleted: drop the maps of
    # earlier fits (whose clean-up may have run in another worker process) when a new fit
    # starts here.
    here = os.path.dirname(path)
    for stale in [p for p in _OPEN if os.path.dirname(p) != here]:
        del _OPEN[stale]
    _OPEN[path] = array
    while len(_OPEN) > _MAX_OPEN:
        _OPEN.popitem(last=False)
    return array


def load_state(path: str) -> np.ndarray | None:
    """Read a small per-block state array fully into memory, or ``None`` if absent."""
    if not os.path.exists(path):
        return None
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None


def forget(prefix: str) -> None:
    """Drop cached maps whose path starts with ``prefix`` (before their files are removed)."""
    for key in [p for p in _OPEN if p.startswith(prefix)]:
        del _OPEN[key]


def remove_dir(path: str) -> bool:
    """Delete a fit's directory (and drop its cached maps); True if there was one."""
    forget(path)
    if not os.path.isdir(path):
        return False
    shutil.rmtree(path, ignore_errors=True)
    return True


def remove_fit(fit_id: str, root: str | None = None) -> bool:
    """Delete a fit's directory on this host; True if there was one."""
    return remove_dir(fit_dir(fit_id, root))
