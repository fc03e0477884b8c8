"""``regproxy matrix``: the access matrix (:mod:`regproxy.authorization.matrix`) as text, JSON, CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

from regproxy.authorization.matrix import Cell
from regproxy.oci.actions import Action

_SHORT = {"allow": "allow", "deny": "-", "challenge": "-", "insufficient-scope": "token"}


def matrix_records(cells: list[Cell]) -> list[dict[str, Any]]:
    return [
        {
            "subject": c.subject,
            "kind": c.kind,
            "action": c.action.value,
            "decision": c.decision,
            "outcome": c.outcome,
            "statements": list(c.statements),
        }
        for c in cells
    ]


def render_csv(cells: list[Cell]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["subject", "kind", "action", "decision", "outcome", "statements"])
    for c in cells:
        writer.writerow([c.subject, c.kind, c.action.value, c.decision, c.outcome, " ".join(c.statements)])
    return out.getvalue()


def render_matrix(cells: list[Cell], target: str) -> list[str]:
    """A table (``allow``, ``-`` refused, ``DENY`` refused by an explicit deny), then every
    allow and explicit deny with the statements that decided it."""
    actions = list(Action)
    subjects: dict[str, dict[Action, Cell]] = {}
    for c in cells:
        subjects.setdefault(c.subject, {})[c.action] = c
    width = max(len(s) for s in subjects) + 2
    widths = [max(len(a.value), 5) + 2 for a in actions]
    lines = [f"who can do what on {target}", ""]
    header = "".ljust(width) + "".join(a.value.ljust(w) for a, w in zip(actions, widths, strict=True))
    lines.append(header.rstrip())
    for subject, row in subjects.items():
        marks = []
        for action, w in zip(actions, widths, strict=True):
            cell = row[action]
            mark = "DENY" if cell.outcome == "explicit-deny" else _SHORT.get(cell.decision, cell.decision)
            marks.append(mark.ljust(w))
        lines.append(subject.ljust(width) + "".join(marks).rstrip())
    lines.append("")
    lines.append("deciding statements:")
    for c in cells:
        if c.statements and (c.decision == "allow" or c.outcome == "explicit-deny"):
            lines.append(f"  {c.subject} {c.action.value}: {c.decision} ({c.outcome}) by {', '.join(c.statements)}")
    if ":" not in target:
        lines.append("tag actions and catalog: some tag of the repository (give REPOSITORY:TAG for one tag)")
    return lines
