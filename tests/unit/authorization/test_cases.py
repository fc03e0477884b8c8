"""Decision tests: parsed with their lines, decided by the flow, failures say what decided instead."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from regproxy.authorization.cases import CaseError, parse_cases, run_cases, uncovered
from regproxy.policy.dialects import DialectContext
from regproxy.policy.evaluate import CompiledPolicy, compile_policy
from regproxy.policy.load import compile_policy_set
from regproxy.reload import load_identities_file, read_policy_files

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"
FAILING = ROOT / "tests" / "unit" / "policycode" / "fixtures" / "failing.yaml"
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def policy() -> CompiledPolicy:
    return compile_policy(compile_policy_set(read_policy_files(EXAMPLES / "policies"), DialectContext(), 1))


IDENTITIES = load_identities_file(EXAMPLES / "identities.yaml")


def test_the_example_tests_pass_and_exercise_every_statement(policy: CompiledPolicy) -> None:
    cases = []
    for path in sorted((EXAMPLES / "policies" / "tests").glob("*.yaml")):
        cases += parse_cases(path.read_text(), path.name)
    results = run_cases(cases, policy, IDENTITIES, NOW)
    assert len(results) == 13
    assert [r.message for r in results if not r.passed] == []
    assert uncovered(policy.policy_set, results) == []


def test_the_deliberately_failing_file_fails_where_written_naming_what_decided(policy: CompiledPolicy) -> None:
    results = run_cases(parse_cases(FAILING.read_text(), "failing.yaml"), policy, IDENTITIES, NOW)
    failed = [(r.case.where, r.message) for r in results if not r.passed]
    assert failed == [
        ("failing.yaml:9", "expected allow; got deny (default-deny) by no statement"),
        (
            "failing.yaml:15",
            "expected deny by admins.yaml#admins-everything; got deny (explicit-deny) by "
            "team-a.yaml#release-tags-are-immutable",
        ),
    ]
    assert uncovered(policy.policy_set, results) == ["admins.yaml#admins-everything", "team-a.yaml#devs-read-write"]


def test_defaults_merge_and_facts_decide_tag_pushes(policy: CompiledPolicy) -> None:
    text = """
defaults: {principal: user:alice, method: PUT, path: /v2/team-a/app/manifests/v1}
tests:
  - {tag_exists: no, expect: allow}
  - {tag_exists: yes, expect: explicit-deny}
  - {tag_exists: unknown, expect: deny}
"""
    results = run_cases(parse_cases(text, "t.yaml"), policy, IDENTITIES, NOW)
    assert [r.passed for r in results] == [True, True, True], [r.message for r in results]


def test_a_principal_by_hand_needs_no_identities_file(policy: CompiledPolicy) -> None:
    text = (
        "tests:\n  - {principal: user:zed, groups: [team-a-devs], action: pull, repository: team-a/x, expect: allow}\n"
    )
    assert run_cases(parse_cases(text, "t.yaml"), policy, None, NOW)[0].passed


def test_a_test_that_describes_no_request_fails_with_the_reason(policy: CompiledPolicy) -> None:
    text = "tests:\n  - {principal: user:nobody, action: pull, repository: team-a/x, expect: allow}\n"
    result = run_cases(parse_cases(text, "t.yaml"), policy, IDENTITIES, NOW)[0]
    assert not result.passed
    assert "no account `user:nobody`" in result.message


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("tests: [\n", "t.yaml:2", ""),
        ("just: text\n", "t.yaml:1", "holds a `tests` list"),
        ("tests: []\nextra: 1\n", "t.yaml:1", "unknown key `extra`"),
        ("tests:\n  - {principal: user:a, expect: maybe}\n", "t.yaml:2", "`expect` must be one of"),
        ("tests:\n  - principal: user:a\n    expect: allow\n    colour: red\n", "t.yaml:2", "unknown key `colour`"),
        ("tests:\n  - {expect: allow, statements: 3}\n", "t.yaml:2", "`statements` is a list"),
    ],
    ids=["syntax", "no-tests", "top-level-key", "expect-word", "test-key", "statements"],
)
def test_a_malformed_file_is_an_error_at_its_line(text: str, where: str, message: str) -> None:
    with pytest.raises(CaseError) as raised:
        parse_cases(text, "t.yaml")
    assert str(raised.value).startswith(where)
    assert message in str(raised.value)


def test_time_conditions_use_the_tests_time() -> None:
    text = """
version: 1
statements:
  - id: office-hours
    effect: allow
    principals: [user:a]
    actions: [pull]
    resources: ["x/**"]
    conditions: {time: {daily: "09:00-17:00"}}
"""
    policy = compile_policy(compile_policy_set({"p.yaml": text}, DialectContext(), 1))
    tests = """
defaults: {principal: user:a, action: pull, repository: x/y}
tests:
  - {time: "2026-12-01T10:00:00Z", expect: allow}
  - {time: "2026-12-01T20:00:00Z", expect: deny}
"""
    results = run_cases(parse_cases(tests, "t.yaml"), policy, None, NOW)
    assert [r.passed for r in results] == [True, True], [r.message for r in results]
