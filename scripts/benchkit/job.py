"""The end-to-end job benchmark (scripts/bench_job.py): the nightly fit as a scheduler runs
it, ours (``scripts/submit.sh fit``) against the same job in plain MLlib
(``scripts/mllib_job.py``), each a fresh ``spark-submit`` subprocess timed from outside.

Why from outside: the issue's goal is the job end to end, so the wall time of the whole
subprocess counts (JVM start, session, read, fit, model, assignments, commit), not only
``fit()``. Both get the same master, ``--driver-memory``, input files and the Spark
settings of ``conf/local.toml``'s ``[spark]`` table (ours reads that file; MLlib's gets it
as ``--conf``), so what differs is the application. The two alternate, their order rotated
each repeat (``timing.interleaved``); the OS page cache is primed with the input first, so
the first run does not pay for a cold disk.

Phases come from each run's own summary: ours' ``summary.json`` ``seconds`` (its engine's
``load``/``init``/``lloyd`` inside ``fit``), MLlib's ``summary.json`` written by
mllib_job.py, its fit split by MLlib's own log lines ("Initialization with k-means|| took",
"Iterations took"; a generated log4j2 file routes them to a file, as scripts/bench.py
does). Every run is checked: exit 0, k non-empty clusters whose sizes add up to the rows,
and the assignments read back with pyarrow (rows, per-cluster counts equal to the reported
sizes, distances finite and their squares adding up to no more than the reported cost).

Only ``run_preset``'s subprocesses touch Spark; this module never imports pyspark, so the
pure helpers are unit-tested without a JVM (tests/unit/test_bench_job.py).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchkit.config import REPO, add_names, check_at_least
from benchkit.data import make_data
from benchkit.memory import machine
from benchkit.report import Column, ratio, table_lines, write_json
from benchkit.spark import LOG4J2_TEMPLATE, MllibLog
from benchkit.timing import interleaved

#: The issue's shapes: rows, features, clusters and the target of ours / MLlib wall time.
JOB_PRESETS: dict[str, dict[str, Any]] = {
    "job16": {"n": 2_000_000, "d": 16, "k": 10, "target": 0.6},
    "job64": {"n": 1_000_000, "d": 64, "k": 100, "target": 0.3},
}

VARIANTS: dict[str, str] = {"ours": "ours (submit.sh fit)", "mllib": "MLlib (mllib_job.py)"}

#: The normalised phases of one run, in table order, and their labels. ``fit_*`` are parts
#: of ``fit``; ``outside`` is the wall time no phase covers (spark-submit and the JVM,
#: the session, imports, reading the schema, ours' commit and summary files).
PHASES: dict[str, str] = {
    "read": "read (+stats | +cache)",
    "fit": "fit",
    "fit_load": "  load blocks",
    "fit_init": "  k-means||",
    "fit_iterations": "  iterations",
    "fit_rest": "  rest of fit",
    "other": "other phases",
    "write_model": "write model",
    "write_assignments": "write assignments",
    "outside": "outside phases",
    "wall": "wall (subprocess)",
}

PHASE_NOTES = """\
read     MLlib: read + VectorAssembler + cache + count. ours: its separate statistics pass
         (input_stats) where the build has one; else ours reads in its fit's load.
fit      ours: KMeans.fit, its engine's load / k-means|| / Lloyd below it (summary.json);
         MLlib: KMeans.fit, k-means|| and iterations from its own log lines.
other    any other phase ours' summary.json reports ("-": none).
outside  wall - the phases above it: spark-submit, JVM and session start, imports, the
         input's schema, ours' summary files and commit, the session stop.
"-"      the run has no such phase (or did not report it)."""

#: Column names a run must write to its assignments (besides the id columns).
ASSIGNMENT_COLUMNS = ("prediction", "distance")
FEATURE_PATTERN = "x*"
ID_COL = "id"


@dataclass
class JobConfig:
    preset: str
    n: int
    d: int
    k: int
    target: float
    spread: float
    data_seed: int
    files: int
    seed: int
    max_iter: int
    tol: float
    repeats: int
    data_dir: Path
    mllib_distance: bool = True


@dataclass
class Launch:
    """How both jobs are submitted: the same master, driver memory, Python and Spark."""

    master: str
    driver_memory: str
    spark_conf: dict[str, str]
    python: str
    spark_home: str
    timeout_s: float


# -- arguments ------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, list[JobConfig]]:
    p = argparse.ArgumentParser(
        description="The fit job end to end: ours (spark-submit) against plain MLlib.",
        epilog="See scripts/benchkit/job.py for what is timed and checked.",
    )
    add_names(p, "--preset", list(JOB_PRESETS), list(JOB_PRESETS), "preset")
    p.add_argument("--repeats", type=int, default=3, help="runs of each job, alternating")
    p.add_argument("--rows", type=int, help="rows, overriding every preset's (smoke tests)")
    p.add_argument("--files", type=int, default=4, help="Parquet files of the input")
    p.add_argument("--spread", type=float, default=1.0, help="blob std (centres in [-10,10]^d)")
    p.add_argument("--data-seed", type=int, default=0)
    p.add_argument("--seed", type=int, default=42, help="both fits' seed (our job's default)")
    p.add_argument("--max-iter", type=int, default=20)
    p.add_argument("--tol", type=float, default=1e-4)
    p.add_argument("--master", default="local[2]")
    p.add_argument("--driver-memory", default="8g", help="spark-submit --driver-memory, both")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds per subprocess")
    p.add_argument("--data-dir", default=str(REPO / "bench-data"))
    p.add_argument(
        "--scratch-dir",
        default=str(REPO / "bench-results"),
        help="where the runs' outputs go (a temporary directory in it, removed at the end)",
    )
    p.add_argument(
        "--mllib-no-distance",
        action="store_true",
        help="MLlib's assignments without the distance column (what the column costs it)",
    )
    p.add_argument("--json", default=str(REPO / "bench-results" / "job.json"))
    args = p.parse_args(argv)
    check_at_least(p, args, repeats=1, files=1, rows=1000)
    configs = []
    for name in args.preset:
        preset = JOB_PRESETS[name]
        configs.append(
            JobConfig(
                preset=name,
                n=args.rows or preset["n"],
                d=preset["d"],
                k=preset["k"],
                target=preset["target"],
                spread=args.spread,
                data_seed=args.data_seed,
                files=args.files,
                seed=args.seed,
                max_iter=args.max_iter,
                tol=args.tol,
                repeats=args.repeats,
                data_dir=Path(args.data_dir),
                mllib_distance=not args.mllib_no_distance,
            )
        )
    return args, configs


# -- data -----------------------------------------------------------------------------------

#: Written last into a data directory: its presence says the directory is complete (Spark
#: skips names starting with "_"), and it keeps the oracle SSE for the report.
DATA_META = "_bench.json"


def data_dir(cfg: JobConfig) -> Path:
    name = (
        f"job-n{cfg.n}-d{cfg.d}-k{cfg.k}-spread{cfg.spread:g}-seed{cfg.data_seed}-files{cfg.files}"
    )
    return cfg.data_dir / name


def job_data(cfg: JobConfig) -> tuple[Path, dict[str, Any]]:
    """The input directory: ``files`` Parquet files of ``id`` (text), ``x0..x{d-1}`` and
    ``label`` (``kmeans_spark.datagen``, as the job's tests and demo have them), generated
    once into a temporary sibling and renamed, so a killed run never leaves half a data
    set that a later run would take as complete."""
    from kmeans_spark.datagen import write_blobs

    path = data_dir(cfg)
    if (path / DATA_META).is_file():
        return path, {
            "path": str(path),
            "reused": True,
            **json.loads((path / DATA_META).read_text()),
        }
    t0 = time.perf_counter()
    blobs, meta = make_data(cfg)
    meta["files"] = cfg.files
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    write_blobs(str(tmp), blobs, "parquet", files=cfg.files)
    (tmp / DATA_META).write_text(json.dumps(meta, indent=1))
    shutil.rmtree(path, ignore_errors=True)  # an incomplete earlier one (no _bench.json)
    os.replace(tmp, path)
    return path, {
        "path": str(path),
        "reused": False,
        "generate_s": time.perf_counter() - t0,
        **meta,
    }


def prime_page_cache(path: Path) -> int:
    """Read every file under ``path`` once, so neither job's first run pays a cold disk."""
    total = 0
    for file in sorted(path.rglob("*")):
        if file.is_file():
            with open(file, "rb") as fh:
                while chunk := fh.read(1 << 24):
                    total += len(chunk)
    return total


# -- the two commands -----------------------------------------------------------------------


def local_spark_conf(path: Path = REPO / "conf" / "local.toml") -> dict[str, str]:
    """``[spark]`` of our local config, less what is not a Spark setting for spark-submit
    (``spark.master``: spark-submit's own flag; ``kmeans_spark.*``: our job's log level)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    with open(path, "rb") as fh:
        table = tomllib.load(fh).get("spark", {})
    return {
        str(k): str(v)
        for k, v in table.items()
        if k != "spark.master" and not str(k).startswith("kmeans_spark.")
    }


def default_launch(args: argparse.Namespace) -> Launch:
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("pyspark is not installed in this Python; run scripts/setup.sh")
    return Launch(
        master=args.master,
        driver_memory=args.driver_memory,
        spark_conf=local_spark_conf(),
        python=sys.executable,
        spark_home=str(next(iter(spec.submodule_search_locations))),
        timeout_s=args.timeout,
    )


def job_flags(cfg: JobConfig, data: Path, out: Path) -> list[str]:
    """The flags both jobs share (mllib_job.py takes our job's names for them)."""
    flags = {
        "--input": str(data),
        "--features": FEATURE_PATTERN,
        "--id-cols": ID_COL,
        "--k": str(cfg.k),
        "--seed": str(cfg.seed),
        "--max-iter": str(cfg.max_iter),
        "--tol": repr(cfg.tol),
        "--output": str(out),
        "--mode": "overwrite",
    }
    return [arg for pair in flags.items() for arg in pair]


def base_env(launch: Launch) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SPARK_SUBMIT_OPTS_EXTRA"}
    env.update(
        SPARK_HOME=launch.spark_home,
        PYSPARK_PYTHON=launch.python,
        PYSPARK_DRIVER_PYTHON=launch.python,
        SPARK_LOCAL_IP="127.0.0.1",
    )
    return env


def ours_command(
    cfg: JobConfig, data: Path, out: Path, launch: Launch
) -> tuple[list[str], dict[str, str]]:
    """``scripts/submit.sh fit``, as the README's cron line runs it; the driver memory goes
    through ``SPARK_SUBMIT_OPTS_EXTRA`` (submit.sh's extra spark-submit options)."""
    argv = [
        "bash",
        str(REPO / "scripts" / "submit.sh"),
        "--master",
        launch.master,
        "fit",
        "--format",
        "parquet",
        *job_flags(cfg, data, out),
    ]
    env = base_env(launch)
    env["KMEANS_SPARK_VENV"] = str(Path(launch.python).parent.parent)
    env["SPARK_SUBMIT_OPTS_EXTRA"] = f"--driver-memory {launch.driver_memory}"
    return argv, env


def mllib_command(
    cfg: JobConfig, data: Path, out: Path, launch: Launch, log4j2: Path
) -> tuple[list[str], dict[str, str]]:
    """``spark-submit scripts/mllib_job.py`` with the same master, memory and settings;
    ``log4j2`` keeps warnings on the console and sends MLlib's timing lines to a file."""
    conf = [arg for key, value in launch.spark_conf.items() for arg in ("--conf", f"{key}={value}")]
    argv = [
        str(Path(launch.spark_home) / "bin" / "spark-submit"),
        "--master",
        launch.master,
        "--driver-memory",
        launch.driver_memory,
        "--driver-java-options",
        f"-Dlog4j2.configurationFile=file:{log4j2}",
        *conf,
        str(REPO / "scripts" / "mllib_job.py"),
        *job_flags(cfg, data, out),
        *([] if cfg.mllib_distance else ["--no-distance"]),
    ]
    return argv, base_env(launch)


@dataclass
class Process:
    code: int
    wall_s: float
    tail: str


def run_process(argv: list[str], env: dict[str, str], log_stem: Path, timeout: float) -> Process:
    """Run one job, its stdout and stderr to ``log_stem``.out/.err; wall seconds of the
    whole subprocess; the last lines of both when it failed."""
    with open(f"{log_stem}.out", "w") as out, open(f"{log_stem}.err", "w") as err:
        t0 = time.perf_counter()
        try:
            code = subprocess.run(
                argv,
                stdout=out,
                stderr=err,
                env=env,
                cwd=REPO,
                timeout=timeout,
                check=False,
                stdin=subprocess.DEVNULL,
            ).returncode
        except subprocess.TimeoutExpired:
            code = -1
        wall = time.perf_counter() - t0
    tail = ""
    if code != 0:
        lines = [
            line
            for suffix in (".out", ".err")
            for line in Path(f"{log_stem}{suffix}").read_text(errors="replace").splitlines()
        ]
        tail = "\n".join(lines[-25:])
    return Process(code, wall, tail)


# -- what a run reports ---------------------------------------------------------------------


def _get(mapping: dict[str, Any], key: str) -> float | None:
    value = mapping.get(key)
    return float(value) if isinstance(value, (int, float)) else None


def _minus(total: float | None, *parts: float | None) -> float | None:
    if total is None or any(p is None for p in parts):
        return None
    return total - sum(p for p in parts if p is not None)


#: The phases that do not overlap: the table's outside is the wall time none of them covers.
TOP_PHASES = ("read", "fit", "other", "write_model", "write_assignments")


def with_outside(phases: dict[str, float | None], wall: float) -> dict[str, float | None]:
    """``phases`` plus ``outside`` (the wall time no top-level phase covers; a missing
    phase is one that run did not have) and ``wall``."""
    covered = sum(value for key in TOP_PHASES if (value := phases.get(key)) is not None)
    return {**phases, "outside": wall - covered, "wall": wall}


#: Our summary.json's top-level ``seconds`` keys the table names; any other number there
#: (a phase a later build adds) is summed into ``other``, so no time goes unseen.
OURS_KNOWN_SECONDS = {"input_stats", "fit", "write_model", "write_assignments", "engine"}


def ours_phases(summary: dict[str, Any], wall: float) -> dict[str, float | None]:
    """Our summary.json's ``seconds`` as the table's phases. A key the job no longer writes
    shows as missing, never as zero: since the fit reads, validates and measures the input
    in its own load, ``input_stats`` (the separate statistics pass) is gone."""
    seconds = summary.get("seconds", {})
    engine = seconds.get("engine", {}) if isinstance(seconds.get("engine"), dict) else {}
    fit = _get(seconds, "fit")
    load, init, lloyd = _get(engine, "load"), _get(engine, "init"), _get(engine, "lloyd")
    others = [
        float(v)
        for k, v in seconds.items()
        if k not in OURS_KNOWN_SECONDS and isinstance(v, (int, float))
    ]
    phases = {
        "read": _get(seconds, "input_stats"),
        "fit": fit,
        "fit_load": load,
        "fit_init": init,
        "fit_iterations": lloyd,
        "fit_rest": _minus(fit, load, init, lloyd),
        "other": sum(others) if others else None,
        "write_model": _get(seconds, "write_model"),
        "write_assignments": _get(seconds, "write_assignments"),
    }
    return with_outside(phases, wall)


def mllib_phases(
    summary: dict[str, Any], logged: dict[str, float], wall: float
) -> dict[str, float | None]:
    """mllib_job.py's ``seconds`` as the table's phases; its fit split by MLlib's logged
    initialization and iteration times (``MllibLog.since``); MLlib has no load phase."""
    seconds = summary.get("seconds", {})
    fit = _get(seconds, "fit")
    init, iterations = logged.get("init_s"), logged.get("iterations_s")
    phases = {
        "read": _get(seconds, "read_cache"),
        "fit": fit,
        "fit_load": None,
        "fit_init": init,
        "fit_iterations": iterations,
        "fit_rest": _minus(fit, init, iterations),
        "other": None,
        "write_model": _get(seconds, "write_model"),
        "write_assignments": _get(seconds, "write_assignments"),
    }
    return with_outside(phases, wall)


def size_problems(sizes: Sequence[int], k: int, n: int) -> list[str]:
    """What is wrong with reported cluster sizes for k clusters of n rows ([] if sane)."""
    problems = []
    if len(sizes) != k:
        problems.append(f"{len(sizes)} cluster sizes, expected k={k}")
    empty = sum(1 for s in sizes if s <= 0)
    if empty:
        problems.append(f"{empty} empty clusters of {len(sizes)}")
    if sum(sizes) != n:
        problems.append(f"cluster sizes add up to {sum(sizes)}, expected n={n}")
    return problems


def assignment_check(
    predictions: np.ndarray,
    distances: np.ndarray | None,
    k: int,
    n: int,
    sizes: Sequence[int],
    cost: float,
) -> tuple[dict[str, Any], list[str]]:
    """Facts about the written assignments and what is wrong with them: the row count,
    per-cluster counts equal to the reported sizes, distances finite and >= 0, and the SSE
    of the distances at most the reported cost (both report the cost of a final assignment
    whose centres were then kept or moved by Lloyd, which can only lower it; 1e-6 for
    rounding)."""
    problems = []
    rows = int(predictions.shape[0])
    if rows != n:
        problems.append(f"assignments have {rows} rows, expected n={n}")
    valid = (predictions >= 0) & (predictions < k)
    if not valid.all():
        problems.append(f"{int((~valid).sum())} predictions outside [0, {k})")
    counts = np.bincount(predictions[valid], minlength=k).tolist()
    if len(sizes) == k and counts != list(sizes):
        problems.append("assignment counts per cluster differ from the reported cluster sizes")
    facts: dict[str, Any] = {"rows": rows, "nonempty_clusters": sum(1 for c in counts if c)}
    if distances is None:  # MLlib with --mllib-no-distance
        return facts, problems
    finite = np.isfinite(distances) & (distances >= 0)
    if not finite.all():
        problems.append(f"{int((~finite).sum())} distances missing, negative or not finite")
    facts["sse"] = float(np.square(distances[finite]).sum())
    if cost > 0 and facts["sse"] > cost * (1 + 1e-6):
        problems.append(f"assignments' SSE {facts['sse']:.6g} exceeds the reported cost {cost:.6g}")
    return facts, problems


def read_assignments(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """``prediction`` and, where written, ``distance`` of a run's assignments (Spark's
    Parquet directory; pyarrow skips its ``_SUCCESS`` and ``.crc`` files)."""
    import pyarrow.dataset as ds

    dataset = ds.dataset(str(path), format="parquet")
    columns = [c for c in ASSIGNMENT_COLUMNS if c in dataset.schema.names]
    table = dataset.to_table(columns=columns)
    predictions = table.column("prediction").to_numpy().astype(np.int64)
    if "distance" not in columns:
        return predictions, None
    distances = table.column("distance").to_numpy(zero_copy_only=False).astype(np.float64)
    return predictions, distances


def check_run(
    out: Path, summary: dict[str, Any], cfg: JobConfig
) -> tuple[dict[str, Any], list[str]]:
    """Facts and problems of a run's output: its reported sizes, then its assignments."""
    sizes = [int(s) for s in summary.get("cluster_sizes", [])]
    problems = size_problems(sizes, cfg.k, cfg.n)
    try:
        predictions, distances = read_assignments(out / "assignments")
    except Exception as exc:  # a missing or unreadable output is a finding, not a crash
        return {}, [*problems, f"assignments unreadable: {exc}"]
    facts, found = assignment_check(
        predictions, distances, cfg.k, cfg.n, sizes, float(summary.get("cost", math.nan))
    )
    return facts, problems + found


# -- one preset -----------------------------------------------------------------------------


def run_one(
    variant: str, rep: int, cfg: JobConfig, data: Path, launch: Launch, scratch: Path
) -> dict[str, Any]:
    """One fresh spark-submit of ``variant``: timed, its summary read, its output checked
    and removed. Returns the run's record (``ok`` False with ``problems`` when it failed)."""
    out = scratch / f"{cfg.preset}-{variant}-{rep}"
    stem = scratch / "logs" / f"{cfg.preset}-{variant}-{rep}"
    stem.parent.mkdir(parents=True, exist_ok=True)
    log_file = scratch / "logs" / f"{cfg.preset}-{variant}-{rep}.mllib.log"
    if variant == "ours":
        argv, env = ours_command(cfg, data, out, launch)
    else:
        log4j2 = scratch / "logs" / f"{cfg.preset}-{variant}-{rep}.log4j2.properties"
        log4j2.write_text(LOG4J2_TEMPLATE.format(log_file=log_file))
        argv, env = mllib_command(cfg, data, out, launch, log4j2)
    proc = run_process(argv, env, stem, launch.timeout_s)
    record: dict[str, Any] = {"variant": variant, "repeat": rep, "exit_code": proc.code}
    record["wall_s"] = proc.wall_s
    record["loadavg_after"] = list(os.getloadavg())  # the machine is shared: how busy it was
    problems = [] if proc.code == 0 else [f"exit code {proc.code}"]
    summary: dict[str, Any] = {}
    try:
        summary = json.loads((out / "summary.json").read_text())
    except (OSError, ValueError) as exc:
        problems.append(f"no summary.json: {exc}")
    if summary:
        logged = MllibLog(log_file).since(0) if variant == "mllib" else {}
        record["phases"] = (
            ours_phases(summary, proc.wall_s)
            if variant == "ours"
            else mllib_phases(summary, logged, proc.wall_s)
        )
        record["seconds_reported"] = summary.get("seconds")
        record["mllib_log"] = logged or None
        record["iterations"] = summary.get("iterations")
        record["cost"] = summary.get("cost")
        record["cluster_sizes"] = summary.get("cluster_sizes")
        record["versions"] = summary.get("versions")
        facts, found = check_run(out, summary, cfg)
        record["assignments"] = facts
        problems += found
    record["ok"] = not problems
    record["problems"] = problems
    if proc.tail:
        record["tail"] = proc.tail
    if rep == 0:
        record["argv"] = argv
    shutil.rmtree(out, ignore_errors=True)
    for leftover in scratch.glob(f"{out.name}.__*"):  # ours' temporary sibling, if killed
        shutil.rmtree(leftover, ignore_errors=True)
    return record


def median_or_none(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None and not math.isnan(v)]
    return float(statistics.median(present)) if present else None


def summarize_variant(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Wall time median and minimum, and every phase's median, over a variant's good runs."""
    good = [r for r in runs if r["ok"]]
    walls = [r["wall_s"] for r in good]
    return {
        "runs_ok": len(good),
        "runs": len(runs),
        "wall_median_s": median_or_none(walls),
        "wall_min_s": min(walls) if walls else None,
        "phases_median_s": {
            key: median_or_none([r["phases"].get(key) for r in good]) for key in PHASES
        },
        "iterations": median_or_none([r.get("iterations") for r in good]),
        "cost": median_or_none([r.get("cost") for r in good]),
    }


def run_preset(cfg: JobConfig, launch: Launch, scratch: Path) -> dict[str, Any]:
    data, data_info = job_data(cfg)
    primed = prime_page_cache(data)
    print(
        f"\n[{cfg.preset}] data {data} ({'reused' if data_info['reused'] else 'generated'}, "
        f"{primed / 2**20:.0f} MB read into the page cache)",
        flush=True,
    )
    runs: dict[str, list[dict[str, Any]]] = {key: [] for key in VARIANTS}
    for rep, variant in interleaved(list(VARIANTS), cfg.repeats):
        record = run_one(variant, rep, cfg, data, launch, scratch)
        runs[variant].append(record)
        status = "ok" if record["ok"] else "FAILED: " + "; ".join(record["problems"])
        print(
            f"  {cfg.preset} repeat {rep + 1} {variant}: {record['wall_s']:.1f} s, "
            f"{record.get('iterations')} iterations, {status}",
            flush=True,
        )
        if record.get("tail"):
            print("    " + record["tail"].replace("\n", "\n    "), flush=True)
    medians = {key: summarize_variant(runs[key]) for key in VARIANTS}
    ours, mllib = medians["ours"], medians["mllib"]
    return {
        **asdict(cfg),
        "data_dir": str(cfg.data_dir),
        "data": data_info,
        "runs": runs,
        "summary": medians,
        "ratio_median": ratio(ours["wall_median_s"], mllib["wall_median_s"]),
        "ratio_min": ratio(ours["wall_min_s"], mllib["wall_min_s"]),
    }


# -- tables ---------------------------------------------------------------------------------

WALL_COLUMNS = (
    Column("ours med", "8.1f"),
    Column("ours min", "8.1f"),
    Column("MLlib med", "9.1f"),
    Column("MLlib min", "9.1f"),
    Column("/ML med", "7.2f"),
    Column("/ML min", "7.2f"),
    Column("target", "6.2f"),
)

PHASE_COLUMNS = (Column("ours s", "8.2f"), Column("MLlib s", "8.2f"), Column("/MLlib", "7.2f"))


def wall_table(results: Sequence[dict[str, Any]]) -> list[str]:
    rows = []
    for r in results:
        ours, mllib = r["summary"]["ours"], r["summary"]["mllib"]
        values = [
            ours["wall_median_s"],
            ours["wall_min_s"],
            mllib["wall_median_s"],
            mllib["wall_min_s"],
            r["ratio_median"],
            r["ratio_min"],
            r["target"],
        ]
        rows.append((f"{r['preset']} {r['n']}x{r['d']} k={r['k']}", values))
    return table_lines("wall s, repeats", 26, WALL_COLUMNS, rows)


def phase_table(result: dict[str, Any]) -> list[str]:
    ours = result["summary"]["ours"]["phases_median_s"]
    mllib = result["summary"]["mllib"]["phases_median_s"]
    rows = [
        (label, [ours.get(key), mllib.get(key), ratio(ours.get(key), mllib.get(key))])
        for key, label in PHASES.items()
    ]
    return table_lines(f"{result['preset']} phase (medians)", 26, PHASE_COLUMNS, rows)


def quality_line(result: dict[str, Any]) -> str:
    """Iterations and cost of each, over the oracle (the SSE of the generating blobs)."""
    oracle = result["data"].get("oracle_sse")
    parts = []
    for key, label in (("ours", "ours"), ("mllib", "MLlib")):
        s = result["summary"][key]
        over = ratio(s["cost"], oracle)
        shown = "-" if over is None else f"{over:.4f}"
        iters = "-" if s["iterations"] is None else f"{s['iterations']:g}"
        parts.append(f"{label} {iters} iterations, cost/oracle {shown}")
    return f"  {'; '.join(parts)}"


def print_results(results: Sequence[dict[str, Any]]) -> None:
    print("\n== the fit job end to end: fresh spark-submit each run, wall seconds")
    print("\n".join(wall_table(results)))
    print("/ML: ours over MLlib (medians; minima); target: the issue's goal for /ML.")
    for r in results:
        print()
        print("\n".join(phase_table(r)))
        print(quality_line(r))
        failed = [
            f"{run['variant']} repeat {run['repeat'] + 1}: {'; '.join(run['problems'])}"
            for runs in r["runs"].values()
            for run in runs
            if not run["ok"]
        ]
        for line in failed:
            print(f"  FAILED {line}")
    print(PHASE_NOTES)


# -- the run --------------------------------------------------------------------------------


def provenance() -> dict[str, Any]:
    """The commit and whether the engine or job had uncommitted changes: the numbers
    belong to the code as it was when they were taken."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=False, timeout=30
        )
        return done.stdout.strip()

    changed = git("status", "--porcelain", "--", "kmeans_spark", "jobs", "scripts")
    java = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
    return {
        "commit": git("rev-parse", "HEAD"),
        "uncommitted": changed.splitlines(),
        "java": (java.stderr.splitlines() or [""])[0],
        "python": sys.version.split()[0],
    }


def main(argv: Sequence[str] | None = None) -> int:
    args, configs = parse_args(argv)
    launch = default_launch(args)
    scratch_root = Path(args.scratch_dir)
    scratch_root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="job-scratch-", dir=scratch_root))
    info = {"machine": machine(), "provenance": provenance()}
    results = []
    try:
        for cfg in configs:
            results.append(run_preset(cfg, launch, scratch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print_results(results)
    write_json(
        {"presets": results, "args": vars(args), "launch": asdict(launch), **info},
        Path(args.json),
    )
    all_ok = all(run["ok"] for r in results for runs in r["runs"].values() for run in runs)
    return 0 if all_ok else 1
