"""The sweep's progress as ``elbow`` shows it (no JVM)."""

from __future__ import annotations

import io

from kmeans_spark.app.progress import KLines
from kmeans_spark.progress import RunDone


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_one_line_per_k_and_no_bar_off_a_terminal() -> None:
    out = io.StringIO()
    lines = KLines(3, out)
    lines.pass_done(1, 0, 3)
    lines.run_done(RunDone(index=1, k=3, iterations=4, converged=True, cost=12.5))
    lines.pass_done(2, 1, 3)
    lines.run_done(RunDone(index=0, k=2, iterations=20, converged=False, cost=1e6))
    lines.close()
    assert out.getvalue().splitlines() == [
        "k=3: converged after 4 iterations, SSE 12.5 (1/3)",
        "k=2: stopped at maxIter after 20 iterations, SSE 1e+06 (2/3)",
    ]
    assert "\r" not in out.getvalue()


def test_a_terminal_gets_a_bar_that_is_cleared_before_each_line() -> None:
    out = Terminal()
    lines = KLines(4, out)
    lines.pass_done(1, 0, 4)
    assert out.getvalue() == "\r[" + "." * 30 + "] 0/4 k done, pass 1"
    lines.run_done(RunDone(index=0, k=2, iterations=2, converged=True, cost=3.0))
    lines.pass_done(2, 1, 4)
    assert lines.bar_text() == "[" + "#" * 7 + "." * 23 + "] 1/4 k done, pass 2"
    lines.close()
    text = out.getvalue()
    # the bar is wiped (carriage return + erase line) before the k line and at the end
    assert "\r\033[Kk=2: converged after 2 iterations, SSE 3 (1/4)\n" in text
    assert text.endswith("\r\033[K")
