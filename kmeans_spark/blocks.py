"""Resident blocks on Spark: load the input once into executor-local numpy files, then run
every pass of the fit as one small job over an RDD of block handles.

The data path, and why:

* **Load job** (one pass over the input): each partition's feature rows arrive as Arrow
  batches (``mapInArrow``, no per-row Python), become one contiguous ``(n, d)`` block,
  are validated (non-finite values, dimensions, weights), written once to the executor's
  local directory, and summarised in a tiny :class:`~kmeans_spark.handle.BlockHandle`
  (:func:`kmeans_spark.load.load_partition`). The same pass draws each
  partition's weighted sample for the first k-means|| centre (or for random init), so
  seeding spends no pass on it.
* The RDD of handles is cached. A cached partition lives in the block manager of the
  executor that computed it, so every later task on that partition is scheduled where its
  file is, and opens it with ``mmap`` (see :mod:`kmeans_spark.blockstore`).
* **Each pass is exactly one Spark job**: ``mapPartitions`` over the handles; each task
  returns one small result per block, and the driver merges them in partition order
  (deterministic whatever the task layout; no shuffle; no accumulators, so a retried task
  is never counted twice).
* **Few tasks when there is little work**: a Python task costs tens of milliseconds
  whatever it does, so when every block sits on one host and a block's pass is shorter
  than that, one task does several blocks (:func:`kmeans_spark.tasks.plan_tasks`). A
  task can open every block file of its own host.
* A task whose file is missing (its executor was lost, or it ran elsewhere after the
  locality wait) reports the partition instead of failing; :meth:`ResidentBlocks.run`
  rebuilds the blocks from the input and repeats the pass. If an executor dies, its cached
  handles are recomputed from the input by Spark's lineage, which writes fresh files.
* **Assignments from the blocks** (:class:`FittedBlocks`): the rows of the fit labelled
  with its final centres where they lie, with the columns the load carried beside each
  block (the batch job's ids), as a DataFrame: one ``mapInArrow`` over the cached handles,
  so the job writes its assignments without a second read of the input.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from pyspark import StorageLevel, TaskContext
from pyspark.rdd import RDD
from pyspark.sql import DataFrame
from pyspark.sql.pandas.types import from_arrow_schema
from pyspark.sql.types import DoubleType, IntegerType, StructField, StructType

from kmeans_spark import blockstore
from kmeans_spark.errors import KMeansInputError
from kmeans_spark.handle import HANDLE_ARROW_SCHEMA, BlockHandle
from kmeans_spark.load import Affine, LoadSettings, carry_column, load_partition, transform_block
from kmeans_spark.scoring import MISSING_BLOCK, Scorer, label_block
from kmeans_spark.session import local_master_cores
from kmeans_spark.tasks import ROW_WORK, Inline, block_task, plan_tasks, run_with_rebuilds
from kmeans_spark.tuning import DEFAULT_TUNING, Tuning

log = logging.getLogger(__name__)

T = TypeVar("T")


def executor_cores(master: str, executor_cores_conf: str | None, default_parallelism: int) -> int:
    """Cores one executor may use: N for ``local[N]``, Spark's own count for ``local[*]``
    (its default parallelism, container-aware), else ``spark.executor.cores`` when set,
    else 1 (unknown: use no extra threads)."""
    spec = local_master_cores(master)
    if spec is not None:
        return max(1, default_parallelism) if spec == "*" else max(1, int(spec))
    try:
        return max(1, int(executor_cores_conf or 1))
    except ValueError:
        return 1


#: Dense ``k x d`` float64 copies of the centres one task holds in a pass: the shipped
#: centres, the transposed ``-2 C^T`` of the distance product, and the pickled bytes they
#: arrive as (the per-block sums of a CSR block are sparse: bounded by its non-zeros).
CENTER_COPIES = 3
#: Spark's minimum memory overhead of an executor (where YARN and Kubernetes count the
#: Python workers' memory), and its share of the executor memory.
_MIN_OVERHEAD, _OVERHEAD_FACTOR = 384 << 20, 0.10


def memory_bytes(value: str, default_unit: str = "m") -> int:
    """A Spark memory setting (``"4g"``, ``"512m"``, ``"1024"``: MiB) in bytes."""
    text = value.strip().lower().removesuffix("b")
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
    unit = text[-1] if text and text[-1] in units else default_unit
    number = text[:-1] if text and text[-1] in units else text
    return int(float(number) * units[unit])


def task_memory(conf: dict[str, str], master: str, cores: int) -> tuple[int, str]:
    """Memory one task's Python worker may use, and the setting it comes from: the
    executor's Python memory (``spark.executor.pyspark.memory``) when set; with a local
    master the driver's memory (every worker runs on its machine); else the executor's
    memory overhead (explicit, or Spark's ``max(384 MiB, 10%`` of ``spark.executor.memory)``),
    which is where YARN and Kubernetes count the Python workers. Divided among the
    ``cores`` tasks an executor runs at once."""
    if "spark.executor.pyspark.memory" in conf:
        total = memory_bytes(conf["spark.executor.pyspark.memory"])
        source = f"spark.executor.pyspark.memory={conf['spark.executor.pyspark.memory']}"
    elif local_master_cores(master) is not None:
        setting = conf.get("spark.driver.memory", "1g")
        total, source = memory_bytes(setting), f"spark.driver.memory={setting}"
    elif "spark.executor.memoryOverhead" in conf:
        setting = conf["spark.executor.memoryOverhead"]
        total, source = memory_bytes(setting), f"spark.executor.memoryOverhead={setting}"
    else:
        executor = memory_bytes(conf.get("spark.executor.memory", "1g"))
        total = max(_MIN_OVERHEAD, int(_OVERHEAD_FACTOR * executor))
        source = "the executor's memory overhead (10% of spark.executor.memory, >= 384m)"
    return total // max(cores, 1), f"{source} shared by {cores} concurrent tasks"


def check_centers_memory(k: int, dim: int, memory: int, source: str) -> None:
    """Refuse, before any centre exists, a fit whose dense ``k x dim`` centres would not
    fit a task: :data:`CENTER_COPIES` float64 copies against ``memory`` bytes
    (:func:`task_memory`). ``k`` counts every centre a pass holds (all restarts, all k of a
    sweep)."""
    need = k * dim * 8 * CENTER_COPIES
    if need > memory:
        raise KMeansInputError(
            f"k x features = {k} x {dim} dense centres need {need / 2**20:,.0f} MiB per task "
            f"({CENTER_COPIES} float64 copies), more than its {memory / 2**20:,.0f} MiB "
            f"({source}); lower k (or nInit, or the sweep's largest k), use fewer features "
            "(e.g. HashingTF's numFeatures), or give the executors more memory."
        )


def row_width(handles: Sequence[BlockHandle]) -> float:
    """The most values a row of the blocks holds: its features, or for a CSR block its
    stored entries on average (what a pass's work per row and centre is proportional to)."""
    return max(
        (h.nnz / h.rows if h.sparse and h.rows else h.dim for h in handles if h.rows),
        default=0,
    )


def _nbytes(value: Any) -> int:
    """What ``value`` weighs shipped to the tasks (an array, a CSR array, or a value with
    an ``nbytes``)."""
    if sp.issparse(value):
        return int(value.data.nbytes + value.indices.nbytes + value.indptr.nbytes)
    return int(getattr(value, "nbytes", 0))


def _cleanup_task(fit_id: str) -> Callable[[Iterable[Any]], None]:
    def cleanup(handles: Iterable[Any]) -> None:
        for _ in handles:
            pass
        blockstore.remove_fit(fit_id)

    return cleanup


def load_task(
    fit_id: str, generation: int, settings: LoadSettings
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The load job's ``mapInArrow`` function (both engines': this RDD one and
    :class:`kmeans_spark.frameblocks.FrameBlocks`): each partition's rows validated and
    stored as a block where the task runs, one handle row out."""

    def load(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        partition = TaskContext.get().partitionId()  # type: ignore[union-attr]
        handle = load_partition(
            batches, partition=partition, fit_id=fit_id, generation=generation, settings=settings
        )
        yield pa.RecordBatch.from_pylist([handle.to_dict()], schema=HANDLE_ARROW_SCHEMA)

    return load


class ResidentBlocks:
    """The fit's input as executor-local numpy blocks, and the means to run a pass over them.

    Use as a context manager: files and the cached handles are removed on exit, also when
    the fit fails.
    """

    def __init__(
        self,
        features: DataFrame,
        settings: LoadSettings,
        *,
        k: int = 1,
        validate: Callable[[list[BlockHandle]], object] | None = None,
        tuning: Tuning = DEFAULT_TUNING,
        carry: Sequence[str] = (),
    ) -> None:
        """``validate`` checks the handles of a rebuild, as the caller checked the first
        load's (a bad row that appeared since must fail with its own message). ``k`` sizes
        the work of a pass, which decides how many tasks run it (:func:`plan_tasks`).
        ``carry`` names the columns ``features`` carries (:func:`~kmeans_spark.load.
        carry_column` ``(i)`` is ``carry[i]``), as :meth:`assignments` names them."""
        self._features = features
        self._carry = tuple(carry)
        self._settings = settings
        self._k = k
        self._validate = validate
        self._tuning = tuning
        self._groups: RDD[BlockHandle] | None = None
        self._threads = 1
        self._grouping = True
        self.fit_id = uuid.uuid4().hex
        self.generation = -1
        self.handles: list[BlockHandle] = []
        self.rebuilds = 0
        self._rdd: RDD[BlockHandle] | None = None
        self._loaded = False

    def load(self) -> list[BlockHandle]:
        """Run the load job (one pass over the input) and cache the handles."""
        self.generation += 1
        fit_id, generation, settings = self.fit_id, self.generation, self._settings

        if self._rdd is not None:
            self._rdd.unpersist(blocking=False)
        loaded = self._features.mapInArrow(
            load_task(fit_id, generation, settings), from_arrow_schema(HANDLE_ARROW_SCHEMA)
        )
        rdd = loaded.rdd.map(lambda row: BlockHandle.from_dict(row.asDict())).persist(
            StorageLevel.MEMORY_ONLY
        )
        rdd.setName(f"kmeans_spark blocks {fit_id[:8]} g{generation}")
        self._rdd = rdd
        self._loaded = False
        self.handles = sorted(rdd.collect(), key=lambda h: h.partition)
        self._loaded = True
        self._plan()
        return self.handles

    def transform(self, affine: Affine, *, spherical: bool) -> list[BlockHandle]:
        """Rewrite every block as ``(x - offset) / scale`` (unit rows if ``spherical``) where
        it lies: one job over the cached handles, no read of the input
        (:func:`kmeans_spark.load.transform_block`). Later rebuilds load with the scaling
        applied. Returns the new handles."""
        assert self._rdd is not None, "load() first"
        settings = replace(self._settings, affine=affine, spherical=spherical)
        self.generation += 1
        fit_id, generation = self.fit_id, self.generation

        def rewrite(h: BlockHandle) -> BlockHandle:
            return transform_block(h, fit_id=fit_id, generation=generation, settings=settings)

        rdd = self._rdd.map(rewrite).persist(StorageLevel.MEMORY_ONLY)
        rdd.setName(f"kmeans_spark blocks {fit_id[:8]} g{generation}")
        handles = sorted(rdd.collect(), key=lambda h: h.partition)
        self._rdd.unpersist(blocking=False)  # the new handles' lineage still reaches it
        self._rdd = rdd
        self._settings = settings
        missing = [h.partition for h in handles if h.rows and not h.x_path]
        if missing:
            log.warning(
                "block files of partitions %s were not where the scaling ran; rebuilding the "
                "blocks from the input, scaled",
                missing,
            )
            self.rebuilds += 1
            self._grouping = False
            return self.load()
        self.handles = handles
        self._plan()
        return handles

    def check_centers(self, k: int, dim: int) -> None:
        """:func:`check_centers_memory` against this session's executors."""
        sc = self._features.sparkSession.sparkContext
        conf = dict(sc.getConf().getAll())
        cores = executor_cores(
            sc.master or "", conf.get("spark.executor.cores"), sc.defaultParallelism
        )
        check_centers_memory(k, dim, *task_memory(conf, sc.master or "", cores))

    def _plan(self) -> None:
        self._groups = None
        self._threads = 1
        if not self._grouping:
            return
        groups = plan_tasks(
            self.handles, row_width(self.handles) * self._k + ROW_WORK, self._tuning.min_task_work
        )
        if groups is not None:
            sc = self._features.sparkSession.sparkContext
            # one element per group, flattened in the task: each partition is one group
            self._groups = sc.parallelize(groups, len(groups)).flatMap(lambda g: g)
            # all blocks are on one host: the cores its tasks leave idle become threads
            cores = executor_cores(
                sc.master or "", sc.getConf().get("spark.executor.cores"), sc.defaultParallelism
            )
            self._threads = max(1, min(max(len(g) for g in groups), cores // len(groups)))
            log.info(
                "%d blocks run as %d tasks of up to %d threads (little work per block)",
                sum(len(g) for g in groups),
                len(groups),
                self._threads,
            )

    @property
    def carry(self) -> tuple[str, ...]:
        """The carried columns' names (the caller's), in order."""
        return self._carry

    @property
    def tasks(self) -> int:
        """How many tasks run each pass."""
        if self._groups is not None:
            return self._groups.getNumPartitions()
        return sum(1 for h in self.handles if h.rows > 0)

    @property
    def threads(self) -> int:
        """How many threads a task of a pass uses at most."""
        return self._threads

    def share(self, value: Any) -> contextlib.AbstractContextManager[Any]:
        """Make ``value`` (an array, or a tuple of arrays and ``None``) readable by the tasks
        of the coming passes as ``.value``: inside the task when small, else as a broadcast
        destroyed on exit."""
        parts = value if isinstance(value, tuple) else (value,)
        nbytes = sum(_nbytes(p) for p in parts)
        if nbytes <= self._tuning.inline_bytes:
            return contextlib.nullcontext(Inline(value))
        bc = self._features.sparkSession.sparkContext.broadcast(value)

        @contextlib.contextmanager
        def scope() -> Iterator[Any]:
            try:
                yield bc
            finally:
                bc.destroy()

        return scope()

    def run(
        self,
        fn: Callable[[BlockHandle, np.ndarray, np.ndarray | None], T],
        merge: Callable[[T, T], T],
    ) -> T:
        """One pass: ``fn`` on every non-empty block, merged with ``merge``; one Spark job.

        The driver merges the per-block results in partition order, however the blocks were
        grouped into tasks, so results do not depend on the grouping or on retries. Missing
        block files trigger a rebuild from the input and a repeat of the pass.
        """
        assert self._rdd is not None, "load() first"

        def collect() -> tuple[list[int], list[tuple[int, T]]]:
            rdd = self._groups if self._groups is not None else self._rdd
            assert rdd is not None
            missing: list[int] = []
            results: list[tuple[int, T]] = []
            for task_missing, task_results in rdd.mapPartitions(
                block_task(fn, self._threads)
            ).collect():
                missing.extend(task_missing)
                results.extend(task_results)
            return missing, results

        return run_with_rebuilds(collect, merge, self._rebuild, self._tuning.max_rebuilds)

    def _rebuild(self) -> None:
        """The blocks reloaded from the input, each task then reading only its own block
        (and checked again: the input may have changed since the first load)."""
        self.rebuilds += 1
        self._grouping = False
        handles = self.load()
        if self._validate is not None:
            self._validate(handles)

    def assignments(
        self,
        centers: np.ndarray,
        *,
        spherical: bool,
        prediction_col: str = "prediction",
        distance_col: str = "distance",
    ) -> DataFrame:
        """Every stored row: its carried columns, nearest centre (``int``) and distance
        (``double``: Euclidean, or ``1 - cos``), as ``KMeansModel.transform`` of ``centers``
        with ``distanceCol`` gives them; see :func:`kmeans_spark.scoring.label_block`.

        One ``mapInArrow`` over a DataFrame of the cached handles: its partitions are the
        handles' (narrow dependencies only), so each task is scheduled where its handle is
        cached, i.e. where its files are (the Spark tests check the preferred locations).
        Lazy, as any DataFrame: it must be used while the blocks exist. A task that finds
        its files missing fails (:data:`~kmeans_spark.scoring.MISSING_BLOCK`,
        :func:`is_missing_block`) rather than leave its rows out.
        """
        assert self._rdd is not None, "load() first"
        carried = list(self._carry)
        taken = [c for c in (prediction_col, distance_col) if c in carried]
        if taken:
            raise KMeansInputError(
                f"column {taken[0]!r} already exists in the input; set predictionCol / "
                "distanceCol to a new name."
            )
        types = self._features.schema
        schema = StructType(
            [
                StructField(name, types[carry_column(i)].dataType, types[carry_column(i)].nullable)
                for i, name in enumerate(carried)
            ]
            + [StructField(prediction_col, IntegerType()), StructField(distance_col, DoubleType())]
        )
        scorer = Scorer.of(centers, spherical)

        def label(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            for batch in batches:
                for row in batch.to_pylist():  # one row per block
                    handle = BlockHandle.from_dict(row)
                    yield from label_block(handle, scorer, carried, prediction_col, distance_col)

        spark = self._features.sparkSession
        handles = spark.createDataFrame(
            self._rdd.map(lambda h: h.to_dict()), from_arrow_schema(HANDLE_ARROW_SCHEMA)
        )
        return handles.mapInArrow(label, schema)

    def close(self) -> None:
        """Remove the block files and uncache the handles.

        On a cluster that takes one job, run where the handles are cached. With a local
        master every executor runs on this host and writes under directories the handles
        name, so the driver removes them itself and the fit spends no job on it.
        """
        if self._rdd is None:
            return
        try:
            sc = self._features.sparkSession.sparkContext
            if not self._loaded:
                # the load job failed (a corrupt input file): the partitions it stored have
                # no handles to name them, so a small job removes the fit's directory where
                # it runs (every executor, with a local master; as many as the default
                # parallelism reaches on a cluster), without recomputing the failed load
                tasks = max(1, sc.defaultParallelism)
                sc.parallelize(range(tasks), tasks).foreachPartition(_cleanup_task(self.fit_id))
            elif (sc.master or "").startswith("local"):
                for directory in {os.path.dirname(h.x_path) for h in self.handles if h.x_path}:
                    blockstore.remove_dir(directory)
            else:
                self._rdd.foreachPartition(_cleanup_task(self.fit_id))
        except Exception as exc:  # cleanup must never hide the fit's own error
            log.warning("could not remove block files of fit %s: %s", self.fit_id, exc)
        finally:
            with contextlib.suppress(Exception):
                self._rdd.unpersist(blocking=False)
            self._rdd = None

    def __enter__(self) -> ResidentBlocks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def is_missing_block(exc: BaseException) -> bool:
    """Whether ``exc`` (as Spark raises it on the driver) is a labelling task's that did not
    find its block's files (:meth:`ResidentBlocks.assignments`)."""
    return MISSING_BLOCK in str(exc)


@dataclass(frozen=True)
class FittedBlocks:
    """What :attr:`kmeans_spark.load.InputStage.on_fitted` receives: the fit's resident
    blocks and the centres it chose (in the blocks' units), while the blocks still exist."""

    blocks: ResidentBlocks
    centers: np.ndarray
    spherical: bool

    @property
    def carried(self) -> tuple[str, ...]:
        """The carried columns, as :meth:`assignments` names them."""
        return self.blocks.carry

    def assignments(
        self, prediction_col: str = "prediction", distance_col: str = "distance"
    ) -> DataFrame:
        """The rows of the fit labelled with its centres; see
        :meth:`ResidentBlocks.assignments`."""
        return self.blocks.assignments(
            self.centers,
            spherical=self.spherical,
            prediction_col=prediction_col,
            distance_col=distance_col,
        )
