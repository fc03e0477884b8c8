"""The parent's /metrics merges the workers' snapshots: the upstream's capability gauges are the
same fact in every process, so they are never summed (up: min, capability and info: max)."""

from __future__ import annotations

from regproxy.metrics import Metrics, merge_snapshots
from regproxy.server.admin import GAUGE_MODES

TAG_NO = (("capability", "tag-deletion"), ("state", "no"))
INFO = (("api_version", "registry/2.0"),)


def worker(up: float, tag_no: float) -> Metrics:
    metrics = Metrics()
    metrics.set("regproxy_upstream_up", up)
    metrics.set("regproxy_upstream_capability", tag_no, TAG_NO)
    metrics.set("regproxy_upstream_info", 1.0, INFO)
    return metrics


def test_capability_gauges_are_not_summed_across_workers() -> None:
    merged = merge_snapshots([worker(1, 1).snapshot(), worker(1, 1).snapshot(), worker(0, 0).snapshot()], GAUGE_MODES)
    assert merged.gauges["regproxy_upstream_up"][()] == 0  # one process cannot use it: not up
    assert merged.gauges["regproxy_upstream_capability"][TAG_NO] == 1
    assert merged.gauges["regproxy_upstream_info"][INFO] == 1


def test_every_upstream_gauge_has_a_mode() -> None:
    assert {n for n in GAUGE_MODES if n.startswith("regproxy_upstream_")} == {
        "regproxy_upstream_up",
        "regproxy_upstream_capability",
        "regproxy_upstream_info",
    }
