"""The job's configuration: layers, types, rules and paths, all derived from options.py
(no Spark)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from kmeans_spark.app.config import DEFAULTS, TABLES, load_config
from kmeans_spark.app.paths import relation, split, template
from kmeans_spark.connect_url import REMOTE_ENV, connect_address, without_token
from kmeans_spark.errors import KMeansInputError
from kmeans_spark.options import OPTIONS

ROOT = Path(__file__).resolve().parents[2]
PATHS = {"input": {"path": "i", "features": ["x"]}, "output": {"path": "o"}}


def layer(**tables: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The minimal valid command line plus ``tables``."""
    merged: dict[str, dict[str, Any]] = {t: dict(v) for t, v in PATHS.items()}
    for table, values in tables.items():
        merged.setdefault(table, {}).update(values)
    return merged


def test_tables_and_defaults_come_from_the_options() -> None:
    keys = {o.key for o in OPTIONS if o.key}
    for table, cls in TABLES.items():
        if table != "spark":
            assert {f"{table}.{f.name}" for f in dataclasses.fields(cls)} <= keys
    assert {f"{t}.{k}" for t, values in DEFAULTS.items() for k in values} == keys
    assert DEFAULTS["job"]["seed"] == 42 and DEFAULTS["job"]["k"] == 2  # the job's, Spark's


def test_layers_defaults_file_then_command_line(tmp_path: Path) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text(
        '[input]\npath = "lake/dt={run_date}"\nfeatures = ["a", "b"]\n'
        '[job]\nk = 7\ntol = 1\n[output]\npath = "out/{run_date_nodash}"\n'
        '[spark]\n"spark.sql.shuffle.partitions" = 3\n"spark.ui.enabled" = false\n'
    )
    cfg = load_config(str(conf), {"job": {"k": "9"}, "spark": {"x.y": "z"}}, "2026-11-22")
    assert cfg.job.k == 9 and cfg.job.tol == 1.0 and cfg.job.max_iter == 20
    assert cfg.input.path == "lake/dt=2026-11-22" and cfg.output.path == "out/20261122"
    assert cfg.input.features == ["a", "b"]
    assert cfg.spark.settings == {
        "spark.sql.shuffle.partitions": "3",
        "spark.ui.enabled": "false",
        "x.y": "z",
    }
    assert cfg.source == str(conf)
    assert cfg.name("job.k") == "job.k" and cfg.name("job.tol") == "job.tol"
    assert cfg.as_dict()["input"]["path"] == "lake/dt=2026-11-22"


def test_estimator_params_are_the_job_keys_by_param_name() -> None:
    cfg = load_config(None, layer(job={"k": 4, "max_iter": 7, "distance": "cosine"}), None)
    params = cfg.job.estimator_params()
    assert params["k"] == 4 and params["maxIter"] == 7 and params["distanceMeasure"] == "cosine"
    assert "scale" not in params and "init_model" not in params and params["seed"] == 42


@pytest.mark.parametrize("name", ["local.toml", "cluster.toml"])
def test_shipped_config_files_load(name: str) -> None:
    cfg = load_config(str(ROOT / "conf" / name), layer(), None)
    assert cfg.job.k == 2 and cfg.output.mode == "error"  # k: each command's own default


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        ({"job": {"kk": 1}}, r"unknown key job.kk in the command line; known keys of \[job\]"),
        ({"jobs": {"k": 1}}, r"unknown table \[jobs\]"),
        ({"job": {"k": "x"}}, r"^job.k='x' \(the command line\) must be an integer; fix"),
        ({"job": {"k": True}}, r"must be an integer"),
        ({"job": {"k": 2.5}}, r"job.k=2.5 .* must be an integer"),
        ({"job": {"tol": "fast"}}, r"job.tol='fast' .* must be a number"),
        ({"output": {"keep_features": "maybe"}}, r"must be true/false"),
        ({"input": {"features": [1, 2]}}, r"input.features=\[1, 2\] .* must be a list of strings"),
        ({"input": {"where": 3}}, r"input.where=3 .* must be a string"),
        (
            {"job": {"scale": "log"}},
            r"^job.scale='log' is not supported; use one of none, standard",
        ),
        ({"output": {"mode": "append"}}, r"mode='append' is not supported"),
        ({"input": {"format": "xlsx"}}, r"format='xlsx' is not supported"),
        ({"input": {"delimiter": "::"}}, r"delimiter='::' must be one character"),
        ({"job": {"k": 1}}, r"^job.k=1 must be >= 2; ask for at least two clusters\.$"),
        ({"job": {"max_iter": 0}}, r"^job.max_iter=0 must be >= 1\.$"),
        ({"job": {"tol": -1}}, r"^job.tol=-1.0 must be a finite number >= 0\.$"),
        ({"job": {"init_steps": 0}}, r"^job.init_steps=0 must be >= 1\.$"),
        ({"job": {"partitions": -1}}, r"^job.partitions=-1 must be >= 0; 0 picks it for you\.$"),
        ({"spark": {"spark.x": {"y": 1}}}, r"spark setting 'spark.x' .* is dict"),
    ],
)
def test_bad_values_are_one_line_errors(tables: dict[str, Any], message: str) -> None:
    with pytest.raises(KMeansInputError, match=message):
        load_config(None, layer(**tables), "2026-01-01")


def test_a_flag_is_named_as_the_user_wrote_it() -> None:
    flags = {"job.k": "--k"}
    with pytest.raises(KMeansInputError, match=r"^--k='three' must be an integer; fix the value"):
        load_config(None, layer(job={"k": "three"}), None, flags)
    with pytest.raises(KMeansInputError, match=r"^--k=1 must be >= 2"):
        load_config(None, layer(job={"k": "1"}), None, flags)


def test_wrong_types_in_a_file_name_the_file(tmp_path: Path) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text('[job]\nk = "five"\n')
    with pytest.raises(KMeansInputError, match=rf"job.k='five' \(config file '{conf}'\)"):
        load_config(str(conf), layer(), None)
    conf.write_text("job = 3\n")
    with pytest.raises(KMeansInputError, match=r"\[job\] in config file .* must be a table"):
        load_config(str(conf), layer(), None)


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        ({"input": {"features": "a,b,a"}}, r"^input.features 'a,b,a' names 'a' twice"),
        ({"input": {"features": "x*,x*"}}, r"names 'x\*' twice; name each column once"),
        ({"input": {"id_cols": ["id", "id"]}}, r"^input.id_cols 'id,id' names 'id' twice"),
        (
            {"input": {"features": "id,x", "id_cols": "id"}},
            r"column 'id' is in both input.features and input.id_cols; id columns are copied",
        ),
    ],
)
def test_columns_are_named_once(tables: dict[str, Any], message: str) -> None:
    with pytest.raises(KMeansInputError, match=message):
        load_config(None, layer(**tables), None)


def test_a_pattern_may_overlap_a_name_or_an_id_column() -> None:
    cfg = load_config(None, layer(input={"features": "x*,x0", "id_cols": "x_id"}), None)
    assert cfg.input.features == ["x*", "x0"]


def test_missing_paths_and_dates() -> None:
    with pytest.raises(KMeansInputError, match=r"no input path; pass --input PATH"):
        load_config(None, {"output": {"path": "o"}}, None)
    with pytest.raises(KMeansInputError, match=r"no output path; pass --output DIR"):
        load_config(None, {"input": {"path": "i"}}, None)
    with pytest.raises(KMeansInputError, match=r"run date '2026-13-01' is not a date"):
        load_config(None, layer(), "2026-13-01")


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(KMeansInputError, match=r"config file .* does not exist"):
        load_config(str(tmp_path / "nope.toml"), {}, None)
    with pytest.raises(KMeansInputError, match=r"config file .* is a directory"):
        load_config(str(tmp_path), {}, None)
    bad = tmp_path / "bad.toml"
    bad.write_text("[job\nk=1")
    with pytest.raises(KMeansInputError, match=r"is not valid TOML \("):
        load_config(str(bad), {}, None)
    bad.write_bytes(b"\xff\xfe[job]")
    with pytest.raises(KMeansInputError, match=r"is not (UTF-8 text|valid TOML)"):
        load_config(str(bad), {}, None)


def test_template() -> None:
    assert template("a/{run_date}/{run_date_nodash}", "2026-01-02") == "a/2026-01-02/20260102"


# -- paths -----------------------------------------------------------------------------


def test_split_normalises_local_and_remote_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/tmp")
    assert split("a/../b/") == ("", ["tmp", "b"])
    assert split("file:///x/y") == split("file:/x/y") == split("/x//y") == ("", ["x", "y"])
    assert split("hdfs://nn:8020/x/./y") == ("hdfs://nn:8020", ["x", "y"])
    assert split("S3A://bucket/x") == ("s3a://bucket", ["x"])


@pytest.mark.parametrize(
    ("output", "other", "expected"),
    [
        ("/lake", "/lake", "is"),
        ("/lake/", "file:///lake", "is"),
        ("/lake/out", "/lake", "is inside"),
        ("/lake", "/lake/dt=1", "contains"),
        ("/lake2", "/lake", None),
        ("/runs/x", "/lake", None),
        ("/lake/dt=2026/x", "/lake/dt=*", "is inside"),
        ("/lake/runs", "/lake/dt=*", None),
        ("/lake", "/lake/dt=*/part-*.csv", "contains"),
        ("/lake/b/x", "/lake/{a,b}", "is inside"),
        ("/lake/c/x", "/lake/{a,b}", None),
        ("/lake/d3", "/lake/d[0-9]", "is"),
        ("hdfs://nn/lake/out", "/lake", None),  # another file system
        ("hdfs://nn/lake/out", "hdfs://nn/lake", "is inside"),
    ],
)
def test_relation_of_output_and_input(output: str, other: str, expected: str | None) -> None:
    assert relation(output, other) == expected


@pytest.mark.parametrize(
    ("input_path", "output_path", "message"),
    [
        ("lake", "lake", r"^--output 'lake' is the same path as --input 'lake'; .*another"),
        ("lake", "lake/out", r"^--output 'lake/out' is inside --input 'lake'; a run must never"),
        ("lake/dt=*", "lake", r"^--output 'lake' contains --input 'lake/dt=\*'"),
    ],
)
def test_output_apart_from_input(input_path: str, output_path: str, message: str) -> None:
    flags = {"input.path": "--input", "output.path": "--output"}
    tables = layer(input={"path": input_path}, output={"path": output_path})
    with pytest.raises(KMeansInputError, match=message):
        load_config(None, tables, None, flags)


# -- what the config says about the run's paths and settings ------------------------------


def test_the_read_paths_are_the_commands_own() -> None:
    """--model is a read path of predict only: fit keeps its output apart from the input."""
    from kmeans_spark.app import fit, predict

    tables = layer(job={"model": "runs/{run_date}"})
    scoring = load_config(None, tables, "2026-11-22", keys=predict.KEYS)
    assert scoring.job.model == "runs/2026-11-22"  # templated as every path
    assert scoring.read_paths() == {"input.path": "i", "job.model": "runs/2026-11-22"}
    training = load_config(None, tables, "2026-11-22", keys=fit.KEYS)
    assert training.read_paths() == {"input.path": "i"}
    load_config(None, layer(job={"model": "o/x"}), None, keys=fit.KEYS)  # not read: no overlap
    with pytest.raises(KMeansInputError, match=r"^output.path 'o' contains job.model 'o/x'"):
        load_config(None, layer(job={"model": "o/x"}), None, keys=predict.KEYS)


@pytest.mark.parametrize("output", ["runs/*", "runs/d?", "runs/d[12]", "runs/{a,b}", "o/{oops}"])
def test_an_output_with_glob_characters_is_refused(output: str) -> None:
    with pytest.raises(KMeansInputError, match=r"has a glob character .* choose a path without"):
        load_config(None, layer(output={"path": output}), "2026-11-22")


def test_the_log_level_is_checked_before_spark_starts() -> None:
    cfg = load_config(None, layer(spark={"kmeans_spark.logLevel": "info"}), None)
    assert cfg.spark.log_level == "info"  # Spark takes any case
    assert load_config(None, layer(), None).spark.log_level == "WARN"
    with pytest.raises(KMeansInputError, match=r"^spark setting kmeans_spark.logLevel='LOUD' is"):
        load_config(None, layer(spark={"kmeans_spark.logLevel": "LOUD"}), None)


SECRETS = [
    "spark.hadoop.fs.s3a.access.key",
    "spark.hadoop.fs.s3a.secret.key",
    "spark.hadoop.fs.s3a.session.token",
    "spark.hadoop.fs.s3a.bucket.lake.access.key",
    "spark.hadoop.fs.s3a.encryption.key",
    "spark.hadoop.fs.azure.account.key.acct.dfs.core.windows.net",
    "spark.hadoop.fs.azure.sas.container.acct.blob.core.windows.net",
    "spark.hadoop.fs.azure.sas.fixed.token",
    "spark.hadoop.fs.azure.account.oauth2.client.secret",
    "spark.hadoop.fs.gs.auth.service.account.private.key",
    "spark.hadoop.fs.gs.auth.service.account.private.key.id",
    "spark.hadoop.hadoop.security.credential.provider.path",
    "spark.authenticate.secret",
    "spark.ssl.keyStorePassword",
    "spark.executorEnv.AWS_SECRET_ACCESS_KEY",
    "spark.kubernetes.authenticate.submission.oauthToken",
    "spark.datadog.api.key",
]
PLAIN = {
    "spark.sql.shuffle.partitions": "8",
    "spark.authenticate.enableSaslEncryption": "true",
    "spark.hadoop.fs.defaultFS": "hdfs://nn:8020",
    "spark.hadoop.fs.s3a.endpoint": "s3.eu-west-1.amazonaws.com",
    "spark.io.encryption.keySizeBits": "256",
    "spark.hadoop.dfs.encryption.key.provider.uri": "kms://http@kms:9600/kms",
}


@pytest.mark.parametrize("key", SECRETS)
def test_credentials_are_masked_in_the_summary(key: str) -> None:
    from kmeans_spark.app.runner import redacted

    cfg = load_config(None, layer(spark={key: "hunter2", **PLAIN}), None)
    assert redacted(cfg)["spark"] == {key: "***", **PLAIN}


# -- Spark Connect: the server's URL -------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("sc://localhost:15002", ("localhost", 15002)),
        ("sc://spark.example.com", ("spark.example.com", 15002)),  # Spark's default port
        ("sc://10.0.0.5:443/;use_ssl=true;token=abc", ("10.0.0.5", 443)),
        ("sc://[::1]:9000/", ("::1", 9000)),
    ],
)
def test_connect_urls_give_host_and_port(url: str, address: tuple[str, int]) -> None:
    assert connect_address(url, "--remote") == address


@pytest.mark.parametrize(
    "url",
    ["localhost:15002", "http://h:1", "sc://", "sc://h:0", "sc://h:65536", "sc://h:x",
     "sc://h:1/path", "sc://-h:1", "local[2]", "sc://h:1/;token",
     # PySpark's parser refuses these, quoting the token: refused here first
     "sc://h:1;token=SECRET", "sc://h:1/;token=SEC=RET"],
)  # fmt: skip
def test_other_urls_are_one_line_errors(url: str) -> None:
    with pytest.raises(KMeansInputError) as err:
        connect_address(url, "--remote")
    assert str(err.value) == (
        f"--remote {without_token(url)!r} is not a Spark Connect URL: it must look like "
        "sc://HOST:PORT (port 1-65535, 15002 if left out; options as /;token=..., no '=' "
        "inside a value), e.g. sc://spark-connect.example.com:15002; fix the URL, or leave "
        "--remote out to run a session of the job's own."
    )
    assert "SECRET" not in str(err.value) and "RET" not in str(err.value)


def test_the_url_comes_from_the_command_line_a_file_or_spark_remote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(REMOTE_ENV, raising=False)
    conf = tmp_path / "c.toml"
    conf.write_text('[spark]\n"spark.remote" = "sc://from-file:1"\n"spark.master" = "local[1]"\n')
    cfg = load_config(None, layer(), None)
    assert (cfg.spark.remote, cfg.spark.remote_from) == ("", "")
    cfg = load_config(str(conf), layer(), None)  # the file's master is left unused: no conflict
    assert cfg.spark.remote == "sc://from-file:1"
    assert cfg.spark.remote_from == f"spark.remote (config file {str(conf)!r})"
    assert "spark.remote" not in cfg.spark.session_settings()
    monkeypatch.setenv(REMOTE_ENV, "sc://from-env:2")
    assert load_config(str(conf), layer(), None).spark.remote == "sc://from-file:1"
    cfg = load_config(None, layer(), None)
    assert (cfg.spark.remote, cfg.spark.remote_from) == ("sc://from-env:2", REMOTE_ENV)
    flagged = layer(spark={"spark.remote": "sc://flag:3"})
    cfg = load_config(str(conf), flagged, None, {"spark.remote": "--remote"})
    assert (cfg.spark.remote, cfg.spark.remote_from) == ("sc://flag:3", "--remote")
    cfg = load_config(None, flagged, None)
    assert cfg.spark.remote_from == "--conf spark.remote"
    with pytest.raises(KMeansInputError, match=r"^SPARK_REMOTE 'sc://from-env:2' and --master "):
        load_config(None, layer(spark={"spark.master": "local[2]"}), None)
    monkeypatch.setenv(REMOTE_ENV, "local")
    with pytest.raises(KMeansInputError, match=r"; fix the URL, or unset SPARK_REMOTE to run a"):
        load_config(None, layer(), None)


def test_the_connect_token_is_masked_in_the_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    from kmeans_spark.app.runner import redacted

    monkeypatch.setenv(REMOTE_ENV, "sc://h:1/;user_id=me;token=hunter2;use_ssl=true")
    cfg = load_config(None, layer(), None)
    assert redacted(cfg)["spark"] == {"spark.remote": "sc://h:1/;user_id=me;token=***;use_ssl=true"}
    assert without_token("sc://h:1/;Token = x") == "sc://h:1/;Token =***"


def test_local_paths_are_qualified_for_a_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    tables = layer(
        input={"path": "lake/dt=*"},
        output={"path": "runs/{run_date}"},
        job={"init_model": "runs/old", "model": "hdfs://nn/m"},
    )
    cfg = load_config(None, tables, "2026-11-22").with_local_paths_qualified()
    assert cfg.input.path == f"file://{tmp_path}/lake/dt=*"
    assert cfg.output.path == f"file://{tmp_path}/runs/2026-11-22"
    assert cfg.job.init_model == f"file://{tmp_path}/runs/old"
    assert cfg.job.model == "hdfs://nn/m"  # a path with a scheme is the server's as it is
    # a bare absolute path too: the server would read it on its fs.defaultFS
    bare = load_config(None, layer(output={"path": "/o"}), None)
    assert bare.with_local_paths_qualified().output.path == "file:///o"
