"""A setting is a dataclass field: its default is the field's, its declaration in the metadata."""

from __future__ import annotations

import dataclasses

import pytest

from regproxy.settings.declare import SETTING, at_least, env_name, non_negative, one_of, positive, setting


def test_a_declared_field_carries_its_key_kind_and_line() -> None:
    @dataclasses.dataclass(frozen=True)
    class Section:
        size: int = setting("box.size", 3, "int", "how big", check=at_least(1))
        secret: str = setting("box.secret", "", "str", "hidden", secret=True)

    (size, secret) = dataclasses.fields(Section)
    assert Section().size == 3
    declared = size.metadata[SETTING]
    assert (declared.key, declared.kind, declared.doc, declared.env) == (
        "box.size",
        "int",
        "how big",
        "REGPROXY_BOX_SIZE",
    )
    assert "secret" not in repr(Section(secret="s3cret")) and "s3cret" not in repr(Section(secret="s3cret"))
    assert secret.metadata[SETTING].key == "box.secret"


def test_an_unknown_kind_is_refused_at_declaration() -> None:
    with pytest.raises(ValueError, match="unknown setting kind"):
        setting("x", 0, "integer", "nope")


def test_environment_names_join_the_path_in_capitals() -> None:
    assert env_name("upstream.url") == "REGPROXY_UPSTREAM_URL"
    assert env_name("dialects.oci.compartments") == "REGPROXY_DIALECTS_OCI_COMPARTMENTS"


def test_checks_pass_good_values_through_and_name_what_is_wrong() -> None:
    assert at_least(2)(2) == 2 and positive(0.1) == 0.1 and non_negative(0) == 0
    assert one_of(("a", "b"), "must be a or b", fold_case=True)("A") == "a"
    for check, value, message in (
        (at_least(2), 1, "at least 2"),
        (positive, 0, "positive"),
        (non_negative, -1, "not be negative"),
        (one_of(("a",), "must be a"), "b", "must be a"),
    ):
        with pytest.raises(ValueError, match=message):
            check(value)
