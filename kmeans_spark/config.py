"""Job configuration: built-in defaults < a TOML file (``--config``) < command-line flags.

The file has four tables: ``[input]``, ``[job]``, ``[output]`` and ``[spark]`` (any Spark
setting, passed to the SparkSession builder as is). Every key can also be set on the command
line, by its own flag or generically with ``--set table.key=value``; Spark settings with
``--conf key=value``. Unknown keys and values of the wrong type are rejected with the key,
the file and the rule, since a typo in a scheduled job's config should fail loudly.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kmeans_spark.errors import KMeansInputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

FORMATS = ("csv", "parquet", "json", "orc")
SCALINGS = ("none", "standard", "minmax")
MODES = ("error", "overwrite")
BAD_ROW_POLICIES = ("error", "drop")

#: Every key the job knows, with its default. The type of the default is the key's type.
DEFAULTS: dict[str, dict[str, Any]] = {
    "input": {
        "path": "",
        "format": "parquet",
        "features": [],
        "id_cols": [],
        "where": "",
        "header": True,
        "delimiter": ",",
    },
    "job": {
        "k": 2,
        "max_iter": 20,
        "tol": 1e-4,
        "seed": 42,
        "init_steps": 2,
        "init_mode": "k-means||",
        "init_model": "",
        "distance": "euclidean",
        "dtype": "float64",
        "scale": "none",
        "bad_rows": "error",
        "partitions": 0,
    },
    "output": {
        "path": "",
        "mode": "error",
        "keep_features": False,
    },
    "spark": {},
}


@dataclass
class JobConfig:
    """The resolved configuration of one run (``{run_date}`` already substituted)."""

    input_path: str
    input_format: str
    features: list[str]
    id_cols: list[str]
    where: str
    header: bool
    delimiter: str
    k: int
    max_iter: int
    tol: float
    seed: int
    init_steps: int
    init_mode: str
    init_model: str
    distance: str
    dtype: str
    scale: str
    bad_rows: str
    partitions: int
    output_path: str
    mode: str
    keep_features: bool
    run_date: str
    spark: dict[str, str] = field(default_factory=dict)
    source: str = "built-in defaults"

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


def _type_name(value: Any) -> str:
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string"}.get(
        type(value), "a list of strings"
    )


def _coerce(table: str, key: str, value: Any, default: Any, where: str) -> Any:
    """``value`` as the type of ``default``; strings from the command line are parsed."""
    name = f"{table}.{key}"

    def bad() -> KMeansInputError:
        return KMeansInputError(
            f"{name}={value!r} ({where}) must be {_type_name(default)}; fix the value."
        )

    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise bad()
    if isinstance(default, int):
        if isinstance(value, bool):
            raise bad()
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                raise bad() from None
        raise bad()
    if isinstance(default, float):
        if isinstance(value, bool):
            raise bad()
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise bad() from None
        raise bad()
    if isinstance(default, list):
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        raise bad()
    if isinstance(value, str):
        return value
    raise bad()


def read_toml(path: str) -> dict[str, Any]:
    """Parse a config file; a missing or malformed file is a one-line error."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise KMeansInputError(
            f"config file {path!r} does not exist; pass an existing file to --config."
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise KMeansInputError(
            f"config file {path!r} is not valid TOML ({exc}); fix the syntax."
        ) from None


def merge_layer(merged: dict[str, dict[str, Any]], layer: Mapping[str, Any], where: str) -> None:
    """Merge one layer (a parsed file, or the command line's overrides) into ``merged``."""
    for table, values in layer.items():
        if table not in DEFAULTS:
            raise KMeansInputError(
                f"unknown table [{table}] in {where}; the tables are "
                f"{', '.join('[' + t + ']' for t in DEFAULTS)}."
            )
        if not isinstance(values, Mapping):
            raise KMeansInputError(f"[{table}] in {where} must be a table of key = value.")
        for key, value in values.items():
            if table == "spark":
                merged["spark"][str(key)] = (
                    str(value).lower() if isinstance(value, bool) else str(value)
                )
                continue
            if key not in DEFAULTS[table]:
                known = ", ".join(sorted(DEFAULTS[table]))
                raise KMeansInputError(
                    f"unknown key {table}.{key} in {where}; known keys of [{table}]: {known}."
                )
            merged[table][key] = _coerce(table, key, value, DEFAULTS[table][key], where)


def parse_assignment(text: str, flag: str) -> tuple[str, str]:
    if "=" not in text:
        raise KMeansInputError(f"{flag} {text!r} must look like key=value.")
    key, value = text.split("=", 1)
    return key.strip(), value.strip()


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise KMeansInputError(
            f"{name}={value!r} is not supported; use one of {', '.join(allowed)}."
        )


def resolve_run_date(value: str | None) -> str:
    if not value:
        return dt.datetime.now(dt.timezone.utc).date().isoformat()
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise KMeansInputError(
            f"run date {value!r} is not a date; use YYYY-MM-DD, e.g. 2026-11-22."
        ) from None


def template(text: str, run_date: str) -> str:
    """Substitute ``{run_date}`` (and ``{run_date_nodash}``) in paths and filters."""
    return text.replace("{run_date}", run_date).replace(
        "{run_date_nodash}", run_date.replace("-", "")
    )


def load_config(
    config_file: str | None,
    overrides: Mapping[str, Mapping[str, Any]],
    run_date: str | None,
) -> JobConfig:
    """Defaults, then the file, then the command line; validated and templated."""
    merged: dict[str, dict[str, Any]] = {t: dict(v) for t, v in DEFAULTS.items()}
    if config_file:
        merge_layer(merged, read_toml(config_file), f"config file {config_file!r}")
    merge_layer(merged, overrides, "the command line")
    date = resolve_run_date(run_date)
    inp, job, out = merged["input"], merged["job"], merged["output"]
    if not inp["path"]:
        raise KMeansInputError("no input path; pass --input PATH (or set input.path).")
    if not out["path"]:
        raise KMeansInputError("no output path; pass --output DIR (or set output.path).")
    _choice("format", inp["format"], FORMATS)
    _choice("scale", job["scale"], SCALINGS)
    _choice("mode", out["mode"], MODES)
    _choice("bad_rows", job["bad_rows"], BAD_ROW_POLICIES)
    if len(inp["delimiter"]) != 1:
        raise KMeansInputError(
            f"delimiter={inp['delimiter']!r} must be one character, e.g. ',' or ';'."
        )
    return JobConfig(
        input_path=template(inp["path"], date),
        input_format=inp["format"],
        features=inp["features"],
        id_cols=inp["id_cols"],
        where=template(inp["where"], date),
        header=inp["header"],
        delimiter=inp["delimiter"],
        k=job["k"],
        max_iter=job["max_iter"],
        tol=job["tol"],
        seed=job["seed"],
        init_steps=job["init_steps"],
        init_mode=job["init_mode"],
        init_model=template(job["init_model"], date),
        distance=job["distance"],
        dtype=job["dtype"],
        scale=job["scale"],
        bad_rows=job["bad_rows"],
        partitions=job["partitions"],
        output_path=template(out["path"], date),
        mode=out["mode"],
        keep_features=out["keep_features"],
        run_date=date,
        spark=dict(merged["spark"]),
        source=config_file or "built-in defaults",
    )
