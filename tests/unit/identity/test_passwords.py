"""Password hashes: scrypt as regproxy writes it, bcrypt as htpasswd writes it, nothing else."""

from __future__ import annotations

import bcrypt
import pytest

from regproxy.identity.passwords import DUMMY_HASH, hash_password, is_supported_hash, verify_password


def test_a_hash_verifies_its_password_only() -> None:
    stored = hash_password("hunter2", log_n=10)
    assert stored.startswith("$scrypt$ln=10,r=8,p=1$")
    assert verify_password(stored, "hunter2")
    assert not verify_password(stored, "hunter3")


def test_two_hashes_of_one_password_differ_by_their_salt() -> None:
    assert hash_password("pw", log_n=10) != hash_password("pw", log_n=10)


def test_htpasswd_bcrypt_hashes_verify_with_their_2y_prefix() -> None:
    stored = bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)).decode().replace("$2b$", "$2y$", 1)
    assert is_supported_hash(stored)
    assert verify_password(stored, "pw") and not verify_password(stored, "other")


@pytest.mark.parametrize(
    "stored",
    [
        "plaintext",
        "$scrypt$ln=15,r=8$c2FsdA$ZGlnZXN0ZGlnZXN0ZGlnZXN0",  # a parameter missing
        "$scrypt$ln=40,r=8,p=1$c2FsdA$ZGlnZXN0ZGlnZXN0ZGlnZXN0",  # a cost past the bound
        "$scrypt$ln=15,r=8,p=1$c2FsdA$c2hvcnQ",  # a digest too short
        "$md5$abc",
    ],
)
def test_unknown_or_unsafe_formats_never_verify(stored: str) -> None:
    assert not is_supported_hash(stored)
    assert not verify_password(stored, "anything")


def test_a_broken_bcrypt_hash_is_a_mismatch_not_an_error() -> None:
    assert not verify_password("$2b$04$short", "pw")


def test_the_dummy_hash_is_a_real_scrypt_hash_no_password_matches() -> None:
    assert is_supported_hash(DUMMY_HASH)
    assert not verify_password(DUMMY_HASH, "")
