"""A policies directory's texts → one validated :class:`PolicySet` (pure: no file access).

Layout of a policies directory (the dialect of a document is the directory it sits in)::

    policies/
      *.yaml            native documents
      bindings.yaml     attaches Thalassa / Tencent / Alibaba documents (and built-ins) to
                        principals, optionally at a Thalassa project
      native/*.yaml     native documents too
      thalassa/*.yaml   Thalassa custom roles
      oci/*.policy      OCI policy statements, one per line
      tencent/*.json    Tencent CAM documents (version 2.0)
      alibaba/*.json    Alibaba RAM documents (Version 1)

A Kubernetes ConfigMap cannot hold sub-directories, so the dialect may also be written in the
file name instead: ``x.thalassa.yaml``, ``x.policy`` (OCI), ``x.tencent.json``,
``x.alibaba.json``; any other ``*.yaml`` at the top is native, but ``*.test.yaml``: decision
tests (``regproxy test``), as is anything in a ``tests/`` sub-directory.

A set with any error is refused whole: :class:`PolicySetInvalid` carries every error found.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from regproxy.errors import PolicyError, PolicyErrors, RegproxyError, SourceLocation
from regproxy.policy.dialects import Binding, DialectContext, Document
from regproxy.policy.dialects.registry import DIALECTS
from regproxy.policy.model import PolicySet, PrincipalRef, Statement
from regproxy.sources.yamlsource import LineDict, YamlSyntaxError, at, load_yaml

BINDINGS_FILE = "bindings.yaml"
TEST_SUFFIXES = (".test.yaml", ".test.yml")  # decision tests beside the documents, not policies
SUFFIXES = {
    "native": (".yaml", ".yml"),
    "thalassa": (".yaml", ".yml", ".json"),
    "oci": (".policy", ".txt"),
    "tencent": (".json",),
    "alibaba": (".json",),
}


class PolicySetInvalid(RegproxyError):
    def __init__(self, errors: list[PolicyError]) -> None:
        super().__init__(f"{len(errors)} error(s) in the policy set; first: {errors[0]}")
        self.errors = errors


@dataclass(frozen=True, slots=True)
class _Binding:
    id: str
    policy: str
    dialect: str | None
    principals: tuple[PrincipalRef, ...]
    project: str | None
    location: SourceLocation


def dialect_of(relative_path: str) -> str | None:
    """The dialect of a file in the policies directory, or None when it is not a policy."""
    parts = relative_path.split("/")
    if len(parts) == 1:
        name = parts[0]
        if name == BINDINGS_FILE or name.startswith(".") or name.endswith(TEST_SUFFIXES):
            return None
        for dialect in ("thalassa", "tencent", "alibaba", "oci"):
            if any(name.endswith(f".{dialect}{suffix}") for suffix in SUFFIXES[dialect]):
                return dialect
        if name.endswith(".policy"):
            return "oci"
        return "native" if name.endswith(SUFFIXES["native"]) else None
    if len(parts) == 2 and parts[0] in SUFFIXES and parts[1].endswith(SUFFIXES[parts[0]]):
        return parts[0]
    return None


def compile_policy_set(
    files: Mapping[str, str],
    context: DialectContext,
    generation: int,
    extra: tuple[Statement, ...] = (),
) -> PolicySet:
    """Compile every document and binding; raise :class:`PolicySetInvalid` on any error.

    ``extra`` statements (from the config, such as public repositories) join the set.
    """
    errors: list[PolicyError] = []
    documents: list[Document] = []
    for name in sorted(files):
        dialect_name = dialect_of(name)
        if dialect_name is None or dialect_name not in DIALECTS:
            continue
        try:
            documents.append(DIALECTS[dialect_name].compile_document(files[name], SourceLocation(name, 0), context))
        except PolicyErrors as exc:
            errors.extend(exc.errors)
        except PolicyError as exc:
            errors.append(exc)

    statements: list[Statement] = list(extra)
    statements.extend(s for d in documents if not d.needs_binding for s in d.statements)
    # Standing built-ins (needs_binding=False, e.g. OCI's Administrators group) are in force
    # whenever at least one document of their dialect is. Alibaba's account owners are named in
    # the config's alibaba section, which is itself the sign that the deployment uses Alibaba.
    in_use = {d.dialect for d in documents}
    if context.alibaba_account_owners:
        in_use.add("alibaba")
    for dialect_name in sorted(in_use):
        for builtin in DIALECTS[dialect_name].builtins(context):
            if not builtin.needs_binding:
                statements.extend(builtin.statements)
    if BINDINGS_FILE in files:
        try:
            bindings = _parse_bindings(files[BINDINGS_FILE])
        except PolicyError as exc:
            errors.append(exc)
            bindings = []
        bindable = _bindable(documents, context)
        for binding in bindings:
            try:
                statements.extend(_apply(binding, bindable, context))
            except PolicyError as exc:
                errors.append(exc)

    seen: dict[str, Statement] = {}
    for s in statements:
        if s.id in seen:
            errors.append(PolicyError(s.location, f"statement id `{s.id}` is also used at {seen[s.id].location}"))
        seen[s.id] = s
    if errors:
        raise PolicySetInvalid(errors)
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    return PolicySet(
        statements=tuple(statements),
        generation=generation,
        content_hash="sha256:" + digest.hexdigest(),
        files=tuple(sorted(n for n in files if dialect_of(n) or n == BINDINGS_FILE)),
        warnings=tuple(str(w) for d in documents for w in d.warnings),
    )


def _bindable(documents: list[Document], context: DialectContext) -> dict[tuple[str, str], Document]:
    """(dialect, name) -> document, for documents and built-ins that bindings may attach."""
    out: dict[tuple[str, str], Document] = {}
    for dialect_name, dialect in DIALECTS.items():
        for doc in dialect.builtins(context):
            for name in (doc.name, *doc.aliases):
                out[(dialect_name, name)] = doc
    for doc in documents:
        if doc.needs_binding:
            for name in (doc.name, *doc.aliases):
                out[(doc.dialect, name)] = doc
    return out


def _apply(
    binding: _Binding, bindable: dict[tuple[str, str], Document], context: DialectContext
) -> tuple[Statement, ...]:
    candidates = [
        doc
        for (dialect, name), doc in bindable.items()
        if name == binding.policy and (binding.dialect is None or binding.dialect == dialect)
    ]
    unique = {id(d): d for d in candidates}
    if not unique:
        raise PolicyError(binding.location, f"binding `{binding.id}`: no policy named `{binding.policy}`")
    if len(unique) > 1:
        raise PolicyError(
            binding.location,
            f"binding `{binding.id}`: `{binding.policy}` is ambiguous; add `dialect:`",
        )
    doc = next(iter(unique.values()))
    dialect = DIALECTS[doc.dialect]
    try:
        return dialect.bind(doc, Binding(binding.principals, binding.project, binding.id), context)
    except PolicyError as exc:
        # bind() cannot know the binding's line: an error it raises at bindings.yaml gets it here.
        if exc.location == SourceLocation(BINDINGS_FILE, 0):
            raise PolicyError(binding.location, exc.message) from exc
        raise


def _parse_bindings(text: str) -> list[_Binding]:
    location = SourceLocation(BINDINGS_FILE, 0)
    try:
        data = load_yaml(text)
    except YamlSyntaxError as exc:
        raise PolicyError(SourceLocation(BINDINGS_FILE, exc.line), exc.message) from exc
    if data is None:
        return []
    if not isinstance(data, LineDict) or not isinstance(data.get("bindings"), list):
        raise PolicyError(at(location, data), "bindings.yaml holds a `bindings` list")
    out: list[_Binding] = []
    ids: set[str] = set()
    for n, item in enumerate(data["bindings"], start=1):
        where = at(location, item)
        if not isinstance(item, LineDict):
            raise PolicyError(where, "a binding is a mapping")
        unknown = set(item) - {"id", "policy", "dialect", "principals", "project"}
        if unknown:
            raise PolicyError(where, f"unknown key `{sorted(unknown)[0]}` in binding")
        policy = item.get("policy")
        if not isinstance(policy, str) or not policy:
            raise PolicyError(where, "binding needs a `policy` name")
        bid = str(item.get("id") or f"binding-{n}")
        if bid in ids:
            raise PolicyError(where, f"binding id `{bid}` is repeated")
        ids.add(bid)
        raw_principals = item.get("principals")
        if isinstance(raw_principals, str):
            raw_principals = [raw_principals]
        if not isinstance(raw_principals, list) or not raw_principals:
            raise PolicyError(where, f"binding `{bid}`: `principals` must be a non-empty list")
        try:
            principals = tuple(PrincipalRef.parse(str(p)) for p in raw_principals)
        except ValueError as exc:
            raise PolicyError(where, f"binding `{bid}`: {exc}") from None
        dialect = item.get("dialect")
        if dialect is not None and dialect not in DIALECTS:
            raise PolicyError(where, f"binding `{bid}`: unknown dialect `{dialect}`")
        project = item.get("project")
        out.append(_Binding(bid, policy, dialect, principals, None if project is None else str(project), where))
    return out
