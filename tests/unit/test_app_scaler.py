"""The job's feature scaling (numpy only) and its scaler.json."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kmeans_spark.app.scaler import Scaler


def test_scalers_round_trip_and_constant_features() -> None:
    x = np.array([[1.0, 5.0, 3.0], [3.0, 5.0, 7.0]])
    std = Scaler.from_stats(
        "standard", ["a", "b", "c"], list(x.mean(0)), list(x.std(0)), list(x.min(0)), list(x.max(0))
    )
    np.testing.assert_allclose(std.forward(x), [[-1, 0, -1], [1, 0, 1]])
    assert std.constant == ["b"]
    np.testing.assert_allclose(std.inverse(std.forward(x)), x)
    mm = Scaler.from_stats("minmax", ["a", "b", "c"], [0, 0, 0], [1, 1, 1], [1, 5, 3], [3, 5, 7])
    np.testing.assert_allclose(mm.forward(x), [[0, 0, 0], [1, 0, 1]])
    again = Scaler.from_json(mm.to_json())
    assert again == mm
    ident = Scaler.identity(["a"])
    np.testing.assert_array_equal(ident.forward(np.array([[2.0]])), [[2.0]])


def good() -> dict[str, object]:
    return json.loads(Scaler.identity(["a", "b"]).to_json())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: "{not json", r"^not JSON \("),
        (lambda d: "[1, 2]", r"a JSON list, not an object"),
        (lambda d: json.dumps({k: v for k, v in d.items() if k != "scale"}), r"^no scale$"),
        (lambda d: json.dumps({**d, "method": "log"}), r"method 'log' is not one of"),
        (lambda d: json.dumps({**d, "features": "a,b"}), r"features is not a list"),
        (lambda d: json.dumps({**d, "offset": [0.0]}), r"offset is not 2 finite numbers"),
        (lambda d: json.dumps({**d, "scale": [1.0, "x"]}), r"scale is not 2 finite numbers"),
        (lambda d: json.dumps({**d, "scale": [1.0, 0.0]}), r"scale has a zero"),
    ],
)
def test_a_damaged_scaler_json_says_what_is_wrong(change: object, message: str) -> None:
    text = change(good())  # type: ignore[operator]
    with pytest.raises(ValueError, match=message):
        Scaler.from_json(text)


def test_the_scalings_are_declared_once() -> None:
    from kmeans_spark.app.scaler import METHODS
    from kmeans_spark.options import BY_KEY

    assert METHODS is BY_KEY["job.scale"].choices
