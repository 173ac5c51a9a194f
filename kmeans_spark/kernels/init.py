"""Seeding kernels: k-means|| per-block rounds (Bahmani et al., VLDB 2012), weighted
greedy k-means++ and the driver's reduction of weighted candidates to k centres."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from kmeans_spark.kernels.distance import (
    F64,
    I64,
    FloatArray,
    nearest_centers,
    origin_or_zero,
    squared_norms,
)
from kmeans_spark.kernels.step import max_center_shift, partial_stats, update_centers


def sampling_keys(weights: F64, rng: np.random.Generator) -> F64:
    """Efraimidis-Spirakis keys ``log(u) / w``: the m largest keys are a weighted sample of
    m points without replacement, and keys from separate blocks merge by taking the largest.
    Points of weight zero get ``-inf`` and are never chosen."""
    u = rng.random(weights.size)
    with np.errstate(divide="ignore"):
        return np.where(weights > 0, np.log(u) / np.where(weights > 0, weights, 1.0), -np.inf)


def update_nearest_candidate(
    x: FloatArray,
    sq_dist: F64,
    nearest: I64,
    new_candidates: F64,
    offset: int,
    origin: F64 | None = None,
) -> None:
    """Fold new k-means|| candidates into each point's distance to its nearest candidate.

    ``sq_dist`` and ``nearest`` are updated in place; candidate ``j`` of ``new_candidates``
    gets index ``offset + j``. Applying the same candidates twice changes nothing, so a
    retried task cannot corrupt the state.
    """
    if new_candidates.shape[0] == 0 or x.shape[0] == 0:
        return
    labels, d2 = nearest_centers(x, new_candidates - origin_or_zero(origin, x.shape[1]))
    closer = d2 < sq_dist
    sq_dist[closer] = d2[closer]
    nearest[closer] = labels[closer] + offset


def oversample(
    sq_dist: F64,
    weights: F64 | None,
    oversampling: float,
    local_cost: float,
    rng: np.random.Generator,
) -> tuple[I64, F64]:
    """One k-means|| round on one block, without knowing the global cost yet.

    Bahmani et al. keep point x with probability ``min(1, l w d^2(x) / phi)``; with a
    uniform ``u`` per point that is ``phi < t`` for the threshold ``t = l w d^2 / u``. The
    global ``phi`` is at least this block's own cost, so the block returns every point with
    ``t > local_cost`` (at most about ``l`` of them in expectation) and the driver keeps
    those with ``t > phi`` once all blocks have reported. This folds the cost pass and the
    sampling pass of a round into one.

    Returns the indices of the pre-selected points and their thresholds ``t``.
    """
    u = rng.random(sq_dist.size)
    w = 1.0 if weights is None else weights
    with np.errstate(divide="ignore", invalid="ignore"):
        t = oversampling * w * sq_dist / u
    t = np.nan_to_num(t, nan=0.0, posinf=np.inf)
    chosen = np.flatnonzero(t > local_cost)
    return chosen.astype(np.int64), t[chosen]


def kmeans_plusplus(
    points: F64,
    weights: F64,
    k: int,
    rng: np.random.Generator,
    n_local_trials: int | None = None,
) -> F64:
    """Weighted greedy k-means++ (Arthur & Vassilvitskii 2007; greedy trials as scikit-learn).

    Each new centre is the best of ``2 + log(k)`` candidates drawn with probability
    proportional to ``w * D^2``. When every remaining point already sits on a centre
    (fewer distinct points than k), further centres repeat chosen points; the Lloyd step
    then reseeds or keeps them.

    Parameters
    ----------
    points : ndarray of shape (m, d)
    weights : ndarray of shape (m,), non-negative, not all zero
    k : int, 1 <= k
    """
    m, d = points.shape
    trials = n_local_trials or 2 + int(math.log(k))
    centers = np.empty((k, d))
    pn = squared_norms(points)
    probs = weights / weights.sum()
    first = int(rng.choice(m, p=probs))
    centers[0] = points[first]
    closest = np.maximum(pn - 2 * points @ points[first] + pn[first], 0.0)
    potential = float(weights @ closest)
    for c in range(1, k):
        if potential <= 0:
            centers[c] = points[int(rng.choice(m, p=probs))]
            continue
        cumulative = np.cumsum(weights * closest)
        draws = rng.random(trials) * cumulative[-1]
        ids = np.minimum(np.searchsorted(cumulative, draws), m - 1)
        d2 = pn[ids][:, None] - 2 * points[ids] @ points.T + pn[None, :]
        np.maximum(d2, 0.0, out=d2)
        np.minimum(d2, closest[None, :], out=d2)
        pots = d2 @ weights
        best = int(np.argmin(pots))
        potential = float(pots[best])
        closest = d2[best]
        centers[c] = points[ids[best]]
    return centers


def local_lloyd(
    points: F64,
    weights: F64,
    centers: F64,
    max_iter: int = 30,
    tol: float = 1e-4,
    spherical: bool = False,
    max_far: int = 32,
    stats_of: Callable[..., Any] = partial_stats,
) -> F64:
    """Weighted Lloyd on the driver (the last step of k-means|| on the candidates).

    Uses the same statistics and update kernels as the distributed iteration, with empty
    clusters reseeded from the ``max_far`` farthest points, so the reduction of candidates
    behaves like the real fit. ``stats_of`` is the block kernel (the CSR twin's
    ``partial_stats`` for sparse candidates; :func:`update_centers` follows its result).
    """
    for _ in range(max_iter):
        stats = stats_of(points, weights, centers, n_far=min(len(centers), max_far))
        update = update_centers(stats, centers, reseed_empty=True, spherical=spherical)
        shift = max_center_shift(centers, update.centers, spherical)
        centers = update.centers
        if shift <= tol:
            break
    return centers


@dataclass
class SeedRound:
    """What one block reports in a k-means|| pass: its cost, its pre-selected points with
    their thresholds, and (in the final pass) the weight nearest to each candidate."""

    cost: float
    points: F64  # (p, d) pre-selected points, float64
    thresholds: F64  # (p,)
    candidate_weights: F64  # (m,) or empty outside the weighting pass

    def merge(self, other: SeedRound) -> SeedRound:
        if self.candidate_weights.size and other.candidate_weights.size:
            weights = self.candidate_weights + other.candidate_weights
        else:
            weights = (
                self.candidate_weights if self.candidate_weights.size else (other.candidate_weights)
            )
        return SeedRound(
            cost=self.cost + other.cost,
            points=np.concatenate([self.points, other.points]),
            thresholds=np.concatenate([self.thresholds, other.thresholds]),
            candidate_weights=weights,
        )


def seed_round_block(
    x: FloatArray,
    weights: F64 | None,
    sq_dist: F64,
    nearest: I64,
    candidates: F64,
    known: int,
    *,
    oversampling: float,
    rng: np.random.Generator | None,
    origin: F64 | None = None,
) -> SeedRound:
    """One block's k-means|| pass: fold candidates ``known:`` into the block's distances,
    then either pre-select points for the next round (``rng`` given) or, in the final pass
    (``rng`` None), sum the weight nearest to each candidate.

    ``sq_dist`` and ``nearest`` (the block's state) are updated in place.
    """
    update_nearest_candidate(x, sq_dist, nearest, candidates[known:], known, origin)
    w = np.ones(x.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    local_cost = float(sq_dist @ w)
    d = candidates.shape[1]
    if rng is None:
        return SeedRound(
            cost=local_cost,
            points=np.empty((0, d)),
            thresholds=np.empty(0),
            candidate_weights=np.bincount(nearest, weights=w, minlength=candidates.shape[0]).astype(
                np.float64
            ),
        )
    chosen, thresholds = oversample(sq_dist, w, oversampling, local_cost, rng)
    return SeedRound(
        cost=local_cost,
        points=np.asarray(x[chosen], dtype=np.float64) + origin_or_zero(origin, x.shape[1]),
        thresholds=thresholds,
        candidate_weights=np.empty(0),
    )


def reduce_candidates(
    candidates: F64,
    weights: F64,
    k: int,
    rng: np.random.Generator,
    spherical: bool = False,
    max_iter: int = 30,
    reductions: int = 1,
    max_far: int = 32,
) -> F64:
    """The driver's last k-means|| step: k centres from weighted candidates.

    Weighted greedy k-means++ then weighted Lloyd on the candidates; with ``reductions > 1``
    that is repeated and the centres of lowest weighted cost on the candidates are kept
    (cheap: the candidates are a few times k points, and it is what decides whether the
    seeding finds the optimum on well-separated data). With ``k`` or fewer
    candidates, all of them are used and the rest repeat candidates drawn by weight (they
    start empty and are reseeded or kept by the main iteration).
    """
    m = candidates.shape[0]
    if m <= k:
        extra = rng.choice(m, size=k - m, p=weights / weights.sum()) if k > m else []
        return np.concatenate([candidates, candidates[extra]])
    best: F64 | None = None
    best_cost = np.inf
    for _ in range(max(1, reductions)):
        init = kmeans_plusplus(candidates, weights, k, rng)
        centers = local_lloyd(
            candidates,
            weights,
            init,
            max_iter=max_iter,
            tol=0.0,
            spherical=spherical,
            max_far=max_far,
        )
        cost = partial_stats(candidates, weights, centers).cost
        if cost < best_cost:
            best, best_cost = centers, cost
    assert best is not None
    return best
