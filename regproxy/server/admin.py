"""Admin endpoints on their own address: /healthz, /readyz, /metrics. Never on the public port."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from regproxy.metrics import Metrics, merge_snapshots, render

# gauges that are the same fact in every worker, not a total: merged by min or max
GAUGE_MODES = {
    "regproxy_policy_generation": "min",
    "regproxy_upstream_up": "min",  # up only when every process that probed could use it
    "regproxy_upstream_capability": "max",  # 1 on the state any worker found
    "regproxy_upstream_info": "max",
}


def read_snapshots(directory: Path) -> list[dict[str, Any]]:
    """Every worker's latest metrics snapshot (a file being replaced is skipped this time)."""
    snaps = []
    for f in sorted(directory.glob("worker-*.json")):
        try:
            snaps.append(json.loads(f.read_text()))
        except (OSError, ValueError):
            continue
    return snaps


def admin_app(
    metrics: Callable[[], Metrics],
    ready: Callable[[], Awaitable[tuple[bool, str]]],
    snapshot_dir: Path | None = None,
) -> web.Application:
    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(request: web.Request) -> web.Response:
        ok, why = await ready()
        return web.Response(status=200 if ok else 503, text=why + "\n")

    async def metrics_endpoint(request: web.Request) -> web.Response:
        if snapshot_dir is not None:
            snaps = await asyncio.to_thread(read_snapshots, snapshot_dir)
            merged = merge_snapshots([*snaps, metrics().snapshot()], GAUGE_MODES)  # workers and the parent
        else:
            merged = metrics()
        return web.Response(
            text=render(merged),
            content_type="text/plain",
            charset="utf-8",
            headers={"X-Content-Type-Options": "nosniff"},
        )

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_endpoint)
    return app
