"""The GX suites derive from the data dictionary: keys and coded elements are critical."""

from __future__ import annotations

from expectations.suites import build_expectations


def _by_type(expectations):
    found: dict[str, list] = {}
    for e in expectations:
        found.setdefault(type(e).__name__, []).append(e)
    return found


def test_primary_key_and_required_elements_are_critical(dictionary):
    feed = dictionary.feeds["mes_testlog"]
    found = _by_type(build_expectations(feed, dictionary))
    not_null = {e.column: str(e.severity) for e in found["ExpectColumnValuesToNotBeNull"]}
    assert set(not_null) == set(feed.required_elements)
    assert all("critical" in s.lower() for s in not_null.values())
    unique = found["ExpectColumnValuesToBeUnique"]
    assert [e.column for e in unique] == ["test_result_id"]


def test_compound_keys_and_value_domains(dictionary):
    feed = dictionary.feeds["supplier_lot_tests"]
    found = _by_type(build_expectations(feed, dictionary))
    assert found["ExpectCompoundColumnsToBeUnique"][0].column_list == ["supplier_lot_id", "characteristic_id"]
    in_set = {e.column: set(e.value_set) for e in found["ExpectColumnValuesToBeInSet"]}
    assert "SOLDER_VOID" in in_set["characteristic_id"] and "VOID_GRADE" not in in_set["characteristic_id"]


def test_station_types_are_the_canonical_route(dictionary):
    found = _by_type(build_expectations(dictionary.feeds["mes_testlog"], dictionary))
    in_set = {e.column: set(e.value_set) for e in found["ExpectColumnValuesToBeInSet"]}
    assert in_set["station_type"] == {"IQC", "ICT", "FT", "REL", "SYS"}
    assert in_set["site_id"] == {"SZX", "GDL", "BRQ"}
