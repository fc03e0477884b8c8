"""A policies directory's texts -> one policy set: dialect by place or name, bindings, and a set
with any error refused whole. ``regproxy check`` reports every error of every file in one run, whatever the dialect: each
compiler collects the first error of every statement (rule, line) and raises them together, and
the load layer gathers them across files."""

from __future__ import annotations

import pytest

from regproxy.policy.dialects import DialectContext
from regproxy.policy.load import PolicySetInvalid, compile_policy_set, dialect_of
from regproxy.policy.model import Effect

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


TEAM_DOC = """version: 1
statements:
  - id: pull-team
    effect: allow
    principals: [group:devs]
    actions: [pull]
    resources: ["team/**"]
"""
THALASSA_ROLE = """rules:
  - resources: [container_registry_namespace, container_registry_repository]
    permissions: [read]
"""
BINDINGS = """bindings:
  - id: readers
    policy: readers
    principals: [user:bob]
"""


@pytest.mark.parametrize(
    ("path", "dialect"),
    [
        ("team.yaml", "native"),
        ("native/team.yml", "native"),
        ("thalassa/role.yaml", "thalassa"),
        ("role.thalassa.yaml", "thalassa"),
        ("oci/tenancy.policy", "oci"),
        ("tenancy.policy", "oci"),
        ("cam.tencent.json", "tencent"),
        ("alibaba/ram.json", "alibaba"),
        ("bindings.yaml", None),
        (".hidden.yaml", None),
        ("README.md", None),
        ("tencent/doc.yaml", None),
        ("a/b/c.yaml", None),
    ],
)
def test_the_dialect_is_the_directory_or_the_name(path: str, dialect: str | None) -> None:
    assert dialect_of(path) == dialect


def test_documents_and_bindings_compile_into_one_set_with_a_content_hash() -> None:
    files = {"team.yaml": TEAM_DOC, "thalassa/readers.yaml": THALASSA_ROLE, "bindings.yaml": BINDINGS, "notes.md": "x"}
    policy_set = compile_policy_set(files, DialectContext(), 7)
    assert policy_set.generation == 7 and policy_set.content_hash.startswith("sha256:")
    assert policy_set.statement("team.yaml#pull-team") is not None
    bound = [s for s in policy_set.statements if s.dialect == "thalassa"]
    assert bound and all(s.effect is Effect.ALLOW for s in bound)
    assert {str(p) for s in bound for p in s.principals} == {"user:bob"}
    same = compile_policy_set(dict(files), DialectContext(), 8)
    assert same.content_hash == policy_set.content_hash
    assert compile_policy_set({**files, "team.yaml": TEAM_DOC + "\n"}, DialectContext(), 9).content_hash != (
        policy_set.content_hash
    )


def test_a_thalassa_role_without_a_binding_grants_nothing() -> None:
    assert compile_policy_set({"thalassa/readers.yaml": THALASSA_ROLE}, DialectContext(), 1).statements == ()


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"bindings.yaml": "bindings: 3\n"}, "holds a `bindings` list"),
        ({"bindings.yaml": "bindings:\n  - principals: [user:a]\n"}, "needs a `policy` name"),
        ({"bindings.yaml": "bindings:\n  - policy: p\n    principals: []\n"}, "non-empty list"),
        ({"bindings.yaml": "bindings:\n  - policy: p\n    colour: red\n    principals: [user:a]\n"}, "unknown key"),
        ({"bindings.yaml": "bindings:\n  - policy: p\n    dialect: klingon\n    principals: [user:a]\n"}, "dialect"),
        ({"bindings.yaml": "bindings: [\n"}, ""),
    ],
)
def test_a_set_with_an_error_is_refused_whole(files: dict[str, str], message: str) -> None:
    with pytest.raises(PolicySetInvalid) as info:
        compile_policy_set({"team.yaml": TEAM_DOC, **files}, DialectContext(), 1)
    assert message in str(info.value.errors[0])


def test_every_error_of_the_set_is_reported_not_only_the_first() -> None:
    broken = "version: 1\nstatements:\n  - id: x\n    effect: maybe\n"
    with pytest.raises(PolicySetInvalid) as info:
        compile_policy_set({"a.yaml": broken, "b.yaml": broken, "bindings.yaml": "bindings: 3\n"}, DialectContext(), 1)
    files = {e.location.file for e in info.value.errors}
    assert files == {"a.yaml", "b.yaml", "bindings.yaml"}


def test_a_statement_id_used_twice_is_an_error_naming_both_places() -> None:
    with pytest.raises(PolicySetInvalid) as info:
        compile_policy_set(
            {"team.yaml": TEAM_DOC},
            DialectContext(),
            1,
            extra=(compile_policy_set({"team.yaml": TEAM_DOC}, DialectContext(), 1).statements[0],),
        )
    assert "also used at" in str(info.value.errors[0])
