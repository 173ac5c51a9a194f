"""Feature columns of a DataFrame: validation of the schema and one ``array<double>`` column.

Whatever the user gives (a list of numeric columns, one ``VectorUDT`` column, or one
numeric array column), it becomes a single ``array<double>`` column on the JVM side, so the
Python side has one input form to convert (an Arrow list column) and ``transform`` and the
job share it. The fit's load is the exception: it takes a ``VectorUDT`` column of sparse
vectors as Spark's struct (``keep_vectors``), so ``SparseVector`` rows never become dense.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.ml.functions import vector_to_array
from pyspark.ml.linalg import SparseVector, VectorUDT
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DataType, NumericType

from kmeans_spark.errors import KMeansInputError
from kmeans_spark.load import FEATURES, WEIGHT, carry_column


def column(name: str) -> Column:
    """A column by its exact name (backticks: a dot in a name is not a struct field)."""
    return F.col("`" + name.replace("`", "``") + "`")


def _field_type(df: DataFrame, name: str, role: str) -> DataType:
    names = df.columns
    if name not in names:
        shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
        raise KMeansInputError(
            f"{role} column {name!r} does not exist; the input has columns [{shown}]. "
            "Pass an existing column name."
        )
    return df.schema[name].dataType


def features_column(
    df: DataFrame,
    features_col: str,
    input_cols: Sequence[str] | None = None,
    *,
    keep_vectors: bool = False,
) -> Column:
    """An ``array<double>`` column of the features, after checking the schema.

    Parameters
    ----------
    df : DataFrame
    features_col : str
        One ``VectorUDT`` or numeric-array column (used when ``input_cols`` is empty).
    input_cols : sequence of str, optional
        Numeric columns, one feature each.
    keep_vectors : bool
        A ``VectorUDT`` column is passed through as it is (Spark's struct reaches
        ``mapInArrow``: the fit's load and ``KMeansEvaluator`` keep sparse vectors sparse,
        see :func:`kmeans_spark.arrow.vector_chunks`) instead of ``vector_to_array``.
    """
    if input_cols:
        exprs = []
        for name in input_cols:
            dtype = _field_type(df, name, "feature")
            if not isinstance(dtype, NumericType):
                raise KMeansInputError(
                    f"feature column {name!r} has type {dtype.simpleString()}, but features "
                    "must be numeric; cast it (e.g. col.cast('double')) or leave it out."
                )
            exprs.append(column(name).cast("double"))
        return F.array(*exprs)
    dtype = _field_type(df, features_col, "features")
    if isinstance(dtype, VectorUDT):
        if keep_vectors:
            return column(features_col)
        return vector_to_array(column(features_col), "float64")
    if isinstance(dtype, ArrayType) and isinstance(dtype.elementType, NumericType):
        return column(features_col).cast("array<double>")
    raise KMeansInputError(
        f"features column {features_col!r} has type {dtype.simpleString()}, but it must be a "
        "vector (pyspark.ml.linalg) or an array of numbers; or set inputCols to a list of "
        "numeric columns."
    )


def first_vector_is_sparse(df: DataFrame, features_col: str) -> bool:
    """Whether the fit takes a ``VectorUDT`` column as vectors (sparse mode): when its
    first non-null row is a ``SparseVector``. One small job (``head(1)``), only for a
    vector column.

    Why a look at one row: the vectors must cross to Python as Spark's struct to stay
    sparse, but that crossing is slow for dense vectors (1M x 16 DenseVectors: 11.2 s
    against 1.1 s for ``vector_to_array``'s arrays, measured), so dense vector columns
    keep today's path. In sparse mode each partition is then stored by
    :func:`kmeans_spark.arrow.vector_chunks`'s rule: CSR when at most 10% of its cells are
    stored, else dense (a column of mixed vectors, as ``VectorAssembler`` makes, ends up
    dense either way).
    """
    if features_col not in df.columns or not isinstance(
        df.schema[features_col].dataType, VectorUDT
    ):
        return False  # not a vector column (or none: features_column says so)
    first = df.select(column(features_col)).dropna().head(1)
    return bool(first) and isinstance(first[0][0], SparseVector)


def feature_name(index: int, features_col: str, input_cols: Sequence[str] | None) -> str:
    """How to name feature ``index`` in a message: its column, or ``features[i]``."""
    if input_cols and index < len(input_cols):
        return input_cols[index]
    return f"{features_col}[{index}]"


def weight_column(df: DataFrame, weight_col: str | None) -> Column | None:
    """The weight column as double, after checking it exists and is numeric."""
    if not weight_col:
        return None
    dtype = _field_type(df, weight_col, "weight")
    if not isinstance(dtype, NumericType):
        raise KMeansInputError(
            f"weight column {weight_col!r} has type {dtype.simpleString()}, but weights must "
            "be numeric and >= 0; cast it or unset weightCol."
        )
    return column(weight_col).cast("double")


def prepare(
    df: DataFrame,
    features_col: str,
    input_cols: Sequence[str] | None,
    weight_col: str | None,
    carry: Sequence[str] = (),
) -> DataFrame:
    """The columns the fit reads: features as ``array<double>`` (a ``VectorUDT`` column of
    sparse vectors as it is, see :func:`first_vector_is_sparse`), weight, and the columns
    to carry through the load as they are (:attr:`kmeans_spark.load.InputStage.carry`),
    each under a numbered name (:func:`~kmeans_spark.load.carry_column`), so none clashes
    with the features, the weight or another, whatever the caller's names."""
    keep = not input_cols and first_vector_is_sparse(df, features_col)
    cols = [features_column(df, features_col, input_cols, keep_vectors=keep).alias(FEATURES)]
    weight = weight_column(df, weight_col)
    if weight is not None:
        cols.append(weight.alias(WEIGHT))
    for i, name in enumerate(carry):
        _field_type(df, name, "carried")
        cols.append(column(name).alias(carry_column(i)))
    return df.select(*cols)
