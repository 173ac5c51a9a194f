"""Resident blocks in this process, without Spark: the same load, task plan and task body
as :class:`~kmeans_spark.blocks.ResidentBlocks`, run on the driver.

Seeding and Lloyd depend only on the :class:`~kmeans_spark.handle.Blocks` interface, so
their logic is unit-tested through this class in milliseconds, with no JVM; a Spark test
then only has to show that :class:`ResidentBlocks` behaves the same.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from kmeans_spark import blockstore
from kmeans_spark.arrow import VECTOR_SPARSE
from kmeans_spark.handle import BlockHandle
from kmeans_spark.load import (
    FEATURES,
    WEIGHT,
    Affine,
    LoadSettings,
    load_partition,
    transform_block,
)
from kmeans_spark.tasks import ROW_WORK, Inline, block_task, merge_in_order, plan_tasks
from kmeans_spark.tuning import DEFAULT_TUNING, Tuning

T = TypeVar("T")


def rows_batch(x: np.ndarray, weights: np.ndarray | None = None) -> pa.RecordBatch:
    """``(n, d)`` rows (and weights) as the load job receives them: a ``list<double>``
    feature column (and a ``double`` weight column)."""
    x = np.asarray(x, dtype=np.float64)
    n, d = x.shape
    offsets = pa.array(
        np.arange(0, n * d + 1, d, dtype=np.int32) if d else np.zeros(n + 1, np.int32)
    )
    columns = [pa.ListArray.from_arrays(offsets, pa.array(x.ravel()))]
    names = [FEATURES]
    if weights is not None:
        columns.append(pa.array(np.asarray(weights, dtype=np.float64)))
        names.append(WEIGHT)
    return pa.RecordBatch.from_arrays(columns, names=names)


def sparse_rows_batch(x: Any, weights: np.ndarray | None = None) -> pa.RecordBatch:
    """CSR rows (and weights) as the load job receives a ``SparseVector`` column: Spark's
    ``VectorUDT`` struct ``{type: 0, size, indices, values}``, built from the CSR buffers
    (no per-row Python), so the load stores them by its density rule (CSR when sparse)."""
    x = sp.csr_array(x)
    x.sort_indices()
    n, d = x.shape
    offsets = pa.array(np.asarray(x.indptr, dtype=np.int32))
    element = pa.list_(pa.field("element", pa.int32(), nullable=False))
    values_type = pa.list_(pa.field("element", pa.float64(), nullable=False))
    vectors = pa.StructArray.from_arrays(
        [
            pa.array(np.full(n, VECTOR_SPARSE, dtype=np.int8)),
            pa.array(np.full(n, d, dtype=np.int32)),
            pa.ListArray.from_arrays(offsets, pa.array(x.indices.astype(np.int32)), type=element),
            pa.ListArray.from_arrays(
                offsets, pa.array(np.asarray(x.data, dtype=np.float64)), type=values_type
            ),
        ],
        fields=[
            pa.field("type", pa.int8(), nullable=False),
            pa.field("size", pa.int32()),
            pa.field("indices", element),
            pa.field("values", values_type),
        ],
    )
    columns: list[pa.Array] = [vectors]
    names = [FEATURES]
    if weights is not None:
        columns.append(pa.array(np.asarray(weights, dtype=np.float64)))
        names.append(WEIGHT)
    return pa.RecordBatch.from_arrays(columns, names=names)


class LocalBlocks:
    """One block per array of ``parts``, stored under ``SPARK_LOCAL_DIRS`` (or the temp
    dir) like an executor's; a context manager that removes its files on exit. A
    ``scipy.sparse`` part arrives as a ``SparseVector`` column does (:func:`sparse_rows_batch`),
    so the load stores it as a CSR block (or dense, by its density rule)."""

    def __init__(
        self,
        parts: Sequence[Any],
        settings: LoadSettings,
        *,
        weights: Sequence[np.ndarray] | None = None,
        k: int = 1,
        tuning: Tuning = DEFAULT_TUNING,
    ) -> None:
        self.fit_id = uuid.uuid4().hex
        self.settings = settings
        self.generation = 0
        self.handles: list[BlockHandle] = [
            load_partition(
                [
                    (sparse_rows_batch if sp.issparse(x) else rows_batch)(
                        x, None if weights is None else weights[p]
                    )
                ],
                partition=p,
                fit_id=self.fit_id,
                generation=0,
                settings=settings,
            )
            for p, x in enumerate(parts)
        ]
        self._k, self._tuning = k, tuning
        self._plan()
        self.passes = 0

    def _plan(self) -> None:
        dim = max((h.dim for h in self.handles), default=0)
        work = dim * self._k + ROW_WORK
        self.groups = plan_tasks(self.handles, work, self._tuning.min_task_work) or [
            [h] for h in self.handles
        ]

    def transform(self, affine: Affine, *, spherical: bool) -> list[BlockHandle]:
        """As :meth:`kmeans_spark.blocks.ResidentBlocks.transform`, in this process."""
        self.settings = replace(self.settings, affine=affine, spherical=spherical)
        self.generation += 1
        self.handles = [
            transform_block(
                h, fit_id=self.fit_id, generation=self.generation, settings=self.settings
            )
            for h in self.handles
        ]
        self._plan()
        return self.handles

    def share(self, value: Any) -> contextlib.AbstractContextManager[Any]:
        return contextlib.nullcontext(Inline(value))

    def run(
        self,
        fn: Callable[[BlockHandle, np.ndarray, np.ndarray | None], T],
        merge: Callable[[T, T], T],
    ) -> T:
        """One pass, task by task as Spark would run them (one thread per task)."""
        self.passes += 1
        results: list[tuple[int, Any]] = []
        for group in self.groups:
            for missing, done in block_task(fn)(iter(group)):
                if missing:
                    raise RuntimeError(f"block files of partitions {list(missing)} are missing")
                results.extend(done)
        return merge_in_order(results, merge)

    def close(self) -> None:
        blockstore.remove_fit(self.fit_id)

    def __enter__(self) -> LocalBlocks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
