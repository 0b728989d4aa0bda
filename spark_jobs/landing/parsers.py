"""Turn one source file into records, exactly as received.

Pure Python, no Spark: each function takes the file's bytes and yields one
:class:`RawRecord` per source record, **including the ones that cannot be parsed** (those
carry a ``parse_error``; the pipeline quarantines them, it never drops them). The landing
job runs these functions on Spark executors (``binaryFile`` + ``flatMap``), so they must
stay importable and side-effect free.

Locators follow ``docs/sources.md``: ``line:N`` for line-based files (1-based physical
line, a CSV header is line 1) and ``record:N`` for XML and nested JSON (1-based position).
"""

from __future__ import annotations

import codecs
import csv
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field

MALFORMED = "malformed_record"
TRUNCATED = "truncated_record"
UNDECODABLE = "undecodable_record"

# Bytes that are not valid in the feed's declared encoding are decoded as lone surrogates
# (Python's ``surrogateescape``), so a record that holds one is found and quarantined as
# ``undecodable_record`` with its bytes shown (``\\xe9``); they are never replaced (U+FFFD) or guessed.
_UNDECODED = re.compile("[\udc80-\udcff]")


def decode(content: bytes, encoding: str = "utf-8") -> str:
    """The text of a file in its declared ``encoding``: a byte-order mark stripped, undecodable bytes kept
    as lone surrogates for :func:`undecodable` to find."""
    if codecs.lookup(encoding).name == "utf-8" and content.startswith(codecs.BOM_UTF8):
        content = content[len(codecs.BOM_UTF8):]
    text = content.decode(encoding, errors="surrogateescape")   # raises where bytes cannot be kept: file quarantined
    return text[1:] if text.startswith("\ufeff") else text


def undecodable(text: str) -> bool:
    return _UNDECODED.search(text) is not None


def shown(text: str, encoding: str = "utf-8") -> str:
    """``text`` with undecodable bytes written as ``\\xNN`` (valid Unicode, nothing altered silently)."""
    if not undecodable(text):
        return text
    return text.encode(encoding, errors="surrogateescape").decode(encoding, errors="backslashreplace")


def _undecodable_record(locator: str, raw: str, encoding: str) -> RawRecord:
    return RawRecord(locator, shown(raw, encoding), {}, UNDECODABLE, f"bytes not valid {encoding}")


@dataclass
class RawRecord:
    locator: str
    raw: str
    fields: dict[str, str | None] = field(default_factory=dict)
    parse_error: str | None = None
    parse_detail: str | None = None


def _text(value) -> str | None:
    """Source values as text, as received (JSON numbers/booleans keep their JSON spelling)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _flatten(obj: dict, prefix: str = "") -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = _text(value)
    return out


def _lines(content: bytes, encoding: str = "utf-8") -> tuple[list[str], bool]:
    text = decode(content, encoding)
    ends_with_newline = text.endswith("\n")
    lines = text.split("\n")
    if ends_with_newline:
        lines = lines[:-1]
    return [line.rstrip("\r") for line in lines], ends_with_newline


def _failure(is_last: bool, ends_with_newline: bool) -> str:
    """A broken last line of a file that stops without a newline was cut off in transfer."""
    return TRUNCATED if is_last and not ends_with_newline else MALFORMED


def parse_csv(content: bytes, delimiter: str = ",", encoding: str = "utf-8") -> Iterator[RawRecord]:
    lines, ends_nl = _lines(content, encoding)
    if not lines:
        return
    if undecodable(lines[0]):
        yield _undecodable_record("*", "\n".join(lines)[:2000], encoding)
        return
    header = next(csv.reader([lines[0]], delimiter=delimiter))
    for index, line in enumerate(lines[1:], start=2):
        if line == "" and index == len(lines):
            continue
        locator = f"line:{index}"
        is_last = index == len(lines)
        if undecodable(line):
            yield _undecodable_record(locator, line, encoding)
            continue
        try:
            values = next(csv.reader([line], delimiter=delimiter, strict=True))
        except (csv.Error, StopIteration) as exc:
            yield RawRecord(locator, line, {}, _failure(is_last, ends_nl), f"unparseable CSV: {exc}")
            continue
        if len(values) != len(header):
            yield RawRecord(locator, line, {}, _failure(is_last, ends_nl),
                            f"{len(values)} fields, header has {len(header)}")
            continue
        yield RawRecord(locator, line, {h: (v if v != "" else None) for h, v in zip(header, values, strict=True)})


def parse_jsonl(content: bytes, encoding: str = "utf-8") -> Iterator[RawRecord]:
    lines, ends_nl = _lines(content, encoding)
    for index, line in enumerate(lines, start=1):
        if line.strip() == "":
            continue
        locator = f"line:{index}"
        if undecodable(line):
            yield _undecodable_record(locator, line, encoding)
            continue
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
        except (ValueError, RecursionError) as exc:
            yield RawRecord(locator, line, {}, _failure(index == len(lines), ends_nl), f"invalid JSON: {exc}")
            continue
        yield RawRecord(locator, line, _flatten(obj))


def parse_json_document(content: bytes, record_path: str, encoding: str = "utf-8") -> Iterator[RawRecord]:
    """A nested JSON document whose records sit in the array at ``record_path``.

    Undecodable bytes inside one record quarantine that record (``undecodable_record``), not the file.
    """
    text = decode(content, encoding)
    try:
        document = json.loads(text)
        records = document
        for part in record_path.split("."):
            records = records[part]
        if not isinstance(records, list):
            raise ValueError(f"{record_path} is not an array")
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        yield RawRecord("*", shown(text[:2000], encoding), {}, MALFORMED,
                        f"unreadable document: {type(exc).__name__}: {str(exc)[:500]}")
        return
    for index, obj in enumerate(records, start=1):
        raw = json.dumps(obj, ensure_ascii=False, sort_keys=True)
        if undecodable(raw):
            yield _undecodable_record(f"record:{index}", raw, encoding)
            continue
        if not isinstance(obj, dict):
            yield RawRecord(f"record:{index}", raw, {}, MALFORMED, "record is not a JSON object")
            continue
        yield RawRecord(f"record:{index}", raw, _flatten(obj))


def parse_xml(content: bytes, record_element: str, parent_element: str | None) -> Iterator[RawRecord]:
    """XML whose records are ``record_element`` elements, optionally inside ``parent_element``.

    Attributes of the parent are exposed as ``<Parent>.<attr>``; ``_seq`` is the record's
    position inside its parent (1-based).
    """
    try:
        root = ET.fromstring(content)
    except ET.ParseError as exc:
        yield RawRecord("*", shown(decode(content[:2000])), {}, TRUNCATED
                        if not content.rstrip().endswith(b">") else MALFORMED, f"unparseable XML: {exc}")
        return
    index = 0
    parents = root.iter(parent_element) if parent_element else [root]
    for parent in parents:
        parent_fields = {f"{parent_element}.{k}": v for k, v in parent.attrib.items()} if parent_element else {}
        for seq, element in enumerate(parent.findall(record_element), start=1):
            index += 1
            fields: dict[str, str | None] = dict(parent_fields)
            fields.update({k: (v if v != "" else None) for k, v in element.attrib.items()})
            for child in element:
                fields[child.tag] = child.text
            fields["_seq"] = str(seq)
            raw = ET.tostring(element, encoding="unicode").strip()
            yield RawRecord(f"record:{index}", raw, fields)


def parse_file(fmt: str, content: bytes, *, delimiter: str = ",", record_path: str | None = None,
               record_element: str | None = None, parent_element: str | None = None,
               encoding: str = "utf-8") -> Iterator[RawRecord]:
    """Dispatch on the feed's format (see ``conf/data_dictionary.yaml``).

    Never raises for a bad file: if a parser fails on something it did not foresee (a document
    nested too deep, a decoder bug), the records read so far are kept and the rest of the file
    becomes one ``malformed_record`` with locator ``*`` naming the error, so one pathological file
    is quarantined while the other files of the day land.

    ``encoding``: the feed's declared encoding (``conf/data_dictionary.yaml``); a UTF-8 byte-order
    mark is stripped; XML documents declare their own encoding (``<?xml ... encoding=...?>``).
    """
    if fmt == "csv":
        records = parse_csv(content, delimiter, encoding)
    elif fmt == "jsonl":
        records = parse_jsonl(content, encoding)
    elif fmt == "json":
        records = parse_json_document(content, record_path or "records", encoding)
    elif fmt == "xml":
        records = parse_xml(content, record_element or "record", parent_element)
    else:
        raise ValueError(f"unsupported format {fmt!r}")
    return _guarded(records, content, encoding)


def _guarded(records: Iterator[RawRecord], content: bytes, encoding: str = "utf-8") -> Iterator[RawRecord]:
    seen: set[str] = set()
    try:
        for record in records:
            seen.add(record.locator)
            yield record
    except Exception as exc:  # noqa: BLE001 - any parser failure quarantines the file, never the task
        if "*" not in seen:
            yield RawRecord("*", shown(decode(content[:2000], encoding), encoding), {}, MALFORMED,
                            f"unreadable file: {type(exc).__name__}: {str(exc)[:500]}")
