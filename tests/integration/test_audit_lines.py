"""The audit line says why, against the real registry: the facts the decision asked the registry
(does the tag exist, does the repository exist) with their answers, and the reason a credential
gave for refusing (a Thalassa credential with no registry scope: ``registry_scope_missing``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MakeProxy
from tests.support import Proxy, request
from tests.support.distribution import manifest_headers, push_image, put_manifest
from tests.support.examples import ALICE, unique
from tests.support.oci import build_image
from tests.support.processes import wait_until
from tests.support.proxy import EXAMPLES

pytestmark = pytest.mark.integration

NO_CREATE = """\
version: 1
statements:
  - id: push-but-not-create
    effect: allow
    principals: [user:alice]
    actions: [pull, push, tag-create]
    resources: ["team-c/**"]
"""


def lines_for(proxy: Proxy, path: str, count: int) -> list[dict[str, Any]]:
    def found() -> list[dict[str, Any]] | None:
        lines = [e for e in proxy.audit_events() if e["path"] == path]
        return lines if len(lines) >= count else None

    return wait_until(found, timeout=10, what=f"{count} audit line(s) for {path}")


def test_a_tag_push_names_the_tag_fact_and_its_answer(proxy: Proxy) -> None:
    """tag-create is allowed, tag-overwrite of v* denied (examples/policies/team-a.yaml): the
    decision asks whether the tag exists; a first push is allowed, the second refused."""
    repo = f"team-a/{unique('facts')}/app"
    image = build_image((512,))
    push_image(proxy.url, repo, image, "v1", auth=ALICE)
    again = put_manifest(proxy.url, repo, "v1", image.manifest, auth=ALICE)
    assert again.status == 403
    first, second = lines_for(proxy, f"/v2/{repo}/manifests/v1", 2)[:2]
    fact = {"fact": "tag-exists", "repository": repo, "tag": "v1"}
    assert (first["decision"], first["facts"]) == ("allowed", [{**fact, "answer": False}])
    assert (second["decision"], second["facts"]) == ("explicit-deny", [{**fact, "answer": True}])
    assert second["reason"] == ""


def test_a_push_into_a_new_repository_names_the_repository_fact(make_proxy: MakeProxy) -> None:
    proxy = make_proxy(policies={"c.yaml": NO_CREATE})
    repo = f"team-c/{unique('new')}"
    answer = request(proxy.url, "POST", f"/v2/{repo}/blobs/uploads/", auth=ALICE, body=b"")
    assert answer.status == 403
    (line,) = lines_for(proxy, f"/v2/{repo}/blobs/uploads/", 1)
    assert line["decision"] == "default-deny"
    assert line["facts"] == [{"fact": "repository-exists", "repository": repo, "answer": False}]


def test_a_credential_without_a_registry_scope_says_so(make_proxy: MakeProxy, tmp_path: Path) -> None:
    identities = (EXAMPLES / "identities.yaml").read_text()
    secret = identities.split("id: rpc-ci-pull", 1)[1].split("secret: ", 1)[1].splitlines()[0]
    identities = identities.replace(
        "revoked: []",
        f"  - id: rpc-ci-storage\n    secret: {secret}\n    principal: service-account:ci\n"
        "    scope: objectStorage\nrevoked: []",
    )
    proxy = make_proxy(identities=identities)
    repo = f"team-a/{unique('scope')}/app"
    answer = request(
        proxy.url,
        "GET",
        f"/v2/{repo}/manifests/v1",
        auth=("rpc-ci-storage", "ci-pull-secret"),
        headers=manifest_headers(),
    )
    assert answer.status == 403 and answer.error_codes() == ["DENIED"]
    (line,) = lines_for(proxy, f"/v2/{repo}/manifests/v1", 1)
    assert (line["principal"], line["credential"]) == ("service-account:ci", "rpc-ci-storage")
    assert (line["decision"], line["reason"]) == ("scope-deny", "registry_scope_missing")
