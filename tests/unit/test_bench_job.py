"""The job benchmark's pure parts (scripts/benchkit/job.py, scripts/mllib_job.py): the
command lines both jobs get, the phases read from their summaries, the output checks and
the tables, on hand-made summaries and a tiny Parquet directory. No JVM, no spark-submit."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
if str(SCRIPTS) not in sys.path:  # scripts/ is not a package; a script there has it on sys.path
    sys.path.insert(0, str(SCRIPTS))

import mllib_job  # noqa: E402
from benchkit import job  # noqa: E402


def launch() -> job.Launch:
    return job.Launch(
        master="local[2]",
        driver_memory="8g",
        spark_conf={"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "8"},
        python="/venv/bin/python",
        spark_home="/spark",
        timeout_s=60.0,
    )


def config(**overrides: Any) -> job.JobConfig:
    _, configs = job.parse_args(["--preset", "job16", "--repeats", "1"])
    cfg = configs[0]
    for key, value in overrides.items():
        setattr(cfg, key, value)
    return cfg


# -- arguments and commands -----------------------------------------------------------------


def test_presets_and_rows_override() -> None:
    _, both = job.parse_args([])
    assert [(c.preset, c.n, c.d, c.k, c.target) for c in both] == [
        ("job16", 2_000_000, 16, 10, 0.6),
        ("job64", 1_000_000, 64, 100, 0.3),
    ]
    _, small = job.parse_args(["--rows", "100000", "--preset", "job64"])
    assert [(c.preset, c.n, c.d, c.k) for c in small] == [("job64", 100_000, 64, 100)]
    assert small[0].repeats == 3 and small[0].seed == 42 and small[0].files == 4


@pytest.mark.parametrize("argv", [["--preset", "job32"], ["--repeats", "0"], ["--rows", "10"]])
def test_bad_arguments_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        job.parse_args(argv)


def test_both_jobs_get_the_same_job_flags_and_memory(tmp_path: Path) -> None:
    cfg = config()
    data, out = tmp_path / "data", tmp_path / "out"
    ours, ours_env = job.ours_command(cfg, data, out, launch())
    mllib, mllib_env = job.mllib_command(cfg, data, out, launch(), tmp_path / "log4j2")
    flags = job.job_flags(cfg, data, out)
    assert ours[-len(flags) :] == flags and mllib[-len(flags) :] == flags
    assert flags[flags.index("--k") + 1] == "10" and flags[flags.index("--seed") + 1] == "42"
    assert ours[:5] == [
        "bash",
        str(job.REPO / "scripts" / "submit.sh"),
        "--master",
        "local[2]",
        "fit",
    ]
    assert ours_env["SPARK_SUBMIT_OPTS_EXTRA"] == "--driver-memory 8g"
    assert ours_env["KMEANS_SPARK_VENV"] == "/venv"
    assert mllib[:5] == ["/spark/bin/spark-submit", "--master", "local[2]", "--driver-memory", "8g"]
    assert "spark.ui.enabled=false" in mllib and "SPARK_SUBMIT_OPTS_EXTRA" not in mllib_env
    assert mllib_env["PYSPARK_PYTHON"] == ours_env["PYSPARK_PYTHON"] == "/venv/bin/python"
    assert "--no-distance" not in mllib
    bare, _ = job.mllib_command(config(mllib_distance=False), data, out, launch(), tmp_path)
    assert bare[-1] == "--no-distance"


def test_local_spark_conf_leaves_out_the_master_and_our_keys(tmp_path: Path) -> None:
    toml = tmp_path / "local.toml"
    toml.write_text(
        '[job]\nk = 5\n[spark]\n"spark.master" = "local[*]"\n"spark.ui.enabled" = "false"\n'
        '"kmeans_spark.logLevel" = "INFO"\n'
    )
    assert job.local_spark_conf(toml) == {"spark.ui.enabled": "false"}


# -- phases ---------------------------------------------------------------------------------

ENGINE = {"load": 2.0, "init": 1.0, "lloyd": 0.5, "total": 3.6}


def test_ours_phases_with_and_without_the_statistics_pass() -> None:
    old = {
        "seconds": {
            "input_stats": 1.0,
            "fit": 4.0,
            "write_model": 0.5,
            "write_assignments": 1.5,
            "engine": ENGINE,
        }
    }
    phases = job.ours_phases(old, wall=10.0)
    assert phases["read"] == 1.0 and phases["fit_load"] == 2.0
    assert phases["fit_rest"] == pytest.approx(0.5)
    assert phases["other"] is None
    assert phases["outside"] == pytest.approx(3.0) and phases["wall"] == 10.0
    new = {
        "seconds": {
            "fit": 4.0,
            "write_model": 0.5,
            "write_assignments": 1.5,
            "engine": ENGINE,
            "scale": 0.25,
        }
    }
    phases = job.ours_phases(new, wall=10.0)
    assert phases["read"] is None  # not a zero: the run had no such phase
    assert phases["other"] == 0.25  # a phase a later build added is not lost
    assert phases["outside"] == pytest.approx(3.75)


def test_mllib_phases_split_the_fit_by_its_log() -> None:
    summary = {
        "seconds": {
            "read_cache": 2.0,
            "fit": 6.0,
            "write_model": 1.0,
            "write_assignments": 2.0,
            "session": 3.0,
            "script": 14.0,
        }
    }
    phases = job.mllib_phases(summary, {"init_s": 1.5, "iterations_s": 3.5}, wall=20.0)
    assert (phases["fit_init"], phases["fit_iterations"]) == (1.5, 3.5)
    assert phases["fit_rest"] == pytest.approx(1.0) and phases["fit_load"] is None
    assert phases["outside"] == pytest.approx(9.0)  # session and script are not phases
    unlogged = job.mllib_phases(summary, {}, wall=20.0)
    assert unlogged["fit_init"] is None and unlogged["fit_rest"] is None


# -- checks ---------------------------------------------------------------------------------


def test_size_problems() -> None:
    assert job.size_problems([3, 3, 4], k=3, n=10) == []
    assert job.size_problems([5, 5], k=3, n=10) == ["2 cluster sizes, expected k=3"]
    assert job.size_problems([6, 0, 4], k=3, n=10) == ["1 empty clusters of 3"]
    assert job.size_problems([3, 3, 3], k=3, n=10) == ["cluster sizes add up to 9, expected n=10"]


def test_assignment_check() -> None:
    predictions = np.array([0, 1, 1, 2])
    distances = np.array([1.0, 1.0, 0.0, 2.0])  # SSE 6
    facts, problems = job.assignment_check(predictions, distances, 3, 4, [1, 2, 1], cost=6.0)
    assert problems == [] and facts == {"rows": 4, "nonempty_clusters": 3, "sse": 6.0}
    _, problems = job.assignment_check(predictions, distances, 3, 4, [2, 1, 1], cost=5.0)
    assert problems == [
        "assignment counts per cluster differ from the reported cluster sizes",
        "assignments' SSE 6 exceeds the reported cost 5",
    ]
    _, problems = job.assignment_check(
        np.array([0, 3]), np.array([np.nan, 1.0]), 3, 3, [1, 1, 1], cost=10.0
    )
    assert problems == [
        "assignments have 2 rows, expected n=3",
        "1 predictions outside [0, 3)",
        "assignment counts per cluster differ from the reported cluster sizes",
        "1 distances missing, negative or not finite",
    ]
    facts, problems = job.assignment_check(predictions, None, 3, 4, [1, 2, 1], cost=6.0)
    assert problems == [] and "sse" not in facts


def test_read_assignments_skips_spark_files(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = tmp_path / "assignments"
    out.mkdir()
    for i, (pred, dist) in enumerate([([0, 1], [0.5, 1.0]), ([1], [2.0])]):
        table = pa.table({"id": [f"p{i}"] * len(pred), "prediction": pred, "distance": dist})
        pq.write_table(table, out / f"part-{i}.parquet")
    (out / "_SUCCESS").write_text("")
    (out / ".part-0.parquet.crc").write_bytes(b"\x00")
    predictions, distances = job.read_assignments(out)
    assert sorted(predictions.tolist()) == [0, 1, 1]
    assert distances is not None and sorted(distances.tolist()) == [0.5, 1.0, 2.0]
    pq.write_table(pa.table({"prediction": [0]}), tmp_path / "bare.parquet")
    assert job.read_assignments(tmp_path / "bare.parquet")[1] is None


# -- summary and tables ---------------------------------------------------------------------


def run(wall: float, ok: bool = True, **phases: float) -> dict[str, Any]:
    return {
        "ok": ok,
        "wall_s": wall,
        "phases": {"wall": wall, **phases},
        "iterations": 3,
        "cost": 1.0,
    }


def test_summarize_variant_uses_good_runs_only() -> None:
    runs = [run(10.0, fit=4.0), run(12.0, fit=6.0), run(1.0, ok=False, fit=0.1)]
    s = job.summarize_variant(runs)
    assert (s["runs_ok"], s["runs"]) == (2, 3)
    assert (s["wall_median_s"], s["wall_min_s"]) == (11.0, 10.0)
    assert s["phases_median_s"]["fit"] == 5.0 and s["phases_median_s"]["read"] is None
    none = job.summarize_variant([run(1.0, ok=False)])
    assert none["wall_median_s"] is None and none["wall_min_s"] is None


def test_tables_show_missing_values_as_dashes() -> None:
    ours = job.summarize_variant([run(6.0, fit=3.0)])
    mllib = job.summarize_variant([run(12.0, fit=4.0, read=2.0)])
    result = {
        "preset": "job16",
        "n": 100,
        "d": 16,
        "k": 10,
        "target": 0.6,
        "summary": {"ours": ours, "mllib": mllib},
        "ratio_median": 0.5,
        "ratio_min": 0.5,
    }
    wall = job.wall_table([result])
    assert wall[2].split()[-7:] == ["6.0", "6.0", "12.0", "12.0", "0.50", "0.50", "0.60"]
    phases = {line.split("  ")[0].strip(): line for line in job.phase_table(result)[2:]}
    assert phases["read (+stats | +cache)"].split()[-3:] == ["-", "2.00", "-"]
    assert phases["fit"].split()[-3:] == ["3.00", "4.00", "0.75"]


# -- mllib_job.py ---------------------------------------------------------------------------


def test_mllib_job_selects_the_columns_our_job_does() -> None:
    columns = ["id", "x0", "x1", "x10", "label"]
    assert mllib_job.match_features(columns, ["x*"], ["id"]) == ["x0", "x1", "x10"]
    assert mllib_job.match_features(columns, ["x1", "x*"], []) == ["x1", "x0", "x10"]
    with pytest.raises(ValueError, match="'y\\*' matches no column"):
        mllib_job.match_features(columns, ["y*"], [])


def test_mllib_job_arguments() -> None:
    args = mllib_job.parse_args(["--input", "in", "--features", "x*", "--k", "3", "--output", "o"])
    assert (args.seed, args.max_iter, args.tol, args.mode, args.distance) == (
        42,
        20,
        1e-4,
        "error",
        True,
    )
    assert isinstance(args, argparse.Namespace)
    with pytest.raises(SystemExit):
        mllib_job.parse_args(["--input", "i", "--features", "x", "--k", "1", "--output", "o"])


def test_mllib_job_writes_its_summary_only_on_local_paths() -> None:
    assert mllib_job.local_path("/tmp/out") == "/tmp/out"
    assert mllib_job.local_path("rel/out") == "rel/out"
    assert mllib_job.local_path("file:///tmp/out") == "/tmp/out"
    assert mllib_job.local_path("hdfs://nn/out") is None
    assert mllib_job.local_path("s3a://bucket/out") is None
