"""The benchmarks' shared command-line parts (scripts/benchkit/config.py): name lists,
preset sizes with overrides, and the usage errors every benchmark raises the same way."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
if str(SCRIPTS) not in sys.path:  # scripts/ is not a package; a script there has it on sys.path
    sys.path.insert(0, str(SCRIPTS))

from benchkit.config import (  # noqa: E402
    add_names,
    add_size_args,
    check_at_least,
    check_json_per_name,
    parse_args,
    sized,
)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    add_names(p, "--preset", ["a", "b", "c"], ["a"], "preset")
    add_size_args(p)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--rows", type=int)
    return p


def test_names_are_repeatable_comma_lists_in_the_order_given() -> None:
    p = parser()
    assert p.parse_args([]).preset == ["a"]
    assert p.parse_args(["--preset", "c, b", "--preset", "a"]).preset == ["c", "b", "a"]
    assert p.parse_args([]).preset == ["a"]  # the default was not extended by a parse


def test_an_unknown_name_is_a_usage_error_naming_the_choices(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as info:
        parser().parse_args(["--preset", "a,huge"])
    assert info.value.code == 2
    assert "unknown preset(s) ['huge']; choose from a, b, c" in capsys.readouterr().err


def test_sizes_take_the_flags_given_over_the_preset() -> None:
    args = parser().parse_args(["--d", "5"])
    assert sized({"n": 100, "d": 2, "k": 3}, args) == {"n": 100, "d": 5, "k": 3}


def test_bounds_name_every_flag_below_its_least_value(
    capsys: pytest.CaptureFixture[str],
) -> None:
    p = parser()
    check_at_least(p, p.parse_args([]), repeats=1, rows=1000)  # --rows not given: fine
    with pytest.raises(SystemExit) as info:
        check_at_least(p, p.parse_args(["--repeats", "0", "--rows", "10"]), repeats=1, rows=1000)
    assert info.value.code == 2
    assert "--repeats=0 must be >= 1; --rows=10 must be >= 1000" in capsys.readouterr().err


def test_several_names_need_a_json_path_each(capsys: pytest.CaptureFixture[str]) -> None:
    p = parser()
    check_json_per_name(p, "out.json", "{preset}", ["a"])
    check_json_per_name(p, "out-{preset}.json", "{preset}", ["a", "b"])
    with pytest.raises(SystemExit):
        check_json_per_name(p, "out.json", "{preset}", ["a", "b"])
    assert "with several presets, --json must contain {preset}" in capsys.readouterr().err


def test_the_fit_benchmark_arguments() -> None:
    _, configs = parse_args(["--preset", "medium,small", "--k", "4", "--variants", "sklearn,ours"])
    assert [(c.preset, c.n, c.d, c.k) for c in configs] == [
        ("medium", 1_000_000, 16, 4),
        ("small", 200_000, 2, 4),
    ]
    assert configs[0].variants == ["ours", "sklearn"]  # table order
    assert configs[1].json_path.name == "bench-small.json"
    (cfg,) = parse_args([])[1]
    assert cfg.preset == "small" and len(cfg.variants) == 7


@pytest.mark.parametrize(
    "argv",
    [["--preset", "huge"], ["--max-iter", "1"], ["--preset", "small,medium", "--json", "b.json"]],
)
def test_the_fit_benchmark_refuses_bad_values(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse_args(argv)
    assert info.value.code == 2
