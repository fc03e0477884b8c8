"""What the edge writes into an audit event so that ``regproxy diff`` can decide it again."""

from __future__ import annotations

from regproxy.audit import AuditEvent
from regproxy.authorization.replay import decision_query, scope_record
from regproxy.identity.principal import Principal
from regproxy.oci.routes import RegistryRequest


def record_caller(event: AuditEvent, request: RegistryRequest, principal: Principal) -> None:
    """The caller's groups and projects, the credential's bound, a token's access, and the query
    parameters the decision reads (see :mod:`regproxy.authorization.replay`)."""
    event.groups = tuple(sorted(principal.groups))
    event.projects = tuple(sorted(principal.projects))
    if principal.token is not None:
        event.credential_scope = scope_record(principal.token.credential)
        event.token_access = scope_record(principal.token.access)
    else:
        event.credential_scope = scope_record(principal.scope)
    event.query = decision_query(request)
