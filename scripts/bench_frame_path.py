"""Per-pass time of Lloyd over resident blocks (ResidentBlocks): its RDD transport (a
classic session's) against its DataFrame transport (the one Spark Connect runs, issue #17).

Run (medium: 1M x 16, k=10; wide: 1M x 64, k=100; the data of scripts/bench.py):

    .venv/bin/python scripts/bench_frame_path.py                     # classic, both paths
    .venv/bin/python scripts/bench_frame_path.py --session connect \\
        --compare bench-results/frame-path-classic.json              # frame path, Connect

What is measured, and how: scripts/benchkit/framepath.py. Prints a table per preset and
writes ``--json`` (default ``bench-results/frame-path-{session}.json``).
"""

from __future__ import annotations

import sys

from benchkit.framepath import main  # scripts/ is sys.path[0] when this file runs

if __name__ == "__main__":
    sys.exit(main())
