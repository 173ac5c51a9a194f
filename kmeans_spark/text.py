"""``recommend``'s text side in Spark ML: movie texts to TF-IDF vectors to our
:class:`~kmeans_spark.KMeans`, saved as one ``PipelineModel``.

The stages, in order (column names in :data:`STAGE_COLUMNS`)::

    RegexTokenizer     text -> tokens        lower case, runs of letters and digits, >= 2 long
    StopWordsRemover   tokens -> terms       Spark's English list
    CountVectorizer    terms -> term_counts  the vocabSize most frequent terms in >= minDF movies
      or HashingTF                           numFeatures indices, a word's is its hash
    IDF                term_counts -> tfidf  (hashing: indices in < minDF movies weigh 0)
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

CountVectorizer by default: its vocabulary maps each centre weight back to a word (a
cluster's top terms), and its ``vocabSize`` bounds the vectors' length. HashingTF
(``features="hashing"``) fits no vocabulary and bounds nothing but ``numFeatures`` (2^18 by
default, for sparse blocks); what names its indices is the corpus's term dictionary
(:class:`~kmeans_spark.movies.TermDictionary`: each term in >= minDF movies, its index from
the fitted HashingTF itself, its number of movies), computed once in the fit from the same
terms and saved beside the pipeline. A query keeps only its words the vocabulary (or the
dictionary) knows before it is weighted: an unknown word would still weigh in the index it
hashes to.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import pandas as pd
from pyspark.errors import IllegalArgumentException
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import (
    IDF,
    CountVectorizer,
    CountVectorizerModel,
    HashingTF,
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
    IntegerType,
    StringType,
    StructField,
    StructType,
)

from kmeans_spark.dataset import column
from kmeans_spark.errors import KMeansInputError
from kmeans_spark.estimator import KMeans
from kmeans_spark.model import KMeansModel
from kmeans_spark.movies import COLUMNS, BadMovieError, TermDictionary, check_movie

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
#: How terms become indices (``text.features``), and HashingTF's default width.
COUNT, HASHING = "count", "hashing"
DEFAULT_NUM_FEATURES = 2**18
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


def min_movies(min_df: float, movies: int) -> int:
    """``minDF`` as a number of movies, as CountVectorizer reads it: a count (>= 1), or a
    fraction of the movies (< 1); rounded up."""
    return max(1, math.ceil(min_df if min_df >= 1 else min_df * movies))


def text_stages(
    vocab_size: int,
    min_df: float,
    features: str = COUNT,
    num_features: int = DEFAULT_NUM_FEATURES,
    min_count: int = 1,
) -> list[Any]:
    """The text stages, unfitted: tokenizer, stop words, CountVectorizer (or HashingTF, whose
    IDF weighs indices in fewer than ``min_count`` movies 0), IDF, unit length."""
    if features == HASHING:
        terms_to_counts: Any = HashingTF(inputCol=TERMS, outputCol=COUNTS, numFeatures=num_features)
        idf = IDF(inputCol=COUNTS, outputCol=WEIGHTS, minDocFreq=min_count)
    else:
        terms_to_counts = CountVectorizer(
            inputCol=TERMS, outputCol=COUNTS, vocabSize=vocab_size, minDF=min_df
        )
        idf = IDF(inputCol=COUNTS, outputCol=WEIGHTS)
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
        terms_to_counts,
        idf,
        Normalizer(inputCol=WEIGHTS, outputCol=FEATURES, p=2.0),
    ]


@dataclass(frozen=True)
class FittedText:
    """Fitted text stages (text to TF-IDF vectors) and, for HashingTF, the corpus's term
    dictionary: what names the vectors' indices."""

    model: PipelineModel
    terms: TermDictionary | None = None

    @property
    def features(self) -> str:
        """:data:`HASHING` or :data:`COUNT`: how the stages make terms indices."""
        return HASHING if isinstance(self.model.stages[2], HashingTF) else COUNT

    @property
    def vocabulary(self) -> list[str] | TermDictionary:
        """CountVectorizer's vocabulary (term ``i`` is weight ``i``), or the term dictionary
        of hashed features."""
        if self.features == COUNT:
            return vocabulary(self.model)
        if self.terms is None:
            raise ValueError("hashed features without their term dictionary have no words")
        return self.terms

    def transform(self, df: DataFrame) -> DataFrame:
        return self.model.transform(df)


def fit_text(
    df: DataFrame,
    vocab_size: int,
    min_df: float,
    flag: str,
    features: str = COUNT,
    num_features: int = DEFAULT_NUM_FEATURES,
) -> FittedText:
    """The text stages fitted on ``df``'s :data:`TEXT` (and, hashing, the term dictionary
    of its movies). No term in ``min_df`` movies is bad input, named by ``flag`` (how the
    user set ``min_df``)."""
    empty = KMeansInputError(
        f"no term is in at least {flag}={min_df:g} movies, so the vocabulary is empty; "
        f"lower {flag}, or give more movies."
    )
    min_count = min_movies(min_df, df.count() if min_df < 1 else 0)
    stages = text_stages(vocab_size, min_df, features, num_features, min_count)
    try:
        model = Pipeline(stages=stages).fit(df)
    except IllegalArgumentException as exc:  # Spark versions that refuse it themselves
        if "vocabulary size should be > 0" not in str(exc):
            raise
        raise empty from None
    terms = term_dictionary(model, df, min_count) if features == HASHING else None
    fitted = FittedText(model, terms)
    if not len(fitted.vocabulary):
        raise empty
    return fitted


def term_dictionary(text_model: PipelineModel, df: DataFrame, min_count: int) -> TermDictionary:
    """Every term of ``df``'s movies in at least ``min_count`` of them, with the index the
    fitted HashingTF gives it (hashed by that stage itself, so it is the vectors' index
    whatever Spark's hash function) and its number of movies: one aggregation, one
    collect of the distinct terms."""
    tokens = PipelineModel(stages=list(text_model.stages[:2])).transform(df.select(TEXT))
    counted = (
        tokens.select(F.explode(F.array_distinct(TERMS)).alias("term"))
        .groupBy("term")
        .agg(F.count("*").alias("movies"))
        .where(F.col("movies") >= min_count)
    )
    hashing = cast(HashingTF, text_model.stages[2])
    one = hashing.copy({hashing.inputCol: "__term", hashing.outputCol: "__hashed"})
    hashed = one.transform(counted.select("term", "movies", F.array("term").alias("__term")))
    index = F.udf(lambda v: int(v.indices[0]), IntegerType())
    rows = hashed.select("term", index("__hashed").alias("index"), "movies").collect()
    return TermDictionary.of(hashing.getNumFeatures(), [(r[0], r[1], r[2]) for r in rows])


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
    ``PipelineModel`` (saved and loaded as one), and, for hashed features, the term
    dictionary saved beside it."""

    model: PipelineModel
    terms: TermDictionary | None = None

    #: The stages, by kind, in order (a tuple: any of its kinds).
    KINDS: ClassVar[tuple[Any, ...]] = (
        RegexTokenizer,
        StopWordsRemover,
        (CountVectorizerModel, HashingTF),
        IDFModel,
        Normalizer,
        KMeansModel,
    )

    @classmethod
    def expected(cls) -> str:
        return ", ".join(
            " or ".join(k.__name__ for k in kind) if isinstance(kind, tuple) else kind.__name__
            for kind in cls.KINDS
        )

    @classmethod
    def of(cls, model: Any, terms: TermDictionary | None = None) -> TextPipeline:
        """``model`` if it is a fitted recommend pipeline; else ValueError saying what it is
        (a loaded directory may hold any pipeline)."""
        expected = cls.expected()
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
        return cls(model, terms)

    @classmethod
    def joined(cls, text: FittedText, kmeans_model: KMeansModel) -> TextPipeline:
        """The fitted text stages and the KMeansModel fitted on their vectors, as one."""
        return cls.of(PipelineModel(stages=[*text.model.stages, kmeans_model]), text.terms)

    @property
    def text(self) -> FittedText:
        """The text stages alone (text to TF-IDF vectors), with the term dictionary."""
        return FittedText(PipelineModel(stages=list(self.model.stages[:-1])), self.terms)

    @property
    def text_model(self) -> PipelineModel:
        return self.text.model

    @property
    def features(self) -> str:
        return self.text.features

    @property
    def kmeans(self) -> KMeansModel:
        return cast(KMeansModel, self.model.stages[-1])

    @property
    def vocabulary(self) -> list[str] | TermDictionary:
        """What names the vectors' indices (:attr:`FittedText.vocabulary`)."""
        return self.text.vocabulary


def vocabulary(text_model: PipelineModel) -> list[str]:
    """The CountVectorizer vocabulary of fitted text stages, or of a whole pipeline (hashed
    features have none: :attr:`FittedText.vocabulary`)."""
    counts = text_model.stages[2]
    if not isinstance(counts, CountVectorizerModel):
        raise ValueError(f"the terms are {type(counts).__name__} indices: there is no vocabulary")
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


def query_terms(spark: SparkSession, text: FittedText | PipelineModel, keywords: str) -> QueryTerms:
    """The query's terms and the TF-IDF vector of those the vocabulary knows, through the
    fitted text stages (one row, so the query is tokenized exactly as the movies were)."""
    fitted = text if isinstance(text, FittedText) else FittedText(text)
    stages = list(fitted.model.stages)
    query = spark.createDataFrame([(keywords,)], StructType([StructField(TEXT, StringType())]))
    row = PipelineModel(stages=stages[:2]).transform(query).select(TERMS).first()
    assert row is not None
    words = list(row[TERMS])
    terms = list(dict.fromkeys(words))
    vocab = fitted.vocabulary
    index = vocab if isinstance(vocab, TermDictionary) else set(vocab)
    # the known words alone, as often as given: an unknown one still weighs in its hashed index
    known_words = [t for t in words if t in index]
    schema = StructType([StructField(TERMS, ArrayType(StringType()))])
    known_terms = spark.createDataFrame([(known_words,)], schema)
    weighed = PipelineModel(stages=stages[2:]).transform(known_terms).select(FEATURES).first()
    assert weighed is not None
    vector = weighed[FEATURES]
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
