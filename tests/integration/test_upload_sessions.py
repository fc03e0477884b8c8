"""Upload sessions belong to whoever opened them, across replicas, with nothing shared but the
token signing key (against the real registry).

alice opens an upload; admin, who may push to the same repository, can neither read, append to,
finish nor cancel it: each is 404 BLOB_UPLOAD_UNKNOWN, as for a session that does not exist,
and none reaches the registry. alice then finishes it through a second regproxy with the same
key (another replica, or the same after a restart): 201.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import MakeProxy
from tests.support import Registry, request
from tests.support.distribution import session_target, start_upload, with_param
from tests.support.examples import ADMIN, ALICE, unique
from tests.support.oci import random_blob
from tests.support.tokens import write_ec_key

pytestmark = pytest.mark.integration


def test_another_principal_cannot_touch_an_upload_session(
    make_proxy: MakeProxy, registry: Registry, tmp_path: Path
) -> None:
    settings = {"tokens": {"signing_key": str(write_ec_key(tmp_path / "signing.pem"))}}
    first, second = make_proxy(settings=settings), make_proxy(settings=settings)
    repo = f"team-a/{unique('session')}/app"
    blob = random_blob(10_000)
    location = start_upload(first.url, repo, auth=ALICE).header("Location") or ""
    target = session_target(location)
    assert "_regproxy=" in target
    upload_id = target.split("/blobs/uploads/")[1].split("?")[0]
    mark = len(registry.requests())

    stripped = "&".join(p for p in target.split("&") if not p.startswith("_regproxy="))
    for method, path, body in (
        ("GET", target, None),
        ("PATCH", target, blob.data[:100]),
        ("PUT", with_param(target, "digest", blob.digest), blob.data),
        ("DELETE", target, None),
        ("GET", stripped, None),  # no seal at all
    ):
        response = request(second.url, method, path, auth=ADMIN, body=body)
        assert response.status == 404, (method, response.status, response.body)
        assert response.error_codes() == ["BLOB_UPLOAD_UNKNOWN"]
    assert [line for line in registry.requests()[mark:] if upload_id in line] == []

    finished = request(
        second.url,
        "PUT",
        with_param(target, "digest", blob.digest),
        auth=ALICE,
        body=blob.data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert finished.status == 201, finished.body
    assert request(registry.url, "HEAD", f"/v2/{repo}/blobs/{blob.digest}").status == 200
