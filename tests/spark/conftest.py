"""Fixtures of the Spark tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from .helpers import frame


@pytest.fixture
def frame_of(spark: Any) -> Any:
    def make(x: np.ndarray, **kw: Any) -> Any:
        return frame(spark, x, **kw)

    return make
