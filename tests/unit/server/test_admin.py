"""The admin app: liveness, readiness with its reason, and metrics merged over workers (the
upstream's capability gauges are the same fact in every process, so they are never summed:
up: min, capability and info: max)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from regproxy.metrics import Metrics, merge_snapshots, write_snapshot
from regproxy.server.admin import GAUGE_MODES, admin_app, read_snapshots


async def test_health_readiness_and_metrics(aiohttp_client: Any) -> None:
    metrics = Metrics()
    metrics.inc("regproxy_requests_total", value=2)
    state = {"ready": (False, "policies not loaded")}

    async def ready() -> tuple[bool, str]:
        return state["ready"]

    client = await aiohttp_client(admin_app(lambda: metrics, ready))
    assert (await client.get("/healthz")).status == 200
    not_ready = await client.get("/readyz")
    assert (not_ready.status, await not_ready.text()) == (503, "policies not loaded\n")
    state["ready"] = (True, "ready")
    assert (await client.get("/readyz")).status == 200
    response = await client.get("/metrics")
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "regproxy_requests_total 2\n" in await response.text()


async def test_metrics_add_every_worker_snapshot_to_the_parent(tmp_path: Path, aiohttp_client: Any) -> None:
    for worker in (1, 2):
        m = Metrics()
        m.inc("regproxy_requests_total", value=worker)
        write_snapshot(m, tmp_path, worker)
    (tmp_path / "worker-3.json").write_text("{half a file")  # being replaced: skipped this time
    parent = Metrics()
    parent.inc("regproxy_requests_total")

    async def ready() -> tuple[bool, str]:
        return True, "ready"

    client = await aiohttp_client(admin_app(lambda: parent, ready, tmp_path))
    assert "regproxy_requests_total 4\n" in await (await client.get("/metrics")).text()
    assert len(read_snapshots(tmp_path)) == 2


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
