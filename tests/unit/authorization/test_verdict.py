"""The verdict: what the client is told, the scopes a challenge names, the facts asked."""

from __future__ import annotations

from regproxy.authorization.verdict import Reply, RepositoryExists, TagExists, Verdict, allowed_decision
from regproxy.oci.routes import parse_request
from regproxy.policy.model import Decision, Effect, Outcome

D = "sha256:" + "a" * 64


def test_only_allow_is_allowed() -> None:
    decision = allowed_decision(("s1",), 4)
    assert decision == Decision(Effect.ALLOW, Outcome.ALLOWED, ("s1",), 4)
    assert Verdict(Reply.ALLOW, decision).allowed
    for reply in (Reply.CHALLENGE, Reply.INSUFFICIENT_SCOPE, Reply.DENY):
        assert not Verdict(reply, decision).allowed
    assert Verdict(Reply.DENY, decision).generation == 4


def test_a_verdict_names_every_scope_its_request_needs() -> None:
    mount = parse_request("POST", "/v2/team/app/blobs/uploads/", f"mount={D}&from=src/lib", {})
    verdict = Verdict(Reply.CHALLENGE, allowed_decision((), 1), request=mount)
    assert verdict.scopes == ("repository:team/app:pull,push", "repository:src/lib:pull")
    assert Verdict(Reply.CHALLENGE, allowed_decision((), 1)).scopes == ()


def test_facts_read_as_sentences() -> None:
    assert str(RepositoryExists("team/app")) == "repository team/app exists"
    assert str(TagExists("team/app", "v1")) == "tag team/app:v1 exists"
