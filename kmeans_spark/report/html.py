"""``report.html``: one self-contained file that opens from disk, offline, anywhere.

The plots are embedded as base64 ``data:`` URIs and the style sheet is inline: the file has
no link, script, font or image to fetch, so it can be mailed, attached to a ticket or opened
from an object store's download as it is. Every piece of user text (title, facts, feature
names, config values) is HTML-escaped.
"""

from __future__ import annotations

import base64
import json
import math
import os
import uuid
from collections.abc import Mapping, Sequence
from html import escape
from importlib import metadata
from pathlib import Path

import numpy as np

from kmeans_spark.report.data import MEASURE_LABELS, KRow, ReportData
from kmeans_spark.report.plots import png_bytes, report_figures

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       margin: 2rem auto; max-width: 980px; padding: 0 1rem; color: #1f2328; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.2rem; border-bottom: 1px solid #d0d7de; padding-bottom: 0.25rem;
     margin-top: 2rem; }
.sub { color: #57606a; margin-top: 0; }
table { border-collapse: collapse; font-size: 0.9rem; margin: 0.5rem 0; }
th, td { border: 1px solid #d0d7de; padding: 0.3rem 0.6rem; text-align: left;
         vertical-align: top; }
th { background: #f6f8fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.sizes { font-size: 0.8rem; color: #57606a; max-width: 22rem; }
tr.chosen td { background: #fff8c5; }
.best { font-weight: 700; }
.scroll { overflow-x: auto; }
.verdict { font-size: 1.15rem; }
.verdict strong { padding: 0.1rem 0.5rem; border-radius: 4px; background: #dafbe1; }
.verdict strong.unclear { background: #ffebe9; }
figure { margin: 1.5rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #d0d7de; }
figcaption { color: #57606a; font-size: 0.9rem; }
pre { background: #f6f8fa; padding: 0.8rem; overflow-x: auto; font-size: 0.8rem; }
footer { margin-top: 3rem; color: #57606a; font-size: 0.8rem; }
"""

_CAPTIONS = {
    "elbow": "SSE against k with the knee found by Kneedle; below, the Calinski-Harabasz "
    "score and the silhouette of each k, their best k starred.",
    "clusters": "A sample of the rows coloured by cluster; X marks each centre.",
    "clusters_3d": "The same sample in three dimensions.",
    "sizes": "Rows per cluster.",
    "silhouette": "Silhouette of each sampled row, sorted within its cluster: a cluster whose "
    "rows mostly fall left of the dashed mean is loose or overlaps another.",
}

#: Cluster sizes listed in a cell of the k table, at most.
_MAX_SIZES_SHOWN = 20
#: Up to this many features the cluster table has a column per feature; wider data (a
#: sparse fit's 2**18 hashed features) get one cell of each centre's largest values.
_MAX_FEATURE_COLUMNS = 30
#: The largest values of a centre listed in that cell.
_TOP_FEATURES = 8


def write_report(path: str | Path, data: ReportData, *, three_d: bool = False) -> Path:
    """Write ``data`` as one self-contained HTML file at ``path``; return the path.

    The file is written to a temporary sibling and renamed into place, so a reader never
    sees half a report. ``three_d`` adds a 3-D view of the clusters (when d >= 3).
    """
    target = Path(path)
    text = render_report(data, three_d=three_d)
    # not tempfile.mkstemp: its file is private (0600); this one gets the umask's mode
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        with tmp.open("x", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def render_report(data: ReportData, *, three_d: bool = False) -> str:
    """The HTML text of :func:`write_report`."""
    figures = report_figures(data, three_d=three_d)  # validates data
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(data.title)}</title>",
        f"<style>{_CSS}</style>",
        "</head><body>",
        f"<h1>{escape(data.title)}</h1>",
        f'<p class="sub">k-means report{_k_range(data.rows)}</p>',
    ]
    if data.facts:
        parts += ["<h2>Run</h2>", _facts_table(data.facts)]
    if data.choice is not None:
        parts += ["<h2>Choosing k</h2>", *_choice(data)]
    if data.rows:
        parts += ["<h2>Fits by k</h2>", _k_table(data)]
    if data.centers is not None:
        parts += [f"<h2>Clusters (k = {data.k})</h2>", _cluster_table(data)]
    if figures:
        parts.append("<h2>Plots</h2>")
        for name, fig in figures.items():
            encoded = base64.b64encode(png_bytes(fig)).decode("ascii")
            caption = _CAPTIONS.get(name, "")
            if name == "elbow" and data.distance_measure is not None:
                caption += f" Distance measure: {data.distance_measure}."
            parts.append(
                f'<figure id="plot-{name}"><img src="data:image/png;base64,{encoded}" '
                f'alt="{escape(name)} plot"><figcaption>{escape(caption)}</figcaption></figure>'
            )
    if data.config is not None:
        config = json.dumps(data.config, indent=2, sort_keys=True, default=str)
        parts += ["<h2>Configuration</h2>", f"<pre>{escape(config)}</pre>"]
    parts += [f"<footer>Written by kmeans-spark {escape(_version())}.</footer>", "</body></html>"]
    return "\n".join(parts) + "\n"


def _k_range(rows: Sequence[KRow]) -> str:
    ks = sorted(row.k for row in rows)
    if not ks:
        return ""
    return f", k = {ks[0]}" if len(ks) == 1 else f", k = {ks[0]}..{ks[-1]} ({len(ks)} fits)"


def _facts_table(facts: Mapping[str, str]) -> str:
    rows = "".join(
        f"<tr><th>{escape(str(key))}</th><td>{escape(str(value))}</td></tr>"
        for key, value in facts.items()
    )
    return f'<table class="facts">{rows}</table>'


def _choice(data: ReportData) -> list[str]:
    choice = data.choice
    assert choice is not None
    css = "" if choice.clear else ' class="unclear"'
    found = [
        ("knee of the SSE curve (Kneedle)", choice.knee),
        ("best Calinski-Harabasz", choice.best_calinski_harabasz),
        ("best silhouette", choice.best_silhouette),
    ]
    items = "".join(f"<li>{name}: {'none' if k is None else f'k = {k}'}</li>" for name, k in found)
    return [
        f'<p class="verdict">Verdict: <strong{css}>{escape(choice.verdict)}</strong></p>',
        f"<p>{escape(choice.explanation)}</p>",
        f"<ul>{items}</ul>",
    ]


#: The k table's score columns: attribute, heading, which end is best.
_SCORE_COLUMNS = (
    ("sse", "SSE", None),
    ("calinski_harabasz", "Calinski-Harabasz", "max"),
    ("davies_bouldin", "Davies-Bouldin", "min"),
    ("silhouette", "silhouette (all rows)", "max"),
    ("silhouette_sample", "silhouette (sample)", "max"),
    ("iterations", "iterations", None),
)


def _score_columns(measure: str | None) -> tuple[tuple[str, str, str | None], ...]:
    """:data:`_SCORE_COLUMNS` with the headings saying what a fit of ``measure`` scores:
    a cosine fit's SSE is its cost ``sum (1 - cos)`` and Spark's silhouette is cosine."""
    if measure is None:
        return _SCORE_COLUMNS
    sil_name, sample_name, _ = MEASURE_LABELS.get(measure, MEASURE_LABELS[None])
    titles = {
        "sse": "cosine cost (sum of 1 - cos)" if measure == "cosine" else "SSE",
        "silhouette": f"silhouette (all rows, {sil_name})",
        "silhouette_sample": f"silhouette (sample, {sample_name})",
    }
    return tuple((attr, titles.get(attr, title), end) for attr, title, end in _SCORE_COLUMNS)


def _k_table(data: ReportData) -> str:
    rows = sorted(data.rows, key=lambda row: row.k)
    columns = [
        c
        for c in _score_columns(data.distance_measure)
        if any(getattr(r, c[0]) is not None for r in rows)
    ]
    best = {}
    for attr, _, end in columns:
        values = [_finite(getattr(row, attr)) for row in rows]
        present = [v for v in values if v is not None]
        if end is not None and len(rows) > 1 and present:
            best[attr] = max(present) if end == "max" else min(present)
    chosen = data.choice.k if data.choice is not None else None
    has_sizes = any(row.cluster_sizes is not None for row in rows)
    head = "<tr><th>k</th>" + "".join(f"<th>{escape(title)}</th>" for _, title, _ in columns)
    head += ("<th>cluster sizes</th>" if has_sizes else "") + "<th>notes</th></tr>"
    body = []
    for row in rows:
        cells = [f'<td class="num">{row.k}</td>']
        for attr, _, _ in columns:
            value = getattr(row, attr)
            strong = attr in best and _finite(value) == best[attr]
            css = "num best" if strong else "num"
            text = str(value) if attr == "iterations" and value is not None else _number(value)
            cells.append(f'<td class="{css}">{text}</td>')
        if has_sizes:
            cells.append(f'<td class="sizes">{_sizes(row.cluster_sizes)}</td>')
        cells.append(f"<td>{escape(_notes(data, row.k))}</td>")
        tr = '<tr class="chosen">' if row.k == chosen else "<tr>"
        body.append(tr + "".join(cells) + "</tr>")
    note = "Best value of each score in bold" + (
        "; the chosen k highlighted." if chosen is not None else "."
    )
    return (
        f'<div class="scroll"><table class="ks">{head}{"".join(body)}</table></div>'
        f'<p class="sub">{note}</p>'
    )


def _notes(data: ReportData, k: int) -> str:
    choice = data.choice
    if choice is None:
        return ""
    notes = [
        name
        for name, at in (
            ("chosen", choice.k),
            ("knee", choice.knee),
            ("best CH", choice.best_calinski_harabasz),
            ("best silhouette", choice.best_silhouette),
        )
        if at == k
    ]
    return ", ".join(notes)


def _cluster_table(data: ReportData) -> str:
    centers = np.asarray(data.centers, dtype=float)
    k, d = centers.shape
    names = list(data.feature_names) if data.feature_names is not None else None
    names = names or [f"x{i}" for i in range(d)]
    sizes = data.cluster_sizes()
    total = sum(sizes[0]) if sizes is not None else 0
    size_head = "" if sizes is None else ("size" if sizes[1] else "size (sample)")
    head = "<tr><th>cluster</th>"
    if sizes is not None:
        head += f"<th>{size_head}</th><th>share</th>"
    if data.cluster_sse is not None:
        head += "<th>SSE</th>"
    if data.cluster_mean_distance is not None:
        head += "<th>mean distance</th>"
    wide = d > _MAX_FEATURE_COLUMNS
    if wide:
        head += f"<th>largest centre values (of {d:,} features)</th></tr>"
    else:
        head += "".join(f"<th>{escape(str(name))}</th>" for name in names) + "</tr>"
    body = []
    for cluster in range(k):
        cells = [f'<td class="num">{cluster}</td>']
        if sizes is not None:
            n = sizes[0][cluster]
            cells.append(f'<td class="num">{n:,}</td>')
            cells.append(f'<td class="num">{100 * n / max(total, 1):.1f}%</td>')
        if data.cluster_sse is not None:
            cells.append(f'<td class="num">{_number(data.cluster_sse[cluster])}</td>')
        if data.cluster_mean_distance is not None:
            cells.append(f'<td class="num">{_number(data.cluster_mean_distance[cluster])}</td>')
        if wide:
            cells.append(f'<td class="sizes">{_largest(centers[cluster], names)}</td>')
        else:
            cells += [f'<td class="num">{_number(v)}</td>' for v in centers[cluster]]
        body.append("<tr>" + "".join(cells) + "</tr>")
    what = (
        f"its centre's {_TOP_FEATURES} largest values (by magnitude)"
        if wide
        else "the feature columns are its centre"
    )
    return (
        f'<div class="scroll"><table class="clusters">{head}{"".join(body)}</table></div>'
        f'<p class="sub">One row per cluster; {what}.</p>'
    )


def _largest(center: np.ndarray, names: Sequence[str]) -> str:
    """A wide centre's largest values by magnitude, as ``name value`` pairs (escaped)."""
    top = np.argsort(-np.abs(center), kind="stable")[:_TOP_FEATURES]
    top = top[center[top] != 0]
    return ", ".join(f"{escape(str(names[i]))} {_number(center[i])}" for i in top) or "all 0"


def _sizes(sizes: Sequence[int] | None) -> str:
    if sizes is None:
        return ""
    shown = ", ".join(f"{int(n):,}" for n in sizes[:_MAX_SIZES_SHOWN])
    more = len(sizes) - _MAX_SIZES_SHOWN
    return shown + (f", … ({more} more)" if more > 0 else "")


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _number(value: float | None) -> str:
    """A table cell: ``1,234,567`` for large values, 4 significant digits otherwise."""
    number = _finite(value)
    if number is None:
        return "&ndash;" if value is None else escape(str(value))
    if abs(number) >= 1000:
        return f"{number:,.0f}"
    return f"{number:.4g}"


def _version() -> str:
    try:
        return metadata.version("kmeans-spark")
    except metadata.PackageNotFoundError:
        return "(not installed)"
