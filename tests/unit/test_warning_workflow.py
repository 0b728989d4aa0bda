"""The warning workflow on hand-made scores: episodes and ids, routing, transitions, escalation."""

from __future__ import annotations

import copy
import dataclasses
from datetime import date, timedelta

import pandas as pd
import pytest

from reporting.workflow import (
    TransitionError,
    WorkflowSettings,
    episodes,
    history,
    route_owner,
    route_warning,
    transition,
    warning_id,
    warnings_table,
)

D0 = date(2026, 3, 2)


def _scores(days_by_entity: dict[tuple[str, str], list[int]], last_day: int = 20) -> pd.DataFrame:
    rows = []
    for (scope, entity), days in days_by_entity.items():
        for d in range(last_day + 1):
            rows.append((scope, entity, D0 + timedelta(days=d), 0.9 if d in days else 0.1, d in days))
    df = pd.DataFrame(rows, columns=["scope", "entity_id", "score_date", "score", "is_warning"])
    df["model_name"], df["model_version"] = "andon_" + df["scope"], "7"
    return df


@pytest.fixture
def wf_cfg(cfg, tmp_path):
    from deltalake import write_deltalake

    raw = copy.deepcopy(cfg.raw)
    raw["paths"]["lakehouse"] = str(tmp_path / "lakehouse")
    raw["warnings"] = {
        "escalate_after_days": 3,
        "default_owner": "qe",
        "routing": [
            {"scope": "incoming_material", "entity": "*", "owner": "sqe"},
            {"scope": "*", "entity": "SZX-*", "owner": "szx"},
        ],
    }
    c = dataclasses.replace(cfg, raw=raw)
    scores = _scores({("factory_output", "SZX-L1"): [2, 3, 4, 15], ("incoming_material", "SUP1-P-L1"): [18, 19]})
    scores["score_date"] = pd.to_datetime(scores["score_date"])
    write_deltalake(c.table_path("gold", "early_warning_scores"), scores)
    return c


def test_episodes_split_at_gaps_and_ids_are_stable():
    s = _scores({("factory_output", "SZX-L1"): [2, 3, 4, 6, 15], ("factory_output", "GDL-L2"): []})
    ep = episodes(s, gap_days=7)
    # days 2-6 (gap of 2 days inside) are one episode; day 15 is 9 days after day 6: a new one
    assert list(ep["first_warning"]) == [D0 + timedelta(days=2), D0 + timedelta(days=15)]
    assert list(ep["days_warned"]) == [4, 1] and list(ep["last_warning"])[0] == D0 + timedelta(days=6)
    assert ep["warning_id"].iloc[0] == warning_id("factory_output", "SZX-L1", D0 + timedelta(days=2))
    assert ep["warning_id"].iloc[0].startswith("FO-20260304-")
    assert list(episodes(s, gap_days=7)["warning_id"]) == list(ep["warning_id"])  # same input, same ids
    assert episodes(s.assign(is_warning=False)).empty


def test_owners_are_routed_by_the_first_matching_rule():
    settings = WorkflowSettings(
        routing=(
            {"scope": "incoming_material", "entity": "*", "owner": "sqe"},
            {"scope": "*", "entity": "SZX-*", "owner": "szx"},
        ),
        default_owner="qe",
        escalate_after_days=3,
    )
    assert route_owner("incoming_material", "SZX-whatever", settings) == "sqe"
    assert route_owner("field_return", "SZX-L1-AX100-20260302", settings) == "szx"
    assert route_owner("factory_output", "GDL-L1", settings) == "qe"


def test_a_warning_goes_to_the_owner_of_its_suspect():
    settings = WorkflowSettings(
        routing=(
            {"scope": "incoming_material", "entity": "*", "owner": "sqe"},
            {"scope": "factory_output", "entity": "*-FT", "owner": "test-engineering"},
            {"scope": "*", "entity": "SZX-*", "owner": "szx"},
        ),
        default_owner="qe",
        escalate_after_days=3,
    )
    day = D0 + timedelta(days=10)
    suspects = pd.DataFrame({
        "build_lot_id": ["SZX-L1-AX100-20260302", "SZX-L1-AX100-20260302", "SZX-L2-AX100-20260302",
                         "SZX-L3-AX100-20260302"],
        "suspect_rank": [1, 2, 1, 1],
        "suspect_type": ["supplier_lot", "station", "station", "supplier_lot"],
        "suspect_id": ["SUP1-CAP-L7", "SZX-L1-FT", "SZX-L2-ICT", "SUP2-RES-L1"],
        "owner_hint": ["SUP1", "SZX-L1-FT", "SZX-L2-ICT", "SUP2"],
        "evidence": ["lot test", "station", "station", "flagged later"],
        # the L3 lot's suspect was flagged after the warning ran: not known then
        "flagged_date": [D0, D0, D0, day + timedelta(days=5)],
    })
    cusum = pd.DataFrame({
        "line_id": ["SZX-L1", "SZX-L1"], "monitor_level": ["station", "station"],
        "station_id": ["SZX-L1-ICT", "SZX-L1-FT"], "tested_date": [day, day],
        "is_true_fail_signal": [True, False], "is_false_fail_signal": [False, True],
        "cusum_true": [7.0, 0.0], "cusum_false": [0.0, 9.0], "description": ["ICT", "FT false fails"],
    })
    gold = {"fct_build_lot_suspects": suspects, "fct_yield_cusum": cusum}
    # a build lot carrying a flagged supplier lot: supplier quality, not the site that built it
    assert route_warning("field_return", "SZX-L1-AX100-20260302", D0, day, gold, settings) == (
        "sqe", "suspect SUP1-CAP-L7")
    # a station suspect is routed as that station's warning; a suspect flagged too late does not count
    assert route_warning("field_return", "SZX-L2-AX100-20260302", D0, day, gold, settings) == (
        "szx", "suspect SZX-L2-ICT")
    assert route_warning("field_return", "SZX-L3-AX100-20260302", D0, day, gold, settings) == ("szx", "entity")
    # a line whose FT station's false fails signalled most during the warning: test engineering
    assert route_warning("factory_output", "SZX-L1", day, day, gold, settings) == (
        "test-engineering", "suspect SZX-L1-FT")
    assert route_warning("factory_output", "SZX-L1", D0, D0, gold, settings) == ("szx", "entity")
    assert route_warning("incoming_material", "SUP1-CAP-L7", D0, day, gold, settings) == ("sqe", "entity")
    assert route_warning("field_return", "SZX-L1-AX100-20260302", D0, day, {}, settings) == ("szx", "entity")


def test_status_moves_only_along_the_workflow_and_keeps_its_history(wf_cfg):
    table = warnings_table(wf_cfg)
    fo = table[table["scope"] == "factory_output"].iloc[0]
    wid = fo["warning_id"]
    assert fo["status"] == "new" and fo["owner"] == "szx"

    with pytest.raises(TransitionError, match="is new: cannot confirm it .allowed: ack"):
        transition(wf_cfg, wid, "confirm", "ann")
    with pytest.raises(TransitionError, match="say who you are"):
        transition(wf_cfg, wid, "ack", "  ")
    with pytest.raises(TransitionError, match="no warning 'FO-nope'"):
        transition(wf_cfg, "FO-nope", "ack", "ann")
    assert history(wf_cfg).empty  # nothing written by rejected changes

    transition(wf_cfg, wid, "ack", "ann", "checking the fixture")
    transition(wf_cfg, wid, "dismiss", "bob", "retest passed, probe cleaned")
    with pytest.raises(TransitionError, match="is false_alarm: cannot ack"):
        transition(wf_cfg, wid, "ack", "ann")
    transition(wf_cfg, wid, "close", "ann")
    with pytest.raises(TransitionError, match="allowed: none"):
        transition(wf_cfg, wid, "close", "ann")

    hist = history(wf_cfg).sort_values("changed_at")
    assert list(zip(hist["from_status"], hist["to_status"], hist["actor"], strict=True)) == [
        ("new", "acknowledged", "ann"),
        ("acknowledged", "false_alarm", "bob"),
        ("false_alarm", "closed", "ann"),
    ]
    assert warnings_table(wf_cfg).set_index("warning_id").loc[wid, "status"] == "closed"


def test_unacknowledged_active_warnings_are_escalated(wf_cfg):
    def escalated(as_of_day: int) -> set[str]:
        t = warnings_table(wf_cfg, as_of=D0 + timedelta(days=as_of_day))
        return set(t.loc[t["escalated"], "entity_id"])

    # SZX-L1 episode 1 (days 2-4): 3 days old on day 5, still active until day 11
    assert escalated(4) == set()
    assert escalated(5) == {"SZX-L1"}
    assert escalated(12) == set()  # its last warning (day 4) is more than 7 days back: no longer active
    # the lot warned on days 18-19 is escalated from day 21 on (and SZX-L1's second episode, day 15)
    assert escalated(20) == {"SZX-L1"}
    assert escalated(21) == {"SUP1-P-L1", "SZX-L1"}
    t = warnings_table(wf_cfg)
    lot = t.loc[t["entity_id"] == "SUP1-P-L1", "warning_id"].iloc[0]
    transition(wf_cfg, lot, "ack", "sqe-1")
    assert escalated(21) == {"SZX-L1"}  # the lot is acknowledged: someone is on it


def test_the_warnings_table_routes_by_the_suspect_in_gold(wf_cfg):
    from deltalake import write_deltalake

    t = warnings_table(wf_cfg)
    assert set(t["routed_by"]) == {"entity"}  # no detector table in gold yet
    cusum = pd.DataFrame({
        "line_id": ["SZX-L1"], "monitor_level": ["station"], "station_id": ["SZX-L1-FT"],
        "tested_date": pd.to_datetime([D0 + timedelta(days=3)]), "is_true_fail_signal": [False],
        "is_false_fail_signal": [True], "cusum_true": [0.0], "cusum_false": [8.0], "description": ["FT false fails"],
    })
    write_deltalake(wf_cfg.table_path("gold", "fct_yield_cusum"), cusum)
    t = warnings_table(wf_cfg).set_index("first_warning")
    # the line's first episode (days 2-4) ran while FT signalled; its second (day 15) did not
    assert t.loc[D0 + timedelta(days=2), "routed_by"] == "suspect SZX-L1-FT"
    assert t.loc[D0 + timedelta(days=2), "owner"] == "szx"
    assert t.loc[D0 + timedelta(days=15), "routed_by"] == "entity"
