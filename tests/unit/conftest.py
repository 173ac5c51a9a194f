"""Fixtures of the JVM-free tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kmeans_spark import blockstore


@pytest.fixture
def local_dirs(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Block files under the test's own directory, as under an executor's local dir
    (``pytestmark = pytest.mark.usefixtures("local_dirs")`` in a module of block tests)."""
    monkeypatch.setenv("SPARK_LOCAL_DIRS", str(tmp_path))
    yield str(tmp_path)
    blockstore.forget(str(tmp_path))
