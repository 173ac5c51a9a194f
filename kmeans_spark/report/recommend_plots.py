"""The pictures of a ``recommend`` run: the recommended movies' popularity against their
vote average (the rest of their cluster behind them), and their popularity as bars.

Headless as :mod:`.plots`: each figure is a :class:`~matplotlib.figure.Figure` on its own
Agg canvas, no ``pyplot``, no display. The markers that carry meaning have a ``gid``
(``recommended``, ``cluster``) so tests can find them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from kmeans_spark.report.plots import ShortFormatter, new_figure

#: Titles longer than this are cut in the plots (a bar label or an annotation).
_TITLE_CHARS = 32
_RECOMMENDED = "#d62728"
_CLUSTER = "#9e9e9e"


@dataclass(frozen=True)
class RecommendedMovies:
    """What the plots draw: the recommendations, best first, and their cluster's other
    movies (``cluster_popularity``, ``cluster_votes``: a sample when the cluster is large)."""

    query: str
    cluster: int
    titles: Sequence[str]
    popularity: Sequence[float]
    vote_average: Sequence[float]
    cluster_popularity: Sequence[float] = ()
    cluster_votes: Sequence[float] = ()
    cluster_size: int = 0


def _short(title: str) -> str:
    return title if len(title) <= _TITLE_CHARS else title[: _TITLE_CHARS - 1] + "…"


def _heading(data: RecommendedMovies) -> str:
    return (
        f"Movies for {data.query!r}: the {len(data.titles)} most popular of cluster {data.cluster}"
    )


def popularity_vote_figure(data: RecommendedMovies) -> Figure:
    """Popularity (x, log scale: TMDB's is long-tailed) against vote average (y); each
    recommendation is marked by its rank, and the ranks are listed with their titles beside
    the plot (titles on the points would overlap: popular movies crowd one corner). The
    cluster's other movies are grey."""
    fig = new_figure(11, 6)
    ax, side = fig.subplots(1, 2, width_ratios=(3, 1.25))
    if len(data.cluster_popularity):
        ax.scatter(
            np.maximum(np.asarray(data.cluster_popularity, dtype=float), 1e-3),
            data.cluster_votes,
            s=12,
            color=_CLUSTER,
            alpha=0.45,
            label=f"cluster {data.cluster} ({data.cluster_size:,} movies)",
            gid="cluster",
        )
    x = np.maximum(np.asarray(data.popularity, dtype=float), 1e-3)
    y = np.asarray(data.vote_average, dtype=float)
    ax.scatter(
        x,
        y,
        s=60,
        color=_RECOMMENDED,
        edgecolor="black",
        linewidth=0.6,
        zorder=3,
        label="recommended",
        gid="recommended",
    )
    for rank, (xi, yi) in enumerate(zip(x, y, strict=True), 1):
        # alternate above and below: movies of one popularity and vote share a point
        offset = (4, 4) if rank % 2 else (4, -11)
        ax.annotate(
            str(rank),
            (xi, yi),
            xytext=offset,
            textcoords="offset points",
            fontsize=8,
            fontweight="bold",
            zorder=4,
        )
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ShortFormatter())
    ax.set_xlabel("popularity (TMDB, log scale)")
    ax.set_ylabel("vote average")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=9)
    side.axis("off")
    listed = [
        f"{rank:>2}. {_short(title)}\n     {p:,.1f}, vote {v:.1f}"
        for rank, (title, p, v) in enumerate(
            zip(data.titles, data.popularity, data.vote_average, strict=True), 1
        )
    ]
    side.text(
        0.0,
        1.0,
        "\n".join(listed),
        va="top",
        ha="left",
        fontsize=8,
        family="monospace",
        transform=side.transAxes,
        gid="titles",
    )
    fig.suptitle(_heading(data), fontsize=12)
    return fig


def popularity_bars_figure(data: RecommendedMovies) -> Figure:
    """The recommendations' popularity as horizontal bars, the first at the top, each with
    its value and vote average."""
    n = len(data.titles)
    fig = new_figure(9, max(2.5, 0.45 * n + 1.5))
    ax = fig.add_subplot()
    ranks = np.arange(n)
    popularity = np.asarray(data.popularity, dtype=float)
    bars = ax.barh(
        ranks, popularity, color=_RECOMMENDED, edgecolor="black", linewidth=0.5, gid="recommended"
    )
    labels = [
        f"{p:,.1f}  (vote {v:.1f})" for p, v in zip(popularity, data.vote_average, strict=True)
    ]
    ax.bar_label(bars, labels=labels, padding=3, fontsize=8)
    ax.set_yticks(ranks, [f"{i + 1}. {_short(t)}" for i, t in enumerate(data.titles)], fontsize=9)
    ax.invert_yaxis()  # the first recommendation on top
    ax.set_xlim(0, (popularity.max() if n else 1) * 1.3)
    ax.xaxis.set_major_formatter(ShortFormatter())
    ax.set_xlabel("popularity (TMDB)")
    ax.grid(axis="x", alpha=0.3)
    fig.suptitle(_heading(data), fontsize=12)
    return fig


def recommendation_figures(data: RecommendedMovies) -> dict[str, Figure]:
    """The run's figures by file name (``plots/NAME.png``)."""
    return {
        "recommendations": popularity_vote_figure(data),
        "popularity": popularity_bars_figure(data),
    }
