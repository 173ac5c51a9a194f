"""recommend's text pipeline in Spark ML: rows checked, TF-IDF of the movie texts, our
KMeans on them, one PipelineModel saved and loaded, a query's terms and cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
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
    assert text_model.features == "count" and text_model.terms is None
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
    vocabulary = text.vocabulary(text_model.model)
    assert vocabulary == pipeline.vocabulary == text_model.vocabulary
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


# -- hashed features: HashingTF and the term dictionary ------------------------------------

#: Few indices, so that words share them (the job's default is 2^18).
NUM_FEATURES = 2**10


@pytest.fixture(scope="module")
def hashed(spark: Any, fitted: Any) -> tuple[Any, text.FittedText]:
    checked, _, _ = fitted
    return checked, text.fit_text(checked, 500, 2.0, "--min-df", "hashing", NUM_FEATURES)


def test_the_term_dictionary_has_each_terms_hashed_index_and_movies(
    spark: Any, hashed: Any
) -> None:
    checked, fitted = hashed
    terms = fitted.terms
    assert fitted.features == "hashing" and fitted.vocabulary is terms
    assert terms is not None and terms.num_features == NUM_FEATURES
    hashing = fitted.model.stages[2]
    for topic in TOPICS:
        for word in topic.words:
            assert word in terms
            assert word in terms.words(hashing.indexOf(word))  # the stage's own index
    assert not {"the", "a", "of", "and", "who", "with"} & {t for t, _, _ in terms.entries}
    movies = {t: m for t, _, m in terms.entries}
    alien = sum(1 for r in MOVIES.rows if "alien" in text_of(r))
    assert movies["alien"] == alien and min(movies.values()) >= 2  # --min-df 2
    # the same words as CountVectorizer's vocabulary with the same minDF
    counted = text.fit_text(checked, 10**6, 2.0, "--min-df").vocabulary
    assert {t for t, _, _ in terms.entries} == set(counted)


def text_of(row: dict[str, Any]) -> set[str]:
    """A generated movie's words, as the tokenizer finds them (lower case, letters)."""
    import json
    import re

    keywords = " ".join(k["name"] for k in json.loads(row["keywords"]))
    return set(re.findall(r"[a-z0-9]{2,}", f"{row['overview']} {keywords}".lower()))


def test_hashed_clusters_are_the_topics_and_their_top_terms_its_words(
    spark: Any, hashed: Any
) -> None:
    from kmeans_spark.movies import top_terms

    checked, fitted = hashed
    vectors = text.with_terms(fitted.transform(checked))
    kmeans = text.kmeans({"k": len(TOPICS), "seed": 3, "distanceMeasure": "cosine"})
    pipeline = text.TextPipeline.joined(fitted, kmeans.fit(vectors))
    assert pipeline.terms is fitted.terms and pipeline.features == "hashing"
    scored = pipeline.model.transform(checked).select("title", text.CLUSTER).collect()
    clusters = {r["title"]: r[text.CLUSTER] for r in scored}
    centers = np.array(pipeline.kmeans.clusterCenters())
    assert centers.shape == (len(TOPICS), NUM_FEATURES)
    tops = top_terms(centers, pipeline.vocabulary, 5)
    for topic in TOPICS:
        (cluster,) = {clusters[t] for t in MOVIES.titles_of(topic.name)}
        query = text.query_terms(spark, pipeline.text, " ".join(topic.keywords[:2]))
        assert query.usable and not query.unknown
        assert pipeline.kmeans.predict(query.vector) == cluster
        words = {w for label, _ in tops[cluster] for w in label.split("/")}
        assert len(words & set(topic.words)) >= 3, (topic.name, tops[cluster])


def test_a_hashed_query_is_weighed_on_its_known_words_alone(spark: Any, hashed: Any) -> None:
    _, fitted = hashed
    query = text.query_terms(spark, fitted, "alien qwxz blorf alien")
    assert query.known == ["alien"] and query.unknown == ["qwxz", "blorf"]
    alone = text.query_terms(spark, fitted, "alien")
    assert query.vector == alone.vector  # the unknown words weigh nothing, hashed or not
    assert not text.query_terms(spark, fitted, "qwxz blorf").usable


def test_few_indices_make_words_share_them(spark: Any, hashed: Any) -> None:
    checked, _ = hashed
    crowded = text.fit_text(checked, 500, 2.0, "--min-df", "hashing", 16)
    terms = crowded.terms
    assert terms is not None and terms.indices <= 16 and terms.collisions > 0
    shared = next(i for i in range(16) if len(terms.words(i)) > 1)
    assert terms[shared] == "/".join(terms.words(shared))


def test_a_hashed_pipeline_saves_and_loads_with_its_terms(
    spark: Any, hashed: Any, tmp_path: Path
) -> None:
    from pyspark.ml import PipelineModel

    from kmeans_spark.movies import TermDictionary

    checked, fitted = hashed
    vectors = text.with_terms(fitted.transform(checked))
    kmeans = text.kmeans({"k": 2, "seed": 3, "distanceMeasure": "cosine"})
    pipeline = text.TextPipeline.joined(fitted, kmeans.fit(vectors))
    pipeline.model.write().save(str(tmp_path / "pipeline"))
    assert fitted.terms is not None
    (tmp_path / "terms.json").write_text(fitted.terms.to_json())
    loaded = text.TextPipeline.of(
        PipelineModel.load(str(tmp_path / "pipeline")),
        TermDictionary.from_json((tmp_path / "terms.json").read_text()),
    )
    assert loaded.features == "hashing" and loaded.terms == fitted.terms
    bare = text.TextPipeline.of(PipelineModel.load(str(tmp_path / "pipeline")))
    with pytest.raises(ValueError, match="without their term dictionary"):
        len(bare.vocabulary)
