"""What the upstream registry can do, learned by asking it, at start-up and on a timer.

"In front of any registry" means regproxy must know which registry: distribution 2.8 has no tag
deletion and no referrers API, an OCI 1.1 registry has both, a registry with deletes disabled
answers 405. A policy may grant what the upstream cannot do; knowing it lets the edge answer
``UNSUPPORTED`` itself and ``regproxy check`` warn, instead of forwarding and passing on whatever
the registry makes of it.

Each probe is one small request whose answer tells one thing (OCI distribution spec v1.1):

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
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

import orjson

from regproxy.errors import UpstreamUnavailable
from regproxy.metrics import Metrics
from regproxy.proxy.upstream import UpstreamClient, operator_reason

log = logging.getLogger("regproxy.upstream")

PROBE_REPOSITORY = "regproxy-probe/capabilities"
ZERO_DIGEST = "sha256:" + "0" * 64
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
API_VERSION_HEADER = "Docker-Distribution-API-Version"


class Capability(StrEnum):
    TAG_DELETION = "tag-deletion"
    MANIFEST_DELETION = "manifest-deletion"
    REFERRERS = "referrers"
    MOUNT = "mount"


class Support(StrEnum):
    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"


def _unknown_all() -> dict[Capability, Support]:
    return dict.fromkeys(Capability, Support.UNKNOWN)


@dataclass(frozen=True, slots=True)
class Capabilities:
    """One probe's findings. ``problem`` says, in the operator's words, why the registry could
    not be used when ``reachable`` is false."""

    reachable: bool = False
    api_version: str = ""
    support: Mapping[Capability, Support] = field(default_factory=_unknown_all)
    problem: str = "not probed yet"
    probed_at: float = 0.0

    def supports(self, capability: Capability) -> Support:
        return self.support.get(capability, Support.UNKNOWN)

    def detail(self) -> str:
        """One line for /readyz and the log: ``registry/2.0; tag-deletion no, referrers no, …``."""
        if not self.reachable:
            return f"upstream not usable: {self.problem}"
        found = ", ".join(f"{c.value} {self.supports(c).value}" for c in Capability)
        return f"upstream {self.api_version or '(no API version header)'}; {found}"


# -- pure: one answer -> one finding -------------------------------------------------------------
def classify_tag_deletion(status: int) -> Support:
    if status in (202, 404):
        return Support.YES  # deleted, or "no such tag": either way the registry deletes by tag
    if status in (400, 405):
        return Support.NO  # distribution 2.8 reads the tag as a malformed digest (400); 405 deletes off
    return Support.UNKNOWN


def classify_manifest_deletion(status: int) -> Support:
    if status in (202, 404):
        return Support.YES
    if status == 405:
        return Support.NO  # distribution with storage.delete.enabled false: UNSUPPORTED
    return Support.UNKNOWN


def classify_referrers(status: int, content_type: str, body: bytes) -> Support:
    if status == 200:
        media_type = content_type.split(";", 1)[0].strip().lower()
        try:
            index = orjson.loads(body)
        except orjson.JSONDecodeError:
            return Support.UNKNOWN
        if media_type == INDEX_TYPE and isinstance(index, dict) and isinstance(index.get("manifests"), list):
            return Support.YES
        return Support.UNKNOWN
    if status == 404:
        return Support.NO  # the spec forbids a 404 from a registry that implements referrers
    return Support.UNKNOWN


# -- the adapter: asking the registry ------------------------------------------------------------
async def probe_capabilities(
    upstream: UpstreamClient, previous: Capabilities | None = None, clock: Callable[[], float] = time.time
) -> Capabilities:
    """Ask the registry; what was learned from traffic (mount) carries over from ``previous``."""
    learned = {Capability.MOUNT: previous.supports(Capability.MOUNT)} if previous else {}
    try:
        response = await upstream.request("GET", "/v2/", {})
    except UpstreamUnavailable as exc:
        return Capabilities(problem=operator_reason(exc), support={**_unknown_all(), **learned}, probed_at=clock())
    async with response:
        await response.read()
        if response.status >= 500:
            return Capabilities(
                problem=f"the registry answered /v2/ with {response.status}",
                support={**_unknown_all(), **learned},
                probed_at=clock(),
            )
        api_version = response.headers.get(API_VERSION_HEADER, "")
    support = _unknown_all() | learned
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


__all__ = [
    "Capabilities",
    "Capability",
    "CapabilityProbe",
    "Support",
    "classify_manifest_deletion",
    "classify_referrers",
    "classify_tag_deletion",
    "probe_capabilities",
]
