"""recommend's command line and config, before Spark starts: its keys and defaults (from
options.py, as every command's), its one-line errors, and its table of recommendations."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyspark  # noqa: F401  (cli.explain reads Spark's errors once pyspark is loaded)
import pytest

from kmeans_spark.app import cli, fit, recommend, runner
from kmeans_spark.app.config import command_defaults, load_config
from kmeans_spark.options import BY_KEY, OPTIONS, option_for

BASE = ["recommend", "--movies", "movies.csv", "--keywords", "space", "--output", "out"]

pytestmark = pytest.mark.usefixtures("no_spark")


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["recommend", "--movies", "m.csv", "--output", "out"],
            "error: no keywords to recommend movies for; pass --keywords TEXT, e.g. --keywords "
            "'space alien invasion' (or set text.keywords).",
        ),
        (
            [*BASE[:3], "--keywords", "  ", "--output", "out"],
            "error: no keywords to recommend movies for; pass --keywords TEXT, e.g. --keywords "
            "'space alien invasion' (or set text.keywords).",
        ),
        ([*BASE, "--top", "0"], "error: --top=0 must be >= 1."),
        ([*BASE, "--top", "many"], "error: --top='many' must be an integer; fix the value."),
        ([*BASE, "--vocab-size", "1"], "error: --vocab-size=1 must be >= 2."),
        ([*BASE, "--min-df", "0"], "error: --min-df=0.0 must be a finite number > 0."),
        (
            [*BASE, "--duplicates", "drop"],
            "error: --duplicates='drop' is not supported; use one of error, first, keep.",
        ),
        ([*BASE, "--k", "1"], "error: --k=1 must be >= 2; ask for at least two clusters."),
        (
            ["recommend", "--keywords", "space", "--output", "out"],
            "error: no input path; pass --input PATH (or set input.path).",
        ),
        (  # the alias is named as written
            ["recommend", "--movies", "data", "--keywords", "x", "--output", "data/out"],
            "error: --output 'data/out' is inside --movies 'data'; a run must never write where "
            "it reads: choose an --output outside --movies.",
        ),
        (
            ["recommend", "--input", "data", "--keywords", "x", "--output", "data/out"],
            "error: --output 'data/out' is inside --input 'data'; a run must never write where "
            "it reads: choose an --output outside --input.",
        ),
        (
            [*BASE[:-1], "runs/a", "--model", "runs/a"],
            "error: --output 'runs/a' is the same path as --model 'runs/a'; a run must never "
            "write where it reads: choose another --output.",
        ),
        (  # recommend has no feature columns: its --features is how terms become indices
            [*BASE, "--features", "x"],
            "error: --features='x' is not supported; use one of count, hashing.",
        ),
        (
            [*BASE, "--id-cols", "x"],
            "error: unrecognized arguments: --id-cols x (see kmeans-spark --help).",
        ),
        ([*BASE, "--num-features", "1"], "error: --num-features=1 must be >= 2."),
    ],
)
def test_bad_command_lines_fail_before_spark(
    bad_command_line: Callable[..., str], argv: list[str], line: str
) -> None:
    assert bad_command_line(*argv, "--run-date", "2026-11-22") == line


def test_help_lists_the_commands_keys_with_its_own_defaults(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["recommend", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for option in OPTIONS:
        if option.key:
            listed = option.cli_flag in text and f"[{option.key}" in text
            assert listed == (option.key in recommend.KEYS), option.key
    assert "--input PATH, --movies PATH the movies CSV (TMDB-style" in text
    assert "[job.k; default 20]" in text and "[job.distance; default cosine]" in text
    assert "--model DIR reuse the text pipeline" in text
    assert (
        "Stdout is one JSON line, as for every command; the table of recommendations goes "
        "to the log (stderr)." in text
    )
    assert "--features {count,hashing} recommend: how terms become vector indices" in text
    assert "[text.num_features; default 262144]" in text
    keys = ("keywords", "top", "vocab_size", "min_df", "features", "num_features", "duplicates")
    for key in (f"text.{name}" for name in keys):
        assert key in recommend.KEYS and BY_KEY[key].used_by("recommend")
        assert not BY_KEY[key].used_by("fit")


def test_the_commands_defaults_sit_under_a_file_and_the_command_line(tmp_path: Path) -> None:
    """recommend's own defaults (k=20, cosine, CSV) replace the built-in ones for it alone;
    a config file and the command line still win over them."""
    paths = {"input": {"path": "m.csv"}, "output": {"path": "o"}, "text": {"keywords": "x"}}
    cfg = load_config(None, paths, None, keys=recommend.KEYS, command="recommend")
    assert (cfg.job.k, cfg.job.distance) == (20, "cosine")
    assert (cfg.text.top, cfg.text.vocab_size, cfg.text.min_df) == (10, 3000, 2.0)
    assert (cfg.text.features, cfg.text.num_features) == ("count", 2**18)
    assert cfg.text.duplicates == "error" and cfg.job.bad_rows == "error"
    assert set(cfg.as_dict()) == {"input", "job", "output", "text", "spark", "run_date", "source"}
    conf = tmp_path / "c.toml"
    conf.write_text('[job]\ndistance = "euclidean"\n[text]\ntop = 3\nkeywords = "{run_date}"\n')
    cfg = load_config(str(conf), {**paths, "job": {"k": "7"}}, "2026-11-22", command="recommend")
    assert (cfg.job.k, cfg.job.distance, cfg.text.top) == (7, "euclidean", 3)
    assert cfg.text.keywords == "x"  # the command line's; and words are never templated
    cfg = load_config(str(conf), {"input": {"path": "i"}, "output": {"path": "o"}}, "2026-11-22")
    assert cfg.text.keywords == "{run_date}"
    fit_cfg = load_config(None, {"input": {"path": "i"}, "output": {"path": "o"}}, None)
    assert (fit_cfg.job.k, fit_cfg.job.distance, fit_cfg.input.format) == (
        2,
        "euclidean",
        "parquet",
    )
    assert (
        command_defaults("recommend")["job"]["k"] == 20 and command_defaults(None)["job"]["k"] == 2
    )
    assert option_for("job.model", "recommend").help.startswith("reuse the text pipeline")
    assert option_for("job.model").help.startswith("the model to score with (required)")


def test_a_shared_configs_format_is_the_other_commands(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """recommend reads a CSV whatever a shared config's [input] says (the shipped ones say
    parquet, for fit); its [job] keys apply, above recommend's own defaults."""
    seen: list[Any] = []
    monkeypatch.setattr(
        runner, "run_command", lambda command, cfg, work, args: seen.append(cfg) or 0
    )
    conf = tmp_path / "c.toml"
    conf.write_text('[input]\nformat = "parquet"\nheader = false\n[job]\ndistance = "euclidean"\n')
    assert cli.main([*BASE, "--config", str(conf)]) == 0
    (cfg,) = seen
    assert (cfg.input.format, cfg.input.header, cfg.job.distance) == ("csv", True, "euclidean")


def test_keys_of_other_commands_are_not_recommends() -> None:
    assert "input.features" not in recommend.KEYS and "job.scale" not in recommend.KEYS
    assert "job.model" in recommend.KEYS and "job.model" not in fit.KEYS
    assert set(recommend.FIT_KEYS) >= {
        "job.k",
        "job.distance",
        "text.vocab_size",
        "text.min_df",
        "text.features",
        "text.num_features",
    }


def test_a_config_error_does_not_import_pyspark() -> None:
    probe = (
        "import sys\n"
        "from kmeans_spark.app import cli\n"
        "code = cli.main(['recommend', '--movies', 'm', '--output', 'o', '--keywords', 'x',"
        " '--top', '0'])\n"
        "assert code == 2, code\n"
        "assert 'pyspark' not in sys.modules, 'pyspark imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "error: --top=0 must be >= 1."


def test_the_entry_point_runs_the_recommend_command(monkeypatch: pytest.MonkeyPatch) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "jobs"))
    try:
        import recommend_movies
    finally:
        sys.path.pop(0)
    seen: list[list[str]] = []
    monkeypatch.setattr(recommend_movies, "main", lambda argv: seen.append(argv) or 0)
    assert recommend_movies.recommend_main(["--keywords", "x"]) == 0
    assert seen == [["recommend", "--keywords", "x"]]


def test_the_table_of_recommendations() -> None:
    info = {
        "size": 1234,
        "top_terms": [{"term": t, "weight": 0.1} for t in ("alien", "space", "earth")],
        "top_genres": [{"genre": "Science Fiction", "movies": 9}, {"genre": "Action", "movies": 4}],
    }
    recs = [
        {"title": "Avatar", "popularity": 150.437, "vote_average": 7.2, "genres": ["Action"]},
        {"title": "T" * 45, "popularity": 9.5, "vote_average": 10.0, "genres": []},
    ]
    assert recommend.recommendation_table("space alien", 7, info, recs).splitlines() == [
        "'space alien' -> cluster 7 (1,234 movies; top terms alien, space, earth; genres "
        "Science Fiction, Action); the 2 most popular:",
        "    #  title                                    popularity  vote  genres",
        "    1  Avatar                                       150.44   7.2  Action",
        "    2  " + "T" * 39 + "…       9.50  10.0  ",
    ]
