"""Every option of the fit and the batch job, declared once: name, type, default, rule, help.

Three consumers derive from this table, so a value, a default or a help text is written
in one place only:

* :mod:`kmeans_spark.params` builds the ``pyspark.ml`` Params (``param`` names, Spark's
  camelCase) and the estimator validates them with :func:`check`;
* :mod:`kmeans_spark.app.config` builds the job's config defaults (``key``, ``table.key``);
* :mod:`kmeans_spark.app.flags` builds the flags (``--`` + the key's name, or ``flag``).

Plain Python, no Spark: the config and CLI tests run without a JVM. Defaults of the params
are Spark's (``pyspark.ml.clustering.KMeans``, 4.3), so the estimator is a drop-in; where the
job wants another default (a fixed ``seed``), ``job_default`` says so; where one subcommand
declares a shared key differently (its own default, help or alias), :data:`BY_COMMAND` does.
Keys of one subcommand only (``recommend``'s ``[text]``) name it in ``commands``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kmeans_spark.errors import KMeansInputError

#: An option's rule: the test a value must pass, and how to say it ("must be >= 2").
Rule = tuple[Callable[[Any], bool], str]


def _at_least(low: float) -> Rule:
    return (lambda v: math.isfinite(v) and v >= low), f"must be >= {low:g}"


def _above(low: float) -> Rule:
    return (lambda v: math.isfinite(v) and v > low), f"must be a finite number > {low:g}"


def _one_char() -> Rule:
    return (lambda v: len(v) == 1), "must be one character, e.g. ',' or ';'"


@dataclass(frozen=True)
class Option:
    """One option. ``param`` is its ``pyspark.ml`` name (None: a job-only option), ``key``
    its config key ``table.key`` (None: an API-only param), ``type`` one of ``int``,
    ``float``, ``str``, ``bool``, ``list`` (of strings)."""

    param: str | None
    key: str | None
    type: type
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    rule: Rule | None = None
    fix: str = ""
    flag: str | None = None  # when the flag is not "--" + the key's name with dashes
    job_default: Any = None  # when the job's default differs from the param's
    metavar: str | None = None
    reads: bool = False  # a path the run reads: its output may not be, contain or lie inside it
    aliases: tuple[str, ...] = ()  # more flags for the key (recommend's --movies for --input)
    commands: tuple[str, ...] = ()  # the only subcommands that use the key (empty: any)

    def used_by(self, command: str) -> bool:
        """Whether ``command`` uses the key: a command's ``KEYS`` leave out the others."""
        return not self.commands or command in self.commands

    @property
    def table(self) -> str:
        assert self.key is not None
        return self.key.split(".", 1)[0]

    @property
    def name(self) -> str:
        """The key's name within its table (``max_iter``)."""
        assert self.key is not None
        return self.key.split(".", 1)[1]

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def config_default(self) -> Any:
        return self.default if self.job_default is None else self.job_default


#: The StorageLevel names Spark's ``intermediateStorageLevel`` accepts (its JVM's
#: ``StorageLevel.fromString`` without ``NONE``), Spark's default first.
STORAGE_LEVELS = (
    "MEMORY_AND_DISK",
    "MEMORY_AND_DISK_2",
    "MEMORY_AND_DISK_SER",
    "MEMORY_AND_DISK_SER_2",
    "MEMORY_ONLY",
    "MEMORY_ONLY_2",
    "MEMORY_ONLY_SER",
    "MEMORY_ONLY_SER_2",
    "DISK_ONLY",
    "DISK_ONLY_2",
    "DISK_ONLY_3",
    "OFF_HEAP",
)


def _choice(
    param: str | None,
    key: str | None,
    choices: tuple[str, ...],
    help: str,
    *,
    flag: str | None = None,
    commands: tuple[str, ...] = (),
) -> Option:
    return Option(param, key, str, choices[0], help, choices=choices, flag=flag, commands=commands)


OPTIONS: tuple[Option, ...] = (
    # -- the estimator's params (Spark's names and defaults), most also job keys --------
    Option(
        "k",
        "job.k",
        int,
        2,
        "The number of clusters to create.",
        rule=_at_least(2),
        fix="ask for at least two clusters",
    ),
    Option(
        "maxIter",
        "job.max_iter",
        int,
        20,
        "Maximum number of Lloyd iterations.",
        rule=_at_least(1),
    ),
    Option(
        "tol",
        "job.tol",
        float,
        1e-4,
        "Convergence tolerance: stop once no centre moves more than this.",
        rule=(lambda v: math.isfinite(v) and v >= 0, "must be a finite number >= 0"),
    ),
    Option("seed", "job.seed", int, None, "Random seed.", job_default=42),
    _choice(
        "initMode",
        "job.init_mode",
        ("k-means||", "random"),
        'The initialization algorithm: "k-means||" (Bahmani et al.) or "random". Ignored '
        "when initialCenters is set.",
    ),
    Option(
        "initSteps",
        "job.init_steps",
        int,
        2,
        "The number of k-means|| sampling rounds.",
        rule=_at_least(1),
    ),
    Option(
        "nInit",
        "job.n_init",
        int,
        1,
        "Restarts: run Lloyd from nInit k-means|| (or random) seedings and keep the lowest "
        "cost; the seeding rounds and iterations of all restarts share their passes over "
        "the data. The first restart is the fit of nInit=1.",
        rule=_at_least(1),
    ),
    Option(
        "oversamplingFactor",
        None,
        float,
        2.0,
        "k-means|| samples about oversamplingFactor * k points per round.",
        rule=_above(0),
    ),
    _choice(
        "distanceMeasure",
        "job.distance",
        ("euclidean", "cosine"),
        "The distance measure: 'euclidean' or 'cosine' (spherical k-means).",
    ),
    _choice(
        "emptyClusterPolicy",
        None,
        ("reseed", "keep"),
        'What to do with a cluster that loses all its points: "reseed" it at one of the '
        'points farthest from its centre, or "keep" its centre (Spark\'s behaviour).',
    ),
    _choice(
        "zeroVectorPolicy",
        "job.zero_vectors",
        ("error", "drop"),
        "Rows that are zero vectors (empty documents) under distanceMeasure='cosine', where "
        'they have no direction: "error" refuses the input naming their count, "drop" leaves '
        "them out of the fit and counts them (summary.diagnostics.droppedZeroVectors).",
        commands=("fit", "elbow"),
    ),
    _choice(
        "dtype",
        "job.dtype",
        ("float64", "float32"),
        'Precision of the cached blocks and distance computations: "float64" or "float32" '
        "(half the memory, faster; sums are still accumulated in float64).",
    ),
    Option(
        "numPartitions",
        "job.partitions",
        int,
        0,
        "Number of resident blocks. 0: the input's partitions, coalesced to the default "
        "parallelism when there are more. Iterations cost about one task per block.",
        rule=_at_least(0),
        fix="0 picks it for you",
    ),
    _choice(
        "solver",
        None,
        ("auto", "row", "block"),
        "Accepted for compatibility with pyspark.ml.clustering.KMeans; this implementation "
        "has one solver, so the value changes nothing.",
    ),
    Option(
        "maxBlockSizeInMB",
        None,
        float,
        0.0,
        "Accepted for compatibility with pyspark.ml.clustering.KMeans; blocks here are one "
        "per partition (see numPartitions), so the value changes nothing.",
        rule=_at_least(0),
    ),
    _choice(
        "intermediateStorageLevel",
        None,
        STORAGE_LEVELS,
        "Accepted for compatibility with pyspark.ml.clustering.KMeans (a Spark StorageLevel "
        "name other than NONE); blocks here live in files on the executors' local disks, so "
        "the value changes nothing.",
    ),
    Option(
        "inputCols",
        None,
        list,
        None,
        "Numeric columns to use as features, one per dimension; when set, featuresCol is not read.",
    ),
    Option(
        "distanceCol",
        None,
        str,
        None,
        "When set, transform also writes each row's distance to its centre (Euclidean "
        "distance, or 1 - cosine similarity) to this column.",
    ),
    # -- the batch job's own keys ---------------------------------------------------------
    Option(
        None,
        "input.path",
        str,
        "",
        "input path, glob or partitioned directory; may contain {run_date}",
        flag="--input",
        metavar="PATH",
        reads=True,
    ),
    _choice(None, "input.format", ("parquet", "csv", "json", "orc"), "input format"),
    Option(
        None,
        "input.features",
        list,
        [],
        "feature columns: names or glob patterns like 'x*'",
        metavar="COL,COL,...",
    ),
    Option(
        None,
        "input.id_cols",
        list,
        [],
        "columns copied to the assignments",
        metavar="COL,COL,...",
    ),
    Option(
        None,
        "input.weight_col",
        str,
        "",
        "instance weights for fit: a numeric column, every value >= 0 (KMeans' weightCol)",
        metavar="COL",
    ),
    Option(None, "input.where", str, "", "row filter, e.g. \"dt = '{run_date}'\"", metavar="EXPR"),
    Option(None, "input.header", bool, True, "CSV has a header row"),
    Option(None, "input.delimiter", str, ",", "CSV delimiter", rule=_one_char(), metavar="CHAR"),
    Option(
        None,
        "job.init_model",
        str,
        "",
        "warm start from a previous run's output (or model) directory",
        metavar="PATH",
    ),
    Option(
        None,
        "job.model",
        str,
        "",
        "the model to score with (required): a fit run's output directory (or its model/); "
        "may contain {run_date}",
        flag="--model",
        metavar="DIR",
        reads=True,
    ),
    _choice(
        None,
        "job.scale",
        ("none", "standard", "minmax"),
        "feature scaling, fitted on the run's data and saved with the model",
    ),
    Option(None, "job.k_min", int, 2, "elbow: the smallest k of the sweep", rule=_at_least(2)),
    Option(None, "job.k_max", int, 15, "elbow: the largest k of the sweep", rule=_at_least(2)),
    Option(
        None,
        "job.sample_size",
        int,
        10_000,
        "elbow and --report: rows of the seeded sample for scikit-learn's silhouette and the plots",
        rule=_at_least(2),
    ),
    _choice(
        None,
        "job.bad_rows",
        ("error", "drop"),
        "rows with null/NaN/inf/non-numeric features: fail, or drop and count them",
    ),
    Option(
        None,
        "output.path",
        str,
        "",
        "output directory of this run; may contain {run_date}",
        flag="--output",
        metavar="DIR",
    ),
    _choice(
        None,
        "output.mode",
        ("error", "overwrite"),
        "if the output exists: fail, or replace it (only an earlier run's output)",
    ),
    Option(None, "output.keep_features", bool, False, "also write the features to the assignments"),
    Option(
        None,
        "output.outlier_quantile",
        float,
        0.0,
        "fit, predict: add is_outlier to the assignments: the row's distance is above this "
        "quantile of its cluster's distances in the run (e.g. 0.99; 0: no flag; costs one "
        "more read of the input)",
        rule=((lambda v: math.isfinite(v) and 0 <= v < 1), "must be >= 0 and < 1"),
        fix="e.g. 0.99, or 0 for no flag",
        metavar="Q",
    ),
    Option(
        None,
        "output.plots_3d",
        bool,
        False,
        "elbow, --report: also draw the clusters in 3-D (three features, or three principal "
        "components when there are more)",
        flag="--3d",
    ),
    Option(
        None,
        "output.report",
        bool,
        False,
        "fit: also write report.html and plots/ (metrics of the fit, clusters of a sample)",
    ),
    # -- recommend: the text clustering of movies and the query -----------------------------
    Option(
        None,
        "text.keywords",
        str,
        "",
        "recommend (required): the words to find movies for, e.g. 'space alien invasion'",
        metavar="TEXT",
        commands=("recommend",),
    ),
    Option(
        None,
        "text.top",
        int,
        10,
        "recommend: how many movies to recommend, the most popular of the query's cluster",
        rule=_at_least(1),
        commands=("recommend",),
    ),
    Option(
        None,
        "text.vocab_size",
        int,
        3000,
        "recommend: the vocabulary, the most frequent terms kept (CountVectorizer vocabSize); "
        "each movie is a vector this long, dense in the engine today: a few thousand",
        rule=_at_least(2),
        commands=("recommend",),
    ),
    Option(
        None,
        "text.min_df",
        float,
        2.0,
        "recommend: a term of the vocabulary is in at least this many movies (>= 1), or this "
        "fraction of them (< 1) (CountVectorizer minDF)",
        rule=_above(0),
        commands=("recommend",),
    ),
    _choice(
        None,
        "text.features",
        ("count", "hashing"),
        "recommend: how terms become vector indices: 'count' (CountVectorizer: the "
        "--vocab-size most frequent terms, one index each) or 'hashing' (HashingTF: "
        "--num-features indices, no vocabulary to bound; a term dictionary of the movies, "
        "saved beside the pipeline, maps each cluster's top indices back to words, words "
        "sharing an index listed together)",
        commands=("recommend",),
    ),
    Option(
        None,
        "text.num_features",
        int,
        2**18,
        "recommend, --features hashing: the vectors' length (HashingTF numFeatures); fewer "
        "make more words share an index",
        rule=_at_least(2),
        commands=("recommend",),
    ),
    _choice(
        None,
        "text.duplicates",
        ("error", "first", "keep"),
        "recommend: movies of the same title: fail naming two of their rows, keep the first "
        "row of each title, or keep them all (remakes share a title)",
        commands=("recommend",),
    ),
)

BY_PARAM: dict[str, Option] = {o.param: o for o in OPTIONS if o.param}
BY_KEY: dict[str, Option] = {o.key: o for o in OPTIONS if o.key}

#: Where a subcommand declares a shared key differently: its own default, help or more flags
#: (fields of :class:`Option`). recommend clusters TF-IDF vectors of movie texts, where
#: spherical k-means is the rule and k = 2 says nothing; its input is a movies CSV (also
#: ``--movies``), and its ``--model`` a pipeline to reuse, not a model to score with.
BY_COMMAND: dict[str, dict[str, dict[str, Any]]] = {
    "recommend": {
        "input.path": {
            "help": "the movies CSV (TMDB-style: title, overview, keywords, genres, popularity, "
            "vote_average, with a header), a file, a glob or a directory of CSV files; "
            "recommend reads CSV whatever [input] format says",
            "aliases": ("--movies",),
        },
        "job.k": {"job_default": 20},
        "job.distance": {
            "job_default": "cosine",
            "help": "The distance measure: 'cosine' (spherical k-means, the rule for text) or "
            "'euclidean' (on recommend's unit-length TF-IDF vectors, it compares directions "
            "too).",
        },
        "job.model": {
            "help": "reuse the text pipeline (vocabulary, IDF, k-means) of an earlier recommend "
            "run's output directory instead of fitting one; may contain {run_date}",
        },
        "job.bad_rows": {
            "help": "movies with an empty title or overview, keywords or genres that are not a "
            "JSON list of {id, name} objects, or a non-numeric popularity or vote_average: "
            "fail naming the first, or drop and count them",
        },
    },
}


def option_for(key: str, command: str | None = None) -> Option:
    """The option of ``key`` as ``command`` declares it (:data:`BY_COMMAND`)."""
    changes = BY_COMMAND.get(command or "", {}).get(key)
    return dataclasses.replace(BY_KEY[key], **changes) if changes else BY_KEY[key]


def check(option: Option, value: Any, name: str | None = None) -> None:
    """Raise :class:`KMeansInputError` unless ``value`` obeys ``option``'s choices and rule.

    ``name`` is how the message names the option (the param, or the job's ``table.key``);
    the message names the value, the rule and, where there is one, the fix.
    """
    shown = name or option.param or option.key
    if option.choices and value not in option.choices:
        raise KMeansInputError(
            f"{shown}={value!r} is not supported; use one of {', '.join(option.choices)}."
        )
    if option.rule is not None and value is not None and not option.rule[0](value):
        fix = f"; {option.fix}" if option.fix else ""
        raise KMeansInputError(f"{shown}={value!r} {option.rule[1]}{fix}.")
