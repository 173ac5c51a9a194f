"""Resident blocks through DataFrames only (prototype for issue #17: Spark Connect).

The same engine as :class:`~kmeans_spark.blocks.ResidentBlocks`, with nothing a Spark
Connect client lacks: no ``SparkContext``, no RDD, no broadcast. It implements the
:class:`~kmeans_spark.handle.Blocks` protocol, so :func:`kmeans_spark.lloyd.run_lloyd_runs`
and :mod:`kmeans_spark.seeding` run on it unchanged, in a classic session or under Connect.

* **Load**: one ``mapInArrow`` over the input; each task stores its partition with
  :func:`kmeans_spark.load.load_partition` (as ResidentBlocks' load does) and returns one
  handle row (:data:`~kmeans_spark.handle.HANDLE_ARROW_SCHEMA`). That DataFrame is cached
  (``persist``) and collected once: the driver's handles.
* **A pass**: one ``mapInArrow`` over the cached handles DataFrame. The pass's value (the
  centres, or lloyd's whole plan of the pass) rides in the function's closure
  (:meth:`FrameBlocks.share` is always inline); each task runs
  :func:`kmeans_spark.tasks.block_task` on its handles and returns one row, its pickled
  ``(missing partitions, per-block results)``; the driver collects them (Arrow) and merges
  in partition order (:func:`~kmeans_spark.tasks.merge_in_order`), so results do not
  depend on the task layout. When :func:`~kmeans_spark.tasks.plan_tasks` groups blocks
  (little work per block), the pass reads ``coalesce(groups)`` of the cached handles: a
  narrow dependency, so each task still reads cached partitions of its own executor.

Locality. A cached DataFrame is an ``InMemoryRelation`` whose batches live in the block
manager of the executor that computed each partition, which is the executor whose load
task wrote that partition's block file. A later plan over it scans the cached RDD through
narrow dependencies only, so the scheduler gets the cached blocks' executors as preferred
locations (``DAGScheduler.getCacheLocs``) and runs each task there, PROCESS_LOCAL: the
same mechanism as ResidentBlocks' cached RDD of handles. With a local master it holds
trivially (one executor). As with the RDD, a task can still run elsewhere after
``spark.locality.wait`` (busy executor); then it does not find its file (below).

Missing block files. A task that does not find a block reports its partition instead of
failing; :meth:`FrameBlocks.run` reloads every block from the input (a new generation,
another ``mapInArrow`` over the input, cached anew; the old cache is dropped) and repeats
the pass, up to ``tuning.max_rebuilds`` times. State files kept beside blocks (Hamerly
bounds, k-means|| distances) are absent in the new generation; their steps start afresh,
which does not change results. If an executor is lost, its cached handle partitions are
recomputed by the DataFrame's lineage, i.e. the load task runs again and writes fresh
files, as with the RDD.

Large values. Under Connect the closure travels in the plan (gRPC, 128 MiB per message by
default, ``spark.connect.grpc.maxInboundMessageSize``) and then in the stage's task binary,
which Spark broadcasts per stage anyway; in a classic session PySpark broadcasts a Python
function over 1 MiB itself (``spark.broadcast.UDFCompressionThreshold``). So inline works
for any k x d that fits a task (:func:`kmeans_spark.blocks.check_centers_memory`); beyond
tens of MiB a path every executor can read would be cheaper than one copy per pass.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import socket
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql.pandas.types import from_arrow_schema
from pyspark.sql.types import BinaryType, StructField, StructType

from kmeans_spark import blockstore
from kmeans_spark.blocks import load_task
from kmeans_spark.handle import HANDLE_ARROW_SCHEMA, BlockHandle
from kmeans_spark.load import LoadSettings
from kmeans_spark.session import local_master_cores
from kmeans_spark.tasks import (
    ROW_WORK,
    Inline,
    TaskResult,
    block_task,
    plan_tasks,
    run_with_rebuilds,
)
from kmeans_spark.tuning import DEFAULT_TUNING, Tuning

log = logging.getLogger(__name__)

T = TypeVar("T")

#: One row per task of a pass: its pickled :data:`~kmeans_spark.tasks.TaskResult`.
RESULT_ARROW_SCHEMA = pa.schema([("result", pa.binary())])
RESULT_SCHEMA = StructType([StructField("result", BinaryType(), nullable=False)])


def _conf(df: DataFrame, key: str) -> str | None:
    """A setting of the session (the server's, under Connect), or None if unset or hidden."""
    try:
        return df.sparkSession.conf.get(key, None)
    except Exception:  # a static setting a Connect server does not expose
        return None


def session_cores(df: DataFrame) -> int:
    """Cores one executor may use, read from the session's settings alone (no
    ``SparkContext``): N for ``local[N]``, else ``spark.executor.cores``, else 1."""
    spec = local_master_cores(_conf(df, "spark.master") or "")
    if spec is not None and spec != "*":
        return max(1, int(spec))
    if spec == "*":
        return max(1, os.cpu_count() or 1)  # the server is on this host only in local mode
    try:
        return max(1, int(_conf(df, "spark.executor.cores") or 1))
    except ValueError:
        return 1


def _handles_of(batches: Iterator[pa.RecordBatch]) -> Iterator[BlockHandle]:
    for batch in batches:
        for row in batch.to_pylist():
            yield BlockHandle.from_dict(row)


class FrameBlocks:
    """The fit's input as executor-local numpy blocks with a cached DataFrame of handles,
    and one-``mapInArrow`` passes over them. A context manager: the files and the cache
    are removed on exit, also when the fit fails."""

    def __init__(
        self,
        features: DataFrame,
        settings: LoadSettings,
        *,
        k: int = 1,
        validate: Callable[[list[BlockHandle]], object] | None = None,
        tuning: Tuning = DEFAULT_TUNING,
    ) -> None:
        """As :class:`~kmeans_spark.blocks.ResidentBlocks`: ``features`` has the load's
        columns (:func:`kmeans_spark.dataset.prepare`); ``k`` sizes a pass's work, which
        decides how many tasks run it; ``validate`` checks a rebuild's handles."""
        self._features = features
        self._settings = settings
        self._k = k
        self._validate = validate
        self._tuning = tuning
        self._frame: DataFrame | None = None
        self._pass_frame: DataFrame | None = None
        self._threads = 1
        self._grouping = True
        self.fit_id = uuid.uuid4().hex
        self.generation = -1
        self.handles: list[BlockHandle] = []
        self.rebuilds = 0
        self.passes = 0

    def load(self) -> list[BlockHandle]:
        """Run the load job (one pass over the input) and cache the handles DataFrame."""
        self.generation += 1
        fit_id, generation, settings = self.fit_id, self.generation, self._settings

        self._uncache()
        frame = self._features.mapInArrow(
            load_task(fit_id, generation, settings), from_arrow_schema(HANDLE_ARROW_SCHEMA)
        )
        frame = frame.persist(StorageLevel.MEMORY_ONLY)
        self._frame = frame
        rows = frame.toArrow().to_pylist()
        self.handles = sorted((BlockHandle.from_dict(r) for r in rows), key=lambda h: h.partition)
        self._plan()
        return self.handles

    def _plan(self) -> None:
        """Which DataFrame a pass reads (the cached handles, or ``coalesce`` of them when
        :func:`plan_tasks` groups blocks) and how many threads its tasks use."""
        assert self._frame is not None
        self._pass_frame, self._threads = self._frame, 1
        if not self._grouping:
            return
        width = max((h.dim for h in self.handles if h.rows), default=0)
        groups = plan_tasks(self.handles, width * self._k + ROW_WORK, self._tuning.min_task_work)
        if groups is None:
            return
        # coalesce keeps its own grouping (by executor, then in order), not plan_tasks'
        # blocks: only the number of tasks is taken; results are merged by partition anyway
        self._pass_frame = self._frame.coalesce(len(groups))
        cores = session_cores(self._features)
        self._threads = max(1, min(max(len(g) for g in groups), cores // len(groups)))
        log.info(
            "%d blocks run as %d tasks of up to %d threads (little work per block)",
            sum(len(g) for g in groups),
            len(groups),
            self._threads,
        )

    @property
    def threads(self) -> int:
        """How many threads a task of a pass uses at most."""
        return self._threads

    def share(self, value: Any) -> contextlib.AbstractContextManager[Any]:
        """``value`` for the coming passes' tasks, as ``.value``: always in the closure
        (see the module docstring, "Large values")."""
        return contextlib.nullcontext(Inline(value))

    def _collect_pass(
        self, fn: Callable[[BlockHandle, np.ndarray, np.ndarray | None], T]
    ) -> tuple[list[int], list[tuple[int, T]]]:
        assert self._pass_frame is not None, "load() first"
        task = block_task(fn, self._threads)

        def run_task(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            for done in task(_handles_of(batches)):
                blob = pickle.dumps(done, protocol=pickle.HIGHEST_PROTOCOL)
                yield pa.RecordBatch.from_arrays([pa.array([blob], pa.binary())], ["result"])

        table = self._pass_frame.mapInArrow(run_task, RESULT_SCHEMA).toArrow()
        missing: list[int] = []
        results: list[tuple[int, T]] = []
        for blob in table.column("result").to_pylist():
            done: TaskResult = pickle.loads(blob)  # written by our own tasks above
            missing.extend(done[0])
            results.extend(done[1])
        return missing, results

    def run(
        self,
        fn: Callable[[BlockHandle, np.ndarray, np.ndarray | None], T],
        merge: Callable[[T, T], T],
    ) -> T:
        """One pass: ``fn`` on every non-empty block, merged in partition order; one Spark
        job. Missing block files trigger a reload from the input and a repeat of the pass."""

        def collect() -> tuple[list[int], list[tuple[int, T]]]:
            self.passes += 1
            return self._collect_pass(fn)

        return run_with_rebuilds(collect, merge, self._rebuild, self._tuning.max_rebuilds)

    def _rebuild(self) -> None:
        """The blocks reloaded from the input, each task then reading only its own block."""
        self.rebuilds += 1
        self._grouping = False
        handles = self.load()
        if self._validate is not None:
            self._validate(handles)

    def _uncache(self) -> None:
        if self._frame is not None:
            with contextlib.suppress(Exception):
                self._frame.unpersist(blocking=False)
        self._frame = self._pass_frame = None

    def close(self) -> None:
        """Remove the block files and uncache the handles.

        When every block is on this host (a local master, or a local Connect server) the
        driver removes the directories itself; otherwise one job over the cached handles
        does, on each executor that holds some."""
        if self._frame is None:
            return
        try:
            stored = [h for h in self.handles if h.x_path]
            if all(h.host == socket.gethostname() for h in stored):
                for directory in {os.path.dirname(h.x_path) for h in stored}:
                    blockstore.remove_dir(directory)
            else:
                fit_id = self.fit_id

                def cleanup(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
                    for _ in batches:
                        pass
                    blockstore.remove_fit(fit_id)
                    yield pa.RecordBatch.from_arrays([pa.array([b""], pa.binary())], ["result"])

                self._frame.mapInArrow(cleanup, RESULT_SCHEMA).toArrow()
        except Exception as exc:  # cleanup must never hide the fit's own error
            log.warning("could not remove block files of fit %s: %s", self.fit_id, exc)
        finally:
            self._uncache()

    def __enter__(self) -> FrameBlocks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
