"""The OCI policy grammar: text → :class:`Parsed` statements (a syntax tree), with no deployment
context. :mod:`regproxy.policy.dialects.oci` compiles the tree against the deployment's
compartments. The grammar, with what each element means, is in that module's docstring and in
policies/README.md (oci section).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from regproxy.errors import PolicyError, PolicyErrors, SourceLocation
from regproxy.policy.model import Effect, PrincipalRef, PrincipalSelector
from regproxy.policy.patterns import NameTest


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

RESOURCE_TYPES = frozenset({"repos", "all-resources"})
_PERMISSION_NAMES = frozenset(p.value for p in Permission)
_REPO_NAME = "target.repo.name"
_PERMISSION = "request.permission"


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


def _tokens(text: str, location: SourceLocation, errors: list[PolicyError]) -> list[_Token]:
    """The tokens of ``text``; a character no token starts with is an error in ``errors``, skipped."""
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
                errors.append(PolicyError(where, "values are quoted with single quotes ('...')"))
            else:
                errors.append(PolicyError(where, f"unexpected character `{m.group()}`"))
        elif kind != "space":
            out.append(_Token(kind, m.group(), line))
    out.append(_Token("end", "", out[-1].line if out else line))  # errors point at the last word
    return out


# --- parsed statements ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PermissionTest:
    """``request.permission`` = or != a permission (or a /pattern/ of them)."""

    permissions: frozenset[Permission]
    negated: bool


Test = NameTest | PermissionTest


@dataclass(frozen=True, slots=True)
class Parsed:
    """One statement as written: the syntax tree the compiler turns into model statements."""

    effect: Effect
    principals: tuple[PrincipalRef, ...]
    permissions: frozenset[Permission]
    compartment: str | None  # None: in tenancy; else the compartment path as written
    compartment_line: int
    disjuncts: tuple[tuple[Test, ...], ...]  # OR of ANDs; ((),) when there is no `where`
    any_block: bool
    line: int


class Parser:
    """OCI policy text → :class:`Parsed` statements; knows nothing of the deployment."""

    def __init__(self, text: str, location: SourceLocation) -> None:
        self._token_errors: list[PolicyError] = []
        self.tokens = _tokens(text, location, self._token_errors)
        self.pos = 0
        self.file = location.file

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

    def statements(self) -> list[Parsed]:
        """Every statement; raises every error of the document together."""
        parsed, errors = self.parse()
        PolicyErrors.raise_any(errors)
        return parsed

    def parse(self) -> tuple[list[Parsed], list[PolicyError]]:
        """The statements that parse and the first error of each one that does not: after an
        error, parsing resumes at the next line that starts with a statement's first word."""
        out: list[Parsed] = []
        errors: list[PolicyError] = []
        while self.peek().kind != "end":
            start = self.pos
            try:
                token = self.peek()
                if self.pos > 0 and self.tokens[self.pos - 1].line == token.line:
                    # Statement ids are <file>#<line>: each statement starts on a line of its own.
                    if token.is_word("allow", "deny"):
                        raise self.fail(token, "a second statement starts on this line; start it on a new line")
                    raise self.fail(token, f"unexpected {token.shown()} after the statement")
                out.append(self.statement())
            except PolicyError as exc:
                errors.append(exc)
                self._resume(start)
        # the first bad character is the error of its line: the rest of that line is noise
        first_bad = {e.location.line: e for e in reversed(self._token_errors)}
        errors = [*first_bad.values(), *(e for e in errors if e.location.line not in first_bad)]
        return out, sorted(errors, key=lambda e: e.location.line)

    def _resume(self, start: int) -> None:
        self.pos = max(self.pos, start + 1)
        while self.peek().kind != "end":
            token, previous = self.peek(), self.tokens[self.pos - 1]
            if previous.line < token.line and token.is_word("allow", "deny", "endorse", "admit", "define"):
                return
            self.pos += 1

    def statement(self) -> Parsed:
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
        compartment, compartment_line = self.location()
        disjuncts: tuple[tuple[Test, ...], ...] = ((),)
        any_block = False
        if self.peek().is_word("where"):
            self.take()
            disjuncts, any_block = self.conditions()
        return Parsed(effect, principals, permissions, compartment, compartment_line, disjuncts, any_block, first.line)

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

    def location(self) -> tuple[str | None, int]:
        """``(None, line)`` for the tenancy, else the compartment path as written and its line."""
        token = self.take()
        if token.is_word("tenancy"):
            return None, token.line
        if not token.is_word("compartment"):
            raise self.fail(token, f"expected `tenancy` or `compartment`, found {token.shown()}")
        name = self.take()
        if name.is_word("id"):
            raise self.fail(name, "compartments named by ocid (`compartment id ...`) are not supported")
        if name.kind not in ("word", "string"):
            raise self.fail(name, f"expected a compartment name, found {name.shown()}")
        return _unquote(name), name.line

    def conditions(self) -> tuple[tuple[tuple[Test, ...], ...], bool]:
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

    def condition(self) -> Test:
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
                return PermissionTest(frozenset({self.permission(_Token("word", inner, value.line))}), negated)
            regex = re.compile(".*".join(map(re.escape, inner.split("*"))), re.IGNORECASE)
            matched = frozenset(p for p in Permission if regex.fullmatch(p.value))
            if not matched:
                raise self.fail(value, f"pattern {value.shown()} matches no permission")
            return PermissionTest(matched, negated)
        raise self.fail(
            variable,
            f"condition variable `{variable.text}` is not supported ({_REPO_NAME}, {_PERMISSION})",
        )


def _unquote(token: _Token) -> str:
    return token.text[1:-1] if token.kind == "string" else token.text
