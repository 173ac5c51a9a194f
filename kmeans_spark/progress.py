"""Progress of several Lloyd runs in shared passes, for whoever shows it (the batch job's
``elbow`` prints a line per k and, on a terminal, a bar).

The engine calls a :class:`RunProgress` from the driver between passes, never from a task;
the default is to report nothing. Plain Python, no Spark.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class RunDone:
    """One run that has stopped: its position among the runs, its k, and how it ended."""

    index: int
    k: int
    iterations: int
    converged: bool
    cost: float


class RunProgress(Protocol):
    def pass_done(self, iteration: int, runs_done: int, runs: int) -> None:
        """After each shared pass: ``runs_done`` of ``runs`` have stopped."""

    def run_done(self, run: RunDone) -> None:
        """When a run stops (converged, or at ``maxIter``), in the order they stop."""


class NoProgress:
    """Reports nothing: the default."""

    def pass_done(self, iteration: int, runs_done: int, runs: int) -> None:
        pass

    def run_done(self, run: RunDone) -> None:
        pass
