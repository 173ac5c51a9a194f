"""What the driver knows of one resident block (:class:`BlockHandle`), declared once, and the
interface every pass over blocks uses (:class:`Blocks`).

The handle's fields are written here only: the load job's Arrow schema is derived from
them, and the load fills in what it found by name. Plain Python, numpy and pyarrow (no
Spark), so the load, the task plan and the in-process :class:`~kmeans_spark.localblocks.
LocalBlocks` are tested without a JVM.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np
import pyarrow as pa

from kmeans_spark import blockstore
from kmeans_spark.colstats import ColumnStats

T = TypeVar("T")


@dataclass(frozen=True)
class BlockHandle:
    """One partition's block: where its files are, what the load found in it (bad rows,
    dimensions, weights), its share of the first seeding sample, and its origin."""

    partition: int
    generation: int = 0
    x_path: str = ""  # "" when nothing was stored (empty or refused partition)
    # a CSR block (x_path names its files, see blockstore.save_csr), else a dense one
    sparse: bool = False
    nnz: int = 0  # stored entries of a CSR block
    w_path: str = ""  # "" when the rows are unweighted
    # the columns the load carried (InputStage.carry), the block's rows in its order, as one
    # Arrow IPC file; "" when none are carried or nothing was stored
    carry_path: str = ""
    rows: int = 0
    dim: int = 0
    dim_mismatch: int = 0  # rows whose length differs from the first row's
    weight_sum: float = 0.0
    bad_rows: int = 0  # rows with null, NaN or infinite features
    bad_row_index: int = -1  # the first of them, by position in the partition
    bad_row: tuple[float, ...] = ()  # its first 16 values (of a CSR block: stored values)
    bad_row_columns: tuple[float, ...] = ()  # of a CSR block: those values' columns
    bad_weights: int = 0  # null, negative, NaN or infinite weights
    bad_weight: float = 0.0  # the first of them
    zero_rows: int = 0  # zero vectors (cosine only: they have no direction)
    sample_keys: tuple[float, ...] = ()  # Efraimidis-Spirakis keys of the sampled rows
    # those rows, flattened; of a CSR block their stored values, whose columns and row
    # offsets are ``sample_indices`` and ``sample_indptr`` (see :meth:`sample_rows`)
    sample_points: tuple[float, ...] = ()
    sample_indices: tuple[float, ...] = ()
    sample_indptr: tuple[float, ...] = ()
    origin: tuple[float, ...] = ()  # the block is stored as points - origin (its mean)
    host: str = ""
    # with LoadSettings.drop_bad_rows: the bad rows left out (``rows`` counts the rest)
    dropped_rows: int = 0
    # with LoadSettings.drop_zero_rows (cosine): the zero vectors left out
    dropped_zero_rows: int = 0
    # with LoadSettings.column_stats: per feature, the non-finite values among all rows
    # read, and the statistics of the rows stored (see kmeans_spark.colstats)
    bad_per_column: tuple[float, ...] = ()
    stats_mean: tuple[float, ...] = ()
    stats_m2: tuple[float, ...] = ()
    stats_min: tuple[float, ...] = ()
    stats_max: tuple[float, ...] = ()

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> BlockHandle:
        """From a row of the load job (lists and nulls as Arrow gives them)."""
        fixed: dict[str, Any] = {
            f.name: tuple(values[f.name] or ()) if _is_tuple(f) else values[f.name]
            for f in dataclasses.fields(cls)
        }
        return cls(**fixed)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @property
    def origin_array(self) -> np.ndarray | None:
        return np.asarray(self.origin, dtype=np.float64) if self.origin else None

    @property
    def column_stats(self) -> ColumnStats:
        """The statistics of the stored rows (empty unless the load was asked for them)."""
        return ColumnStats.of_handle_fields(
            self.rows,
            self.stats_mean,
            self.stats_m2,
            self.stats_min,
            self.stats_max,
            self.dim,
        )

    def sample_rows(self) -> np.ndarray:
        """The load's sampled rows as a dense ``(m, dim)`` array (a few rows: fine dense)."""
        if not self.sparse:
            return np.asarray(self.sample_points, dtype=np.float64).reshape(-1, self.dim)
        indptr = np.asarray(self.sample_indptr, dtype=np.int64)
        out = np.zeros((max(indptr.size - 1, 0), self.dim))
        rows = np.repeat(np.arange(out.shape[0]), np.diff(indptr))
        out[rows, np.asarray(self.sample_indices, dtype=np.int64)] = self.sample_points
        return out

    def state_path(self, name: str) -> str:
        """A per-block state file beside the block (k-means|| distances, for example)."""
        stem = self.x_path.rsplit("-x", 1)[0]  # "-x.npy", or a CSR block's "-x.csr"
        return stem + f"-{name}.npy"


def _is_tuple(f: dataclasses.Field[Any]) -> bool:
    return str(f.type).startswith("tuple")


def _arrow_type(f: dataclasses.Field[Any]) -> pa.DataType:
    kind = str(f.type)
    if kind.startswith("tuple"):
        return pa.list_(pa.float64())
    return {"int": pa.int64(), "float": pa.float64(), "str": pa.string(), "bool": pa.bool_()}[kind]


#: The handle row the load job returns for each partition (Spark's schema is derived).
HANDLE_ARROW_SCHEMA = pa.schema([(f.name, _arrow_type(f)) for f in dataclasses.fields(BlockHandle)])


def carry_state(
    handle: BlockHandle,
    previous: str | None,
    current: str | None,
    compute: Callable[[np.ndarray | None], tuple[T, np.ndarray | None]],
) -> T:
    """Run one block's step that carries state from pass to pass in a file beside the block.

    ``compute`` gets the state the pass named ``previous`` left (``None`` when not asked
    for, absent or unreadable: it must then start afresh, and its result must not depend
    on which) and returns its result and the state to keep as ``current``. The previous
    file is removed afterwards, so a retry of this task finds none and starts afresh
    rather than reading a state that already includes this pass.
    """
    state = blockstore.load_state(handle.state_path(previous)) if previous else None
    result, new_state = compute(state)
    if current and new_state is not None:
        blockstore.save_array(handle.state_path(current), new_state)
    if previous and previous != current:
        with contextlib.suppress(OSError):
            os.unlink(handle.state_path(previous))
    return result


class Blocks(Protocol):
    """What seeding and Lloyd need of resident blocks: their handles, a way to ship a value
    to the coming passes, and one pass (``fn`` on every non-empty block, results merged in
    partition order). :class:`~kmeans_spark.blocks.ResidentBlocks` runs it on Spark (a
    classic session or Spark Connect),
    :class:`~kmeans_spark.localblocks.LocalBlocks` in-process."""

    handles: list[BlockHandle]

    def share(self, value: Any) -> contextlib.AbstractContextManager[Any]: ...

    def run(
        self,
        fn: Callable[[BlockHandle, np.ndarray, np.ndarray | None], T],
        merge: Callable[[T, T], T],
    ) -> T: ...
