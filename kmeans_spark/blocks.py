"""Resident blocks on Spark: load the input once into executor-local numpy files, then run
every pass of the fit as one small job over an RDD of block handles.

The data path, and why:

* **Load job** (one pass over the input): each partition's feature rows arrive as Arrow
  batches (``mapInArrow``, no per-row Python), become one contiguous ``(n, d)`` block,
  are validated (non-finite values, dimensions, weights), written once to the executor's
  local directory, and summarised in a tiny :class:`BlockHandle`. The same pass draws each
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
  than that, one task does several blocks (:func:`plan_tasks`). A task can open every
  block file of its own host.
* A task whose file is missing (its executor was lost, or it ran elsewhere after the
  locality wait) reports the partition instead of failing; :meth:`ResidentBlocks.run`
  rebuilds the blocks from the input and repeats the pass. If an executor dies, its cached
  handles are recomputed from the input by Spark's lineage, which writes fresh files.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import pyarrow as pa
from pyspark import StorageLevel, TaskContext
from pyspark.rdd import RDD
from pyspark.sql import DataFrame
from pyspark.sql.pandas.types import from_arrow_schema

from kmeans_spark import blockstore, kernels
from kmeans_spark.arrow import feature_chunks
from kmeans_spark.dataset import FEATURES, WEIGHT
from kmeans_spark.session import local_master_cores

log = logging.getLogger(__name__)

T = TypeVar("T")

#: What one task returns: the partitions whose files it found missing, and each other
#: non-empty block's result, by partition.
TaskResult = tuple[tuple[int, ...], list[tuple[int, Any]]]

#: The handle row the load job returns for each partition (Arrow side; Spark's is derived).
LOAD_ARROW_SCHEMA = pa.schema(
    [
        ("partition", pa.int32()),
        ("generation", pa.int32()),
        ("x_path", pa.string()),
        ("w_path", pa.string()),
        ("rows", pa.int64()),
        ("dim", pa.int32()),
        ("dim_mismatch", pa.int64()),
        ("weight_sum", pa.float64()),
        ("bad_rows", pa.int64()),
        ("bad_row_index", pa.int64()),
        ("bad_row", pa.list_(pa.float64())),
        ("bad_weights", pa.int64()),
        ("bad_weight", pa.float64()),
        ("zero_rows", pa.int64()),
        ("sample_keys", pa.list_(pa.float64())),
        ("sample_points", pa.list_(pa.float64())),
        ("origin", pa.list_(pa.float64())),
        ("host", pa.string()),
    ]
)

#: Retries of a pass after rebuilding blocks, before giving up.
MAX_REBUILDS = 3

#: Work (rows x (dim x k + ROW_WORK)) worth a task of its own; see :func:`plan_tasks`.
#: About 50-100 ms of a pass on one core, measured on a 2-core machine where a second
#: Python task per pass costs 25-35 ms: `small` (200k x 2, k=3) runs as one task,
#: `medium` (1M x 16, k=10) as one, `wide` (1M x 64, k=100) as one per block.
MIN_TASK_WORK = float(2**28)
#: Per-row work besides the distances (norms, argmin, sums), in the same units.
ROW_WORK = 64

#: Values up to this size ride in the pickled task itself; larger ones are broadcast. A
#: broadcast costs ~5-15 ms per pass to create and destroy, for data that small.
INLINE_BYTES = 256 * 1024


class Inline(Generic[T]):
    """A value shipped inside the task's closure, read as ``.value`` like a broadcast."""

    def __init__(self, value: T) -> None:
        self.value = value


@dataclass(frozen=True)
class BlockHandle:
    """What the driver knows of one partition's block (small: cached and shipped freely)."""

    partition: int
    generation: int
    x_path: str
    w_path: str
    rows: int
    dim: int
    dim_mismatch: int
    weight_sum: float
    bad_rows: int
    bad_row_index: int
    bad_row: tuple[float, ...]
    bad_weights: int
    bad_weight: float
    zero_rows: int
    sample_keys: tuple[float, ...]
    sample_points: tuple[float, ...]
    origin: tuple[float, ...]  # the block is stored as points - origin (its mean)
    host: str

    @classmethod
    def from_row(cls, row: Any) -> BlockHandle:
        d = row.asDict()
        d["bad_row"] = tuple(d["bad_row"] or ())
        d["sample_keys"] = tuple(d["sample_keys"] or ())
        d["sample_points"] = tuple(d["sample_points"] or ())
        d["origin"] = tuple(d["origin"] or ())
        return cls(**d)

    @property
    def origin_array(self) -> np.ndarray | None:
        return np.asarray(self.origin, dtype=np.float64) if self.origin else None

    def state_path(self, name: str) -> str:
        """A per-block state file beside the block (k-means|| distances, for example)."""
        return self.x_path[: -len("-x.npy")] + f"-{name}.npy"


def _load_partition(
    batches: Iterator[pa.RecordBatch],
    *,
    fit_id: str,
    generation: int,
    dtype: str,
    spherical: bool,
    sample_size: int,
    seed: int,
) -> Iterator[pa.RecordBatch]:
    """mapInArrow body of the load job: one partition in, one handle row out."""
    partition = TaskContext.get().partitionId()  # type: ignore[union-attr]
    batch_list = list(batches)
    total_rows = sum(b.num_rows for b in batch_list)
    weighted = bool(batch_list) and WEIGHT in batch_list[0].schema.names
    # the partition stays Arrow; numpy views of its chunks stream into the block file
    fc = feature_chunks(
        pa.chunked_array([b.column(FEATURES) for b in batch_list])
        if batch_list
        else pa.array([], type=pa.list_(pa.float64()))
    )
    n, dim = fc.rows, fc.dim
    w = (
        pa.chunked_array([b.column(WEIGHT) for b in batch_list]).to_numpy().astype(np.float64)
        if weighted and n
        else np.ones(n, dtype=np.float64)
    )
    out: dict[str, Any] = {
        "partition": partition,
        "generation": generation,
        "x_path": "",
        "w_path": "",
        "rows": n,
        "dim": dim,
        "dim_mismatch": fc.mismatch,
        "weight_sum": 0.0,
        "bad_rows": 0,
        "bad_row_index": -1,
        "bad_row": [],
        "bad_weights": 0,
        "bad_weight": 0.0,
        "zero_rows": 0,
        "sample_keys": [],
        "sample_points": [],
        "origin": [],
        "host": socket.gethostname(),
    }
    if fc.mismatch or n == 0:
        out["rows"] = total_rows
        yield pa.RecordBatch.from_pylist([out], schema=LOAD_ARROW_SCHEMA)
        return
    # pass 1 over the chunks: bad rows, zero rows (cosine), the sum for the mean
    total = np.zeros(dim)
    start = 0
    for part in fc.parts:
        rows = part.shape[0]
        bad = ~np.isfinite(part).all(axis=1) | ~fc.valid[start : start + rows]
        bad_here = int(bad.sum())
        if bad_here and not out["bad_rows"]:
            first = int(np.argmax(bad))
            out["bad_row_index"] = start + first
            out["bad_row"] = [float(v) for v in part[first, :16]]
        out["bad_rows"] += bad_here
        if spherical:
            out["zero_rows"] += int(np.count_nonzero(kernels.squared_norms(part) == 0))
        elif not out["bad_rows"]:
            total += part.sum(axis=0)
        start += rows
    bad_w = ~np.isfinite(w) | (w < 0)
    out["bad_weights"] = int(bad_w.sum())
    if out["bad_weights"]:
        out["bad_weight"] = float(w[int(np.argmax(bad_w))])
    if out["bad_rows"] or out["bad_weights"]:
        out["zero_rows"] = 0
        yield pa.RecordBatch.from_pylist([out], schema=LOAD_ARROW_SCHEMA)
        return

    def stored(part: np.ndarray) -> np.ndarray:
        # cosine: unit vectors (nothing to gain from centring); else centred on the block's
        # mean, so GEMM-form distances keep their precision
        return kernels.normalize_rows(part)[0] if spherical else part - origin

    out["weight_sum"] = float(w.sum())
    rng = np.random.default_rng([seed, 0x5EED, partition])
    keys = kernels.sampling_keys(w, rng)
    take = kernels.top_indices(keys, sample_size)  # O(n), unlike sorting every key
    take = take[np.isfinite(keys[take])]
    out["sample_keys"] = [float(v) for v in keys[take]]
    origin = np.zeros(dim) if spherical else total / n
    points = fc.take(take)
    if spherical:
        points = kernels.normalize_rows(points)[0]
    out["sample_points"] = [float(v) for v in points.ravel()]
    out["origin"] = [float(v) for v in origin]
    # pass 2: the block file, chunk by chunk
    x_path = blockstore.block_path(fit_id, generation, partition, "x")
    blockstore.save_rows(x_path, (n, dim), np.dtype(dtype), (stored(p) for p in fc.parts))
    out["x_path"] = x_path
    if weighted:
        w_path = blockstore.block_path(fit_id, generation, partition, "w")
        blockstore.save_array(w_path, w)
        out["w_path"] = w_path
    _remove_older_generations(fit_id, generation, partition)
    yield pa.RecordBatch.from_pylist([out], schema=LOAD_ARROW_SCHEMA)


def _remove_older_generations(fit_id: str, generation: int, partition: int) -> None:
    for g in range(generation):
        pattern = blockstore.block_path(fit_id, g, partition, "*")
        for path in glob.glob(pattern):
            blockstore.forget(path)
            with contextlib.suppress(OSError):
                os.unlink(path)


def _block_task(
    fn: Callable[[BlockHandle, np.ndarray, np.ndarray | None], Any],
    threads: int = 1,
) -> Callable[[Iterator[BlockHandle]], Iterator[TaskResult]]:
    """The task of a pass: ``fn`` on each of its blocks, on up to ``threads`` threads.

    Threads pay off for a task that does several blocks while cores sit idle (see
    :meth:`ResidentBlocks._plan`): the numpy work (GEMM, argmin, sums) releases the GIL, so
    two blocks on two threads take ~0.55x the time of one after the other (measured, 500k x
    16 rows each), without the 25-35 ms of a second Python task. Each block's result is its
    own, so the order of work does not change it. Blocks are opened here, on the task's
    thread (the map cache is not shared across threads).
    """

    def task(handles: Iterator[BlockHandle]) -> Iterator[TaskResult]:
        missing: list[int] = []
        found: list[tuple[BlockHandle, np.ndarray, np.ndarray | None]] = []
        for h in handles:  # read the whole (tiny) input: a worker that skips it is not reused
            if h.rows == 0:
                continue
            x = blockstore.open_block(h.x_path)
            w = blockstore.open_block(h.w_path) if h.w_path else None
            if x is None or (h.w_path and w is None):
                missing.append(h.partition)
                continue
            found.append((h, x, w))
        if threads > 1 and len(found) > 1:
            with ThreadPoolExecutor(min(threads, len(found))) as pool:
                done = list(pool.map(lambda b: fn(*b), found))
        else:
            done = [fn(*b) for b in found]
        yield tuple(missing), [(h.partition, r) for (h, _, _), r in zip(found, done, strict=True)]

    return task


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


def plan_tasks(
    handles: list[BlockHandle], work_per_row: float, min_task_work: float
) -> list[list[BlockHandle]] | None:
    """Which blocks each task of a pass works on; ``None``: one task per block.

    A Python task has a fixed cost (tens of ms: scheduling, the worker round trip, and on a
    machine with few cores, contention with the other tasks), so a block whose pass takes
    less than that is cheaper done by a task that also does its neighbours. Blocks are
    packed in partition order into groups of at least ``min_task_work`` (rows times
    ``work_per_row``); never more groups than blocks. Only blocks on one host are grouped:
    a task can open every block file of its own host, not another host's.
    """
    blocks = [h for h in handles if h.rows > 0]
    if len(blocks) < 2 or len({h.host for h in blocks}) > 1:
        return None
    groups: list[list[BlockHandle]] = [[]]
    work = 0.0
    for h in blocks:
        if groups[-1] and work >= min_task_work:
            groups.append([])
            work = 0.0
        groups[-1].append(h)
        work += h.rows * work_per_row
    if len(groups) > 1 and work < min_task_work:  # a light tail joins the previous group
        groups[-2].extend(groups.pop())
    return None if len(groups) == len(blocks) else groups


def _cleanup_task(fit_id: str) -> Callable[[Iterator[BlockHandle]], None]:
    def cleanup(handles: Iterator[BlockHandle]) -> None:
        for _ in handles:
            pass
        blockstore.remove_fit(fit_id)

    return cleanup


class ResidentBlocks:
    """The fit's input as executor-local numpy blocks, and the means to run a pass over them.

    Use as a context manager: files and the cached handles are removed on exit, also when
    the fit fails.
    """

    def __init__(
        self,
        features: DataFrame,
        *,
        dtype: str = "float64",
        spherical: bool = False,
        sample_size: int = 1,
        seed: int = 0,
        k: int = 1,
        validate: Callable[[list[BlockHandle]], object] | None = None,
    ) -> None:
        """``validate`` checks the handles of a rebuild, as the caller checked the first
        load's (a bad row that appeared since must fail with its own message). ``k`` sizes
        the work of a pass, which decides how many tasks run it (:func:`plan_tasks`)."""
        self._k = k
        self._groups: RDD[BlockHandle] | None = None
        self._threads = 1
        self._grouping = True
        self._validate = validate
        self._features = features
        self._dtype = dtype
        self._spherical = spherical
        self._sample_size = sample_size
        self._seed = seed
        self.fit_id = uuid.uuid4().hex
        self.generation = -1
        self.handles: list[BlockHandle] = []
        self.rebuilds = 0
        self._rdd: RDD[BlockHandle] | None = None
        self._loaded = False

    def load(self) -> list[BlockHandle]:
        """Run the load job (one pass over the input) and cache the handles."""
        self.generation += 1
        fit_id, generation = self.fit_id, self.generation
        dtype, spherical = self._dtype, self._spherical
        sample_size, seed = self._sample_size, self._seed

        def load(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            return _load_partition(
                batches,
                fit_id=fit_id,
                generation=generation,
                dtype=dtype,
                spherical=spherical,
                sample_size=sample_size,
                seed=seed,
            )

        if self._rdd is not None:
            self._rdd.unpersist(blocking=False)
        loaded = self._features.mapInArrow(load, from_arrow_schema(LOAD_ARROW_SCHEMA))
        rdd = loaded.rdd.map(BlockHandle.from_row).persist(StorageLevel.MEMORY_ONLY)
        rdd.setName(f"kmeans_spark blocks {fit_id[:8]} g{generation}")
        self._rdd = rdd
        self._loaded = False
        self.handles = sorted(rdd.collect(), key=lambda h: h.partition)
        self._loaded = True
        self._plan()
        return self.handles

    def _plan(self) -> None:
        self._groups = None
        self._threads = 1
        if not self._grouping:
            return
        dim = max((h.dim for h in self.handles), default=0)
        groups = plan_tasks(self.handles, dim * self._k + ROW_WORK, MIN_TASK_WORK)
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
        nbytes = sum(int(getattr(p, "nbytes", 0)) for p in parts)
        if nbytes <= INLINE_BYTES:
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
        for attempt in range(MAX_REBUILDS + 1):
            rdd = self._groups if self._groups is not None else self._rdd
            missing: list[int] = []
            results: list[tuple[int, T]] = []
            task = _block_task(fn, self._threads)
            for task_missing, task_results in rdd.mapPartitions(task).collect():
                missing.extend(task_missing)
                results.extend(task_results)
            if not missing:
                if not results:
                    raise RuntimeError("a pass over blocks that are all empty")
                results.sort(key=lambda pr: pr[0])
                return functools.reduce(merge, (r for _, r in results))
            if attempt == MAX_REBUILDS:
                break
            log.warning(
                "block files of partitions %s are not where their tasks ran; rebuilding the "
                "blocks from the input (rebuild %d)",
                sorted(missing),
                attempt + 1,
            )
            self.rebuilds += 1
            self._grouping = False  # from now on each task reads only its own block
            handles = self.load()
            if self._validate is not None:  # the input may have changed since the first load
                self._validate(handles)
        raise RuntimeError(
            f"block files of partitions {sorted(missing)} went missing after {MAX_REBUILDS} "
            "rebuilds; check that spark.local.dir is on a local disk that is not cleaned "
            "during the job"
        )

    def close(self) -> None:
        """Remove the block files and uncache the handles.

        On a cluster that takes one job, run where the handles are cached. With a local
        master every executor runs on this host and writes under directories the handles
        name, so the driver removes them itself and the fit spends no job on it.
        """
        if self._rdd is None:
            return
        try:
            if (self._features.sparkSession.sparkContext.master or "").startswith("local"):
                for directory in {os.path.dirname(h.x_path) for h in self.handles if h.x_path}:
                    blockstore.remove_dir(directory)
            elif self._loaded:  # else the cleanup job would recompute the failed load
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
