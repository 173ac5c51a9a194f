"""Initial centres on Spark: k-means|| (Bahmani et al., "Scalable K-Means++", VLDB 2012),
random, or given centres.

k-means|| here costs ``initSteps + 1`` passes over the resident blocks, and no pass for the
first centre:

1. The first centre is drawn with probability proportional to weight during the load job
   (each partition returns its largest Efraimidis-Spirakis key; the largest over all
   partitions wins), so it costs nothing extra.
2. Each round is one pass: a block folds the previous round's candidates into its stored
   nearest-candidate distances (distances to earlier candidates are never recomputed),
   then pre-selects its points for this round against its own cost; the driver, now
   knowing the global cost ``phi``, keeps exactly the points that the textbook rule
   ``u < l w d^2 / phi`` keeps (see :func:`kmeans_spark.kernels.oversample`).
3. A final pass folds in the last candidates and sums the weight nearest to each candidate.
4. The driver reduces the weighted candidates to k centres with weighted greedy k-means++
   and weighted Lloyd (:func:`kmeans_spark.kernels.reduce_candidates`).

Per-block distances live in a state file beside the block. Every update is idempotent, a
retried task reproduces the same random draws (seeded by seed, round and partition), and a
task that finds no state rebuilds it from all candidates: results do not depend on retries.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from kmeans_spark.handle import BlockHandle, Blocks, carry_state
from kmeans_spark.kernels import sparse as csr
from kmeans_spark.kernels.init import SeedRound, reduce_candidates, seed_round_block
from kmeans_spark.tuning import DEFAULT_TUNING, Tuning

log = logging.getLogger(__name__)


@dataclass
class SeedingResult:
    """The initial centres, how they were found, and (k-means||) how many candidates the
    rounds drew and their weighted cost, as the summary reports them."""

    centers: np.ndarray
    mode: str
    candidates: int = 0
    candidate_cost: float | None = None


def sample_points(handles: Sequence[BlockHandle], m: int, dim: int) -> np.ndarray:
    """The ``m`` points with the largest sampling keys over all partitions: a weighted
    sample without replacement drawn during the load job."""
    keys: list[float] = []
    points: list[np.ndarray] = []
    for h in handles:
        if h.sample_keys:
            keys.extend(h.sample_keys)
            points.append(h.sample_rows())
    all_points = np.concatenate(points) if points else np.empty((0, dim))
    order = np.argsort(-np.asarray(keys), kind="stable")[:m]
    return all_points[order]


def random_init(
    handles: Sequence[BlockHandle], k: int, dim: int, seed: int, runs: int = 1
) -> list[SeedingResult]:
    """k distinct rows per restart drawn with probability proportional to weight (no extra
    pass): restart ``r`` takes the sample's rows ``r k`` to ``(r + 1) k - 1``."""
    drawn = sample_points(handles, k * runs, dim)
    results = []
    for r in range(runs):
        centers = drawn[r * k : (r + 1) * k]
        if centers.shape[0] < k:  # fewer than k rows of positive weight left
            rng = np.random.default_rng(run_seed(seed, r))
            pool = drawn if drawn.shape[0] else centers
            extra = rng.choice(pool.shape[0], size=k - centers.shape[0])
            centers = np.concatenate([centers, pool[extra]])
        results.append(SeedingResult(centers=centers, mode="random"))
    return results


def run_seed(seed: int, run: int) -> int:
    """The seed of restart ``run``: run 0 keeps ``seed`` (so ``nInit=1`` and the first of
    several restarts are the same fit), the others get well-mixed seeds of their own."""
    if run == 0:
        return seed
    return int(np.random.SeedSequence([seed, run, 0x5EED5]).generate_state(1)[0]) & 0xFFFFFFFFFFFF


@dataclass
class Candidates:
    """One run's k-means|| candidates, their weights (the weight nearest to each) and the
    weighted cost about them, before the reduction to k centres."""

    points: Any  # (m, d) ndarray, or CSR in a fit with CSR blocks
    weights: np.ndarray
    cost: float


def kmeans_parallel(
    blocks: Blocks,
    *,
    k: int,
    dim: int,
    oversampling_factor: float,
    steps: int,
    seed: int,
    spherical: bool,
    tuning: Tuning = DEFAULT_TUNING,
    runs: int = 1,
) -> list[SeedingResult]:
    """k-means|| over resident blocks for ``runs`` restarts: ``steps`` sampling rounds and
    one weighting pass, each one pass for all runs together; run ``r`` starts from the
    ``r``-th point of the load's sample and draws with :func:`run_seed` ``(seed, r)``."""
    start = time.perf_counter()
    seeds = [run_seed(seed, r) for r in range(runs)]
    found = candidate_rounds(
        blocks, dim=dim, oversampling=oversampling_factor * k, steps=steps, seeds=seeds
    )
    results = []
    for s, c in zip(seeds, found, strict=True):
        results.append(
            SeedingResult(
                centers=reduce_to(c, k, s, spherical=spherical, tuning=tuning),
                mode="k-means||",
                candidates=int(c.points.shape[0]),
                candidate_cost=c.cost / 2.0 if spherical else c.cost,
            )
        )
    log.info(
        "k-means|| done: %s candidates reduced to %d centres, %.3f s",
        "/".join(str(r.candidates) for r in results),
        k,
        time.perf_counter() - start,
    )
    return results


def reduce_to(
    candidates: Candidates, k: int, seed: int, *, spherical: bool, tuning: Tuning
) -> np.ndarray:
    """The weighted candidates reduced to ``k`` centres on the driver (a sweep reduces one
    candidate set to each of its k)."""
    rng = np.random.default_rng([seed, 0xC0FFEE])
    # a fit of CSR blocks has CSR candidates: the same reduction, by the sparse twin
    reduce = csr.reduce_candidates if sp.issparse(candidates.points) else reduce_candidates
    return reduce(
        candidates.points,
        candidates.weights,
        k,
        rng,
        spherical=spherical,
        reductions=tuning.candidate_reductions,
        max_far=tuning.max_far_points,
    )


def candidate_rounds(
    blocks: Blocks, *, dim: int, oversampling: float, steps: int, seeds: list[int]
) -> list[Candidates]:
    """The sampling rounds and the weighting pass of k-means||, for one run per seed in
    the same passes (each run keeps its own per-block state)."""
    runs = len(seeds)
    first = sample_points(blocks.handles, runs, dim)
    if first.shape[0] < runs:  # fewer sampled rows than runs: runs share a first centre
        first = first[np.arange(runs) % max(first.shape[0], 1)]
    # a fit with CSR blocks keeps its candidates CSR (a few times k rows of d features:
    # dense, they would be the k x d matrix many times over)
    sparse = any(h.sparse for h in blocks.handles)
    candidates: list[Any] = [
        csr.as_csr(sp.csr_array(first[r : r + 1])) if sparse else first[r : r + 1]
        for r in range(runs)
    ]
    known = [0] * runs
    weights: list[np.ndarray] = [np.empty(0)] * runs
    costs = [0.0] * runs
    for rnd in range(1, steps + 2):
        sampling = rnd <= steps
        totals = [c.shape[0] for c in candidates]
        with blocks.share(tuple(candidates)) as shared:
            step = functools.partial(
                _seed_block,
                shared=shared,
                known=tuple(zip(known, totals, strict=True)),
                rng_keys=tuple((s, rnd) for s in seeds) if sampling else None,
                oversampling=oversampling,
            )
            t0 = time.perf_counter()
            outcomes = blocks.run(step, _merge_rounds)
        known = totals
        for r, outcome in enumerate(outcomes):
            if sampling:
                keep = outcome.thresholds > outcome.cost
                if sparse:
                    chosen = csr.as_csr(csr.as_csr(outcome.points)[np.flatnonzero(keep)])
                    candidates[r] = csr.as_csr(sp.vstack([candidates[r], chosen], format="csr"))
                else:
                    candidates[r] = np.concatenate([candidates[r], outcome.points[keep]])
            else:
                weights[r], costs[r] = outcome.candidate_weights, outcome.cost
        log.info(
            "k-means|| %s %d: %s candidates, %.3f s",
            "round" if sampling else "weights, pass",
            rnd,
            "/".join(str(c.shape[0]) for c in candidates),
            time.perf_counter() - t0,
        )
    return [Candidates(c, w, cost) for c, w, cost in zip(candidates, weights, costs, strict=True)]


def _merge_rounds(a: list[Any], b: list[Any]) -> list[Any]:
    return [_merge_round(x, y) for x, y in zip(a, b, strict=True)]


def _merge_round(a: Any, b: Any) -> Any:
    """Two blocks' rounds merged; a dense block's with a CSR block's (a mixed fit) as CSR."""
    if isinstance(a, SeedRound) and isinstance(b, SeedRound):
        return a.merge(b)
    return _sparse_round(a).merge(_sparse_round(b))


def _sparse_round(r: Any) -> csr.SparseSeedRound:
    if isinstance(r, csr.SparseSeedRound):
        return r
    return csr.SparseSeedRound(
        r.cost, csr.as_csr(sp.csr_array(r.points)), r.thresholds, r.candidate_weights
    )


def _seed_block(
    h: BlockHandle,
    x: np.ndarray,
    w: np.ndarray | None,
    *,
    shared: Any,
    known: tuple[tuple[int, int], ...],
    rng_keys: tuple[tuple[int, int], ...] | None,
    oversampling: float,
) -> list[SeedRound]:
    """One block's k-means|| pass for every run. Per run, ``known`` = (candidates the
    block's state already covers, candidates in all); ``rng_keys`` = (seed, round) in a
    sampling round, ``None`` in the weighting pass. The state is each row's distance to
    its nearest candidate, one file per run."""
    return [
        _seed_run(
            h,
            x,
            w,
            r,
            shared.value[r],
            known[r],
            None if rng_keys is None else rng_keys[r],
            oversampling,
        )
        for r in range(len(known))
    ]


def _seed_run(
    h: BlockHandle,
    x: np.ndarray,
    w: np.ndarray | None,
    run: int,
    candidates: Any,
    known: tuple[int, int],
    rng_key: tuple[int, int] | None,
    oversampling: float,
) -> Any:
    """One run's k-means|| pass on one block: :func:`seed_round_block`, or its CSR twin for
    a CSR block (no origin: CSR blocks are stored uncentred). The candidates are CSR in a
    fit with CSR blocks; a dense block of such a fit densifies them."""
    prev_known, total = known
    candidates = candidates[:total]
    seed_round: Callable[..., Any]
    if h.sparse:
        seed_round = csr.seed_round_block
    else:
        seed_round = functools.partial(seed_round_block, origin=h.origin_array)
        if sp.issparse(candidates):
            candidates = np.asarray(candidates.toarray())

    def fold(state: np.ndarray | None) -> tuple[Any, np.ndarray]:
        if state is None or state.shape[1] != x.shape[0]:  # none: fold every candidate
            sq_dist = np.full(x.shape[0], np.inf)
            nearest = np.zeros(x.shape[0], dtype=np.int64)
            start_at = 0
        else:
            sq_dist, nearest = state[0].copy(), state[1].astype(np.int64)
            start_at = prev_known
        rng = None if rng_key is None else np.random.default_rng([*rng_key, h.partition])
        result = seed_round(
            x,
            None if w is None else np.asarray(w),
            sq_dist,
            nearest,
            candidates,
            start_at,
            oversampling=oversampling,
            rng=rng,
        )
        return result, np.stack([sq_dist, nearest.astype(np.float64)])

    name = "seed" if run == 0 else f"seed{run}-"
    state_in = f"{name}{prev_known}" if prev_known else None
    return carry_state(h, state_in, f"{name}{total}" if rng_key else None, fold)
