"""How the benchmarks time things: wall-clock calls, medians, warm-up, the variant order
rotated each repeat, and the arithmetic that splits an MLlib fit into seeding and iterations.

Spark-free and numpy-free: unit-tested without a JVM (tests/unit/test_bench_report.py).
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    """(wall seconds, result) of one call."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def median_time(fn: Callable[[], Any], warmup: int, repeats: int) -> float:
    """Median wall seconds of ``repeats`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    return statistics.median(timed(fn)[0] for _ in range(repeats))


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    """Median of ``key`` over the run records, NaN values left out (NaN if none is left)."""
    values = [r[key] for r in runs if not math.isnan(r[key])]
    return float(statistics.median(values)) if values else math.nan


def warm_up(order: Sequence[str], run: Callable[[str], T], label: str) -> dict[str, T]:
    """Every variant run once, untimed as far as the tables go (JIT, Python workers)."""
    out: dict[str, T] = {}
    for key in order:
        print(f"[{label}] warm-up {key}", file=sys.stderr, flush=True)
        out[key] = run(key)
    return out


def rotated(order: Sequence[str], rep: int) -> list[str]:
    """``order`` rotated left by ``rep`` places (modulo its length)."""
    shift = rep % len(order) if order else 0
    return [*order[shift:], *order[:shift]]


def interleaved(order: Sequence[str], repeats: int) -> Iterator[tuple[int, str]]:
    """(repeat, variant) in run order: every variant once per repeat, the order rotated by
    one each repeat. A fit runs measurably slower right after some others (ours ~0.1 s after
    an MLlib RDD fit), so no variant always follows the same one."""
    for rep in range(repeats):
        for key in rotated(order, rep):
            yield rep, key


def split_fixed_cost(
    t_full: float, iters: float, t_one: float, fallback: float
) -> tuple[float, float, str]:
    """(seed s, s/iter, method) of an MLlib variant from its full fit (``iters``
    iterations, ``t_full`` s) and its ``maxIter=1`` fit (``t_one`` s).

    The per-fit fixed cost cancels in the difference. ``fallback`` is the s/iter used when
    the full fit ran a single iteration; a non-positive difference (timing noise larger
    than the iterations) gives NaN, shown as "-", rather than a made-up number.
    """
    if iters < 2:
        per_iter, method = fallback, "fallback (full fit ran 1 iteration)"
    elif t_full > t_one:
        per_iter, method = (t_full - t_one) / (iters - 1), "(t_full - t_maxIter1) / (iters - 1)"
    else:
        return math.nan, math.nan, "t_full <= t_maxIter1: noise, not measured"
    return t_one - per_iter, per_iter, method


def first_iteration_corrected(
    loop_s: float, iters: int, iteration_jobs: list[float]
) -> tuple[float, str]:
    """Steady-state s/iter of MLlib from its logged iteration loop time: the first
    iteration's one-off work (its job's excess over the median of the later iteration
    jobs) is taken out, the per-iteration driver work stays in (as in ours' timings)."""
    if len(iteration_jobs) >= 2 and len(iteration_jobs) == iters:
        excess = max(iteration_jobs[0] - statistics.median(iteration_jobs[1:]), 0.0)
        return (loop_s - excess) / iters, "MLlib log, first-iteration excess from its job"
    return loop_s / max(iters, 1), "MLlib log, mean over iterations"
