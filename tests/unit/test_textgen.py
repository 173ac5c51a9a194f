"""The generator of TMDB-style movies with known topics (the recommend tests' data)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from kmeans_spark.movies import COLUMNS, check_movie, parse_names
from kmeans_spark.textgen import COMMON_WORDS, TOPICS, make_movies, write_movies_csv


def test_movies_are_seeded_and_take_the_topics_in_turn() -> None:
    a, b = make_movies(40, seed=3), make_movies(40, seed=3)
    assert a == b and make_movies(40, seed=4) != a
    assert a.topics[:5] == ["space", "romance", "crime", "western", "space"]
    assert [a.topics.count(t.name) for t in TOPICS] == [10, 10, 10, 10]
    assert len({r["title"] for r in a.rows}) == 40  # titles are unique
    assert a.titles_of("space") == {r["title"] for r in a.rows[::4]}


def test_every_row_is_a_good_movie_of_its_topic_only() -> None:
    """Each movie's words are its topic's, common words and stop words: no other topic's
    word, so the topics are separable and a topic's words find its movies."""
    movies = make_movies(80, seed=1)
    by_name = {t.name: t for t in TOPICS}
    for row, name in zip(movies.rows, movies.topics, strict=True):
        assert set(row) == {"id", *COLUMNS}
        movie = check_movie(*(row[c] for c in COLUMNS))
        topic = by_name[name]
        words = set(movie.text.lower().rstrip(".").replace(".", " ").split())
        assert len(words & set(topic.words)) >= 5
        assert len(words & set(COMMON_WORDS)) >= 3
        for other in TOPICS:
            if other is not topic:
                assert not words & set(other.words), (row, other.name)
        assert set(parse_names(row["keywords"], "keywords")) <= set(topic.keywords)
        genres = parse_names(row["genres"], "genres")
        assert genres[0] == topic.genres[0] and set(genres) <= set(topic.genres)
        assert float(row["popularity"]) > 0 and 4.0 <= float(row["vote_average"]) <= 8.5


def test_the_csv_is_quoted_as_tmdbs(tmp_path: Path) -> None:
    movies = make_movies(12, seed=2)
    path = write_movies_csv(tmp_path / "d" / "movies.csv", movies)
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == "id,title,overview,keywords,genres,popularity,vote_average"
    assert '"[{""id"": ' in text  # JSON's quotes doubled inside a quoted cell
    with path.open(newline="", encoding="utf-8") as fh:
        assert list(csv.DictReader(fh)) == movies.rows
    assert json.loads(movies.rows[0]["genres"])[0]["name"] == "Science Fiction"
