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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kmeans_spark.handle import BlockHandle, Blocks, carry_state
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
            points.append(np.asarray(h.sample_points, dtype=np.float64).reshape(-1, dim))
    all_points = np.concatenate(points) if points else np.empty((0, dim))
    order = np.argsort(-np.asarray(keys), kind="stable")[:m]
    return all_points[order]


def random_init(handles: Sequence[BlockHandle], k: int, dim: int, seed: int) -> SeedingResult:
    """k distinct rows drawn with probability proportional to weight (no extra pass)."""
    centers = sample_points(handles, k, dim)
    if centers.shape[0] < k:  # fewer than k rows of positive weight
        rng = np.random.default_rng(seed)
        extra = rng.choice(centers.shape[0], size=k - centers.shape[0])
        centers = np.concatenate([centers, centers[extra]])
    return SeedingResult(centers=centers, mode="random")


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
) -> SeedingResult:
    """k-means|| over resident blocks: ``steps`` sampling rounds and one weighting pass."""
    start = time.perf_counter()
    candidates = sample_points(blocks.handles, 1, dim)
    oversampling = oversampling_factor * k
    known = 0
    candidate_weights = np.empty(0)
    candidate_cost = 0.0
    for rnd in range(1, steps + 2):
        sampling = rnd <= steps
        total = candidates.shape[0]
        prev_known = known
        with blocks.share(candidates) as shared:
            step = functools.partial(
                _seed_block,
                shared=shared,
                known=(prev_known, total),
                rng_key=(seed, rnd) if sampling else None,
                oversampling=oversampling,
            )
            t0 = time.perf_counter()
            outcome = blocks.run(step, SeedRound.merge)
        known = total
        if sampling:
            phi = outcome.cost
            keep = outcome.thresholds > phi
            new = outcome.points[keep]
            candidates = np.concatenate([candidates, new])
            log.info(
                "k-means|| round %d: cost %.6g, %d new candidates (%d in all), %.3f s",
                rnd,
                phi,
                new.shape[0],
                candidates.shape[0],
                time.perf_counter() - t0,
            )
        else:
            candidate_weights = outcome.candidate_weights
            candidate_cost = outcome.cost
            log.info("k-means|| candidate weights: %.3f s", time.perf_counter() - t0)
    rng = np.random.default_rng([seed, 0xC0FFEE])
    centers = reduce_candidates(
        candidates,
        candidate_weights,
        k,
        rng,
        spherical=spherical,
        reductions=tuning.candidate_reductions,
        max_far=tuning.max_far_points,
    )
    seconds = time.perf_counter() - start
    log.info(
        "k-means|| done: %d candidates reduced to %d centres, %.3f s",
        candidates.shape[0],
        k,
        seconds,
    )
    return SeedingResult(
        centers=centers,
        mode="k-means||",
        candidates=int(candidates.shape[0]),
        candidate_cost=candidate_cost / 2.0 if spherical else candidate_cost,
    )


def _seed_block(
    h: BlockHandle,
    x: np.ndarray,
    w: np.ndarray | None,
    *,
    shared: Any,
    known: tuple[int, int],
    rng_key: tuple[int, int] | None,
    oversampling: float,
) -> SeedRound:
    """One block's k-means|| pass. ``known`` = (candidates the block's state already
    covers, candidates in all); ``rng_key`` = (seed, round) in a sampling round, ``None``
    in the weighting pass. The state is each row's distance to its nearest candidate."""
    prev_known, total = known

    def fold(state: np.ndarray | None) -> tuple[SeedRound, np.ndarray]:
        if state is None or state.shape[1] != x.shape[0]:  # none: fold every candidate
            sq_dist = np.full(x.shape[0], np.inf)
            nearest = np.zeros(x.shape[0], dtype=np.int64)
            start_at = 0
        else:
            sq_dist, nearest = state[0].copy(), state[1].astype(np.int64)
            start_at = prev_known
        rng = None if rng_key is None else np.random.default_rng([*rng_key, h.partition])
        result = seed_round_block(
            x,
            None if w is None else np.asarray(w),
            sq_dist,
            nearest,
            shared.value[:total],
            start_at,
            oversampling=oversampling,
            rng=rng,
            origin=h.origin_array,
        )
        return result, np.stack([sq_dist, nearest.astype(np.float64)])

    state_in = f"seed{prev_known}" if prev_known else None
    return carry_state(h, state_in, f"seed{total}" if rng_key else None, fold)
