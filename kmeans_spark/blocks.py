"""Resident blocks on Spark: load the input once into executor-local numpy files, then run
every pass of the fit as one small job over the cached handles of those blocks.

One engine (:class:`ResidentBlocks`), two transports that carry its jobs:
:class:`~kmeans_spark.blocks_rdd.RddTransport` (a cached RDD of handles, broadcasts; the
classic session's, the faster) and :class:`~kmeans_spark.blocks_frame.FrameTransport` (a
cached DataFrame of handles, ``mapInArrow``; the only one Spark Connect can run). Which one
is :func:`choose_transport`'s call (``Tuning.transport``, "auto" by the session type). The
engine decides everything else, once for both: generations, the load and rebuild loop, the
grouping of blocks into tasks, the scaling rewrite, the memory check, assignments, clean-up.

The data path, and why:

* **Load job** (one pass over the input): each partition's feature rows arrive as Arrow
  batches (``mapInArrow``, no per-row Python), become one contiguous ``(n, d)`` block,
  are validated (non-finite values, dimensions, weights), written once to the executor's
  local directory, and summarised in a tiny :class:`~kmeans_spark.handle.BlockHandle`
  (:func:`kmeans_spark.load.load_partition`). The same pass draws each
  partition's weighted sample for the first k-means|| centre (or for random init), so
  seeding spends no pass on it.
* The handles are cached. A cached partition lives in the block manager of the executor
  that computed it, so every later task on that partition is scheduled where its file is,
  and opens it with ``mmap`` (see :mod:`kmeans_spark.blockstore`).
* **Each pass is exactly one Spark job** over the cached handles; each task returns one
  small result per block, and the driver merges them in partition order (deterministic
  whatever the task layout or transport; no shuffle; no accumulators, so a retried task is
  never counted twice).
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
import socket
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from pyspark import TaskContext
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import DoubleType, IntegerType, StructField, StructType

from kmeans_spark import blockstore
from kmeans_spark.blocks_frame import FrameTransport
from kmeans_spark.blocks_rdd import RddTransport
from kmeans_spark.errors import KMeansInputError
from kmeans_spark.handle import HANDLE_ARROW_SCHEMA, BlockHandle
from kmeans_spark.load import Affine, LoadSettings, carry_column, load_partition, transform_block
from kmeans_spark.scoring import MISSING_BLOCK, Scorer, label_block
from kmeans_spark.session import is_connect, local_master_cores
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
    units = {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
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


#: The Spark Connect server's largest message (bytes): a pass's plan, with the centres in
#: its function (the DataFrame transport has no broadcast), must fit one.
GRPC_MAX_MESSAGE = "spark.connect.grpc.maxInboundMessageSize"


def check_centers_message(k: int, dim: int, limit: int, setting: str | None) -> None:
    """Refuse, under Spark Connect, ``k x dim`` float64 centres that would not fit the
    server's message size: every pass ships them inside its plan, and a plan over the limit
    fails mid-fit with gRPC's RESOURCE_EXHAUSTED."""
    need = k * dim * 8
    if need > limit * 0.9:  # the rest of the plan: the task's code, the pass's other values
        shown = f"{GRPC_MAX_MESSAGE}={setting}" if setting else f"the default {GRPC_MAX_MESSAGE}"
        raise KMeansInputError(
            f"k x features = {k} x {dim} centres are {need / 2**20:,.0f} MiB, which every pass "
            f"under Spark Connect ships inside its plan: more than {shown} "
            f"({limit / 2**20:,.0f} MiB) allows; lower k (or nInit, or the sweep's largest k), "
            "use fewer features, raise that setting when starting the server, or run in a "
            "classic session (which broadcasts them)."
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


def load_task(
    fit_id: str, generation: int, settings: LoadSettings
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The load job's ``mapInArrow`` function (either transport's): each partition's rows
    validated and stored as a block where the task runs, one handle row out."""

    def load(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        partition = TaskContext.get().partitionId()  # type: ignore[union-attr]
        handle = load_partition(
            batches, partition=partition, fit_id=fit_id, generation=generation, settings=settings
        )
        yield pa.RecordBatch.from_pylist([handle.to_dict()], schema=HANDLE_ARROW_SCHEMA)

    return load


#: The settings :func:`task_memory` and :func:`executor_cores` read.
TASK_SETTINGS = (
    "spark.executor.pyspark.memory",
    "spark.driver.memory",
    "spark.executor.memoryOverhead",
    "spark.executor.memory",
    "spark.executor.cores",
)

BlockTask = Callable[[Iterator[BlockHandle]], Iterator[TaskResult]]
ArrowTask = Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]


class BlockTransport(Protocol):
    """How :class:`ResidentBlocks` reaches its blocks: where the handles are cached, how a
    job over them runs, how a large value travels, how the session's settings are read.
    Everything else is the engine's. :class:`~kmeans_spark.blocks_rdd.RddTransport` and
    :class:`~kmeans_spark.blocks_frame.FrameTransport` implement it."""

    #: "rdd" or "dataframe" (:attr:`ResidentBlocks.transport`, the fit's log).
    name: str

    @property
    def master(self) -> str: ...

    def setting(self, key: str) -> str | None:
        """A setting of the session (None when unset)."""
        ...

    def default_parallelism(self) -> int: ...

    def partitions(self, df: DataFrame) -> int | None:
        """``df``'s partition count, or None when this transport cannot tell."""
        ...

    def load(self, features: DataFrame, task: ArrowTask, name: str) -> list[BlockHandle]:
        """``task`` over ``features`` (one handle row out per partition), cached (the
        previous load's cache dropped) and collected."""
        ...

    def rewrite(self, fn: Callable[[BlockHandle], BlockHandle], name: str) -> list[BlockHandle]:
        """``fn`` on every cached handle where it is cached; the results cached in place of
        the old handles, and collected."""
        ...

    def group(self, groups: list[list[BlockHandle]] | None) -> None:
        """Run the coming passes as one task per group (None: one task per block)."""
        ...

    def share(self, value: Any) -> contextlib.AbstractContextManager[Any]:
        """``value`` too large to ride in every task, readable there as ``.value``."""
        ...

    def run(self, task: BlockTask) -> list[TaskResult]:
        """One Spark job: ``task`` over the cached handles (grouped), every result."""
        ...

    def handles_frame(self) -> DataFrame:
        """The cached handles as a DataFrame (:data:`HANDLE_ARROW_SCHEMA`) whose tasks run
        where the handles are cached."""
        ...

    def remove_everywhere(self, fit_id: str) -> None:
        """A job removing the fit's directory on as many executors as it reaches."""
        ...

    def remove_where_cached(self, fit_id: str) -> None:
        """A job removing the fit's directory where each cached handle is."""
        ...

    def uncache(self) -> None: ...


def in_partitions(df: DataFrame, wanted: int, current: int) -> DataFrame:
    """``df`` (of ``current`` partitions) in ``wanted``: as it is when they are equal
    (coalescing to the same count is not a no-op: its grouping may reorder partitions),
    coalesced when fewer are wanted (no shuffle), else repartitioned."""
    if wanted == current:
        return df
    return df.coalesce(wanted) if wanted < current else df.repartition(wanted)


def choose_transport(spark: SparkSession, tuning: Tuning = DEFAULT_TUNING) -> BlockTransport:
    """The RDD transport in a classic session (its pass measured ~0.1 s faster), the
    DataFrame one under Spark Connect (no RDD there); ``tuning.transport`` may force
    either (tests and benchmarks), "rdd" only where there is a ``SparkContext``."""
    kind = tuning.transport
    connect = is_connect(spark)
    if kind == "auto":
        kind = "dataframe" if connect else "rdd"
    if kind == "rdd" and connect:
        raise KMeansInputError(
            "Tuning(transport='rdd') needs a classic session, but this one is a Spark "
            "Connect session (no RDD API); use transport='auto' or 'dataframe'."
        )
    return RddTransport(spark) if kind == "rdd" else FrameTransport(spark)


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
        transport: BlockTransport | None = None,
    ) -> None:
        """``validate`` checks the handles of a rebuild, as the caller checked the first
        load's (a bad row that appeared since must fail with its own message). ``k`` sizes
        the work of a pass, which decides how many tasks run it (:func:`plan_tasks`).
        ``carry`` names the columns ``features`` carries (:func:`~kmeans_spark.load.
        carry_column` ``(i)`` is ``carry[i]``), as :meth:`assignments` names them.
        ``transport``: :func:`choose_transport`'s for ``features``' session unless given."""
        self._features = features
        self._carry = tuple(carry)
        self._settings = settings
        self._k = k
        self._validate = validate
        self._tuning = tuning
        self._transport = transport or choose_transport(features.sparkSession, tuning)
        self._tasks: int | None = None  # tasks of a pass when blocks are grouped
        self._threads = 1
        self._grouping = True
        self._cores: int | None = None
        self.fit_id = uuid.uuid4().hex
        self.generation = -1
        self.handles: list[BlockHandle] = []
        self.rebuilds = 0
        self.passes = 0
        self._started = False  # a load ran (its cache and files may exist)
        self._loaded = False  # ... and completed (the handles name every stored block)

    @property
    def transport(self) -> str:
        """Which transport carries the passes: "rdd" or "dataframe"."""
        return self._transport.name

    def load(self) -> list[BlockHandle]:
        """Run the load job (one pass over the input) and cache the handles."""
        self.generation += 1
        if self.generation == 0:
            log.info("fit %s: blocks on the %s transport", self.fit_id[:8], self.transport)
        task = load_task(self.fit_id, self.generation, self._settings)
        self._started, self._loaded = True, False
        handles = self._transport.load(self._features, task, self._cache_name())
        self.handles = sorted(handles, key=lambda h: h.partition)
        self._loaded = True
        self._plan()
        return self.handles

    def _cache_name(self) -> str:
        return f"kmeans_spark blocks {self.fit_id[:8]} g{self.generation}"

    def reload_in(self, partitions: int) -> list[BlockHandle]:
        """Load again with the input in ``partitions`` partitions (coalesced when the last
        load found more, else repartitioned), as a classic session would have loaded it:
        for a ``numPartitions`` the session could not check before the load (Spark Connect
        has no partition count)."""
        self._features = in_partitions(self._features, partitions, len(self.handles))
        return self.load()

    def transform(self, affine: Affine, *, spherical: bool) -> list[BlockHandle]:
        """Rewrite every block as ``(x - offset) / scale`` (unit rows if ``spherical``) where
        it lies: one job over the cached handles, no read of the input
        (:func:`kmeans_spark.load.transform_block`). Later rebuilds load with the scaling
        applied. Returns the new handles."""
        assert self._started, "load() first"
        settings = replace(self._settings, affine=affine, spherical=spherical)
        self.generation += 1
        fit_id, generation = self.fit_id, self.generation

        def rewrite(h: BlockHandle) -> BlockHandle:
            return transform_block(h, fit_id=fit_id, generation=generation, settings=settings)

        handles = sorted(
            self._transport.rewrite(rewrite, self._cache_name()), key=lambda h: h.partition
        )
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

    def _executor_cores(self) -> int:
        """:func:`executor_cores` of this session (asked once: the default parallelism may
        cost a small job on the DataFrame transport, and only ``local[*]`` needs it)."""
        if self._cores is None:
            t = self._transport
            master = t.master
            wide = local_master_cores(master) == "*"
            parallelism = t.default_parallelism() if wide else 1
            self._cores = executor_cores(master, t.setting("spark.executor.cores"), parallelism)
        return self._cores

    def check_centers(self, k: int, dim: int) -> None:
        """:func:`check_centers_memory` against this session's executors."""
        t = self._transport
        conf = {key: v for key in TASK_SETTINGS if (v := t.setting(key)) is not None}
        check_centers_memory(k, dim, *task_memory(conf, t.master, self._executor_cores()))
        if is_connect(self._features.sparkSession):
            setting = t.setting(GRPC_MAX_MESSAGE)
            check_centers_message(k, dim, memory_bytes(setting or "128m", "b"), setting)

    def _plan(self) -> None:
        """How the coming passes are cut into tasks (:func:`plan_tasks`), and how many
        threads a task uses: the cores its host's other tasks leave idle."""
        self._tasks, self._threads = None, 1
        groups = None
        if self._grouping:
            groups = plan_tasks(
                self.handles,
                row_width(self.handles) * self._k + ROW_WORK,
                self._tuning.min_task_work,
            )
        self._transport.group(groups)
        if groups is None:
            return
        self._tasks = len(groups)
        cores = self._executor_cores()
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
        if self._tasks is not None:
            return self._tasks
        return sum(1 for h in self.handles if h.rows > 0)

    @property
    def threads(self) -> int:
        """How many threads a task of a pass uses at most."""
        return self._threads

    def share(self, value: Any) -> contextlib.AbstractContextManager[Any]:
        """Make ``value`` (an array, or a tuple of arrays and ``None``) readable by the tasks
        of the coming passes as ``.value``: inside the task when small, else as the
        transport ships large values (a broadcast destroyed on exit, or inline)."""
        parts = value if isinstance(value, tuple) else (value,)
        if sum(_nbytes(p) for p in parts) <= self._tuning.inline_bytes:
            return contextlib.nullcontext(Inline(value))
        return self._transport.share(value)

    def run(
        self,
        fn: Callable[[BlockHandle, np.ndarray, np.ndarray | None], T],
        merge: Callable[[T, T], T],
    ) -> T:
        """One pass: ``fn`` on every non-empty block, merged with ``merge``; one Spark job.

        The driver merges the per-block results in partition order, however the blocks were
        grouped into tasks, so results do not depend on the grouping, the transport or on
        retries. Missing block files trigger a rebuild from the input and a repeat of the
        pass.
        """
        assert self._started, "load() first"

        def collect() -> tuple[list[int], list[tuple[int, T]]]:
            self.passes += 1
            missing: list[int] = []
            results: list[tuple[int, T]] = []
            for task_missing, task_results in self._transport.run(block_task(fn, self._threads)):
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

        One ``mapInArrow`` over the cached handles as a DataFrame: its partitions are the
        handles' (narrow dependencies only), so each task is scheduled where its handle is
        cached, i.e. where its files are (the Spark tests check the preferred locations).
        Lazy, as any DataFrame: it must be used while the blocks exist. A task that finds
        its files missing fails (:data:`~kmeans_spark.scoring.MISSING_BLOCK`,
        :func:`is_missing_block`) rather than leave its rows out.
        """
        assert self._loaded, "load() first"
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

        return self._transport.handles_frame().mapInArrow(label, schema)

    def close(self) -> None:
        """Remove the block files and uncache the handles.

        With a local master whose blocks are all on this host, the driver removes the
        directories the handles name itself, and the fit spends no job on it; otherwise
        (and always under Spark Connect, whose server may run as another user) one job
        does, where the handles are cached. A load job that failed (a corrupt input
        file) left stored partitions that no handle names: a small job removes the fit's
        directory wherever it runs (every executor, with a local master; as many as the
        default parallelism reaches on a cluster), without recomputing the failed load.
        """
        if not self._started:
            return
        try:
            stored = [h for h in self.handles if h.x_path]
            here = socket.gethostname()
            if not self._loaded:
                self._transport.remove_everywhere(self.fit_id)
            elif (
                self._transport.name == "rdd"  # a Connect server's files may not be ours
                and self._transport.master.startswith("local")
                and all(h.host == here for h in stored)
            ):
                for directory in {os.path.dirname(h.x_path) for h in stored}:
                    blockstore.remove_dir(directory)
            else:
                self._transport.remove_where_cached(self.fit_id)
        except Exception as exc:  # cleanup must never hide the fit's own error
            log.warning("could not remove block files of fit %s: %s", self.fit_id, exc)
        finally:
            self._transport.uncache()
            self._started = self._loaded = False

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
