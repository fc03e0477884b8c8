"""Thalassa Cloud Container Registry IAM (seed ``000``) → statements.

Thalassa attaches *policies* (built-in or custom roles) to users, teams and service accounts
with role bindings, at the organisation or at a project. A role is a list of rules; a rule
grants permissions on IAM resources, optionally only on some resource identities. A custom
role in ``policies/thalassa/*.yaml`` (or ``.json``) has Thalassa's own shape::

    name: ci-pusher                       # optional: the file stem otherwise; what bindings name
    slug: ci-pusher                       # optional: a second name bindings may use
    description: Push built images        # optional; labels and annotations are accepted too
    rules:                                # a non-empty list
      - resources: [container_registry_namespace, container_registry_repository]   # or `*`
        permissions: [read, list, push, pull]   # create read update delete list push pull, `*`
        resource_identities: [acme, tools/builder]   # optional: a namespace (and so every
                                                     # repository in it) or one repository;
                                                     # `*` within a segment, `**` across
        note: CI pushes to acme             # optional

Built-in policies are bound by name or slug (:data:`BUILTIN_ROLES`). Neither built-ins nor
custom roles name principals: ``bindings.yaml`` attaches them, and :meth:`ThalassaDialect.bind`
narrows each binding to its scope:

- a binding at a project (``project: A``) reaches only the namespaces that
  :attr:`DialectContext.thalassa_projects` maps to ``A``; an unknown project is an error;
- an organisation binding (no ``project``) reaches every namespace of the organisation,
  project-scoped ones included: IAM bindings inherit downward, and what the seed confines is a
  project-level binding ("a principal with project-level access on project A cannot access
  project B's namespaces").

The access credential a client logs in with is an upper bound on top of policy:
:func:`credential_scope` gives the scope for Thalassa's credential scope names.
``policies/README.md (thalassa section)`` holds the mapping table and every decision taken where the seed
is silent.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any, TypeVar

from regproxy.errors import PolicyError, PolicyErrors, SourceLocation
from regproxy.identity.principal import compile_repository_glob
from regproxy.oci import grammar
from regproxy.oci.actions import Action
from regproxy.policy.dialects import Binding, DialectContext, Document, Setting
from regproxy.policy.dialects.thalassa_iam import (
    BUILTIN_NAMES,
    BUILTIN_ROLES,
    IamResource,
    Permission,
    actions_for,
)
from regproxy.policy.model import Effect, ResourcePattern, Statement
from regproxy.policy.patterns import NamespaceScopedPattern
from regproxy.sources.yamlsource import LineDict, YamlSyntaxError, at, load_yaml

# The config section `dialects.thalassa` (policies/README.md, "Configuration").
SETTINGS = (
    Setting(
        "projects",
        "globs-map",
        "thalassa_projects",
        "project name -> namespace globs scoped to it; a project-level binding reaches only these",
        legacy="thalassa_projects",
    ),
)

_E = TypeVar("_E", bound=StrEnum)

# The file bindings live in. bind() cannot know the binding's line; load.py fills it in for
# errors raised at this location without one.
_BINDINGS = SourceLocation("bindings.yaml")


# --- resource patterns ----------------------------------------------------------------------


def _namespace_in(namespace: str, globs: Iterable[str]) -> bool:
    return any(compile_repository_glob(g)(namespace) for g in globs)


def _scoped(
    pattern: ResourcePattern, within: tuple[str, ...] | None, excluded: tuple[str, ...]
) -> tuple[ResourcePattern, ...]:
    """``pattern`` intersected with a binding's namespace scope; () when that is empty."""
    literal = pattern.literal_namespace
    if literal is not None:
        # The namespace is known now: decide here and keep the plain, indexable pattern.
        if within is not None and not _namespace_in(literal, within):
            return ()
        if _namespace_in(literal, excluded):
            return ()
        return (pattern,)
    if within is not None and pattern.repository == "**":
        return tuple(ResourcePattern(g) for ns in within for g in (ns, f"{ns}/**"))
    if within is None and not excluded:
        return (pattern,)
    return (NamespaceScopedPattern(pattern.repository, pattern.tag, within, excluded),)


def _identity_patterns(identity: str) -> tuple[str, ...]:
    """A namespace covers itself and every repository under it; a repository only itself."""
    if "/" in identity or "**" in identity:
        return (identity,)
    return (identity, f"{identity}/**")


# --- the dialect ----------------------------------------------------------------------------

_ROLE_KEYS = frozenset({"name", "slug", "description", "labels", "annotations", "rules"})
_RULE_KEYS = frozenset({"resources", "permissions", "resource_identities", "note"})


class ThalassaDialect:
    name = "thalassa"

    def compile_document(self, text: str, location: SourceLocation, context: DialectContext) -> Document:
        try:
            data = load_yaml(text)
        except YamlSyntaxError as exc:
            raise PolicyError(SourceLocation(location.file, exc.line), exc.message) from exc
        if not isinstance(data, LineDict):
            raise PolicyError(location, "a thalassa role is a mapping with `rules`")
        where = at(location, data)
        errors: list[PolicyError] = []  # every error of the role and of each rule, in one run
        unknown = set(data) - _ROLE_KEYS
        if unknown:
            errors.append(PolicyError(where, f"unknown key `{sorted(unknown)[0]}` in role"))
        stem = location.file.rsplit("/", 1)[-1].rsplit(".", 1)[0].removesuffix(".thalassa")
        name, aliases = stem, tuple[str, ...]()
        try:
            name = _optional_name(data, "name", where) or stem
            slug = _optional_name(data, "slug", where)
            aliases = (slug,) if slug and slug != name else ()
        except PolicyError as exc:
            errors.append(exc)
        for role_name in (name, *aliases):
            if role_name in BUILTIN_NAMES:
                errors.append(PolicyError(where, f"role name `{role_name}` is a built-in thalassa policy"))
        for key in ("labels", "annotations"):
            if key in data and not isinstance(data[key], dict):
                errors.append(PolicyError(where, f"`{key}` must be a mapping"))
        if "description" in data and not isinstance(data["description"], str):
            errors.append(PolicyError(where, "`description` must be a string"))
        rules = data.get("rules")
        if not isinstance(rules, list) or not rules:
            errors.append(PolicyError(where, "`rules` must be a non-empty list"))
            rules = []
        statements: list[Statement] = []
        for n, raw in enumerate(rules, start=1):
            try:
                statement = _parse_rule(raw, at(where, raw), name, n)
            except PolicyError as exc:
                errors.append(exc)
                continue
            if statement is not None:
                statements.append(statement)
        PolicyErrors.raise_any(errors)
        return Document(name, self.name, tuple(statements), location, needs_binding=True, aliases=aliases)

    def builtins(self, context: DialectContext) -> tuple[Document, ...]:
        return _BUILTIN_DOCUMENTS

    def bind(self, document: Document, binding: Binding, context: DialectContext) -> tuple[Statement, ...]:
        projects = context.thalassa_projects
        within: tuple[str, ...] | None
        excluded: tuple[str, ...] = ()
        if binding.project is None:
            # IAM inherits downward: an organisation binding reaches every namespace of the
            # organisation, project-scoped ones included.
            within = None
        elif binding.project in projects:
            within = tuple(projects[binding.project])
        else:
            known = ", ".join(f"`{p}`" for p in sorted(projects)) or "none is configured"
            raise PolicyError(
                _BINDINGS,
                f"binding `{binding.id}`: unknown thalassa project `{binding.project}` (known: {known})",
            )
        out: list[Statement] = []
        for template in document.statements:
            resources = tuple(p for r in template.resources for p in _scoped(r, within, excluded))
            if not resources:
                continue
            out.append(
                Statement(
                    id=f"{binding.id}/{template.id}",
                    effect=Effect.ALLOW,
                    principals=binding.principals,
                    actions=template.actions,
                    resources=resources,
                    location=template.location,
                    dialect=self.name,
                )
            )
        return tuple(out)


def _template(
    name: str,
    n: int,
    actions: frozenset[Action],
    identities: tuple[str, ...],
    location: SourceLocation,
) -> Statement:
    """A rule as an unbound statement: no principals, resources not yet scoped to a binding."""
    globs = tuple(dict.fromkeys(g for i in identities for g in _identity_patterns(i))) or ("**",)
    return Statement(
        id=f"{name}#{n}",
        effect=Effect.ALLOW,
        principals=(),
        actions=actions,
        resources=tuple(ResourcePattern(g) for g in globs),
        location=location,
        dialect="thalassa",
    )


def _build_builtins() -> tuple[Document, ...]:
    documents = []
    for role in BUILTIN_ROLES:
        location = SourceLocation(f"<thalassa built-in {role.name}>")
        statements = tuple(
            _template(role.name, n, actions, (), location)
            for n, (resources, permissions) in enumerate(role.rules, start=1)
            if (actions := actions_for(resources, permissions))
        )
        documents.append(
            Document(
                role.name,
                "thalassa",
                statements,
                location,
                needs_binding=True,
                aliases=role.aliases,
            )
        )
    return tuple(documents)


_BUILTIN_DOCUMENTS = _build_builtins()


def _optional_name(data: LineDict, key: str, where: SourceLocation) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise PolicyError(where, f"`{key}` must be a non-empty string")
    return value


def _parse_rule(raw: Any, where: SourceLocation, role: str, n: int) -> Statement | None:
    if not isinstance(raw, LineDict):
        raise PolicyError(where, f"rule {n} must be a mapping with `resources` and `permissions`")
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise PolicyError(where, f"unknown key `{sorted(unknown)[0]}` in rule {n}")
    resources = _words(raw, "resources", where, n, IamResource)
    permissions = _words(raw, "permissions", where, n, Permission)
    identities: tuple[str, ...] = ()
    if "resource_identities" in raw:
        value = raw["resource_identities"]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise PolicyError(where, f"rule {n}: `resource_identities` must be a non-empty list of names")
        for identity in value:
            literal = identity.replace("**", "a").replace("*", "a")
            if not grammar.is_name(literal):
                raise PolicyError(
                    where,
                    f"rule {n}: resource identity `{identity}` is not a namespace or repository name",
                )
        identities = tuple(value)
    if "note" in raw and not isinstance(raw["note"], str):
        raise PolicyError(where, f"rule {n}: `note` must be a string")
    actions = actions_for(resources, permissions)
    if not actions:
        return None  # a valid rule that names no registry-API request (e.g. configuration)
    return _template(role, n, actions, identities, where)


def _words(raw: LineDict, key: str, where: SourceLocation, n: int, kind: type[_E]) -> frozenset[_E]:
    value = raw.get(key)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise PolicyError(where, f"rule {n}: `{key}` must be a non-empty list of strings")
    if "*" in value:
        return frozenset(kind)
    out: set[_E] = set()
    for word in value:
        try:
            out.add(kind(word))
        except ValueError:
            known = ", ".join(k.value for k in kind)
            what = "resource" if kind is IamResource else "permission"
            raise PolicyError(where, f"rule {n}: unknown {what} `{word}` (known: {known}, *)") from None
    return frozenset(out)
