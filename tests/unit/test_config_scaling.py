"""Job configuration layering and validation, and feature scaling (no Spark)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kmeans_spark.config import load_config, template
from kmeans_spark.errors import KMeansInputError
from kmeans_spark.scaling import Scaler

ROOT = Path(__file__).resolve().parents[2]


def test_layers_defaults_file_then_command_line(tmp_path: Path) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text(
        '[input]\npath = "lake/dt={run_date}"\nfeatures = ["a", "b"]\n'
        '[job]\nk = 7\ntol = 1\n[output]\npath = "out/{run_date_nodash}"\n'
        '[spark]\n"spark.sql.shuffle.partitions" = 3\n"spark.ui.enabled" = false\n'
    )
    cfg = load_config(str(conf), {"job": {"k": "9"}, "spark": {"x.y": "z"}}, "2026-11-22")
    assert cfg.k == 9 and cfg.tol == 1.0 and cfg.max_iter == 20
    assert cfg.input_path == "lake/dt=2026-11-22" and cfg.output_path == "out/20261122"
    assert cfg.features == ["a", "b"]
    assert cfg.spark == {
        "spark.sql.shuffle.partitions": "3",
        "spark.ui.enabled": "false",
        "x.y": "z",
    }
    assert cfg.source == str(conf)


@pytest.mark.parametrize("name", ["local.toml", "cluster.toml"])
def test_shipped_config_files_load(name: str) -> None:
    cfg = load_config(
        str(ROOT / "conf" / name), {"input": {"path": "i"}, "output": {"path": "o"}}, None
    )
    assert cfg.k == 5 and cfg.mode == "error"


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ({"job": {"kk": 1}}, r"unknown key job.kk in the command line; known keys of \[job\]"),
        ({"jobs": {"k": 1}}, r"unknown table \[jobs\]"),
        ({"job": {"k": "x"}}, r"job.k='x' \(the command line\) must be an integer"),
        ({"job": {"k": True}}, r"must be an integer"),
        ({"job": {"tol": "fast"}}, r"job.tol='fast' .* must be a number"),
        ({"output": {"keep_features": "maybe"}}, r"must be true/false"),
        (
            {"job": {"scale": "log"}},
            r"scale='log' is not supported; use one of none, standard, minmax",
        ),
        ({"output": {"mode": "append"}}, r"mode='append' is not supported"),
        ({"input": {"format": "xlsx"}}, r"format='xlsx' is not supported"),
        ({"input": {"delimiter": "::"}}, r"delimiter='::' must be one character"),
    ],
)
def test_bad_values_are_one_line_errors(layer: dict, message: str) -> None:
    base = {"input": {"path": "i"}, "output": {"path": "o"}}
    for table, values in layer.items():
        base.setdefault(table, {}).update(values)
    with pytest.raises(KMeansInputError, match=message):
        load_config(None, base, "2026-01-01")


def test_missing_paths_and_dates() -> None:
    with pytest.raises(KMeansInputError, match=r"no input path; pass --input PATH"):
        load_config(None, {"output": {"path": "o"}}, None)
    with pytest.raises(KMeansInputError, match=r"no output path; pass --output DIR"):
        load_config(None, {"input": {"path": "i"}}, None)
    with pytest.raises(KMeansInputError, match=r"run date '2026-13-01' is not a date"):
        load_config(None, {"input": {"path": "i"}, "output": {"path": "o"}}, "2026-13-01")


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(KMeansInputError, match=r"config file .* does not exist"):
        load_config(str(tmp_path / "nope.toml"), {}, None)
    bad = tmp_path / "bad.toml"
    bad.write_text("[job\nk=1")
    with pytest.raises(KMeansInputError, match=r"is not valid TOML \("):
        load_config(str(bad), {}, None)


def test_template() -> None:
    assert template("a/{run_date}/{run_date_nodash}", "2026-01-02") == "a/2026-01-02/20260102"


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
