"""Shadow: the candidate decides the same request again; a disagreement is counted, an error
is counted and logged, and neither touches the live verdict."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from regproxy.audit import AuditEvent
from regproxy.authorization.explain import principal_from_flags, request_from_path
from regproxy.authorization.flow import decide
from regproxy.config import Config
from regproxy.identity.identities import Identities
from regproxy.metrics import Metrics
from regproxy.policy.dialects import DialectContext
from regproxy.policy.evaluate import CompiledPolicy, compile_policy
from regproxy.policy.load import compile_policy_set
from regproxy.policy.model import Decision, RequestContext
from regproxy.policycode.shadow import Shadow, shadow_of
from regproxy.reload import Store, load_identities_file, read_policy_files
from tests.support.examples import EXAMPLES

IDENTITIES = load_identities_file(EXAMPLES / "identities.yaml")
LIVE_FILES = read_policy_files(EXAMPLES / "policies")
LIVE = compile_policy(compile_policy_set(LIVE_FILES, DialectContext(), 1))
CANDIDATE_FILES = {**LIVE_FILES, "team-a.yaml": LIVE_FILES["team-a.yaml"].replace("[pull, list, catalog]", "[list]")}


def observe(
    shadow: Shadow, who: str, method: str = "GET", path: str = "/v2/team-a/app/manifests/v1", exists: bool = True
) -> AuditEvent:
    request = request_from_path(method, path)
    context = RequestContext(principal_from_flags(IDENTITIES, who, None, ()), None, datetime.now(UTC))
    live = decide(request, context, LIVE, lambda fact: exists)
    event = AuditEvent(0.0, "r", "", method, request.route.value, path)
    shadow.observe(request, context, live, event)
    assert decide(request, context, LIVE, lambda fact: exists) == live  # nothing of the live decision moved
    return event


def candidate_shadow(metrics: Metrics) -> Shadow:
    policy = compile_policy(compile_policy_set(CANDIDATE_FILES, DialectContext(), 1))
    return Shadow(Store(policy, Identities()), metrics)


def test_a_disagreement_is_recorded_and_counted_by_reply_pair() -> None:
    metrics = Metrics()
    shadow = candidate_shadow(metrics)
    bob = observe(shadow, "user:bob")
    alice = observe(shadow, "user:alice")
    stranger = observe(shadow, "anonymous")
    assert (bob.shadow_decision, bob.shadow_statements) == ("deny", ())
    assert (alice.shadow_decision, alice.shadow_statements) == ("allow", ("team-a.yaml#devs-read-write",))
    assert stranger.shadow_decision == "challenge"
    assert dict(metrics.counters["regproxy_shadow_disagreements_total"]) == {(("live", "allow"), ("shadow", "deny")): 1}


def test_facts_come_from_the_live_flow_and_an_unasked_one_is_unknown() -> None:
    shadow = candidate_shadow(Metrics())
    # the live flow asks whether release tag v9 exists; the candidate gets the same answer
    assert observe(shadow, "user:alice", "PUT", "/v2/team-a/app/manifests/v9", exists=False).shadow_decision == "allow"
    assert observe(shadow, "user:alice", "PUT", "/v2/team-a/app/manifests/v9", exists=True).shadow_decision == "deny"
    # every tag immutable in the candidate: it asks about `latest`, which the live flow never did
    files = {**LIVE_FILES, "team-a.yaml": LIVE_FILES["team-a.yaml"].replace('"team-a/**:v*"', '"team-a/**:*"')}
    strict = Shadow(Store(compile_policy(compile_policy_set(files, DialectContext(), 1)), Identities()), Metrics())
    event = observe(strict, "user:alice", "PUT", "/v2/team-a/app/manifests/latest", exists=False)
    assert event.shadow_decision == "deny"  # unknown: the stricter branch


class Exploding(CompiledPolicy):
    def evaluate(self, *args: object, **kwargs: object) -> Decision:
        raise RuntimeError("candidate broke")


def test_an_error_is_counted_and_logged_never_raised(caplog: pytest.LogCaptureFixture) -> None:
    metrics = Metrics()
    shadow = Shadow(Store(Exploding(LIVE.policy_set), Identities()), metrics)
    event = observe(shadow, "user:bob")
    observe(shadow, "user:bob")
    assert event.shadow_decision == "error"
    assert metrics.counters["regproxy_shadow_errors_total"][()] == 2
    assert shadow.errors == 2
    # (with log redaction installed, as in a server, a record carries its traceback in its message)
    failed = "shadow policy evaluation failed (the live decision stands)"
    assert [r.message.startswith(failed) for r in caplog.records].count(True) == 1


def test_a_candidate_that_does_not_load_leaves_the_shadow_off(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "p.yaml").write_text("statements:\n  - {id: a, effect: allow, principals: [user:x], actions: [nope]}\n")
    made = shadow_of(Config(shadow_policies=tmp_path), Metrics())
    assert made is not None
    shadow, _ = made
    assert not shadow.active
    assert any("shadow policy set refused" in r.message for r in caplog.records)
    assert observe(shadow, "user:bob").shadow_decision == ""
    assert shadow_of(Config(), Metrics()) is None
