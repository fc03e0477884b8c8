"""Dialect compilers: each cloud's policy language (and the native one) → :class:`Statement`.

A dialect turns one document's text into a :class:`Document`. Documents written for a cloud
where policies are *attached* to identities (Thalassa, Tencent CAM, Alibaba RAM) carry no
principals of their own: ``bindings.yaml`` attaches them, and the dialect's :meth:`Dialect.bind`
turns (document, principals, project) into bound statements — Thalassa narrows a project-level
binding to that project's namespaces there. Native and OCI documents name their principals.

The deployment facts a dialect needs (Thalassa projects, OCI compartments, Alibaba region and
account) come from the config as a :class:`DialectContext`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Protocol

from regproxy.errors import PolicyError, SourceLocation
from regproxy.policy.model import PrincipalRef, Statement


def _empty() -> Mapping[str, tuple[str, ...]]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class DialectContext:
    """Deployment facts the cloud dialects map onto repositories."""

    # Thalassa: project name -> namespace globs that are project-scoped to it. Namespaces in
    # no project are organisation-scoped.
    thalassa_projects: Mapping[str, tuple[str, ...]] = field(default_factory=_empty)
    # OCI: compartment path ("acme-compartment", "acme-compartment:child") -> namespace globs.
    # The tenancy (root compartment) holds every namespace.
    oci_compartments: Mapping[str, tuple[str, ...]] = field(default_factory=_empty)
    # OCI: the group whose members may do anything (the tenancy's Administrators group).
    oci_administrators_group: str = "Administrators"
    # Alibaba: this deployment's region and account, matched against RAM resource ARNs.
    alibaba_region: str = "local"
    alibaba_account: str = "0"
    # Alibaba: the principals that are the Alibaba Cloud account itself ("an Alibaba Cloud
    # account has full access to all resources it owns"): `user:NAME` / `service-account:NAME`.
    alibaba_account_owners: tuple[str, ...] = ()

    def __reduce__(self) -> tuple[Callable[..., DialectContext], tuple[tuple[str, object], ...]]:
        # The supervisor hands each worker its config pickled, and a mappingproxy does not
        # pickle: the read-only maps travel as plain dicts and are wrapped again on arrival.
        values = ((f.name, getattr(self, f.name)) for f in fields(self))
        return _rebuild_context, tuple((k, dict(v) if isinstance(v, MappingProxyType) else v) for k, v in values)


def _rebuild_context(*items: tuple[str, object]) -> DialectContext:
    return DialectContext(**{k: MappingProxyType(v) if isinstance(v, dict) else v for k, v in items})  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Setting:
    """One key of a dialect's own section of the config (``dialects.<dialect>.<key>``)."""

    key: str  # within the section: `projects`
    kind: str  # `globs-map` (name -> namespace globs), `str`, or `principals` (list of refs)
    field: str  # the DialectContext field it sets
    help: str  # one line for the README's configuration table
    legacy: str | None = None  # the flat spelling `dialects.<legacy>` older configs use


@dataclass(frozen=True, slots=True)
class Document:
    """One compiled policy document."""

    name: str  # the file stem, or a built-in policy's name
    dialect: str
    statements: tuple[Statement, ...]
    location: SourceLocation
    needs_binding: bool  # True when principals come from bindings.yaml
    aliases: tuple[str, ...] = ()  # other names a binding may use (Thalassa slugs)
    # Accepted as the cloud accepts it, but probably not what the author meant (a statement
    # that matches nothing); `regproxy check` prints these.
    warnings: tuple[PolicyError, ...] = ()


@dataclass(frozen=True, slots=True)
class Binding:
    """Where ``bindings.yaml`` attaches a document: to whom, at which project, under which id."""

    principals: tuple[PrincipalRef, ...]
    project: str | None
    id: str


class Dialect(Protocol):
    name: str

    def compile_document(self, text: str, location: SourceLocation, context: DialectContext) -> Document:
        """Parse and validate one document; raise ``PolicyError`` with file and line."""
        ...

    def builtins(self, context: DialectContext) -> tuple[Document, ...]:
        """The cloud's built-in (system, preset) policies, bindable by name."""
        ...

    def bind(self, document: Document, binding: Binding, context: DialectContext) -> tuple[Statement, ...]:
        """The document's statements attached to ``binding.principals`` (at its project if given)."""
        ...


class NamesItsPrincipals:
    """What a dialect whose documents name their own principals (native, OCI) needs of the
    protocol's binding side: no built-ins unless it says so, and a binding is refused."""

    name: str
    principals_word = "principals"

    def builtins(self, context: DialectContext) -> tuple[Document, ...]:
        return ()

    def bind(self, document: Document, binding: Binding, context: DialectContext) -> tuple[Statement, ...]:
        # Raised at bindings.yaml: the loader moves it to the binding's line.
        raise PolicyError(
            SourceLocation("bindings.yaml"),
            f"binding `{binding.id}`: {self.name} policy `{document.name}` names its own {self.principals_word}; "
            "it is not bound",
        )
