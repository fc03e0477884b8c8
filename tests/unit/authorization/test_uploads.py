"""Upload sessions sealed to their principal: the seal rides in the Location and is checked."""

from __future__ import annotations

import pytest

from regproxy.authorization.uploads import SEAL_PARAM, UploadSealer

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


def test_an_upstream_regproxys_seal_is_kept_and_ours_comes_last() -> None:
    inner = UploadSealer(b"i" * 32)
    location = inner.seal_location("http://inner/v2/team/app/blobs/uploads/u1?_state=s", "user:edge", "team/app")
    sealed = SEALER.seal_location(location, "user:alice", "team/app")
    assert sealed == f"{location}&{SEAL_PARAM}={SEALER.seal('user:alice', 'team/app', 'u1')}"


@pytest.mark.parametrize(
    "location",
    ["/v2/team/app/blobs/sha256:" + "a" * 64, "/v2/team/other/blobs/uploads/u1", "https://storage.example/x"],
)
def test_only_an_upload_session_of_the_repository_is_sealed(location: str) -> None:
    assert SEALER.seal_location(location, "user:alice", "team/app") == location


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        UploadSealer(b"short")
