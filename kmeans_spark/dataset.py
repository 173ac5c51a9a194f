"""Feature columns of a DataFrame: validation of the schema and one ``array<double>`` column.

Whatever the user gives (a list of numeric columns, one ``VectorUDT`` column, or one
numeric array column), it becomes a single ``array<double>`` column on the JVM side, so the
Python side has exactly one input form to convert (an Arrow list column) and the fit,
``transform`` and the job share it.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.ml.functions import vector_to_array
from pyspark.ml.linalg import VectorUDT
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
    df: DataFrame, features_col: str, input_cols: Sequence[str] | None = None
) -> Column:
    """An ``array<double>`` column of the features, after checking the schema.

    Parameters
    ----------
    df : DataFrame
    features_col : str
        One ``VectorUDT`` or numeric-array column (used when ``input_cols`` is empty).
    input_cols : sequence of str, optional
        Numeric columns, one feature each.
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
        return vector_to_array(column(features_col), "float64")
    if isinstance(dtype, ArrayType) and isinstance(dtype.elementType, NumericType):
        return column(features_col).cast("array<double>")
    raise KMeansInputError(
        f"features column {features_col!r} has type {dtype.simpleString()}, but it must be a "
        "vector (pyspark.ml.linalg) or an array of numbers; or set inputCols to a list of "
        "numeric columns."
    )


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
    """The columns the fit reads: features as ``array<double>``, weight, and the columns to
    carry through the load as they are (:attr:`kmeans_spark.load.InputStage.carry`), each
    under a numbered name (:func:`~kmeans_spark.load.carry_column`), so none clashes with
    the features, the weight or another, whatever the caller's names."""
    cols = [features_column(df, features_col, input_cols).alias(FEATURES)]
    weight = weight_column(df, weight_col)
    if weight is not None:
        cols.append(weight.alias(WEIGHT))
    for i, name in enumerate(carry):
        _field_type(df, name, "carried")
        cols.append(column(name).alias(carry_column(i)))
    return df.select(*cols)
