"""What the edge records for a replay: the caller's groups and bound, the decision's query."""

from __future__ import annotations

from regproxy.audit import AuditEvent
from regproxy.identity.principal import PrincipalKind, make_principal
from regproxy.oci.routes import parse_request
from regproxy.policycode.recording import record_caller


def event() -> AuditEvent:
    return AuditEvent(time=0.0, request_id="r", source="", method="POST", route="", path="")


def test_groups_and_projects_are_recorded_sorted_and_only_decision_parameters_of_the_query() -> None:
    alice = make_principal(PrincipalKind.USER, "alice", groups=("team-b", "team-a"))
    request = parse_request("POST", "/v2/team-a/app/blobs/uploads/", "mount=sha256:" + "a" * 64 + "&from=team-b/x", {})
    e = event()
    record_caller(e, request, alice)
    assert e.groups == ("team-a", "team-b")
    assert e.credential_scope is None and e.token_access is None
    assert e.query == "mount=sha256:" + "a" * 64 + "&from=team-b/x"


def test_a_caller_without_groups_or_query_records_empty_values() -> None:
    e = event()
    record_caller(
        e, parse_request("GET", "/v2/team-a/app/tags/list", "", {}), make_principal(PrincipalKind.USER, "bob")
    )
    assert (e.groups, e.projects, e.query) == ((), (), "")
