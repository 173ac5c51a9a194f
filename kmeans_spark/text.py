"""``recommend``'s text side in Spark ML: movie texts to TF-IDF vectors to our
:class:`~kmeans_spark.KMeans`, saved as one ``PipelineModel``.

The stages, in order (column names in :data:`STAGE_COLUMNS`)::

    RegexTokenizer     text -> tokens        lower case, runs of letters and digits, >= 2 long
    StopWordsRemover   tokens -> terms       Spark's English list
    CountVectorizer    terms -> term_counts  the vocabSize most frequent terms in >= minDF movies
    IDF                term_counts -> tfidf
    Normalizer         tfidf -> features     unit length (L2)
    KMeans (ours)      features -> cluster   spherical (cosine) by default in the job

Unit length makes a text's length irrelevant whatever the distance: cosine ignores it anyway,
and Euclidean k-means on unit vectors compares directions too (scikit-learn's TF-IDF is
normalised the same way), so a shared config's ``distance = "euclidean"`` still clusters
texts by their words.

They are fitted in two steps, then joined into one ``PipelineModel``: the text stages as a
``Pipeline``, then KMeans on the movies that have at least one term of the vocabulary. A
movie whose words are all rare has a zero vector, which has no direction for cosine and
says nothing for Euclidean; it is left out of the fit and of the clusters, not refused.

CountVectorizer, not HashingTF: its vocabulary maps each centre weight back to a word (a
cluster's top terms), and its ``vocabSize`` bounds the vectors' length, which matters while
the engine densifies sparse vectors (``dataset.prepare``). Nothing here depends on that: when
sparse blocks come, a larger ``vocabSize`` is the only change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import pandas as pd
from pyspark.errors import IllegalArgumentException
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import (
    IDF,
    CountVectorizer,
    CountVectorizerModel,
    IDFModel,
    Normalizer,
    RegexTokenizer,
    StopWordsRemover,
)
from pyspark.ml.linalg import SparseVector, Vector
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DoubleType,
    StringType,
    StructField,
    StructType,
)

from kmeans_spark.dataset import column
from kmeans_spark.errors import KMeansInputError
from kmeans_spark.estimator import KMeans
from kmeans_spark.model import KMeansModel
from kmeans_spark.movies import COLUMNS, BadMovieError, check_movie

TEXT, TOKENS, TERMS, COUNTS, WEIGHTS, FEATURES, CLUSTER = (
    "text",
    "tokens",
    "terms",
    "term_counts",
    "tfidf",
    "features",
    "cluster",
)
STAGE_COLUMNS = (TEXT, TOKENS, TERMS, COUNTS, WEIGHTS, FEATURES, CLUSTER)
#: Words are runs of letters and digits (any script); "sci-fi" is two, "don't" is "don".
TOKEN_GAPS = r"[^\p{L}\p{N}]+"
MIN_TOKEN_LENGTH = 2

#: What :func:`checked_movies` adds: the row's order in the input, its checked fields, and
#: the column and sentence of its problem (null when it has none).
ORDER, PROBLEM_COLUMN, PROBLEM = "__order", "__problem_column", "__problem"
_CHECKED = StructType(
    [
        StructField(TEXT, StringType()),
        StructField("genres", ArrayType(StringType())),
        StructField("popularity", DoubleType()),
        StructField("vote_average", DoubleType()),
        StructField(PROBLEM_COLUMN, StringType()),
        StructField(PROBLEM, StringType()),
    ]
)


def _check_batch(*cells: pd.Series) -> pd.DataFrame:
    """:func:`kmeans_spark.movies.check_movie` on a batch of rows."""
    out: dict[str, list[Any]] = {f.name: [] for f in _CHECKED.fields}
    for values in zip(*(c.tolist() for c in cells), strict=True):
        try:
            movie = check_movie(*values)
            found = [movie.text, movie.genres, movie.popularity, movie.vote_average, None, None]
        except BadMovieError as problem:
            found = [None, None, None, None, problem.column, str(problem)]
        for name, value in zip(out, found, strict=True):
            out[name].append(value)
    return pd.DataFrame(out)


def checked_movies(df: DataFrame) -> DataFrame:
    """``df``'s movies checked (:func:`~kmeans_spark.movies.check_movie`, in Python, one
    Arrow batch at a time): ``title``, :data:`TEXT`, ``genres``, ``popularity``,
    ``vote_average``, :data:`ORDER` (increasing in the input's order) and the row's problem
    (:data:`PROBLEM_COLUMN`, :data:`PROBLEM`). The columns of :data:`COLUMNS` must exist."""
    check = F.pandas_udf(_check_batch, _CHECKED)  # type: ignore[call-overload]
    cells = [column(c).cast("string") for c in COLUMNS]
    checked = df.select(
        F.monotonically_increasing_id().alias(ORDER),
        column("title").cast("string").alias("title"),
        check(*cells).alias("m"),
    )
    return checked.select(ORDER, "title", "m.*")


def text_stages(vocab_size: int, min_df: float) -> list[Any]:
    """The text stages, unfitted: tokenizer, stop words, CountVectorizer, IDF, unit length."""
    return [
        RegexTokenizer(
            inputCol=TEXT,
            outputCol=TOKENS,
            pattern=TOKEN_GAPS,
            gaps=True,
            minTokenLength=MIN_TOKEN_LENGTH,
            toLowercase=True,
        ),
        StopWordsRemover(inputCol=TOKENS, outputCol=TERMS),
        CountVectorizer(inputCol=TERMS, outputCol=COUNTS, vocabSize=vocab_size, minDF=min_df),
        IDF(inputCol=COUNTS, outputCol=WEIGHTS),
        Normalizer(inputCol=WEIGHTS, outputCol=FEATURES, p=2.0),
    ]


def fit_text(df: DataFrame, vocab_size: int, min_df: float, flag: str) -> PipelineModel:
    """The text stages fitted on ``df``'s :data:`TEXT`. No term in ``min_df`` movies is
    bad input, named by ``flag`` (how the user set ``min_df``)."""
    empty = KMeansInputError(
        f"no term is in at least {flag}={min_df:g} movies, so the vocabulary is empty; "
        f"lower {flag}, or give more movies."
    )
    try:
        model = Pipeline(stages=text_stages(vocab_size, min_df)).fit(df)
    except IllegalArgumentException as exc:  # Spark versions that refuse it themselves
        if "vocabulary size should be > 0" not in str(exc):
            raise
        raise empty from None
    if not vocabulary(model):
        raise empty
    return model


def kmeans(params: dict[str, Any]) -> KMeans:
    """The clustering stage: our KMeans on :data:`FEATURES`, labels in :data:`CLUSTER`."""
    return KMeans(**params, featuresCol=FEATURES, predictionCol=CLUSTER)


def with_terms(vectors: DataFrame) -> DataFrame:
    """The rows whose :data:`FEATURES` vector has a nonzero weight (a term of the
    vocabulary); the others have no place in a clustering of texts."""
    nonzero = F.udf(lambda v: v is not None and v.numNonzeros() > 0, BooleanType())
    return vectors.where(nonzero(F.col(FEATURES)))


@dataclass(frozen=True)
class TextPipeline:
    """A fitted recommend pipeline: the text stages and our KMeansModel, in one
    ``PipelineModel`` (saved and loaded as one)."""

    model: PipelineModel

    #: The stages, by kind, in order.
    KINDS = (
        RegexTokenizer,
        StopWordsRemover,
        CountVectorizerModel,
        IDFModel,
        Normalizer,
        KMeansModel,
    )

    @classmethod
    def of(cls, model: Any) -> TextPipeline:
        """``model`` if it is a fitted recommend pipeline; else ValueError saying what it is
        (a loaded directory may hold any pipeline)."""
        expected = ", ".join(k.__name__ for k in cls.KINDS)
        if not isinstance(model, PipelineModel):
            raise ValueError(f"it is a {type(model).__name__}, not a PipelineModel of {expected}")
        stages: list[Any] = list(model.stages)
        kinds_match = len(stages) == len(cls.KINDS) and all(
            isinstance(s, k) for s, k in zip(stages, cls.KINDS, strict=False)
        )
        if not kinds_match:
            names = ", ".join(type(s).__name__ for s in stages) or "none"
            raise ValueError(f"its stages are {names}, not {expected}")
        if stages[0].getInputCol() != TEXT or stages[-1].getFeaturesCol() != FEATURES:
            raise ValueError(
                f"its stages read other columns ({stages[0].getInputCol()!r} ... "
                f"{stages[-1].getFeaturesCol()!r}) than recommend's ({TEXT!r} ... {FEATURES!r})"
            )
        return cls(model)

    @classmethod
    def joined(cls, text_model: PipelineModel, kmeans_model: KMeansModel) -> TextPipeline:
        """The fitted text stages and the KMeansModel fitted on their vectors, as one."""
        return cls.of(PipelineModel(stages=[*text_model.stages, kmeans_model]))

    @property
    def text_model(self) -> PipelineModel:
        """The text stages alone: text to TF-IDF vectors."""
        return PipelineModel(stages=list(self.model.stages[:-1]))

    @property
    def kmeans(self) -> KMeansModel:
        return cast(KMeansModel, self.model.stages[-1])

    @property
    def vocabulary(self) -> list[str]:
        """The terms, most frequent first; term ``i`` is weight ``i`` of a vector."""
        return vocabulary(self.model)


def vocabulary(text_model: PipelineModel) -> list[str]:
    """The vocabulary of fitted text stages (:func:`fit_text`), or of a whole pipeline."""
    counts: CountVectorizerModel = cast(CountVectorizerModel, text_model.stages[2])
    return list(counts.vocabulary)


@dataclass(frozen=True)
class QueryTerms:
    """A query as the pipeline sees it: its terms (stop words left out, each once, in the
    query's order), those in the vocabulary and the others, and its TF-IDF vector."""

    terms: list[str]
    known: list[str]
    unknown: list[str]
    vector: Vector

    @property
    def usable(self) -> bool:
        """Whether the vector has a direction: some known term with a weight."""
        return bool(cast(Any, self.vector).numNonzeros())


def query_terms(spark: SparkSession, text_model: PipelineModel, keywords: str) -> QueryTerms:
    """The query's terms and TF-IDF vector through the fitted text stages (one row, so the
    query is tokenized exactly as the movies were)."""
    query = spark.createDataFrame([(keywords,)], StructType([StructField(TEXT, StringType())]))
    row = text_model.transform(query).select(TERMS, FEATURES).first()
    assert row is not None
    terms = list(dict.fromkeys(row[TERMS]))
    index = set(vocabulary(text_model))
    vector = row[FEATURES]
    if not isinstance(vector, Vector):  # pragma: no cover - IDF always gives a vector
        vector = SparseVector(0, [], [])
    return QueryTerms(
        terms=terms,
        known=[t for t in terms if t in index],
        unknown=[t for t in terms if t not in index],
        vector=vector,
    )


def cluster_column() -> Column:
    """The cluster label as an int column (null for a movie without a cluster)."""
    return F.col(CLUSTER).cast("int")
