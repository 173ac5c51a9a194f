"""Where a run reads and writes, decided from the paths alone (no file system, no Spark).

Used twice: on the configured paths before Spark starts, and on the paths the Hadoop file
system qualifies (``/x`` and ``hdfs:///x`` are the same path when HDFS is the default).
Input paths may be Hadoop globs (``*``, ``?``, ``[a-z]``, ``{a,b}``).
"""

from __future__ import annotations

import os
import posixpath
import re

from kmeans_spark.errors import KMeansInputError

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):(.*)$")  # two letters at least: not C:\
_GLOB_CHARS = frozenset("*?[{")


def template(text: str, run_date: str) -> str:
    """Substitute ``{run_date}`` (and ``{run_date_nodash}``) in paths and filters."""
    return text.replace("{run_date}", run_date).replace(
        "{run_date_nodash}", run_date.replace("-", "")
    )


def has_glob(path: str) -> bool:
    return any(c in _GLOB_CHARS for c in path)


def split(path: str) -> tuple[str, list[str]]:
    """``(root, components)`` of a path: the root is ``scheme://authority`` ("" for a local
    path, which is made absolute), the components the normalised path below it."""
    found = _SCHEME.match(path)
    if found is None or found.group(1).lower() == "file":
        local = found.group(2) if found else path
        local = "/" + local.lstrip("/") if found else os.path.abspath(local)
        root, rest = "", posixpath.normpath(local)
    else:
        scheme, rest = found.group(1).lower(), found.group(2)
        authority = ""
        if rest.startswith("//"):
            authority, _, rest = rest[2:].partition("/")
        root, rest = f"{scheme}://{authority}", posixpath.normpath("/" + rest)
    return root, [c for c in rest.split("/") if c]


def has_scheme(path: str) -> bool:
    """Whether ``path`` names its file system (``file:``, ``hdfs://``, ...)."""
    return _SCHEME.match(path) is not None


def absolute(path: str) -> str:
    """A relative local path made absolute (against the working directory), normalised;
    any other path (absolute, or with a scheme: ``file:``, ``hdfs://``) as it is."""
    if _SCHEME.match(path) or os.path.isabs(path):
        return path
    return os.path.abspath(path)


def matches(name: str, pattern: str) -> bool:
    """Whether a file name matches one component of a Hadoop glob (or equals it)."""
    if not has_glob(pattern):
        return name == pattern
    return _glob_regex(pattern).fullmatch(name) is not None


def _glob_regex(component: str) -> re.Pattern[str]:
    """A Hadoop glob component as a regular expression."""
    out, depth, i = [], 0, 0
    while i < len(component):
        c = component[i]
        if c == "\\" and i + 1 < len(component):
            i += 1
            out.append(re.escape(component[i]))
        elif c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = component.find("]", i + 1)
            if end < 0:
                out.append(re.escape(c))
            else:
                out.append("[" + component[i + 1 : end].replace("\\", "\\\\") + "]")
                i = end
        elif c == "{":
            depth += 1
            out.append("(?:")
        elif c == "}" and depth:
            depth -= 1
            out.append(")")
        elif c == "," and depth:
            out.append("|")
        else:
            out.append(re.escape(c))
        i += 1
    try:
        return re.compile("".join(out) + ")" * depth)
    except re.error:  # not a glob Hadoop would accept either: compare it literally
        return re.compile(re.escape(component))


def relation(output: str, other: str) -> str | None:
    """How ``output`` stands to ``other`` (a path or a glob): ``"is"``, ``"is inside"``,
    ``"contains"``, or None when they are apart."""
    out_root, out = split(output)
    other_root, paths = split(other)
    if out_root != other_root:
        return None
    common = min(len(out), len(paths))
    if not all(matches(o, p) for o, p in zip(out[:common], paths[:common], strict=True)):
        return None
    if len(out) == len(paths):
        return "is"
    return "is inside" if len(out) > len(paths) else "contains"


def check_apart(output: tuple[str, str], others: dict[str, str]) -> None:
    """Refuse an output that is, contains or is inside a path the run reads.

    ``output`` is ``(name, path)``; ``others`` maps how each read path is named (``--input``)
    to the path. A run writing into its own input would read its output next time, and an
    output that contains the input would be replaced by ``--mode overwrite``.
    """
    name, path = output
    for other_name, other in others.items():
        found = relation(path, other) if other else None
        if found:
            fix = {
                "is": f"choose another {name}",
                "is inside": f"choose an {name} outside {other_name}",
                "contains": f"choose an {name} that does not contain {other_name}",
            }[found]
            phrase = "is the same path as" if found == "is" else found
            raise KMeansInputError(
                f"{name} {path!r} {phrase} {other_name} {other!r}; a run must never write "
                f"where it reads: {fix}."
            )
