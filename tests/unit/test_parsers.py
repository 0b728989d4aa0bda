from __future__ import annotations

from spark_jobs.landing.parsers import MALFORMED, TRUNCATED, parse_csv, parse_json_document, parse_jsonl, parse_xml


def test_csv_records_keep_physical_line_numbers_and_flag_bad_lines():
    content = b"A,B,C\n1,2,3\n4,5\n6,7,8,9\n10,11,12\n13,1"
    records = list(parse_csv(content))
    assert [r.locator for r in records] == ["line:2", "line:3", "line:4", "line:5", "line:6"]
    assert records[0].fields == {"A": "1", "B": "2", "C": "3"}
    assert records[1].parse_error == MALFORMED
    assert records[2].parse_error == MALFORMED
    assert records[3].parse_error is None
    assert records[4].parse_error == TRUNCATED          # last line, no newline at end of file
    assert records[4].raw == "13,1"


def test_csv_empty_values_are_null_and_extra_columns_are_kept():
    records = list(parse_csv(b"A;B;EXTRA\nx;;z\n", delimiter=";"))
    assert records[0].fields == {"A": "x", "B": None, "EXTRA": "z"}


def test_jsonl_broken_lines():
    content = b'{"a": 1}\n{"a": \n\n{"a": 3, "b": {"c": true}}\n{"a"'
    records = list(parse_jsonl(content))
    assert [r.locator for r in records] == ["line:1", "line:2", "line:4", "line:5"]
    assert records[0].fields == {"a": "1"}
    assert records[1].parse_error == MALFORMED
    assert records[2].fields == {"a": "3", "b.c": "true"}
    assert records[3].parse_error == TRUNCATED


def test_nested_json_document_flattens_records():
    content = b'{"export_date": "2026-03-02", "claims": [{"rma_no": "R1", "customer": {"email": "a@b"}}, 7]}'
    records = list(parse_json_document(content, "claims"))
    assert records[0].locator == "record:1"
    assert records[0].fields == {"rma_no": "R1", "customer.email": "a@b"}
    assert records[1].parse_error == MALFORMED


def test_xml_records_carry_parent_attributes_and_sequence():
    content = b"""<LimsExport><Sample id="S1" site="SZX"><Test item="A" result="1"/><Test item="B" result=""/>
    </Sample><Sample id="S2" site="GDL"><Test item="C" result="3"/></Sample></LimsExport>"""
    records = list(parse_xml(content, "Test", "Sample"))
    assert [r.locator for r in records] == ["record:1", "record:2", "record:3"]
    assert records[1].fields == {"Sample.id": "S1", "Sample.site": "SZX", "item": "B", "result": None, "_seq": "2"}
    assert records[2].fields["Sample.id"] == "S2" and records[2].fields["_seq"] == "1"


def test_unreadable_xml_is_one_quarantinable_record():
    records = list(parse_xml(b"<LimsExport><Sample id='S1'><Test item=", "Test", "Sample"))
    assert len(records) == 1 and records[0].locator == "*" and records[0].parse_error == TRUNCATED
