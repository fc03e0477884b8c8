"""explain's pure part: the request an action stands for, the principal from flags, warnings."""

from __future__ import annotations

import pytest

from regproxy.authorization.explain import (
    ExplainError,
    parse_answer,
    principal_from_flags,
    request_from_action,
    request_from_path,
    tag_qualified_warnings,
)
from regproxy.errors import SourceLocation
from regproxy.identity.identities import Identities, parse_identities
from regproxy.oci.actions import Action
from regproxy.oci.routes import RouteKind
from regproxy.policy.model import Effect, PolicySet, PrincipalRef, ResourcePattern, Statement

IDENTITIES = parse_identities(
    """
users:
  - {name: alice, groups: [devs]}
service_accounts:
  - {name: ci}
access_credentials:
  - {id: ci-pull, secret: "$scrypt$ln=15,r=8,p=1$XEwwt0EyeuOaqKROPiQCyg$6Z7fx4MFOreo77vwPUX2tqDbqpQsJKpRPwL8HFaUgzs", principal: service-account:ci, scope: pull}
""",
    SourceLocation("ids.yaml"),
)


@pytest.mark.parametrize(
    ("action", "tag", "method", "route"),
    [
        (Action.PULL, "v1", "GET", RouteKind.MANIFEST),
        (Action.PULL, None, "GET", RouteKind.MANIFEST),
        (Action.LIST, None, "GET", RouteKind.TAGS),
        (Action.CATALOG, None, "GET", RouteKind.CATALOG),
        (Action.PUSH, None, "POST", RouteKind.UPLOAD_START),
        (Action.PUSH, "v1", "PUT", RouteKind.MANIFEST),
        (Action.TAG_CREATE, "v1", "PUT", RouteKind.MANIFEST),
        (Action.TAG_OVERWRITE, "v1", "PUT", RouteKind.MANIFEST),
        (Action.CREATE_REPOSITORY, None, "POST", RouteKind.UPLOAD_START),
        (Action.DELETE_TAG, "v1", "DELETE", RouteKind.MANIFEST),
        (Action.DELETE_MANIFEST, None, "DELETE", RouteKind.MANIFEST),
        (Action.DELETE_BLOB, None, "DELETE", RouteKind.BLOB),
    ],
)
def test_each_action_stands_for_the_request_that_needs_it(
    action: Action, tag: str | None, method: str, route: RouteKind
) -> None:
    request = request_from_action(action, "team/app", tag)
    assert (request.method, request.route) == (method, route)


def test_a_tag_action_needs_a_tag_and_a_bad_path_is_refused() -> None:
    with pytest.raises(ExplainError, match="needs a tag"):
        request_from_action(Action.TAG_CREATE, "team/app", None)
    with pytest.raises(ExplainError, match="refuses"):
        request_from_path("GET", "/v2/team/app/manifests/sha256:nope")


def test_the_principal_comes_from_the_identities_file() -> None:
    assert principal_from_flags(IDENTITIES, "alice", None, []).groups == {"devs"}
    ci = principal_from_flags(IDENTITIES, None, "ci-pull", [])
    assert ci.id == "service-account:ci" and ci.credential_id == "ci-pull" and ci.scope is not None
    holder = principal_from_flags(IDENTITIES, "user:alice", None, ["repository:team/app:pull"])
    assert holder.token is not None and holder.scope is not None
    for principal, credential, message in (
        ("alcie", None, "no account `alcie`"),
        (None, "nope", "no access credential"),
        ("user:alice", "ci-pull", "belongs to `service-account:ci`"),
        (None, None, "give --principal or --credential"),
    ):
        with pytest.raises(ExplainError, match=message):
            principal_from_flags(IDENTITIES, principal, credential, [])
    with pytest.raises(ExplainError, match="anonymous"):
        principal_from_flags(IDENTITIES, "anonymous", None, ["repository:team/app:pull"])


def test_without_identities_a_principal_is_described_by_hand() -> None:
    made = principal_from_flags(None, "user:carol", None, [], ["readers"])
    assert made.id == "user:carol" and made.groups == {"readers"}
    with pytest.raises(ExplainError):
        principal_from_flags(None, "carol", None, [])
    assert isinstance(Identities(), Identities)


def test_answers_and_warnings() -> None:
    assert [parse_answer(t) for t in ("yes", "no", "unknown", None)] == [True, False, None, None]
    statement = Statement(
        "s", Effect.ALLOW, (PrincipalRef.parse("everyone"),), frozenset({Action.PULL}), (ResourcePattern("a", "v*"),)
    )
    [warning] = tag_qualified_warnings(PolicySet((statement,), 1, "h"))
    assert "`a:v*`" in warning and "write `a`" in warning


def test_explain_says_what_the_registry_supports_is_not_known_here() -> None:
    """The server's probe answers that fact; explain cannot, and says so (unknown forwards)."""
    from datetime import UTC, datetime  # noqa: PLC0415

    from regproxy.authorization.explain import explain, render  # noqa: PLC0415
    from regproxy.authorization.verdict import Reply  # noqa: PLC0415
    from regproxy.identity.principal import PrincipalKind, make_principal  # noqa: PLC0415
    from regproxy.policy.evaluate import compile_policy  # noqa: PLC0415
    from regproxy.policy.model import RequestContext  # noqa: PLC0415

    statement = Statement(
        "s", Effect.ALLOW, (PrincipalRef.parse("everyone"),), frozenset({Action.DELETE_TAG}), (ResourcePattern("a"),)
    )
    policy_set = PolicySet((statement,), 1, "h")
    alice = make_principal(PrincipalKind.USER, "alice")
    request = request_from_action(Action.DELETE_TAG, "a", "v1")
    verdict = explain(request, RequestContext(alice, None, datetime.now(UTC)), compile_policy(policy_set), None, None)
    assert verdict.reply is Reply.ALLOW
    lines = render(verdict, request, alice, policy_set)
    assert "  fact: the registry supports tag-deletion: not known here" in "\n".join(lines)
