"""Metrics: counters, gauges and histograms in Prometheus text format, summed across workers."""

from __future__ import annotations

from pathlib import Path

from regproxy.metrics import HELP, Histogram, Metrics, merge_snapshots, render, write_snapshot

REQUESTS = "regproxy_requests_total"


def test_a_histogram_counts_each_value_in_the_first_bucket_that_holds_it() -> None:
    h = Histogram((0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 7.0):
        h.observe(value)
    assert (h.counts, h.count, h.sum) == ([2, 1, 1], 4, 7.65)


def test_rendering_counters_gauges_and_cumulative_buckets() -> None:
    m = Metrics()
    m.inc("c_total", (("outcome", "allow"),))
    m.inc("c_total", (("outcome", "allow"),), 2)
    m.set("g", 209715200)
    m.observe("h_seconds", 0.003)
    text = render(m)
    assert 'c_total{outcome="allow"} 3\n' in text
    assert "\ng 209715200\n" in text  # whole numbers keep every digit
    assert 'h_seconds_bucket{le="0.0025"} 0\n' in text and 'h_seconds_bucket{le="0.005"} 1\n' in text
    assert 'h_seconds_bucket{le="+Inf"} 1\n' in text and "h_seconds_count 1\n" in text


def test_label_values_are_escaped() -> None:
    m = Metrics()
    m.inc("c_total", (("repository", 'a"b\\c\nd'),))
    assert 'c_total{repository="a\\"b\\\\c\\nd"} 1' in render(m)


def test_every_documented_metric_is_rendered_with_its_type_even_at_zero() -> None:
    text = render(Metrics())
    for name, (kind, _help) in HELP.items():
        assert f"# TYPE {name} {kind}\n" in text


def test_snapshots_of_workers_sum_and_generations_take_the_max(tmp_path: Path) -> None:
    one, two = Metrics(), Metrics()
    one.inc(REQUESTS, value=2)
    two.inc(REQUESTS, value=3)
    one.set("generation", 4)
    two.set("generation", 5)
    one.add("open", 1)
    two.add("open", 2)
    one.observe("h_seconds", 0.5)
    two.observe("h_seconds", 0.5)
    write_snapshot(one, tmp_path, 1)
    write_snapshot(two, tmp_path, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["worker-1.json", "worker-2.json"]
    merged = merge_snapshots([one.snapshot(), two.snapshot()], {"generation": "max"})
    assert merged.counters[REQUESTS][()] == 5
    assert merged.gauges["generation"][()] == 5 and merged.gauges["open"][()] == 3
    assert merged.histograms["h_seconds"][()].count == 2
    assert merge_snapshots([one.snapshot(), two.snapshot()], {"generation": "min"}).gauges["generation"][()] == 4
