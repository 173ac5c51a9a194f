"""recommend's text pipeline in Spark ML: rows checked, TF-IDF of the movie texts, our
KMeans on them, one PipelineModel saved and loaded, a query's terms and cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kmeans_spark import text
from kmeans_spark.errors import KMeansInputError
from kmeans_spark.movies import COLUMNS
from kmeans_spark.textgen import TOPICS, make_movies

MOVIES = make_movies(160, seed=11)


def movie_frame(spark: Any, rows: list[dict[str, Any]], partitions: int = 3) -> Any:
    """The rows over ``partitions`` partitions plus an empty one, every column text."""
    from pyspark.sql.types import StringType, StructField, StructType

    names = ["id", *COLUMNS]
    schema = StructType([StructField(c, StringType()) for c in names])
    sc = spark.sparkContext
    data = [tuple(r.get(c) for c in names) for r in rows]
    rdd = sc.parallelize(data, partitions).union(sc.parallelize([], 1))
    return spark.createDataFrame(rdd, schema)


@pytest.fixture(scope="module")
def fitted(spark: Any) -> tuple[Any, Any, text.TextPipeline]:
    """The generated movies checked, the text stages fitted, KMeans (cosine, k = topics)
    fitted on their vectors, joined into one pipeline."""
    checked = text.checked_movies(movie_frame(spark, MOVIES.rows)).cache()
    text_model = text.fit_text(checked, 500, 2.0, "--min-df")
    vectors = text.with_terms(text_model.transform(checked))
    kmeans = text.kmeans({"k": len(TOPICS), "seed": 3, "distanceMeasure": "cosine"})
    pipeline = text.TextPipeline.joined(text_model, kmeans.fit(vectors))
    return checked, text_model, pipeline


def test_rows_are_checked_in_python_with_their_problem(spark: Any) -> None:
    rows = [dict(r) for r in MOVIES.rows[:4]]
    rows[1]["overview"] = None
    rows[2]["keywords"] = '[{"id": 1, "name": "alien"}'
    rows[3]["popularity"] = "high"
    got = text.checked_movies(movie_frame(spark, rows, partitions=2)).collect()
    assert [r[text.PROBLEM_COLUMN] for r in got] == [None, "overview", "keywords", "popularity"]
    assert got[1][text.PROBLEM] == "the overview is empty"
    assert got[2][text.PROBLEM].startswith('keywords \'[{"id": 1, "name": "alien"}\' is not')
    assert got[0][text.TEXT].startswith(rows[0]["overview"]) and got[0]["genres"]
    assert got[0]["popularity"] == float(rows[0]["popularity"])
    orders = [r[text.ORDER] for r in got]
    assert orders == sorted(orders) and len(set(orders)) == 4  # the input's order


def test_the_vocabulary_has_the_topic_words_and_no_stop_words(fitted: Any) -> None:
    _, text_model, pipeline = fitted
    vocabulary = text.vocabulary(text_model)
    assert vocabulary == pipeline.vocabulary
    for topic in TOPICS:
        assert set(topic.words) <= set(vocabulary)
    assert not {"the", "a", "of", "and", "who", "with"} & set(vocabulary)
    assert len(vocabulary) <= 500


def test_the_clusters_are_the_topics_and_a_query_lands_in_its_topic(
    spark: Any, fitted: Any
) -> None:
    """Label-free: each cluster holds the movies of one topic, all of them; the words of a
    topic find its cluster."""
    checked, text_model, pipeline = fitted
    scored = pipeline.model.transform(checked).select("title", text.CLUSTER).collect()
    clusters = {r["title"]: r[text.CLUSTER] for r in scored}
    for topic in TOPICS:
        found = {clusters[t] for t in MOVIES.titles_of(topic.name)}
        assert len(found) == 1, (topic.name, found)
        query = text.query_terms(spark, text_model, " ".join(topic.keywords[:2]))
        assert query.usable and not query.unknown
        assert pipeline.kmeans.predict(query.vector) == found.pop()
    assert len(set(clusters.values())) == len(TOPICS)


def test_a_query_knows_its_unknown_and_stop_words(spark: Any, fitted: Any) -> None:
    _, text_model, _ = fitted
    query = text.query_terms(spark, text_model, "The ALIEN, and the qwxz-blorf alien!")
    assert query.terms == ["alien", "qwxz", "blorf"] and query.known == ["alien"]
    assert query.unknown == ["qwxz", "blorf"] and query.usable
    nothing = text.query_terms(spark, text_model, "qwxz blorf")
    assert nothing.known == [] and not nothing.usable
    assert text.query_terms(spark, text_model, "the and of").terms == []


def test_the_pipeline_saves_and_loads_as_one(spark: Any, fitted: Any, tmp_path: Path) -> None:
    from pyspark.ml import PipelineModel

    checked, _, pipeline = fitted
    path = str(tmp_path / "pipeline")
    pipeline.model.write().save(path)
    loaded = text.TextPipeline.of(PipelineModel.load(path))
    assert loaded.vocabulary == pipeline.vocabulary
    before = pipeline.model.transform(checked).select("title", text.CLUSTER).toPandas()
    after = loaded.model.transform(checked).select("title", text.CLUSTER).toPandas()
    assert before.equals(after)


def test_another_pipeline_is_not_a_text_pipeline(spark: Any, fitted: Any) -> None:
    from pyspark.ml import PipelineModel
    from pyspark.ml.feature import VectorAssembler

    _, _, pipeline = fitted
    other = PipelineModel(stages=[VectorAssembler(inputCols=["a"], outputCol="v")])
    with pytest.raises(ValueError, match=r"^its stages are VectorAssembler, not RegexTokenizer, "):
        text.TextPipeline.of(other)
    with pytest.raises(ValueError, match=r"^it is a KMeansModel, not a PipelineModel of "):
        text.TextPipeline.of(pipeline.kmeans)


def test_movies_without_a_vocabulary_term_are_left_out(spark: Any, fitted: Any) -> None:
    checked, text_model, _ = fitted
    rows = [dict(MOVIES.rows[0], overview="Zyx wvu tsr.", keywords="[]", title="Nothing")]
    odd = text.checked_movies(movie_frame(spark, rows, partitions=1))
    assert text.with_terms(text_model.transform(odd)).count() == 0
    assert text.with_terms(text_model.transform(checked)).count() == len(MOVIES.rows)


def test_an_empty_vocabulary_is_bad_input(spark: Any, fitted: Any) -> None:
    checked, _, _ = fitted
    with pytest.raises(
        KMeansInputError,
        match=r"^no term is in at least --min-df=1000 movies, so the vocabulary is empty; lower "
        r"--min-df, or give more movies\.$",
    ):
        text.fit_text(checked, 100, 1000.0, "--min-df")
