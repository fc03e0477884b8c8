"""Upload sessions sealed to their principal: the seal rides in the Location and is checked."""

from __future__ import annotations

import pytest

from regproxy.authorization.uploads import SEAL_PARAM, UploadSealer, sealed_locations
from regproxy.oci.routes import parse_request

SEALER = UploadSealer(b"k" * 32)


def test_a_seal_names_repository_upload_and_principal() -> None:
    seal = SEALER.seal("user:alice", "team/app", "u1")
    assert SEALER.verify(seal, "user:alice", "team/app", "u1")
    assert not SEALER.verify(seal, "user:admin", "team/app", "u1")
    assert not SEALER.verify(seal, "user:alice", "team/other", "u1")
    assert not SEALER.verify(seal, "user:alice", "team/app", "u2")
    assert not SEALER.verify(None, "user:alice", "team/app", "u1")
    assert not UploadSealer(b"x" * 32).verify(seal, "user:alice", "team/app", "u1")


def test_the_location_keeps_the_registry_parameters_byte_for_byte() -> None:
    location = "http://proxy/v2/team/app/blobs/uploads/u1?_state=a%2Bb%3D%3D"
    sealed = SEALER.seal_location(location, "user:alice", "team/app")
    assert sealed == f"{location}&{SEAL_PARAM}={SEALER.seal('user:alice', 'team/app', 'u1')}"


def test_a_seal_from_a_regproxy_behind_this_one_is_kept_and_ours_goes_last() -> None:
    """Chained deployments: the inner regproxy's seal must reach it again."""
    inner = "http://proxy/v2/team/app/blobs/uploads/u1?_state=s&" + SEAL_PARAM + "=" + "i" * 43
    sealed = SEALER.seal_location(inner, "user:edge", "team/app")
    assert sealed == f"{inner}&{SEAL_PARAM}={SEALER.seal('user:edge', 'team/app', 'u1')}"
    parsed = parse_request("PATCH", "/v2/team/app/blobs/uploads/u1", sealed.partition("?")[2], {})
    assert parsed.upload_seal == SEALER.seal("user:edge", "team/app", "u1")
    assert parsed.query == (("_state", "s"), (SEAL_PARAM, "i" * 43))


@pytest.mark.parametrize(
    "location",
    ["/v2/team/app/blobs/sha256:" + "a" * 64, "/v2/team/other/blobs/uploads/u1", "https://storage.example/x"],
)
def test_only_an_upload_session_of_the_repository_is_sealed(location: str) -> None:
    assert SEALER.seal_location(location, "user:alice", "team/app") == location


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        UploadSealer(b"short")


def test_only_location_headers_are_sealed() -> None:
    location = "http://proxy/v2/team/app/blobs/uploads/u1?_state=s"
    headers = [("Location", location), ("Docker-Upload-UUID", "u1"), ("Range", "0-0")]
    sealed = sealed_locations(headers, SEALER, "user:alice", "team/app")
    assert sealed[0] == ("Location", SEALER.seal_location(location, "user:alice", "team/app"))
    assert sealed[1:] == headers[1:]
