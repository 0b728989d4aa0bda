from __future__ import annotations

from spark_jobs.landing.parsers import (
    MALFORMED,
    TRUNCATED,
    parse_csv,
    parse_file,
    parse_json_document,
    parse_jsonl,
    parse_xml,
)


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


def _deep_json(levels: int) -> bytes:
    return ('{"records": [' + '{"a": ' * levels + "1" + "}" * levels + "]}").encode()


def test_a_document_nested_too_deep_is_one_malformed_record():
    """A JSON document nested 10,000 levels deep used to raise RecursionError and fail the task."""
    records = list(parse_file("json", _deep_json(10_000), record_path="records"))
    assert len(records) == 1 and records[0].parse_error == MALFORMED and records[0].locator == "*"
    assert "RecursionError" in records[0].parse_detail


def test_a_line_nested_too_deep_is_one_malformed_line_and_the_rest_lands():
    content = b'{"a": 1}\n' + b'{"b": ' * 10_000 + b"1" + b"}" * 10_000 + b'\n{"c": 2}\n'
    records = list(parse_file("jsonl", content))
    assert [r.locator for r in records] == ["line:1", "line:2", "line:3"]
    assert [r.parse_error for r in records] == [None, MALFORMED, None]


def test_an_unforeseen_parser_failure_keeps_what_was_read_and_quarantines_the_rest(monkeypatch):
    from spark_jobs.landing import parsers

    def exploding(content, delimiter=",", encoding="utf-8"):
        yield parsers.RawRecord("line:2", "x,1", {"x": "1"})
        raise UnicodeError("decoder bug")

    monkeypatch.setattr(parsers, "parse_csv", exploding)
    records = list(parsers.parse_file("csv", b"x\nx,1\n"))
    assert [(r.locator, r.parse_error) for r in records] == [("line:2", None), ("*", MALFORMED)]
    assert records[1].parse_detail == "unreadable file: UnicodeError: decoder bug"
