"""Feature scaling for the batch job: ``none``, ``standard`` (mean/std) or ``minmax``.

The statistics come from the job's single input-statistics pass; the scaler is saved beside
the model (``scaler.json``) and applied again by ``predict``, and it maps centres back to
the original units for ``centers.csv``. Pure numpy and JSON: no Spark here.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from kmeans_spark.options import BY_KEY

#: The scalings, as ``job.scale`` declares them.
METHODS = BY_KEY["job.scale"].choices


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
            raise ValueError(f"scaling {method!r} is not one of {', '.join(METHODS)}")
        usable = [bool(s and np.isfinite(s) and s > 0) for s in spread]
        return cls(
            method,
            list(features),
            [float(v) for v in offset],
            [float(s) if ok else 1.0 for s, ok in zip(spread, usable, strict=True)],
            [f for f, ok in zip(features, usable, strict=True) if not ok],
        )

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``x``, ndarray of shape (n, n_features) in original units, scaled."""
        return (np.asarray(x, dtype=np.float64) - np.array(self.offset)) / np.array(self.scale)

    def inverse(self, x: np.ndarray) -> np.ndarray:
        """``x``, ndarray of shape (n, n_features) in scaled units, back in original units."""
        return np.asarray(x, dtype=np.float64) * np.array(self.scale) + np.array(self.offset)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> Scaler:
        """Parse ``scaler.json``; raise ``ValueError`` saying what is wrong with it."""
        try:
            data: Any = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ValueError(f"a JSON {type(data).__name__}, not an object")
        missing = [k for k in ("method", "features", "offset", "scale") if k not in data]
        if missing:
            raise ValueError(f"no {', '.join(missing)}")
        features, offset, scale = data["features"], data["offset"], data["scale"]
        if data["method"] not in METHODS:
            raise ValueError(f"method {data['method']!r} is not one of {', '.join(METHODS)}")
        if not (isinstance(features, list) and all(isinstance(f, str) for f in features)):
            raise ValueError("features is not a list of column names")
        for name, values in (("offset", offset), ("scale", scale)):
            if not (
                isinstance(values, list)
                and len(values) == len(features)
                and all(_finite_number(v) for v in values)
            ):
                raise ValueError(f"{name} is not {len(features)} finite numbers, one a feature")
        if any(s == 0 for s in scale):
            raise ValueError("scale has a zero")
        return cls(
            data["method"],
            features,
            [float(v) for v in offset],
            [float(v) for v in scale],
            list(data.get("constant", [])),
        )


def _finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
