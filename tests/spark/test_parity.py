""" "Change one import" is literally true: ours has everything Spark's KMeans has.

Spark's classes are introspected, not listed: every public name, param, default and method
signature of ``pyspark.ml.clustering.KMeans``, ``KMeansModel`` and ``KMeansSummary`` must
exist on ours, so a Spark release that adds one makes a test here fail. Then Spark's own
doctest runs unchanged against both libraries.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from types import ModuleType
from typing import Any

import numpy as np
import pyspark.ml.clustering as spark_clustering
import pytest
from pyspark.ml.param import Param, Params

import kmeans_spark
from kmeans_spark import KMeans, KMeansInputError, KMeansModel, KMeansSummary
from kmeans_spark.options import OPTIONS
from kmeans_spark.params import CONVERTERS

from .helpers import cols

CLASS_PAIRS = [
    pytest.param(spark_clustering.KMeans, KMeans, id="KMeans"),
    pytest.param(spark_clustering.KMeansModel, KMeansModel, id="KMeansModel"),
    pytest.param(spark_clustering.KMeansSummary, KMeansSummary, id="KMeansSummary"),
]
ESTIMATOR_AND_MODEL = CLASS_PAIRS[:2]


def public_names(cls: type) -> set[str]:
    """Public attributes of a class, and of its instances when it is a dataclass."""
    names = {n for n in dir(cls) if not n.startswith("_")}
    if dataclasses.is_dataclass(cls):
        names |= {f.name for f in dataclasses.fields(cls) if not f.name.startswith("_")}
    return names


def kind(cls: type, name: str) -> str:
    """How a name is used: read as a value (property, or a dataclass field), a Param, or
    called (a method; a classmethod such as ``load``)."""
    static = inspect.getattr_static(cls, name, None)
    fields = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
    if isinstance(static, property) or name in fields:
        return "value"
    if isinstance(static, Param):
        return "param"
    if isinstance(static, classmethod):
        return "classmethod"
    return "method" if callable(static) else type(static).__name__


def instances(spark: Any, theirs: type, ours: type) -> tuple[Params, Params]:
    """Fresh instances of both (Spark's estimator needs the session for its JVM twin)."""
    assert spark is not None
    return theirs(), ours()


# -- names, kinds, signatures ----------------------------------------------------------


@pytest.mark.parametrize(("theirs", "ours"), CLASS_PAIRS)
def test_sparks_public_names_exist_on_ours(theirs: type, ours: type) -> None:
    missing = public_names(theirs) - public_names(ours)
    assert not missing, f"{ours.__name__} lacks Spark's {sorted(missing)}"


@pytest.mark.parametrize(("theirs", "ours"), CLASS_PAIRS)
def test_each_name_is_used_the_same_way(theirs: type, ours: type) -> None:
    different = {
        name: (kind(theirs, name), kind(ours, name))
        for name in public_names(theirs)
        if kind(theirs, name) != kind(ours, name)
    }
    assert not different, different


@pytest.mark.parametrize(("theirs", "ours"), CLASS_PAIRS)
def test_methods_take_sparks_arguments(theirs: type, ours: type) -> None:
    """Every argument Spark's method takes, ours takes with the same kind and default;
    ours may add arguments only with defaults."""
    for name in sorted(public_names(theirs)):
        if kind(theirs, name) not in ("method", "classmethod"):
            continue
        spark_sig = inspect.signature(getattr(theirs, name))
        our_sig = inspect.signature(getattr(ours, name))
        for arg in spark_sig.parameters.values():
            mine = our_sig.parameters.get(arg.name)
            assert mine is not None, f"{name}() lacks Spark's argument {arg.name!r}"
            assert (mine.kind, mine.default) == (arg.kind, arg.default), f"{name}({arg.name})"
        extra = [p for n, p in our_sig.parameters.items() if n not in spark_sig.parameters]
        required = [p.name for p in extra if p.default is p.empty and p.kind <= p.KEYWORD_ONLY]
        assert not required, f"{name}() requires {required}, which Spark's does not"


@pytest.mark.parametrize("method", ["__init__", "setParams"])
def test_constructor_and_set_params_are_keyword_only_with_the_params_defaults(
    method: str,
) -> None:
    spark_sig = inspect.signature(getattr(spark_clustering.KMeans, method))
    our_sig = inspect.signature(getattr(KMeans, method))
    theirs = {n: p.default for n, p in spark_sig.parameters.items() if n != "self"}
    ours = {n: p for n, p in our_sig.parameters.items() if n != "self"}
    assert all(p.kind is p.KEYWORD_ONLY for p in ours.values())
    assert {n: ours[n].default for n in theirs if n in ours} == theirs
    estimator = KMeans()
    for name, arg in ours.items():  # the signature says what the param's default is
        if arg.default is not None:
            assert estimator.getOrDefault(name) == arg.default, name
        else:
            assert name == "seed" or not estimator.isDefined(name), name


# -- params and defaults ---------------------------------------------------------------


@pytest.mark.parametrize(("theirs", "ours"), ESTIMATOR_AND_MODEL)
def test_sparks_params_exist_with_the_same_defaults_and_converters(
    spark: Any, theirs: type, ours: type
) -> None:
    spark_obj, our_obj = instances(spark, theirs, ours)
    for param in spark_obj.params:
        assert our_obj.hasParam(param.name), param.name
        mine = our_obj.getParam(param.name)
        assert mine.typeConverter is param.typeConverter, param.name
        assert our_obj.hasDefault(mine) == spark_obj.hasDefault(param), param.name
        if spark_obj.hasDefault(param):
            assert our_obj.getOrDefault(mine) == spark_obj.getOrDefault(param), param.name


def test_every_option_is_a_param_with_its_default_and_type() -> None:
    """The options table, which the job's config and CLI read too, is what the params are."""
    estimator = KMeans()
    for option in OPTIONS:
        if option.param is None:
            continue
        param = estimator.getParam(option.param)
        assert param.typeConverter is CONVERTERS[option.type], option.param
        if option.default is not None:
            assert estimator.getOrDefault(param) == option.default, option.param
        if option.choices:
            assert option.default == option.choices[0], option.param


@pytest.mark.parametrize(("theirs", "ours"), ESTIMATOR_AND_MODEL)
def test_setters_return_self(spark: Any, theirs: type, ours: type) -> None:
    _, our_obj = instances(spark, theirs, ours)
    for name in sorted(public_names(theirs)):
        if not re.fullmatch(r"set[A-Z]\w*", name) or name == "setParams":
            continue
        param = name[3].lower() + name[4:]
        value = our_obj.getOrDefault(param) if our_obj.hasDefault(param) else "w"
        assert getattr(our_obj, name)(value) is our_obj, name
    if isinstance(our_obj, KMeans):
        assert our_obj.setParams(k=3) is our_obj


# -- an explicit None, as Spark's setParams takes it -----------------------------------


@pytest.mark.parametrize(("theirs", "ours"), ESTIMATOR_AND_MODEL[:1])
def test_an_explicit_none_is_set_as_spark_sets_it(spark: Any, theirs: type, ours: type) -> None:
    for cls in (theirs, ours):
        est = cls(seed=None, k=3)
        assert est.isSet("seed") and est.getSeed() is None and est.getK() == 3
        est.setParams(seed=7)
        assert est.getSeed() == 7 and est.getK() == 3  # only the keywords given are set
        est.setParams(seed=None, weightCol=None)
        assert est.getSeed() is None and est.isSet("weightCol") and est.getWeightCol() is None


def test_a_none_seed_fits_like_seed_0_as_on_sparks_jvm(spark: Any) -> None:
    from pyspark.ml.linalg import Vectors

    rows = [(float(i % 5) + 0.1 * i, float(i % 3)) for i in range(30)]
    df = spark.createDataFrame(rows, "x0 double, x1 double")
    vectors = spark.createDataFrame([(Vectors.dense(r),) for r in rows], ["features"])

    def centres(cls: type, frame: Any, seed: int | None, **kw: Any) -> list[list[float]]:
        model = cls(k=3, seed=seed, initMode="random", maxIter=1, **kw).fit(frame)
        return sorted(c.tolist() for c in model.clusterCenters())

    spark_kmeans = spark_clustering.KMeans
    assert centres(spark_kmeans, vectors, None) == centres(spark_kmeans, vectors, 0)  # Spark's
    assert centres(KMeans, df, None, inputCols=cols(2)) == centres(KMeans, df, 0, inputCols=cols(2))
    # Spark's JVM fails on weightCol=None (a NullPointerException); ours fits unweighted
    unweighted = KMeans(k=3, seed=1, inputCols=cols(2)).fit(df)
    none_weight = KMeans(k=3, seed=1, inputCols=cols(2), weightCol=None).fit(df)
    np.testing.assert_array_equal(none_weight.clusterCenters(), unweighted.clusterCenters())
    with pytest.raises(KMeansInputError, match=r"k=None is not allowed: k needs a value"):
        KMeans(k=None, inputCols=cols(2)).fit(df)  # type: ignore[arg-type]


# -- behaviour: Spark's own doctest, run against both ----------------------------------


@pytest.mark.parametrize("lib", [spark_clustering, kmeans_spark], ids=["spark", "ours"])
def test_sparks_kmeans_doctest_runs_unchanged(spark: Any, lib: ModuleType, tmp_path: Any) -> None:
    """The example of ``pyspark.ml.clustering.KMeans``'s docstring (4.3), statement by
    statement; only the label of the first row (0 there) is asserted label-free."""
    from pyspark.ml.linalg import Vectors
    from pyspark.sql import DataFrame

    data = [
        (Vectors.dense([0.0, 0.0]), 2.0),
        (Vectors.dense([1.0, 1.0]), 2.0),
        (Vectors.dense([9.0, 8.0]), 2.0),
        (Vectors.dense([8.0, 9.0]), 2.0),
    ]
    df = spark.createDataFrame(data, ["features", "weighCol"])
    kmeans = lib.KMeans(k=2)
    assert kmeans.setSeed(1) is kmeans
    assert kmeans.setWeightCol("weighCol") is kmeans
    assert kmeans.setMaxIter(10) is kmeans
    assert kmeans.getMaxIter() == 10
    kmeans.clear(kmeans.maxIter)
    assert kmeans.getSolver() == "auto"
    model = kmeans.fit(df)
    assert model.uid == kmeans.uid  # a fitted model carries its estimator's uid
    assert model.getMaxBlockSizeInMB() == 0.0
    assert model.getDistanceMeasure() == "euclidean"
    assert model.setPredictionCol("newPrediction") is model
    rows = model.transform(df).select("features", "newPrediction").collect()
    assert model.predict(df.head().features) == rows[0].newPrediction
    assert len(model.clusterCenters()) == 2
    assert rows[0].newPrediction == rows[1].newPrediction
    assert rows[2].newPrediction == rows[3].newPrediction
    assert model.hasSummary
    summary = model.summary
    assert summary.k == 2 and type(summary.k) is int
    assert summary.clusterSizes == [2, 2] and all(type(s) is int for s in summary.clusterSizes)
    assert summary.trainingCost == 4.0 and type(summary.trainingCost) is float
    assert type(summary.numIter) is int and summary.numIter >= 1
    assert (summary.predictionCol, summary.featuresCol) == ("prediction", "features")
    assert isinstance(summary.predictions, DataFrame) and summary.predictions.count() == 4
    assert summary.cluster.columns == ["prediction"]
    assert type(model.numFeatures) is int and model.numFeatures == 2
    kmeans_path = str(tmp_path / "kmeans")
    kmeans.save(kmeans_path)
    kmeans2 = lib.KMeans.load(kmeans_path)
    assert kmeans2.getK() == 2
    model_path = str(tmp_path / "kmeans_model")
    model.save(model_path)
    model2 = lib.KMeansModel.load(model_path)
    # the one documented difference: ours keeps the training summary it was saved with
    assert model2.hasSummary is (lib is kmeans_spark)
    assert (model.clusterCenters()[0] == model2.clusterCenters()[0]).all()
    assert (model.clusterCenters()[1] == model2.clusterCenters()[1]).all()
    assert model.transform(df).take(1) == model2.transform(df).take(1)
