"""The job's atomic output and saved-model lookup on a local stand-in for the Hadoop file
system (no JVM): what happens when a file-system call fails, and which scaler.json a model
directory gets."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kmeans_spark.app import io
from kmeans_spark.app.config import load_config
from kmeans_spark.app.scaler import Scaler


class LocalFS:
    """:class:`kmeans_spark.app.io.HadoopFS`'s calls on local paths, with Python's os."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.fail_delete = False

    def _p(self, path: str) -> Path:
        return self.cwd / path.removeprefix("file:")

    def exists(self, path: str) -> bool:
        return self._p(path).exists()

    def kind(self, path: str) -> str | None:
        p = self._p(path)
        return None if not p.exists() else "dir" if p.is_dir() else "file"

    def size(self, path: str) -> int:
        return self._p(path).stat().st_size

    def list_names(self, path: str) -> list[str]:
        return sorted(os.listdir(self._p(path)))

    def delete(self, path: str) -> None:
        if self.fail_delete:
            raise OSError("Permission denied")
        shutil.rmtree(self._p(path), ignore_errors=True)

    def delete_empty_dir(self, path: str) -> None:
        self._p(path).rmdir()

    def rename(self, src: str, dst: str) -> None:
        self._p(src).rename(self._p(dst))

    def write_text(self, path: str, text: str) -> None:
        self._p(path).parent.mkdir(parents=True, exist_ok=True)
        self._p(path).write_text(text)

    def read_text(self, path: str) -> str:
        return self._p(path).read_text()

    def qualify(self, path: str) -> str:
        return "file:" + str((self.cwd / path).resolve())


@pytest.fixture
def fs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalFS:
    monkeypatch.chdir(tmp_path)
    return LocalFS(tmp_path)


def write_run(fs: LocalFS, mode: str = "overwrite") -> io.AtomicOutput:
    cfg = load_config(
        None, {"input": {"path": "in"}, "output": {"path": "out", "mode": mode}}, None
    )
    out = io.AtomicOutput(fs, cfg, "fit")  # type: ignore[arg-type]
    out.check()
    with out.writing():
        fs.write_text(out.path("summary.json"), json.dumps({"run": out.tmp}))
    return out


def test_a_committed_run_stays_committed_when_the_old_copy_cannot_be_removed(
    fs: LocalFS, caplog: pytest.LogCaptureFixture
) -> None:
    first = write_run(fs)
    fs.fail_delete = True
    with caplog.at_level(logging.WARNING):
        second = write_run(fs)  # no exception: the run is in place
    out = fs.cwd / "out"
    assert json.loads((out / "summary.json").read_text()) == {"run": second.tmp}
    assert (out / "_SUCCESS").is_file() and (out / io.MARKER).is_file()
    (old,) = [p.name for p in fs.cwd.iterdir() if p.name.startswith("out.__old-")]
    assert json.loads((fs.cwd / old / "summary.json").read_text()) == {"run": first.tmp}
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert f"{old} could not be removed (OSError: Permission denied)" in record.getMessage()


class SavedKMeansModel:
    """``KMeansModel.load``'s result, as far as load_saved_model looks at it."""

    @classmethod
    def load(cls, path: str) -> SavedKMeansModel:
        return cls()

    def clusterCenters(self) -> list[np.ndarray]:
        return [np.zeros(2), np.ones(2)]


@pytest.fixture
def models(fs: LocalFS, monkeypatch: pytest.MonkeyPatch) -> LocalFS:
    """A run directory (run/model + run/scaler.json), and a bare model directory beside an
    unrelated scaler.json of the same width."""
    monkeypatch.setattr(io, "KMeansModel", SavedKMeansModel)
    scaler = Scaler.from_stats("standard", ["a", "b"], [1, 2], [3, 4], [0, 0], [9, 9]).to_json()
    for model_dir in ("run/model", "elsewhere/mine", "model"):
        fs.write_text(f"{model_dir}/metadata/part-0", "{}")
    fs.write_text("run/scaler.json", scaler)
    fs.write_text("elsewhere/scaler.json", scaler)
    fs.write_text("scaler.json", scaler)
    return fs


@pytest.mark.parametrize(
    ("path", "scaled"),
    [
        ("run", True),  # the run directory
        ("run/model", True),  # the run's model/: its scaler.json is beside it
        ("model", True),  # the same, relative to the working directory
        ("elsewhere/mine", False),  # a model of its own: the parent's scaler.json is not its
    ],
)
def test_a_model_directory_gets_the_scaler_of_its_run_only(
    models: LocalFS, path: str, scaled: bool
) -> None:
    saved = io.load_saved_model(models, path, "--model")  # type: ignore[arg-type]
    assert (saved.scaler is not None) == scaled
    assert saved.centers.shape == (2, 2)


def test_a_model_directory_alone_never_reads_its_own_scaler_json(
    fs: LocalFS, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative path without "/" used to look for scaler.json inside the model itself."""
    monkeypatch.setattr(io, "KMeansModel", SavedKMeansModel)
    fs.write_text("mine/metadata/part-0", "{}")
    fs.write_text("mine/scaler.json", "{not even json")
    assert io.load_saved_model(fs, "mine", "--model").scaler is None  # type: ignore[arg-type]


def test_load_failures_name_the_model(models: LocalFS, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(path: str) -> Any:
        raise RuntimeError("unreadable\nmore")

    monkeypatch.setattr(SavedKMeansModel, "load", staticmethod(broken))
    with pytest.raises(io.KMeansInputError, match=r"^--model 'run': the model 'run/model' cannot "):
        io.load_saved_model(models, "run", "--model")  # type: ignore[arg-type]
