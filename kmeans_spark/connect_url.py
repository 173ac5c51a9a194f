"""Spark Connect URLs (``sc://HOST:PORT/;token=...``): where the job takes one from, its
rule, and its token masked for messages. No PySpark here: the command line checks a URL
before anything starts (and without importing Spark)."""

from __future__ import annotations

import re

from kmeans_spark.errors import KMeansInputError

#: Spark's own key for the URL of a Spark Connect server (``--remote``), and the variable
#: PySpark reads it from when no key sets it.
REMOTE_KEY = "spark.remote"
REMOTE_ENV = "SPARK_REMOTE"
#: A Spark Connect URL: ``sc://HOST[:PORT][/[;key=value]...]`` (HOST a name, an IPv4
#: address or a bracketed IPv6 one; PORT 15002 when left out, as Spark's). As strict as
#: PySpark's own parser: options only after the ``/``, no ``=`` inside a value; a URL it
#: would refuse must be refused here, since its error quotes the token.
_CONNECT_URL = re.compile(
    r"sc://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)"
    r"(?::(?P<port>[0-9]+))?(?:/(?P<params>(?:;[^;=/]+=[^;=]*)*))?"
)
DEFAULT_CONNECT_PORT = 15002


def connect_address(url: str, given_as: str) -> tuple[str, int]:
    """The ``(host, port)`` of a Spark Connect URL; a URL of another form is a one-line
    error naming where it came from (``given_as``: ``--remote``, ``SPARK_REMOTE``, ...)."""
    found = _CONNECT_URL.fullmatch(url.strip())
    port = int(found.group("port")) if found and found.group("port") else DEFAULT_CONNECT_PORT
    if found is None or not 1 <= port <= 65535:
        leave = f"unset {REMOTE_ENV}" if given_as == REMOTE_ENV else f"leave {given_as} out"
        raise KMeansInputError(
            f"{given_as} {without_token(url)!r} is not a Spark Connect URL: it must look like "
            f"sc://HOST:PORT (port 1-65535, {DEFAULT_CONNECT_PORT} if left out; options as "
            "/;token=..., no '=' inside a value), e.g. sc://spark-connect.example.com:15002; "
            "fix the URL, or "
            f"{leave} to run a session of the job's own."
        )
    return found.group("host").strip("[]"), port


_TOKEN_PARAM = re.compile(r"(;\s*token\s*=)[^;]*", re.IGNORECASE)


def without_token(url: str) -> str:
    """``url`` with its ``;token=`` parameter masked: a Connect token is a credential, and
    the URL is shown in logs, messages and summary.json."""
    return _TOKEN_PARAM.sub(r"\1***", url)
