"""The movies table without Spark: a row's checks, the JSON name lists (json, never eval),
the text a movie is clustered on, top terms and genre counts."""

from __future__ import annotations

import numpy as np
import pytest

from kmeans_spark.movies import (
    BadMovieError,
    Movie,
    TermDictionary,
    check_movie,
    parse_names,
    parse_number,
    top_counts,
    top_terms,
    top_weights,
)

GOOD = {
    "title": "Avatar",
    "overview": "A marine on an alien moon.",
    "keywords": '[{"id": 1, "name": "alien"}, {"id": 2, "name": "space war"}]',
    "genres": '[{"id": 28, "name": "Action"}]',
    "popularity": "150.437577",
    "vote_average": "7.2",
}


def movie(**changes: str | None) -> Movie:
    return check_movie(**{**GOOD, **changes})  # type: ignore[arg-type]


def test_a_good_row_gives_its_text_genres_and_numbers() -> None:
    m = movie()
    assert m.text == "A marine on an alien moon. alien space war"
    assert m.genres == ["Action"]
    assert m.popularity == 150.437577 and m.vote_average == 7.2


@pytest.mark.parametrize("cell", [None, "", "   ", "[]"])
def test_empty_name_lists_are_empty(cell: str | None) -> None:
    assert parse_names(cell, "keywords") == []
    assert movie(keywords=cell).text == "A marine on an alien moon."


def test_names_keep_their_order_and_are_stripped() -> None:
    cell = '[{"id": 3, "name": " b "}, {"id": 1, "name": "a"}, {"id": 9, "name": ""}]'
    assert parse_names(cell, "genres") == ["b", "a"]


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        (
            '[{"id": 1, "name": "alien"}',
            'keywords \'[{"id": 1, "name": "alien"}\' is not valid JSON (Expecting \',\' '
            "delimiter: line 1 column 28 (char 27))",
        ),
        (  # a Python literal, as eval or ast.literal_eval would take it: not JSON
            "[{'id': 1, 'name': 'alien'}]",
            "keywords \"[{'id': 1, 'name': 'alien'}]\" is not valid JSON (Expecting property "
            "name enclosed in double quotes: line 1 column 3 (char 2))",
        ),
        (  # code is text to json: never run
            "__import__('os').system('touch /tmp/pwned')",
            "keywords \"__import__('os').system('touch /tmp/pwned')\" is not valid JSON "
            "(Expecting value: line 1 column 1 (char 0))",
        ),
        (
            '{"id": 1, "name": "alien"}',
            'keywords \'{"id": 1, "name": "alien"}\' is not a JSON list of {"id", "name"} '
            "objects (it is a JSON object)",
        ),
        (
            '[{"id": 1, "name": "alien"}, {"id": 2}]',
            'keywords \'[{"id": 1, "name": "alien"}, {"id": 2}]\' is not a JSON list of '
            '{"id", "name"} objects (item 2 has no string name)',
        ),
        (
            '["alien", "space"]',
            'keywords \'["alien", "space"]\' is not a JSON list of {"id", "name"} objects '
            "(item 1 is not an object)",
        ),
    ],
)
def test_bad_name_lists_say_what_is_wrong(cell: str, message: str) -> None:
    with pytest.raises(BadMovieError) as raised:
        movie(keywords=cell)
    assert str(raised.value) == message and raised.value.column == "keywords"


def test_long_cells_are_quoted_cut() -> None:
    cell = "[" + "x" * 200
    with pytest.raises(BadMovieError, match=r"^genres '\[x{56}\.\.\.' is not valid JSON"):
        parse_names(cell, "genres")


@pytest.mark.parametrize(
    ("changes", "column", "message"),
    [
        ({"title": None}, "title", "the title is empty"),
        ({"title": "  "}, "title", "the title is empty"),
        ({"overview": None}, "overview", "the overview is empty"),
        ({"overview": " \t"}, "overview", "the overview is empty"),
        ({"genres": "[1, 2]"}, "genres", None),
        ({"popularity": "popular"}, "popularity", "popularity is 'popular', not a number"),
        ({"popularity": None}, "popularity", "popularity is empty"),
        ({"vote_average": "nan"}, "vote_average", "vote_average is 'nan', not a number"),
        ({"vote_average": "inf"}, "vote_average", "vote_average is 'inf', not a number"),
    ],
)
def test_a_bad_row_names_its_first_fault(
    changes: dict[str, str | None], column: str, message: str | None
) -> None:
    with pytest.raises(BadMovieError) as raised:
        movie(**changes)
    assert raised.value.column == column
    if message is not None:
        assert str(raised.value) == message


def test_numbers_are_parsed_from_text() -> None:
    assert parse_number("7", "vote_average") == 7.0
    assert parse_number(" 1e2 ", "popularity") == 100.0


def test_top_terms_are_the_largest_weights_of_each_centre() -> None:
    vocabulary = ["alien", "love", "space", "wedding"]
    centers = np.array([[0.9, 0.0, 0.4, 0.1], [0.0, 0.5, 0.0, 0.5]])
    assert top_terms(centers, vocabulary, 2) == [
        [("alien", 0.9), ("space", 0.4)],
        [("love", 0.5), ("wedding", 0.5)],  # a tie keeps the vocabulary's order
    ]
    assert top_terms(centers, vocabulary, 10)[1] == [("love", 0.5), ("wedding", 0.5)]  # no 0s


def test_top_weights_of_long_centres_agree_with_a_full_sort() -> None:
    """The partition shortcut for 2^18 hashed features: same answer as a stable full sort,
    ties at the cut included."""
    rng = np.random.default_rng(4)
    centers = np.round(rng.random((3, 5000)), 2)  # many equal weights
    centers[1, :4990] = 0.0  # fewer positive weights than asked for
    for center, got in zip(centers, top_weights(centers, 20), strict=True):
        order = np.argsort(-center, kind="stable")[:20]
        assert got == [(int(i), float(center[i])) for i in order if center[i] > 0]
    assert len(top_weights(centers, 20)[1]) == 10


def test_a_term_dictionary_names_hashed_indices_with_their_words() -> None:
    terms = TermDictionary.of(
        8, [("blorp", 3, 2), ("alien", 3, 9), ("space", 5, 4), ("ship", 3, 2), ("love", 0, 7)]
    )
    assert terms.words(3) == ["alien", "blorp", "ship"]  # most movies first, then by name
    assert (terms[3], terms[5], terms[7]) == ("alien/blorp/ship", "space", "#7")
    assert (len(terms), terms.indices, terms.collisions) == (5, 3, 1)
    assert "alien" in terms and "qwxz" not in terms
    centers = np.array([[0.0, 0, 0, 0.9, 0, 0.4, 0, 0.2]])
    assert top_terms(centers, terms, 3) == [
        [("alien/blorp/ship", 0.9), ("space", 0.4), ("#7", 0.2)]
    ]
    again = TermDictionary.from_json(terms.to_json())
    assert again == terms and again.num_features == 8 and again.words(3) == terms.words(3)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[]",
        '{"terms": []}',
        '{"num_features": 4, "terms": [1]}',
        '{"num_features": 4, "terms": [["a"]]}',
    ],
)
def test_a_damaged_term_dictionary_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"^not a term dictionary"):
        TermDictionary.from_json(text)


def test_top_counts_are_largest_first_ties_by_name() -> None:
    counts = {"Drama": 3, "Action": 5, "Comedy": 3, "Western": 1}
    assert top_counts(counts, 3) == [("Action", 5), ("Comedy", 3), ("Drama", 3)]
