"""Feature scaling for the batch job: ``none``, ``standard`` (mean/std) or ``minmax``.

The statistics come from the job's single input-statistics pass; the scaler is saved beside
the model (``scaler.json``) and applied again by ``predict``, and it maps centres back to
the original units for ``centers.csv``. Pure numpy and JSON: no Spark here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Scaler:
    """``scaled = (x - offset) / scale`` per feature."""

    method: str
    features: list[str]
    offset: list[float]
    scale: list[float]
    constant: list[str]  # features with no spread (scale left at 1)

    @classmethod
    def identity(cls, features: list[str]) -> Scaler:
        n = len(features)
        return cls("none", list(features), [0.0] * n, [1.0] * n, [])

    @classmethod
    def from_stats(
        cls,
        method: str,
        features: list[str],
        mean: list[float],
        std: list[float],
        minimum: list[float],
        maximum: list[float],
    ) -> Scaler:
        """A constant feature (std or range 0) keeps scale 1, so it maps to 0, not NaN."""
        if method == "none":
            return cls.identity(features)
        if method == "standard":
            offset, spread = mean, std
        elif method == "minmax":
            offset = minimum
            spread = [hi - lo for lo, hi in zip(minimum, maximum, strict=True)]
        else:
            raise ValueError(f"unknown scaling {method!r}")
        usable = [bool(s and np.isfinite(s) and s > 0) for s in spread]
        return cls(
            method,
            list(features),
            [float(v) for v in offset],
            [float(s) if ok else 1.0 for s, ok in zip(spread, usable, strict=True)],
            [f for f, ok in zip(features, usable, strict=True) if not ok],
        )

    def forward(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - np.array(self.offset)) / np.array(self.scale)

    def inverse(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float64) * np.array(self.scale) + np.array(self.offset)

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2)

    @classmethod
    def from_json(cls, text: str) -> Scaler:
        data: dict[str, Any] = json.loads(text)
        return cls(
            data["method"], data["features"], data["offset"], data["scale"], data["constant"]
        )
