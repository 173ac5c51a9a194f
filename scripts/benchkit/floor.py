"""The platform floor, measured in the same run: single-thread GEMM GFLOP/s, an empty
two-task Spark job, and the in-process Lloyd step on one partition-sized block."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from .timing import median_time, timed

if TYPE_CHECKING:
    from pyspark import SparkContext

#: Rows of the GEMM tile: an (GEMM_ROWS x d) @ (d x k) product.
GEMM_ROWS = 8192


@contextlib.contextmanager
def one_thread() -> Iterator[bool]:
    """BLAS/OpenMP limited to one thread (as in a Spark Python worker) if threadpoolctl is
    installed; yields whether the limit applies."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield False
        return
    with threadpool_limits(limits=1):
        yield True


def gemm_gflops(d: int, k: int, dtype: type, rows: int = GEMM_ROWS) -> float:
    rng = np.random.default_rng(0)
    a: np.ndarray = rng.standard_normal((rows, d)).astype(dtype)
    c: np.ndarray = rng.standard_normal((d, k)).astype(dtype)
    once = timed(lambda: a @ c)[0]
    repeats = int(min(max(0.3 / max(once, 1e-6), 5), 2000))
    per_call = median_time(lambda: a @ c, warmup=2, repeats=repeats)
    return 2.0 * rows * d * k / per_call / 1e9


def empty_job_s(sc: SparkContext) -> float:
    def job() -> list[int]:
        return sc.parallelize(range(2), 2).mapPartitions(lambda it: [sum(it)]).collect()

    return median_time(job, warmup=3, repeats=10)


def step_s(x: np.ndarray, centers: np.ndarray, partitions: int, dtype: type) -> float:
    from kmeans_spark.kernels.step import partial_stats

    block: np.ndarray = np.ascontiguousarray(x[: max(1, x.shape[0] // partitions)], dtype=dtype)
    return median_time(lambda: partial_stats(block, None, centers), warmup=1, repeats=5)


def measure_floor(
    sc: SparkContext, x: np.ndarray, centers: np.ndarray, partitions: int
) -> dict[str, Any]:
    """The floor for data ``x`` (n, d) cut into ``partitions`` and ``centers`` (k, d):
    per iteration = empty job + in-process step, float64 and float32."""
    n, d = x.shape
    k = centers.shape[0]
    with one_thread() as limited:
        out: dict[str, Any] = {
            "single_thread": limited,
            "gemm_tile": [GEMM_ROWS, d, k],
            "gemm_gflops_f64": gemm_gflops(d, k, np.float64),
            "gemm_gflops_f32": gemm_gflops(d, k, np.float32),
            "block_rows": max(1, n // partitions),
            "step_s_f64": step_s(x, centers, partitions, np.float64),
            "step_s_f32": step_s(x, centers, partitions, np.float32),
        }
    out["empty_job_s"] = empty_job_s(sc)
    out["floor_s_per_iter_f64"] = out["empty_job_s"] + out["step_s_f64"]
    out["floor_s_per_iter_f32"] = out["empty_job_s"] + out["step_s_f32"]
    return out
