"""The scope registry (andon/scopes.py) is the one list of scopes: every stage covers exactly it."""

import pytest

from andon.scopes import SCOPE_NAMES, SCOPES, scope


def test_every_stage_covers_exactly_the_registered_scopes():
    from ml import features, labels, rules, visibility

    names = set(SCOPE_NAMES)
    assert set(features.BUILDERS) == names and set(features.FEATURES) == names and set(features.KEYS) == names
    assert set(labels.BUILDERS) == names and set(labels.BUILDERS_AT) == names
    assert set(rules.BASELINE_RULES) == set(rules.BASELINE_THRESHOLD) == set(rules.RULE_INPUTS) == names
    assert set(visibility.RULES) == names


def test_a_scope_is_scored_by_its_entity_and_keyed_by_it():
    for s in SCOPES.values():
        assert s.entity_col in s.keys and s.entity_col.endswith("_id")
        assert set(s.attributes) <= set(s.keys) - {s.entity_col}
        assert s.grace_days > 0 and s.title and s.short and len(s.code) == 2
    assert len({s.code for s in SCOPES.values()}) == len(SCOPES)


def test_an_unknown_scope_is_a_clear_error():
    assert scope("factory_output").entity_type == "line"
    with pytest.raises(ValueError, match="unknown scope 'field'; scopes: incoming_material"):
        scope("field")
