"""YAML with line numbers: every mapping knows where it was written, errors name the line."""

from __future__ import annotations

import pytest

from regproxy.errors import SourceLocation
from regproxy.sources.yamlsource import LineDict, YamlSyntaxError, at, line_of, load_yaml


def test_every_mapping_remembers_its_line() -> None:
    data = load_yaml("# a comment\nstatements:\n  - effect: allow\n    actions: [pull]\n  - effect: deny\n")
    assert isinstance(data, LineDict) and data.line == 2
    first, second = data["statements"]
    assert (line_of(first), line_of(second)) == (3, 5)
    assert line_of(["not", "a", "mapping"], default=9) == 9


def test_a_location_moves_to_the_mapping_it_names() -> None:
    data = load_yaml("a: 1\nb:\n  c: 2\n")
    assert at(SourceLocation("p.yaml", 1), data["b"]) == SourceLocation("p.yaml", 3)
    assert at(SourceLocation("p.yaml", 4), "scalar") == SourceLocation("p.yaml", 4)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("a: 1\na: 2\n", 2, "duplicate key `a`"),
        ("a: [1\n", 2, ""),
        ("? [1, 2]\n: x\n", 1, "mapping keys must be scalars"),
    ],
)
def test_errors_name_the_line(text: str, line: int, message: str) -> None:
    with pytest.raises(YamlSyntaxError) as info:
        load_yaml(text)
    assert info.value.line == line and message in info.value.message


def test_only_safe_tags_are_read() -> None:
    with pytest.raises(YamlSyntaxError):
        load_yaml("!!python/object/apply:os.system ['true']\n")


def test_scalar_keys_become_strings() -> None:
    assert load_yaml("1: a\ntrue: b\n") == {"1": "a", "True": "b"}
