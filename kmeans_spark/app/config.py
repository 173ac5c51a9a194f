"""Job configuration: built-in defaults < a TOML file (``--config``) < the command line.

The file has five tables, one dataclass each: ``[input]`` (:class:`InputConfig`), ``[job]``
(:class:`JobConfig`), ``[output]`` (:class:`OutputConfig`), ``[text]`` (:class:`TextConfig`,
recommend's) and ``[spark]`` (:class:`SparkConfig`: any Spark setting, passed to the
SparkSession builder as is; ``spark.remote``, ``--remote`` or ``SPARK_REMOTE``: the URL of a
Spark Connect server to run on instead). Keys,
types, defaults, allowed values and rules come from :data:`kmeans_spark.options.OPTIONS`;
the dataclasses only give them Python types, and are checked against the table at import.

Every key can also be set on the command line, by its own flag or with ``--set
table.key=value``; Spark settings with ``--conf key=value``. Unknown keys, values of the
wrong type and values that break a rule (``k >= 2``) are rejected here, before Spark starts,
naming the key as the user wrote it (``--k`` or ``job.k``) and where it came from: a typo
in a scheduled job's config should fail loudly and at once.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kmeans_spark.app.paths import absolute, check_apart, has_glob, has_scheme, template
from kmeans_spark.connect_url import (
    REMOTE_ENV,
    REMOTE_KEY,
    connect_address,
    without_token,
)
from kmeans_spark.errors import KMeansInputError
from kmeans_spark.options import BY_KEY, OPTIONS, Option, check, option_for

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


@dataclass(frozen=True)
class InputConfig:
    """``[input]``: what to read."""

    path: str
    format: str
    features: list[str]
    id_cols: list[str]
    weight_col: str
    where: str
    header: bool
    delimiter: str


@dataclass(frozen=True)
class JobConfig:
    """``[job]``: the fit's parameters, and the job's own (models, scaling, bad rows)."""

    k: int
    max_iter: int
    tol: float
    seed: int
    init_mode: str
    init_steps: int
    n_init: int
    distance: str
    dtype: str
    partitions: int
    init_model: str
    model: str
    scale: str
    k_min: int
    k_max: int
    sample_size: int
    bad_rows: str
    zero_vectors: str

    def estimator_params(self) -> dict[str, Any]:
        """The keys that are ``KMeans`` params, by their param names (``maxIter``)."""
        return {o.param: getattr(self, o.name) for o in _options("job") if o.param}


@dataclass(frozen=True)
class OutputConfig:
    """``[output]``: where and how to write."""

    path: str
    mode: str
    keep_features: bool
    outlier_quantile: float
    plots_3d: bool
    report: bool


@dataclass(frozen=True)
class TextConfig:
    """``[text]``: recommend's query and the text clustering of its movies."""

    keywords: str
    top: int
    vocab_size: int
    min_df: float
    features: str
    num_features: int
    duplicates: str


#: The ``[spark]`` key that sets the level of Spark's own logging for a run, and the levels
#: Spark's ``SparkContext.setLogLevel`` accepts (in any case).
LOG_LEVEL_KEY = "kmeans_spark.logLevel"
LOG_LEVELS = ("ALL", "DEBUG", "ERROR", "FATAL", "INFO", "OFF", "TRACE", "WARN")


@dataclass(frozen=True)
class SparkConfig:
    """``[spark]``: Spark settings, as strings; ``spark.master`` is used by ``python -m``,
    :data:`REMOTE_KEY` (``--remote``, else ``SPARK_REMOTE``) makes the run a Spark Connect
    client of that server instead, :data:`LOG_LEVEL_KEY` sets the level of Spark's logging
    (default WARN). ``remote_from`` says how the URL was given, for messages."""

    settings: dict[str, str]
    remote_from: str = ""

    @property
    def master(self) -> str:
        return self.settings.get("spark.master", "local[*]")

    @property
    def remote(self) -> str:
        """The Spark Connect URL of the run ("" for a classic session)."""
        return self.settings.get(REMOTE_KEY, "")

    @property
    def log_level(self) -> str:
        return self.settings.get(LOG_LEVEL_KEY, "WARN")

    def session_settings(self) -> dict[str, str]:
        return {k: v for k, v in self.settings.items() if k not in ("spark.master", REMOTE_KEY)}


TABLES: dict[str, type] = {
    "input": InputConfig,
    "job": JobConfig,
    "output": OutputConfig,
    "text": TextConfig,
    "spark": SparkConfig,
}


def _options(table: str) -> list[Option]:
    return [o for o in OPTIONS if o.key and o.table == table]


def _check_tables() -> None:
    """The dataclasses and the options table name the same keys (fails at import)."""
    for table, cls in TABLES.items():
        if table != "spark":
            names = [f.name for f in dataclasses.fields(cls)]
            declared = [o.name for o in _options(table)]
            if sorted(names) != sorted(declared):
                raise TypeError(f"[{table}]: the dataclass has {names}, the options {declared}")


_check_tables()

#: Every key the job knows, with its default (the job's default where it has its own).
DEFAULTS: dict[str, dict[str, Any]] = {
    table: {o.name: o.config_default for o in _options(table)} for table in TABLES
}


def command_defaults(command: str | None) -> dict[str, dict[str, Any]]:
    """:data:`DEFAULTS` with ``command``'s own (:data:`kmeans_spark.options.BY_COMMAND`)."""
    return {
        table: {name: option_for(f"{table}.{name}", command).config_default for name in values}
        for table, values in DEFAULTS.items()
    }


@dataclass(frozen=True)
class RunConfig:
    """The resolved configuration of one run (``{run_date}`` already substituted).

    ``names`` says how the user gave each key (``job.k`` -> ``--k`` from the command line,
    ``job.k`` from a file or ``--set``), so that later messages name it the same way;
    ``keys`` are the keys of the command that runs (a shared file may set others).
    """

    input: InputConfig
    job: JobConfig
    output: OutputConfig
    text: TextConfig
    spark: SparkConfig
    run_date: str
    source: str = "built-in defaults"
    names: Mapping[str, str] = dataclasses.field(default_factory=dict)
    keys: frozenset[str] = frozenset(BY_KEY)

    def name(self, key: str) -> str:
        """How a message names a key: as the user gave it; its flag if unset."""
        return self.names.get(key) or BY_KEY[key].cli_flag

    def value(self, key: str) -> Any:
        option = BY_KEY[key]
        return getattr(getattr(self, option.table), option.name)

    def read_paths(self) -> dict[str, str]:
        """The paths the command reads (options marked ``reads``: ``--input``, ``--model``),
        given, by how the user named them; its output must stay apart from each."""
        return {
            self.name(o.key): self.value(o.key)
            for o in OPTIONS
            if o.key and o.reads and o.key in self.keys and self.value(o.key)
        }

    def with_local_paths_qualified(self) -> RunConfig:
        """This config with its scheme-less paths (``--input``, ``--output``, models) made
        ``file://`` URLs of absolute paths, against this process's working directory.

        For Spark Connect: the server resolves a relative path against its own working
        directory, and a bare absolute one against its default file system (``fs.defaultFS``,
        HDFS on many clusters), while the client (the job's checks, its small files) reads
        both as local paths; a ``file://`` URL names the same file for both, given that they
        see the same file system (README, "Spark Connect"). Otherwise the DataFrames and the
        small files of one run could land on two file systems."""
        tables: dict[str, dict[str, Any]] = {}
        for option in OPTIONS:
            if option.key and (option.reads or option.key in ("output.path", "job.init_model")):
                value = self.value(option.key)
                if value and not has_scheme(value):
                    tables.setdefault(option.table, {})[option.name] = "file://" + absolute(value)
        changed = {t: dataclasses.replace(getattr(self, t), **v) for t, v in tables.items()}
        return dataclasses.replace(self, **changed)

    def as_dict(self) -> dict[str, Any]:
        """The config as its TOML tables (those the command uses a key of), plus the run
        date and where it came from."""
        used = {key.split(".", 1)[0] for key in self.keys}
        tables = {t: dataclasses.asdict(getattr(self, t)) for t in TABLES if t in used}
        return {
            **tables,
            "spark": dict(self.spark.settings),
            "run_date": self.run_date,
            "source": self.source,
        }


_TYPE_NAMES = {bool: "true/false", int: "an integer", float: "a number", str: "a string"}


def _coerce(option: Option, value: Any, shown: str) -> Any:
    """``value`` as the option's type; strings from the command line are parsed."""

    def bad() -> KMeansInputError:
        kind = _TYPE_NAMES.get(option.type, "a list of strings (or one comma-separated string)")
        return KMeansInputError(f"{shown} must be {kind}; fix the value.")

    kind = option.type
    if isinstance(value, bool) and kind is not bool:
        raise bad()
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).lower() if isinstance(value, str) else None
        if text in ("true", "false", "1", "0", "yes", "no"):
            return text in ("true", "1", "yes")
        raise bad()
    if kind in (int, float):
        if isinstance(value, int) or (kind is float and isinstance(value, float)):
            return kind(value)
        if isinstance(value, str):
            try:
                return kind(value)
            except ValueError:
                raise bad() from None
        raise bad()
    if kind is list:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        raise bad()
    if isinstance(value, str):
        return value
    raise bad()


def read_toml(path: str) -> dict[str, Any]:
    """Parse a config file; a missing, unreadable or malformed file is a one-line error."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise KMeansInputError(
            f"config file {path!r} does not exist; pass an existing file to --config."
        ) from None
    except IsADirectoryError:
        raise KMeansInputError(
            f"config file {path!r} is a directory; pass a TOML file to --config."
        ) from None
    except PermissionError:
        raise KMeansInputError(
            f"config file {path!r} cannot be read (permission denied); fix its permissions."
        ) from None
    except UnicodeDecodeError as exc:
        raise KMeansInputError(
            f"config file {path!r} is not UTF-8 text ({exc.reason}); pass a TOML file."
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise KMeansInputError(
            f"config file {path!r} is not valid TOML ({exc}); fix the syntax."
        ) from None


def _spark_value(key: str, value: Any, where: str) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (str, int, float)):
        return str(value)
    raise KMeansInputError(
        f"spark setting {key!r} in {where} is {type(value).__name__} {value!r}, but Spark "
        'settings are strings, numbers or true/false; quote the key if it has dots ("spark.x").'
    )


def merge_layer(
    merged: dict[str, dict[str, Any]],
    layer: Mapping[str, Any],
    where: str,
    flags: Mapping[str, str] | None = None,
    names: dict[str, str] | None = None,
) -> None:
    """Merge one layer (a parsed file, or the command line's values) into ``merged``.

    ``flags`` maps ``table.key`` to the flag that set it, so its messages name the flag;
    ``names`` records, per key, how the user named it last (its flag, or ``table.key``).
    """
    for table, values in layer.items():
        if table not in TABLES:
            raise KMeansInputError(
                f"unknown table [{table}] in {where}; the tables are "
                f"{', '.join('[' + t + ']' for t in TABLES)}."
            )
        if not isinstance(values, Mapping):
            raise KMeansInputError(f"[{table}] in {where} must be a table of key = value.")
        for key, value in values.items():
            if table == "spark":
                merged["spark"][str(key)] = _spark_value(str(key), value, where)
                continue
            full = f"{table}.{key}"
            if full not in BY_KEY:
                known = ", ".join(sorted(DEFAULTS[table]))
                raise KMeansInputError(
                    f"unknown key {full} in {where}; known keys of [{table}]: {known}."
                )
            flag = (flags or {}).get(full)
            shown = f"{flag}={value!r}" if flag else f"{full}={value!r} ({where})"
            merged[table][key] = _coerce(BY_KEY[full], value, shown)
            if names is not None:
                names[full] = flag or full


def parse_assignment(text: str, flag: str) -> tuple[str, str]:
    if "=" not in text:
        raise KMeansInputError(f"{flag} {text!r} must look like key=value.")
    key, value = text.split("=", 1)
    return key.strip(), value.strip()


def resolve_run_date(value: str | None) -> str:
    if not value:
        return dt.datetime.now(dt.timezone.utc).date().isoformat()
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise KMeansInputError(
            f"run date {value!r} is not a date; use YYYY-MM-DD, e.g. 2026-11-22."
        ) from None


def _check_columns(cfg: RunConfig) -> None:
    """Each column named once: a name listed twice is a typo or a copy-paste slip."""
    for key in ("input.features", "input.id_cols"):
        names: list[str] = getattr(cfg.input, BY_KEY[key].name)
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise KMeansInputError(
                    f"{cfg.name(key)} {','.join(names)!r} names {name!r} twice; name each "
                    "column once."
                )
            seen.add(name)
    both = [c for c in cfg.input.features if not has_glob(c) and c in cfg.input.id_cols]
    if both:
        raise KMeansInputError(
            f"column {both[0]!r} is in both {cfg.name('input.features')} and "
            f"{cfg.name('input.id_cols')}; id columns are copied to the assignments and are "
            "never features (patterns skip them): name it in one of the two."
        )


def _check_log_level(spark: SparkConfig) -> None:
    """Spark refuses an unknown level only once the session runs: refuse it first."""
    level = spark.log_level
    if level.upper() not in LOG_LEVELS:
        raise KMeansInputError(
            f"spark setting {LOG_LEVEL_KEY}={level!r} is not a log level of Spark; use one of "
            f"{', '.join(LOG_LEVELS)}."
        )


def _check_remote(spark: SparkConfig, command_line: Mapping[str, Any]) -> None:
    """A Connect URL of the right form, and not together with ``--master`` on the command
    line: the server has its own master (a config file's ``spark.master`` is left unused,
    as under spark-submit)."""
    if not spark.remote:
        return
    connect_address(spark.remote, spark.remote_from)
    if "spark.master" in command_line:
        given = spark.remote_from
        fix = (
            f"unset {REMOTE_ENV} to run a session of the job's own, or leave --master out"
            if given == REMOTE_ENV
            else f"pass --master for a session of the job's own, or {given} for the server's"
        )
        raise KMeansInputError(
            f"{given} {without_token(spark.remote)!r} and --master {spark.master!r} are both "
            f"given, but a Spark Connect server has its own master: {fix}."
        )


def validate(cfg: RunConfig) -> None:
    """The checks that need no data: paths given and apart, rules, columns named once."""
    if not cfg.input.path:
        raise KMeansInputError("no input path; pass --input PATH (or set input.path).")
    if not cfg.output.path:
        raise KMeansInputError("no output path; pass --output DIR (or set output.path).")
    for option in OPTIONS:
        if option.key and option.table != "spark":
            check(option, cfg.value(option.key), cfg.name(option.key))
    _check_columns(cfg)
    _check_log_level(cfg.spark)
    out = (cfg.name("output.path"), cfg.output.path)
    if has_glob(out[1]):
        raise KMeansInputError(
            f"{out[0]} {out[1]!r} has a glob character (* ? [ {{), but an output is one "
            "directory named exactly: choose a path without them."
        )
    check_apart(out, cfg.read_paths())


def load_config(
    config_file: str | None,
    overrides: Mapping[str, Mapping[str, Any]],
    run_date: str | None,
    flags: Mapping[str, str] | None = None,
    keys: Iterable[str] | None = None,
    command: str | None = None,
) -> RunConfig:
    """Defaults (``command``'s own where it has them), then the file, then the command line
    (``overrides``, of which ``flags`` says which keys came from which flag); validated,
    with ``{run_date}`` substituted. ``keys`` are the running command's (default: every
    key)."""
    merged: dict[str, dict[str, Any]] = copy.deepcopy(command_defaults(command))
    names: dict[str, str] = {}
    remote_from = ""
    if config_file:
        merge_layer(merged, read_toml(config_file), f"config file {config_file!r}", None, names)
        if REMOTE_KEY in merged["spark"]:
            remote_from = f"{REMOTE_KEY} (config file {config_file!r})"
    merge_layer(merged, overrides, "the command line", flags, names)
    if REMOTE_KEY in overrides.get("spark", {}):
        remote_from = (flags or {}).get(REMOTE_KEY) or f"--conf {REMOTE_KEY}"
    elif not remote_from and os.environ.get(REMOTE_ENV):  # PySpark's own fallback
        merged["spark"][REMOTE_KEY] = os.environ[REMOTE_ENV]
        remote_from = REMOTE_ENV
    date = resolve_run_date(run_date)
    for table in ("input", "job", "output"):  # paths and filters; [text] is words
        for key, value in merged[table].items():
            if isinstance(value, str):
                merged[table][key] = template(value, date)
    cfg = RunConfig(
        input=InputConfig(**merged["input"]),
        job=JobConfig(**merged["job"]),
        output=OutputConfig(**merged["output"]),
        text=TextConfig(**merged["text"]),
        spark=SparkConfig(dict(merged["spark"]), remote_from),
        run_date=date,
        source=config_file or "built-in defaults",
        names=names,
        keys=frozenset(BY_KEY if keys is None else keys),
    )
    _check_remote(cfg.spark, overrides.get("spark", {}))
    validate(cfg)
    return cfg
