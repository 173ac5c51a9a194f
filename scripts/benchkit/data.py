"""The benchmark's input: seeded Gaussian blobs, written once as Parquet and reused.

Generated with ``kmeans_spark.datagen.make_blobs`` and written in chunks with pyarrow as one
``features`` column (list<double>) under the data directory; an existing file for the same
n, d, k, spread and data seed is read back instead.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from kmeans_spark.datagen import Blobs

WRITE_CHUNK_ROWS = 65_536


class BlobSpec(Protocol):
    """What names a data set: its size, blob spread, data seed and directory (``Config``
    has these fields; another benchmark's config can too)."""

    n: int
    d: int
    k: int
    spread: float
    data_seed: int
    data_dir: Path


def data_path(cfg: BlobSpec) -> Path:
    name = f"blobs-n{cfg.n}-d{cfg.d}-k{cfg.k}-spread{cfg.spread:g}-seed{cfg.data_seed}.parquet"
    return cfg.data_dir / name


def write_parquet(
    x: np.ndarray, path: Path, meta: dict[str, Any], chunk_rows: int = WRITE_CHUNK_ROWS
) -> None:
    """Write ``x`` as one ``features: list<double>`` column, ``chunk_rows`` rows at a time
    (each chunk is one row group), through a temporary file renamed at the end; ``meta``
    goes into the file's key-value metadata (key ``kmeans_bench``, JSON)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n, d = x.shape
    schema = pa.schema(
        [("features", pa.list_(pa.float64()))], metadata={"kmeans_bench": json.dumps(meta)}
    )
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(tmp, schema) as writer:
        for start in range(0, n, chunk_rows):
            block = np.ascontiguousarray(x[start : start + chunk_rows], dtype=np.float64)
            rows = block.shape[0]
            offsets = pa.array(np.arange(0, rows * d + 1, d, dtype=np.int32))
            values = pa.array(block.reshape(-1))
            column = pa.ListArray.from_arrays(offsets, values)
            writer.write_table(pa.Table.from_arrays([column], schema=schema))
    os.replace(tmp, path)


def read_parquet(path: Path, n: int, d: int) -> tuple[np.ndarray, dict[str, Any]]:
    """The ``features`` column back as one (n, d) float64 array, batch by batch, and the
    metadata written with it."""
    import pyarrow.parquet as pq

    f = pq.ParquetFile(path)
    if f.metadata.num_rows != n:
        raise RuntimeError(f"{path} has {f.metadata.num_rows} rows, not {n}; delete it")
    raw_meta = (f.schema_arrow.metadata or {}).get(b"kmeans_bench", b"{}")
    x = np.empty((n, d), dtype=np.float64)
    row = 0
    for batch in f.iter_batches(columns=["features"]):
        values = batch.column(0).flatten().to_numpy(zero_copy_only=False)
        rows = len(batch)
        x[row : row + rows] = values.reshape(rows, d)
        row += rows
    return x, json.loads(raw_meta)


def make_data(cfg: BlobSpec) -> tuple[Blobs, dict[str, Any]]:
    """The blobs ``cfg`` names, generated, and what the written data records of them: the
    spec and the SSE of the generating clusters (the oracle)."""
    from kmeans_spark.datagen import make_blobs

    blobs = make_blobs(cfg.n, cfg.d, cfg.k, spread=cfg.spread, seed=cfg.data_seed)
    meta = {
        "n": cfg.n,
        "d": cfg.d,
        "k": cfg.k,
        "spread": cfg.spread,
        "data_seed": cfg.data_seed,
        "oracle_sse": blobs.oracle_cost(),
    }
    return blobs, meta


def load_data(cfg: BlobSpec) -> tuple[np.ndarray, Path, dict[str, Any]]:
    """The blobs as numpy and the Parquet path; generated and written only when missing."""
    path = data_path(cfg)
    t0 = time.perf_counter()
    if path.exists():
        x, meta = read_parquet(path, cfg.n, cfg.d)
        info = {"path": str(path), "reused": True, "read_s": time.perf_counter() - t0, **meta}
        return x, path, info
    blobs, meta = make_data(cfg)
    gen_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    write_parquet(blobs.x, path, meta)
    info = {
        "path": str(path),
        "reused": False,
        "generate_s": gen_s,
        "write_s": time.perf_counter() - t0,
        **meta,
    }
    return blobs.x, path, info


def initial_centers(x: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k distinct data points: the shared start of the same-init rows."""
    rng = np.random.default_rng(seed)
    return np.array(x[np.sort(rng.choice(x.shape[0], size=k, replace=False))], dtype=np.float64)


def sse(x: np.ndarray, centers: np.ndarray) -> float:
    """The k-means objective of ``centers`` on ``x`` (nearest centre, squared distances)."""
    from kmeans_spark.kernels.step import partial_stats

    return partial_stats(x, None, np.asarray(centers, dtype=np.float64)).cost
