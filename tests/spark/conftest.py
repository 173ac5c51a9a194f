"""Fixtures of the Spark tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from .helpers import DeleteOnLog, frame


@pytest.fixture
def frame_of(spark: Any) -> Any:
    def make(x: np.ndarray, **kw: Any) -> Any:
        return frame(spark, x, **kw)

    return make


@pytest.fixture
def delete_on_log() -> Iterator[Any]:
    """Installs :class:`DeleteOnLog` handlers on the package's logger (INFO) for a test."""
    handlers: list[DeleteOnLog] = []
    logger = logging.getLogger("kmeans_spark")
    old_level = logger.level
    logger.setLevel(logging.INFO)

    def install(prefix: str, pattern: str) -> DeleteOnLog:
        h = DeleteOnLog(prefix, pattern)
        logger.addHandler(h)
        handlers.append(h)
        return h

    yield install
    for h in handlers:
        logger.removeHandler(h)
    logger.setLevel(old_level)
