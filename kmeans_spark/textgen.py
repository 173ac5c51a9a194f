"""TMDB-style movies with known topics: the test data of ``recommend`` (no Spark).

Each movie belongs to one of a few topics (space, romance, crime, western). Its overview is
a sentence of the topic's own words mixed with words every topic uses and stop words, its
keywords are some of the topic's keyword phrases, its genres the topic's. So a clustering
of the texts into as many clusters as topics should find the topics, and a query of a
topic's words should land in that topic's cluster: what the tests assert. The real TMDB
data is not shipped; this stands in for it, in its format (JSON lists of ``{"id", "name"}``
objects in CSV cells, doubled quotes).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kmeans_spark.movies import COLUMNS


@dataclass(frozen=True)
class Topic:
    """One topic: the words of its overviews, its keyword phrases and its genres."""

    name: str
    words: tuple[str, ...]
    keywords: tuple[str, ...]
    genres: tuple[str, ...]


TOPICS = (
    Topic(
        "space",
        ("alien", "planet", "galaxy", "starship", "astronaut", "orbit", "spaceship", "mars"),
        ("alien invasion", "space travel", "alien planet", "astronaut", "outer space"),
        ("Science Fiction", "Adventure", "Action"),
    ),
    Topic(
        "romance",
        ("love", "wedding", "bride", "romance", "heart", "marriage", "kiss", "groom"),
        ("wedding", "romantic comedy", "love at first sight", "bride", "marriage proposal"),
        ("Romance", "Comedy", "Drama"),
    ),
    Topic(
        "crime",
        ("detective", "murder", "police", "heist", "gang", "robbery", "killer", "prison"),
        ("detective", "bank robbery", "serial killer", "police", "mafia"),
        ("Crime", "Thriller", "Mystery"),
    ),
    Topic(
        "western",
        ("cowboy", "sheriff", "ranch", "outlaw", "frontier", "saloon", "horse", "gunslinger"),
        ("cowboy", "wild west", "sheriff", "outlaw", "gunfight"),
        ("Western", "Action", "Drama"),
    ),
)

#: Words of every topic's overviews: they carry no topic, and IDF should say so.
COMMON_WORDS = (
    "young", "life", "world", "family", "story", "man", "woman", "find", "must", "years",
    "friends", "journey", "city", "day", "home", "secret", "past", "discover", "time", "new",
)  # fmt: skip
#: Stop words between them, as in any English overview (the pipeline removes them).
STOP_WORDS = ("the", "a", "of", "and", "to", "in", "his", "her", "with", "who", "when")
_TITLE_WORDS = ("Last", "Lost", "Dark", "Secret", "Long", "First", "Broken", "Golden")


@dataclass(frozen=True)
class Movies:
    """Generated movies: one dict per row (the columns of :data:`COLUMNS` and ``id``, as
    text, as a CSV holds them) and each row's topic (the truth the tests compare to)."""

    rows: list[dict[str, str]]
    topics: list[str]

    def titles_of(self, topic: str) -> set[str]:
        return {r["title"] for r, t in zip(self.rows, self.topics, strict=True) if t == topic}


def _names_json(names: list[str], ids: dict[str, int]) -> str:
    return json.dumps(
        [{"id": ids.setdefault(name, 1000 + len(ids)), "name": name} for name in names]
    )


def make_movies(n: int, *, seed: int = 0, topics: tuple[Topic, ...] = TOPICS) -> Movies:
    """``n`` movies, topics taken in turn (sizes as equal as ``n`` allows), seeded.

    An overview has 5 of its topic's words, 6 common words and 5 stop words, shuffled; 2-4
    keywords of the topic; the topic's first genre and maybe another of its genres.
    Popularity is log-normal (a few very popular movies, as in TMDB), the vote average
    uniform in [4, 8.5]. Titles are unique.
    """
    rng = np.random.default_rng(seed)
    ids: dict[str, int] = {}
    rows, labels = [], []
    for i in range(n):
        topic = topics[i % len(topics)]
        words = [
            *rng.choice(topic.words, 5, replace=False),
            *rng.choice(COMMON_WORDS, 6, replace=False),
            *rng.choice(STOP_WORDS, 5),
        ]
        rng.shuffle(words)
        overview = " ".join(str(w) for w in words).capitalize() + "."
        keywords = [str(k) for k in rng.choice(topic.keywords, rng.integers(2, 5), replace=False)]
        genres = [topic.genres[0], *([str(rng.choice(topic.genres[1:]))] * int(rng.random() < 0.5))]
        title_word = _TITLE_WORDS[int(rng.integers(len(_TITLE_WORDS)))]
        rows.append(
            {
                "id": str(i + 1),
                "title": f"The {title_word} {topic.words[i % len(topic.words)].title()} {i + 1}",
                "overview": overview,
                "keywords": _names_json(keywords, ids),
                "genres": _names_json(genres, ids),
                "popularity": f"{rng.lognormal(2.0, 1.0):.6f}",
                "vote_average": f"{rng.uniform(4.0, 8.5):.1f}",
            }
        )
        labels.append(topic.name)
    return Movies(rows, labels)


def write_movies_csv(path: str | Path, movies: Movies | list[dict[str, str]]) -> Path:
    """Write the rows as a CSV with a header, quoted as TMDB's file is (JSON's quotes
    doubled inside quoted cells); columns ``id`` and :data:`COLUMNS`, or the rows' own."""
    rows = movies.rows if isinstance(movies, Movies) else movies
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    names = list(rows[0]) if rows else ["id", *COLUMNS]
    with target.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=names)
        writer.writeheader()
        writer.writerows(rows)
    return target
