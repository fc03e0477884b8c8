"""``regproxy check`` reports every error of every file in one run, whatever the dialect: each
compiler collects the first error of every statement (rule, line) and raises them together, and
the load layer gathers them across files."""

from __future__ import annotations

import pytest

from regproxy.policy.dialects import DialectContext
from regproxy.policy.load import PolicySetInvalid, compile_policy_set

NATIVE = """\
version: 1
statements:
  - {id: a, effect: allow, principals: [user:a], actions: [pul], resources: [a]}
  - {id: b, effect: allow, principals: [user:a], actions: [pull], resources: [team-a/app]}
  - {id: c, effect: perhaps, principals: [user:a], actions: [pull], resources: [a]}
  - {id: b, effect: allow, principals: [user:a], actions: [pull], resources: [a]}
"""

THALASSA = """\
name: several-errors
colour: blue
rules:
  - resources: [container_registry_repository]
    permissions: [pul]
  - resources: [container_registry_repository]
    permissions: [pull]
  - resources: [container_registry_nowhere]
    permissions: [pull]
"""

OCI = """\
Allow group a to read repos in tenancy
Allow group a to reed repos in tenancy
Allow group a to read repos in compartment nowhere
Allow group "b" to read repos in tenancy
Permit group a to read repos in tenancy
Allow group a to read repos in tenancy
"""

TENCENT = """\
{
  "version": "2.0",
  "statement": [
    {"effect": "allow", "action": ["ccr:pul"], "resource": ["qcs::ccr:::repo/a/*"]},
    {"effect": "allow", "action": ["ccr:pull"], "resource": ["qcs::ccr:::repo/a/*"]},
    {"effect": "perhaps", "action": ["ccr:pull"], "resource": ["qcs::ccr:::repo/a/*"]},
    {"effect": "allow", "action": ["ccr:pull"], "resource": ["qcs::ccr:::nowhere"]}
  ]
}
"""

ALIBABA = """\
{
  "Version": "1",
  "Statement": [
    {"Effect": "Allow", "Action": ["cr:PullRepositry"], "Resource": ["acs:cr:*:*:repository/a/*"]},
    {"Effect": "Allow", "Action": ["cr:PullRepository"], "Resource": ["acs:cr:*:*:repository/a/*"]},
    {"effect": "Allow", "Action": ["cr:PullRepository"], "Resource": ["acs:cr:*:*:repository/a/*"]},
    {"Effect": "Allow", "Action": ["cr:PullRepository"], "Resource": ["nowhere"]}
  ]
}
"""

# (file, text, the line of each error): several errors a file, one file a dialect
FILES: list[tuple[str, str, list[int]]] = [
    ("a.yaml", NATIVE, [3, 5, 6]),
    ("thalassa/r.yaml", THALASSA, [1, 4, 8]),
    ("oci/a.policy", OCI, [2, 3, 4, 5]),
    ("tencent/a.json", TENCENT, [4, 6, 7]),
    ("alibaba/a.json", ALIBABA, [4, 6, 7]),
]


def errors_of(files: dict[str, str]) -> list[tuple[str, int]]:
    with pytest.raises(PolicySetInvalid) as invalid:
        compile_policy_set(files, DialectContext(), 1)
    return [(e.location.file, e.location.line) for e in invalid.value.errors]


@pytest.mark.parametrize(("name", "text", "lines"), FILES, ids=["native", "thalassa", "oci", "tencent", "alibaba"])
def test_every_error_of_a_file_in_one_run(name: str, text: str, lines: list[int]) -> None:
    assert errors_of({name: text}) == [(name, line) for line in lines]


def test_every_error_of_every_file_of_every_dialect_in_one_run() -> None:
    files = {name: text for name, text, _ in FILES}
    expected = sorted((name, line) for name, _, lines in FILES for line in lines)
    assert sorted(errors_of(files)) == expected
