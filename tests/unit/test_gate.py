"""The Great Expectations gate on a real Spark frame: only critical failures block, warnings are reported."""

from __future__ import annotations

import great_expectations.expectations as gxe

from expectations.gate import validate


def _expectations():
    return [
        gxe.ExpectColumnValuesToNotBeNull(column="k", severity="critical"),
        gxe.ExpectColumnValuesToBeUnique(column="k", severity="critical"),
        gxe.ExpectColumnValuesToBeInSet(column="site", value_set=["BRQ", "GDL"], severity="critical"),
        gxe.ExpectColumnValuesToBeBetween(column="v", min_value=0, severity="warning"),
        gxe.ExpectColumnValuesToBeBetween(column="v", min_value=0, max_value=1, severity="warning",
                                          row_condition='site=="GDL"', condition_parser="spark"),
        gxe.ExpectTableRowCountToBeBetween(min_value=1, severity="warning"),
    ]


def test_gate_outcomes(spark):
    df = spark.createDataFrame([("a", "BRQ", 1.0), ("b", "GDL", 0.5), ("b", "BRQ", -1.0)],
                               "k string, site string, v double").cache()
    failed = validate(df, "silver.gate_test", _expectations())
    assert not failed.success
    assert (failed.evaluated, failed.successful) == (6, 4)
    assert [c.split("(")[0] for c in failed.critical_failures] == ["expect_column_values_to_be_unique"]
    assert failed.warnings == ["expect_column_values_to_be_between({'column': 'v'})"]
    passed = validate(df.where("k = 'a'"), "silver.gate_test", _expectations())
    assert passed.success and (passed.evaluated, passed.successful) == (6, 6)
    assert passed.critical_failures == [] and passed.warnings == []
