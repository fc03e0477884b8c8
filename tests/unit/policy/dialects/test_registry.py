"""The dialect registry: one dialect per policies sub-directory, each named as its directory."""

from __future__ import annotations

from regproxy.policy.dialects.registry import DIALECTS
from regproxy.policy.load import SUFFIXES


def test_every_dialect_is_registered_under_its_own_name() -> None:
    assert set(DIALECTS) == {"native", "thalassa", "oci", "tencent", "alibaba"}
    assert all(dialect.name == name for name, dialect in DIALECTS.items())


def test_every_registered_dialect_has_a_place_in_the_policies_directory() -> None:
    assert set(DIALECTS) == set(SUFFIXES)
