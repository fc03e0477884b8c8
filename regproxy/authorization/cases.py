"""Decision tests written next to the policies: parse them, and decide each one by the flow (pure).

A test file is YAML: a ``tests`` list (and optional ``defaults`` merged into every test), each
test one request by one caller and the answer it must get::

    defaults:
      repository_exists: yes
    tests:
      - name: alice pushes a new release tag
        principal: user:alice           # or a login name, anonymous, or credential: ID
        action: tag-create              # or method: PUT + path: /v2/team-a/app/manifests/v1
        repository: team-a/app:v1       # REPOSITORY[:TAG] (or tag: v1)
        tag_exists: no                  # facts: repository_exists, tag_exists (yes|no|unknown)
        expect: allow                   # allow | deny | challenge | insufficient-scope, or an
                                        # outcome: allowed | explicit-deny | default-deny | scope-deny
        statements: [team-a.yaml#devs-read-write]   # optional: the deciding statement ids

Optional too: ``groups`` (a principal by hand, without an identities file), ``scope`` (the
caller holds a token with this access), ``source`` (client address), ``time`` (ISO 8601, UTC by
default; for time conditions). Every test is decided by :func:`regproxy.authorization.explain.explain`,
which runs :func:`regproxy.authorization.flow.decide`: the flow the server runs.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from regproxy.authorization.explain import (
    ExplainError,
    explain,
    parse_answer,
    principal_from_flags,
    request_from_action,
    request_from_path,
)
from regproxy.authorization.verdict import Answer, Reply, Verdict
from regproxy.identity.identities import Identities
from regproxy.oci.actions import Action
from regproxy.policy.evaluate import CompiledPolicy
from regproxy.policy.model import Outcome, PolicySet, RequestContext
from regproxy.sources.yamlsource import LineDict, YamlSyntaxError, line_of, load_yaml

REPLIES = frozenset(r.value for r in Reply)
OUTCOMES = frozenset(o.value for o in Outcome)
_KEYS = frozenset(
    {
        "name",
        "principal",
        "credential",
        "groups",
        "scope",
        "method",
        "path",
        "action",
        "repository",
        "tag",
        "repository_exists",
        "tag_exists",
        "source",
        "time",
        "expect",
        "statements",
    }
)


class CaseError(ValueError):
    """A test file that does not describe tests: ``file:line: message``."""

    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__(f"{file}:{line}: {message}" if line else f"{file}: {message}")
        self.file = file
        self.line = line
        self.message = message


@dataclass(frozen=True, slots=True)
class Case:
    file: str
    line: int
    name: str
    fields: Mapping[str, Any]
    expect: str
    statements: tuple[str, ...] | None = None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class CaseResult:
    case: Case
    passed: bool
    message: str = ""  # why it failed: the answer and the statements that decided instead
    verdict: Verdict | None = None
    exercised: frozenset[str] = field(default_factory=frozenset)


def parse_cases(text: str, file: str) -> list[Case]:
    """Every test of one file; :class:`CaseError` naming the line of the first fault."""
    try:
        data = load_yaml(text)
    except YamlSyntaxError as exc:
        raise CaseError(file, exc.line, exc.message) from None
    if data is None:
        return []
    if isinstance(data, list):
        data = LineDict(tests=data)
    if not isinstance(data, LineDict) or not isinstance(data.get("tests"), list):
        raise CaseError(file, line_of(data), "a test file holds a `tests` list")
    unknown = set(data) - {"tests", "defaults"}
    if unknown:
        raise CaseError(file, line_of(data), f"unknown key `{sorted(unknown)[0]}` (tests, defaults)")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise CaseError(file, line_of(data), "`defaults` is a mapping")
    cases = []
    for n, item in enumerate(data["tests"], start=1):
        if not isinstance(item, LineDict):
            raise CaseError(file, line_of(data), f"test {n} is not a mapping")
        cases.append(_case({**defaults, **item}, file, item.line, n))
    return cases


def _case(item: Mapping[str, Any], file: str, line: int, n: int) -> Case:
    unknown = set(item) - _KEYS
    if unknown:
        raise CaseError(file, line, f"unknown key `{sorted(unknown)[0]}` in a test")
    expect = item.get("expect")
    if isinstance(expect, bool):  # YAML reads a bare `no`/`yes` as a boolean
        expect = None
    expect = str(expect) if expect is not None else ""
    if expect not in REPLIES | OUTCOMES:
        known = ", ".join(sorted(REPLIES)) + "; or " + ", ".join(sorted(OUTCOMES))
        raise CaseError(file, line, f"`expect` must be one of {known}")
    statements = item.get("statements")
    if statements is not None:
        if isinstance(statements, str):
            statements = [statements]
        if not isinstance(statements, list) or not all(isinstance(s, str) for s in statements):
            raise CaseError(file, line, "`statements` is a list of statement ids")
        statements = tuple(statements)
    name = str(item.get("name") or f"test {n}")
    return Case(file, line, name, dict(item), expect, statements)


def _fact(value: Any) -> Answer:
    if isinstance(value, bool) or value is None:
        return value
    return parse_answer(str(value))


def _text_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise ExplainError("expected a string or a list of strings")


def decide_case(case: Case, policy: CompiledPolicy, identities: Identities | None, now: datetime) -> Verdict:
    """The verdict the server would give the test's request (:class:`ExplainError` if the test
    does not describe one)."""
    f = case.fields
    if f.get("path") is not None:
        if f.get("action") is not None:
            raise ExplainError("give either method/path or action/repository")
        request = request_from_path(str(f.get("method") or "GET"), str(f["path"]))
        action_word = request.action.value if request.action else None
    else:
        if f.get("action") is None or (f.get("repository") is None and f.get("action") != Action.CATALOG.value):
            raise ExplainError("give method and path, or action and repository")
        try:
            action = Action(str(f["action"]))
        except ValueError:
            raise ExplainError(f"unknown action `{f['action']}`") from None
        repository, _, tag = str(f.get("repository") or "").partition(":")
        tag = str(f["tag"]) if f.get("tag") is not None else tag
        request = request_from_action(action, repository, tag or None)
        action_word = action.value
    principal = principal_from_flags(
        identities,
        _optional_text(f.get("principal")),
        _optional_text(f.get("credential")),
        _text_list(f.get("scope")),
        _text_list(f.get("groups")),
    )
    repository_exists = _fact(f.get("repository_exists"))
    tag_exists = _fact(f.get("tag_exists"))
    # an action that names the fact answers it, as `regproxy explain --action` does
    if action_word == Action.TAG_CREATE.value and "tag_exists" not in f:
        tag_exists = False
    elif action_word == Action.TAG_OVERWRITE.value and "tag_exists" not in f:
        tag_exists = True
    elif action_word == Action.CREATE_REPOSITORY.value and "repository_exists" not in f:
        repository_exists = False
    try:
        source = ipaddress.ip_address(str(f["source"])) if f.get("source") else None
    except ValueError as exc:
        raise ExplainError(str(exc)) from None
    when = _time(f.get("time"), now)
    context = RequestContext(principal, source, when)
    return explain(request, context, policy, repository_exists, tag_exists)


def _optional_text(value: Any) -> str | None:
    return None if value is None else str(value)


def _time(value: Any, now: datetime) -> datetime:
    if value is None:
        return now
    if isinstance(value, datetime):
        when = value
    else:
        try:
            when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ExplainError(f"`time` `{value}` is not an ISO 8601 time") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def exercised(verdict: Verdict) -> frozenset[str]:
    """Every statement a decision of this verdict named (deciding or merely checked)."""
    ids = set(verdict.decision.statements)
    for check in verdict.checks:
        ids.update(check.decision.statements)
    return frozenset(ids)


def run_case(case: Case, policy: CompiledPolicy, identities: Identities | None, now: datetime) -> CaseResult:
    try:
        verdict = decide_case(case, policy, identities, now)
    except ExplainError as exc:
        return CaseResult(case, False, f"the test does not describe a request: {exc}")
    got_reply, got_outcome = verdict.reply.value, verdict.decision.outcome.value
    decided = verdict.decision.statements
    ok = case.expect == (got_reply if case.expect in REPLIES else got_outcome)
    if ok and case.statements is not None:
        ok = set(case.statements) == set(decided)
    if ok:
        return CaseResult(case, True, verdict=verdict, exercised=exercised(verdict))
    wanted = case.expect + (f" by {', '.join(case.statements)}" if case.statements is not None else "")
    by = ", ".join(decided) if decided else "no statement"
    message = f"expected {wanted}; got {got_reply} ({got_outcome}) by {by}"
    return CaseResult(case, False, message, verdict, exercised(verdict))


def run_cases(
    cases: Iterable[Case], policy: CompiledPolicy, identities: Identities | None, now: datetime | None = None
) -> list[CaseResult]:
    when = now or datetime.now(UTC)
    return [run_case(case, policy, identities, when) for case in cases]


def uncovered(policy_set: PolicySet, results: Sequence[CaseResult]) -> list[str]:
    """Statements written in the policy files that no test's decision named, in file order."""
    seen: set[str] = set()
    for result in results:
        seen |= result.exercised
    files = set(policy_set.files)
    return [s.id for s in policy_set.statements if s.location.file in files and s.id not in seen]
