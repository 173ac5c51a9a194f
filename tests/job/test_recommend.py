"""``recommend`` end to end on generated TMDB-style movies of four topics: in-process runs on
the tests' session (one fit shared by the module), and one spark-submit run. Every bad input
is one ``error:`` line, exit 2, nothing written."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kmeans_spark.app import cli
from kmeans_spark.textgen import TOPICS, make_movies, write_movies_csv

from .conftest import Run, assert_nothing_written, in_process, submit
from .test_job import assert_no_stack_trace

MOVIES = make_movies(240, seed=5)
#: The titles as a message quotes them, as patterns.
TITLE = [re.escape(repr(r["title"])) for r in MOVIES.rows]
SPACE_QUERY = "alien invasion spaceship"
FIT = ["--k", "4", "--top", "5", "--seed", "7"]


def most_popular(topic: str, n: int) -> list[str]:
    """The truth: the ``n`` most popular movies of a topic."""
    rows = [r for r, t in zip(MOVIES.rows, MOVIES.topics, strict=True) if t == topic]
    rows.sort(key=lambda r: (-float(r["popularity"]), r["title"]))
    return [r["title"] for r in rows[:n]]


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def movies_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_movies_csv(tmp_path_factory.mktemp("movies") / "movies.csv", MOVIES)


def fitted_run(spark: Any, out: Path, *args: str) -> Run:
    """A recommend run in this process that must succeed; its stderr is where it wrote."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = cli.main(["recommend", *args, "--output", str(out)], spark=spark)
    assert code == 0, stderr.getvalue()[-3000:]
    return Run(code, stdout.getvalue(), str(out))


@pytest.fixture(scope="module")
def space_run(spark: Any, movies_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """One fit, shared: the space topic's words as the query."""
    out = tmp_path_factory.mktemp("runs") / "space"
    return fitted_run(spark, out, "--movies", str(movies_csv), "--keywords", SPACE_QUERY, *FIT)


def test_a_run_writes_one_directory_and_one_json_line(space_run: Run) -> None:
    out = Path(space_run.stderr)
    assert sorted(p.name for p in out.iterdir()) == [
        "_KMEANS_SPARK",
        "_SUCCESS",
        "clusters.json",
        "pipeline",
        "plots",
        "recommendations.json",
        "summary.json",
    ]
    assert sorted(p.name for p in (out / "plots").iterdir()) == [
        "popularity.png",
        "recommendations.png",
    ]
    assert (out / "plots" / "popularity.png").read_bytes().startswith(b"\x89PNG")
    assert read_json(out / "_KMEANS_SPARK")["command"] == "recommend"
    (line,) = space_run.stdout.splitlines()
    brief = json.loads(line)
    assert brief["command"] == "recommend" and brief["output"] == str(out)
    assert brief["k"] == 4 and brief["rows_read"] == 240 and brief["rows_dropped"] == 0
    assert sorted(brief["cluster_sizes"]) == [60, 60, 60, 60]


def test_the_query_lands_in_its_topic_and_gets_its_most_popular(space_run: Run) -> None:
    out = Path(space_run.stderr)
    recommendations = read_json(out / "recommendations.json")
    assert [r["title"] for r in recommendations] == most_popular("space", 5)
    cluster = recommendations[0]["cluster"]
    for r in recommendations:
        assert set(r) == {"title", "popularity", "vote_average", "genres", "cluster"}
        assert r["cluster"] == cluster and r["genres"][0] == "Science Fiction"
    popularity = [r["popularity"] for r in recommendations]
    assert popularity == sorted(popularity, reverse=True)
    summary = read_json(out / "summary.json")
    assert summary["recommendations"] == recommendations
    assert summary["query"]["terms"] == ["alien", "invasion", "spaceship"]
    assert summary["query"]["unknown_terms"] == [] and summary["query"]["cluster"] == cluster
    assert summary["movies"] == {
        "read": 240,
        "bad_rows": {},
        "duplicate_titles_dropped": 0,
        "without_terms": 0,
        "clustered": 240,
    }
    assert summary["distance"] == "cosine" and summary["pipeline"]["fitted"] is True
    assert summary["config"]["text"]["keywords"] == SPACE_QUERY
    assert {"read", "vocabulary", "fit", "recommend", "write_pipeline"} <= set(summary["seconds"])


def test_every_cluster_reads_as_one_topic(space_run: Run) -> None:
    """clusters.json is how a person judges the clusters: here each cluster's top terms are
    one topic's words, its first genre the topic's, its most popular titles the topic's."""
    clusters = read_json(Path(space_run.stderr) / "clusters.json")
    assert [c["cluster"] for c in clusters] == [0, 1, 2, 3]
    found = set()
    for c in clusters:
        terms = {t["term"] for t in c["top_terms"]}
        topic = next(t for t in TOPICS if len(terms & set(t.words)) >= 5)
        found.add(topic.name)
        others = {w for t in TOPICS if t is not topic for w in t.words}
        assert not terms & others
        assert c["size"] == 60 and len(c["top_terms"]) == 10
        weights = [t["weight"] for t in c["top_terms"]]
        assert weights == sorted(weights, reverse=True)
        assert c["top_genres"][0] == {"genre": topic.genres[0], "movies": 60}
        assert c["most_popular"] == most_popular(topic.name, 5)
    assert found == {t.name for t in TOPICS}


def test_model_reuses_the_pipeline_for_another_query(
    space_run: Run, movies_csv: Path, tmp_path: Path
) -> None:
    """Through spark-submit, as a scheduler runs it (the one spark-submit run of recommend):
    exit 0, the brief JSON line last on stdout, the table of recommendations in the log, and
    the space run's pipeline reused as fitted for another query."""
    first = Path(space_run.stderr)
    out = tmp_path / "romance-{run_date}"
    args = ["recommend", "--movies", str(movies_csv), "--keywords", "romantic comedy wedding"]
    run = submit(
        *args, "--model", str(first), "--k", "9", "--output", str(out), "--run-date", "2026-11-22"
    )
    assert run.code == 0, (run.stdout + run.stderr)[-3000:]
    assert_no_stack_trace(run)
    text = run.stdout + run.stderr
    assert "--k ignored: --model is reused as fitted (k=4, cosine, vocabulary of" in text
    assert "'romantic comedy wedding' -> cluster " in text
    written = tmp_path / "romance-2026-11-22"
    brief = json.loads(run.stdout.strip().splitlines()[-1])
    assert brief["command"] == "recommend" and brief["output"] == str(written)
    recommendations = read_json(written / "recommendations.json")
    assert len(recommendations) == 10  # the default --top
    assert [r["title"] for r in recommendations] == most_popular("romance", 10)
    summary = read_json(written / "summary.json")
    assert summary["pipeline"] == {"fitted": False, "model": str(first)}
    assert "cost" not in summary and summary["k"] == 4
    assert read_json(written / "clusters.json") == read_json(first / "clusters.json")
    assert (written / "pipeline" / "metadata").is_dir()  # the next run can reuse this one


def test_bad_rows_can_be_dropped_and_duplicate_titles_kept_first(
    spark: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rows = [dict(r) for r in MOVIES.rows]
    rows[3]["overview"] = ""
    rows[9]["keywords"] = "[{'id': 1, 'name': 'python literal'}]"
    rows[10]["vote_average"] = "n/a"
    top = most_popular("space", 1)[0]
    copy = dict(next(r for r in rows if r["title"] == top), popularity="9999", id="999")
    rows += [copy, dict(copy, id="1000")]  # later rows of the most popular space title
    path = write_movies_csv(tmp_path / "movies.csv", rows)
    out = tmp_path / "run"
    run = in_process(
        spark,
        capsys,
        *["recommend", "--movies", str(path), "--keywords", SPACE_QUERY, *FIT],
        *["--bad-rows", "drop", "--duplicates", "first", "--output", str(out)],
    )
    assert run.code == 0, run.stderr[-3000:]
    summary = read_json(out / "summary.json")
    assert summary["rows_read"] == 242 and summary["rows_dropped"] == 5
    assert summary["movies"]["bad_rows"] == {"overview": 1, "keywords": 1, "vote_average": 1}
    assert summary["movies"]["duplicate_titles_dropped"] == 2
    assert summary["movies"]["clustered"] == 237
    first = read_json(out / "recommendations.json")[0]
    assert first["title"] == top and first["popularity"] < 9999  # the first row, kept


def _with(rows: list[dict[str, Any]], index: int, **changes: Any) -> list[dict[str, Any]]:
    changed = [dict(r) for r in rows]
    changed[index].update(changes)
    return changed


def _without(column: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != column} for r in MOVIES.rows]


@pytest.mark.parametrize(
    ("rows", "extra", "message"),
    [
        (
            _without("keywords"),
            [],
            r"^error: --movies '\S+/movies.csv' has no column 'keywords'; a movies table has "
            r"the columns title, overview, keywords, genres, popularity, vote_average \(this one "
            r"has: id, title, overview, genres, popularity, vote_average\)\. Check the file and "
            r"its header, or rename its columns\.$",
        ),
        (
            _with(MOVIES.rows, 2, overview="   "),
            [],
            rf"^error: row 3 of --movies '\S+/movies.csv' \(title {TITLE[2]}\): the "
            r"overview is empty; 1 row has a problem \(overview: 1\)\. Fix or remove it, or "
            r"pass --bad-rows drop to skip such rows\.$",
        ),
        (
            _with(_with(MOVIES.rows, 3, overview=None), 7, overview=""),
            [],
            rf"^error: row 4 of --movies '\S+/movies.csv' \(title {TITLE[3]}\): the "
            r"overview is empty; 2 rows have a problem \(overview: 2\)\. Fix or remove them, "
            r"or pass --bad-rows drop to skip such rows\.$",
        ),
        (
            _with(MOVIES.rows, 4, keywords='[{"id": 1, "name": "alien"'),
            [],
            rf"^error: row 5 of --movies '\S+/movies.csv' \(title {TITLE[4]}\): "
            r"keywords '\[\{\"id\": 1, \"name\": \"alien\"' is not valid JSON \(Expecting ',' "
            r"delimiter: line 1 column 27 \(char 26\)\); 1 row has a problem \(keywords: 1\)\. "
            r"Fix or remove it, or pass --bad-rows drop to skip such rows\.$",
        ),
        (
            _with(MOVIES.rows, 6, title=MOVIES.rows[1]["title"]),
            [],
            rf"^error: title {TITLE[1]} is in rows 2 and 7 of --movies "
            r"'\S+/movies.csv' \(1 title is in more than one row\); remove the duplicates, or "
            r"pass --duplicates first to keep the first row of each title, or --duplicates keep "
            r"to keep them all \(remakes share a title\)\.$",
        ),
        (
            MOVIES.rows,
            ["--keywords", "qwxz blorf"],
            r"^error: --keywords 'qwxz blorf': none of its words \(qwxz, blorf\) is in the "
            r"vocabulary of the movies \(\d+ terms of their overviews and keywords\), so no "
            r"cluster is closer to it than another; use other words \(clusters.json of a run "
            r"lists each cluster's top terms\), or lower --min-df\.$",
        ),
        (
            MOVIES.rows,
            ["--keywords", "The and of!"],
            r"^error: --keywords 'The and of!' has no word to search for once stop words \(the, "
            r"and, of, \.\.\.\) are left out; give content words, e\.g\. 'space alien invasion'\.$",
        ),
        (
            MOVIES.rows,
            ["--k", "300"],
            r"^error: --k=300 is more than the 240 movies that have a term of the vocabulary; "
            r"ask for fewer clusters, or lower --min-df\.$",
        ),
        (
            MOVIES.rows[:0],
            [],
            r"^error: --movies '\S+/movies.csv' has no movies \(only a header\?\); check the "
            r"path\.$",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(
    spark: Any,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    rows: list[dict[str, Any]],
    extra: list[str],
    message: str,
) -> None:
    path = write_movies_csv(tmp_path / "movies.csv", rows)
    out = tmp_path / "run"
    args = ["recommend", "--movies", str(path), "--keywords", SPACE_QUERY, "--k", "4"]
    run = in_process(spark, capsys, *args, *extra, "--output", str(out))
    assert run.code == 2, run.stderr[-3000:]
    (line,) = run.error_lines()
    assert re.search(message, line), line
    assert_no_stack_trace(run)
    assert_nothing_written(out)


def test_a_directory_without_files_is_one_line(
    spark: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The input's own reader (``io.read_input``, with recommend's CSV options): no
    format to check, as recommend reads CSV whatever [input] says."""
    (tmp_path / "movies" / "dt=2026-11-22").mkdir(parents=True)  # a partition not landed
    out = tmp_path / "run"
    args = ["recommend", "--movies", str(tmp_path / "movies"), "--keywords", SPACE_QUERY]
    run = in_process(spark, capsys, *args, "--output", str(out))
    assert run.code == 2, run.stderr[-3000:]
    (line,) = run.error_lines()
    assert re.search(
        r"^error: --movies '\S+/movies' holds no csv data files Spark can read \(none below "
        r"it, or only empty ones\); check the path\.$",
        line,
    ), line
    assert_nothing_written(out)


def _fit_output(root: Path) -> Path:
    """What a fit run leaves: model/ with its metadata (enough to be recognised)."""
    (root / "model" / "metadata").mkdir(parents=True)
    return root


def _kmeans_model(spark: Any, root: Path) -> Path:
    from kmeans_spark import KMeansModel

    KMeansModel(np.eye(2)).write().save(str(root))
    return root


def _other_pipeline(spark: Any, root: Path) -> Path:
    from pyspark.ml import PipelineModel
    from pyspark.ml.feature import VectorAssembler

    PipelineModel(stages=[VectorAssembler(inputCols=["a"], outputCol="v")]).write().save(
        str(root / "pipeline")
    )
    return root


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            None,
            r"^error: --model '\S+/saved' does not exist; pass the output directory of an "
            r"earlier recommend run \(it holds pipeline/\)\.$",
        ),
        (
            lambda spark, root: _fit_output(root),
            r"^error: --model '\S+/saved' is the output of a fit or elbow run \(a k-means model "
            r"of numeric columns\), not of a recommend run; pass the output directory of an "
            r"earlier recommend run \(it holds pipeline/\)\.$",
        ),
        (
            _kmeans_model,
            r"^error: --model '\S+/saved' holds a kmeans_spark\.model\.KMeansModel \(a k-means "
            r"model\); pass the output directory of an earlier recommend run",
        ),
        (
            _other_pipeline,
            r"^error: --model '\S+/saved' holds a pipeline that is not recommend's \(its stages "
            r"are VectorAssembler, not RegexTokenizer, StopWordsRemover, CountVectorizerModel "
            r"or HashingTF, IDFModel, Normalizer, KMeansModel\); pass the output directory of "
            r"an earlier recommend run",
        ),
    ],
)
def test_a_model_of_another_kind_is_refused(
    spark: Any,
    capsys: pytest.CaptureFixture[str],
    movies_csv: Path,
    tmp_path: Path,
    make: Any,
    message: str,
) -> None:
    saved = tmp_path / "saved"
    if make is not None:
        make(spark, saved)
    out = tmp_path / "run"
    args = ["recommend", "--movies", str(movies_csv), "--keywords", SPACE_QUERY]
    run = in_process(spark, capsys, *args, "--model", str(saved), "--output", str(out))
    assert run.code == 2, run.stderr[-3000:]
    (line,) = run.error_lines()
    assert re.search(message, line), line
    assert_nothing_written(out)


def test_an_earlier_output_is_replaced_only_with_mode_overwrite(
    spark: Any, capsys: pytest.CaptureFixture[str], space_run: Run, movies_csv: Path
) -> None:
    out = Path(space_run.stderr)
    before = (out / "summary.json").read_text()
    args = ["recommend", "--movies", str(movies_csv), "--keywords", "x", "--output", str(out)]
    run = in_process(spark, capsys, *args)
    assert run.code == 2
    (line,) = run.error_lines()
    assert line == (
        f"error: output {str(out)!r} already exists; pass --mode overwrite to replace it, or "
        "choose another --output."
    )
    assert (out / "summary.json").read_text() == before


# -- --features hashing: HashingTF and the term dictionary beside the pipeline ------------

#: HashingTF at its default width, 2^18 (sparse blocks: the movies are never densified).
HASHING = ["--features", "hashing"]


@pytest.fixture(scope="module")
def hashing_run(spark: Any, movies_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "hashing"
    args = ["--movies", str(movies_csv), "--keywords", SPACE_QUERY, *FIT, *HASHING]
    return Path(fitted_run(spark, out, *args).stderr)


def test_hashed_features_cluster_the_topics_and_name_their_words(hashing_run: Path) -> None:
    assert (hashing_run / "terms.json").is_file()
    terms = read_json(hashing_run / "terms.json")
    assert terms["num_features"] == 2**18 and terms["columns"] == ["term", "index", "movies"]
    summary = read_json(hashing_run / "summary.json")
    assert summary["features"]["kind"] == "hashing" and summary["features"]["length"] == 2**18
    assert summary["vocabulary_size"] == len(terms["terms"])
    assert summary["config"]["text"]["features"] == "hashing"
    recommendations = read_json(hashing_run / "recommendations.json")
    assert [r["title"] for r in recommendations] == most_popular("space", 5)
    for c in read_json(hashing_run / "clusters.json"):
        words = {w for t in c["top_terms"] for w in t["term"].split("/")}
        topic = next(t for t in TOPICS if len(words & set(t.words)) >= 4)
        assert c["top_genres"][0] == {"genre": topic.genres[0], "movies": 60}


def test_a_hashed_pipeline_is_reused_with_its_terms_and_refused_without(
    spark: Any,
    capsys: pytest.CaptureFixture[str],
    hashing_run: Path,
    movies_csv: Path,
    tmp_path: Path,
) -> None:
    import shutil

    def reuse(model: Path, keywords: str, out: Path) -> Run:
        args = ["recommend", "--movies", str(movies_csv), "--keywords", keywords]
        return in_process(spark, capsys, *args, "--model", str(model), "--output", str(out))

    out = tmp_path / "romance"
    run = reuse(hashing_run, "romantic wedding qwxz", out)
    assert run.code == 0, run.stderr[-3000:]
    recommended = [r["title"] for r in read_json(out / "recommendations.json")]
    assert recommended == most_popular("romance", 10)
    assert read_json(out / "summary.json")["query"]["unknown_terms"] == ["qwxz"]
    assert (out / "terms.json").read_text() == (hashing_run / "terms.json").read_text()
    assert read_json(out / "clusters.json") == read_json(hashing_run / "clusters.json")

    saved = tmp_path / "saved"  # the pipeline without the terms.json beside it
    shutil.copytree(hashing_run / "pipeline", saved / "pipeline")
    run = reuse(saved, SPACE_QUERY, tmp_path / "run")
    assert run.code == 2, run.stderr[-3000:]
    (line,) = run.error_lines()
    assert re.search(
        r"^error: --model '\S+/saved' holds a HashingTF pipeline but no terms\.json beside it "
        r"\(the term dictionary that names its indices\); pass the output directory of an "
        r"earlier recommend run",
        line,
    ), line
    assert_nothing_written(tmp_path / "run")
