"""Output paths on any Hadoop file system (local, HDFS, S3A, ...), through the JVM's
``org.apache.hadoop.fs.FileSystem``, so the job's atomic rename works wherever Spark writes."""

from __future__ import annotations

from typing import Any

from pyspark.sql import SparkSession


class HadoopFS:
    """The few file-system operations the batch job needs, for paths of any scheme."""

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

    def delete(self, path: str) -> None:
        fs, p = self._path(path)
        if fs.exists(p):
            fs.delete(p, True)

    def rename(self, src: str, dst: str) -> None:
        fs, s = self._path(src)
        d = self._jvm.org.apache.hadoop.fs.Path(dst)
        if not fs.rename(s, d):
            raise OSError(f"could not rename {src} to {dst}")

    def mkdirs(self, path: str) -> None:
        fs, p = self._path(path)
        fs.mkdirs(p)

    def write_text(self, path: str, text: str) -> None:
        fs, p = self._path(path)
        stream = fs.create(p, True)
        try:
            stream.write(bytearray(text.encode("utf-8")))
        finally:
            stream.close()

    def read_text(self, path: str) -> str:
        fs, p = self._path(path)
        stream = fs.open(p)
        try:
            reader = self._jvm.java.io.BufferedReader(
                self._jvm.java.io.InputStreamReader(stream, "UTF-8")
            )
            lines = []
            line = reader.readLine()
            while line is not None:
                lines.append(line)
                line = reader.readLine()
            return "\n".join(lines)
        finally:
            stream.close()

    def qualify(self, path: str) -> str:
        """The fully qualified form of ``path`` (scheme and authority), for logs."""
        fs, p = self._path(path)
        return str(fs.makeQualified(p).toString())
