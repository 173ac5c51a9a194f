"""The report's pictures: elbow, clusters (2-D, PCA, 3-D), cluster sizes, silhouette.

Headless by construction: every figure is a :class:`matplotlib.figure.Figure` on its own Agg
canvas, made without ``pyplot``. Nothing here opens a window or needs a display, touches
matplotlib's global backend (a notebook that imports this keeps its own), or leaves figures
registered anywhere; a figure is freed when it goes out of scope.

Each ``*_figure`` function builds and returns a Figure (tests inspect its artists; the
markers that carry meaning have a ``gid``: ``knee``, ``best_calinski_harabasz``,
``best_silhouette``, ``centers``, ``mean_silhouette``); :func:`write_png` and
:func:`png_bytes` render one. The inputs are a sample already (numpy arrays on the driver;
the sample of a sparse fit is a ``scipy.sparse`` CSR array, projected without densifying);
at most ``max_points`` of them are drawn, a seeded random subset, and the plot says so.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import scipy.sparse as sp
from matplotlib import colormaps, patheffects, ticker
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from kmeans_spark.errors import KMeansInputError
from kmeans_spark.report.data import MEASURE_LABELS, KRow, ReportData, distance_measure_of
from kmeans_spark.selection import KChoice, choose_k

if TYPE_CHECKING:
    from mpl_toolkits.mplot3d import Axes3D

#: Points drawn at most in a scatter or silhouette plot: beyond this a plot only gets slower
#: and darker, not more informative.
MAX_POINTS = 20_000
#: Resolution of the PNGs (a 8 x 6 inch figure is 880 x 660 pixels).
DPI = 110
#: Cluster numbers are written on the bars up to this many clusters (beyond, they overlap).
_MAX_BAR_LABELS = 40

_KNEE_COLOR = "#d62728"
_CH_COLOR = "#1f77b4"
_SIL_COLORS = ("#ff7f0e", "#2ca02c")


def new_figure(width: float, height: float) -> Figure:
    """An empty figure on an Agg canvas (constrained layout: labels never overlap)."""
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig: Figure) -> bytes:
    """The figure rendered as a PNG."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def write_png(fig: Figure, path: str | Path) -> Path:
    """Render the figure to a PNG file at ``path`` (parent directories must exist)."""
    target = Path(path)
    target.write_bytes(png_bytes(fig))
    return target


def cluster_colors(k: int) -> np.ndarray:
    """One RGBA colour per cluster, the same in every plot: tab10, tab20, then a ramp."""
    if k <= 10:
        return np.asarray(colormaps["tab10"](np.arange(k)))
    if k <= 20:
        return np.asarray(colormaps["tab20"](np.arange(k)))
    return np.asarray(colormaps["turbo"](np.linspace(0.05, 0.95, k)))


class ShortFormatter(ticker.Formatter):
    """Tick labels a person reads, one unit per axis: ``500``, ``2,500``; ``4k`` .. ``11k``;
    ``0.5M`` .. ``2M``; ``0.25``. The suffix is chosen from the largest tick."""

    def __init__(self) -> None:
        self._scale, self._suffix = 1.0, ""

    def set_locs(self, locs: list[float]) -> None:
        super().set_locs(locs)
        top = max((abs(float(v)) for v in locs), default=0.0)
        self._scale, self._suffix = 1.0, ""
        for threshold, scale, suffix in (
            (1e12, 1e12, "T"),
            (1e9, 1e9, "G"),
            (1e6, 1e6, "M"),
            (1e4, 1e3, "k"),
        ):
            if top >= threshold:
                self._scale, self._suffix = scale, suffix
                break

    def __call__(self, x: float, pos: int | None = None) -> str:
        if x == 0:
            return "0"
        if self._suffix:
            return f"{x / self._scale:.3g}{self._suffix}"
        if abs(x) >= 1 and float(x).is_integer():
            return f"{x:,.0f}"
        return f"{x:.3g}"


# -- elbow -----------------------------------------------------------------------------------


def elbow_figure(rows: Sequence[KRow], choice: KChoice | None = None) -> Figure:
    """SSE against k with the knee marked; Calinski-Harabasz and silhouette in a second panel.

    ``choice`` defaults to :func:`~kmeans_spark.selection.choose_k` on the rows (with the
    all-rows silhouette where the rows have it, else the sample's); the best silhouette is
    starred on that same curve.
    """
    if not rows:
        raise KMeansInputError("the elbow plot needs at least one k; rows is empty.")
    rows = sorted(rows, key=lambda row: row.k)
    ks = [row.k for row in rows]
    sse = np.array([row.sse for row in rows], dtype=float)
    ch = _column(rows, "calinski_harabasz")
    sil_all = _column(rows, "silhouette")
    sil_sample = _column(rows, "silhouette_sample")
    if choice is None:
        chosen_sil = sil_all if sil_all is not None else sil_sample
        choice = choose_k(ks, sse, ch, chosen_sil)

    has_scores = ch is not None or sil_all is not None or sil_sample is not None
    fig = new_figure(8, 7 if has_scores else 4.5)
    axes = fig.subplots(2 if has_scores else 1, 1, sharex=True, squeeze=False)[:, 0]
    top = axes[0]
    measure = distance_measure_of(rows)
    sil_name, sample_name, sse_name = MEASURE_LABELS.get(measure, MEASURE_LABELS[None])
    cost = "cosine cost" if measure == "cosine" else "SSE"  # a cosine fit's sum (1 - cos)
    top.plot(ks, sse, "o-", color="#333333", markersize=4, label=cost)
    if choice.knee is not None:
        knee_sse = sse[ks.index(choice.knee)]
        top.axvline(choice.knee, color=_KNEE_COLOR, linestyle=":", linewidth=1.2)
        top.plot(
            [choice.knee],
            [knee_sse],
            "o",
            color=_KNEE_COLOR,
            markersize=11,
            gid="knee",
            markerfacecolor="none",
            markeredgewidth=2,
            label=f"knee (Kneedle): k = {choice.knee}",
        )
    top.set_ylabel(sse_name)
    top.set_title(
        "Elbow: within-cluster cosine cost"
        if measure == "cosine"
        else "Elbow: within-cluster sum of squares"
    )
    top.yaxis.set_major_formatter(ShortFormatter())
    top.grid(alpha=0.3)
    top.legend(loc="upper right", fontsize=9)

    if has_scores:
        _scores_panel(axes[1], ks, ch, sil_all, sil_sample, choice, (sil_name, sample_name))
    bottom = axes[-1]
    bottom.set_xlabel("k (number of clusters)")
    bottom.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    fig.suptitle(f"Choosing k over k = {ks[0]}..{ks[-1]} — verdict: {choice.verdict}", fontsize=13)
    return fig


def _scores_panel(
    ax: Axes,
    ks: list[int],
    ch: np.ndarray | None,
    sil_all: np.ndarray | None,
    sil_sample: np.ndarray | None,
    choice: KChoice | None,
    measure_names: tuple[str, str],
) -> None:
    """The scores panel; ``measure_names`` say what each silhouette is of (Spark's: the
    fit's distance measure; the sample's: Euclidean, on unit rows for cosine)."""
    handles = []
    if ch is not None:
        (line,) = ax.plot(
            ks, ch, "s-", color=_CH_COLOR, markersize=4, label="Calinski-Harabasz (left axis)"
        )
        handles.append(line)
        best = choice.best_calinski_harabasz if choice is not None else None
        if best is not None:
            (mark,) = ax.plot(
                [best],
                [ch[ks.index(best)]],
                "*",
                color=_CH_COLOR,
                markersize=22,  # larger: the silhouette's star may sit on it
                markeredgecolor="black",
                gid="best_calinski_harabasz",
                label=f"best Calinski-Harabasz: k = {best}",
            )
            handles.append(mark)
        ax.set_ylabel("Calinski-Harabasz (higher is better)", color=_CH_COLOR)
        ax.yaxis.set_major_formatter(ShortFormatter())
        ax.grid(alpha=0.3)
    sil_ax = ax.twinx() if ch is not None else ax
    sil_curves = [
        (values, label, color)
        for values, label, color in (
            (sil_all, f"silhouette on all rows, {measure_names[0]}", _SIL_COLORS[0]),
            (sil_sample, f"silhouette on a sample, {measure_names[1]}", _SIL_COLORS[1]),
        )
        if values is not None
    ]
    best_sil = choice.best_silhouette if choice is not None else None
    for index, (values, label, color) in enumerate(sil_curves):
        suffix = " (right axis)" if ch is not None else ""
        (line,) = sil_ax.plot(ks, values, "o-", color=color, markersize=4, label=label + suffix)
        handles.append(line)
        if best_sil is not None and index == 0:  # the curve choose_k was given
            (mark,) = sil_ax.plot(
                [best_sil],
                [values[ks.index(best_sil)]],
                "*",
                color=color,
                markersize=15,
                markeredgecolor="black",
                gid="best_silhouette",
                label=f"best silhouette: k = {best_sil}",
            )
            handles.append(mark)
    if sil_curves:
        sil_ax.set_ylabel("silhouette (higher is better)", color=sil_curves[0][2])
    if ch is None:
        ax.grid(alpha=0.3)
    ax.set_title("Scores of each k")
    # below the panel: inside it the legend would hide a curve whatever its corner
    ax.figure.legend(
        handles=handles, loc="outside lower center", ncols=2, fontsize=9, markerscale=0.7
    )


def _column(rows: Sequence[KRow], name: str) -> np.ndarray | None:
    """One score per row as floats (NaN where missing); ``None`` if no row has it."""
    values = [getattr(row, name) for row in rows]
    if all(value is None for value in values):
        return None
    return np.array([np.nan if value is None else value for value in values], dtype=float)


# -- clusters --------------------------------------------------------------------------------


def clusters_figure(
    x: Any,
    labels: np.ndarray,
    centers: np.ndarray,
    *,
    feature_names: Sequence[str] | None = None,
    total_rows: int | None = None,
    three_d: bool = False,
    max_points: int = MAX_POINTS,
    seed: int = 0,
) -> Figure:
    """The sample coloured by cluster, centres as big X: the features themselves when d <= 2
    (or d = 3 in 3-D), else a PCA projection of the sample (2 or 3 components).

    Parameters
    ----------
    x : ndarray or scipy.sparse CSR array of shape (m, d)
        The sample. ``labels`` (shape (m,), in ``[0, k)``) are its clusters. A CSR sample
        (a sparse fit's, e.g. ``2**18`` hashed features) is projected by a PCA that centres
        it implicitly (:func:`_pca_sparse`), never densified.
    centers : ndarray of shape (k, d)
        In the units of ``x``; projected like it.
    total_rows : int, optional
        The rows the sample was drawn from (default m), for the "sample of ..." line.
    three_d : bool, default False
        A 3-D view (needs d >= 3).
    max_points : int, default MAX_POINTS
        At most this many points are drawn (a seeded random subset).
    """
    x = sp.csr_array(x, dtype=float) if sp.issparse(x) else np.asarray(x, dtype=float)
    labels = np.asarray(labels)
    centers = np.asarray(centers, dtype=float)
    m, d = x.shape
    if sp.issparse(x) and d <= 3:
        x = x.toarray()  # the features themselves are drawn: m x 3 at most
    k = centers.shape[0]
    if three_d and d < 3:
        raise KMeansInputError(f"a 3-D view needs at least 3 features, the data have {d}.")
    names = list(feature_names) if feature_names is not None else [f"x{i}" for i in range(d)]
    drawn = _subset(m, max_points, seed)
    points, point_labels = x[drawn], labels[drawn]

    dims = 3 if three_d else min(d, 2)
    if d > dims:
        project = _pca_sparse if sp.issparse(points) else _pca
        coords, centre_coords, axis_names, what = project(points, centers, dims)
    else:
        coords, centre_coords, axis_names, what = points, centers, names[:dims], "features"
    colors = cluster_colors(k)

    size = 14.0 if len(drawn) <= 2_000 else 7.0 if len(drawn) <= 10_000 else 3.0
    if dims == 1:  # one feature: spread each cluster on its own line
        jitter = np.random.default_rng(seed).uniform(-0.3, 0.3, len(drawn))
        coords = np.column_stack([coords[:, 0], point_labels + jitter])
        centre_coords = np.column_stack([centre_coords[:, 0], np.arange(k)])
        axis_names = [axis_names[0], "cluster"]
    point_colors = colors[point_labels]
    centre_style: dict[str, Any] = {
        "marker": "X",
        "s": 320 if k <= 10 else 200 if k <= 30 else 110,
        "c": colors,
        "edgecolors": "black",
        "linewidths": 1.6,
        "gid": "centers",
    }

    fig = new_figure(8, 7)
    ax: Axes
    if dims == 3:
        ax3 = cast("Axes3D", fig.add_subplot(projection="3d"))
        ax3.scatter(*coords.T, c=point_colors, s=size, alpha=0.5, linewidths=0)
        ax3.computed_zorder = False  # the centres on top, not sorted into the cloud
        ax3.scatter(*centre_coords.T, depthshade=False, zorder=3, **centre_style)
        if k <= _MAX_BAR_LABELS:
            for cluster, (cx, cy, cz) in enumerate(centre_coords):
                ax3.text(
                    cx,
                    cy,
                    cz,
                    f"  {cluster}",
                    fontsize=11,
                    fontweight="bold",
                    zorder=4,
                    path_effects=[patheffects.withStroke(linewidth=3, foreground="white")],
                )
        ax3.set_zlabel(axis_names[2])
        ax3.view_init(elev=22, azim=-58)
        ax = ax3
    else:
        ax = fig.add_subplot()
        ax.scatter(coords[:, 0], coords[:, 1], c=point_colors, s=size, alpha=0.6, linewidths=0)
        ax.scatter(centre_coords[:, 0], centre_coords[:, 1], zorder=3, **centre_style)
        if k <= _MAX_BAR_LABELS:
            outline = [patheffects.withStroke(linewidth=3, foreground="white")]
            for cluster, (cx, cy) in enumerate(centre_coords[:, :2]):
                ax.annotate(
                    str(cluster),
                    (cx, cy),
                    xytext=(9, 9),
                    textcoords="offset points",
                    fontsize=11,
                    fontweight="bold",
                    path_effects=outline,
                    zorder=4,
                )
        ax.grid(alpha=0.3)
        if dims == 1:
            ax.set_yticks(range(k))
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1])
    how = {"features": "", "pca": ", PCA projection of the sample"}[what]
    how = f"{how}, 3-D view" if dims == 3 else how
    fig.suptitle(f"Clusters (k = {k}{how})", fontsize=13)
    ax.set_title(
        f"{_sample_text(len(drawn), m, total_rows)}; X marks each cluster's centre",
        fontsize=9,
        color="#444444",
    )
    return fig


def _pca(
    points: np.ndarray, centers: np.ndarray, dims: int
) -> tuple[np.ndarray, np.ndarray, list[str], str]:
    """Project the sample and the centres on the sample's first principal components."""
    mean = points.mean(axis=0)
    _, singular, vt = np.linalg.svd(points - mean, full_matrices=False)
    variance = singular**2
    share = variance / variance.sum() if variance.sum() > 0 else np.zeros_like(variance)
    components = vt[:dims]
    names = [f"PC{i + 1} ({100 * share[i]:.1f}% of variance)" for i in range(dims)]
    return (points - mean) @ components.T, (centers - mean) @ components.T, names, "pca"


def _pca_sparse(
    points: Any, centers: np.ndarray, dims: int
) -> tuple[np.ndarray, np.ndarray, list[str], str]:
    """:func:`_pca` of a CSR sample: the same projection (up to each axis's sign) without
    the dense ``m x d`` centred matrix. ARPACK's truncated SVD runs on the centred sample
    as an operator (``X v - 1 (mean . v)``), and the share of variance divides by the total
    ``sum |x|^2 - m |mean|^2``; memory is the sample's non-zeros plus a few ``d``-vectors."""
    from scipy.sparse.linalg import LinearOperator, svds

    points = sp.csr_array(points, dtype=float)
    m, d = points.shape
    if min(m, d) <= dims + 1:  # ARPACK needs k < min(m, d): a tiny sample, fine dense
        return _pca(points.toarray(), centers, dims)
    mean = np.asarray(points.mean(axis=0), dtype=float).ravel()
    points_t = sp.csr_array(points.T)

    def matvec(v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, dtype=float).ravel()
        return np.asarray(points @ v).ravel() - mean @ v

    def rmatvec(u: np.ndarray) -> np.ndarray:
        u = np.asarray(u, dtype=float).ravel()
        return np.asarray(points_t @ u).ravel() - mean * u.sum()

    centred = LinearOperator((m, d), matvec=matvec, rmatvec=rmatvec, dtype=float)
    start = np.random.default_rng(0).uniform(-1.0, 1.0, min(m, d))  # deterministic pictures
    _, singular, vt = svds(centred, k=dims, v0=start, solver="arpack")
    order = np.argsort(-singular)
    singular, components = singular[order], vt[order]
    total = float(points.multiply(points).sum()) - m * float(mean @ mean)
    share = singular**2 / total if total > 0 else np.zeros_like(singular)
    names = [f"PC{i + 1} ({100 * share[i]:.1f}% of variance)" for i in range(dims)]
    coords = np.asarray(points @ components.T) - mean @ components.T
    return coords, (centers - mean) @ components.T, names, "pca"


def _subset(m: int, max_points: int, seed: int) -> np.ndarray:
    """Indices of the rows drawn: all, or a seeded random subset of ``max_points``, sorted."""
    if m <= max_points:
        return np.arange(m)
    return np.sort(np.random.default_rng(seed).choice(m, size=max_points, replace=False))


def _sample_text(drawn: int, m: int, total_rows: int | None) -> str:
    total = m if total_rows is None else total_rows
    text = f"sample of {m:,} of {total:,} rows"
    if drawn < m:
        text += f" ({drawn:,} drawn)"
    return text


# -- sizes -----------------------------------------------------------------------------------


def sizes_figure(sizes: Sequence[int], *, counted_on_sample: bool = False) -> Figure:
    """Rows per cluster as bars, the count (and share) written on each bar."""
    counts = np.asarray(sizes, dtype=np.int64)
    k = counts.size
    total = int(counts.sum())
    fig = new_figure(8, 4.5)
    ax = fig.add_subplot()
    bars = ax.bar(np.arange(k), counts, color=cluster_colors(k), edgecolor="black", linewidth=0.5)
    if k <= _MAX_BAR_LABELS:
        if k <= 12:
            texts = [f"{n:,}\n({100 * n / max(total, 1):.0f}%)" for n in counts]
            ax.bar_label(bars, labels=texts, padding=2, fontsize=9)
        else:
            ax.bar_label(
                bars, labels=[f"{n:,}" for n in counts], padding=2, fontsize=8, rotation=90
            )
        ax.set_ylim(0, counts.max() * (1.22 if k <= 12 else 1.3) if total else 1)
    if k <= 25:
        ax.set_xticks(range(k))
    else:
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    ax.set_xlim(-0.6, k - 0.4)
    ax.yaxis.set_major_formatter(ShortFormatter())
    ax.set_xlabel("cluster")
    ax.set_ylabel("rows in the sample" if counted_on_sample else "rows")
    ax.grid(axis="y", alpha=0.3)
    rows = f"{total:,} rows in the sample" if counted_on_sample else f"all {total:,} rows"
    fig.suptitle(f"Cluster sizes (k = {k}, {rows})", fontsize=13)
    return fig


# -- silhouette ------------------------------------------------------------------------------


def silhouette_figure(
    values: np.ndarray,
    labels: np.ndarray,
    k: int | None = None,
    *,
    total_rows: int | None = None,
    max_points: int = MAX_POINTS,
    seed: int = 0,
) -> Figure:
    """Per-cluster silhouette values of the sample, sorted, as in scikit-learn's example; the
    mean of all the values as a dashed line."""
    values = np.asarray(values, dtype=float)
    labels = np.asarray(labels)
    k = int(labels.max()) + 1 if k is None else k
    m = values.size
    mean = float(values.mean()) if m else float("nan")
    drawn = _subset(m, max_points, seed)
    shown, shown_labels = values[drawn], labels[drawn]
    colors = cluster_colors(k)
    gap = max(2, round(0.01 * len(drawn)))

    fig = new_figure(8, 6.5)
    ax = fig.add_subplot()
    lower = gap
    middles = []
    for cluster in range(k):
        cluster_values = np.sort(shown[shown_labels == cluster])
        upper = lower + cluster_values.size
        ax.fill_betweenx(
            np.arange(lower, upper),
            0,
            cluster_values,
            facecolor=colors[cluster],
            edgecolor=colors[cluster],
            alpha=0.8,
            linewidth=0.5,
        )
        middles.append((lower + upper) / 2)
        lower = upper + gap
    ax.axvline(
        mean,
        color="#d62728",
        linestyle="--",
        linewidth=1.5,
        gid="mean_silhouette",
        label=f"mean silhouette {mean:.3f}",
    )
    step = max(1, -(-k // _MAX_BAR_LABELS))
    ax.set_yticks(middles[::step], [str(c) for c in range(0, k, step)])
    ax.set_ylim(0, lower)
    low = min(-0.1, float(shown.min()) - 0.05) if shown.size else -0.1
    ax.set_xlim(low, 1.0)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("silhouette coefficient (-1 wrong cluster, 0 on a border, 1 well inside)")
    ax.set_ylabel("cluster (its rows sorted by silhouette)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=9)
    fig.suptitle(f"Silhouette of each row (k = {k})", fontsize=13)
    ax.set_title(_sample_text(len(drawn), m, total_rows), fontsize=9, color="#444444")
    return fig


# -- all of a report's -----------------------------------------------------------------------


def report_figures(data: ReportData, *, three_d: bool = False) -> dict[str, Figure]:
    """The figures a report has data for, by file stem: ``elbow`` (two or more k),
    ``clusters`` and ``clusters_3d`` (a sample; 3-D if asked and d >= 3), ``sizes``,
    ``silhouette`` (per-row values of the sample)."""
    data.validate()
    figures: dict[str, Figure] = {}
    if len(data.rows) >= 2:
        figures["elbow"] = elbow_figure(data.rows, data.choice)
    x, labels, centers = data.sample_x, data.sample_labels, data.centers
    if x is not None and labels is not None and centers is not None and np.shape(x)[0]:
        views = (
            {"clusters": False, "clusters_3d": True}
            if np.shape(x)[1] >= 3 and three_d
            else {"clusters": False}
        )
        for name, view_3d in views.items():
            figures[name] = clusters_figure(
                x,
                labels,
                centers,
                feature_names=data.feature_names,
                total_rows=data.total_rows,
                three_d=view_3d,
            )
    sizes = data.cluster_sizes()
    if sizes is not None:
        figures["sizes"] = sizes_figure(sizes[0], counted_on_sample=not sizes[1])
    if data.silhouette_values is not None and labels is not None and len(labels):
        figures["silhouette"] = silhouette_figure(
            data.silhouette_values, labels, data.k, total_rows=data.total_rows
        )
    return figures


def write_plots(
    data: ReportData, directory: str | Path, *, three_d: bool = False
) -> dict[str, Path]:
    """Write :func:`report_figures` as ``NAME.png`` into ``directory`` (created if missing)."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    return {
        name: write_png(fig, target / f"{name}.png")
        for name, fig in report_figures(data, three_d=three_d).items()
    }
