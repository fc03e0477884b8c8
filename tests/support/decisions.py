"""Deciding one request against a policy set the way the dialect corpora do: the indexed
evaluator, held to the reference interpreter on every case."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import datetime

from regproxy.identity.principal import Principal
from regproxy.oci.actions import Action
from regproxy.policy.dialects import DialectContext
from regproxy.policy.evaluate import compile_policy, evaluate_reference
from regproxy.policy.load import compile_policy_set
from regproxy.policy.model import Decision, Effect, Outcome, RequestContext


def decide_checked(
    files: Mapping[str, str],
    context: DialectContext,
    principal: Principal,
    action: Action,
    repository: str,
    tag: str | None,
    *,
    source: str,
    now: datetime,
) -> Decision:
    policy_set = compile_policy_set(files, context, 1)
    request = RequestContext(principal, ipaddress.ip_address(source), now)
    decision = compile_policy(policy_set).evaluate(request, action, repository, tag)
    reference = evaluate_reference(policy_set, request, action, repository, tag)
    assert (decision.effect, decision.outcome, set(decision.statements)) == (
        reference.effect,
        reference.outcome,
        set(reference.statements),
    )
    return decision


def assert_decision(decision: Decision, effect: Effect, statements: tuple[str, ...]) -> None:
    """The effect, the statements that made it, and for a deny whether it was explicit."""
    assert decision.effect is effect
    assert set(decision.statements) == set(statements)
    if effect is Effect.DENY:
        assert decision.outcome is (Outcome.EXPLICIT_DENY if statements else Outcome.DEFAULT_DENY)
