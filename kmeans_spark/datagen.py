"""Seeded Gaussian blobs: the default dataset of the demo, the tests and the benchmarks.

Pure numpy. Well-separated blobs have a known optimum (the generating clusters), which is
how seeding quality is judged: the "oracle" SSE of the true labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Blobs:
    x: np.ndarray  # (n, d) points
    labels: np.ndarray  # (n,) generating cluster of each point
    centers: np.ndarray  # (k, d) generating centres

    def oracle_cost(self) -> float:
        """SSE of the points about the means of their generating clusters."""
        cost = 0.0
        for j in range(self.centers.shape[0]):
            members = self.x[self.labels == j]
            if members.size:
                cost += float(((members - members.mean(axis=0)) ** 2).sum())
        return cost


def make_blobs(
    n: int,
    d: int,
    k: int,
    *,
    spread: float = 1.0,
    box: float = 10.0,
    seed: int = 0,
    dtype: type = np.float64,
) -> Blobs:
    """``n`` points from ``k`` isotropic Gaussians of std ``spread`` whose centres are
    uniform in ``[-box, box]^d``; cluster sizes are as equal as ``n`` allows."""
    rng = np.random.default_rng(seed)
    centers = rng.uniform(-box, box, size=(k, d))
    labels = np.arange(n) % k
    rng.shuffle(labels)
    x = centers[labels] + rng.normal(scale=spread, size=(n, d))
    return Blobs(x=x.astype(dtype), labels=labels, centers=centers)
