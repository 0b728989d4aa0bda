from __future__ import annotations

import copy

import pytest
import yaml

from andon.config import CONF_DIR
from andon.dictionary import DictionaryError, parse_dictionary


@pytest.fixture(scope="module")
def raw():
    return yaml.safe_load((CONF_DIR / "data_dictionary.yaml").read_text())


def test_every_source_has_feeds(dictionary):
    assert dictionary.sources == ["field_returns", "lims", "mes", "spc", "supplier"]
    for feed in dictionary.feeds.values():
        assert feed.primary_key and feed.fields


def test_dag_silver_assets_match_dictionary(dictionary):
    from andon_common import SILVER_TABLES

    for source in dictionary.sources:
        assert sorted(SILVER_TABLES[source]) == sorted(f.silver_table for f in dictionary.feeds_of(source))


def test_solder_void_has_one_canonical_definition(dictionary):
    """The DOMAIN.md case: percent (LIMS), fraction (SPC) and grade code (supplier) -> one element."""
    assert dictionary.canonical_unit("SOLDER_VOID") == "1"
    assert dictionary.code_maps["lims_test_item"]["VOID_RATE"] == "SOLDER_VOID"
    assert dictionary.code_maps["spc_characteristic"]["SOLDER_VOID"] == "SOLDER_VOID"
    assert dictionary.code_maps["supplier_parameter"]["VOID_GRADE"] == "SOLDER_VOID"
    assert dictionary.convert(4.3, "%", "1") == pytest.approx(0.043)
    assert dictionary.convert(0.043, "frac", "1") == pytest.approx(0.043)


def test_unit_conversions(dictionary):
    assert dictionary.convert(482.0, "F", "degC") == pytest.approx(250.0)
    assert dictionary.convert(5.0, "mil", "um") == pytest.approx(127.0)
    assert dictionary.convert(10.0, "lbf.in", "N.m") == pytest.approx(1.129848)
    with pytest.raises(KeyError):
        dictionary.convert(1.0, "furlong", "um")


def test_unregistered_element_is_refused(raw):
    bad = copy.deepcopy(raw)
    bad["feeds"]["spc_measurements"]["fields"]["no_such_element"] = {"from": "x"}
    with pytest.raises(DictionaryError, match="not a registered data element"):
        parse_dictionary(bad)


def test_missing_code_map_is_refused(raw):
    bad = copy.deepcopy(raw)
    bad["feeds"]["mes_testlog"]["fields"]["station_type"]["code_map"] = "nope"
    with pytest.raises(DictionaryError, match="no code map 'nope'"):
        parse_dictionary(bad)


def test_personal_data_is_pseudonymised(dictionary):
    feed = dictionary.feeds["field_returns"]
    assert feed.spec("customer_pseudonym").pseudonymise
    silver_sources = {s.source for s in feed.fields if not s.pseudonymise}
    assert not silver_sources & {"customer.name", "customer.email", "customer.phone"}


def test_every_model_feature_and_rule_input_has_a_business_name(dictionary):
    """Warnings explain themselves in a quality engineer's words: every feature is registered."""
    from ml.features import FEATURES
    from ml.rules import RULE_INPUTS

    names = {f for feats in FEATURES.values() for f in feats} | {f for ins in RULE_INPUTS.values() for f in ins}
    missing = sorted(n for n in names | {"rule"} if n not in dictionary.derived)
    assert not missing, f"register these in conf/data_dictionary.yaml derived_measures: {missing}"
    assert dictionary.business_name("doa_rate_so_far") == "dead-on-arrival rate"
    assert dictionary.business_name("not_registered_x") == "not registered x"
