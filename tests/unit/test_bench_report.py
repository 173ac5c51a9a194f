"""The benchmark's pure helpers (scripts/benchkit): medians, the MLlib time split, ratios,
the variant order, tables with missing values and plain JSON, against hand-computed values.
No JVM: the modules import pyspark only inside the functions that run Spark."""

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

from benchkit.config import Config  # noqa: E402
from benchkit.report import (  # noqa: E402
    FIT_COLUMNS,
    Column,
    all_ratios,
    fmt,
    jsonable,
    print_ratios,
    print_table,
    ratio,
    ratios,
    summarize,
    summarize_all,
    table_lines,
    table_ratios,
)
from benchkit.timing import (  # noqa: E402
    first_iteration_corrected,
    interleaved,
    median_of,
    rotated,
    split_fixed_cost,
)
from benchkit.variants import Run  # noqa: E402

NAN = math.nan


def run(total: float, seed: float, per_iter: float, iters: int, **extra: Any) -> dict[str, Any]:
    """A run record as ``Run.record()`` writes it (the fields ``summarize`` reads)."""
    return {
        "total_s": total,
        "seed_s": seed,
        "s_per_iter": per_iter,
        "iters": iters,
        "reported_cost": 7.0,
        "extra": extra,
    }


def medians_row(seed: float, per_iter: float, iters: float, total: float) -> dict[str, Any]:
    other = total - seed - per_iter * iters
    return {
        "seed_s": seed,
        "s_per_iter": per_iter,
        "iters": iters,
        "total_s": total,
        "other_s": other,
        "non_iter_s": seed + other,
        "sse": 100.0,
    }


# -- medians and the split ------------------------------------------------------------------


def test_median_of_skips_nan_and_averages_the_middle_pair() -> None:
    runs = [{"t": 4.0}, {"t": NAN}, {"t": 1.0}, {"t": 2.0}, {"t": 10.0}]
    assert median_of(runs, "t") == 3.0  # median of 1, 2, 4, 10
    assert math.isnan(median_of([{"t": NAN}], "t"))
    assert math.isnan(median_of([], "t"))


def test_split_fixed_cost_by_difference() -> None:
    # 5 iterations in 3 s, 1 iteration in 1 s: 2 s for 4 iterations, 1 - 0.5 s fixed
    seed, per_iter, method = split_fixed_cost(3.0, 5, 1.0, fallback=9.0)
    assert (seed, per_iter) == (0.5, 0.5)
    assert method == "(t_full - t_maxIter1) / (iters - 1)"


def test_split_fixed_cost_one_iteration_uses_the_fallback() -> None:
    seed, per_iter, method = split_fixed_cost(3.0, 1, 1.0, fallback=0.25)
    assert (seed, per_iter) == (0.75, 0.25)
    assert method.startswith("fallback")


def test_split_fixed_cost_noise_is_not_measured() -> None:
    seed, per_iter, method = split_fixed_cost(1.0, 5, 1.5, fallback=0.25)
    assert math.isnan(seed) and math.isnan(per_iter)
    assert "noise" in method


def test_first_iteration_corrected_takes_out_the_first_jobs_excess() -> None:
    # later jobs' median 0.1 s: the first iteration's one-off work is 0.4 - 0.1 = 0.3 s
    per_iter, method = first_iteration_corrected(1.0, 4, [0.4, 0.1, 0.25, 0.1])
    assert per_iter == pytest.approx((1.0 - 0.3) / 4)
    assert "first-iteration excess" in method
    # a first job faster than the rest takes nothing out
    assert first_iteration_corrected(1.0, 2, [0.1, 0.5])[0] == 0.5
    # jobs not matching the iterations: the plain mean
    per_iter, method = first_iteration_corrected(1.0, 4, [0.4, 0.1])
    assert (per_iter, method) == (0.25, "MLlib log, mean over iterations")


def test_summarize_measured_row() -> None:
    runs = [run(1.0, 0.2, 0.1, 4), run(2.0, 0.4, 0.3, 6), run(1.5, 0.3, 0.2, 5)]
    m = summarize("ours", runs, sse_value=12.5, fallback=9.0)
    assert (m["total_s"], m["seed_s"], m["s_per_iter"], m["iters"]) == (1.5, 0.3, 0.2, 5)
    assert m["other_s"] == pytest.approx(1.5 - 0.3 - 0.2 * 5)  # from the medians
    assert m["non_iter_s"] == pytest.approx(0.3 + 0.2)
    assert m["split_method"] == "measured"
    assert m["sse"] == 12.5 and m["reported_cost"] == 7.0


def test_summarize_mllib_by_difference_splits_the_medians() -> None:
    # medians: total 3 s, maxIter=1 fit 1 s, 5 iterations -> 0.5 s/iter, 0.5 s seed
    runs = [
        run(2.0, NAN, NAN, 5, t_maxIter1_s=1.2),
        run(3.0, NAN, NAN, 5, t_maxIter1_s=0.8),
        run(10.0, NAN, NAN, 5, t_maxIter1_s=1.0),
    ]
    m = summarize("mllib_auto", runs, sse_value=1.0, fallback=9.0)
    assert (m["t_maxIter1_s"], m["seed_s"], m["s_per_iter"]) == (1.0, 0.5, 0.5)
    assert m["other_s"] == 0.0 and m["non_iter_s"] == 0.5
    assert m["split_method"] == "(t_full - t_maxIter1) / (iters - 1)"


def test_summarize_all_mllib_rdd_row_gives_the_fallback() -> None:
    raw = {
        "mllib_rdd_init": [run(2.0, 0.0, 0.25, 4, split_method="MLlib log")],
        "mllib_auto": [run(2.0, NAN, NAN, 1, t_maxIter1_s=1.5)],  # one iteration
    }
    medians = summarize_all(
        ["mllib_rdd_init", "mllib_auto"], raw, {"mllib_rdd_init": 1.0, "mllib_auto": 2.0}
    )
    auto = medians["mllib_auto"]
    assert (auto["s_per_iter"], auto["seed_s"]) == (0.25, 1.25)  # 1.5 - 0.25
    assert auto["split_method"] == "fallback (full fit ran 1 iteration)"
    assert auto["sse"] == 2.0 and medians["mllib_rdd_init"]["split_method"] == "MLlib log"


def test_summarize_all_without_mllib_rdd_falls_back_to_own_mean() -> None:
    raw = {"mllib_row": [run(3.0, NAN, NAN, 1, t_maxIter1_s=2.0)]}
    m = summarize_all(["mllib_row"], raw, {"mllib_row": 0.0})["mllib_row"]
    assert (m["s_per_iter"], m["seed_s"]) == (3.0, -1.0)  # total / iters, then 2 - 3


def test_run_record_other_seconds() -> None:
    r = Run(2.0, 0.5, 0.25, 4, 1.0, 3.0, centers=np.zeros((2, 2)), extra={"a": 1})
    record = r.record()
    assert "centers" not in record
    assert record["other_s"] == 0.5  # 2 - 0.5 - 4 x 0.25
    assert record["extra"] == {"a": 1}


# -- ratios ---------------------------------------------------------------------------------


def test_ratio_missing_values() -> None:
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(0.0, 2.0) == 0.0
    assert ratio(None, 2.0) is None and ratio(1.0, None) is None
    assert ratio(NAN, 2.0) is None and ratio(1.0, NAN) is None
    assert ratio(1.0, 0.0) is None


def test_ratios_and_no_seed_ratio_with_given_centres() -> None:
    ours = medians_row(seed=0.5, per_iter=0.1, iters=2, total=1.0)  # other 0.3, non-iter 0.8
    ref = medians_row(seed=2.0, per_iter=0.4, iters=2, total=4.0)  # other 1.2, non-iter 3.2
    assert ratios(ours, ref) == pytest.approx(
        {"seed": 0.25, "non_iter": 0.25, "s_per_iter": 0.25, "total": 0.25}
    )
    given = medians_row(seed=0.0, per_iter=0.1, iters=2, total=1.0)
    assert ratios(given, ref)["seed"] is None


def test_table_and_all_ratios_only_where_both_ran() -> None:
    row = medians_row(seed=1.0, per_iter=0.5, iters=2, total=4.0)
    half = medians_row(seed=0.5, per_iter=0.25, iters=2, total=2.0)
    medians = {"ours": half, "ours_init": half, "mllib_auto": row, "mllib_row": row}
    assert set(table_ratios(medians)) == {"ours"}  # ours_init's reference did not run
    assert table_ratios(medians)["ours"]["total"] == 0.5
    assert list(all_ratios(medians)) == [
        "ours/mllib_auto",
        "ours/mllib_row",
        "ours_init/mllib_auto",
        "ours_init/mllib_row",
    ]


# -- the variant order ----------------------------------------------------------------------


def test_order_rotates_by_one_each_repeat() -> None:
    assert rotated(["a", "b", "c"], 4) == ["b", "c", "a"]
    assert rotated([], 3) == []
    assert list(interleaved(["a", "b", "c"], 4)) == [
        (0, "a"), (0, "b"), (0, "c"),
        (1, "b"), (1, "c"), (1, "a"),
        (2, "c"), (2, "a"), (2, "b"),
        (3, "a"), (3, "b"), (3, "c"),
    ]  # fmt: skip


# -- tables ---------------------------------------------------------------------------------


def test_fmt_missing_values_keep_the_width() -> None:
    assert fmt(1.23456, "8.3f") == "   1.235"
    assert fmt(None, "8.3f") == "       -"
    assert fmt(NAN, "10.2f") == "         -"
    assert fmt(None, ".4f") == "-"  # no width: one character
    assert fmt(3, "5.0f") == "    3"
    assert Column("x", "12.6g").width == 12 and Column("x", ".2f").width == 1


def test_table_lines_with_missing_values() -> None:
    columns = [Column("a", "6.2f"), Column("bb", "4.0f")]
    lines = table_lines("name", 5, columns, [("x", [1.5, None]), ("yy", [NAN, 12.0])])
    assert lines == [
        "name       a   bb",
        "-----------------",
        "x       1.50    -",
        "yy         -   12",
    ]
    assert table_lines("name", 5, columns, [], rule=False) == ["name       a   bb"]
    with pytest.raises(ValueError):  # a row with a value missing from the list, not None
        table_lines("name", 5, columns, [("x", [1.0])])


def test_fit_table_header_is_unchanged() -> None:
    head = table_lines("variant", 20, FIT_COLUMNS, [])[0]
    assert head == (
        "variant                seed s   s/iter iters  other s  total s          SSE  SSE/sk "
        "/ML seed /ML s/iter /ML total"
    )


def _config() -> Config:
    return Config(
        preset="small", n=10, d=2, k=3, spread=1.0, data_seed=0, seed=1, partitions=2,
        max_iter=20, repeats=1, variants=["ours", "mllib_auto"], floor=False,
        json_path=Path("b.json"), data_dir=Path("data"),
    )  # fmt: skip


def test_print_table_without_scikit_learn(capsys: pytest.CaptureFixture[str]) -> None:
    ours = medians_row(seed=0.5, per_iter=0.125, iters=2, total=1.0)  # other 0.25
    ml = medians_row(seed=1.0, per_iter=NAN, iters=2, total=4.0)
    ours["sse"] = 1234.5
    medians = {"ours": ours, "mllib_auto": ml}
    print_table(_config(), medians, table_ratios(medians))
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == (
        "== preset small: n=10 d=2 k=3 spread=1 partitions=2 maxIter=20 repeats=1 (medians)"
    )
    assert lines[4] == (
        "ours                    0.500   0.1250     2    0.250    1.000       1234.5       - "
        "    0.50          -      0.25"
    )
    assert lines[5] == (
        "MLlib auto              1.000        -     2        -    4.000          100       - "
        "       -          -         -"
    )


def test_print_ratios_rows(capsys: pytest.CaptureFixture[str]) -> None:
    print_ratios({"ours_f32/mllib_rdd_init": {"seed": None, "non_iter": 0.5, "s_per_iter": 2.0,
                                              "total": NAN}})  # fmt: skip
    assert capsys.readouterr().out.splitlines() == [
        "ratios ours / MLlib (all pairs)              seed non-iter   s/iter    total",
        "  ours float32 / MLlib RDD same-init            -     0.50     2.00        -",
    ]
    print_ratios({})
    assert capsys.readouterr().out == ""


# -- JSON and the import ----------------------------------------------------------------------


def test_jsonable_is_plain_json() -> None:
    value = {
        1: (NAN, math.inf, np.float32(0.5), np.int64(3)),
        "p": Path("/x"),
        "ok": [True, None, "s"],
    }
    assert jsonable(value) == {"1": [None, None, 0.5, 3], "p": "/x", "ok": [True, None, "s"]}
    assert type(jsonable(np.int64(3))) is int


def test_benchkit_imports_without_spark() -> None:
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "import benchkit.fit, benchkit.report, benchkit.timing; "
        "assert not [m for m in sys.modules if m.split('.')[0] in ('pyspark', 'py4j')]"
    )
    subprocess.run([sys.executable, "-c", code, str(SCRIPTS)], check=True)
