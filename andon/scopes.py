"""The three early-warning scopes, defined once.

Everything that names a scope reads it here: the entity a scope scores and its id column, the
keys and attributes of its feature rows, how long after an incident a warning still counts
(grace), and the words people read (title, short name, workflow code). The stage packages add
what belongs to them by scope name: feature builders (``ml.features.BUILDERS``), label rules
(``ml.labels``), warning rules (``ml.rules``), the plain KPI that shows an incident
(``ml.visibility``). A fourth scope is one more :class:`Scope` here plus those functions.

Part of the base package: imports no stage.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scope:
    """One early-warning scope."""

    name: str
    #: what is scored: ``entity_type`` values of gold.early_warning_scores, and its id column
    entity_type: str
    entity_col: str
    #: key columns of a feature row besides ``score_date`` (in the feature tables' column order)
    keys: tuple[str, ...]
    #: feature-row columns naming what the entity belongs to (a decoy may name these)
    attributes: tuple[str, ...]
    #: days after an incident's end during which a warning still counts as catching it
    grace_days: int
    #: the digest's section title, the subject line's short name, the workflow id prefix
    title: str
    short: str
    code: str


SCOPES: dict[str, Scope] = {
    s.name: s
    for s in (
        # a supplier lot's defects show while it is consumed: three weeks of grace
        Scope(
            name="incoming_material",
            entity_type="supplier_lot",
            entity_col="supplier_lot_id",
            keys=("supplier_id", "supplier_lot_id", "part_id"),
            attributes=("supplier_id", "part_id"),
            grace_days=21,
            title="Incoming material (supplier lots)",
            short="incoming",
            code="IM",
        ),
        # a line's problem shows within days
        Scope(
            name="factory_output",
            entity_type="line",
            entity_col="line_id",
            keys=("line_id",),
            attributes=(),
            grace_days=7,
            title="Factory output (lines)",
            short="factory",
            code="FO",
        ),
        # a latent defect of a build lot shows only in the field, weeks after the build
        Scope(
            name="field_return",
            entity_type="build_lot",
            entity_col="build_lot_id",
            keys=("build_lot_id", "product_id", "line_id"),
            attributes=("product_id", "line_id"),
            grace_days=60,
            title="Field returns (build lots)",
            short="field",
            code="FR",
        ),
    )
}

#: the scope names in their fixed order (incoming, factory, field)
SCOPE_NAMES: tuple[str, ...] = tuple(SCOPES)


def scope(name: str) -> Scope:
    """The scope called ``name``; a clear error for any other name."""
    try:
        return SCOPES[name]
    except KeyError:
        raise ValueError(f"unknown scope {name!r}; scopes: {', '.join(SCOPE_NAMES)}") from None
