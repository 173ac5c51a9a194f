"""The sweep's progress as ``elbow`` shows it: one line per k on stdout as each k's run
stops, and on a terminal a bar redrawn after every shared pass.

The lines come before the run's one-line JSON result, which stays the last line of
stdout, so a scheduler that parses that line is unaffected; the bar is drawn only when
stdout is a terminal, so logs and pipes never see carriage returns.
"""

from __future__ import annotations

import sys
from typing import TextIO

from kmeans_spark.progress import RunDone

#: Width of the bar, in characters.
BAR_WIDTH = 30


class KLines:
    """A :class:`kmeans_spark.progress.RunProgress` for a sweep over ``runs`` values of k."""

    def __init__(self, runs: int, stream: TextIO | None = None, *, bar: bool | None = None):
        self._stream = stream or sys.stdout
        self._runs = runs
        self._done = 0
        self._iteration = 0
        isatty = getattr(self._stream, "isatty", None)
        self._bar = bool(isatty and isatty()) if bar is None else bar
        self._drawn = False

    def pass_done(self, iteration: int, runs_done: int, runs: int) -> None:
        self._iteration = iteration
        self._draw()

    def run_done(self, run: RunDone) -> None:
        self._done += 1
        how = "converged" if run.converged else "stopped at maxIter"
        self._clear()
        self._stream.write(
            f"k={run.k}: {how} after {run.iterations} iterations, SSE {run.cost:.6g} "
            f"({self._done}/{self._runs})\n"
        )
        self._stream.flush()

    def close(self) -> None:
        """Remove the bar (the run's result line follows)."""
        self._clear()

    def bar_text(self) -> str:
        filled = BAR_WIDTH * self._done // max(self._runs, 1)
        return (
            f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {self._done}/{self._runs} k done, "
            f"pass {self._iteration}"
        )

    def _draw(self) -> None:
        if not self._bar:
            return
        self._stream.write("\r" + self.bar_text())
        self._stream.flush()
        self._drawn = True

    def _clear(self) -> None:
        if self._drawn:
            self._stream.write("\r\033[K")
            self._stream.flush()
            self._drawn = False
