"""The DataFrame transport of resident blocks (:class:`FrameTransport`): how the engine
(:class:`kmeans_spark.blocks.ResidentBlocks`) reaches its blocks with nothing a Spark
Connect client lacks: no ``SparkContext``, no RDD, no broadcast.

* **Load**: one ``mapInArrow`` over the input, each task storing its partition and
  returning one handle row (:data:`~kmeans_spark.handle.HANDLE_ARROW_SCHEMA`); that
  DataFrame is cached (``persist``) and collected once: the driver's handles.
* **A pass**: one ``mapInArrow`` over the cached handles. The pass's value (the centres, or
  Lloyd's whole plan of the pass) rides in the function's closure (:meth:`FrameTransport.
  share` is inline whatever the size); each task runs :func:`kmeans_spark.tasks.block_task`
  on its handles and returns one row, its pickled ``(missing partitions, per-block
  results)``; the engine merges them in partition order. When blocks are grouped (little
  work per block), the pass reads ``coalesce(groups)`` of the cached handles: a narrow
  dependency, so each task still reads cached partitions of its own executor.

Locality. A cached DataFrame is an ``InMemoryRelation`` whose batches live in the block
manager of the executor that computed each partition, which is the executor whose load
task wrote that partition's block file. A later plan over it scans the cached RDD through
narrow dependencies only, so the scheduler gets the cached blocks' executors as preferred
locations (``DAGScheduler.getCacheLocs``) and runs each task there, PROCESS_LOCAL: the same
mechanism as the RDD transport's cached RDD (``tests/spark/test_transports.py`` checks
it). A task can still run elsewhere after ``spark.locality.wait``; then it does not find its
file and the engine rebuilds the blocks. If an executor is lost, its cached handle
partitions are recomputed by the DataFrame's lineage: the load task runs again and writes
fresh files.

Large values. Under Connect the closure travels in the plan (gRPC, 128 MiB per message by
default, ``spark.connect.grpc.maxInboundMessageSize``) and then in the stage's task binary,
which Spark broadcasts per stage anyway; in a classic session PySpark broadcasts a Python
function over 1 MiB itself (``spark.broadcast.UDFCompressionThreshold``). So inline works
for any k x d that fits a task (:func:`kmeans_spark.blocks.check_centers_memory`).

Settings are read with ``spark.conf.get`` (under Connect: the server's session, which has
its ``SparkConf``); the default parallelism, which Connect does not expose, from
``spark.default.parallelism`` or the master, else from the partitions of ``spark.range``
(one small job).
"""

from __future__ import annotations

import contextlib
import pickle
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.pandas.types import from_arrow_schema
from pyspark.sql.types import BinaryType, StructField, StructType

from kmeans_spark import blockstore
from kmeans_spark.handle import HANDLE_ARROW_SCHEMA, BlockHandle
from kmeans_spark.session import session_parallelism, setting
from kmeans_spark.tasks import Inline, TaskResult

#: One row per task of a pass (or of a clean-up job): its pickled result.
RESULT_SCHEMA = StructType([StructField("result", BinaryType(), nullable=False)])


def _result_batch(value: Any) -> pa.RecordBatch:
    blob = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return pa.RecordBatch.from_arrays([pa.array([blob], pa.binary())], ["result"])


def _handles_of(batches: Iterator[pa.RecordBatch]) -> Iterator[BlockHandle]:
    for batch in batches:
        for row in batch.to_pylist():
            yield BlockHandle.from_dict(row)


def _remove_fit_task(
    fit_id: str,
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """A task that removes the fit's block directory of the executor it runs on."""

    def cleanup(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for _ in batches:
            pass
        blockstore.remove_fit(fit_id)
        yield _result_batch(None)

    return cleanup


class FrameTransport:
    """Cached DataFrame of handles, ``mapInArrow`` passes, values inline: any session's,
    and the only one Spark Connect can run."""

    name = "dataframe"

    def __init__(self, spark: SparkSession) -> None:
        self._spark = spark
        self._frame: DataFrame | None = None  # the cached handles
        self._pass_frame: DataFrame | None = None  # what a pass reads (coalesced if grouped)
        self._parallelism: int | None = None

    @property
    def master(self) -> str:
        return setting(self._spark, "spark.master") or ""

    def setting(self, key: str) -> str | None:
        return setting(self._spark, key)

    def default_parallelism(self) -> int:
        if self._parallelism is None:
            self._parallelism = session_parallelism(self._spark)
        return self._parallelism

    def partitions(self, df: DataFrame) -> int | None:
        """Unknown: a DataFrame's partition count is only reachable through its RDD."""
        return None

    def load(
        self,
        features: DataFrame,
        task: Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]],
        name: str,
    ) -> list[BlockHandle]:
        self.uncache()
        schema = from_arrow_schema(HANDLE_ARROW_SCHEMA)
        frame = features.mapInArrow(task, schema).persist(StorageLevel.MEMORY_ONLY)
        self._frame = self._pass_frame = frame  # before the job: a failed load has a cache
        return list(_handles_of(iter(frame.toArrow().to_batches())))

    def rewrite(self, fn: Callable[[BlockHandle], BlockHandle], name: str) -> list[BlockHandle]:
        assert self._frame is not None, "load() first"

        def rewrite(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            rows = [fn(h).to_dict() for h in _handles_of(batches)]
            yield pa.RecordBatch.from_pylist(rows, schema=HANDLE_ARROW_SCHEMA)

        schema = from_arrow_schema(HANDLE_ARROW_SCHEMA)
        frame = self._frame.mapInArrow(rewrite, schema).persist(StorageLevel.MEMORY_ONLY)
        try:
            handles = list(_handles_of(iter(frame.toArrow().to_batches())))
        except BaseException:  # the failed rewrite's cache is not kept (on the server)
            with contextlib.suppress(Exception):
                frame.unpersist(blocking=False)
            raise
        old, self._frame, self._pass_frame = self._frame, frame, frame
        with contextlib.suppress(Exception):  # loaded already: the new cache stays
            old.unpersist(blocking=False)
        return handles

    def group(self, groups: list[list[BlockHandle]] | None) -> None:
        assert self._frame is not None, "load() first"
        # coalesce keeps its own grouping (by executor, then in order), not plan_tasks':
        # only the number of tasks is taken; results are merged by partition anyway
        self._pass_frame = self._frame if groups is None else self._frame.coalesce(len(groups))

    def share(self, value: Any) -> contextlib.AbstractContextManager[Any]:
        """Inline whatever the size (see the module's docstring, "Large values")."""
        return contextlib.nullcontext(Inline(value))

    def run(
        self, task: Callable[[Iterator[BlockHandle]], Iterator[TaskResult]]
    ) -> list[TaskResult]:
        assert self._pass_frame is not None, "load() first"

        def run_task(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            for done in task(_handles_of(batches)):
                yield _result_batch(done)

        table = self._pass_frame.mapInArrow(run_task, RESULT_SCHEMA).toArrow()
        # written by our own tasks above
        return [pickle.loads(blob) for blob in table.column("result").to_pylist()]

    def handles_frame(self) -> DataFrame:
        assert self._frame is not None, "load() first"
        return self._frame

    def remove_everywhere(self, fit_id: str) -> None:
        tasks = self.default_parallelism()
        jobs = self._spark.range(0, tasks, 1, tasks)
        jobs.mapInArrow(_remove_fit_task(fit_id), RESULT_SCHEMA).toArrow()

    def remove_where_cached(self, fit_id: str) -> None:
        assert self._frame is not None, "load() first"
        self._frame.mapInArrow(_remove_fit_task(fit_id), RESULT_SCHEMA).toArrow()

    def uncache(self) -> None:
        if self._frame is not None:
            with contextlib.suppress(Exception):
                self._frame.unpersist(blocking=False)
        self._frame = self._pass_frame = None
