"""What the upstream registry can do, learned by asking it, at start-up and on a timer.

"In front of any registry" means regproxy must know which registry: distribution 2.8 has no tag
deletion and no referrers API, an OCI 1.1 registry has both, a registry with deletes disabled
answers 405. A policy may grant what the upstream cannot do; knowing it lets the edge answer
``UNSUPPORTED`` itself and ``regproxy check`` warn, instead of forwarding and passing on whatever
the registry makes of it.

What the answers mean, and what a request needs, is pure and lives in
:mod:`regproxy.oci.capability`; this module asks. Each probe is one small request whose answer
tells one thing (OCI distribution spec v1.1):

=================  =========================================================  ==================
capability         request                                                    yes / no
=================  =========================================================  ==================
(reachable, API)   ``GET /v2/``: any answer below 500; the                    —
                   ``Docker-Distribution-API-Version`` header
tag-deletion       ``DELETE /v2/<probe>/manifests/<random tag>``              202, 404 / 400, 405
manifest-deletion  ``DELETE /v2/<probe>/manifests/sha256:0…0``                202, 404 / 405
referrers          ``GET /v2/<probe>/referrers/sha256:0…0``                   200 index / 404
mount              never probed (it needs a blob to mount): learned from      201 seen / —
                   real traffic through :meth:`CapabilityProbe.observe_mount`
=================  =========================================================  ==================

``<probe>`` is a repository no one uses (``regproxy-probe/capabilities``) and the tag is random,
so a delete probe can only ever meet nothing. Anything else (401, 403, 5xx, a broken answer) is
``unknown``: regproxy never concludes "unsupported" from a refusal or a fault. ``probe_interval``
0 turns probing off (everything stays ``unknown``, nothing is refused on its account).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace

from regproxy.config import UpstreamConfig
from regproxy.errors import UpstreamUnavailable
from regproxy.metrics import Metrics
from regproxy.oci.capability import (
    INDEX_TYPE,
    Capabilities,
    Capability,
    Support,
    classify_manifest_deletion,
    classify_referrers,
    classify_tag_deletion,
    unknown_support,
)
from regproxy.proxy.connection import operator_reason
from regproxy.proxy.upstream import UpstreamClient

log = logging.getLogger("regproxy.upstream")

PROBE_REPOSITORY = "regproxy-probe/capabilities"
ZERO_DIGEST = "sha256:" + "0" * 64
API_VERSION_HEADER = "Docker-Distribution-API-Version"


# -- the adapter: asking the registry ------------------------------------------------------------
async def probe_capabilities(
    upstream: UpstreamClient, previous: Capabilities | None = None, clock: Callable[[], float] = time.time
) -> Capabilities:
    """Ask the registry; what was learned from traffic (mount) carries over from ``previous``."""
    learned = {Capability.MOUNT: previous.supports(Capability.MOUNT)} if previous else {}
    try:
        response = await upstream.request("GET", "/v2/", {})
    except UpstreamUnavailable as exc:
        return Capabilities(problem=operator_reason(exc), support={**unknown_support(), **learned}, probed_at=clock())
    async with response:
        await response.read()
        if response.status >= 500:
            return Capabilities(
                problem=f"the registry answered /v2/ with {response.status}",
                support={**unknown_support(), **learned},
                probed_at=clock(),
            )
        api_version = response.headers.get(API_VERSION_HEADER, "")
    support = unknown_support() | learned
    delete_scope = f"repository:{PROBE_REPOSITORY}:delete"
    pull_scope = f"repository:{PROBE_REPOSITORY}:pull"
    tag = f"regproxy-probe-{secrets.token_hex(8)}"
    checks: list[tuple[Capability, str, str, str]] = [
        (Capability.TAG_DELETION, "DELETE", f"/v2/{PROBE_REPOSITORY}/manifests/{tag}", delete_scope),
        (Capability.MANIFEST_DELETION, "DELETE", f"/v2/{PROBE_REPOSITORY}/manifests/{ZERO_DIGEST}", delete_scope),
        (Capability.REFERRERS, "GET", f"/v2/{PROBE_REPOSITORY}/referrers/{ZERO_DIGEST}", pull_scope),
    ]
    for capability, method, target, scope in checks:
        try:
            headers = {"accept": INDEX_TYPE} if capability is Capability.REFERRERS else {}
            answer = await upstream.request(method, target, headers, scope=scope)
        except UpstreamUnavailable:
            continue  # unknown: a fault says nothing about what the registry supports
        async with answer:
            body = await answer.content.read(64 * 1024)
            if capability is Capability.TAG_DELETION:
                support[capability] = classify_tag_deletion(answer.status)
            elif capability is Capability.MANIFEST_DELETION:
                support[capability] = classify_manifest_deletion(answer.status)
            else:
                support[capability] = classify_referrers(answer.status, answer.headers.get("Content-Type", ""), body)
    return Capabilities(reachable=True, api_version=api_version, support=support, problem="", probed_at=clock())


async def probe_upstream_once(config: UpstreamConfig) -> Capabilities:
    """One probe with a client of its own, closed afterwards (``regproxy check --probe-upstream``)."""
    upstream = UpstreamClient(config)
    await upstream.start()
    try:
        return await probe_capabilities(upstream)
    finally:
        await upstream.close()


Wait = Callable[[float], Awaitable[None]]


class CapabilityProbe:
    """Owns the current :class:`Capabilities`: probes at start-up, then every ``interval``
    seconds, publishes them as metrics and logs each change. Run :meth:`run` as a task whose
    owner cancels it on shutdown."""

    def __init__(
        self,
        upstream: UpstreamClient,
        metrics: Metrics,
        interval: float,
        *,
        wait: Wait = asyncio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.upstream = upstream
        self.metrics = metrics
        self.interval = interval
        self.current = Capabilities()
        self._wait = wait
        self._clock = clock
        self._publish()

    async def run(self) -> None:
        if self.interval <= 0:
            log.info("upstream capability probing is off (upstream.probe_interval 0)")
            return
        first = True
        while True:
            await self.probe_once(first=first)
            first = False
            await self._wait(self.interval)

    async def probe_once(self, *, first: bool = False) -> Capabilities:
        found = await probe_capabilities(self.upstream, self.current, self._clock)
        changed = _comparable(found) != _comparable(self.current)
        self.current = found
        self.metrics.inc("regproxy_upstream_probes_total", (("result", "ok" if found.reachable else "unusable"),))
        self._publish()
        if not found.reachable:
            if first or changed:
                log.error("%s%s", found.detail(), " (at start-up)" if first else "")
        elif first or changed:
            log.info("%s", found.detail())
        return found

    def observe_mount(self, status: int) -> None:
        """A cross-repository mount forwarded upstream came back ``status``: a 201 proves mounts."""
        if status == 201 and self.current.supports(Capability.MOUNT) is not Support.YES:
            self.current = replace(self.current, support={**self.current.support, Capability.MOUNT: Support.YES})
            self._publish()
            log.info("upstream capability learned from traffic: mount yes")

    def _publish(self) -> None:
        found = self.current
        self.metrics.set("regproxy_upstream_up", 1.0 if found.reachable else 0.0)
        for capability in Capability:
            state = found.supports(capability)
            for candidate in Support:
                labels = (("capability", capability.value), ("state", candidate.value))
                self.metrics.set("regproxy_upstream_capability", 1.0 if candidate is state else 0.0, labels)
        self.metrics.gauges["regproxy_upstream_info"].clear()
        if found.reachable:
            self.metrics.set("regproxy_upstream_info", 1.0, (("api_version", found.api_version),))


def _comparable(found: Capabilities) -> tuple[object, ...]:
    return (found.reachable, found.api_version, tuple(sorted(found.support.items())), found.problem)


__all__ = ["PROBE_REPOSITORY", "CapabilityProbe", "probe_capabilities", "probe_upstream_once"]
