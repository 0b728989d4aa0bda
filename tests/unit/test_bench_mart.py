"""Pure helpers of the mart benchmark (bench/mart.py); the measurements themselves are never asserted."""

from __future__ import annotations

import os

from bench import mart


def test_node_breakdown_sums_dbt_times_by_kind():
    run_results = {"elapsed_time": 12.34, "results": [
        {"unique_id": "model.andon_quality.fct_a", "execution_time": 3.0},
        {"unique_id": "model.andon_quality.fct_b", "execution_time": 1.5},
        {"unique_id": "test.andon_quality.unique_fct_a_id.abc", "execution_time": 0.5},
        {"unique_id": "unit_test.andon_quality.fct_a.test_x", "execution_time": 2.0},
    ]}
    got = mart.node_breakdown(run_results, slowest=2)
    assert got["dbt_elapsed_seconds"] == 12.3
    assert got["by_kind"] == {"model": {"nodes": 2, "seconds": 4.5}, "test": {"nodes": 1, "seconds": 0.5},
                              "unit_test": {"nodes": 1, "seconds": 2.0}}
    assert got["slowest"] == [{"node": "fct_a", "seconds": 3.0}, {"node": "test_x", "seconds": 2.0}]


def test_tree_rss_counts_descendants_only(tmp_path):
    def proc(pid, ppid, kb):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "status").write_text(f"Name:\tx\nPPid:\t{ppid}\nVmRSS:\t{kb} kB\n")

    proc(10, 1, 100)    # the process
    proc(11, 10, 50)    # its child (the JVM)
    proc(12, 11, 5)     # a grandchild
    proc(20, 1, 999)    # unrelated
    (tmp_path / "self").mkdir()
    assert mart.tree_rss_bytes(10, proc=tmp_path) == 155 * 1024
    assert mart.tree_rss_bytes(os.getpid()) > 0


def test_markdown_lists_every_build():
    build = {"seconds": 10.0, "mode": "incremental", "scope": {"station_days": 2}, "peak_rss_gib": 1.5,
             "nodes": {"by_kind": {"model": {"nodes": 14, "seconds": 5.0}}}}
    results = {"timestamp": "t", "params": {"days": 3, "scale": 0.1},
               "machine": {"nproc": 2, "mem_total_gib": 24, "loadavg_start": 1, "loadavg_end": 2},
               "builds": {"full refresh": dict(build, scope={}), "incremental (1 new day)": build}}
    text = mart.format_markdown(results)
    assert "| full refresh | 10.0 | 5.0 | - | - | 1.5 | all |" in text
    assert "station_days 2" in text
