"""JSON with line numbers, for the IAM-JSON dialects' file:line errors."""

from __future__ import annotations

import pytest

from regproxy.errors import SourceLocation
from regproxy.policy.jsonsource import JsonArray, JsonObject, JsonSyntaxError, at, at_key, load_json, string_list

DOC = """{
  "Version": "1",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": ["cr:PullRepository", "cr:ListRepository"]
    }
  ]
}
"""
WHERE = SourceLocation("ram.json", 0)


def test_objects_and_arrays_know_their_lines_and_their_keys_lines() -> None:
    doc = load_json(DOC)
    assert isinstance(doc, JsonObject) and doc.line == 1
    statements = doc["Statement"]
    assert isinstance(statements, JsonArray) and statements.line == 3
    (first,) = statements
    assert first.line == 4 and first.line_of("Action") == 6
    assert at(WHERE, first) == SourceLocation("ram.json", 4)
    assert at_key(WHERE, first, "Effect") == SourceLocation("ram.json", 5)


def test_a_byte_order_mark_is_not_content() -> None:
    assert load_json("\ufeff{}") == {}


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ('{\n  "a": 1,\n  "a": 2\n}', 3, "written twice"),
        ('{\n  "a": 1,\n}', 3, "invalid JSON"),
        ("[" * 100_000, 0, "nested too deeply"),
    ],
)
def test_errors_name_the_line(text: str, line: int, message: str) -> None:
    with pytest.raises(JsonSyntaxError) as info:
        load_json(text)
    assert info.value.line == line and message in str(info.value)


def test_string_lists_take_a_string_or_a_non_empty_list_of_strings() -> None:
    first = load_json(DOC)["Statement"][0]
    assert [v for v, _ in string_list(first, "Action", WHERE)] == ["cr:PullRepository", "cr:ListRepository"]
    assert string_list(load_json('{"A": "x"}'), "A", WHERE) == [("x", SourceLocation("ram.json", 1))]
    for bad in ('{"A": ""}', '{"A": []}', '{"A": [1]}', '{"A": 3}'):
        with pytest.raises(ValueError, match="`A`"):
            string_list(load_json(bad), "A", WHERE)
