"""The distribution spec's name, tag and digest grammar."""

from __future__ import annotations

import pytest

from regproxy.oci.grammar import NAME_MAX_LENGTH, is_digest, is_name, is_tag, namespace_of


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("app", True),
        ("team/app", True),
        ("a.b_c__d--e/f", True),
        ("Team/app", False),
        ("team//app", False),
        ("-team", False),
        ("team/app/", False),
        ("a" * NAME_MAX_LENGTH, True),
        ("a" * (NAME_MAX_LENGTH + 1), False),
    ],
)
def test_names(name: str, valid: bool) -> None:
    assert is_name(name) is valid


@pytest.mark.parametrize(
    ("tag", "valid"),
    [("v1.0", True), ("_x", True), ("-x", False), (".x", False), ("t" * 128, True), ("t" * 129, False)],
)
def test_tags(tag: str, valid: bool) -> None:
    assert is_tag(tag) is valid


@pytest.mark.parametrize(
    ("digest", "valid"),
    [
        ("sha256:" + "a" * 64, True),
        ("sha512:" + "0" * 128, True),
        ("sha256:" + "A" * 64, False),
        ("sha256:" + "a" * 63, False),
        ("md5:" + "a" * 32, False),
    ],
)
def test_digests_of_algorithms_a_registry_verifies_only(digest: str, valid: bool) -> None:
    assert is_digest(digest) is valid


def test_the_namespace_is_the_first_component() -> None:
    assert (namespace_of("team/app/x"), namespace_of("app")) == ("team", "app")
