"""Pure helpers of the landing benchmark (``python -m bench``): rates, ratio, result assembly and formatting.

No Spark here: the benchmark's figures are recorded, never asserted.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bench.landing import (
    Timing,
    build_results,
    duckdb_query,
    fmt_rate,
    format_console,
    format_markdown,
    landing_window,
    mem_total_bytes,
    percent,
    rate,
    ratio,
    results_filename,
    summarize_overhead,
    vm_hwm_bytes,
)

MACHINE = {"nproc": 2, "mem_total_gib": 23.5, "python": "3.11.9", "pyspark": "4.2.0",
           "delta_spark": "4.4.0", "spark_master": "local[2]"}
PARAMS = {"days": 7, "scale": 0.5, "seed": 42, "start": "2026-03-02"}


def _results(parquet_seconds: float = 2.0, landing=None, parquet=None) -> dict:
    return build_results(
        timestamp="2026-03-02T12:00:00Z",
        machine=MACHINE,
        params=PARAMS,
        landing=landing if landing is not None else [Timing("mes", 6000, 20.0), Timing("spc", 4000, 9.0)],
        landing_wall_seconds=30.0,
        parquet=parquet if parquet is not None else [Timing("mes_testlog", 6000, parquet_seconds / 2),
                                                     Timing("spc_measurements", 4000, parquet_seconds / 2)],
    )


def test_rate_divides_rows_by_seconds():
    assert rate(1000, 2.0) == 500.0
    assert rate(0, 3.0) == 0.0


@pytest.mark.parametrize("seconds", [0, 0.0, -1.0, None])
def test_rate_is_none_without_a_positive_duration(seconds):
    assert rate(1000, seconds) is None


def test_ratio_and_its_zero_division_safety():
    assert ratio(100.0, 8.0) == 12.5
    assert ratio(100.0, 0) is None
    assert ratio(None, 5.0) is None
    assert ratio(5.0, None) is None
    assert ratio(0.0, 5.0) == 0.0


def test_build_results_totals_rates_and_ratio():
    res = _results(parquet_seconds=2.0)
    landing = res["landing"]
    assert [s["name"] for s in landing["sources"]] == ["mes", "spc"]
    assert landing["sources"][0]["rows_per_s"] == 300.0          # 6000 / 20
    # the landing total uses the loop's wall clock (30 s), not the sum of sources (29 s)
    assert landing["total"] == {"name": "total", "rows": 10000, "seconds": 30.0, "rows_per_s": 333.3}
    # the Parquet total is the sum of the timed writes
    assert res["parquet"]["total"]["seconds"] == 2.0
    assert res["parquet"]["total"]["rows_per_s"] == 5000.0
    assert res["rows_match"] is True
    assert res["ratio"] == 15.0                                   # 5000 / 333.33


def test_build_results_with_nothing_timed_has_no_ratio():
    res = _results(landing=[Timing("mes", 0, 0.0)], parquet=[Timing("mes_testlog", 0, 0.0)])
    assert res["parquet"]["total"]["rows_per_s"] is None
    assert res["ratio"] is None
    assert "n/a" in format_markdown(res)
    assert "n/a" in format_console(res)


def test_build_results_flags_differing_row_counts():
    res = _results(parquet=[Timing("mes_testlog", 5999, 1.0)])
    assert res["rows_match"] is False
    assert "Warning" in format_markdown(res)
    assert "Warning" not in format_markdown(_results())


def test_markdown_has_one_table_line_per_source_plus_totals():
    md = format_markdown(_results())
    table = [line for line in md.splitlines() if line.startswith("|")]
    assert table[0] == "| Step | Rows | Seconds | Rows/s |"
    assert len(table) == 2 + 2 + 2                                # header, rule, 2 sources, 2 totals
    assert all(line.count("|") == 5 for line in table)
    assert "| landing mes | 6,000 | 20.00 | 300 |" in table
    assert "| landing total | 10,000 | 30.00 | 333 |" in table
    assert "| plain Parquet write | 10,000 | 2.00 | 5,000 |" in table
    assert "15.0x faster" in md
    assert "7 simulated days at scale 0.5" in md
    assert "2 CPUs, 23.5 GiB RAM" in md and "delta-spark 4.4.0" in md and "local[2]" in md


def test_console_table_is_aligned():
    text = format_console(_results())
    lines = text.splitlines()
    table = lines[:-1]
    assert len({len(line) for line in table}) == 1                  # every row padded to the same width
    assert table[2].startswith("landing mes")
    assert lines[-1] == "ratio: plain Parquet is 15.0x faster than landing"


def test_small_rates_keep_a_decimal():
    assert fmt_rate(0.16) == "0.2"                               # never a bare "0"
    assert fmt_rate(3.64) == "3.6"
    assert fmt_rate(13465.5) == "13,466"
    assert fmt_rate(None) == "n/a"
    md = format_markdown(_results(landing=[Timing("field_returns", 17, 112.9)]))
    assert "| landing field_returns | 17 | 112.90 | 0.2 |" in md


def test_mem_total_from_proc_meminfo():
    text = "MemTotal:       24684084 kB\nMemFree:        18862348 kB\n"
    assert mem_total_bytes(text) == 24684084 * 1024
    assert mem_total_bytes("MemFree: 1 kB\n") is None


def test_results_filename_is_utc():
    when = datetime(2026, 3, 2, 14, 15, 0, tzinfo=UTC)
    assert results_filename(when) == "landing-20260302T141500Z.json"


def test_landing_window_matches_simulated_days():
    days = landing_window(3, date(2026, 3, 30))
    assert days == [date(2026, 3, 30), date(2026, 3, 31), date(2026, 4, 1)]


def test_peak_rss_from_proc_status():
    assert vm_hwm_bytes("Name:\tjava\nVmPeak:\t 9000 kB\nVmHWM:\t  2048 kB\nVmRSS:\t 1024 kB\n") == 2048 * 1024
    assert vm_hwm_bytes("Name:\tkthreadd\n") is None


def test_percent_share_and_its_safety():
    assert percent(50.0, 200.0) == 25.0
    assert percent(1.0, 3.0) == 33.3
    assert percent(None, 3.0) is None and percent(1.0, 0) is None


def test_duckdb_reads_each_format_as_a_user_would():
    csv = duckdb_query("csv", ["/l/mes/2026-03-02/a.csv", "/l/o'brien.csv"], delimiter=";")
    assert csv.startswith("SELECT * FROM read_csv(['/l/mes/2026-03-02/a.csv', '/l/o''brien.csv'], delim = ';'")
    assert "all_varchar = true" in csv and "ignore_errors = true" in csv
    assert "format = 'newline_delimited'" in duckdb_query("jsonl", ["a.jsonl"])
    assert duckdb_query("json", ["a.json"], record_path="claims").startswith("SELECT unnest(claims, recursive")
    assert duckdb_query("xml", ["a.xml"]) is None


def test_overhead_summary():
    assert summarize_overhead({"a": 2.0, "b": 4.5}) == {"mean_seconds": 3.25, "max_seconds": 4.5}
    assert summarize_overhead({}) == {"mean_seconds": None, "max_seconds": None}


def test_markdown_shows_shares_duckdb_overhead_steps_and_rss():
    res = _results()
    res["landing_percent_of"] = {"parquet": 6.7, "duckdb": 12.5}
    res["duckdb"] = {"feeds": [{"name": "mes_testlog", "rows": 6000, "seconds": 0.5, "rows_per_s": 12000.0,
                                "reader": "duckdb"}],
                     "total": {"name": "total", "rows": 6000, "seconds": 0.5, "rows_per_s": 12000.0}}
    res["overhead"] = {"feeds": ["mes_testlog", "spc_measurements"],
                       "noop": {"per_feed": {"mes_testlog": 0.4, "spc_measurements": 0.6},
                                "mean_seconds": 0.5, "max_seconds": 0.6},
                       "new_day": {"per_feed": {"mes_testlog": 3.0, "spc_measurements": 5.0},
                                   "mean_seconds": 4.0, "max_seconds": 5.0}}
    res["landing_steps"] = {"mes_testlog": {"bronze": 1.5, "list": 0.1}}
    res["peak_rss_gib"] = {"python": 0.4, "jvm": 2.1}
    md = format_markdown(res)
    assert "the plain Parquet write 6.7 %, DuckDB (read the landing files, write Parquet) 12.5 %" in md
    assert "| mes_testlog | 6,000 | 0.50 | 12,000 | duckdb |" in md
    assert "| re-land a landed day (nothing new) | 0.40 | 0.60 | 0.50 | 0.60 |" in md
    assert "| land one day's data (forced re-land) | 3.00 | 5.00 | 4.00 | 5.00 |" in md
    assert "| Seconds per step | bronze | list |" in md and "| mes_testlog | 1.50 | 0.10 |" in md
    assert "Python process 0.4 GiB, Spark JVM 2.1 GiB" in md


def test_bench_selection_keeps_canonical_order_and_rejects_unknown_names():
    from bench.__main__ import BENCHMARKS, selected

    assert selected(None) == list(BENCHMARKS)
    assert selected("mart, landing-1") == ["landing-1", "mart"]
    with pytest.raises(ValueError, match="landing-5"):
        selected("landing-5")


def test_daily_markdown_reports_the_run_after_the_jvm_is_up():
    from bench.daily import markdown

    md = markdown({"generated_at": "T", "day": "2027-03-01", "landed_days": 365, "records": 4100,
                   "mart_reason": "incremental, station_days 3", "loadavg_start": 1.0, "loadavg_end": 2.0,
                   "seconds": {"spark_start": 15.0, "land": 40.0, "mart": 60.0, "score": 20.0, "total": 120.0}})
    assert "**daily run after the JVM is up: 120.0 s**" in md and "4,100 records" in md
