"""The text benchmark's pure helpers (scripts/benchkit/text.py): its command line, the
documents written as Spark's sparse vectors and read back, the objective, the rows and the
table, against hand-computed values. No JVM."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
if str(SCRIPTS) not in sys.path:  # scripts/ is not a package; a script there has it on sys.path
    sys.path.insert(0, str(SCRIPTS))

from benchkit.text import (  # noqa: E402
    SPARK_SCHEMA_KEY,
    csr_of,
    data_path,
    measure_rows,
    objective,
    parse_args,
    read_documents,
    table,
    vector_struct,
    write_documents,
)


def test_parse_args_defaults_are_the_issue_goal() -> None:
    _, (cfg,) = parse_args([])
    assert (cfg.size, cfg.docs, cfg.features, cfg.topics, cfg.k) == ("full", 200_000, 2**18, 50, 50)
    assert (cfg.max_iter, cfg.tol, cfg.repeats, cfg.partitions) == (20, 1e-4, 3, 2)
    assert cfg.measures == ["cosine", "euclidean"]
    assert cfg.json_path.name == "text-full.json" and cfg.data_dir.name == "bench-data"


def test_parse_args_sizes_and_overrides() -> None:
    _, configs = parse_args(["--sizes", "tiny,small", "--docs", "500", "--measures", "euclidean"])
    assert [(c.size, c.docs, c.features, c.k) for c in configs] == [
        ("tiny", 500, 2**12, 10),
        ("small", 500, 2**18, 50),
    ]
    assert configs[0].measures == ["euclidean"] and configs[1].json_path.name == "text-small.json"
    _, (cfg,) = parse_args(["--sizes", "tiny", "--topics", "7"])
    assert (cfg.topics, cfg.k) == (7, 7)  # k follows the topics unless given
    _, (cfg,) = parse_args(["--sizes", "tiny", "--topics", "7", "--k", "3"])
    assert (cfg.topics, cfg.k) == (7, 3)


@pytest.mark.parametrize(
    "argv",
    [
        ["--sizes", "huge"],
        ["--measures", "manhattan"],
        ["--sizes", "tiny,small", "--json", "one.json"],
        ["--repeats", "0"],
        ["--sizes", "tiny", "--docs", "5", "--k", "6"],
        ["--k", "1"],
    ],
)
def test_parse_args_refuses_bad_values(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse_args(argv)
    assert info.value.code == 2
    assert capsys.readouterr().err


def documents() -> sp.csr_array:
    rng = np.random.default_rng(0)
    dense = np.where(rng.random((50, 30)) < 0.2, rng.random((50, 30)), 0.0)
    dense[:, 0] += 0.5  # no empty row
    return sp.csr_array(dense)


def test_vectors_as_spark_structs_and_back() -> None:
    x = documents()
    column = vector_struct(x)
    assert column.field("type").to_pylist() == [0] * 50
    assert column.field("size").to_pylist() == [30] * 50
    assert column[3].as_py()["indices"] == x[[3]].indices.tolist()
    back = csr_of(column, 30)
    np.testing.assert_array_equal(back.toarray(), x.toarray())
    import pyarrow as pa

    chunked = pa.chunked_array([column.slice(0, 20), column.slice(20)])
    np.testing.assert_array_equal(csr_of(chunked, 30).toarray(), x.toarray())


def test_documents_round_trip_through_parquet_with_sparks_schema(tmp_path: Path) -> None:
    x = documents()
    path = tmp_path / "docs.parquet"
    write_documents(x, path, {"rows": 50}, chunk_rows=16)
    assert pq.ParquetFile(path).metadata.num_row_groups == 4
    back, meta = read_documents(path, 30)
    assert meta == {"rows": 50}
    np.testing.assert_array_equal(back.toarray(), x.toarray())
    schema = json.loads(pq.read_schema(path).metadata[SPARK_SCHEMA_KEY.encode()])
    (field,) = schema["fields"]
    assert field["name"] == "features"
    assert field["type"]["class"] == "org.apache.spark.ml.linalg.VectorUDT"
    assert not list(tmp_path.glob("*.tmp-*"))


def test_data_path_names_the_documents() -> None:
    _, (cfg,) = parse_args(["--sizes", "tiny", "--data-seed", "3"])
    assert data_path(cfg).name == "topics-docs2000-f4096-t10-w85-seed3.parquet"


@pytest.mark.parametrize("measure", ["euclidean", "cosine"])
def test_objective_against_brute_force(measure: str) -> None:
    x = documents()
    centers = np.random.default_rng(1).random((4, 30))
    dense = x.toarray()
    if measure == "cosine":
        unit = centers / np.linalg.norm(centers, axis=1, keepdims=True)
        cos = (dense / np.linalg.norm(dense, axis=1, keepdims=True)) @ unit.T
        want = float((1.0 - cos.max(axis=1)).sum())
    else:
        want = float(((dense[:, None, :] - centers[None]) ** 2).sum(axis=2).min(axis=1).sum())
    assert objective(x, centers, measure) == pytest.approx(want, rel=1e-9)


def stats(min_s: float, median_s: float) -> dict[str, float]:
    return {"min_s": min_s, "median_s": median_s}


def test_measure_rows_ratios_and_goals() -> None:
    measured = {
        "cosine/mllib": stats(10.0, 12.0),
        "cosine/ours": stats(2.0, 4.0),
        "euclidean/mllib": stats(10.0, 10.0),
    }
    sse = {"cosine/mllib": 100.0, "cosine/ours": 99.0, "euclidean/mllib": 5.0}
    iters = {"cosine/mllib": 20, "cosine/ours": 9, "euclidean/mllib": 14}
    cosine, euclidean = measure_rows(["cosine", "euclidean"], measured, sse, iters)
    assert (cosine["ratio_min"], cosine["ratio_median"]) == (0.2, 4.0 / 12.0)
    assert cosine["time_goal_met"] is False  # 0.33 on the medians
    assert cosine["sse_ratio"] == 0.99 and cosine["sse_goal_met"] is True
    assert (cosine["ours_iters"], cosine["mllib_iters"]) == (9, 20)
    assert euclidean["ours_median_s"] is None and euclidean["ratio_median"] is None
    assert euclidean["time_goal_met"] is None and euclidean["sse_goal_met"] is None


def test_table_lines_up_and_shows_missing_as_dash() -> None:
    measured = {"cosine/mllib": stats(10.0, 12.0), "cosine/ours": stats(2.0, 3.0)}
    sse = {"cosine/mllib": 100.0, "cosine/ours": 100.5}
    rows = measure_rows(["cosine", "euclidean"], measured, sse, {"cosine/ours": 7})
    head, rule, cosine, euclidean = table(rows)
    assert head.endswith("time  SSE") and len(rule) == len(head)
    assert len({len(head), len(cosine), len(euclidean)}) == 1
    assert cosine.split()[1:] == [
        "10.000",
        "12.000",
        "2.000",
        "3.000",
        "0.200",
        "0.250",
        "1.0050",
        "7",
        "-",
        "yes",
        "no",
    ]
    assert euclidean.split()[1:] == ["-"] * 11


def test_text_bench_imports_without_spark() -> None:
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "import benchkit.text; "
        "assert not [m for m in sys.modules if m.split('.')[0] in ('pyspark', 'py4j')]"
    )
    subprocess.run([sys.executable, "-c", code, str(SCRIPTS)], check=True)
