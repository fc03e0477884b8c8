"""Replay: what the edge records of a decision is enough to decide it again, identically."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from regproxy.audit import AuditEvent
from regproxy.authorization.explain import principal_from_flags, request_from_path
from regproxy.authorization.flow import decide
from regproxy.authorization.replay import NotReplayable, Replayer, decision_query, scope_record
from regproxy.authorization.verdict import Answer, Fact, RepositoryExists, TagExists
from regproxy.identity.principal import Principal, PrincipalKind, make_principal
from regproxy.identity.session_policy import SessionPolicy, compile_session_policy
from regproxy.oci.routes import RegistryRequest
from regproxy.policy.dialects import DialectContext
from regproxy.policy.evaluate import CompiledPolicy, compile_policy
from regproxy.policy.load import compile_policy_set
from regproxy.policy.model import RequestContext
from regproxy.policycode.recording import record_caller
from regproxy.reload import load_identities_file, read_policy_files

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
IDENTITIES = load_identities_file(EXAMPLES / "identities.yaml")
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def policy() -> CompiledPolicy:
    return compile_policy(compile_policy_set(read_policy_files(EXAMPLES / "policies"), DialectContext(), 1))


def principals() -> dict[str, Principal]:
    return {
        "alice": principal_from_flags(IDENTITIES, "user:alice", None, ()),
        "bob": principal_from_flags(IDENTITIES, "bob", None, ()),
        "ci-credential": principal_from_flags(IDENTITIES, None, "rpc-ci-pull", ()),
        "alice-token": principal_from_flags(IDENTITIES, "user:alice", None, ["repository:team-a/app:pull"]),
        "ci-token": principal_from_flags(IDENTITIES, None, "rpc-ci-pull", ["repository:team-a/app:pull,push"]),
        "anonymous": principal_from_flags(IDENTITIES, "anonymous", None, ()),
    }


REQUESTS = [
    ("GET", "/v2/team-a/app/manifests/v1"),
    ("HEAD", "/v2/team-a/app/blobs/sha256:" + "a" * 64),
    ("GET", "/v2/team-a/app/tags/list"),
    ("GET", "/v2/_catalog"),
    ("GET", "/v2/"),
    ("POST", "/v2/team-a/app/blobs/uploads/"),
    ("POST", "/v2/team-a/app/blobs/uploads/?mount=sha256:" + "b" * 64 + "&from=other/x"),
    ("PUT", "/v2/team-a/app/manifests/v2"),
    ("PUT", "/v2/team-a/app/manifests/latest"),
    ("PUT", "/v2/team-a/app/manifests/sha256:" + "c" * 64 + "?tag=v3"),
    ("DELETE", "/v2/team-a/app/manifests/v1"),
    ("GET", "/v2/other/x/manifests/v1"),
]


def record(request: RegistryRequest, principal: Principal, facts: dict[Fact, Answer], policy: CompiledPolicy) -> Any:
    """What the edge writes for this request (plus the facts the flow asked), as JSON."""
    context = RequestContext(principal, None, NOW)
    verdict = decide(request, context, policy, lambda fact: facts.get(fact))
    path, _, _ = request.target().partition("?")
    event = AuditEvent(NOW.timestamp(), "r", "10.1.2.3", request.method, request.route.value, path)
    event.principal, event.principal_kind = principal.id, principal.kind.value
    event.credential = principal.credential_id or ""
    record_caller(event, request, principal)
    event.decision = verdict.decision.outcome.value
    event.statements = verdict.decision.statements
    line = orjson.loads(event.to_json())
    line["facts"] = {str(f): a for f, a in verdict.facts}
    return verdict, line


@pytest.mark.parametrize("who", sorted(principals()))
@pytest.mark.parametrize(("method", "target"), REQUESTS, ids=[f"{m} {t[:40]}" for m, t in REQUESTS])
@pytest.mark.parametrize("exists", [True, False, None], ids=["exists", "new", "unknown"])
def test_a_recorded_decision_replays_to_the_same_verdict(
    policy: CompiledPolicy, who: str, method: str, target: str, exists: bool | None
) -> None:
    request = request_from_path(method, target)
    facts: dict[Fact, Answer] = {}
    if request.repository:
        facts[RepositoryExists(request.repository)] = exists
        for tag in ("v1", "v2", "v3", "latest"):
            facts[TagExists(request.repository, tag)] = exists
    live, line = record(request, principals()[who], facts, policy)
    replayed = Replayer(policy).replay(line)
    assert (replayed.reply, replayed.decision.outcome, replayed.decision.statements) == (
        live.reply,
        live.decision.outcome,
        live.decision.statements,
    )


def test_the_line_names_only_what_the_decision_reads() -> None:
    request = request_from_path("POST", "/v2/a/b/blobs/uploads/?mount=sha256:" + "b" * 64 + "&from=c/d")
    assert decision_query(request) == "mount=sha256:" + "b" * 64 + "&from=c/d"
    ci = principals()["ci-token"]
    event = AuditEvent(0.0, "r", "", "POST", "upload-start", "/v2/a/b/blobs/uploads/")
    record_caller(event, request, ci)
    assert event.groups == ("team-a-devs",)
    assert event.credential_scope == {"name": "containerRegistry:pull", "parts": [["**=catalog,list,pull"]]}
    grants = "team-a/app=create-repository,list,pull,push,tag-create,tag-overwrite"  # docker words as actions
    assert event.token_access == {"name": "repository:team-a/app:pull,push", "parts": [[grants]]}


def test_groups_missing_from_a_line_come_from_the_identities_file(policy: CompiledPolicy) -> None:
    line = {"time": NOW.timestamp(), "method": "GET", "path": "/v2/team-a/app/tags/list"}
    line |= {"principal": "user:bob", "principal_kind": "user", "decision": "allowed"}
    assert not Replayer(policy).replay(line).allowed
    replayer = Replayer(policy, IDENTITIES)
    assert replayer.replay(line).allowed
    assert replayer.resolved_from_identities == 1


def test_a_session_policy_bound_is_not_replayable(policy: CompiledPolicy) -> None:
    document = '{"Version": "1", "Statement": [{"Effect": "Allow", "Action": "cr:PullRepository", "Resource": "*"}]}'
    scope = compile_session_policy(SessionPolicy(document, "cn-hangzhou", "1234"))
    assert scope_record(scope) == {"name": scope.name, "parts": [["!opaque"]]}
    line = {"time": 0, "method": "GET", "path": "/v2/a/b/tags/list", "principal": "user:x", "principal_kind": "user"}
    with pytest.raises(NotReplayable, match="session policy"):
        Replayer(policy).replay(line | {"credential_scope": scope_record(scope)})


def test_an_unparsable_request_is_not_replayable(policy: CompiledPolicy) -> None:
    alice = make_principal(PrincipalKind.USER, "alice")
    line = {"time": 0, "method": "GET", "path": "/v2/../x", "principal": alice.id, "principal_kind": "user"}
    with pytest.raises(NotReplayable, match="request not parsed"):
        Replayer(policy).replay(line)


def test_a_fact_the_line_does_not_record_is_tried_both_ways(policy: CompiledPolicy) -> None:
    def put(who: str, groups: list[str]) -> dict[str, object]:
        line: dict[str, object] = {"time": 0, "method": "PUT", "path": "/v2/team-a/app/manifests/v1"}
        return line | {"principal": who, "principal_kind": "user", "groups": groups}

    replayer = Replayer(policy)
    # bob may push no tag, whether v1 exists or not: decided
    assert not replayer.replay(put("user:bob", ["team-a-readers"])).allowed
    # alice may create v1 but not move it: without the fact there is no telling
    with pytest.raises(NotReplayable, match="depends on a fact"):
        replayer.replay(put("user:alice", ["team-a-devs"]))
    assert replayer.missing_facts == 1
    recorded = put("user:alice", ["team-a-devs"]) | {"facts": {"tag team-a/app:v1 exists": False}}
    assert replayer.replay(recorded).allowed
