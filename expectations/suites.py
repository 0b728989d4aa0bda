"""One expectation suite per silver table, derived from the data dictionary.

Severity follows GX's own ``severity`` field:

* ``critical`` - a failure blocks publication (the previous silver version is kept and the
  day is marked failed): primary key present and unique, required elements present,
  coded elements inside their value domain;
* ``warning`` - recorded in the DQ results, publication goes ahead: plausibility ranges.
"""

from __future__ import annotations

import great_expectations.expectations as gxe

from andon.dictionary import DataDictionary, Feed

MONEY_ELEMENTS_SUFFIX = "_usd"


def suite_name(feed: Feed) -> str:
    return f"silver.{feed.silver_table}"


def build_expectations(feed: Feed, dictionary: DataDictionary) -> list[gxe.Expectation]:
    """The expectations of the silver table of ``feed`` (a suite is assembled by the gate)."""
    suite: list[gxe.Expectation] = []
    for element in feed.primary_key:
        suite.append(gxe.ExpectColumnValuesToNotBeNull(column=element, severity="critical"))
    if len(feed.primary_key) == 1:
        suite.append(gxe.ExpectColumnValuesToBeUnique(column=feed.primary_key[0], severity="critical"))
    else:
        suite.append(gxe.ExpectCompoundColumnsToBeUnique(column_list=list(feed.primary_key),
                                                                  severity="critical"))
    for spec in feed.fields:
        if spec.required and spec.element not in feed.primary_key:
            suite.append(gxe.ExpectColumnValuesToNotBeNull(column=spec.element, severity="critical"))
        domain = (dictionary.elements[spec.element].get("value_domain") or {})
        values = domain.get("values")
        if values is None and domain.get("code_map"):
            values = sorted(dictionary.code_maps[domain["code_map"]])
        if values is None and spec.code_map and spec.element == "characteristic_id":
            values = sorted(dictionary.characteristics)
        if values:
            suite.append(gxe.ExpectColumnValuesToBeInSet(column=spec.element, value_set=list(values),
                                                                  severity="critical"))
        if spec.element.endswith(MONEY_ELEMENTS_SUFFIX):
            suite.append(gxe.ExpectColumnValuesToBeBetween(column=spec.element, min_value=0,
                                                                    severity="warning"))
    if "measured_value" in {s.element for s in feed.fields} and "characteristic_id" in {s.element for s in feed.fields}:
        suite.append(gxe.ExpectColumnValuesToBeBetween(
            column="measured_value", min_value=0, max_value=1, severity="warning",
            row_condition='characteristic_id=="SOLDER_VOID"', condition_parser="spark"))
    suite.append(gxe.ExpectTableRowCountToBeBetween(min_value=1, severity="warning"))
    return suite
