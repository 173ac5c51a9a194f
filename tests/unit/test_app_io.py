"""The job's file system under Spark Connect (pyarrow's, no JVM) on real local files, and
on it the atomic output and the saved-model lookup: what happens when a file-system call
fails, and which scaler.json a model directory gets."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kmeans_spark.app import io
from kmeans_spark.app.config import load_config
from kmeans_spark.app.scaler import Scaler


class LocalFS(io.ArrowFS):
    """The Spark Connect client's file system (pyarrow's, on local paths), whose deletes
    can be made to fail."""

    def __init__(self, cwd: Path) -> None:
        super().__init__()
        self.cwd = cwd
        self.fail_delete = False

    def delete(self, path: str) -> None:
        if self.fail_delete:
            raise OSError("Permission denied")
        super().delete(path)


@pytest.fixture
def fs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalFS:
    monkeypatch.chdir(tmp_path)
    return LocalFS(tmp_path)


def write_run(fs: LocalFS, mode: str = "overwrite") -> io.AtomicOutput:
    cfg = load_config(
        None, {"input": {"path": "in"}, "output": {"path": "out", "mode": mode}}, None
    )
    out = io.AtomicOutput(fs, cfg, "fit")
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
    saved = io.load_saved_model(models, path, "--model")
    assert (saved.scaler is not None) == scaled
    assert saved.centers.shape == (2, 2)


def test_a_model_directory_alone_never_reads_its_own_scaler_json(
    fs: LocalFS, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative path without "/" used to look for scaler.json inside the model itself."""
    monkeypatch.setattr(io, "KMeansModel", SavedKMeansModel)
    fs.write_text("mine/metadata/part-0", "{}")
    fs.write_text("mine/scaler.json", "{not even json")
    assert io.load_saved_model(fs, "mine", "--model").scaler is None


def test_load_failures_name_the_model(models: LocalFS, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(path: str) -> Any:
        raise RuntimeError("unreadable\nmore")

    monkeypatch.setattr(SavedKMeansModel, "load", staticmethod(broken))
    with pytest.raises(io.KMeansInputError, match=r"^--model 'run': the model 'run/model' cannot "):
        io.load_saved_model(models, "run", "--model")


# -- ArrowFS: the client's file system under Spark Connect ---------------------------------


def test_a_session_less_file_system_is_the_clients() -> None:
    assert type(io.JobFS()) is io.ArrowFS


def test_arrow_fs_on_local_paths(fs: LocalFS) -> None:
    fs.write_text("a/b/summary.json", "{}")  # parents made, as Hadoop's create does
    fs.write_bytes("a/plot.png", b"\x89PNG")
    assert fs.kind("a") == "dir" and fs.kind("a/plot.png") == "file" and fs.kind("z") is None
    assert fs.exists("a/b") and not fs.exists("a/c")
    assert fs.size("a/plot.png") == 4 and fs.read_text("a/b/summary.json") == "{}"
    assert fs.list_names("a") == ["b", "plot.png"]
    assert fs.qualify("a/b/../plot.png") == f"file:{fs.cwd}/a/plot.png"
    assert fs.qualify("file:///x/y") == "file:/x/y"
    fs.rename("a/b", "a/c")
    assert fs.list_names("a") == ["c", "plot.png"]
    with pytest.raises(OSError, match="the target exists"):  # never into or over a target
        fs.rename("a/c", "a/plot.png")
    with pytest.raises(OSError):
        fs.delete_empty_dir("a/c")  # not empty
    fs.delete("a/c/summary.json")
    fs.delete_empty_dir("a/c")
    fs.delete("a")
    fs.delete("a")  # nothing there: no error
    assert not fs.exists("a")


def test_arrow_fs_globs_as_hadoop(fs: LocalFS) -> None:
    for name in ("dt=2026-11-21/p0", "dt=2026-11-22/p0", "dt=2026-11-22/p1", "other/p0"):
        fs.write_text(f"lake/{name}", "x")
    root = f"file:{fs.cwd}/lake"
    assert fs.glob("lake/dt=*") == [f"{root}/dt=2026-11-21", f"{root}/dt=2026-11-22"]
    assert fs.glob("lake/dt=2026-11-2{2,3}/p?") == [
        f"{root}/dt=2026-11-22/p0",
        f"{root}/dt=2026-11-22/p1",
    ]
    assert fs.glob(f"{fs.cwd}/lake/*/p0") == [
        f"{root}/dt=2026-11-21/p0",
        f"{root}/dt=2026-11-22/p0",
        f"{root}/other/p0",
    ]
    assert fs.glob("lake/dt=1999-*") == [] and fs.glob("nowhere/*") == []
    io.check_input(fs, "lake/dt=*", "--input", "2026-11-22")
    with pytest.raises(io.KMeansInputError, match=r"^--input 'lake/x\*' matches no file"):
        io.check_input(fs, "lake/x*", "--input", "2026-11-22")


def test_a_scheme_pyarrow_cannot_reach_is_one_line(fs: LocalFS) -> None:
    with pytest.raises(io.KMeansInputError) as err:
        fs.kind("wasb://c@acct.blob.core.windows.net/lake")
    text = str(err.value)
    assert text.startswith(
        "path 'wasb://c@acct.blob.core.windows.net/lake' is on a wasb:// file system, which "
        "the Spark Connect client cannot reach (it reaches local paths and hdfs://, "
    )
    assert "run the job in a session of its own (spark-submit, --master)" in text
    assert "\n" not in text


def test_atomic_output_on_the_clients_file_system(fs: LocalFS) -> None:
    """Refuse a stranger's directory; replace an earlier run; leave nothing on failure."""
    (fs.cwd / "out").mkdir()
    (fs.cwd / "out" / "data.csv").write_text("theirs")
    with pytest.raises(io.KMeansInputError, match=r"is a directory of 1 entries \(data.csv\)"):
        write_run(fs)
    (fs.cwd / "out" / "data.csv").unlink()
    first = write_run(fs, mode="error")  # an empty directory is free
    assert sorted(p.name for p in (fs.cwd / "out").iterdir()) == [
        "_KMEANS_SPARK",
        "_SUCCESS",
        "summary.json",
    ]
    with pytest.raises(io.KMeansInputError, match=r"already exists; pass --mode overwrite"):
        write_run(fs, mode="error")
    second = write_run(fs)
    assert json.loads((fs.cwd / "out" / "summary.json").read_text()) == {"run": second.tmp}
    assert second.tmp != first.tmp
    cfg = load_config(
        None, {"input": {"path": "in"}, "output": {"path": "out", "mode": "overwrite"}}, None
    )
    failing = io.AtomicOutput(fs, cfg, "fit")
    with pytest.raises(RuntimeError), failing.writing():
        fs.write_text(failing.path("summary.json"), "{}")
        raise RuntimeError("the fit failed")
    assert sorted(p.name for p in fs.cwd.iterdir()) == ["out"]  # no temporary sibling
    assert json.loads((fs.cwd / "out" / "summary.json").read_text()) == {"run": second.tmp}
