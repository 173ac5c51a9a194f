"""Pure numpy/scipy kernels of k-means. Nothing in this package imports Spark (ruff's
banned-api rule enforces it): every function runs unchanged inside a Spark Python worker (on
one partition's block) and on the driver (on candidates), and is unit-tested without a JVM.

The package's public functions assume valid input (2-D float arrays, matching widths,
non-negative finite weights): the estimator and the job validate once, at their boundary.

* :mod:`.distance` one tile iterator, nearest / two-nearest centres, exact distances;
* :mod:`.step` one block's partial statistics, the centre update, the centre shift;
* :mod:`.pruning` the same step with Hamerly's bounds;
* :mod:`.init` k-means|| per-block rounds, weighted k-means++, candidate reduction;
* :mod:`.sparse` CSR twins of :mod:`.distance`, :mod:`.step` and :mod:`.init` for sparse
  blocks (TF-IDF): same names and semantics, sparse sums and far points, no origin (a
  centred sparse block would be dense).

Blocks are stored *centred* on their own mean (``origin``, float64): the GEMM form
``|x|^2 - 2 x.c + |c|^2`` cancels catastrophically when the data sit far from zero (incomes
near 52000, epoch seconds), and distances do not change under translation. So the kernels
take an ``origin`` and work on ``x`` and ``c - origin``; what they return (sums, points) is
in the original coordinates.

Distances are squared Euclidean throughout. Cosine k-means (spherical k-means) runs on
unit-normalised points and centres, where ``|x - c|^2 = 2 (1 - cos(x, c))``, so the same
assignment kernel serves both; only the centre update and the reported cost differ.
"""
