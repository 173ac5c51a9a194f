"""Two measurements behind the sparse engine's defaults, JVM-free (the load, seeding and Lloyd
passes run in-process over CSR blocks, exactly the code the Spark tasks run):

    .venv/bin/python scripts/bench_sparse_engine.py density   # CSR or dense block: where
    .venv/bin/python scripts/bench_sparse_engine.py init      # k-means|| or random on text

``density``: one Lloyd pass's kernel (:func:`kmeans_spark.kernels.sparse.partial_stats`
against :func:`kmeans_spark.kernels.step.partial_stats`) on the same random rows stored CSR
and dense, for several densities, widths and k; the ratio CSR / dense time says up to which
density a block pays as CSR (:data:`kmeans_spark.arrow.SPARSE_MAX_DENSITY`).

``init``: synthetic topic documents (:func:`kmeans_spark.datagen.make_topic_documents`,
TF-IDF, unit rows), spherical k-means from k-means|| and from random init over several
seeds: the final cost (sum of ``1 - cos``) and iterations after Lloyd, and the adjusted
Rand index against the generating topics.

Each prints a table and writes JSON (``--json``, default ``bench-results/sparse-<what>.json``).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import itertools
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from kmeans_spark import blockstore, seeding
from kmeans_spark.datagen import make_topic_documents
from kmeans_spark.handle import BlockHandle
from kmeans_spark.kernels import sparse as csr
from kmeans_spark.kernels import step
from kmeans_spark.lloyd import run_lloyd
from kmeans_spark.load import FEATURES, LoadSettings, load_partition
from kmeans_spark.tasks import Inline, block_task, merge_in_order


def vector_struct(x: sp.csr_array) -> pa.StructArray:
    """CSR rows as Spark's ``VectorUDT`` struct, as ``mapInArrow`` delivers it."""
    n, d = x.shape
    indptr = np.asarray(x.indptr, dtype=np.int32)
    return pa.StructArray.from_arrays(
        [
            pa.array(np.zeros(n, dtype=np.int8)),
            pa.array(np.full(n, d, dtype=np.int32)),
            pa.ListArray.from_arrays(pa.array(indptr), pa.array(x.indices.astype(np.int32))),
            pa.ListArray.from_arrays(pa.array(indptr), pa.array(x.data.astype(np.float64))),
        ],
        names=["type", "size", "indices", "values"],
    )


class CsrBlocks:
    """:class:`kmeans_spark.handle.Blocks` over CSR blocks loaded in this process."""

    def __init__(self, parts: list[sp.csr_array], settings: LoadSettings) -> None:
        self.fit_id = uuid.uuid4().hex
        self.handles: list[BlockHandle] = [
            load_partition(
                [pa.RecordBatch.from_arrays([vector_struct(x)], names=[FEATURES])],
                partition=p,
                fit_id=self.fit_id,
                generation=0,
                settings=settings,
            )
            for p, x in enumerate(parts)
        ]

    def share(self, value: Any) -> contextlib.AbstractContextManager[Any]:
        return contextlib.nullcontext(Inline(value))

    def run(self, fn: Callable[..., Any], merge: Callable[[Any, Any], Any]) -> Any:
        results: list[tuple[int, Any]] = []
        for h in self.handles:
            for missing, done in block_task(fn)(iter([h])):
                assert not missing
                results.extend(done)
        return merge_in_order(results, merge)

    def close(self) -> None:
        blockstore.remove_fit(self.fit_id)


def timed(fn: Callable[[], Any], repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return float(best)


def density(args: argparse.Namespace) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    rows = []
    print(f"{'d':>6} {'k':>4} {'density':>8} {'csr s':>8} {'dense s':>8} {'csr/dense':>9}")
    for d in args.dims:
        for k in args.ks:
            centers = rng.random((k, d))
            for dens in args.densities:
                x = sp.csr_array(
                    sp.random_array((args.rows, d), density=dens, format="csr", rng=rng)
                )
                x.sort_indices()
                dense = x.toarray()
                t_csr = timed(functools.partial(csr.partial_stats, x, None, centers, n_far=32), 3)
                t_dense = timed(
                    functools.partial(step.partial_stats, dense, None, centers, n_far=32), 3
                )
                rows.append({"d": d, "k": k, "density": dens, "csr": t_csr, "dense": t_dense})
                print(
                    f"{d:>6} {k:>4} {dens:>8.3f} {t_csr:>8.4f} {t_dense:>8.4f} "
                    f"{t_csr / t_dense:>9.2f}"
                )
    return {"rows": args.rows, "measurements": rows}


def init(args: argparse.Namespace) -> dict[str, Any]:
    from sklearn.metrics import adjusted_rand_score

    docs = make_topic_documents(
        args.docs, args.features, topics=args.k, words_per_doc=args.words, seed=args.data_seed
    )
    x = sp.csr_array(docs.tfidf())  # unit rows: spherical k-means
    parts = [csr.row_slice(x, a, b) for a, b in _bounds(x.shape[0], args.partitions)]
    runs = []
    print(
        f"{'init':>10} {'seed':>4} {'cost':>12} {'iters':>5} {'ARI':>6} {'init s':>7} "
        f"{'lloyd s':>7}"
    )
    for mode in ("k-means||", "random"):
        for seed in range(args.seeds):
            settings = LoadSettings(spherical=True, sample_size=args.k, seed=seed)
            blocks = CsrBlocks(parts, settings)
            try:
                t0 = time.perf_counter()
                if mode == "random":
                    (start,) = seeding.random_init(blocks.handles, args.k, args.features, seed)
                else:
                    (start,) = seeding.kmeans_parallel(
                        blocks,
                        k=args.k,
                        dim=args.features,
                        oversampling_factor=2.0,
                        steps=2,
                        seed=seed,
                        spherical=True,
                    )
                t_init = time.perf_counter() - t0
                t0 = time.perf_counter()
                result = run_lloyd(
                    blocks,
                    start.centers,
                    max_iter=args.max_iter,
                    tol=1e-4,
                    spherical=True,
                    reseed_empty=True,
                )
                t_lloyd = time.perf_counter() - t0
            finally:
                blocks.close()
            labels, _ = csr.nearest_centers(x, result.centers)
            ari = float(adjusted_rand_score(docs.labels, labels))
            runs.append(
                {
                    "init": mode,
                    "seed": seed,
                    "cost": result.cost,
                    "iterations": result.num_iter,
                    "converged": result.converged,
                    "ari": ari,
                    "init_seconds": t_init,
                    "lloyd_seconds": t_lloyd,
                }
            )
            print(
                f"{mode:>10} {seed:>4} {result.cost:>12.4f} {result.num_iter:>5} {ari:>6.3f} "
                f"{t_init:>7.2f} {t_lloyd:>7.2f}"
            )
    summary = {}
    for mode in ("k-means||", "random"):
        mine = [r for r in runs if r["init"] == mode]
        summary[mode] = {
            "median_cost": float(np.median([r["cost"] for r in mine])),
            "median_iterations": float(np.median([r["iterations"] for r in mine])),
            "median_ari": float(np.median([r["ari"] for r in mine])),
        }
        print(
            f"{mode:>10} median cost {summary[mode]['median_cost']:.4f}, "
            f"iterations {summary[mode]['median_iterations']:.0f}, "
            f"ARI {summary[mode]['median_ari']:.3f}"
        )
    return {"runs": runs, "summary": summary}


def _bounds(n: int, parts: int) -> list[tuple[int, int]]:
    edges = np.linspace(0, n, parts + 1).astype(int)
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("density")
    p.add_argument("--rows", type=int, default=20_000)
    p.add_argument("--dims", type=int, nargs="+", default=[64, 512])
    p.add_argument("--ks", type=int, nargs="+", default=[10, 50])
    p.add_argument("--densities", type=float, nargs="+", default=[0.01, 0.05, 0.1, 0.2, 0.3, 0.5])
    p.add_argument("--json", type=Path)
    q = sub.add_parser("init")
    q.add_argument("--docs", type=int, default=20_000)
    q.add_argument("--features", type=int, default=2**18)
    q.add_argument("--k", type=int, default=50)
    q.add_argument("--words", type=float, default=60.0)
    q.add_argument("--partitions", type=int, default=2)
    q.add_argument("--seeds", type=int, default=3)
    q.add_argument("--max-iter", type=int, default=50)
    q.add_argument("--data-seed", type=int, default=0)
    q.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        import os

        os.environ.setdefault("SPARK_LOCAL_DIRS", tmp)
        result = density(args) if args.what == "density" else init(args)
    path = args.json or Path("bench-results") / f"sparse-{args.what}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"args": vars(args) | {"json": str(path)}, **result}, indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
