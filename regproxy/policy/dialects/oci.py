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

The grammar (text → :class:`~regproxy.policy.dialects.oci_grammar.Parsed`, no context) lives in
:mod:`regproxy.policy.dialects.oci_grammar`; this module compiles the tree against the
deployment's compartments. ``policies/README.md (oci section)`` holds the tables and every
decision taken where the seed is silent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from regproxy.errors import PolicyError, PolicyErrors, SourceLocation
from regproxy.oci.actions import ALL_ACTIONS, DELETE_ACTIONS, Action
from regproxy.policy.conditions import NotInGroup
from regproxy.policy.dialects import DialectContext, Document, NamesItsPrincipals, Setting
from regproxy.policy.dialects.oci_grammar import Parsed, Parser, Permission
from regproxy.policy.model import (
    Condition,
    Effect,
    PrincipalRef,
    PrincipalSelector,
    ResourcePattern,
    Statement,
)
from regproxy.policy.patterns import NameTest, RepositoryNamePattern

__all__ = ["OciDialect", "Permission", "RepositoryNamePattern"]

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


PERMISSION_ACTIONS: Mapping[Permission, frozenset[Action]] = {
    Permission.INSPECT: frozenset({Action.CATALOG}),  # list the repositories
    Permission.READ: frozenset({Action.PULL, Action.LIST}),  # pull layers and manifests
    Permission.UPDATE: frozenset({Action.PUSH, Action.TAG_CREATE, Action.TAG_OVERWRITE}),
    Permission.CREATE: frozenset({Action.CREATE_REPOSITORY}),  # only in tenancy: see above
    Permission.DELETE: DELETE_ACTIONS,
    Permission.MANAGE: frozenset(),  # public/private and other metadata: no registry-API request
}

_STATEMENT_ID_BUILTIN = "oci-builtin#Administrators"


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


def _compile(
    parsed: Parsed, file: str, context: DialectContext, compartments: Mapping[str, tuple[str, ...]]
) -> list[Statement]:
    tenancy = parsed.compartment is None
    namespaces: tuple[str, ...] = ()
    if parsed.compartment is not None:
        if parsed.compartment not in compartments:
            known = ", ".join(f"`{c}`" for c in sorted(compartments)) or "none is configured"
            raise PolicyError(
                SourceLocation(file, parsed.compartment_line),
                f"unknown compartment `{parsed.compartment}` (known: {known})",
            )
        namespaces = compartments[parsed.compartment]
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
            if permission is Permission.CREATE and not tenancy:
                continue  # create-on-push creates in the root compartment: tenancy statements only
            actions |= PERMISSION_ACTIONS[permission]
        if names:
            actions.discard(Action.CATALOG)  # listing carries no target.repo.name: condition false
        resources = _resources(tenancy, namespaces, tuple(names))
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


class OciDialect(NamesItsPrincipals):
    principals_word = "groups"  # an OCI statement names its groups
    name = "oci"

    def compile_document(self, text: str, location: SourceLocation, context: DialectContext) -> Document:
        compartments = _compartment_namespaces(context.oci_compartments)
        parsed, errors = Parser(text, location).parse()
        statements: list[Statement] = []
        for one in parsed:
            try:
                statements.extend(_compile(one, location.file, context, compartments))
            except PolicyError as exc:
                errors.append(exc)
        PolicyErrors.raise_any(sorted(errors, key=lambda e: e.location.line))
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
