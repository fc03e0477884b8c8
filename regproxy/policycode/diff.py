"""``regproxy diff``: replay recorded audit lines through a candidate policy set and report every
decision that flips, grouped by principal, action and repository.

A line is a policy decision when its ``decision`` is an outcome of the flow (allowed,
explicit-deny, default-deny, scope-deny, insufficient-scope); lines refused before policy
(unauthenticated, malformed, an upload session not owned) are counted and left alone. A flip is
allowed ↔ not allowed: ``allow → deny`` (a lock-out) and ``deny → allow`` (an opening). Each group
names the candidate's statements that decide now and those recorded at the time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from regproxy.authorization.replay import POLICY_DECISIONS, NotReplayable, Replayer
from regproxy.policy.model import Outcome

ALLOW_TO_DENY = "allow → deny"
DENY_TO_ALLOW = "deny → allow"


@dataclass(slots=True)
class Flip:
    direction: str
    principal: str
    action: str
    repository: str
    now: str  # the candidate's answer: reply (outcome)
    statements: tuple[str, ...]  # the candidate's deciding statements
    was: tuple[str, ...]  # the statements recorded at the time
    requests: int = 0
    first_line: int = 0


@dataclass(slots=True)
class DiffReport:
    lines: int = 0
    replayed: int = 0
    unchanged: int = 0
    not_policy: Counter[str] = field(default_factory=Counter)  # recorded decision -> lines
    not_replayable: Counter[str] = field(default_factory=Counter)  # reason -> lines
    flips: dict[tuple[str, ...], Flip] = field(default_factory=dict)
    resolved_from_identities: int = 0
    missing_facts: int = 0

    @property
    def flipped(self) -> int:
        return sum(f.requests for f in self.flips.values())

    def groups(self, direction: str) -> list[Flip]:
        found = [f for f in self.flips.values() if f.direction == direction]
        return sorted(found, key=lambda f: (-f.requests, f.principal, f.action, f.repository))


def diff_lines(lines: Iterable[bytes], replayer: Replayer) -> DiffReport:
    report = DiffReport()
    allowed_word = Outcome.ALLOWED.value
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        report.lines += 1
        try:
            line = orjson.loads(raw)
        except orjson.JSONDecodeError:
            report.not_replayable["not JSON"] += 1
            continue
        if not isinstance(line, dict):
            report.not_replayable["not an audit event"] += 1
            continue
        recorded = line.get("decision")
        if recorded not in POLICY_DECISIONS:
            report.not_policy[str(recorded or "none")] += 1
            continue
        try:
            verdict = replayer.replay(line)
        except NotReplayable as exc:
            report.not_replayable[str(exc)] += 1
            continue
        report.replayed += 1
        was_allowed = recorded == allowed_word
        if verdict.allowed == was_allowed:
            report.unchanged += 1
            continue
        direction = DENY_TO_ALLOW if verdict.allowed else ALLOW_TO_DENY
        action = str(line.get("action") or line.get("route") or "")
        statements = verdict.decision.statements
        key = (direction, str(line.get("principal")), action, str(line.get("repository") or ""), *statements)
        flip = report.flips.get(key)
        if flip is None:
            now = f"{verdict.reply.value} ({verdict.decision.outcome.value})"
            was = tuple(line.get("statements") or ())
            flip = report.flips[key] = Flip(direction, key[1], action, key[3], now, statements, was, 0, number)
        flip.requests += 1
    report.resolved_from_identities = replayer.resolved_from_identities
    report.missing_facts = replayer.missing_facts
    return report


def render_text(report: DiffReport, limit: int, seconds: float) -> list[str]:
    out: list[str] = []
    for direction in (ALLOW_TO_DENY, DENY_TO_ALLOW):
        groups = report.groups(direction)
        if not groups:
            continue
        total = sum(f.requests for f in groups)
        out.append(f"{direction}: {total} request(s) in {len(groups)} group(s)")
        for f in groups[:limit]:
            by = ", ".join(f.statements) or "no statement"
            was = ", ".join(f.was) or "no statement"
            out.append(
                f"  {f.principal} {f.action} {f.repository or '-'}: {f.requests} request(s); "
                f"now {f.now} by {by}; was by {was} (first at line {f.first_line})"
            )
        if len(groups) > limit:
            out.append(f"  ... {len(groups) - limit} more group(s) (--limit, or --json for all)")
    if not report.flips:
        out.append("no decision flips")
    out.append(
        f"{report.lines} line(s) read, {report.replayed} replayed in {seconds:.2f}s: "
        f"{report.flipped} flip(s), {report.unchanged} unchanged"
    )
    if report.not_policy:
        parts = ", ".join(f"{n} {k}" for k, n in sorted(report.not_policy.items()))
        out.append(f"not decided by policy (left alone): {parts}")
    if report.not_replayable:
        parts = ", ".join(f"{n} {k}" for k, n in sorted(report.not_replayable.items()))
        out.append(f"not replayable: {parts}")
    if report.resolved_from_identities:
        out.append(f"{report.resolved_from_identities} line(s) carried no groups: resolved from the identities file")
    if report.missing_facts:
        out.append(
            f"{report.missing_facts} line(s) where the candidate asked a fact the line does not record: "
            "decided both ways, kept when both agree"
        )
    return out


def render_json(report: DiffReport, seconds: float) -> dict[str, Any]:
    return {
        "lines": report.lines,
        "replayed": report.replayed,
        "unchanged": report.unchanged,
        "flipped": report.flipped,
        "seconds": round(seconds, 3),
        "flips": [
            {
                "direction": "allow-to-deny" if f.direction == ALLOW_TO_DENY else "deny-to-allow",
                "principal": f.principal,
                "action": f.action,
                "repository": f.repository,
                "requests": f.requests,
                "now": f.now,
                "statements": list(f.statements),
                "was": list(f.was),
                "first_line": f.first_line,
            }
            for direction in (ALLOW_TO_DENY, DENY_TO_ALLOW)
            for f in report.groups(direction)
        ],
        "not_policy": dict(report.not_policy),
        "not_replayable": dict(report.not_replayable),
        "resolved_from_identities": report.resolved_from_identities,
        "missing_facts": report.missing_facts,
    }
