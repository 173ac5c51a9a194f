"""Engine knobs: measured defaults that change how fast a fit runs, never what it returns
(except ``candidate_reductions``, which trades driver time for seeding quality).

One frozen value passed down from the estimator to the blocks, seeding and Lloyd, instead
of module globals: tests and benchmarks choose their own (``KMeans().setTuning(...)``) and a
moved module cannot silently drop a patched global.
"""

from __future__ import annotations

from dataclasses import dataclass

from kmeans_spark.tasks import MIN_TASK_WORK

#: The values of :attr:`Tuning.transport`.
TRANSPORTS = ("auto", "rdd", "dataframe")


@dataclass(frozen=True)
class Tuning:
    #: Work worth a Python task of its own (see :func:`kmeans_spark.tasks.plan_tasks`);
    #: 0 gives every block its own task.
    min_task_work: float = MIN_TASK_WORK
    #: Values up to this size ride in the pickled task itself; larger ones are broadcast on
    #: the RDD transport (the DataFrame one, under Spark Connect, has no broadcast: always
    #: inline). A broadcast costs ~5-15 ms per pass to create and destroy, for data that small.
    inline_bytes: int = 256 * 1024
    #: Rebuilds of lost block files before a pass gives up.
    max_rebuilds: int = 3
    #: Hamerly's bounds in Lloyd, run by run: ``None`` where :func:`kernels.pruning.use_pruning`
    #: says they pay (alone, or among the runs of a sweep or of restarts), else for every run
    #: (``True``) or none (``False``). Results are the same.
    prune: bool | None = None
    #: Reductions of the k-means|| candidates to k centres tried on the driver, the best
    #: kept: cheap (a few times k weighted points), and what decides whether the seeding
    #: finds the optimum on separated data. Not restarts of the fit (those re-seed).
    candidate_reductions: int = 5
    #: Far points each block reports, for reseeding empty clusters within the same pass.
    max_far_points: int = 32
    #: ``transform`` scores through Spark's own ``KMeansModel`` on the JVM when the model's
    #: k x features is at most this, else with Arrow batches and GEMM in Python (see
    #: :mod:`kmeans_spark.scoring` for the measurements). 0: always Arrow.
    jvm_scoring_max_kd: int = 256
    #: How the passes reach the resident blocks (:func:`kmeans_spark.blocks.choose_transport`):
    #: ``"auto"`` takes the RDD transport in a classic session (its pass measured ~0.1 s
    #: faster) and the DataFrame one under Spark Connect (no RDD there); ``"rdd"`` or
    #: ``"dataframe"`` force one (``"rdd"`` needs a classic session). Same results either way.
    transport: str = "auto"

    def __post_init__(self) -> None:
        if self.transport not in TRANSPORTS:
            raise ValueError(
                f"transport={self.transport!r} is not one of {', '.join(TRANSPORTS)}; "
                "'auto' picks by the session type."
            )


#: The measured defaults.
DEFAULT_TUNING = Tuning()
