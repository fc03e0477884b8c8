"""The one table from requests to Docker scopes agrees with what a token's words grant."""

from __future__ import annotations

import pytest

from regproxy.authorization.permissions import base_permissions, creates_content, pushed_tags
from regproxy.authorization.scopes import request_scopes
from regproxy.identity.scope import parse_scope, regproxy_actions_for
from regproxy.oci.actions import Action
from regproxy.oci.routes import parse_request

D = "sha256:" + "b" * 64
REQUESTS = [
    ("GET", "/v2/_catalog", ""),
    ("GET", "/v2/a/tags/list", ""),
    ("GET", "/v2/a/manifests/v1", ""),
    ("HEAD", f"/v2/a/blobs/{D}", ""),
    ("GET", f"/v2/a/referrers/{D}", ""),
    ("PUT", "/v2/a/manifests/v1", ""),
    ("PUT", f"/v2/a/manifests/{D}", "tag=x"),
    ("POST", "/v2/a/blobs/uploads/", f"mount={D}&from=b"),
    ("PATCH", "/v2/a/blobs/uploads/u", ""),
    ("DELETE", "/v2/a/manifests/v1", ""),
    ("DELETE", f"/v2/a/manifests/{D}", ""),
    ("DELETE", f"/v2/a/blobs/{D}", ""),
]


@pytest.mark.parametrize(("method", "path", "query"), REQUESTS, ids=[f"{m} {p}" for m, p, _ in REQUESTS])
def test_the_challenged_scopes_grant_every_permission_the_request_can_need(method: str, path: str, query: str) -> None:
    request = parse_request(method, path, query, {})
    granted: dict[str, set[Action]] = {}
    for text in request_scopes(request):
        scope = parse_scope(text)
        for word in scope.actions:
            granted.setdefault(scope.name, set()).update(regproxy_actions_for(word, scope.type, scope.name))
    needed = {(p.action, p.repository) for p in base_permissions(request)}
    if creates_content(request):
        needed.add((Action.CREATE_REPOSITORY, request.repository))
    for _tag in pushed_tags(request):
        needed |= {(Action.TAG_CREATE, request.repository), (Action.TAG_OVERWRITE, request.repository)}
    if request.mount is not None:
        needed.add((Action.PULL, request.mount.source))
    if request.action is Action.CATALOG:
        assert granted == {"catalog": {Action.CATALOG}}
        return
    for action, repository in needed:
        assert action in granted.get(repository, set()), (action, repository)
