"""The model-selection benchmark's pure helpers (scripts/benchkit/sweep.py): its command line,
min/median, the goals' ratios and verdicts, the per-k quality rows and the printed tables,
against hand-computed values. No JVM: the module imports pyspark only inside the functions
that run Spark."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
if str(SCRIPTS) not in sys.path:  # scripts/ is not a package; a script there has it on sys.path
    sys.path.insert(0, str(SCRIPTS))

from benchkit.sweep import (  # noqa: E402
    VARIANT_KEYS,
    Goal,
    SweepRun,
    goal_rows,
    goal_table,
    goals,
    parse_args,
    quality_rows,
    quality_summary,
    quality_table,
    relative_difference,
    restarts_record,
    time_stats,
    time_table,
    variant_labels,
)


def stats(min_s: float, median_s: float) -> dict[str, Any]:
    return {"min_s": min_s, "median_s": median_s, "passes": 1, "iters_sum": 1}


def test_parse_args_defaults_are_the_issue_goal() -> None:
    _, cfg = parse_args([])
    assert (cfg.preset, cfg.n, cfg.d, cfg.k) == ("medium", 1_000_000, 16, 10)
    assert (cfg.max_iter, cfg.tol, cfg.repeats, cfg.n_init) == (20, 1e-4, 3, 5)
    assert cfg.ks == list(range(2, 16))
    assert cfg.variants == list(VARIANT_KEYS)
    assert cfg.json_path.name == "sweep.json"
    assert cfg.input_cols[:2] == ["x0", "x1"] and len(cfg.input_cols) == 16


def test_parse_args_overrides_and_variant_subset_in_table_order() -> None:
    _, cfg = parse_args(
        ["--preset", "small", "--k", "4", "--k-max", "6", "--variants", "mllib_loop,sweep"]
    )
    assert (cfg.n, cfg.d, cfg.k) == (200_000, 2, 4)
    assert cfg.ks == [2, 3, 4, 5, 6]
    assert cfg.variants == ["sweep", "mllib_loop"]


@pytest.mark.parametrize(
    "argv",
    [
        ["--variants", "nope"],
        ["--k-min", "1"],
        ["--k-min", "5", "--k-max", "4"],
        ["--n-init", "1"],
        ["--repeats", "0"],
        ["--preset", "huge"],
    ],
)
def test_parse_args_refuses_bad_values(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse_args(argv)
    assert info.value.code == 2
    assert capsys.readouterr().err  # one line saying what is wrong


def test_variant_labels_name_the_ks() -> None:
    labels = variant_labels(2, 15, 10, 5)
    assert list(labels) == list(VARIANT_KEYS)
    assert labels["mllib_loop"] == "MLlib loop (14 fits)"
    assert labels["ours_kmax"] == "ours fit k=15"
    assert labels["ours_ninit"] == "ours nInit=5 k=10"


def test_time_stats_min_median_and_last_passes() -> None:
    runs = [
        {"seconds": 3.0, "passes": 20, "iters_sum": 200},
        {"seconds": 1.0, "passes": 20, "iters_sum": 200},
        {"seconds": 2.0, "passes": 19, "iters_sum": 190},
    ]
    out = time_stats(runs)
    assert (out["min_s"], out["median_s"]) == (1.0, 2.0)
    assert (out["passes"], out["iters_sum"]) == (19, 190)
    assert out["seconds"] == [3.0, 1.0, 2.0]


def test_goal_rows_ratios_and_verdicts() -> None:
    measured = {
        "sweep": stats(2.0, 3.0),
        "mllib_loop": stats(40.0, 20.0),
        "ours_kmax": stats(1.0, 1.0),
        "ours_ninit1": stats(1.0, 2.0),
        "ours_ninit": stats(2.0, 4.0),
    }
    rows = {r["goal"]: r for r in goal_rows(measured, goals(15, 5))}
    # goals whose variants did not run (sweep_metrics, ours_loop) are left out
    assert list(rows) == ["sweep / MLlib loop", "sweep / ours fit k=15", "nInit=5 / nInit=1"]
    loop = rows["sweep / MLlib loop"]
    assert (loop["ratio_min"], loop["ratio_median"]) == (0.05, 0.15)
    assert (loop["met_min"], loop["met_median"]) == (True, False)
    fit = rows["sweep / ours fit k=15"]
    assert (fit["ratio_min"], fit["met_median"]) == (2.0, True)
    restarts = rows["nInit=5 / nInit=1"]
    assert restarts["ratio_median"] == 2.0 and restarts["met_median"] is True  # <= target
    assert all(r["binding"] for r in rows.values())


def test_goal_rows_missing_ratio_has_no_verdict() -> None:
    measured = {"a": stats(1.0, math.nan), "b": stats(0.0, 1.0)}
    (row,) = goal_rows(measured, [Goal("a / b", "a", "b", 1.0, binding=False)])
    assert row["ratio_min"] is None and row["met_min"] is None  # b's minimum is 0
    assert row["ratio_median"] is None and row["met_median"] is None  # a's median is NaN
    assert row["binding"] is False


def test_goal_table_marks_info_rows_and_missing_values() -> None:
    rows = [
        {
            "goal": "sweep / MLlib loop",
            "binding": True,
            "target": 0.1,
            "ratio_min": 0.05,
            "ratio_median": 0.0625,
            "met_min": True,
            "met_median": True,
        },
        {
            "goal": "x / y",
            "binding": False,
            "target": 4.0,
            "ratio_min": None,
            "ratio_median": None,
            "met_min": None,
            "met_median": None,
        },
    ]
    head, rule, first, second = goal_table(rows)
    assert head.endswith("target  met") and len(rule) == len(head)
    assert first.startswith("sweep / MLlib loop ")
    assert first.split()[-4:] == ["0.050", "0.062", "0.10", "yes"]
    assert second.startswith("x / y (info)")
    assert second.split()[-4:] == ["-", "-", "4.00", "-"]
    assert len({len(head), len(first), len(second)}) == 1  # columns line up


def test_time_table_rows_in_label_order_and_only_those_run() -> None:
    labels = variant_labels(2, 15, 10, 5)
    measured = {"mllib_loop": stats(30.0, 31.0), "sweep": stats(2.5, 2.75)}
    lines = time_table(labels, measured)
    assert [line.split("  ")[0] for line in lines[2:]] == [
        "ours sweep k=2..15",
        "MLlib loop (14 fits)",
    ]
    assert lines[2].split()[-4:] == ["2.500", "2.750", "1", "1"]


def test_relative_difference() -> None:
    assert relative_difference(101.0, 100.0) == pytest.approx(0.01)
    assert relative_difference(99.0, 100.0) == pytest.approx(0.01)
    assert relative_difference(0.0, 0.0) == 0.0
    assert relative_difference(1.0, 0.0) is None
    assert relative_difference(None, 1.0) is None
    assert relative_difference(math.nan, 1.0) is None


def test_quality_rows_per_k_with_missing_variants() -> None:
    rows = quality_rows(
        [2, 3],
        {"sweep": {2: 10.0, 3: 6.0}, "mllib": {2: 8.0, 3: 6.0}, "ours": {2: 10.0}},
        {"sweep": {2: 4, 3: 7}, "mllib": {2: 5, 3: 20}},
    )
    first, second = rows
    assert first == {
        "k": 2,
        "sweep_sse": 10.0,
        "mllib_sse": 8.0,
        "sweep_over_mllib": 1.25,
        "ours_fit_sse": 10.0,
        "sweep_vs_ours_fit": 0.0,
        "sweep_iters": 4,
        "mllib_iters": 5,
        "ours_fit_iters": None,
    }
    assert second["sweep_over_mllib"] == 1.0
    assert second["ours_fit_sse"] is None and second["sweep_vs_ours_fit"] is None


def test_quality_summary_counts() -> None:
    rows = quality_rows(
        [2, 3, 4],
        {
            "sweep": {2: 2.0, 3: 1.0, 4: 1.0},
            "mllib": {2: 1.0, 3: 2.0, 4: 1.0},
            "ours": {2: 2.0, 3: 1.0 + 1e-12, 4: 1.5},
        },
        {},
    )
    q = quality_summary(rows)
    assert q["sweep_over_mllib_max"] == 2.0
    assert q["sweep_over_mllib_geomean"] == pytest.approx(1.0)  # 2 x 0.5 x 1
    assert (q["ks_worse_than_mllib"], q["ks_compared_with_mllib"]) == (1, 3)
    assert (q["ks_same_as_ours_fit"], q["ks_compared_with_ours_fit"]) == (2, 3)


def test_quality_summary_of_nothing() -> None:
    q = quality_summary(quality_rows([2], {}, {}))
    assert q["sweep_over_mllib_max"] is None and q["sweep_over_mllib_geomean"] is None
    assert q["ks_compared_with_mllib"] == 0 and q["ks_compared_with_ours_fit"] == 0


def test_quality_table_shows_missing_as_dash() -> None:
    rows = quality_rows([2], {"sweep": {2: 5.0}, "mllib": {2: 4.0}}, {"sweep": {2: 3}})
    head, _, line = quality_table(rows)
    assert "sweep/ML" in head and len(line) == len(head)
    values = line.split()
    assert values[0] == "2" and values[3] == "1.2500"
    assert values[4:] == ["-", "-", "3", "-", "-"]


def test_restarts_record() -> None:
    single = {"k": 10, "sse_numpy": 110.0, "iterations": 3, "runCosts": [110.0], "bestRun": 0}
    multi = {
        "k": 10,
        "sse_numpy": 100.0,
        "iterations": 2,
        "runCosts": [120.0, 100.0],
        "bestRun": 1,
    }
    r = restarts_record(single, multi, 100.0)
    assert r is not None
    assert r["ninit_over_ninit1"] == pytest.approx(100.0 / 110.0)
    assert (r["ninit1_over_oracle"], r["ninit_over_oracle"]) == (1.1, 1.0)
    assert (r["ninit_best_run"], r["ninit_run_costs"]) == (1, [120.0, 100.0])
    assert restarts_record(single, None, 100.0) is None
    no_oracle = restarts_record(single, multi, None)
    assert no_oracle is not None and no_oracle["ninit_over_oracle"] is None


def test_sweep_run_record_leaves_the_centres_out() -> None:
    one = SweepRun(1.5, 20, 200, [{"k": 2}], {2: np.zeros((2, 3))}, {"x": 1})
    assert one.record() == {
        "seconds": 1.5,
        "passes": 20,
        "iters_sum": 200,
        "per_k": [{"k": 2}],
        "extra": {"x": 1},
    }


def test_sweep_bench_imports_without_spark() -> None:
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "import benchkit.sweep; "
        "assert not [m for m in sys.modules if m.split('.')[0] in ('pyspark', 'py4j')]"
    )
    subprocess.run([sys.executable, "-c", code, str(SCRIPTS)], check=True)
