"""Native-format file payloads and their deterministic serialisation.

A payload holds the records of one landing file before it is written, so that the
bad-input injector (``defects.py``) can still mark or damage single records. When a
payload is rendered it returns the exact bytes, the number of records received and
the locators of every injected defect, numbered the way ``docs/sources.md`` defines:

* CSV / JSON lines: ``line:N``, 1-based physical line (the CSV header is line 1);
* XML / nested JSON: ``record:N``, 1-based position of the record element;
* whole file: ``*``.

Rendering never depends on dict or set iteration order of anything but the record
dicts themselves (whose key order is fixed by construction), nor on the clock.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

Rendered = tuple[bytes, int, list[tuple[str, str]]]  # bytes, records, [(locator, defect)]


def _attr(value: str) -> str:
    return '"' + escape(value, {'"': "&quot;"}) + '"'


def json_line(obj: dict) -> str:
    """One JSON object on one line, fixed separators, UTF-8 text kept as is."""
    return json.dumps(obj, ensure_ascii=False, separators=(", ", ": "))


@dataclass
class Payload:
    """Base class: one file of one source, relative to the landing root."""

    source: str
    relpath: str
    protected: list[bool] = field(default_factory=list)  # records the injector must not touch
    marks: dict[int, str] = field(default_factory=dict)  # record index -> defect kind
    file_defects: list[str] = field(default_factory=list)  # whole-file defects (locator "*")

    def n_records(self) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    def candidates(self, *, exclude_last: bool = True) -> list[int]:
        """Indexes of records the injector may damage (unprotected, unmarked)."""
        n = self.n_records()
        stop = n - 1 if exclude_last else n
        return [i for i in range(stop) if not self.protected[i] and i not in self.marks]

    def render(self) -> Rendered:  # pragma: no cover - overridden
        raise NotImplementedError


@dataclass
class LinePayload(Payload):
    """Line-based file: CSV with a header (``header`` set) or JSON lines (``header`` None).

    ``rows`` are lists of cell strings (CSV) or dicts (JSON lines). ``line_edits`` damage
    a serialised line; ``truncate_last`` cuts the last line mid-way and drops its newline.
    """

    header: list[str] | None = None
    rows: list = field(default_factory=list)
    delimiter: str = ","
    line_edits: dict[int, Callable[[str], str]] = field(default_factory=dict)
    truncate_last: bool = False

    def n_records(self) -> int:
        return len(self.rows)

    def _line(self, row) -> str:
        if self.header is None:
            return json_line(row)
        return self.delimiter.join(row)

    def render(self) -> Rendered:
        offset = 1 if self.header is None else 2
        lines = [] if self.header is None else [self.delimiter.join(self.header)]
        for i, row in enumerate(self.rows):
            line = self._line(row)
            if i in self.line_edits:
                line = self.line_edits[i](line)
            lines.append(line)
        if self.truncate_last and self.rows:
            last = lines[-1]
            lines[-1] = last[: max(1, int(len(last) * 0.55))]
            text = "\n".join(lines)
        else:
            text = "\n".join(lines) + "\n"
        bad = [(f"line:{i + offset}", kind) for i, kind in sorted(self.marks.items())]
        bad += [("*", kind) for kind in self.file_defects]
        return text.encode("utf-8"), len(self.rows), bad


@dataclass
class LimsPayload(Payload):
    """LIMS XML export: ``samples`` = [(sample attrs, [test attrs, ...]), ...].

    Attributes are lists of (name, value) pairs written in that order. Records are the
    ``Test`` elements, numbered across the whole document.
    """

    exported: str = ""
    samples: list[tuple[list[tuple[str, str]], list[list[tuple[str, str]]]]] = field(default_factory=list)

    def n_records(self) -> int:
        return sum(len(tests) for _, tests in self.samples)

    def tests(self) -> list[list[tuple[str, str]]]:
        return [t for _, tests in self.samples for t in tests]

    def render(self) -> Rendered:
        out = ['<?xml version="1.0" encoding="UTF-8"?>', f"<LimsExport exported={_attr(self.exported)}>"]
        for attrs, tests in self.samples:
            out.append("  <Sample " + " ".join(f"{k}={_attr(v)}" for k, v in attrs) + ">")
            for t in tests:
                out.append("    <Test " + " ".join(f"{k}={_attr(v)}" for k, v in t) + "/>")
            out.append("  </Sample>")
        out.append("</LimsExport>")
        bad = [(f"record:{i + 1}", kind) for i, kind in sorted(self.marks.items())]
        return ("\n".join(out) + "\n").encode("utf-8"), self.n_records(), bad


@dataclass
class ClaimsPayload(Payload):
    """RMA export: one JSON document, one claim per line inside the ``claims`` array."""

    export_date: str = ""
    claims: list[dict] = field(default_factory=list)

    def n_records(self) -> int:
        return len(self.claims)

    def render(self) -> Rendered:
        head = "{" + f'"export_date": {json.dumps(self.export_date)}, "claims": ['
        if self.claims:
            body = ",\n".join("  " + json_line(c) for c in self.claims)
            text = head + "\n" + body + "]}\n"
        else:
            text = head + "]}\n"
        bad = [(f"record:{i + 1}", kind) for i, kind in sorted(self.marks.items())]
        return text.encode("utf-8"), len(self.claims), bad


@dataclass
class CopyPayload(Payload):
    """A file delivered a second time under another name: byte-identical to ``original``."""

    original: Payload | None = None

    def n_records(self) -> int:
        return self.original.n_records() if self.original else 0

    def render(self) -> Rendered:
        assert self.original is not None
        data, n, _ = self.original.render()
        return data, n, [("*", kind) for kind in self.file_defects]


class Ledger:
    """Writes payloads under the landing root and keeps the ground-truth file and defect lists."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: list[tuple[str, str, int, str]] = []
        self.bad: list[tuple[str, str, str, str]] = []
        self.records_by_source: dict[str, int] = {}

    def write(self, payload: Payload) -> None:
        data, n, bad = payload.render()
        path = self.root / payload.relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.files.append((payload.source, payload.relpath, n, hashlib.sha256(data).hexdigest()))
        self.records_by_source[payload.source] = self.records_by_source.get(payload.source, 0) + n
        for locator, kind in bad:
            self.bad.append((payload.source, payload.relpath, locator, kind))

    def write_ground_truth(self, incident_header: tuple[str, ...], incident_rows: list[list[str]]) -> None:
        gt = self.root / "_ground_truth"
        gt.mkdir(parents=True, exist_ok=True)
        _write_csv(gt / "incidents.csv", list(incident_header), incident_rows)
        bad = sorted(self.bad, key=lambda r: (r[1], _locator_key(r[2]), r[3]))
        _write_csv(
            gt / "bad_records.csv", ["source", "file", "record_locator", "defect"], [list(r) for r in bad]
        )
        files = sorted(self.files, key=lambda r: r[1])
        _write_csv(
            gt / "files.csv",
            ["source", "file", "records", "sha256"],
            [[s, f, str(n), h] for s, f, n, h in files],
        )


    def write_decoys(self, header: tuple[str, ...], rows: list[list[str]]) -> None:
        """``_ground_truth/decoys.csv``: benign changes (scenario runs only)."""
        gt = self.root / "_ground_truth"
        gt.mkdir(parents=True, exist_ok=True)
        _write_csv(gt / "decoys.csv", list(header), rows)


def _locator_key(loc: str) -> tuple[int, int]:
    if loc == "*":
        return (0, 0)
    return (1, int(loc.split(":", 1)[1]))


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    path.write_bytes(buf.getvalue().encode("utf-8"))
