"""TMDB-style movies without Spark: the columns ``recommend`` reads, one row's checks, the
text a movie is clustered on, and what a person reads of the clustering (each centre's top
terms, each cluster's most common genres).

A TMDB movies CSV keeps lists as JSON text, ``[{"id": 28, "name": "Action"}, ...]``. They
are parsed with :mod:`json`, never ``eval``: the file is data from elsewhere, and ``eval``
of a cell would run it. The job applies :func:`check_movie` to every row in Spark
(:func:`kmeans_spark.text.checked_movies`); here it is plain Python, tested without a JVM.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

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


def top_terms(
    centers: np.ndarray, vocabulary: Sequence[str], n: int
) -> list[list[tuple[str, float]]]:
    """The ``n`` terms of largest weight in each centre, largest first.

    Parameters
    ----------
    centers : ndarray of shape (k, n_terms)
        TF-IDF centres, one weight per term of ``vocabulary``.
    vocabulary : sequence of str of length n_terms
    n : int

    Terms of weight 0 (in no movie of the cluster) are left out; equal weights keep the
    vocabulary's order (the more frequent term first), so the answer is the same every run.
    """
    found = []
    for center in np.asarray(centers, dtype=np.float64):
        order = np.argsort(-center, kind="stable")[:n]
        found.append([(vocabulary[i], float(center[i])) for i in order if center[i] > 0])
    return found


def top_counts(counts: dict[str, int], n: int) -> list[tuple[str, int]]:
    """The ``n`` largest counts, largest first, ties by name (each cluster's genres)."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:n]
