"""What a fit found (:class:`KMeansSummary`) and how the engine ran it (:class:`FitDiagnostics`).

The summary's top level is Spark's ``KMeansSummary`` (``k``, ``trainingCost``,
``clusterSizes``, ``numIter``, ``predictions``, ``cluster``, ``predictionCol``,
``featuresCol``) plus what else describes the result: whether and why it stopped, the cost
per iteration, the cluster weights, how it was seeded, the rows and features it saw. How
the engine got there (blocks, tasks, threads, pruning, seconds, centre shifts, reseeded
clusters, k-means|| candidates) is in ``summary.diagnostics``: for tuning and benchmarks,
and free to change with the engine.

Both are saved with the model as JSON (:meth:`KMeansSummary.to_dict`); a model saved before
the split, with one flat summary, loads into the same shape (:meth:`KMeansSummary.from_dict`).
This module does not import Spark: the summary is plain data, apart from ``predictions``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from kmeans_spark.lloyd import LloydResult
    from kmeans_spark.seeding import SeedingResult


class BlockRun(Protocol):
    """What the summary reads of the blocks a fit ran on
    (:class:`~kmeans_spark.blocks.ResidentBlocks` keeps these after it is closed)."""

    @property
    def handles(self) -> Sequence[object]: ...

    @property
    def tasks(self) -> int: ...

    @property
    def threads(self) -> int: ...

    @property
    def rebuilds(self) -> int: ...


@dataclass
class FitDiagnostics:
    """How the engine ran a fit. None of it changes what the model is.

    ``numPartitions`` is the number of resident blocks, ``passTasks`` the tasks of each pass
    (blocks, or fewer when small blocks are grouped) and ``passThreads`` the threads such a
    task uses at most; ``blockRebuilds`` counts block files rebuilt after they went missing.
    Per iteration: ``shiftHistory`` (largest centre move), ``iterationSeconds`` (driver wall
    time) and ``prunedFraction`` (rows whose distances Hamerly's bounds skipped).
    ``initCandidates`` and ``initCost`` are the k-means|| candidates and their weighted
    cost; ``phaseSeconds`` has ``load``, ``init``, ``lloyd`` and ``total`` (and, where they
    ran, ``scale``, ``metrics`` and ``on_fitted``: the batch job's scaling of the blocks,
    the fit's metrics and its assignments written from the blocks). With restarts
    (``nInit``), ``runCosts`` has every run's final cost and ``bestRun`` the one kept (the
    lowest; the first on a tie); the rest describes that run.
    """

    numPartitions: int = 0
    passTasks: int = 0
    passThreads: int = 1
    blockRebuilds: int = 0
    initCandidates: int = 0
    initCost: float | None = None
    reseededClusters: int = 0
    shiftHistory: list[float] = field(default_factory=list)
    iterationSeconds: list[float] = field(default_factory=list)
    prunedFraction: list[float] = field(default_factory=list)
    phaseSeconds: dict[str, float] = field(default_factory=dict)
    runCosts: list[float] = field(default_factory=list)
    bestRun: int = 0
    #: blocks stored as CSR (sparse vectors, see kmeans_spark.arrow.vector_chunks), and
    #: zero vectors left out under zeroVectorPolicy="drop"
    sparseBlocks: int = 0
    droppedZeroVectors: int = 0


@dataclass
class KMeansSummary:
    """What the fit found, kept with the model (and saved with it).

    ``trainingCost`` is the k-means objective (sum of weighted squared distances, or of
    ``1 - cos`` for cosine) of the final assignment about the final centres;
    ``costHistory[i]`` is iteration ``i``'s cost about the centres it started from.
    ``convergenceReason`` is ``"converged"`` (no centre moved more than ``tol``) or
    ``"maxIter"``. ``initMode`` is ``"k-means||"``, ``"random"`` or ``"initialCenters"``.
    """

    k: int
    trainingCost: float
    clusterSizes: list[int]
    numIter: int
    clusterWeights: list[float] = field(default_factory=list)
    converged: bool = False
    convergenceReason: str = ""
    costHistory: list[float] = field(default_factory=list)
    initMode: str = "k-means||"
    numRows: int = 0
    numFeatures: int = 0
    diagnostics: FitDiagnostics = field(default_factory=FitDiagnostics)
    _predictionCol: str = field(default="prediction", repr=False, compare=False)
    _featuresCol: str = field(default="features", repr=False, compare=False)
    _make_predictions: Callable[[], DataFrame] | None = field(
        default=None, repr=False, compare=False
    )
    _predictions: DataFrame | None = field(default=None, repr=False, compare=False)
    #: The fit's clustering metrics, when the fit was asked for them (not saved).
    metrics: Any = field(default=None, repr=False, compare=False)

    @classmethod
    def of_fit(
        cls,
        lloyd: LloydResult,
        init: SeedingResult,
        blocks: BlockRun,
        *,
        k: int,
        rows: int,
        dim: int,
        phases: dict[str, float],
        run_costs: list[float] | None = None,
        best_run: int = 0,
    ) -> KMeansSummary:
        """The summary of a fit: the engine's results, named as Spark names them."""
        diagnostics = FitDiagnostics(
            numPartitions=len(blocks.handles),
            passTasks=blocks.tasks,
            passThreads=blocks.threads,
            blockRebuilds=blocks.rebuilds,
            initCandidates=init.candidates,
            initCost=init.candidate_cost,
            reseededClusters=lloyd.reseeded,
            shiftHistory=lloyd.shift_history,
            iterationSeconds=lloyd.iteration_seconds,
            prunedFraction=lloyd.pruned_fraction,
            phaseSeconds=phases,
            runCosts=list(run_costs) if run_costs is not None else [lloyd.cost],
            bestRun=best_run,
            sparseBlocks=sum(bool(getattr(h, "sparse", False)) for h in blocks.handles),
            droppedZeroVectors=sum(int(getattr(h, "dropped_zero_rows", 0)) for h in blocks.handles),
        )
        return cls(
            k=k,
            trainingCost=lloyd.cost,
            clusterSizes=lloyd.cluster_sizes,
            numIter=lloyd.num_iter,
            clusterWeights=lloyd.cluster_weights,
            converged=lloyd.converged,
            convergenceReason=lloyd.convergence_reason,
            costHistory=lloyd.cost_history,
            initMode=init.mode,
            numRows=rows,
            numFeatures=dim,
            diagnostics=diagnostics,
        )

    # -- Spark's ClusteringSummary: the training data with predictions ---------------------

    def attach_predictions(
        self, predictionCol: str, featuresCol: str, make: Callable[[], DataFrame]
    ) -> None:
        """Give a freshly fitted summary its training predictions, built by ``make`` on
        first use (as Spark's, they cost a pass, which a fit that never reads them skips)."""
        self._predictionCol, self._featuresCol = predictionCol, featuresCol
        self._make_predictions, self._predictions = make, None

    @property
    def predictions(self) -> DataFrame:
        """The training data with the model's predictions (only on a freshly fitted model)."""
        if self._predictions is None and self._make_predictions is not None:
            self._predictions = self._make_predictions()
        if self._predictions is None:
            raise RuntimeError(
                "summary.predictions exist only on a freshly fitted model: a loaded model "
                "keeps its training statistics, not its training data; use "
                "model.transform(df) instead"
            )
        return self._predictions

    @property
    def cluster(self) -> DataFrame:
        """The predicted cluster of each training row (one column, ``predictionCol``)."""
        return self.predictions.select(self._predictionCol)

    @property
    def predictionCol(self) -> str:
        return self._predictionCol

    @property
    def featuresCol(self) -> str:
        return self._featuresCol

    def __getattr__(self, name: str) -> Any:
        # only reached for names the summary lacks: point code written before the split
        # to the field's new home instead of a bare AttributeError
        if name in _DIAGNOSTICS:
            raise AttributeError(
                f"KMeansSummary.{name} moved to KMeansSummary.diagnostics.{name} (how the "
                "engine ran the fit is kept apart from what it found)"
            )
        raise AttributeError(f"'KMeansSummary' object has no attribute {name!r}")

    # -- JSON, saved with the model -------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-able data, diagnostics nested under ``"diagnostics"``."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name in _RESULT}
        data["diagnostics"] = {
            f.name: getattr(self.diagnostics, f.name) for f in fields(FitDiagnostics)
        }
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KMeansSummary:
        """Read :meth:`to_dict`'s output, or the flat summary of a model saved before the
        diagnostics were split off; names neither knows are ignored (a newer writer)."""
        nested = dict(data.get("diagnostics") or {})
        flat = {name: value for name, value in data.items() if name in _DIAGNOSTICS}
        diagnostics = FitDiagnostics(
            **{name: value for name, value in {**flat, **nested}.items() if name in _DIAGNOSTICS}
        )
        result = {name: value for name, value in data.items() if name in _RESULT}
        return cls(**result, diagnostics=diagnostics)


_DIAGNOSTICS = frozenset(f.name for f in fields(FitDiagnostics))
_RESULT = frozenset(
    f.name
    for f in fields(KMeansSummary)
    if not f.name.startswith("_") and f.name not in ("diagnostics", "metrics")
)
