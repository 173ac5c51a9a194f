"""Seeded Gaussian blobs: the default dataset of the demo, the tests and the benchmarks.

Pure numpy. Well-separated blobs have a known optimum (the generating clusters), which is
how seeding quality is judged: the "oracle" SSE of the true labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


def blobs_frame(blobs: Blobs, id_prefix: str = "p") -> Any:
    """The blobs as a pandas DataFrame: ``id``, ``x0..x{d-1}``, ``label``."""
    import pandas as pd

    frame = pd.DataFrame(blobs.x, columns=[f"x{i}" for i in range(blobs.x.shape[1])])
    frame.insert(0, "id", [f"{id_prefix}{i}" for i in range(len(frame))])
    frame["label"] = blobs.labels
    return frame


def write_blobs(path: str, blobs: Blobs, fmt: str = "parquet", files: int = 2) -> list[str]:
    """Write blobs as ``files`` CSV or Parquet files under directory ``path`` (no Spark)."""
    import os

    import numpy as np

    frame = blobs_frame(blobs)
    os.makedirs(path, exist_ok=True)
    written = []
    for i, part in enumerate(np.array_split(np.arange(len(frame)), files)):
        chunk = frame.iloc[part]
        name = os.path.join(path, f"part-{i:05d}.{fmt}")
        if fmt == "csv":
            chunk.to_csv(name, index=False)
        elif fmt == "parquet":
            chunk.to_parquet(name, index=False)
        else:
            raise ValueError(f"fmt={fmt!r} must be csv or parquet")
        written.append(name)
    return written
