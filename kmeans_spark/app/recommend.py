"""``recommend``: movies like a few keywords. Cluster the movies of a TMDB-style table by the
TF-IDF of their overview and keywords (spherical k-means by default), find the cluster of
the keywords, and recommend its most popular movies. Writes, atomically::

    OUTPUT/
      recommendations.json  the --top movies of the query's cluster, most popular first:
                            title, popularity, vote_average, genres, cluster
      clusters.json         per cluster: size, top terms (largest centre weights), most
                            common genres, most popular titles: whether the clusters make sense
      summary.json          the query and its cluster, the recommendations, the movies read,
                            dropped and why, the fit, seconds per phase, the config
      pipeline/             PipelineModel.load(...)-able: tokenizer, stop words,
                            CountVectorizer (or HashingTF), IDF, KMeans; --model OUTPUT
                            reuses it
      terms.json            --features hashing: the term dictionary of the movies (each
                            term, its hashed index, its number of movies), which names a
                            cluster's top indices and a query's known words
      plots/                recommendations.png (popularity against vote average),
                            popularity.png (bars)
      _KMEANS_SPARK, _SUCCESS

As every command, it prints one JSON line on stdout (the run's brief summary, for a
scheduler); the table of recommendations is logged (stderr) and written to
recommendations.json.

The input rules, each checked before anything is written (exit 2, one line): the six
columns of :data:`kmeans_spark.movies.COLUMNS` exist; a row with an empty title or overview,
keywords or genres that are not a JSON list of ``{"id", "name"}`` objects, or a non-numeric
popularity or vote average fails the run naming the first (``--bad-rows drop`` skips and
counts them); two rows of one title fail the run naming both (``--duplicates first`` keeps
the first, ``keep`` keeps all); a query none of whose words is in the vocabulary fails
rather than landing in an arbitrary cluster. A movie whose words are all outside the
vocabulary is in no cluster (counted as ``without_terms``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from kmeans_spark.app import flags, runner
from kmeans_spark.app.config import RunConfig
from kmeans_spark.errors import KMeansInputError
from kmeans_spark.movies import COLUMNS, TermDictionary, top_counts, top_terms
from kmeans_spark.options import OPTIONS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from kmeans_spark.app.io import JobFS
    from kmeans_spark.report.recommend_plots import RecommendedMovies
    from kmeans_spark.text import TextPipeline

log = logging.getLogger("kmeans_spark")

COMMAND = "recommend"
HELP = "cluster movies by their text; recommend the most popular of the keywords' cluster"
DESCRIPTION = (
    "Cluster a TMDB-style movies CSV by the TF-IDF of overview + keywords (spherical k-means), "
    "find the cluster of --keywords and recommend its --top most popular movies. Writes "
    "recommendations.json, clusters.json (top terms and genres of every cluster), "
    "summary.json, pipeline/ (and terms.json with --features hashing) and plots/. Stdout is "
    "one JSON line, as for every command; the table of recommendations goes to the log "
    "(stderr)."
)
#: What to read (a movies CSV: [input] format is the other commands'), the fit's params,
#: the pipeline to reuse, bad rows, where to write, and the [text] table. Not: feature
#: columns, weights, scaling (TF-IDF is the scale), warm starts, the sweep's and the
#: assignments' keys.
_OWN_KEYS = (
    "input.path",
    "input.delimiter",
    "job.model",
    "job.bad_rows",
    "output.path",
    "output.mode",
)
KEYS = tuple(
    o.key
    for o in OPTIONS
    if o.key and (o.param is not None or o.key in _OWN_KEYS or COMMAND in o.commands)
)
#: Keys of the fit: given with --model, they change nothing (the pipeline is reused whole).
FIT_KEYS = (
    *(o.key for o in OPTIONS if o.key and o.param),
    "text.vocab_size",
    "text.min_df",
    "text.features",
    "text.num_features",
)

#: The term dictionary of a hashing run, beside its pipeline/.
TERMS_FILE = "terms.json"
#: What clusters.json shows of each cluster.
TOP_TERMS, TOP_GENRES, TOP_TITLES = 10, 3, 5
#: At most this many of the query's cluster are drawn behind the recommendations.
MAX_DRAWN = 5_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    flags.add_job_flags(parser, KEYS, COMMAND)


def run(args: argparse.Namespace) -> int:
    cfg = flags.config_from_args(args, KEYS, COMMAND)
    if not cfg.text.keywords.strip():
        raise KMeansInputError(
            "no keywords to recommend movies for; pass --keywords TEXT, e.g. --keywords "
            "'space alien invasion' (or set text.keywords)."
        )
    # a movies table is a CSV; a shared config's [input] format is for the other commands
    cfg = dataclasses.replace(cfg, input=dataclasses.replace(cfg.input, format="csv", header=True))
    return runner.run_command(COMMAND, cfg, recommend, args)


# -- the movies --------------------------------------------------------------------------


@dataclass
class MovieInput:
    """The movies a run works on: checked, one row per title unless ``--duplicates keep``,
    cached (:func:`kmeans_spark.text.checked_movies`' columns); and what was left out."""

    df: DataFrame
    rows_read: int
    bad_rows: dict[str, int]  # by the column at fault; dropped (--bad-rows drop)
    duplicates_dropped: int
    rows: int

    @property
    def dropped(self) -> int:
        return sum(self.bad_rows.values()) + self.duplicates_dropped


def read_movies(spark: SparkSession, fs: JobFS, cfg: RunConfig) -> MovieInput:
    """Read, check and deduplicate the movies (one pass to check and count, cached); refuse
    what the rules of the module's docstring refuse."""
    from pyspark.sql import functions as F

    from kmeans_spark import text
    from kmeans_spark.app import io
    from kmeans_spark.session import default_parallelism, partition_count

    inp, name = cfg.input, cfg.name("input.path")
    # TMDB's overviews may span lines, and its JSON quotes are doubled; every column text
    raw = io.read_input(spark, fs, cfg, options={"multiLine": True, "escape": '"'})
    missing = [c for c in COLUMNS if c not in raw.columns]
    if missing:
        has = ", ".join(raw.columns[:20]) + (", ..." if len(raw.columns) > 20 else "")
        raise KMeansInputError(
            f"{name} {inp.path!r} has no column {missing[0]!r}; a movies table has the "
            f"columns {', '.join(COLUMNS)} (this one has: {has}). Check the file and its "
            "header, or rename its columns."
        )
    checked = text.checked_movies(raw).cache()
    try:
        counts = {
            r[text.PROBLEM_COLUMN]: int(r["count"])
            for r in checked.groupBy(text.PROBLEM_COLUMN).count().collect()
        }
        rows_read = sum(counts.values())
        bad = {c: n for c, n in counts.items() if c is not None}
        log.info("movies read: %d, bad rows: %s (%s)", rows_read, bad or 0, cfg.job.bad_rows)
        if rows_read == 0:
            raise KMeansInputError(
                f"{name} {inp.path!r} has no movies (only a header?); check the path."
            )
        if bad and cfg.job.bad_rows == "error":
            raise _bad_row_error(checked, bad, cfg)
        good = checked.where(F.col(text.PROBLEM).isNull()).drop(text.PROBLEM, text.PROBLEM_COLUMN)
        good, duplicates = _deduplicated(good, checked, cfg)
        parallelism = default_parallelism(spark)
        count = partition_count(good)  # None under Spark Connect: a small table, shuffle it
        if count is None or count < parallelism:  # a CSV of many lines is one split
            good = good.repartition(parallelism)
        movies = good.cache()
        rows = movies.count()
    finally:
        checked.unpersist()
    if rows == 0:
        raise KMeansInputError(
            f"no usable movies in {name} {inp.path!r}: all {rows_read} rows were dropped "
            f"({_reasons(bad, duplicates)}); fix the input."
        )
    return MovieInput(movies, rows_read, bad, duplicates, rows)


def _reasons(bad: dict[str, int], duplicates: int) -> str:
    parts = [f"{n} with a bad {c}" for c, n in sorted(bad.items())]
    if duplicates:
        parts.append(f"{duplicates} duplicate titles")
    return ", ".join(parts) or "none"


def _first_rows(
    checked: DataFrame, title: str | None, limit: int
) -> list[tuple[dict[str, Any], int]]:
    """The first ``limit`` bad rows (``title`` None), or good rows of ``title``, with their
    index in the input's order (0-based): the error path's own pass, for its message."""
    from pyspark.sql import functions as F

    from kmeans_spark import text
    from kmeans_spark.app.features import first_rows_where

    problem = F.col(text.PROBLEM)
    wanted = problem.isNotNull() if title is None else (F.col("title") == title) & problem.isNull()
    return first_rows_where(checked, [F.col("title"), problem], wanted, limit)


def _titles(n: int) -> str:
    return "1 title is" if n == 1 else f"{n} titles are"


def _rows(n: int) -> str:
    return "1 row has" if n == 1 else f"{n} rows have"


def _bad_row_error(checked: DataFrame, bad: dict[str, int], cfg: RunConfig) -> KMeansInputError:
    """The first bad row, by its number, title and problem; how many there are."""
    from kmeans_spark import text

    ((row, index),) = _first_rows(checked, None, 1)
    title = row["title"]
    named = f" (title {title!r})" if title and title.strip() else ""
    total = sum(bad.values())
    counts = ", ".join(f"{c}: {n}" for c, n in sorted(bad.items()))
    return KMeansInputError(
        f"row {index + 1} of {cfg.name('input.path')} {cfg.input.path!r}{named}: "
        f"{row[text.PROBLEM]}; {_rows(total)} a problem ({counts}). Fix or remove "
        f"{'it' if total == 1 else 'them'}, or pass {cfg.name('job.bad_rows')} drop to skip "
        "such rows."
    )


def _deduplicated(good: DataFrame, checked: DataFrame, cfg: RunConfig) -> tuple[DataFrame, int]:
    """``good`` with one row per title (``--duplicates first``: the first in the input's
    order), or as it is (``keep``); under ``error``, the first duplicated title's rows."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from kmeans_spark import text

    policy = cfg.text.duplicates
    if policy == "keep":
        return good, 0
    counted = good.groupBy("title").agg(F.count("*").alias("n"), F.min(text.ORDER).alias("first"))
    repeated = counted.where(F.col("n") > 1).orderBy("first").collect()
    if not repeated:
        return good, 0
    extra = sum(int(r["n"]) - 1 for r in repeated)
    title = repeated[0]["title"]
    if policy == "error":
        rows = [i + 1 for _, i in _first_rows(checked, title, 2)]
        flag = cfg.name("text.duplicates")
        raise KMeansInputError(
            f"title {title!r} is in rows {rows[0]} and {rows[1]} of "
            f"{cfg.name('input.path')} {cfg.input.path!r} ({_titles(len(repeated))} in more "
            f"than one row); remove the duplicates, or pass {flag} first to keep the first row "
            f"of each title, or {flag} keep to keep them all (remakes share a title)."
        )
    log.info("duplicate titles: %d rows dropped (%s first)", extra, cfg.name("text.duplicates"))
    first = Window.partitionBy("title").orderBy(text.ORDER)
    kept = good.withColumn("__nth", F.row_number().over(first)).where(F.col("__nth") == 1)
    return kept.drop("__nth"), extra


# -- the pipeline ------------------------------------------------------------------------


def load_pipeline(spark: SparkSession, fs: JobFS, path: str, name: str) -> TextPipeline:
    """The pipeline of an earlier recommend run (its output directory, or its pipeline/);
    anything else at ``path`` is refused, saying what it is."""
    from pyspark.ml import PipelineModel

    from kmeans_spark import text
    from kmeans_spark.app.cli import one_line
    from kmeans_spark.text import TextPipeline

    path = path.rstrip("/")
    fix = "pass the output directory of an earlier recommend run (it holds pipeline/)"
    kind = fs.kind(path)
    if kind != "dir":
        raise KMeansInputError(
            f"{name} {path!r} {'does not exist' if kind is None else 'is a file'}; {fix}."
        )
    if fs.exists(f"{path}/pipeline/metadata"):
        found = f"{path}/pipeline"
    elif fs.exists(f"{path}/metadata"):
        found = path
    elif fs.exists(f"{path}/model/metadata"):
        raise KMeansInputError(
            f"{name} {path!r} is the output of a fit or elbow run (a k-means model of numeric "
            f"columns), not of a recommend run; {fix}."
        )
    else:
        raise KMeansInputError(f"{name} {path!r} holds no pipeline (no pipeline/ inside); {fix}.")
    kind_of = _metadata_class(spark, found)
    if not kind_of.endswith(".PipelineModel"):
        what = "a k-means model" if kind_of.endswith("KMeansModel") else "not a pipeline"
        raise KMeansInputError(f"{name} {path!r} holds a {kind_of} ({what}); {fix}.")
    try:
        model = PipelineModel.load(found)
    except Exception as exc:
        raise KMeansInputError(
            f"{name} {path!r}: the pipeline {found!r} cannot be loaded "
            f"({one_line(exc)[:300].rstrip('.')}); {fix}."
        ) from None
    try:
        pipeline = TextPipeline.of(model)
    except ValueError as exc:
        raise KMeansInputError(
            f"{name} {path!r} holds a pipeline that is not recommend's ({exc}); {fix}."
        ) from None
    if pipeline.features == text.HASHING:  # its words are in the run's terms.json
        run_dir = path if found != path else path.rpartition("/")[0] or "."
        terms = load_terms(fs, f"{run_dir}/{TERMS_FILE}", f"{name} {path!r}", fix)
        pipeline = dataclasses.replace(pipeline, terms=terms)
    return pipeline


def load_terms(fs: JobFS, path: str, named: str, fix: str) -> TermDictionary:
    """The term dictionary a hashing run saved beside its pipeline; its absence or damage
    is bad input, said so."""
    if fs.kind(path) != "file":
        raise KMeansInputError(
            f"{named} holds a HashingTF pipeline but no {TERMS_FILE} beside it (the term "
            f"dictionary that names its indices); {fix}."
        )
    try:
        return TermDictionary.from_json(fs.read_text(path))
    except ValueError as exc:
        raise KMeansInputError(f"{named}: {path!r} is damaged ({exc}); {fix}.") from None


def _metadata_class(spark: SparkSession, path: str) -> str:
    """The class a Spark ML directory says it holds ("?" when its metadata is unreadable)."""
    try:
        row = spark.read.text(f"{path}/metadata").first()
        return str(json.loads(row[0])["class"]) if row is not None else "?"
    except Exception:
        return "?"


def _warn_ignored(cfg: RunConfig, pipeline: TextPipeline) -> None:
    """Fit flags given with --model change nothing: say so (a config file's keys are
    shared with other commands, so they are not this run's choice)."""
    given = [cfg.names[k] for k in FIT_KEYS if cfg.names.get(k, "").startswith("--")]
    if given:
        k, d = np.shape(pipeline.kmeans.clusterCenters())
        words = (
            f"{d} hashed features, {len(pipeline.vocabulary)} terms"
            if pipeline.features == "hashing"
            else f"vocabulary of {d} terms"
        )
        log.warning(
            "%s ignored: %s is reused as fitted (k=%d, %s, %s)",
            ", ".join(given),
            cfg.name("job.model"),
            k,
            pipeline.kmeans.getDistanceMeasure(),
            words,
        )


# -- the run -----------------------------------------------------------------------------


def recommend(spark: SparkSession, cfg: RunConfig) -> dict[str, Any]:
    """Fit (or reuse) the pipeline on the configured movies, recommend for the query, and
    write the run's output; return the summary."""
    from kmeans_spark import text
    from kmeans_spark.app import io
    from kmeans_spark.report.plots import png_bytes
    from kmeans_spark.report.recommend_plots import recommendation_figures

    fs = io.JobFS(spark)
    out = io.open_output(fs, cfg, COMMAND)
    phases: dict[str, float] = {}
    model_name = cfg.name("job.model")
    saved = load_pipeline(spark, fs, cfg.job.model, model_name) if cfg.job.model else None
    if saved is not None:
        _warn_ignored(cfg, saved)
    movies = runner.timed(phases, "read", lambda: read_movies(spark, fs, cfg))
    vectors: DataFrame | None = None
    assigned: DataFrame | None = None
    try:
        if saved is None:
            text_stages = runner.timed(
                phases,
                "vocabulary",
                lambda: text.fit_text(
                    movies.df,
                    cfg.text.vocab_size,
                    cfg.text.min_df,
                    cfg.name("text.min_df"),
                    cfg.text.features,
                    cfg.text.num_features,
                ),
            )
        else:
            text_stages = saved.text
        vocabulary = text_stages.vocabulary
        query = text.query_terms(spark, text_stages, cfg.text.keywords)
        if not query.usable:  # before the fit: nothing to recommend for
            raise _unknown_query_error(
                cfg, query.terms, query.known, len(vocabulary), saved is None
            )
        if query.unknown:
            log.warning("words not in the vocabulary, left out: %s", ", ".join(query.unknown))
        keep = [text.ORDER, "title", "genres", "popularity", "vote_average", text.FEATURES]
        vectors = text.with_terms(text_stages.transform(movies.df)).select(*keep).cache()
        clustered = vectors.count()
        if saved is None:
            k = cfg.job.k
            if clustered < k:
                raise KMeansInputError(
                    f"{cfg.name('job.k')}={k} is more than the {clustered} movies that have a "
                    "term of the vocabulary; ask for fewer clusters, or lower "
                    f"{cfg.name('text.min_df')}."
                )
            estimator = text.kmeans(cfg.job.estimator_params())
            kmeans_model = runner.timed(phases, "fit", lambda: estimator.fit(vectors))
            pipeline = text.TextPipeline.joined(text_stages, kmeans_model)
        else:
            pipeline = saved
        kmeans = pipeline.kmeans
        cluster = kmeans.predict(query.vector)
        assigned = (
            kmeans.transform(vectors)
            .select(
                text.ORDER,
                "title",
                "genres",
                "popularity",
                "vote_average",
                text.cluster_column().alias(text.CLUSTER),
            )
            .cache()
        )
        found = runner.timed(phases, "recommend", lambda: _gather(assigned, cluster, cfg.text.top))
    finally:
        for cached in (assigned, vectors, movies.df):
            if cached is not None:
                cached.unpersist()
    centers = np.array(kmeans.clusterCenters())
    k = centers.shape[0]
    sizes = [found.sizes.get(i, 0) for i in range(k)]
    terms = top_terms(centers, vocabulary, TOP_TERMS)
    clusters = [
        {
            "cluster": i,
            "size": sizes[i],
            "top_terms": [{"term": t, "weight": round(w, 6)} for t, w in terms[i]],
            "top_genres": [
                {"genre": g, "movies": n}
                for g, n in top_counts(found.genre_counts.get(i, {}), TOP_GENRES)
            ],
            "most_popular": found.top_titles.get(i, []),
        }
        for i in range(k)
    ]
    recommendations = [{**r, "cluster": cluster} for r in found.recommendations]
    fitted = saved is None
    summary = kmeans.summary if kmeans.hasSummary else None
    result = runner.base_result(
        COMMAND,
        cfg,
        movies.rows_read,
        movies.dropped,
        k=k,
        distance=kmeans.getDistanceMeasure(),
        **(
            {
                "cost": summary.trainingCost,
                "iterations": summary.numIter,
                "converged": summary.converged,
                "convergence_reason": summary.convergenceReason,
            }
            if fitted and summary is not None
            else {}
        ),
        cluster_sizes=sizes,
        query={
            "keywords": cfg.text.keywords,
            "terms": query.terms,
            "unknown_terms": query.unknown,
            "cluster": cluster,
            "cluster_top_terms": [t for t, _ in terms[cluster]],
        },
        recommendations=recommendations,
        movies={
            "read": movies.rows_read,
            "bad_rows": movies.bad_rows,
            "duplicate_titles_dropped": movies.duplicates_dropped,
            "without_terms": movies.rows - clustered,
            "clustered": clustered,
        },
        vocabulary_size=len(vocabulary),
        features=_features(pipeline.features, centers.shape[1], vocabulary),
        pipeline={"fitted": fitted, "model": cfg.job.model or None},
        seconds={
            **phases,
            **({"engine": summary.diagnostics.phaseSeconds} if fitted and summary else {}),
        },
    )
    log.info(
        "%s",
        recommendation_table(cfg.text.keywords, cluster, clusters[cluster], recommendations),
    )
    drawn = recommendation_figures(found.plotted(cfg.text.keywords, cluster, sizes[cluster]))
    with out.writing():
        runner.timed(
            phases, "write_pipeline", lambda: pipeline.model.write().save(out.path("pipeline"))
        )
        if pipeline.terms is not None:
            fs.write_text(out.path(TERMS_FILE), pipeline.terms.to_json())
        fs.write_text(out.path("recommendations.json"), json.dumps(recommendations, indent=2))
        fs.write_text(out.path("clusters.json"), json.dumps(clusters, indent=2))
        for name, fig in drawn.items():
            fs.write_bytes(out.path(f"plots/{name}.png"), png_bytes(fig))
        result["seconds"] = {**result["seconds"], **phases}
        fs.write_text(out.path("summary.json"), json.dumps(result, indent=2))
    log.info(
        "wrote %s (recommendations.json, clusters.json, summary.json, pipeline/, %splots/)",
        fs.qualify(out.final),
        f"{TERMS_FILE}, " if pipeline.terms is not None else "",
    )
    return result


def _features(kind: str, length: int, vocabulary: list[str] | TermDictionary) -> dict[str, Any]:
    """How the run's terms became vector indices, for summary.json."""
    out: dict[str, Any] = {"kind": kind, "length": length}
    if isinstance(vocabulary, TermDictionary):  # hashing: how crowded its indices are
        out["indices_with_a_term"] = vocabulary.indices
        out["indices_shared"] = vocabulary.collisions
    return out


def _unknown_query_error(
    cfg: RunConfig, terms: list[str], known: list[str], vocabulary_size: int, fitted: bool
) -> KMeansInputError:
    """The query has no direction in the vocabulary: say why, rather than put it in an
    arbitrary cluster."""
    shown = f"{cfg.name('text.keywords')} {cfg.text.keywords!r}"
    if not terms:
        return KMeansInputError(
            f"{shown} has no word to search for once stop words (the, and, of, ...) are left "
            "out; give content words, e.g. 'space alien invasion'."
        )
    lower = f", or lower {cfg.name('text.min_df')}" if fitted else ""
    if not known:
        return KMeansInputError(
            f"{shown}: none of its words ({', '.join(terms)}) is in the vocabulary of the "
            f"movies ({vocabulary_size} terms of their overviews and keywords), so no cluster "
            "is closer to it than another; use other words (clusters.json of a run lists each "
            f"cluster's top terms){lower}."
        )
    return KMeansInputError(
        f"{shown}: its words in the vocabulary ({', '.join(known)}) are in every movie, so "
        "they tell no cluster apart; add more specific words."
    )


@dataclass
class Gathered:
    """What the run shows of the clustering, gathered from the movies' clusters."""

    recommendations: list[dict[str, Any]]  # title, popularity, vote_average, genres
    sizes: dict[int, int]
    genre_counts: dict[int, dict[str, int]]
    top_titles: dict[int, list[str]]
    cluster_popularity: list[float]
    cluster_votes: list[float]

    def plotted(self, query: str, cluster: int, size: int) -> RecommendedMovies:
        from kmeans_spark.report.recommend_plots import RecommendedMovies

        recs = self.recommendations
        return RecommendedMovies(
            query=query,
            cluster=cluster,
            titles=[r["title"] for r in recs],
            popularity=[r["popularity"] for r in recs],
            vote_average=[r["vote_average"] for r in recs],
            cluster_popularity=self.cluster_popularity,
            cluster_votes=self.cluster_votes,
            cluster_size=size,
        )


def _gather(assigned: DataFrame, cluster: int, top: int) -> Gathered:
    """The query's cluster's ``top`` most popular movies (ties by title), every cluster's
    size, genre counts and most popular titles, and the query's cluster for the plot: small
    aggregations over the cached assignments."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from kmeans_spark import text

    c = text.CLUSTER
    by_popularity = [F.col("popularity").desc(), F.col("title"), F.col(text.ORDER)]
    mine = assigned.where(F.col(c) == cluster)
    recommendations = [
        {
            "title": r["title"],
            "popularity": r["popularity"],
            "vote_average": r["vote_average"],
            "genres": list(r["genres"] or []),
        }
        for r in mine.orderBy(*by_popularity).limit(top).collect()
    ]
    sizes = {
        int(r[c]): int(r["count"])
        for r in assigned.groupBy(c).count().collect()
        if r[c] is not None  # none expected: every movie here has a term
    }
    genre_counts: dict[int, dict[str, int]] = {}
    by_genre = assigned.select(c, F.explode("genres").alias("genre")).groupBy(c, "genre").count()
    for r in by_genre.collect():
        genre_counts.setdefault(int(r[c]), {})[r["genre"]] = int(r["count"])
    nth = F.row_number().over(Window.partitionBy(c).orderBy(*by_popularity))
    ranked = assigned.select(c, "title", nth.alias("nth")).where(F.col("nth") <= TOP_TITLES)
    top_titles: dict[int, list[str]] = {}
    for r in sorted(ranked.collect(), key=lambda r: (r[c], r["nth"])):
        top_titles.setdefault(int(r[c]), []).append(r["title"])
    drawn = mine.select("popularity", "vote_average").limit(MAX_DRAWN).collect()
    return Gathered(
        recommendations,
        sizes,
        genre_counts,
        top_titles,
        [float(r["popularity"]) for r in drawn],
        [float(r["vote_average"]) for r in drawn],
    )


def recommendation_table(
    query: str, cluster: int, info: dict[str, Any], recommendations: Sequence[dict[str, Any]]
) -> str:
    """The recommendations as a person reads them in the log: the query's cluster (its
    size, top terms and genres), then one line per movie."""
    terms = ", ".join(t["term"] for t in info["top_terms"][:6])
    genres = ", ".join(g["genre"] for g in info["top_genres"])
    lines = [
        f"{query!r} -> cluster {cluster} ({info['size']:,} movies; top terms {terms}; "
        f"genres {genres}); the {len(recommendations)} most popular:",
        f"  {'#':>3}  {'title':<40} {'popularity':>10} {'vote':>5}  genres",
    ]
    for i, r in enumerate(recommendations, 1):
        title = r["title"] if len(r["title"]) <= 40 else r["title"][:39] + "…"
        lines.append(
            f"  {i:>3}  {title:<40} {r['popularity']:>10.2f} {r['vote_average']:>5.1f}  "
            + ", ".join(r["genres"])
        )
    return "\n".join(lines)
