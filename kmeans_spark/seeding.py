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

import contextlib
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kmeans_spark import blockstore, kernels
from kmeans_spark.blocks import BlockHandle, ResidentBlocks

log = logging.getLogger(__name__)

#: Reductions of the candidates tried on the driver (best kept). Env override for tuning.
CANDIDATE_RESTARTS = int(os.environ.get("KMEANS_SPARK_CANDIDATE_RESTARTS", "5"))


@dataclass
class SeedingResult:
    centers: np.ndarray
    mode: str
    candidates: int = 0
    candidate_cost: float | None = None
    round_costs: list[float] = field(default_factory=list)
    passes: int = 0
    seconds: float = 0.0


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
    start = time.perf_counter()
    centers = sample_points(handles, k, dim)
    if centers.shape[0] < k:  # fewer than k rows of positive weight
        rng = np.random.default_rng(seed)
        extra = rng.choice(centers.shape[0], size=k - centers.shape[0])
        centers = np.concatenate([centers, centers[extra]])
    return SeedingResult(centers=centers, mode="random", seconds=time.perf_counter() - start)


def kmeans_parallel(
    blocks: ResidentBlocks,
    *,
    k: int,
    dim: int,
    oversampling_factor: float,
    steps: int,
    seed: int,
    spherical: bool,
) -> SeedingResult:
    """k-means|| over resident blocks: ``steps`` sampling rounds and one weighting pass."""
    start = time.perf_counter()
    candidates = sample_points(blocks.handles, 1, dim)
    oversampling = oversampling_factor * k
    known = 0
    round_costs: list[float] = []
    candidate_weights = np.empty(0)
    candidate_cost = 0.0
    for rnd in range(1, steps + 2):
        sampling = rnd <= steps
        total = candidates.shape[0]
        prev_known = known
        with blocks.share(candidates) as shared:

            def step(
                h: BlockHandle,
                x: np.ndarray,
                w: np.ndarray | None,
                rnd: int = rnd,
                sampling: bool = sampling,
                total: int = total,
                prev_known: int = prev_known,
                shared: Any = shared,
            ) -> kernels.SeedRound:
                cands = shared.value
                state_in = h.state_path(f"seed{prev_known}")
                state = blockstore.load_state(state_in) if prev_known else None
                if state is None or state.shape[1] != x.shape[0]:
                    sq_dist = np.full(x.shape[0], np.inf)
                    nearest = np.zeros(x.shape[0], dtype=np.int64)
                    start_at = 0
                else:
                    sq_dist = state[0].copy()
                    nearest = state[1].astype(np.int64)
                    start_at = prev_known
                rng = np.random.default_rng([seed, rnd, h.partition]) if sampling else None
                result = kernels.seed_round_block(
                    x,
                    None if w is None else np.asarray(w),
                    sq_dist,
                    nearest,
                    cands[:total],
                    start_at,
                    oversampling=oversampling,
                    rng=rng,
                    origin=h.origin_array,
                )
                if sampling:
                    state_out = np.stack([sq_dist, nearest.astype(np.float64)])
                    blockstore.save_array(h.state_path(f"seed{total}"), state_out)
                if prev_known and prev_known != total:  # a round without new candidates
                    with contextlib.suppress(OSError):  # saved its state to the same path
                        os.unlink(state_in)
                return result

            t0 = time.perf_counter()
            outcome = blocks.run(step, kernels.SeedRound.merge)
        known = total
        if sampling:
            phi = outcome.cost
            round_costs.append(phi)
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
    centers = kernels.reduce_candidates(
        candidates, candidate_weights, k, rng, spherical=spherical, n_init=CANDIDATE_RESTARTS
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
        round_costs=[c / 2.0 if spherical else c for c in round_costs],
        passes=steps + 1,
        seconds=seconds,
    )
