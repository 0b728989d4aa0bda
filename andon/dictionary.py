"""Load and check the data dictionary (``conf/data_dictionary.yaml``).

The dictionary is the single definition of every silver column (a *data element*) and of how
each source field maps onto it. This module turns the YAML into small typed objects and
refuses an inconsistent dictionary with a clear message, before any data is touched.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

SPARK_TYPES = {"string", "integer", "double", "boolean", "date", "timestamp"}
FORMATS = {"csv", "jsonl", "json", "xml"}
DECIMAL_SEPARATORS = {".", ","}
FIELD_KEYS = {
    "from", "required", "cast", "date_format", "time_format", "local_time_zone_of", "code_map",
    "domain", "quantity_of", "unit_field", "money", "graded", "only_when", "unit_of",
    "pseudonymise", "constant",
}


class DictionaryError(ValueError):
    """The data dictionary is inconsistent."""


@dataclass(frozen=True)
class FieldSpec:
    """How one data element of a silver table is obtained from a feed's source fields."""

    element: str
    data_type: str
    source: str | None = None
    required: bool = False
    cast: str | None = None
    date_format: str | None = None
    time_format: str | None = None
    local_time_zone_of: str | None = None
    code_map: str | None = None
    domain: str | None = None
    quantity_of: str | None = None
    unit_field: str | None = None
    money: str | None = None
    graded: dict[str, Any] | None = None
    only_when: dict[str, Any] | None = None
    unit_of: str | None = None
    pseudonymise: bool = False
    constant: str | None = None


@dataclass(frozen=True)
class Feed:
    """One file family of one source system, landing into one bronze and one silver table."""

    name: str
    source: str
    format: str
    file_glob: str
    silver_table: str
    primary_key: tuple[str, ...]
    event_time: str | None
    fields: tuple[FieldSpec, ...]
    delimiter: str = ","
    decimal_separator: str = "."
    record_element: str | None = None
    parent_element: str | None = None
    record_path: str | None = None
    personal_data: tuple[str, ...] = ()
    encoding: str = "utf-8"

    @property
    def bronze_table(self) -> str:
        return self.name

    @property
    def source_fields(self) -> tuple[str, ...]:
        """Every source field the contract knows, in a stable order (bronze columns)."""
        names: list[str] = []
        for spec in self.fields:
            for name in (spec.source, spec.unit_field,
                         (spec.graded or {}).get("when_field"), (spec.only_when or {}).get("field")):
                if name and name not in names:
                    names.append(name)
        for name in self.personal_data:
            if name not in names:
                names.append(name)
        return tuple(names)

    @property
    def required_elements(self) -> tuple[str, ...]:
        return tuple(spec.element for spec in self.fields if spec.required)

    def spec(self, element: str) -> FieldSpec:
        for spec in self.fields:
            if spec.element == element:
                return spec
        raise KeyError(element)


@dataclass(frozen=True)
class DataDictionary:
    elements: dict[str, dict[str, Any]]
    characteristics: dict[str, dict[str, Any]]
    unit_conversions: tuple[dict[str, Any], ...]
    code_maps: dict[str, dict[str, str]]
    feeds: dict[str, Feed] = field(default_factory=dict)
    #: derived measures (model features, rule inputs): name -> {business_name, definition}
    derived: dict[str, dict[str, str]] = field(default_factory=dict)
    #: plausible dates and times: {earliest: ISO day, latest_days_after_landing: int}
    plausible_time: dict[str, Any] = field(default_factory=dict)

    def business_name(self, name: str) -> str:
        """The name a quality engineer reads for a data element or derived measure (falls back to
        ``name`` with underscores as spaces)."""
        entry = self.derived.get(name) or self.elements.get(name) or {}
        return str(entry.get("business_name") or name.replace("_", " "))

    def feeds_of(self, source: str) -> list[Feed]:
        return [feed for feed in self.feeds.values() if feed.source == source]

    @property
    def sources(self) -> list[str]:
        return sorted({feed.source for feed in self.feeds.values()})

    def canonical_unit(self, characteristic: str) -> str:
        return self.characteristics[characteristic]["unit"]

    def convert(self, value: float, from_unit: str, to_unit: str) -> float:
        """Python twin of the Spark unit conversion (used by tests and docs)."""
        if from_unit == to_unit:
            return value
        for conv in self.unit_conversions:
            if conv["from"] == from_unit and conv["to"] == to_unit:
                return value * float(conv["factor"]) + float(conv.get("offset", 0.0))
        raise KeyError(f"no conversion from {from_unit!r} to {to_unit!r}")


def _field_spec(feed: str, element: str, raw: dict[str, Any], elements: dict[str, Any]) -> FieldSpec:
    if element not in elements:
        raise DictionaryError(f"feed {feed}: {element!r} is not a registered data element")
    unknown = set(raw) - FIELD_KEYS
    if unknown:
        raise DictionaryError(f"feed {feed}, element {element}: unknown keys {sorted(unknown)}")
    data_type = elements[element]["data_type"]
    if data_type not in SPARK_TYPES:
        raise DictionaryError(f"element {element}: unsupported data_type {data_type!r}")
    kwargs = {k: v for k, v in raw.items() if k != "from"}
    return FieldSpec(element=element, data_type=data_type, source=raw.get("from"), **kwargs)


def parse_dictionary(data: dict[str, Any]) -> DataDictionary:
    """Build a :class:`DataDictionary` from its YAML mapping, checking every cross-reference."""
    elements = data.get("data_elements") or {}
    for name, element in elements.items():
        for key in ("data_type", "definition"):
            if key not in element:
                raise DictionaryError(f"data element {name!r} lacks {key!r}")
    code_maps = {name: {str(k): str(v) for k, v in mapping.items()}
                 for name, mapping in (data.get("code_maps") or {}).items()}
    characteristics = data.get("characteristics") or {}
    conversions = tuple(data.get("unit_conversions") or ())
    feeds: dict[str, Feed] = {}
    for name, raw in (data.get("feeds") or {}).items():
        if raw.get("format") not in FORMATS:
            raise DictionaryError(f"feed {name}: format must be one of {sorted(FORMATS)}")
        specs = tuple(_field_spec(name, el, spec or {}, elements) for el, spec in raw["fields"].items())
        for spec in specs:
            for ref in (spec.code_map, spec.domain, (spec.graded or {}).get("code_map")):
                if ref and ref not in code_maps:
                    raise DictionaryError(f"feed {name}, element {spec.element}: no code map {ref!r}")
            for ref in (spec.local_time_zone_of, spec.quantity_of, spec.unit_of):
                if ref and ref not in {s.element for s in specs}:
                    raise DictionaryError(f"feed {name}, element {spec.element}: refers to {ref!r}, "
                                          "which this feed does not map")
            if spec.source is None and spec.unit_of is None and spec.constant is None:
                raise DictionaryError(f"feed {name}, element {spec.element}: needs 'from', 'unit_of' "
                                      "or 'constant'")
        mapped_sources = {s.source for s in specs if s.source}
        for spec in specs:
            for setting, ref in (("graded.when_field", (spec.graded or {}).get("when_field")),
                                 ("only_when.field", (spec.only_when or {}).get("field"))):
                if ref and ref not in mapped_sources:
                    raise DictionaryError(f"feed {name}, element {spec.element}: {setting} {ref!r} is not a "
                                          "source field this feed maps")
        separator = raw.get("decimal_separator", ".")
        if separator not in DECIMAL_SEPARATORS:
            raise DictionaryError(f"feed {name}: decimal_separator must be one of {sorted(DECIMAL_SEPARATORS)}, "
                                  f"not {separator!r}")
        encoding = str(raw.get("encoding") or "")
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise DictionaryError(f"feed {name}: declare the files' encoding (e.g. encoding: utf-8), "
                                  f"not {raw.get('encoding')!r}") from None
        keys = tuple(raw.get("primary_key") or ())
        if not keys or any(k not in {s.element for s in specs} for k in keys):
            raise DictionaryError(f"feed {name}: primary_key must name mapped elements")
        feeds[name] = Feed(
            name=name, source=raw["source"], format=raw["format"], file_glob=raw["file_glob"],
            silver_table=raw["silver_table"], primary_key=keys, event_time=raw.get("event_time"),
            fields=specs, delimiter=raw.get("delimiter", ","), decimal_separator=separator,
            record_element=raw.get("record_element"),
            parent_element=raw.get("parent_element"), record_path=raw.get("record_path"),
            personal_data=tuple(raw.get("personal_data") or ()), encoding=encoding,
        )
    for conv in conversions:
        if conv.get("from") == conv.get("to"):
            raise DictionaryError(f"unit conversion {conv.get('from')!r} -> {conv.get('to')!r}: identity "
                                  "conversions are implicit, remove the entry")
    for char, spec in characteristics.items():
        if "unit" not in spec:
            raise DictionaryError(f"characteristic {char}: no canonical unit")
    derived = data.get("derived_measures") or {}
    for name, spec in derived.items():
        if not isinstance(spec, dict) or not spec.get("business_name") or not spec.get("definition"):
            raise DictionaryError(f"derived measure {name!r} needs a business_name and a definition")
    plausible_time = dict(data.get("plausible_time") or {})
    for name, element in elements.items():
        domain = element.get("value_domain") or {}
        for bound in ("min", "max"):
            if domain.get(bound) is not None and not isinstance(domain[bound], (int, float)):
                raise DictionaryError(f"data element {name!r}: value_domain.{bound} must be a number")
        if domain.get("pattern") is not None:
            try:
                re.compile(str(domain["pattern"]))
            except re.error as exc:
                raise DictionaryError(f"data element {name!r}: value_domain.pattern: {exc}") from None
            if not re.fullmatch(r"[a-z_]+", str(domain.get("reason", "unknown_code"))):
                raise DictionaryError(f"data element {name!r}: value_domain.reason must be a snake_case reason")
    return DataDictionary(elements=elements, characteristics=characteristics,
                          unit_conversions=conversions, code_maps=code_maps, feeds=feeds, derived=derived,
                          plausible_time=plausible_time)


@lru_cache(maxsize=4)
def load_dictionary(path: str | Path) -> DataDictionary:
    with Path(path).open(encoding="utf-8") as handle:
        return parse_dictionary(yaml.safe_load(handle))
