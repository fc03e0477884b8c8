"""What a registry's answers mean and what requests need: a refusal or a fault is never "no",
only a known "no" refuses, only deletes are ever refused, and a policy granting what the registry
cannot do is warned about."""

from __future__ import annotations

import pytest

from regproxy.errors import ErrorCode
from regproxy.oci.actions import Action
from regproxy.oci.capability import (
    INDEX_TYPE,
    Capabilities,
    Capability,
    Support,
    capability_warnings,
    classify_manifest_deletion,
    classify_referrers,
    classify_tag_deletion,
    needed_capability,
    unknown_support,
    unsupported,
)
from regproxy.oci.routes import RegistryRequest, RouteKind

Y, N, U = Support.YES, Support.NO, Support.UNKNOWN
DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("status", "expected"),
    [(202, Y), (404, Y), (400, N), (405, N), (401, U), (403, U), (500, U), (503, U)],
    ids=lambda v: str(v),
)
def test_tag_deletion_answers(status: int, expected: Support) -> None:
    assert classify_tag_deletion(status) is expected


@pytest.mark.parametrize(
    ("status", "expected"), [(202, Y), (404, Y), (405, N), (400, U), (401, U), (502, U)], ids=lambda v: str(v)
)
def test_manifest_deletion_answers(status: int, expected: Support) -> None:
    assert classify_manifest_deletion(status) is expected


@pytest.mark.parametrize(
    ("status", "content_type", "body", "expected"),
    [
        (200, INDEX_TYPE, b'{"schemaVersion":2,"manifests":[]}', Y),
        (200, INDEX_TYPE + "; charset=utf-8", b'{"manifests":[]}', Y),
        (200, "text/html", b"<html>login</html>", U),  # a portal page is not the API
        (200, INDEX_TYPE, b"not json", U),
        (404, "text/plain", b"404 page not found", N),
        (401, "application/json", b"{}", U),
        (500, "application/json", b"{}", U),
    ],
    ids=["index", "index-charset", "html", "broken", "404", "401", "500"],
)
def test_referrers_answers(status: int, content_type: str, body: bytes, expected: Support) -> None:
    assert classify_referrers(status, content_type, body) is expected


def distribution_2_8() -> Capabilities:
    support = {**unknown_support(), Capability.TAG_DELETION: N, Capability.MANIFEST_DELETION: Y}
    return Capabilities(reachable=True, api_version="registry/2.0", support={**support, Capability.REFERRERS: N})


DELETE_TAG = RegistryRequest("DELETE", RouteKind.MANIFEST, Action.DELETE_TAG, "team-a/app", tag="v1")
DELETE_DIGEST = RegistryRequest("DELETE", RouteKind.MANIFEST, Action.DELETE_MANIFEST, "team-a/app", digest=DIGEST)
REFERRERS = RegistryRequest("GET", RouteKind.REFERRERS, Action.PULL, "team-a/app", digest=DIGEST)
PULL = RegistryRequest("GET", RouteKind.MANIFEST, Action.PULL, "team-a/app", tag="v1")


def test_only_deletes_need_a_capability() -> None:
    assert needed_capability(DELETE_TAG) is Capability.TAG_DELETION
    assert needed_capability(DELETE_DIGEST) is Capability.MANIFEST_DELETION
    assert needed_capability(REFERRERS) is None  # the registry's own 404 is the spec's fallback signal
    assert needed_capability(PULL) is None
    assert needed_capability(RegistryRequest("GET", RouteKind.BASE, None)) is None


def test_a_tag_delete_in_front_of_distribution_2_8_is_unsupported() -> None:
    refusal = unsupported(DELETE_TAG, distribution_2_8())
    assert refusal is not None
    assert (refusal.status, refusal.code) == (405, ErrorCode.UNSUPPORTED)
    assert refusal.body() == {
        "errors": [
            {
                "code": "UNSUPPORTED",
                "message": "the registry behind regproxy does not support tag-deletion",
                "detail": {"capability": "tag-deletion", "upstream": "registry/2.0"},
            }
        ]
    }
    assert unsupported(DELETE_DIGEST, distribution_2_8()) is None
    assert unsupported(REFERRERS, distribution_2_8()) is None


@pytest.mark.parametrize("found", [Capabilities(), Capabilities(reachable=True)], ids=["not-probed", "unknown"])
def test_unknown_never_refuses(found: Capabilities) -> None:
    assert unsupported(DELETE_TAG, found) is None and unsupported(DELETE_DIGEST, found) is None


def test_check_warns_of_granted_actions_the_registry_cannot_do() -> None:
    granted = [Action.PULL, Action.DELETE_TAG, Action.DELETE_MANIFEST, Action.DELETE_TAG]
    assert capability_warnings(granted, distribution_2_8()) == [
        "the policies grant `delete-tag`, but registry/2.0 has no tag-deletion: such requests get UNSUPPORTED"
    ]
    assert capability_warnings(granted, Capabilities()) == []


def test_detail_is_one_line_for_readyz() -> None:
    assert distribution_2_8().detail() == (
        "upstream registry/2.0; tag-deletion no, manifest-deletion yes, referrers no, mount unknown"
    )
    assert Capabilities().detail() == "upstream not usable: not probed yet"
