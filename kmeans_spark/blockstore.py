"""Executor-local storage of resident blocks: one ``.npy`` file per partition, memory-mapped.

Why files: a cached RDD of numpy blocks travels from the JVM to the Python worker on every
iteration, and that copy, not the arithmetic, dominates a Lloyd step. A block written once to
the executor's local directory and opened with ``mmap`` is shared through the page cache by
every Python worker of that host, costs nothing to reopen, and survives worker restarts.

This module is plain Python and numpy (no Spark), so it runs in the worker and is testable
without a JVM. Files of one fit live under ``<local dir>/kmeans_spark/<fit id>/``; they are
removed when the fit ends. A file that is missing where a task runs (executor lost, or the
task scheduled on another host) is reported by :func:`open_block` returning ``None``; the
Spark side then rebuilds the blocks from the input.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections import OrderedDict
from collections.abc import Iterable

import numpy as np
from numpy.lib.format import dtype_to_descr, write_array_header_1_0
from numpy.typing import NDArray

#: Opened memory maps, kept per worker process so a reused worker does not reopen them.
_OPEN: OrderedDict[str, np.ndarray] = OrderedDict()
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


def block_path(fit_id: str, generation: int, partition: int, kind: str = "x") -> str:
    """Path of one partition's array; ``generation`` changes when blocks are rebuilt."""
    return os.path.join(fit_dir(fit_id), f"g{generation}-p{partition:05d}-{kind}.npy")


def save_array(path: str, array: np.ndarray) -> None:
    """Write atomically (temp file + rename): a reader never sees half a file, and a retried
    task that writes the same path again simply replaces it."""
    save_rows(path, array.shape, array.dtype, [array])


def save_rows(
    path: str, shape: tuple[int, ...], dtype: np.dtype, parts: Iterable[np.ndarray]
) -> None:
    """Write a ``.npy`` file of ``shape`` and ``dtype`` from consecutive chunks of its
    first axis, atomically as :func:`save_array`, without ever holding the whole array."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    header = {"descr": dtype_to_descr(dtype), "fortran_order": False, "shape": tuple(shape)}
    try:
        with os.fdopen(fd, "wb") as fh:
            write_array_header_1_0(fh, header)
            rows = 0
            for part in parts:
                fh.write(np.ascontiguousarray(part, dtype=dtype).data)
                rows += part.shape[0] if part.ndim else 1
        if rows != (shape[0] if shape else 1):
            raise ValueError(f"wrote {rows} rows of {shape[0]} to {path}")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def open_block(path: str) -> NDArray[np.floating] | None:
    """Memory-map a block read-only, or ``None`` when the file is not on this host.

    A cached map is only reused while its file still exists (one ``stat``): a deleted file
    means the fit's blocks are gone here and must be rebuilt, not silently kept alive.
    """
    if not os.path.exists(path):
        _OPEN.pop(path, None)
        return None
    cached = _OPEN.get(path)
    if cached is not None:
        _OPEN.move_to_end(path)
        return cached
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
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
