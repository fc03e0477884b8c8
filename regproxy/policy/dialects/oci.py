"""Oracle Cloud Infrastructure Registry policies (seed ``001``) → statements.

A document in ``policies/oci/*.policy`` holds OCI policy statements as the OCI console shows
them. Spare spaces and line breaks have no effect (as in OCI), so a statement may be written
on one line or continued over several; lines whose first character (after blanks) is ``#`` are
comments. Keywords are case-insensitive::

    statement  = ("allow" | "deny") subject "to" access "in" location ["where" conditions]
    subject    = "any-user" | "any-group" | "group" name {"," ["group"] name}
    name       = word | 'quoted name' | domain "/" group       (the Default domain is implied)
    access     = verb resource | "{" PERMISSION {"," PERMISSION} "}"
    verb       = "inspect" | "read" | "use" | "manage"
    resource   = "repos" | "all-resources"
    location   = "tenancy" | "compartment" path                (path: "parent:child")
    conditions = ("all" | "any") "{" condition {"," condition} "}" | condition
    condition  = variable ("=" | "!=") value
    variable   = "target.repo.name" | "request.permission"
    value      = 'string' | /pattern/          (/x*/ starts with, /*x/ ends with, /*x*/ contains)

What OCI means, and how it compiles:

- ``inspect`` ⊂ ``read`` = ``use`` ⊂ ``manage`` on ``repos`` (OCI's verb table: ``use`` adds
  nothing to ``read``), each a set of ``REPOSITORY_*`` permissions, each permission a set of
  regproxy actions (:data:`PERMISSION_ACTIONS`).
- A compartment holds the namespaces :attr:`DialectContext.oci_compartments` maps to it and to
  its sub-compartments; the tenancy holds every namespace.
- A push into a repository that does not exist creates it in the tenancy's root compartment, so
  ``create-repository`` comes only from statements ``in tenancy`` (the seed's "unusual
  scenario"); ``REPOSITORY_CREATE`` in a compartment names no registry-API request.
- Condition matching is case-insensitive. A variable a request does not carry makes its
  condition false (OCI: "variables that aren't applicable to a request result in a declined
  request"): listing repositories carries no ``target.repo.name``, so a statement whose
  conditions test the name never allows ``catalog``.
- ``where all {...}`` is one statement; ``where any {...}`` is one statement per condition, each
  with its own id (``oci/<file>#<line>.<n>``; ``oci/<file>#<line>`` otherwise).
- ``deny`` statements (OCI's opt-in deny policies) compile to deny statements from which the
  Administrators group is exempt, as in OCI.
- The tenancy's Administrators group may do anything: :meth:`OciDialect.builtins` has a standing
  document (``needs_binding=False``) that the loader puts in force whenever any OCI document is.

``policies/README.md (oci section)`` holds the tables and every decision taken where the seed is silent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from regproxy.errors import PolicyError, SourceLocation
from regproxy.oci.actions import ALL_ACTIONS, DELETE_ACTIONS, Action
from regproxy.policy.conditions import NotInGroup
from regproxy.policy.dialects import DialectContext, Document, Setting
from regproxy.policy.model import (
    Condition,
    Effect,
    PrincipalRef,
    PrincipalSelector,
    ResourcePattern,
    Statement,
)
from regproxy.policy.patterns import NameTest, RepositoryNamePattern

# The config section `dialects.oci` (policies/README.md, "Configuration").
SETTINGS = (
    Setting(
        "compartments",
        "globs-map",
        "oci_compartments",
        'compartment path ("parent:child") -> namespace globs; the tenancy holds every namespace',
        legacy="oci_compartments",
    ),
    Setting(
        "administrators_group",
        "str",
        "oci_administrators_group",
        "the tenancy's Administrators group (any operation on any repository); default Administrators",
        legacy="oci_administrators_group",
    ),
)


class Permission(StrEnum):
    """The permissions of the ``repos`` resource type."""

    INSPECT = "REPOSITORY_INSPECT"
    READ = "REPOSITORY_READ"
    UPDATE = "REPOSITORY_UPDATE"
    CREATE = "REPOSITORY_CREATE"
    DELETE = "REPOSITORY_DELETE"
    MANAGE = "REPOSITORY_MANAGE"


_READ = frozenset({Permission.INSPECT, Permission.READ})
VERB_PERMISSIONS: Mapping[str, frozenset[Permission]] = {
    "inspect": frozenset({Permission.INSPECT}),
    "read": _READ,
    "use": _READ,  # OCI's table for repos: use adds "no extra" to read
    "manage": frozenset(Permission),
}

PERMISSION_ACTIONS: Mapping[Permission, frozenset[Action]] = {
    Permission.INSPECT: frozenset({Action.CATALOG}),  # list the repositories
    Permission.READ: frozenset({Action.PULL, Action.LIST}),  # pull layers and manifests
    Permission.UPDATE: frozenset({Action.PUSH, Action.TAG_CREATE, Action.TAG_OVERWRITE}),
    Permission.CREATE: frozenset({Action.CREATE_REPOSITORY}),  # only in tenancy: see above
    Permission.DELETE: DELETE_ACTIONS,
    Permission.MANAGE: frozenset(),  # public/private and other metadata: no registry-API request
}

RESOURCE_TYPES = frozenset({"repos", "all-resources"})
_PERMISSION_NAMES = frozenset(p.value for p in Permission)
_REPO_NAME = "target.repo.name"
_PERMISSION = "request.permission"
_STATEMENT_ID_BUILTIN = "oci-builtin#Administrators"


# --- tokens ---------------------------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"""
      (?P<space>[ \t\r\f\v]+)
    | (?P<newline>\n)
    | (?P<string>'[^'\n]*')
    | (?P<pattern>/[^\s,{}']*/)
    | (?P<op>!=|=|\{|\}|,|/)
    | (?P<word>[\w.:@+*-][\w.:@+*/-]*)
    | (?P<bad>.)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # string, pattern, op, word, end
    text: str
    line: int

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.text.lower() in words

    def is_op(self, op: str) -> bool:
        return self.kind == "op" and self.text == op

    def shown(self) -> str:
        return "the end of the document" if self.kind == "end" else f"`{self.text}`"


def _tokens(text: str, location: SourceLocation) -> list[_Token]:
    lines = ["" if line.lstrip().startswith("#") else line for line in text.split("\n")]
    out: list[_Token] = []
    line = 1
    for m in _TOKEN_RE.finditer("\n".join(lines)):
        kind = m.lastgroup or "bad"
        if kind == "newline":
            line += 1
        elif kind == "bad":
            where = SourceLocation(location.file, line)
            if m.group() == '"':
                raise PolicyError(where, "values are quoted with single quotes ('...')")
            raise PolicyError(where, f"unexpected character `{m.group()}`")
        elif kind != "space":
            out.append(_Token(kind, m.group(), line))
    out.append(_Token("end", "", out[-1].line if out else line))  # errors point at the last word
    return out


# --- repository-name conditions -------------------------------------------------------------

# --- parsed statements ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _PermissionTest:
    permissions: frozenset[Permission]
    negated: bool


_Test = NameTest | _PermissionTest


@dataclass(frozen=True, slots=True)
class _Parsed:
    effect: Effect
    principals: tuple[PrincipalRef, ...]
    permissions: frozenset[Permission]
    tenancy: bool
    namespaces: tuple[str, ...]  # the compartment's namespace globs (tenancy: unused)
    disjuncts: tuple[tuple[_Test, ...], ...]  # OR of ANDs; ((),) when there is no `where`
    any_block: bool
    line: int


class _Parser:
    def __init__(self, text: str, location: SourceLocation, context: DialectContext) -> None:
        self.tokens = _tokens(text, location)
        self.pos = 0
        self.file = location.file
        self.compartments = _compartment_namespaces(context.oci_compartments)

    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def take(self) -> _Token:
        token = self.peek()
        self.pos += 1
        return token

    def fail(self, token: _Token, message: str) -> PolicyError:
        return PolicyError(SourceLocation(self.file, token.line), message)

    def expect_word(self, word: str, after: str) -> None:
        token = self.take()
        if not token.is_word(word):
            raise self.fail(token, f"expected `{word}` after {after}, found {token.shown()}")

    def statements(self) -> list[_Parsed]:
        out: list[_Parsed] = []
        while self.peek().kind != "end":
            start = self.peek()
            if out and self.tokens[self.pos - 1].line == start.line:
                # Statement ids are <file>#<line>: each statement starts on a line of its own.
                if start.is_word("allow", "deny"):
                    raise self.fail(start, "a second statement starts on this line; start it on a new line")
                raise self.fail(start, f"unexpected {start.shown()} after the statement")
            out.append(self.statement())
        return out

    def statement(self) -> _Parsed:
        first = self.take()
        if first.is_word("allow"):
            effect = Effect.ALLOW
        elif first.is_word("deny"):
            effect = Effect.DENY
        elif first.is_word("endorse", "admit", "define"):
            raise self.fail(first, f"cross-tenancy `{first.text}` statements are not supported")
        else:
            raise self.fail(first, f"a statement starts with `allow` or `deny`, not {first.shown()}")
        if self.peek().is_word("endorse", "admit"):
            raise self.fail(self.peek(), f"cross-tenancy `deny {self.peek().text}` statements are not supported")
        principals = self.subject()
        self.expect_word("to", "the subject")
        permissions = self.access()
        self.expect_word("in", "the resource type")
        tenancy, namespaces = self.location()
        disjuncts: tuple[tuple[_Test, ...], ...] = ((),)
        any_block = False
        if self.peek().is_word("where"):
            self.take()
            disjuncts, any_block = self.conditions()
        return _Parsed(effect, principals, permissions, tenancy, namespaces, disjuncts, any_block, first.line)

    def subject(self) -> tuple[PrincipalRef, ...]:
        token = self.take()
        if token.is_word("any-user", "any-group"):
            return (PrincipalRef(PrincipalSelector.AUTHENTICATED),)
        if token.is_word("dynamic-group", "service"):
            raise self.fail(token, f"`{token.text}` subjects are not supported: name a group")
        if not token.is_word("group"):
            raise self.fail(token, f"expected `group`, `any-user` or `any-group`, found {token.shown()}")
        groups = [self.group_name()]
        while self.peek().is_op(","):
            self.take()
            if self.peek().is_word("group"):
                self.take()
            groups.append(self.group_name())
        return tuple(PrincipalRef(PrincipalSelector.GROUP, g) for g in dict.fromkeys(groups))

    def group_name(self) -> str:
        token = self.take()
        if token.is_word("id") and not (self.peek().is_word("to") or self.peek().is_op(",")):
            raise self.fail(token, "groups named by ocid (`group id ...`) are not supported: use the group name")
        if token.kind not in ("word", "string") or token.is_word("to"):
            raise self.fail(token, f"expected a group name, found {token.shown()}")
        name = _unquote(token)
        if self.peek().is_op("/"):  # 'Domain'/'Group'
            self.take()
            group = self.take()
            if group.kind not in ("word", "string"):
                raise self.fail(group, f"expected a group name after `/`, found {group.shown()}")
            name = f"{name}/{_unquote(group)}"
        domain, sep, group_name = name.rpartition("/")
        if sep and domain.lower() == "default":
            name = group_name  # "interpreted as though it was written as Default/<group>"
        if not name or name.startswith("/") or name.endswith("/"):
            raise self.fail(token, f"group name `{name}` is empty")
        return name

    def access(self) -> frozenset[Permission]:
        token = self.take()
        if token.is_op("{"):
            permissions = {self.permission(self.take())}
            while self.peek().is_op(","):
                self.take()
                permissions.add(self.permission(self.take()))
            closing = self.take()
            if not closing.is_op("}"):
                raise self.fail(closing, f"expected `,` or `}}` in the permission list, found {closing.shown()}")
            return frozenset(permissions)
        if token.kind != "word" or token.text.lower() not in VERB_PERMISSIONS:
            raise self.fail(token, f"unknown verb {token.shown()} (inspect, read, use, manage)")
        resource = self.take()
        if resource.kind != "word" or resource.text.lower() not in RESOURCE_TYPES:
            raise self.fail(
                resource,
                f"resource type {resource.shown()} is not a registry resource (repos, all-resources)",
            )
        return VERB_PERMISSIONS[token.text.lower()]

    def permission(self, token: _Token) -> Permission:
        if token.kind == "word" and token.text.upper() in _PERMISSION_NAMES:
            return Permission(token.text.upper())
        known = ", ".join(p.value for p in Permission)
        raise self.fail(token, f"unknown permission {token.shown()} (known: {known})")

    def location(self) -> tuple[bool, tuple[str, ...]]:
        token = self.take()
        if token.is_word("tenancy"):
            return True, ()
        if not token.is_word("compartment"):
            raise self.fail(token, f"expected `tenancy` or `compartment`, found {token.shown()}")
        name = self.take()
        if name.is_word("id"):
            raise self.fail(name, "compartments named by ocid (`compartment id ...`) are not supported")
        if name.kind not in ("word", "string"):
            raise self.fail(name, f"expected a compartment name, found {name.shown()}")
        path = _unquote(name)
        if path not in self.compartments:
            known = ", ".join(f"`{c}`" for c in sorted(self.compartments)) or "none is configured"
            raise self.fail(name, f"unknown compartment `{path}` (known: {known})")
        return False, self.compartments[path]

    def conditions(self) -> tuple[tuple[tuple[_Test, ...], ...], bool]:
        head = self.peek()
        if head.is_word("all", "any") and self.peek(1).is_op("{"):
            self.take()
            self.take()
            tests = [self.condition()]
            while self.peek().is_op(","):
                self.take()
                tests.append(self.condition())
            closing = self.take()
            if not closing.is_op("}"):
                raise self.fail(closing, f"expected `,` or `}}` in the conditions, found {closing.shown()}")
            if head.is_word("any"):
                return tuple((t,) for t in tests), True
            return (tuple(tests),), False
        return ((self.condition(),),), False

    def condition(self) -> _Test:
        variable = self.take()
        if variable.kind != "word":
            raise self.fail(variable, f"expected a condition, found {variable.shown()}")
        op = self.take()
        if not (op.is_op("=") or op.is_op("!=")):
            raise self.fail(op, f"expected `=` or `!=` after `{variable.text}`, found {op.shown()}")
        value = self.take()
        if value.kind not in ("string", "pattern"):
            raise self.fail(
                value,
                f"expected a 'quoted string' or a /pattern/ after `{op.text}`, found {value.shown()}",
            )
        inner = value.text[1:-1]
        negated = op.text == "!="
        name = variable.text.lower()
        if name == _REPO_NAME:
            text = f"{_REPO_NAME} {op.text} {value.text}"
            return NameTest(text, inner, value.kind == "pattern", negated)
        if name == _PERMISSION:
            if value.kind == "string":
                return _PermissionTest(frozenset({self.permission(_Token("word", inner, value.line))}), negated)
            regex = re.compile(".*".join(map(re.escape, inner.split("*"))), re.IGNORECASE)
            matched = frozenset(p for p in Permission if regex.fullmatch(p.value))
            if not matched:
                raise self.fail(value, f"pattern {value.shown()} matches no permission")
            return _PermissionTest(matched, negated)
        raise self.fail(
            variable,
            f"condition variable `{variable.text}` is not supported ({_REPO_NAME}, {_PERMISSION})",
        )


def _unquote(token: _Token) -> str:
    return token.text[1:-1] if token.kind == "string" else token.text


def _compartment_namespaces(
    compartments: Mapping[str, tuple[str, ...]],
) -> dict[str, tuple[str, ...]]:
    """Every compartment path, with the namespace globs of it and all its sub-compartments.

    A parent named only through its children (``a:b`` configured, ``a`` not) is known too.
    """
    out: dict[str, dict[str, None]] = {}
    for path, globs in compartments.items():
        parts = path.split(":")
        for depth in range(1, len(parts) + 1):
            out.setdefault(":".join(parts[:depth]), {}).update(dict.fromkeys(globs))
    return {path: tuple(globs) for path, globs in out.items()}


# --- compiling ------------------------------------------------------------------------------


def _resources(tenancy: bool, namespaces: Iterable[str], tests: tuple[NameTest, ...]) -> tuple[ResourcePattern, ...]:
    if tenancy:
        if len(tests) == 1 and (glob := tests[0].as_glob()) is not None:
            return (ResourcePattern(glob),)
        return (RepositoryNamePattern("**", None, tests) if tests else ResourcePattern("**"),)
    globs = [g for ns in namespaces for g in (ns, f"{ns}/**")]
    if tests:
        return tuple(RepositoryNamePattern(g, None, tests) for g in globs)
    return tuple(ResourcePattern(g) for g in globs)


def _compile(parsed: _Parsed, file: str, context: DialectContext) -> list[Statement]:
    conditions: tuple[Condition, ...] = ()
    if parsed.effect is Effect.DENY and context.oci_administrators_group:
        conditions = (NotInGroup(context.oci_administrators_group),)
    out = []
    for n, disjunct in enumerate(parsed.disjuncts, start=1):
        permissions = parsed.permissions
        names: list[NameTest] = []
        for test in disjunct:
            if isinstance(test, NameTest):
                names.append(test)
            elif test.negated:
                permissions = permissions - test.permissions
            else:
                permissions = permissions & test.permissions
        actions: set[Action] = set()
        for permission in permissions:
            if permission is Permission.CREATE and not parsed.tenancy:
                continue  # create-on-push creates in the root compartment: tenancy statements only
            actions |= PERMISSION_ACTIONS[permission]
        if names:
            actions.discard(Action.CATALOG)  # listing carries no target.repo.name: condition false
        resources = _resources(parsed.tenancy, parsed.namespaces, tuple(names))
        if not actions or not resources:
            continue
        statement_id = f"{file}#{parsed.line}.{n}" if parsed.any_block else f"{file}#{parsed.line}"
        out.append(
            Statement(
                id=statement_id,
                effect=parsed.effect,
                principals=parsed.principals,
                actions=frozenset(actions),
                resources=resources,
                conditions=conditions,
                location=SourceLocation(file, parsed.line),
                dialect="oci",
            )
        )
    return out


class OciDialect:
    name = "oci"

    def compile_document(self, text: str, location: SourceLocation, context: DialectContext) -> Document:
        parser = _Parser(text, location, context)
        statements = [s for parsed in parser.statements() for s in _compile(parsed, location.file, context)]
        stem = location.file.rsplit("/", 1)[-1]
        return Document(stem, self.name, tuple(statements), location, needs_binding=False)

    def builtins(self, context: DialectContext) -> tuple[Document, ...]:
        """The tenancy's Administrators group, which "can perform any operation on any
        repository": a standing document, in force whenever any OCI document is."""
        group = context.oci_administrators_group
        if not group:
            return ()
        location = SourceLocation(f"<oci built-in {group}>")
        statement = Statement(
            id=_STATEMENT_ID_BUILTIN,
            effect=Effect.ALLOW,
            principals=(PrincipalRef(PrincipalSelector.GROUP, group),),
            actions=ALL_ACTIONS,
            resources=(ResourcePattern("**"),),
            location=location,
            dialect=self.name,
        )
        return (Document(group, self.name, (statement,), location, needs_binding=False),)

    def bind(
        self,
        document: Document,
        principals: tuple[PrincipalRef, ...],
        project: str | None,
        binding_id: str,
        context: DialectContext,
    ) -> tuple[Statement, ...]:
        # Raised at bindings.yaml: the loader moves it to the binding's line.
        raise PolicyError(
            SourceLocation("bindings.yaml"),
            f"binding `{binding_id}`: oci policy `{document.name}` names its own groups; it is not bound",
        )
