"""The registry handler's decision: the one flow, with facts asked of the upstream (stubbed
here; tests/properties holds it to `regproxy explain` over random policies)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from regproxy.authorization.verdict import Reply, RepositoryExists, TagExists, Verdict
from regproxy.config import Config
from regproxy.errors import ErrorCode, OciError
from regproxy.identity.identities import Identities
from regproxy.identity.principal import ANONYMOUS, Principal, PrincipalKind, make_principal
from regproxy.metrics import Metrics
from regproxy.oci.actions import Action
from regproxy.oci.capability import Capabilities, Capability, Support, unknown_support
from regproxy.oci.routes import parse_request
from regproxy.policy.evaluate import compile_policy
from regproxy.policy.model import Effect, Outcome, PolicySet, PrincipalRef, RequestContext, ResourcePattern, Statement
from regproxy.proxy.capabilities import CapabilityProbe
from regproxy.proxy.upstream import UpstreamClient
from regproxy.reload import Store
from regproxy.server.authentication import Authentication
from regproxy.server.registry import RegistryHandler

NOW = datetime(2026, 12, 1, tzinfo=UTC)
ALICE = make_principal(PrincipalKind.USER, "alice", groups=["devs"])
BOB = make_principal(PrincipalKind.USER, "bob")
POLICY = compile_policy(
    PolicySet(
        (
            Statement(
                "devs",
                Effect.ALLOW,
                (PrincipalRef.parse("group:devs"),),
                frozenset({Action.PULL, Action.PUSH, Action.TAG_CREATE}),
                (ResourcePattern("team/**"),),
            ),
        ),
        3,
        "h",
    )
)


class Asked:
    """Stands in for the upstream's answers, and records which facts were asked."""

    def __init__(self, repository: bool | None = True, tag: bool | None = False) -> None:
        self.repository, self.tag = repository, tag
        self.facts: list[object] = []

    async def repository_exists(self, repository: str) -> bool | None:
        self.facts.append(RepositoryExists(repository))
        return self.repository

    async def tag_exists(self, repository: str, tag: str) -> bool | None:
        self.facts.append(TagExists(repository, tag))
        return self.tag


async def decide(principal: Principal, method: str, path: str, asked: Asked | None = None) -> Reply:
    config = Config()
    handler = RegistryHandler(
        config, Store(POLICY, Identities()), UpstreamClient(config.upstream), Authentication(()), Metrics(), None
    )
    asked = asked or Asked()
    handler.facts.repository_exists = asked.repository_exists  # type: ignore[method-assign]
    handler.facts.tag_exists = asked.tag_exists  # type: ignore[method-assign]
    verdict = await handler.facts.decide(
        parse_request(method, path, "", {}), RequestContext(principal, None, NOW), POLICY
    )
    assert verdict.generation == 3
    return verdict.reply


async def test_what_the_policy_allows_is_allowed() -> None:
    assert await decide(ALICE, "GET", "/v2/team/app/manifests/v1") is Reply.ALLOW


async def test_what_it_does_not_is_denied_and_anonymous_callers_are_challenged() -> None:
    assert await decide(BOB, "GET", "/v2/team/app/manifests/v1") is Reply.DENY
    assert await decide(ALICE, "GET", "/v2/other/app/manifests/v1") is Reply.DENY
    assert await decide(ANONYMOUS, "GET", "/v2/team/app/manifests/v1") is Reply.CHALLENGE


async def test_a_tag_push_asks_whether_the_tag_exists_and_overwriting_needs_its_own_action() -> None:
    new_tag = Asked(tag=False)
    assert await decide(ALICE, "PUT", "/v2/team/app/manifests/v1", new_tag) is Reply.ALLOW
    assert TagExists("team/app", "v1") in new_tag.facts
    assert await decide(ALICE, "PUT", "/v2/team/app/manifests/v1", Asked(tag=True)) is Reply.DENY


async def test_an_unknown_answer_takes_the_stricter_branch() -> None:
    assert await decide(ALICE, "PUT", "/v2/team/app/manifests/v1", Asked(tag=None)) is Reply.DENY


# -- what the registry cannot do ----------------------------------------------------------------
def probe_finding(support: Support) -> CapabilityProbe:
    config = Config()
    probe = CapabilityProbe(UpstreamClient(config.upstream), Metrics(), 0)
    probe.current = Capabilities(
        reachable=True,
        api_version="registry/2.0",
        support=unknown_support() | {Capability.TAG_DELETION: support},
        problem="",
        probed_at=1.0,
    )
    return probe


CAROL_DELETES = compile_policy(
    PolicySet(
        (
            Statement(
                "carol", Effect.ALLOW, (PrincipalRef.parse("user:carol"),), frozenset({Action.DELETE_TAG}),
                (ResourcePattern("team/*"),),
            ),
        ),
        1,
        "h",
    )
)  # fmt: skip
CAROL = make_principal(PrincipalKind.USER, "carol")
DELETE_TAG = parse_request("DELETE", "/v2/team/app/manifests/v1", "", {})


def with_probe(probe: CapabilityProbe | None) -> RegistryHandler:
    config = Config()
    store = Store(CAROL_DELETES, Identities())
    return RegistryHandler(
        config, store, UpstreamClient(config.upstream), Authentication(()), Metrics(), None, capabilities=probe
    )


def decided(handler: RegistryHandler, principal: Principal) -> Verdict:
    return asyncio.run(handler.facts.decide(DELETE_TAG, RequestContext(principal, None, NOW), CAROL_DELETES))


def test_an_allowed_request_the_registry_cannot_do_is_unsupported() -> None:
    handler = with_probe(probe_finding(Support.NO))
    verdict = decided(handler, CAROL)
    assert verdict.reply is Reply.UNSUPPORTED and verdict.decision.outcome is Outcome.ALLOWED
    with pytest.raises(OciError) as refused:
        handler._refuse_unless_allowed(verdict, None)
    assert (refused.value.status, refused.value.code) == (405, ErrorCode.UNSUPPORTED)
    assert refused.value.detail == {"capability": "tag-deletion", "upstream": "registry/2.0"}


@pytest.mark.parametrize("support", [Support.YES, Support.UNKNOWN], ids=["yes", "unknown"])
def test_only_a_known_no_refuses(support: Support) -> None:
    assert decided(with_probe(probe_finding(support)), CAROL).reply is Reply.ALLOW
    assert decided(with_probe(None), CAROL).reply is Reply.ALLOW  # no probe: nothing refused on its account


def test_a_refused_caller_learns_nothing_of_the_registry() -> None:
    verdict = decided(with_probe(probe_finding(Support.NO)), BOB)
    assert verdict.reply is Reply.DENY and verdict.facts == ()
