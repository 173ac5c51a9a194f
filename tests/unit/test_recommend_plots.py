"""recommend's plots: headless figures with the recommendations marked and listed."""

from __future__ import annotations

from typing import Any

from kmeans_spark.report.plots import png_bytes
from kmeans_spark.report.recommend_plots import (
    RecommendedMovies,
    popularity_bars_figure,
    popularity_vote_figure,
    recommendation_figures,
)

DATA = RecommendedMovies(
    query="space alien invasion",
    cluster=3,
    titles=["Avatar", "A title far too long to be shown whole in a plot", "Pixels"],
    popularity=[150.4, 99.7, 140.8],
    vote_average=[7.2, 6.1, 5.6],
    cluster_popularity=[1.0, 12.0, 0.0],
    cluster_votes=[5.0, 6.5, 7.0],
    cluster_size=101,
)


def by_gid(fig: Any, gid: str) -> list[Any]:
    return [a for a in fig.findobj() if getattr(a, "get_gid", lambda: None)() == gid]


def test_popularity_against_votes_marks_and_lists_the_recommendations() -> None:
    fig = popularity_vote_figure(DATA)
    ax = fig.axes[0]
    (recommended,) = by_gid(fig, "recommended")
    assert recommended.get_offsets().tolist() == [[150.4, 7.2], [99.7, 6.1], [140.8, 5.6]]
    (cluster,) = by_gid(fig, "cluster")
    assert cluster.get_offsets()[:, 0].min() > 0  # a popularity of 0 is drawn on a log axis
    assert ax.get_xscale() == "log" and ax.get_ylabel() == "vote average"
    assert [t.get_text() for t in ax.texts] == ["1", "2", "3"]
    (listed,) = by_gid(fig, "titles")
    assert " 2. A title far too long to be show…\n     99.7, vote 6.1" in listed.get_text()
    assert fig._suptitle.get_text() == (
        "Movies for 'space alien invasion': the 3 most popular of cluster 3"
    )


def test_popularity_bars_put_the_first_on_top() -> None:
    fig = popularity_bars_figure(DATA)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "1. Avatar" and labels[2] == "3. Pixels"
    assert ax.yaxis_inverted()
    assert [b.get_width() for b in by_gid(fig, "recommended")] == [150.4, 99.7, 140.8]


def test_the_figures_render_as_pngs() -> None:
    figures = recommendation_figures(DATA)
    assert list(figures) == ["recommendations", "popularity"]
    for fig in figures.values():
        assert png_bytes(fig).startswith(b"\x89PNG")
    empty = RecommendedMovies("q", 0, [], [], [])
    assert png_bytes(popularity_bars_figure(empty)).startswith(b"\x89PNG")
