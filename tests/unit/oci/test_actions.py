"""The action vocabulary: words and wildcards expand to actions, a typo is an error."""

from __future__ import annotations

import pytest

from regproxy.oci.actions import (
    ALL_ACTIONS,
    DELETE_ACTIONS,
    READ_ACTIONS,
    WRITE_ACTIONS,
    Action,
    expand_action_pattern,
)


@pytest.mark.parametrize(
    ("pattern", "actions"),
    [
        ("*", ALL_ACTIONS),
        ("pull", {Action.PULL}),
        ("delete-*", DELETE_ACTIONS),
        ("tag-*", {Action.TAG_CREATE, Action.TAG_OVERWRITE}),
        ("*-tag", {Action.DELETE_TAG}),
    ],
)
def test_words_and_wildcards_expand(pattern: str, actions: frozenset[Action]) -> None:
    assert expand_action_pattern(pattern) == actions


@pytest.mark.parametrize(
    ("pattern", "message"), [("pul", "unknown action"), ("x-*", "unknown"), ("*-*", "more than one")]
)
def test_a_pattern_naming_no_action_is_an_error_not_an_empty_grant(pattern: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        expand_action_pattern(pattern)


def test_the_groups_partition_what_they_name() -> None:
    assert not (READ_ACTIONS & WRITE_ACTIONS) and not (WRITE_ACTIONS & DELETE_ACTIONS)
    assert READ_ACTIONS | WRITE_ACTIONS | DELETE_ACTIONS | {Action.CATALOG} == ALL_ACTIONS
