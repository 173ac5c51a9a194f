"""What the job reads and writes, on any Hadoop file system (local, HDFS, S3A, ...).

* :func:`read_input`: the input, checked first (a missing path, a glob that matches nothing,
  an empty directory are one-line errors naming the flag, not Spark's stack traces);
* :class:`AtomicOutput`: a run's output directory, written under a temporary sibling and
  renamed into place, with a marker file naming this job. ``--mode overwrite`` replaces
  only a directory that has the marker: a typo in a scheduled job's output path never
  deletes data the job did not write;
* :func:`load_saved_model`: a fit run's model and scaler, for ``predict`` and warm starts;
* :class:`JobFS`: the few file-system calls these need: through the JVM's
  ``org.apache.hadoop.fs.FileSystem`` in a classic session, so an atomic rename works
  wherever Spark writes; through pyarrow's file systems under Spark Connect, whose client
  has no JVM.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow.fs as pafs
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession

from kmeans_spark import __version__
from kmeans_spark.app.cli import describe, error_text, one_line, read_failure
from kmeans_spark.app.config import RunConfig
from kmeans_spark.app.paths import check_apart, has_glob, matches, split
from kmeans_spark.app.scaler import Scaler
from kmeans_spark.errors import KMeansInputError
from kmeans_spark.model import KMeansModel

log = logging.getLogger(__name__)

#: The file in every output directory of this job; ``--mode overwrite`` needs it.
MARKER = "_KMEANS_SPARK"
#: Everything an output of this job held before it wrote :data:`MARKER` (0.1.0).
LEGACY_ENTRIES = {"model", "scaler.json", "assignments", "summary.json", "centers.csv", "_SUCCESS"}


class JobFS:
    """The file-system operations the batch job needs, for paths of any scheme the session
    can reach.

    ``JobFS(spark)`` gives the one for ``spark``'s type, decided here and nowhere else: in a
    classic session :class:`JvmFS` (Hadoop's ``FileSystem`` in the driver's JVM, every
    scheme Spark reads); under Spark Connect, whose client has no JVM, :class:`ArrowFS`
    (pyarrow's file systems in this process). Under Connect the server writes the
    DataFrames (``assignments/``, models) and this process the small files (JSON, PNG)
    into the same output directory, so the two must see the same file system: the same
    host or a shared mount for local paths, the same store for ``hdfs://`` and ``s3a://``.
    """

    def __new__(cls, spark: SparkSession | None = None) -> JobFS:
        """The subclass for ``spark``'s type (no session: the client's, :class:`ArrowFS`)."""
        if cls is not JobFS:
            return super().__new__(cls)
        from kmeans_spark.session import is_connect

        if spark is None or is_connect(spark):
            return super().__new__(ArrowFS)
        return super().__new__(JvmFS)

    def exists(self, path: str) -> bool:
        raise NotImplementedError

    def kind(self, path: str) -> str | None:
        """``"dir"``, ``"file"``, or None when nothing is there."""
        raise NotImplementedError

    def size(self, path: str) -> int:
        raise NotImplementedError

    def list_names(self, path: str) -> list[str]:
        """The names in a directory, sorted."""
        raise NotImplementedError

    def glob(self, pattern: str) -> list[str]:
        """The qualified paths a Hadoop glob (``*``, ``?``, ``[a-z]``, ``{a,b}``) matches."""
        raise NotImplementedError

    def delete(self, path: str) -> None:
        """Remove a file or a directory with everything in it; nothing there is no error."""
        raise NotImplementedError

    def delete_empty_dir(self, path: str) -> None:
        """Remove an empty directory; the file system refuses if anything appeared in it."""
        raise NotImplementedError

    def rename(self, src: str, dst: str) -> None:
        """Move ``src`` to ``dst``, which does not exist (the caller made sure)."""
        raise NotImplementedError

    def write_text(self, path: str, text: str) -> None:
        self.write_bytes(path, text.encode("utf-8"))

    def write_bytes(self, path: str, data: bytes) -> None:
        """Write a file, replacing any, creating its parent directories."""
        raise NotImplementedError

    def read_text(self, path: str) -> str:
        raise NotImplementedError

    def qualify(self, path: str) -> str:
        """The fully qualified form of ``path`` (scheme and authority)."""
        raise NotImplementedError


class JvmFS(JobFS):
    """:class:`JobFS` through the JVM's ``org.apache.hadoop.fs.FileSystem`` (a classic
    session), so an atomic rename works wherever Spark writes."""

    def __init__(self, spark: SparkSession) -> None:
        self._jvm: Any = spark.sparkContext._jvm
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()

    def _path(self, path: str) -> tuple[Any, Any]:
        p = self._jvm.org.apache.hadoop.fs.Path(path)
        fs = p.getFileSystem(self._conf)
        fs.setWriteChecksum(False)  # no .crc side files next to summary.json and friends
        return fs, p

    def exists(self, path: str) -> bool:
        fs, p = self._path(path)
        return bool(fs.exists(p))

    def kind(self, path: str) -> str | None:
        fs, p = self._path(path)
        if not fs.exists(p):
            return None
        return "dir" if fs.getFileStatus(p).isDirectory() else "file"

    def size(self, path: str) -> int:
        fs, p = self._path(path)
        return int(fs.getFileStatus(p).getLen())

    def list_names(self, path: str) -> list[str]:
        fs, p = self._path(path)
        return sorted(str(s.getPath().getName()) for s in fs.listStatus(p))

    def glob(self, pattern: str) -> list[str]:
        fs, p = self._path(pattern)
        found = fs.globStatus(p)
        return [] if found is None else [str(s.getPath().toString()) for s in found]

    def delete(self, path: str) -> None:
        fs, p = self._path(path)
        if fs.exists(p):
            fs.delete(p, True)

    def delete_empty_dir(self, path: str) -> None:
        fs, p = self._path(path)
        if not fs.delete(p, False):
            raise OSError(f"could not remove the empty directory {path}")

    def rename(self, src: str, dst: str) -> None:
        fs, s = self._path(src)
        d = self._jvm.org.apache.hadoop.fs.Path(dst)
        if not fs.rename(s, d):
            raise OSError(f"could not rename {src} to {dst}")

    def write_bytes(self, path: str, data: bytes) -> None:
        fs, p = self._path(path)
        stream = fs.create(p, True)
        try:
            stream.write(bytearray(data))
        finally:
            stream.close()

    def read_text(self, path: str) -> str:
        fs, p = self._path(path)
        stream = fs.open(p)
        try:
            data = self._jvm.org.apache.commons.io.IOUtils.toByteArray(stream)
        finally:
            stream.close()
        return bytes(data).decode("utf-8")

    def qualify(self, path: str) -> str:
        fs, p = self._path(path)
        return str(fs.makeQualified(p).toString())


#: The schemes :class:`ArrowFS` reaches beyond local paths, and pyarrow's name for each
#: (Hadoop's ``s3a://`` is pyarrow's ``s3://``: the same buckets).
ARROW_SCHEMES = {
    "hdfs": "hdfs",
    "s3": "s3",
    "s3a": "s3",
    "gs": "gs",
    "gcs": "gs",
    "abfs": "abfs",
    "abfss": "abfss",
}


class ArrowFS(JobFS):
    """:class:`JobFS` through pyarrow's file systems, in this process (a Spark Connect
    client has no JVM): local paths, and the stores pyarrow reaches (:data:`ARROW_SCHEMES`;
    ``hdfs://`` needs Hadoop's libhdfs, the object stores their usual credentials, which
    are pyarrow's, not Spark's ``fs.s3a.*`` settings). A local rename is atomic, as
    Hadoop's; an object store's is a copy and a delete, as with Hadoop's S3A.
    """

    def __init__(self, spark: SparkSession | None = None) -> None:
        self._local = pafs.LocalFileSystem()
        self._stores: dict[str, tuple[pafs.FileSystem, str]] = {}

    def _locate(self, path: str) -> tuple[pafs.FileSystem, str]:
        """pyarrow's file system of ``path`` and the path in its terms."""
        root, parts = split(path)
        inner = "/" + "/".join(parts)
        if not root:
            return self._local, inner
        if root not in self._stores:
            scheme, authority = root.split("://", 1)
            if scheme not in ARROW_SCHEMES:
                raise KMeansInputError(
                    f"path {path!r} is on a {scheme}:// file system, which the Spark Connect "
                    "client cannot reach (it reaches local paths and "
                    f"{', '.join(s + '://' for s in ARROW_SCHEMES)}); use one of those, or "
                    "run the job in a session of its own (spark-submit, --master), whose "
                    "Hadoop file system reads any scheme."
                )
            try:
                fs, base = pafs.FileSystem.from_uri(f"{ARROW_SCHEMES[scheme]}://{authority}/")
            except (OSError, ValueError) as exc:
                raise KMeansInputError(
                    f"path {path!r}: the Spark Connect client cannot open its file system "
                    f"({describe(exc)}); check the client's access to it (for hdfs://, "
                    "Hadoop's libhdfs: ARROW_LIBHDFS_DIR, CLASSPATH), or run the job in a "
                    "session of its own (spark-submit, --master)."
                ) from None
            self._stores[root] = fs, base.rstrip("/")
        fs, base = self._stores[root]
        return fs, (base + inner if inner != "/" else base or "/")

    def _info(self, path: str) -> pafs.FileInfo:
        fs, p = self._locate(path)
        return fs.get_file_info(p)

    def exists(self, path: str) -> bool:
        return self._info(path).type != pafs.FileType.NotFound

    def kind(self, path: str) -> str | None:
        found = self._info(path).type
        if found == pafs.FileType.NotFound:
            return None
        return "dir" if found == pafs.FileType.Directory else "file"

    def size(self, path: str) -> int:
        return int(self._info(path).size or 0)

    def list_names(self, path: str) -> list[str]:
        fs, p = self._locate(path)
        return sorted(info.base_name for info in fs.get_file_info(pafs.FileSelector(p)))

    def glob(self, pattern: str) -> list[str]:
        """Hadoop's glob, one path component at a time (pyarrow has none)."""
        root, parts = split(pattern)
        prefix = root or "file:"
        found = [""]
        for part in parts:
            step = []
            for parent in found:
                if has_glob(part):
                    if self.kind(f"{prefix}{parent}/") == "dir":
                        names = self.list_names(f"{prefix}{parent}/")
                        step += [f"{parent}/{n}" for n in names if matches(n, part)]
                elif self.exists(f"{prefix}{parent}/{part}"):
                    step.append(f"{parent}/{part}")
            found = step
        return [self.qualify(f"{prefix}{p or '/'}") for p in found]

    def delete(self, path: str) -> None:
        fs, p = self._locate(path)
        found = fs.get_file_info(p).type
        if found == pafs.FileType.Directory:
            fs.delete_dir(p)
        elif found != pafs.FileType.NotFound:
            fs.delete_file(p)

    def delete_empty_dir(self, path: str) -> None:
        fs, p = self._locate(path)
        if fs is self._local:
            os.rmdir(p)  # refuses, atomically, a directory that is not empty
        elif fs.get_file_info(pafs.FileSelector(p)):
            raise OSError(f"could not remove the empty directory {path}: it is not empty")
        else:
            fs.delete_dir(p)

    def rename(self, src: str, dst: str) -> None:
        fs, s = self._locate(src)
        target_fs, d = self._locate(dst)
        if target_fs is not fs or fs.get_file_info(d).type != pafs.FileType.NotFound:
            raise OSError(f"could not rename {src} to {dst}: the target exists or is elsewhere")
        if fs is self._local or fs.get_file_info(s).type != pafs.FileType.Directory:
            fs.move(s, d)
            return
        try:
            fs.move(s, d)
        except (OSError, NotImplementedError):  # an object store moves files only: copy, delete
            pafs.copy_files(s, d, source_filesystem=fs, destination_filesystem=fs)
            fs.delete_dir(s)

    def write_bytes(self, path: str, data: bytes) -> None:
        fs, p = self._locate(path)
        parent = p.rpartition("/")[0]
        if parent:
            fs.create_dir(parent, recursive=True)
        with fs.open_output_stream(p) as stream:
            stream.write(data)

    def read_text(self, path: str) -> str:
        fs, p = self._locate(path)
        with fs.open_input_stream(p) as stream:
            return bytes(stream.read()).decode("utf-8")

    def qualify(self, path: str) -> str:
        root, parts = split(path)
        return f"{root or 'file:'}/{'/'.join(parts)}"


# -- input -------------------------------------------------------------------------------


def _resolved(fs: JobFS, path: str) -> str:
    """`` (resolved as ...)`` when the file system reads ``path`` as something else."""
    qualified = fs.qualify(path)
    bare = qualified.removeprefix("file:").lstrip("/")
    return "" if bare == path.lstrip("/") else f" (resolved as {qualified})"


def check_input(fs: JobFS, path: str, name: str, run_date: str) -> None:
    """Refuse, in our words, an input Spark would fail on with a stack trace."""
    fix = f"check the path, and --run-date ({run_date}) if it uses {{run_date}}"
    if has_glob(path):
        if not fs.glob(path):
            raise KMeansInputError(f"{name} {path!r} matches no file or directory; {fix}.")
        return
    kind = fs.kind(path)
    if kind is None:
        raise KMeansInputError(f"{name} {path!r} does not exist{_resolved(fs, path)}; {fix}.")
    if kind == "dir":
        names = fs.list_names(path)
        if not [n for n in names if not n.startswith(("_", "."))]:
            only = f" (only {', '.join(names[:5])})" if names else ""
            raise KMeansInputError(
                f"{name} {path!r} is an empty directory{only}: it holds no data files; {fix}."
            )


def read_input(
    spark: SparkSession,
    fs: JobFS,
    cfg: RunConfig,
    options: Mapping[str, str | bool] | None = None,
) -> DataFrame:
    """The input as a DataFrame, with the row filter applied.

    CSV is read with every column as a string, so a non-numeric value in a feature column
    is reported with its text instead of silently turning the column into strings.
    ``options`` are more reader options of the command's own (recommend's movies: CSV cells
    over several lines, doubled quotes), after the config's.
    """
    inp, name = cfg.input, cfg.name("input.path")
    check_input(fs, inp.path, name, cfg.run_date)
    reader = spark.read.format(inp.format)
    if inp.format == "csv":
        reader = reader.option("header", inp.header).option("sep", inp.delimiter)
    if options:
        reader = reader.options(**options)
    try:  # the schema now: a Spark Connect client analyses a plan only when asked
        df = reader.load(inp.path)
        df.schema  # noqa: B018
    except AnalysisException as exc:
        if exc.getCondition() != "UNABLE_TO_INFER_SCHEMA":
            raise
        # a command whose format is its own (recommend's CSV) has no format to check
        fix = f" and {cfg.name('input.format')}" if "input.format" in cfg.keys else ""
        raise KMeansInputError(
            f"{name} {inp.path!r} holds no {inp.format} data files Spark can read (none below "
            f"it, or only empty ones); check the path{fix}."
        ) from None
    if not inp.where:
        return df
    try:
        filtered = df.where(inp.where)
        # a Connect client takes a filter's schema from its input's: analyse a projection
        filtered.select("*").schema  # noqa: B018
        return filtered
    except AnalysisException as exc:  # unknown column, syntax error
        text = str(exc).strip().splitlines()[0].split(" SQLSTATE")[0]
        raise KMeansInputError(
            f"{cfg.name('input.where')} {inp.where!r} is not a valid filter of the input "
            f"({text}); fix the expression."
        ) from None


def check_apart_on_fs(fs: JobFS, output: tuple[str, str], others: dict[str, str]) -> None:
    """:func:`~kmeans_spark.app.paths.check_apart` on the paths as the file system sees them
    (``/x`` is ``hdfs:///x`` when HDFS is the default; relative paths have a home)."""
    name, path = output
    check_apart((name, fs.qualify(path)), {k: fs.qualify(v) for k, v in others.items() if v})


# -- output ------------------------------------------------------------------------------


class AtomicOutput:
    """A run's output directory, written under a temporary sibling and renamed into place.

    The final path must be free (absent, or an empty directory) or, with ``mode=overwrite``,
    an earlier output of this job (it has :data:`MARKER`); anything else is refused.
    """

    def __init__(self, fs: JobFS, cfg: RunConfig, command: str) -> None:
        self.fs = fs
        self.final = cfg.output.path.rstrip("/") or "/"
        self.name = cfg.name("output.path")
        self.mode = cfg.output.mode
        self.tmp = f"{self.final}.__tmp-{uuid.uuid4().hex[:12]}"
        self.marker = json.dumps(
            {"written_by": "kmeans-spark", "command": command, "version": __version__}
        )

    def _occupant(self) -> str | None:
        """None if the final path is free, ``MARKER`` if it holds an earlier output of this
        job, else a description of what is there."""
        kind = self.fs.kind(self.final)
        if kind is None:
            return None
        if kind == "file":
            return f"a file ({self.fs.size(self.final)} bytes)"
        names = self.fs.list_names(self.final)
        if not names:
            return None
        if MARKER in names and self.fs.kind(f"{self.final}/{MARKER}") == "file":
            return MARKER
        if self._written_before_markers(names):
            return MARKER
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        return f"a directory of {len(names)} entries ({shown})"

    def _written_before_markers(self, names: list[str]) -> bool:
        """An output of this job from before it wrote :data:`MARKER`: nothing but the job's
        own entries, ``_SUCCESS``, and a ``summary.json`` the job wrote (its ``command`` and
        its ``versions.kmeans_spark``). Without this, the first scheduled re-run after an
        upgrade would refuse yesterday's output; a lake root or a stranger's directory
        never looks like this."""
        if not set(names) <= LEGACY_ENTRIES or not {"_SUCCESS", "summary.json"} <= set(names):
            return False
        try:
            written = json.loads(self.fs.read_text(f"{self.final}/summary.json"))
        except Exception:  # unreadable or not JSON: not ours
            return False
        return (
            isinstance(written, dict)
            and written.get("command") in ("fit", "predict")
            and "kmeans_spark" in (written.get("versions") or {})
        )

    def _refuse(self, occupant: str) -> KMeansInputError:
        if occupant == MARKER:
            return KMeansInputError(
                f"output {self.final!r} already exists; pass --mode overwrite to replace it, "
                f"or choose another {self.name}."
            )
        return KMeansInputError(
            f"{self.name} {self.final!r} is {occupant}, not an output of this job (no "
            f"{MARKER} marker), so the run leaves it untouched: --mode overwrite replaces only "
            f"an earlier output of this job. Check the path, or choose another {self.name}."
        )

    def check(self) -> None:
        """Refuse an occupied output before any work is done."""
        occupant = self._occupant()
        if occupant is not None and not (occupant == MARKER and self.mode == "overwrite"):
            raise self._refuse(occupant)

    def path(self, name: str) -> str:
        return f"{self.tmp}/{name}"

    def commit(self) -> None:
        """Move the finished temporary directory into place, then write ``_SUCCESS``."""
        self.fs.write_text(self.path(MARKER), self.marker)
        occupant = self._occupant()  # again: the path may have changed while the job ran
        old = None
        if occupant is not None and not (occupant == MARKER and self.mode == "overwrite"):
            raise self._refuse(occupant)
        if occupant == MARKER:
            old = f"{self.final}.__old-{uuid.uuid4().hex[:12]}"
            self.fs.rename(self.final, old)
        elif self.fs.kind(self.final) == "dir":
            self.fs.delete_empty_dir(self.final)  # else the rename would move tmp inside it
        try:
            self.fs.rename(self.tmp, self.final)
            self.fs.write_text(f"{self.final}/_SUCCESS", "")
        except BaseException:
            if old:  # put the previous run back where it was
                if self.fs.exists(self.final):
                    self.fs.rename(self.final, self.tmp)
                self.fs.rename(old, self.final)
            raise
        if old:  # the run is in place: a leftover copy of the previous one is no failure
            try:
                self.fs.delete(old)
            except Exception as exc:
                log.warning(
                    "the run is written, but the previous output moved aside to %s could not be "
                    "removed (%s); it is never read, delete it by hand",
                    old,
                    describe(exc),
                )

    def abort(self) -> None:
        try:
            self.fs.delete(self.tmp)
        except Exception as exc:  # never hide the run's own error
            log.warning("could not remove temporary output %s: %s", self.tmp, describe(exc))

    @contextmanager
    def writing(self) -> Iterator[AtomicOutput]:
        """Write under the temporary directory; commit at the end, or remove it all."""
        try:
            yield self
            self.commit()
        except BaseException:
            self.abort()
            raise


def open_output(fs: JobFS, cfg: RunConfig, command: str) -> AtomicOutput:
    """The run's output, refused now (before any work) if it is taken or overlaps a path the
    run reads (:meth:`RunConfig.read_paths`: ``--input``, ``--model``)."""
    check_apart_on_fs(fs, (cfg.name("output.path"), cfg.output.path), cfg.read_paths())
    out = AtomicOutput(fs, cfg, command)
    out.check()
    return out


# -- saved models ------------------------------------------------------------------------


@dataclass
class SavedModel:
    """A fit run's model, its scaler (None for a bare model directory), and where it was."""

    model: KMeansModel
    scaler: Scaler | None
    path: str

    @property
    def centers(self) -> np.ndarray:
        """ndarray of shape (k, n_features), in the model's (scaled) units."""
        return np.array(self.model.clusterCenters(), dtype=np.float64)


def load_saved_model(fs: JobFS, path: str, name: str) -> SavedModel:
    """A model from a run directory (``model/`` + ``scaler.json``) or a model directory.

    A model directory named ``model`` is taken for a run's (its ``scaler.json`` is beside
    it); any other holds a model alone, without scaling, whatever its parent holds.
    """
    path = path.rstrip("/")
    fix = (
        "pass a fit run's output directory (it holds model/ and scaler.json), or a directory "
        "a KMeansModel (ours or pyspark.ml's) was saved to"
    )
    kind = fs.kind(path)
    if kind != "dir":
        what = "does not exist" + _resolved(fs, path) if kind is None else "is a file"
        raise KMeansInputError(f"{name} {path!r} {what}; {fix}.")
    run_dir: str | None = path
    if fs.exists(f"{path}/model/metadata"):
        model_path = f"{path}/model"
    elif fs.exists(f"{path}/metadata"):
        model_path = path
        head, _, base = path.rpartition("/")
        # a bare "model" (or "/model") has its parent only once qualified (file:/cwd)
        run_dir = (head or fs.qualify(path).rpartition("/")[0]) if base == "model" else None
    else:
        raise KMeansInputError(
            f"{name} {path!r} holds no model (no model/metadata or metadata inside); {fix}."
        )
    try:
        model = KMeansModel.load(model_path)
        centers = np.array(model.clusterCenters(), dtype=np.float64)
    except Exception as exc:  # whatever is wrong with the files, the user fixes it the same
        failure = read_failure(error_text(exc))
        if failure is not None and not failure.corrupt:
            raise  # the files could not be reached, a retry may read them: exit 1
        raise KMeansInputError(
            f"{name} {path!r}: the model {model_path!r} cannot be loaded "
            f"({one_line(exc)[:500].rstrip('.')}); {fix}."
        ) from None
    scaler = None
    scaler_path = f"{run_dir}/scaler.json"
    if run_dir is not None and fs.kind(scaler_path) == "file":
        try:
            scaler = Scaler.from_json(fs.read_text(scaler_path))
            if len(scaler.features) != centers.shape[1]:
                raise ValueError(
                    f"{len(scaler.features)} features, but the model has {centers.shape[1]}"
                )
        except (ValueError, UnicodeDecodeError) as exc:
            raise KMeansInputError(
                f"{name} {path!r}: {scaler_path!r} is not the scaler of this model ({exc}); "
                "pass the fit run's output directory as the job wrote it."
            ) from None
    return SavedModel(model, scaler, model_path)
