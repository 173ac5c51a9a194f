"""How much memory a fit needs per GiB of data: peak resident memory of the Python workers
(the load task holds a partition as Arrow and as numpy at once) and of the JVM, for one
partition of a known size, next to the size of the resident block file. ``--job`` loads as
the batch job does (statistics, bad-row drop, scaling of the blocks, ids carried).

    .venv/bin/python scripts/measure_memory.py --rows 1000000 --dim 32
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            out.append(child)
            todo.append(child)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    parser.add_argument(
        "--job",
        action="store_true",
        help="load as the batch job does: per-feature statistics, bad rows dropped, the blocks "
        "scaled, an id column carried beside each block",
    )
    args = parser.parse_args(argv)

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from kmeans_spark import KMeans
    from kmeans_spark.session import local_session

    path = Path("bench-results") / f"memory-{args.rows}x{args.dim}.parquet"
    path.parent.mkdir(exist_ok=True)
    if not path.exists():
        rng = np.random.default_rng(0)
        x = rng.normal(size=(args.rows, args.dim))
        flat = pa.array(x.ravel())
        column = pa.ListArray.from_arrays(np.arange(0, x.size + 1, args.dim, dtype=np.int32), flat)
        ids = pa.array(np.arange(args.rows, dtype=np.int64))
        pq.write_table(pa.table({"id": ids, "features": column}), path)
    spark = local_session(
        "kmeans-spark memory", master="local[1]", conf={"spark.driver.memory": "4g"}
    )
    df = spark.read.parquet(str(path)).coalesce(1)
    raw_mb = args.rows * args.dim * 8 / 2**20
    block_mb = raw_mb / (2 if args.dtype == "float32" else 1)
    kmeans = KMeans(k=8, seed=1, maxIter=2, dtype=args.dtype)
    if args.job:
        from kmeans_spark.load import InputStage

        def standardise(handles: Any) -> Any:  # the job's scaling, as FitStage chooses it
            return (0.0,) * args.dim, (1.0,) * args.dim

        kmeans.setInputStage(
            InputStage(on_load=standardise, drop_bad_rows=True, scales=True, carry=("id",))
        )
    kmeans.fit(df)
    # the JVM is this driver's child (py4j gateway); its Python workers are the JVM's children
    kids = descendants(os.getpid())

    def program(pid: int) -> str:
        return os.path.basename(Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode())

    pythons = [p for p in kids if program(p).startswith("python")]
    javas = [p for p in kids if program(p) == "java"]
    worker_peak = max((vm_hwm_mb(p) for p in pythons), default=0.0)
    result = {
        "rows": args.rows,
        "dim": args.dim,
        "dtype": args.dtype,
        "job": args.job,
        "partition_raw_mb": round(raw_mb, 1),
        "block_file_mb": round(block_mb, 1),
        "python_worker_peak_mb": round(worker_peak, 1),
        "jvm_peak_mb": round(max((vm_hwm_mb(p) for p in javas), default=0.0), 1),
        "worker_peak_per_raw_mb": round(worker_peak / raw_mb, 2),
    }
    spark.stop()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
