"""``regproxy matrix`` rendering: one row per subject, one column per action, and the deciding statements."""

from __future__ import annotations

import csv
import io

from regproxy.authorization.matrix import Cell
from regproxy.oci.actions import Action
from regproxy.policycode.matrix import matrix_records, render_csv, render_matrix


def cells() -> list[Cell]:
    out = []
    for action in Action:
        if action is Action.PULL:
            out.append(Cell("user:bob", "user", action, "allow", "allowed", ("p#read",)))
        elif action is Action.DELETE_TAG:
            out.append(Cell("user:bob", "user", action, "deny", "explicit-deny", ("p#no-delete",)))
        else:
            out.append(Cell("user:bob", "user", action, "deny", "default-deny", ()))
    return out


def test_the_table_marks_allows_and_explicit_denies_and_names_their_statements() -> None:
    lines = render_matrix(cells(), "team-a/app")
    assert lines[0] == "who can do what on team-a/app"
    row = next(line for line in lines if line.startswith("user:bob"))
    assert "allow" in row and "DENY" in row
    assert "  user:bob pull: allow (allowed) by p#read" in lines
    assert "  user:bob delete-tag: deny (explicit-deny) by p#no-delete" in lines
    assert lines[-1].startswith("tag actions and catalog: some tag")


def test_a_tagged_target_says_nothing_about_some_tag() -> None:
    assert not render_matrix(cells(), "team-a/app:v1")[-1].startswith("tag actions")


def test_json_records_and_csv_rows_carry_the_same_cells() -> None:
    records = matrix_records(cells())
    rows = list(csv.DictReader(io.StringIO(render_csv(cells()))))
    assert len(records) == len(rows) == len(list(Action))
    pull = next(r for r in rows if r["action"] == "pull")
    assert pull == {
        "subject": "user:bob",
        "kind": "user",
        "action": "pull",
        "decision": "allow",
        "outcome": "allowed",
        "statements": "p#read",
    }
    assert next(r for r in records if r["action"] == "pull")["statements"] == ["p#read"]
