"""The report package: figures carry the right marks, PNGs decode, report.html is self-contained.

JVM-free; the inputs come from scikit-learn on small blobs, one thread.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from PIL import Image
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import (
    calinski_harabasz_score,
    davies_bouldin_score,
    silhouette_samples,
    silhouette_score,
)
from threadpoolctl import threadpool_limits

from kmeans_spark.errors import KMeansInputError
from kmeans_spark.report import (
    KRow,
    ReportData,
    clusters_figure,
    elbow_figure,
    render_report,
    silhouette_figure,
    sizes_figure,
    write_plots,
    write_report,
)
from kmeans_spark.report.plots import DPI, ShortFormatter, png_bytes
from kmeans_spark.selection import choose_k

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NASTY_NAMES = ["<b>income</b>", "visits & calls", 'say "hi"', "tenure", "<script>x</script>"]


def blobs(n_rows: int, n_features: int, true_k: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-20, 20, size=(true_k, n_features))
    return centres[rng.integers(0, true_k, n_rows)] + rng.normal(size=(n_rows, n_features))


def sweep_data(x: np.ndarray, ks: list[int], names: list[str], total_rows: int) -> ReportData:
    """What the elbow command hands the report: a row per k, the choice, the chosen fit."""
    rows, fits = [], {}
    with threadpool_limits(1):
        for k in ks:
            fit = KMeans(n_clusters=k, n_init=3, random_state=0).fit(x)
            fits[k] = fit
            rows.append(
                KRow(
                    k=k,
                    sse=float(fit.inertia_),
                    calinski_harabasz=float(calinski_harabasz_score(x, fit.labels_)),
                    davies_bouldin=float(davies_bouldin_score(x, fit.labels_)),
                    silhouette_sample=float(silhouette_score(x, fit.labels_)),
                    iterations=int(fit.n_iter_),
                    cluster_sizes=(np.bincount(fit.labels_, minlength=k) * 10).tolist(),
                )
            )
        choice = choose_k(
            ks,
            [r.sse for r in rows],
            [r.calinski_harabasz for r in rows],
            [r.silhouette_sample for r in rows],
        )
        chosen = fits[choice.k if choice.k is not None else ks[0]]
        sil = silhouette_samples(x, chosen.labels_)
    return ReportData(
        title="Sweep of <demo> & friends",
        facts={"input": "s3a://lake/<events>", "rows": f"{total_rows:,}"},
        rows=rows,
        choice=choice,
        sample_x=x,
        sample_labels=chosen.labels_,
        centers=chosen.cluster_centers_,
        feature_names=names,
        silhouette_values=sil,
        total_rows=total_rows,
        config={"job": {"k_min": ks[0], "k_max": ks[-1]}, "input": {"where": "dt = '<today>'"}},
    )


@pytest.fixture(scope="module")
def data_2d() -> ReportData:
    return sweep_data(blobs(900, 2, 4), list(range(2, 9)), ["V1 <m>", "V2 & more"], 9000)


@pytest.fixture(scope="module")
def data_5d() -> ReportData:
    return sweep_data(blobs(1200, 5, 5, seed=3), list(range(2, 9)), NASTY_NAMES, 1_000_000)


def by_gid(fig: Figure, gid: str) -> list[object]:
    return [a for a in fig.findobj() if getattr(a, "get_gid", lambda: None)() == gid]


# -- selection feeds the pictures ------------------------------------------------------------


def test_the_fixtures_choose_their_true_k(data_2d: ReportData, data_5d: ReportData) -> None:
    assert data_2d.choice is not None and data_2d.choice.k == 4
    assert data_5d.choice is not None and data_5d.choice.k == 5


# -- elbow -----------------------------------------------------------------------------------


def test_elbow_marks_the_knee_on_the_sse_curve(data_2d: ReportData) -> None:
    choice = data_2d.choice
    assert choice is not None and choice.knee is not None
    fig = elbow_figure(data_2d.rows, choice)
    (knee,) = by_gid(fig, "knee")
    sse_at_knee = next(r.sse for r in data_2d.rows if r.k == choice.knee)
    assert list(knee.get_xdata()) == [choice.knee]  # type: ignore[attr-defined]
    assert list(knee.get_ydata()) == [sse_at_knee]  # type: ignore[attr-defined]
    assert knee in fig.axes[0].lines  # on the SSE panel
    (best_ch,) = by_gid(fig, "best_calinski_harabasz")
    (best_sil,) = by_gid(fig, "best_silhouette")
    assert list(best_ch.get_xdata()) == [choice.best_calinski_harabasz]  # type: ignore[attr-defined]
    assert list(best_sil.get_xdata()) == [choice.best_silhouette]  # type: ignore[attr-defined]
    texts = " ".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")))  # type: ignore[attr-defined]
    assert f"knee (Kneedle): k = {choice.knee}" in texts
    assert "k (number of clusters)" in texts and "SSE" in texts
    # rows that name no distance measure: no label claims one (it said "squared Euclidean")
    assert "silhouette on a sample, Euclidean (right axis)" in texts
    assert "squared Euclidean" not in texts
    assert "verdict: k = 4" in fig.get_suptitle()


def test_elbow_chooses_by_itself_when_not_given_a_choice(data_2d: ReportData) -> None:
    fig = elbow_figure(data_2d.rows)
    (knee,) = by_gid(fig, "knee")
    assert list(knee.get_xdata()) == [4]  # type: ignore[attr-defined]


def test_elbow_of_sse_alone_has_one_panel() -> None:
    rows = [KRow(k, sse) for k, sse in zip(range(2, 8), [90.0, 20, 15, 12, 10, 9], strict=True)]
    fig = elbow_figure(rows)
    assert len(fig.axes) == 1
    assert len(by_gid(fig, "knee")) == 1
    with pytest.raises(KMeansInputError, match="at least one k"):
        elbow_figure([])


def cosine_sweep_rows(ks: list[int]) -> list[KRow]:
    """A cosine sweep's rows as the job makes them: :func:`compute_metrics` of a spherical
    fit's centres on unit rows (directions of 4 blobs), each into :meth:`KRow.of_metrics`."""
    from kmeans_spark.kernels.distance import normalize_rows
    from kmeans_spark.load import LoadSettings
    from kmeans_spark.localblocks import LocalBlocks
    from kmeans_spark.metrics import compute_metrics

    x = blobs(600, 3, 4, seed=5) + 30.0  # no zero rows
    units = normalize_rows(x)[0]
    sets = []
    with threadpool_limits(1):
        for k in ks:
            sets.append(KMeans(n_clusters=k, n_init=3, random_state=0).fit(units).cluster_centers_)
    with LocalBlocks([x[:250], x[250:]], LoadSettings(spherical=True)) as blocks:
        found = compute_metrics(blocks, sets, spherical=True, sample_size=200, seed=1)
    return [KRow.of_metrics(k, m.sse, 5, m) for k, m in zip(ks, found, strict=True)]


def test_a_cosine_sweep_says_cosine_in_its_plots_and_tables(
    tmp_path: Path, local_dirs: str
) -> None:
    """The silhouette is labelled with the fit's distance measure (it was "squared
    Euclidean" for every fit); a cosine fit's SSE axis says it is the cosine cost."""
    rows = cosine_sweep_rows(list(range(2, 8)))
    assert {row.distance_measure for row in rows} == {"cosine"}
    fig = elbow_figure(rows)
    texts = " ".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")))  # type: ignore[attr-defined]
    assert "silhouette on all rows, cosine" in texts
    assert "silhouette on a sample, Euclidean on unit rows" in texts
    assert "cosine cost" in texts and "squared" not in texts
    written = write_plots(ReportData(title="cosine sweep", rows=rows), tmp_path)
    assert Image.open(written["elbow"]).format == "PNG"
    text = render_report(ReportData(title="cosine sweep", rows=rows))
    assert "<th>silhouette (all rows, cosine)</th>" in text
    assert "<th>cosine cost (sum of 1 - cos)</th>" in text
    assert "squared Euclidean" not in text and "Distance measure: cosine." in text
    euclidean = [dataclasses.replace(row, distance_measure="squaredEuclidean") for row in rows]
    euclidean_texts = " ".join(
        t.get_text()
        for t in elbow_figure(euclidean).findobj(lambda a: hasattr(a, "get_text"))  # type: ignore[attr-defined]
    )
    assert "silhouette on all rows, squared Euclidean" in euclidean_texts
    with pytest.raises(
        KMeansInputError, match=r"distance measures \['cosine', 'squaredEuclidean'\]"
    ):
        render_report(ReportData(title="mixed", rows=[rows[0], euclidean[1]]))


# -- clusters --------------------------------------------------------------------------------


def test_clusters_2d_draw_the_features_and_the_centres(data_2d: ReportData) -> None:
    assert data_2d.sample_x is not None and data_2d.centers is not None
    fig = clusters_figure(
        data_2d.sample_x,
        data_2d.sample_labels,  # type: ignore[arg-type]
        data_2d.centers,
        feature_names=data_2d.feature_names,
        total_rows=9000,
    )
    ax = fig.axes[0]
    (centres,) = by_gid(fig, "centers")
    assert isinstance(centres, PathCollection)
    np.testing.assert_allclose(centres.get_offsets(), data_2d.centers)
    assert ax.get_xlabel() == "V1 <m>" and ax.get_ylabel() == "V2 & more"
    assert ax.get_title() == "sample of 900 of 9,000 rows; X marks each cluster's centre"
    points = ax.collections[0]
    assert len(points.get_offsets()) == 900  # type: ignore[arg-type]


def test_clusters_beyond_2d_are_the_pca_projection(data_5d: ReportData) -> None:
    x, centers = data_5d.sample_x, data_5d.centers
    assert x is not None and centers is not None
    fig = clusters_figure(x, data_5d.sample_labels, centers)  # type: ignore[arg-type]
    (centres,) = by_gid(fig, "centers")
    pca = PCA(n_components=2).fit(x)
    ours = np.asarray(centres.get_offsets())  # type: ignore[attr-defined]
    theirs = pca.transform(centers)
    signs = np.sign(np.sum(ours * theirs, axis=0))  # components are defined up to sign
    np.testing.assert_allclose(ours * signs, theirs, atol=1e-8)
    share = pca.explained_variance_ratio_
    ax = fig.axes[0]
    assert ax.get_xlabel() == f"PC1 ({100 * share[0]:.1f}% of variance)"
    assert ax.get_ylabel() == f"PC2 ({100 * share[1]:.1f}% of variance)"
    assert "PCA projection" in fig.get_suptitle()


def test_clusters_3d_view_and_its_rule(data_5d: ReportData, data_2d: ReportData) -> None:
    x = data_5d.sample_x
    assert x is not None
    fig = clusters_figure(x, data_5d.sample_labels, data_5d.centers, three_d=True)  # type: ignore[arg-type]
    assert fig.axes[0].name == "3d"
    assert "% of variance" in fig.axes[0].get_zlabel()  # type: ignore[attr-defined]
    three = clusters_figure(x[:, :3], data_5d.sample_labels, data_5d.centers[:, :3], three_d=True)  # type: ignore[arg-type, index]
    assert three.axes[0].get_xlabel() == "x0"  # three features: drawn as they are
    with pytest.raises(KMeansInputError, match="at least 3 features, the data have 2"):
        clusters_figure(data_2d.sample_x, data_2d.sample_labels, data_2d.centers, three_d=True)  # type: ignore[arg-type]


def test_clusters_draw_at_most_max_points_and_say_so() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50_000, 2))
    labels = (x[:, 0] > 0).astype(int)
    centers = np.array([[-0.8, 0.0], [0.8, 0.0]])
    fig = clusters_figure(x, labels, centers, total_rows=10**8, max_points=1000)
    ax = fig.axes[0]
    assert len(ax.collections[0].get_offsets()) == 1000  # type: ignore[arg-type]
    assert ax.get_title().startswith("sample of 50,000 of 100,000,000 rows (1,000 drawn)")


def test_one_feature_is_drawn_cluster_by_cluster() -> None:
    x = np.concatenate([np.zeros(50), np.ones(50) * 10])[:, None]
    labels = np.repeat([0, 1], 50)
    fig = clusters_figure(x, labels, np.array([[0.0], [10.0]]), feature_names=["amount"])
    (centres,) = by_gid(fig, "centers")
    np.testing.assert_allclose(centres.get_offsets(), [[0, 0], [10, 1]])  # type: ignore[attr-defined]
    assert fig.axes[0].get_ylabel() == "cluster"


# -- sizes and silhouette --------------------------------------------------------------------


def test_sizes_are_bars_with_their_counts() -> None:
    fig = sizes_figure([1200, 35, 4_000_000])
    ax = fig.axes[0]
    assert [p.get_height() for p in ax.patches] == [1200, 35, 4_000_000]
    labels = [t.get_text() for t in ax.texts]
    assert labels == ["1,200\n(0%)", "35\n(0%)", "4,000,000\n(100%)"]
    assert "all 4,001,235 rows" in fig.get_suptitle()
    many = sizes_figure(list(range(1, 31)), counted_on_sample=True)
    assert [t.get_text() for t in many.axes[0].texts][:3] == ["1", "2", "3"]
    assert many.axes[0].get_ylabel() == "rows in the sample"


def test_silhouette_plot_sorts_each_cluster_and_marks_the_mean(data_2d: ReportData) -> None:
    values, labels = data_2d.silhouette_values, data_2d.sample_labels
    assert values is not None and labels is not None
    fig = silhouette_figure(values, labels, 4, total_rows=9000)
    ax = fig.axes[0]
    (mean,) = by_gid(fig, "mean_silhouette")
    assert mean.get_xdata()[0] == pytest.approx(values.mean())  # type: ignore[attr-defined]
    assert len(ax.collections) == 4  # one filled band per cluster
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0", "1", "2", "3"]
    assert ax.get_title() == "sample of 900 of 9,000 rows"


def test_silhouette_bands_are_the_sorted_values_of_each_cluster() -> None:
    values = np.array([0.5, 0.1, 0.9, 0.3, 0.7, -0.2, 0.4])
    labels = np.array([0, 0, 0, 1, 1, 1, 1])
    ax = silhouette_figure(values, labels).axes[0]
    for cluster, band in enumerate(ax.collections):
        outline = band.get_paths()[0].vertices  # type: ignore[attr-defined]
        edge = {y: x for x, y in outline if x != 0}  # the values' side of fill_betweenx
        drawn = [edge[y] for y in sorted(edge)]
        np.testing.assert_array_equal(drawn, np.sort(values[labels == cluster]))


# -- PNGs ------------------------------------------------------------------------------------


def test_write_plots_writes_valid_pngs_of_the_figure_size(
    data_5d: ReportData, tmp_path: Path
) -> None:
    paths = write_plots(data_5d, tmp_path / "plots", three_d=True)
    assert set(paths) == {"elbow", "clusters", "clusters_3d", "sizes", "silhouette"}
    for name, path in paths.items():
        raw = path.read_bytes()
        assert raw.startswith(PNG_SIGNATURE), name
        assert 10_000 < len(raw) < 2_000_000, (name, len(raw))
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            width, height = image.size
        assert width == 8 * DPI, (name, width)  # every figure is 8 inches wide
        assert 4 * DPI <= height <= 8 * DPI, (name, height)


def test_figures_are_on_an_agg_canvas_without_pyplot(data_2d: ReportData) -> None:
    fig = elbow_figure(data_2d.rows, data_2d.choice)
    assert isinstance(fig.canvas, FigureCanvasAgg)
    assert png_bytes(fig).startswith(PNG_SIGNATURE)


def test_rendering_needs_no_display_even_with_a_gui_backend_configured(tmp_path: Path) -> None:
    # A user's MPLBACKEND (or matplotlibrc) naming a GUI backend, and no display: the report
    # still renders, since its figures never go through pyplot's backend.
    script = (
        "import numpy as np\n"
        "from kmeans_spark.report import KRow, ReportData, write_report\n"
        "rows = [KRow(k, s) for k, s in zip(range(2, 8), [90.0, 20, 15, 12, 10, 9])]\n"
        "x = np.random.default_rng(0).normal(size=(200, 3))\n"
        "labels = (x[:, 0] > 0).astype(int)\n"
        "centers = np.array([x[labels == c].mean(axis=0) for c in (0, 1)])\n"
        "data = ReportData('t', rows=rows, sample_x=x, sample_labels=labels, centers=centers)\n"
        f"write_report({str(tmp_path / 'r.html')!r}, data, three_d=True)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["MPLBACKEND"] = "TkAgg"
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "r.html").stat().st_size > 10_000


# -- HTML ------------------------------------------------------------------------------------


def test_report_is_self_contained_and_escapes_user_text(
    data_5d: ReportData, tmp_path: Path
) -> None:
    path = write_report(tmp_path / "report.html", data_5d, three_d=True)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert not re.search(r"https?:", text)  # no network reference of any kind
    assert "<script" not in text and "<link" not in text and "@import" not in text
    sources = re.findall(r'src="([^"]*)"', text)
    assert len(sources) == 5  # elbow, clusters, clusters_3d, sizes, silhouette
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        raw = base64.b64decode(source.split(",", 1)[1], validate=True)
        with Image.open(io.BytesIO(raw)) as image:
            image.verify()
    assert re.findall(r'(?:href|url)\s*[=(]\s*["\']?([^"\')]+)', text) == []
    # user text, escaped wherever it appears
    assert "<b>income</b>" not in text and "&lt;b&gt;income&lt;/b&gt;" in text
    assert "visits &amp; calls" in text
    assert "&lt;script&gt;x&lt;/script&gt;" in text
    assert "<title>Sweep of &lt;demo&gt; &amp; friends</title>" in text
    assert "s3a://lake/&lt;events&gt;" in text
    assert "dt = &#x27;&lt;today&gt;&#x27;" in text  # the config JSON too
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not a private temporary file's


def test_report_tables_hold_the_metrics_and_the_choice(data_5d: ReportData) -> None:
    text = render_report(data_5d)
    choice = data_5d.choice
    assert choice is not None
    assert "Verdict: <strong>k = 5</strong>" in text
    assert choice.explanation.replace("'", "&#x27;") in text
    ks_table = text[text.index('<table class="ks">') :]
    ks_table = ks_table[: ks_table.index("</table>")]
    for heading in ("SSE", "Calinski-Harabasz", "Davies-Bouldin", "silhouette (sample)"):
        assert f"<th>{heading}</th>" in ks_table
    assert "silhouette (all rows)" not in ks_table  # a column no row has is left out
    assert ks_table.count("<tr") == 1 + len(data_5d.rows)
    assert '<tr class="chosen"><td class="num">5</td>' in ks_table
    row5 = next(r for r in data_5d.rows if r.k == 5)
    assert f"{row5.sse:,.0f}" in ks_table and f"{row5.silhouette_sample:.4g}" in ks_table
    assert "chosen, knee, best CH, best silhouette" in ks_table
    clusters = text[text.index('<table class="clusters">') :]
    assert clusters[: clusters.index("</table>")].count("<tr") == 1 + 5
    assert f"{row5.cluster_sizes[0]:,}" in clusters  # type: ignore[index]


def test_a_single_fit_has_no_elbow_and_no_choice(tmp_path: Path) -> None:
    x = blobs(300, 2, 3)
    with threadpool_limits(1):
        fit = KMeans(n_clusters=3, n_init=3, random_state=0).fit(x)
    data = ReportData(
        title="one fit",
        rows=[KRow(3, float(fit.inertia_), iterations=int(fit.n_iter_))],
        sample_x=x,
        sample_labels=fit.labels_,
        centers=fit.cluster_centers_,
    )
    text = write_report(tmp_path / "report.html", data).read_text(encoding="utf-8")
    assert "Choosing k" not in text and 'id="plot-elbow"' not in text
    assert 'id="plot-clusters"' in text and 'id="plot-sizes"' in text
    assert "size (sample)" in text  # sizes counted on the sample: no row had them
    assert "Calinski-Harabasz" not in text


def test_title_only_report_is_valid(tmp_path: Path) -> None:
    text = write_report(tmp_path / "r.html", ReportData(title="empty")).read_text()
    assert "<h1>empty</h1>" in text and "<img" not in text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sample_labels": np.zeros(3, dtype=int)}, r"sample_labels \(3,\)"),
        ({"centers": np.zeros((4, 3))}, "centers has 3 features and sample_x 2"),
        ({"sample_labels": np.full(900, 7)}, r"integers in \[0, 4\)"),
        ({"feature_names": ["a"]}, "1 feature_names for 2 features"),
        ({"silhouette_values": np.zeros(5)}, "one value per sample row"),
        ({"cluster_sse": [1.0, 2.0]}, "cluster_sse has 2 values"),
        ({"rows": [KRow(3, 1.0, cluster_sizes=[1, 2])]}, r"KRow\(k=3\) has 2 cluster sizes"),
        ({"sample_labels": None}, "give both or neither"),
        ({"rows": [KRow(2, 9.0), KRow(3, 4.0)]}, r"the choice names k=\[4\]"),
    ],
)
def test_inconsistent_data_is_refused(
    data_2d: ReportData, change: dict[str, object], message: str
) -> None:
    from dataclasses import replace

    with pytest.raises(KMeansInputError, match=message):
        render_report(replace(data_2d, **change))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ticks", "labels"),
    [
        ([0, 0.25, 0.5], ["0", "0.25", "0.5"]),
        ([0, 500, 1000, 2500], ["0", "500", "1,000", "2,500"]),
        ([4000, 6000, 11_000], ["4k", "6k", "11k"]),  # one unit on the axis, not 4,000 and 11k
        ([0, 500_000, 1_000_000, 2_500_000], ["0", "0.5M", "1M", "2.5M"]),
        ([1.5e9, 3e9], ["1.5G", "3G"]),
    ],
)
def test_tick_labels_use_one_unit_per_axis(ticks: list[float], labels: list[str]) -> None:
    assert ShortFormatter().format_ticks(ticks) == labels


def sparse_sample(m: int, d: int, k: int, seed: int = 0) -> tuple[object, np.ndarray, np.ndarray]:
    """A CSR sample of ``k`` topics (each row a few of its topic's columns), its labels and
    the topics' means: what a sparse fit's metrics hand the report."""
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    labels = np.arange(m) % k
    width = d // k
    cols = np.stack([rng.choice(width, 4, replace=False) + t * width for t in labels])
    x = sp.csr_array(
        (rng.uniform(0.5, 2.0, 4 * m), (np.repeat(np.arange(m), 4), cols.ravel())), shape=(m, d)
    )
    dense = x.toarray()
    centers = np.stack([dense[labels == j].mean(axis=0) for j in range(k)])
    return x, labels, centers


def test_a_csr_sample_is_projected_like_its_dense_rows() -> None:
    """A sparse fit's sample (CSR) is drawn by the PCA of its rows without densifying them:
    the same coordinates (up to each axis's sign) and the same shares of variance as the
    dense sample's PCA."""
    import scipy.sparse as sp

    x, labels, centers = sparse_sample(300, 120, 4)
    assert sp.issparse(x)
    for three_d in (False, True):
        got = clusters_figure(x, labels, centers, three_d=three_d)
        want = clusters_figure(x.toarray(), labels, centers, three_d=three_d)  # type: ignore[attr-defined]
        assert got.get_suptitle() == want.get_suptitle()
        g_ax, w_ax = got.axes[0], want.axes[0]
        assert (g_ax.get_xlabel(), g_ax.get_ylabel()) == (w_ax.get_xlabel(), w_ax.get_ylabel())
        if three_d:
            continue
        (g,), (w,) = by_gid(got, "centers"), by_gid(want, "centers")
        ours = np.asarray(g.get_offsets())  # type: ignore[attr-defined]
        theirs = np.asarray(w.get_offsets())  # type: ignore[attr-defined]
        signs = np.sign(np.sum(ours * theirs, axis=0))
        np.testing.assert_allclose(ours * signs, theirs, atol=1e-8)


def test_a_sparse_fits_report_renders_with_its_widest_centres_summarised(tmp_path: Path) -> None:
    """A report of a wide sparse fit (CSR sample, 2**16 features): every plot, and a cluster
    table of each centre's largest values instead of 65,536 columns."""
    x, labels, centers = sparse_sample(200, 2**16, 3, seed=2)
    silhouettes = silhouette_samples(x, labels)
    data = ReportData(
        title="sparse fit",
        rows=[KRow(3, 1.0, cluster_sizes=[67, 67, 66])],
        sample_x=x,
        sample_labels=labels,
        centers=centers,
        feature_names=[f"term{i}" for i in range(2**16)],
        silhouette_values=silhouettes,
    )
    text = write_report(tmp_path / "report.html", data, three_d=True).read_text(encoding="utf-8")
    for name in ("clusters", "clusters_3d", "sizes", "silhouette"):
        assert f'id="plot-{name}"' in text
    assert "largest centre values (of 65,536 features)" in text
    top = int(np.argmax(centers[0]))
    assert f"term{top} " in text
    assert text.count("<td") < 200  # no column per feature
