"""The access matrix: every subject of the identities file by every action, by the flow."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from regproxy.authorization.matrix import access_matrix
from regproxy.oci.actions import Action
from regproxy.policy.dialects import DialectContext
from regproxy.policy.evaluate import compile_policy
from regproxy.policy.load import compile_policy_set
from regproxy.reload import load_identities_file, read_policy_files

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
POLICY = compile_policy(compile_policy_set(read_policy_files(EXAMPLES / "policies"), DialectContext(), 1))
IDENTITIES = load_identities_file(EXAMPLES / "identities.yaml")
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def table(repository: str, tag: str | None) -> dict[tuple[str, str], tuple[str, str, tuple[str, ...]]]:
    cells = access_matrix(POLICY, IDENTITIES, repository, tag, NOW)
    return {(c.subject, c.action.value): (c.decision, c.outcome, c.statements) for c in cells}


def test_every_subject_and_action_has_a_cell() -> None:
    cells = table("team-a/app", None)
    subjects = {s for s, _ in cells}
    assert subjects == {
        "user:alice",
        "user:bob",
        "user:admin",
        "service-account:ci",
        "credential:rpc-ci-pull",
        "group:team-a-devs",
        "group:team-a-readers",
        "group:registry-admins",
        "authenticated",
        "anonymous",
    }
    assert len(cells) == len(subjects) * len(Action)


def test_cells_name_the_deciding_statements() -> None:
    cells = table("team-a/app", None)
    assert cells[("user:alice", "push")] == ("allow", "allowed", ("team-a.yaml#devs-read-write",))
    assert cells[("user:bob", "push")] == ("deny", "default-deny", ())
    assert cells[("group:team-a-readers", "list")] == ("allow", "allowed", ("team-a.yaml#readers-pull",))
    assert cells[("credential:rpc-ci-pull", "push")][1] == "scope-deny"
    assert cells[("anonymous", "pull")] == ("challenge", "default-deny", ())


def test_a_tag_decides_the_tag_actions_for_that_tag() -> None:
    some_tag, release = table("team-a/app", None), table("team-a/app", "v1")
    assert some_tag[("user:alice", "tag-overwrite")][0] == "allow"
    assert release[("user:alice", "tag-overwrite")] == (
        "deny",
        "explicit-deny",
        ("team-a.yaml#release-tags-are-immutable",),
    )
    assert release[("user:admin", "delete-tag")][1] == "explicit-deny"
