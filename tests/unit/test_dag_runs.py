"""The front door's check that a DAG run did its work (pure part; the database part runs in
tests/integration/test_landing_dag.py)."""

from __future__ import annotations

from andon_cli.dag_runs import unfinished_tasks


def test_every_task_succeeded():
    assert unfinished_tasks(["a", "b"], {"a": ["success"], "b": ["success", "success"]}) == []


def test_a_run_without_task_instances_did_nothing():
    assert unfinished_tasks(["a", "b"], {}) == ["a (did not run)", "b (did not run)"]


def test_failed_skipped_and_unfinished_tasks_are_named():
    states = {"a": ["success"], "b": ["failed"], "c": ["skipped"], "d": ["success", None]}
    assert unfinished_tasks(["a", "b", "c", "d"], states) == ["b (failed)", "c (skipped)", "d (None, success)"]
