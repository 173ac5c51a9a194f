"""The job's flags, derived from :data:`kmeans_spark.options.OPTIONS`: one flag per config
key (``--k`` for ``job.k``, ``--input`` for ``input.path``), plus ``--config``, ``--set``,
``--conf``, ``--run-date``, ``--master``, ``--remote`` and ``-v``.

Flags take their values as text and leave parsing and checking to :mod:`.config`, so a bad
``--k three`` gets the same one-line message as ``k = "three"`` in a file.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any

from kmeans_spark.app.config import RunConfig, load_config, parse_assignment
from kmeans_spark.connect_url import REMOTE_KEY
from kmeans_spark.errors import KMeansInputError
from kmeans_spark.options import BY_KEY, Option, option_for

_METAVARS = {int: "N", float: "X", str: "TEXT", list: "A,B,..."}


def dest(option: Option) -> str:
    """The attribute a flag's value lands in: ``--id-cols`` -> ``id_cols``."""
    return option.cli_flag[2:].replace("-", "_")


def _help(option: Option) -> str:
    default = option.config_default
    if isinstance(default, list):
        default = ",".join(default) or "none"
    elif isinstance(default, bool):
        default = str(default).lower()
    shown = f"; default {default}" if default not in ("", None) else ""
    return f"{option.help} [{option.key}{shown}]".replace("%", "%%")


_TITLES = {
    "input": "[input] what to read",
    "job": "[job] the models, the fit, scaling, bad rows",
    "output": "[output] where to write",
    "text": "[text] the query, the movies' vocabulary or hashing, duplicate titles",
}

#: Where an option with more than one flag records the flag given (``--movies``), by dest.
GIVEN_AS = "given_as"


class _StoreGivenAs(argparse.Action):
    """Stores the value, and which of the option's flags gave it: messages name the key as
    the user wrote it."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, values)
        given = dict(getattr(namespace, GIVEN_AS, None) or {})
        given[self.dest] = option_string
        setattr(namespace, GIVEN_AS, given)


def add_option_flags(
    parser: argparse.ArgumentParser, keys: Iterable[str], command: str | None = None
) -> None:
    """One flag per config key (and its aliases), grouped by table, as ``command`` declares
    it; booleans get ``--name`` and ``--no-name``."""
    chosen = [option_for(key, command) for key in keys]
    for table, title in _TITLES.items():
        options = [o for o in chosen if o.table == table]
        if not options:
            continue
        group = parser.add_argument_group(title)
        for option in options:
            flag, name = option.cli_flag, dest(option)
            if option.type is bool:
                group.add_argument(
                    flag, dest=name, action="store_const", const=True, help=_help(option)
                )
                group.add_argument(
                    "--no-" + flag[2:],
                    dest=name,
                    action="store_const",
                    const=False,
                    help=f"the opposite of {flag}",
                )
                continue
            choices = "{" + ",".join(option.choices) + "}" if option.choices else None
            metavar = option.metavar or choices or _METAVARS[option.type]
            action = _StoreGivenAs if option.aliases else "store"
            group.add_argument(
                flag, *option.aliases, dest=name, metavar=metavar, help=_help(option), action=action
            )


def add_job_flags(
    parser: argparse.ArgumentParser, keys: Iterable[str], command: str | None = None
) -> None:
    """Every flag of a command that reads a config: its keys' flags (as ``command`` declares
    them, :data:`kmeans_spark.options.BY_COMMAND`) and the generic ones."""
    parser.add_argument(
        "--config", metavar="FILE", help="TOML config file (conf/local.toml, conf/cluster.toml)"
    )
    add_option_flags(parser, keys, command)
    parser.add_argument(
        "--run-date",
        metavar="YYYY-MM-DD",
        help="the run's date, templated into {run_date} (default: today, UTC)",
    )
    parser.add_argument(
        "--master", help="Spark master when run with python -m (spark-submit sets its own)"
    )
    parser.add_argument(
        "--remote",
        metavar="sc://HOST:PORT",
        help="run on this Spark Connect server instead of a session of its own (default: "
        "$SPARK_REMOTE)  [spark.remote]",
    )
    parser.add_argument(
        "--conf",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a Spark setting (repeatable)  [spark]",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="TABLE.KEY=VALUE",
        help="any config key (repeatable), e.g. job.tol=1e-6",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def command_line_layer(
    args: argparse.Namespace, keys: Iterable[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """The command line as a config layer (``--set`` first, then flags, which win), and
    which keys came from which flag."""
    layer: dict[str, dict[str, Any]] = {}
    for item in args.set:
        key, value = parse_assignment(item, "--set")
        if "." not in key:
            raise KMeansInputError(f"--set {item!r} must name table.key, e.g. job.tol=1e-6.")
        table, name = key.split(".", 1)
        if table == "spark":  # the [spark] table's keys have dots: spark.sql.x would be sql.x
            raise KMeansInputError(
                f"--set {item!r} names a Spark setting; pass Spark settings with --conf "
                f"key=value, e.g. --conf {key}={value}."
            )
        layer.setdefault(table, {})[name] = value
    flags: dict[str, str] = {}
    for key in keys:
        option = BY_KEY[key]
        given = getattr(args, dest(option), None)
        if given is not None:
            layer.setdefault(option.table, {})[option.name] = given
            given_as = (getattr(args, GIVEN_AS, None) or {}).get(dest(option))
            flags[key] = given_as or option.cli_flag
    spark = layer.setdefault("spark", {})
    for item in args.conf:
        name, setting = parse_assignment(item, "--conf")
        spark[name] = setting
    if args.master:
        spark["spark.master"] = args.master
    if args.remote:
        spark[REMOTE_KEY] = args.remote
        flags[REMOTE_KEY] = "--remote"
    return layer, flags


def config_from_args(
    args: argparse.Namespace, keys: Iterable[str], command: str | None = None
) -> RunConfig:
    """The run's config: defaults (``command``'s own where it has them), ``--config``, then
    the command line."""
    keys = list(keys)
    layer, flags = command_line_layer(args, keys)
    return load_config(args.config, layer, args.run_date, flags, keys, command)


def require_features(cfg: RunConfig) -> None:
    """A command that fits needs its feature columns named (a model knows its own)."""
    if not cfg.input.features:
        raise KMeansInputError(
            "no feature columns given; pass --features COL,COL,... (names or patterns like 'x*')."
        )
