"""TMDB-style movies without Spark: the columns ``recommend`` reads, one row's checks, the
text a movie is clustered on, and what a person reads of the clustering (each centre's top
terms, each cluster's most common genres; with hashed features, the term dictionary that
maps an index back to its words).

A TMDB movies CSV keeps lists as JSON text, ``[{"id": 28, "name": "Action"}, ...]``. They
are parsed with :mod:`json`, never ``eval``: the file is data from elsewhere, and ``eval``
of a cell would run it. The job applies :func:`check_movie` to every row in Spark
(:func:`kmeans_spark.text.checked_movies`); here it is plain Python, tested without a JVM.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

#: The columns a movies table must have (others are ignored).
COLUMNS = ("title", "overview", "keywords", "genres", "popularity", "vote_average")
#: The columns whose cells are JSON lists of ``{"id", "name"}`` objects.
NAME_LISTS = ("keywords", "genres")
#: How much of a bad cell a message quotes.
_SHOWN = 60


class BadMovieError(ValueError):
    """What is wrong with one row: the column at fault and a sentence that quotes it."""

    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column


@dataclass(frozen=True)
class Movie:
    """One row, checked: the text it is clustered on and what a recommendation shows."""

    text: str
    genres: list[str]
    popularity: float
    vote_average: float


def shown(value: str) -> str:
    """A cell as a message quotes it: ``repr``, cut to a readable length."""
    return repr(value if len(value) <= _SHOWN else value[: _SHOWN - 3] + "...")


def parse_names(cell: str | None, column: str) -> list[str]:
    """The names of a JSON list of ``{"id", "name"}`` objects, in order.

    An empty cell (null or blank) is an empty list: a movie without keywords still has an
    overview. Anything else that is not such a list raises :class:`BadMovieError` saying
    what is wrong (the JSON error's position, or the item without a string ``name``).
    """
    if cell is None or not cell.strip():
        return []
    try:
        value = json.loads(cell)
    except json.JSONDecodeError as exc:
        raise BadMovieError(column, f"{column} {shown(cell)} is not valid JSON ({exc})") from None
    rule = f'{column} {shown(cell)} is not a JSON list of {{"id", "name"}} objects'
    if not isinstance(value, list):
        raise BadMovieError(column, f"{rule} (it is a JSON {_json_type(value)})")
    names = []
    for i, item in enumerate(value, 1):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str):
            what = "has no string name" if isinstance(item, dict) else "is not an object"
            raise BadMovieError(column, f"{rule} (item {i} {what})")
        if name.strip():
            names.append(name.strip())
    return names


def _json_type(value: Any) -> str:
    kinds = {dict: "object", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


def parse_number(cell: str | None, column: str) -> float:
    """A finite number, from the cell's text (Parquet's numbers arrive as text too)."""
    try:
        value = float(cell) if cell is not None else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        text = "empty" if cell is None or not cell.strip() else f"{shown(cell)}, not a number"
        raise BadMovieError(column, f"{column} is {text}")
    return value


def movie_text(overview: str, keywords: Iterable[str]) -> str:
    """What a movie is clustered on: its overview, then its keywords."""
    return " ".join([overview.strip(), *keywords])


def check_movie(
    title: str | None,
    overview: str | None,
    keywords: str | None,
    genres: str | None,
    popularity: str | None,
    vote_average: str | None,
) -> Movie:
    """One row of the movies table, checked; :class:`BadMovieError` names the first fault.

    A title and an overview are required (a recommendation without a title names nothing;
    an empty overview is a row that lost its text); keywords and genres may be empty lists.
    """
    if title is None or not title.strip():
        raise BadMovieError("title", "the title is empty")
    if overview is None or not overview.strip():
        raise BadMovieError("overview", "the overview is empty")
    names = parse_names(keywords, "keywords")
    return Movie(
        text=movie_text(overview, names),
        genres=parse_names(genres, "genres"),
        popularity=parse_number(popularity, "popularity"),
        vote_average=parse_number(vote_average, "vote_average"),
    )


def top_weights(centers: np.ndarray, n: int) -> list[list[tuple[int, float]]]:
    """The indices and weights of the ``n`` largest positive weights of each centre, largest
    first, equal weights by index; linear in the centre's length (2^18 hashed features)."""
    found = []
    for center in np.asarray(centers, dtype=np.float64):
        if center.size > n:  # every index at least as large as the n-th largest
            nth = np.partition(center, center.size - n)[center.size - n]
            candidates = np.flatnonzero(center >= nth)
        else:
            candidates = np.arange(center.size)
        order = candidates[np.lexsort((candidates, -center[candidates]))][:n]
        found.append([(int(i), float(center[i])) for i in order if center[i] > 0])
    return found


class IndexWords(Protocol):
    """What names a vector's index: CountVectorizer's vocabulary (a list of words) or a
    :class:`TermDictionary`."""

    def __getitem__(self, index: int, /) -> str: ...


def top_terms(centers: np.ndarray, vocabulary: IndexWords, n: int) -> list[list[tuple[str, float]]]:
    """The ``n`` terms of largest weight in each centre, largest first.

    Parameters
    ----------
    centers : ndarray of shape (k, n_terms)
        TF-IDF centres, one weight per index.
    vocabulary : sequence of str of length n_terms, or TermDictionary
        The word of each index (CountVectorizer's vocabulary), or the words sharing it
        (:class:`TermDictionary`, for hashed features).
    n : int

    Terms of weight 0 (in no movie of the cluster) are left out; equal weights keep the
    vocabulary's order (the more frequent term first), so the answer is the same every run.
    """
    return [[(vocabulary[i], w) for i, w in top] for top in top_weights(centers, n)]


@dataclass(frozen=True)
class TermDictionary:
    """The words behind hashed features (``HashingTF``): every term of the corpus in at least
    ``min_df`` movies, with the index it hashes to and the number of movies that have it.

    Hashing has no vocabulary to fit or to bound, but its indices are not words: this maps
    them back (a cluster's top terms), and tells which of a query's words the corpus has.
    Several words may share an index (a collision); they are listed together, the most
    frequent first, as ``"alien/blorp"``. An index without a word here (only rarer words
    hash to it) reads as ``#index``.
    """

    num_features: int
    #: (term, index, movies), by index, then most movies first, then term
    entries: tuple[tuple[str, int, int], ...]
    _by_index: dict[int, list[str]] = field(init=False, repr=False, compare=False)
    _terms: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_index: dict[int, list[str]] = {}
        for term, index, _ in self.entries:
            by_index.setdefault(index, []).append(term)
        object.__setattr__(self, "_by_index", by_index)
        object.__setattr__(self, "_terms", frozenset(t for t, _, _ in self.entries))

    @classmethod
    def of(cls, num_features: int, rows: Iterable[tuple[str, int, int]]) -> TermDictionary:
        """From (term, index, movies) rows in any order."""
        ordered = sorted(rows, key=lambda r: (int(r[1]), -int(r[2]), str(r[0])))
        return cls(num_features, tuple((str(t), int(i), int(m)) for t, i, m in ordered))

    def words(self, index: int) -> list[str]:
        """The words that hash to ``index``, most frequent first (none: an empty list)."""
        return list(self._by_index.get(index, []))

    def __getitem__(self, index: int) -> str:
        """How a person reads ``index``: its words, most frequent first, ``/``-joined."""
        return "/".join(self._by_index.get(index, [])) or f"#{index}"

    def __len__(self) -> int:
        """The number of terms (as a vocabulary's length)."""
        return len(self.entries)

    def __contains__(self, term: object) -> bool:
        return term in self._terms

    @property
    def indices(self) -> int:
        """How many indices have a word."""
        return len(self._by_index)

    @property
    def collisions(self) -> int:
        """How many indices more than one word shares."""
        return sum(1 for words in self._by_index.values() if len(words) > 1)

    def to_json(self) -> str:
        return json.dumps(
            {
                "num_features": self.num_features,
                "columns": ["term", "index", "movies"],
                "terms": [list(e) for e in self.entries],
            }
        )

    @classmethod
    def from_json(cls, text: str) -> TermDictionary:
        """What :meth:`to_json` wrote; ValueError saying what is wrong otherwise."""
        try:
            data = json.loads(text)
            return cls.of(int(data["num_features"]), (tuple(e) for e in data["terms"]))
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ValueError(f"not a term dictionary ({type(exc).__name__}: {exc})") from None


def top_counts(counts: dict[str, int], n: int) -> list[tuple[str, int]]:
    """The ``n`` largest counts, largest first, ties by name (each cluster's genres)."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:n]
