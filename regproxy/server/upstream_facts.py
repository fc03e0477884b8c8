"""The registry edge's driver of the decision flow: the facts it asks, answered from the upstream.

:func:`regproxy.authorization.flow.authorize` is pure: it yields the facts a decision depends
on and takes their answers. Here they come from the registry behind regproxy — does the
repository exist (a ``tags/list`` of one entry), does the tag exist (a manifest HEAD), what
does the registry support (the capability probe's last finding). An answer the registry cannot
give is ``None`` (unknown), and the flow takes the stricter branch.
"""

from __future__ import annotations

from cachetools import TTLCache

from regproxy.authorization.flow import authorize
from regproxy.authorization.verdict import Answer, Fact, RepositoryExists, TagExists, Verdict
from regproxy.errors import UpstreamUnavailable
from regproxy.oci.capability import Capabilities
from regproxy.oci.routes import RegistryRequest
from regproxy.policy.evaluate import CompiledPolicy
from regproxy.policy.model import RequestContext
from regproxy.proxy.capabilities import CapabilityProbe
from regproxy.proxy.upstream import UpstreamClient

MANIFEST_ACCEPT = ", ".join(
    (
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
    )
)


class UpstreamFacts:
    """Answers the flow's questions from the registry; a repository seen to exist is
    remembered for a minute (repositories are rarely deleted, and then only through regproxy's
    own deletes or the registry's garbage collection)."""

    def __init__(self, upstream: UpstreamClient, capabilities: CapabilityProbe | None) -> None:
        self.upstream = upstream
        self.capabilities = capabilities
        self._repository_seen: TTLCache[str, bool] = TTLCache(maxsize=10000, ttl=60)

    @property
    def found(self) -> Capabilities:
        """What the registry is known to support (nothing known before the first probe)."""
        return self.capabilities.current if self.capabilities is not None else Capabilities()

    async def decide(self, parsed: RegistryRequest, context: RequestContext, policy: CompiledPolicy) -> Verdict:
        """Drive the decision flow to its verdict, answering each fact it asks."""
        flow = authorize(parsed, context, policy)
        try:
            fact = next(flow)
            while True:
                fact = flow.send(await self.answer(fact))
        except StopIteration as done:
            verdict: Verdict = done.value
            return verdict

    async def answer(self, fact: Fact) -> Answer:
        if isinstance(fact, RepositoryExists):
            return await self.repository_exists(fact.repository)
        if isinstance(fact, TagExists):
            return await self.tag_exists(fact.repository, fact.tag)
        return self.found.answer(fact.capability)  # what the registry supports

    async def repository_exists(self, repository: str) -> bool | None:
        if self._repository_seen.get(repository):
            return True
        try:
            response = await self.upstream.request(
                "GET", f"/v2/{repository}/tags/list?n=1", {}, scope=f"repository:{repository}:pull"
            )
        except UpstreamUnavailable:
            return None
        async with response:
            await response.read()
            if response.status == 200:
                self._repository_seen[repository] = True
                return True
            return False if response.status == 404 else None

    async def tag_exists(self, repository: str, tag: str) -> bool | None:
        try:
            response = await self.upstream.request(
                "HEAD",
                f"/v2/{repository}/manifests/{tag}",
                {"accept": MANIFEST_ACCEPT},
                scope=f"repository:{repository}:pull",
            )
        except UpstreamUnavailable:
            return None
        async with response:
            if response.status == 200:
                return True
            return False if response.status == 404 else None


__all__ = ["MANIFEST_ACCEPT", "UpstreamFacts"]
