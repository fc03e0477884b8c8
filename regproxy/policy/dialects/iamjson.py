"""One compiler for the IAM-JSON policy languages (Tencent CAM, Alibaba RAM), parameterised by
each cloud's :class:`Vocabulary`.

Both clouds write a document as a version and a list of statements, each with an effect,
actions, resources and optional conditions; both check each action against one kind of resource
(a repository, a tag, a namespace listing…); both combine conditions the same way. What differs
is words: element names and their case, the version string, the action table and how action
names match, the resource syntax, the condition operators and keys, whether statements carry a
``Sid`` and whether ``NotAction`` exists. A dialect module is that vocabulary.

Compilation: every action a statement names (or, with ``NotAction``, every known action it does
not name) is reached through the statement's resources at the level the cloud checks it at;
(patterns → regproxy actions) pairs become model statements (:func:`build_statements`), so a
statement whose actions are checked against different resources never widens one by another.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from regproxy.errors import PolicyError, PolicyErrors, SourceLocation
from regproxy.oci.actions import Action
from regproxy.policy.dialects import DialectContext, Document
from regproxy.policy.dialects.attached import build_statements, ip_condition, time_condition
from regproxy.policy.jsonsource import JsonArray, JsonObject, JsonSyntaxError, at, at_key, load_json, string_list
from regproxy.policy.model import Condition, Effect, ResourcePattern, Statement


@dataclass(frozen=True, slots=True)
class CloudAction:
    """One action of a cloud's table: which resource it is checked against, what it allows here."""

    name: str  # as the cloud spells it ("ccr:pull", "cr:PullRepository")
    level: str  # the dialect's Level: which resource string the cloud checks it against
    actions: frozenset[Action]

    @property
    def service(self) -> str:
        return self.name.partition(":")[0]


class Resource(Protocol):
    """One parsed resource entry: the patterns through which it reaches an action."""

    def reach(self, action: CloudAction) -> tuple[ResourcePattern, ...]: ...


def pascal_case(snake: str) -> str:
    """``not_action`` → ``NotAction``: RAM's element names."""
    return "".join(part.capitalize() for part in snake.split("_"))


def date_operators(case: Callable[[str], str], equal: str) -> dict[str, str]:
    """The six date comparisons as a language spells them (CAM ``date_less_than_equal``, RAM
    ``DateLessThanEquals``) → ``eq``, ``ne``, ``lt``, ``le``, ``gt``, ``ge``."""
    words = (
        (equal, "eq"),
        (f"not_{equal}", "ne"),
        ("less_than", "lt"),
        (f"less_than_{equal}", "le"),
        ("greater_than", "gt"),
        (f"greater_than_{equal}", "ge"),
    )
    return {case(f"date_{word}"): op for word, op in words}


@dataclass(frozen=True, slots=True)
class Keys:
    """The element names of one language, spelt as it requires."""

    version: str
    statement: str
    effect: str
    action: str
    resource: str
    condition: str
    sid: str | None = None  # statements may carry an id (RAM `Sid`)
    not_action: str | None = None  # the complement form (RAM `NotAction`)

    @classmethod
    def spelt(cls, case: Callable[[str], str], *, sid: bool = False, not_action: bool = False) -> Keys:
        """The element names in one casing (``str.lower``: CAM; ``_pascal``: RAM), with the
        optional elements the language has."""
        return cls(
            version=case("version"),
            statement=case("statement"),
            effect=case("effect"),
            action=case("action"),
            resource=case("resource"),
            condition=case("condition"),
            sid=case("sid") if sid else None,
            not_action=case("not_action") if not_action else None,
        )

    def document(self) -> frozenset[str]:
        return frozenset({self.version, self.statement})

    def statement_keys(self) -> frozenset[str]:
        optional = {k for k in (self.sid, self.not_action) if k}
        return frozenset({self.effect, self.action, self.resource, self.condition, *optional})


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """Everything one cloud's IAM-JSON language says differently."""

    dialect: str
    service: str  # "CAM", "RAM": how errors name the language
    keys: Keys
    version: str  # the only accepted version string
    element_case: str  # "lower-case", "PascalCase": the error hint for a mis-cased name
    effects: tuple[str, str]  # the spelling of allow and deny in messages
    expand_action: Callable[[str, SourceLocation], tuple[list[CloudAction], bool]]  # (found, explicit)
    parse_resource: Callable[[str, SourceLocation, DialectContext], Resource]
    known_actions: Mapping[str, CloudAction]  # NotAction's universe, by the normalised name
    normalise: Callable[[str], str]  # how the action table is keyed (case-folded or not)
    ip_operators: Mapping[str, bool]  # operator -> negated
    date_operators: Mapping[str, str]  # operator -> eq, ne, lt, le, gt, ge
    ip_key: str
    time_key: str
    condition_keys_case_sensitive: bool
    principal_message: str
    # An explicit action no resource of its statement can reach: the warning, or None when the
    # cloud's users would not expect one.
    unreachable: Callable[[CloudAction], str | None] = field(default=lambda action: None)
    # Other keys with a hint of their own (RAM `NotResource`), by lower-cased name.
    key_hints: Mapping[str, str] = field(default_factory=dict)
    # Condition keys refused with a reason of their own (RAM `acs:SecureTransport`), lower-cased.
    refused_condition_keys: Mapping[str, str] = field(default_factory=dict)


def compile_iam_json(
    text: str, location: SourceLocation, name: str, vocabulary: Vocabulary, context: DialectContext
) -> Document:
    """One document → a :class:`Document` of statements waiting for their principals."""
    v, k = vocabulary, vocabulary.keys
    try:
        data = load_json(text)
    except JsonSyntaxError as exc:
        raise PolicyError(SourceLocation(location.file, exc.line), exc.message) from exc
    if not isinstance(data, JsonObject):
        raise PolicyError(location, f"a {v.service} policy is a JSON object with `{k.version}` and `{k.statement}`")
    where = at(location, data)
    _check_keys(data, k.document(), where, "policy", v)
    if k.version not in data:
        raise PolicyError(where, f'`{k.version}` is required ({v.service} policies are {k.version} "{v.version}")')
    if data[k.version] != v.version:
        shown = data[k.version] if isinstance(data[k.version], str) else repr(data[k.version])
        raise PolicyError(
            at_key(location, data, k.version), f'`{k.version}` must be the string "{v.version}", not `{shown}`'
        )
    raw = data.get(k.statement)
    if not isinstance(raw, JsonArray) or not raw:
        raise PolicyError(where, f"`{k.statement}` must be a non-empty list of statements")
    statements: list[Statement] = []
    warnings: list[PolicyError] = []
    errors: list[PolicyError] = []  # every statement's first error, not only the document's first
    ids: set[str] = set()
    for index, item in enumerate(raw):
        item_where = SourceLocation(location.file, raw.line_of(index))
        try:
            if not isinstance(item, JsonObject):
                raise PolicyError(item_where, "a statement is a JSON object")
            sid = _sid(item, item_where, index, k)
            if sid in ids:
                raise PolicyError(item_where, f"statement id `{sid}` is used twice (check `{k.sid}`)")
            ids.add(sid)
            statements.extend(_statement(item, item_where, f"{name}#{sid}", v, context, warnings))
        except PolicyError as exc:
            errors.append(exc)
    PolicyErrors.raise_any(errors)
    return Document(name, v.dialect, tuple(statements), location, needs_binding=True, warnings=tuple(warnings))


def _sid(item: JsonObject, location: SourceLocation, index: int, k: Keys) -> str:
    if k.sid is None or k.sid not in item:
        return str(index)
    sid = item[k.sid]
    if not isinstance(sid, str) or not sid.strip():
        raise PolicyError(at_key(location, item, k.sid), f"`{k.sid}` must be a non-empty string")
    return sid.strip()


def _statement(
    item: JsonObject,
    location: SourceLocation,
    sid: str,
    v: Vocabulary,
    context: DialectContext,
    warnings: list[PolicyError],
) -> list[Statement]:
    k = v.keys
    _check_keys(item, k.statement_keys(), location, "statement", v)
    required = (k.effect, k.resource) if k.not_action else (k.effect, k.action, k.resource)
    for key in required:
        if key not in item:
            raise PolicyError(location, f"statement needs `{key}`")
    if k.not_action and (k.action in item) == (k.not_action in item):
        raise PolicyError(location, f"statement needs exactly one of `{k.action}` and `{k.not_action}`")
    effect_text = item[k.effect]
    if not isinstance(effect_text, str) or effect_text.lower() not in ("allow", "deny"):
        allow, deny = v.effects
        raise PolicyError(at_key(location, item, k.effect), f"`{k.effect}` must be `{allow}` or `{deny}`")

    key = k.action if k.action in item else str(k.not_action)
    named: dict[str, CloudAction] = {}
    explicit: list[tuple[CloudAction, SourceLocation]] = []
    for word, where in _strings(item, key, location):
        found, is_explicit = v.expand_action(word, where)
        named.update((v.normalise(a.name), a) for a in found)
        if is_explicit:
            explicit.extend((a, where) for a in found)
    chosen = list(named.values()) if key == k.action else [a for n, a in v.known_actions.items() if n not in named]
    resources = [v.parse_resource(word, where, context) for word, where in _strings(item, k.resource, location)]
    conditions = _conditions(item, location, v)

    reached: dict[frozenset[ResourcePattern], set[Action]] = {}
    for action in chosen:
        patterns = frozenset(p for r in resources for p in r.reach(action))
        if action.actions and patterns:
            reached.setdefault(patterns, set()).update(action.actions)
    for action, where in explicit:
        if not any(r.reach(action) for r in resources):
            message = v.unreachable(action)
            if message is not None:
                warnings.append(PolicyError(where, message))
    return build_statements(
        reached,
        sid,
        effect=Effect(effect_text.lower()),
        conditions=conditions,
        location=location,
        dialect=v.dialect,
    )


def _conditions(item: JsonObject, location: SourceLocation, v: Vocabulary) -> tuple[Condition, ...]:
    """Operators AND together, keys within an operator AND, the values of a key OR."""
    name = v.keys.condition
    if name not in item:
        return ()
    raw = item[name]
    where = at_key(location, item, name)
    if not isinstance(raw, JsonObject) or not raw:
        raise PolicyError(where, f"`{name}` must be a non-empty object of operators")
    out: list[Condition] = []
    for operator, keys in raw.items():
        op_where = at_key(location, raw, operator)
        if operator in v.ip_operators:
            expected = v.ip_key
        elif operator in v.date_operators:
            expected = v.time_key
        else:
            if isinstance(keys, JsonObject):
                for key in keys:
                    if key.lower() in v.refused_condition_keys:
                        raise PolicyError(op_where, v.refused_condition_keys[key.lower()])
            known = ", ".join(f"`{o}`" for o in (*v.ip_operators, *v.date_operators))
            raise PolicyError(
                op_where,
                f"condition operator `{operator}` is not supported at a registry edge (supported: {known})",
            )
        if not isinstance(keys, JsonObject) or not keys:
            raise PolicyError(op_where, f"`{operator}` must be an object of condition keys")
        for key in keys:
            key_where = at_key(location, keys, key)
            same = key == expected if v.condition_keys_case_sensitive else key.lower() == expected.lower()
            if not same:
                raise PolicyError(key_where, f"`{operator}` tests `{expected}`, not `{key}`")
            try:
                values = [value for value, _ in string_list(keys, key, location)]
                if operator in v.ip_operators:
                    out.append(ip_condition(values, negated=v.ip_operators[operator]))
                else:
                    out.append(time_condition(v.date_operators[operator], values))
            except ValueError as exc:
                raise PolicyError(key_where, f"`{operator}`: {exc}") from None
    return tuple(out)


def _strings(item: JsonObject, key: str, location: SourceLocation) -> list[tuple[str, SourceLocation]]:
    try:
        return string_list(item, key, location)
    except ValueError as exc:
        raise PolicyError(at_key(location, item, key), str(exc)) from None


def _check_keys(obj: JsonObject, allowed: frozenset[str], location: SourceLocation, what: str, v: Vocabulary) -> None:
    by_lower = {k.lower(): k for k in allowed}
    for key in obj:
        if key in allowed:
            continue
        where = at_key(location, obj, key)
        if key.lower() in by_lower:
            raise PolicyError(
                where, f"{v.service} element names are {v.element_case}: write `{by_lower[key.lower()]}`, not `{key}`"
            )
        if key.lower() == "principal":
            raise PolicyError(where, v.principal_message)
        if key.lower() in v.key_hints:
            raise PolicyError(where, v.key_hints[key.lower()])
        raise PolicyError(where, f"unknown key `{key}` in {what}")


def glob_actions(text: str, table: Mapping[str, CloudAction]) -> list[CloudAction]:
    """The actions of ``table`` whose keys ``text`` (``*`` = any characters) matches whole."""
    pattern = re.compile(".*".join(re.escape(part) for part in text.split("*")))
    return [a for n, a in table.items() if pattern.fullmatch(n)]


# what an API name and a repository path may hold in both languages, before their own checks
API_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*")
PATH = re.compile(r"[a-z0-9._/*-]+")


class AttachedJsonDialect:
    """The dialect side of an IAM-JSON language whose documents bindings.yaml attaches (CAM,
    RAM): the cloud's built-in policies are bindable by name, and a file may not take one's name."""

    name: str
    builtin_texts: Mapping[str, str]  # the cloud's built-in policies, by name
    builtin_kind: str  # how the cloud calls them: "preset", "system"
    cloud: str  # the cloud's name, for messages

    def compile_named(self, text: str, location: SourceLocation, name: str, context: DialectContext) -> Document:
        raise NotImplementedError

    def compile_document(self, text: str, location: SourceLocation, context: DialectContext) -> Document:
        stem = location.file.rsplit("/", 1)[-1].removesuffix(".json")
        if stem in self.builtin_texts:
            raise PolicyError(
                location, f"`{stem}` is the name of the {self.cloud} {self.builtin_kind} policy; rename the file"
            )
        return self.compile_named(text, location, stem, context)

    def builtins(self, context: DialectContext) -> tuple[Document, ...]:
        return tuple(
            self.compile_named(text, SourceLocation(f"<{self.builtin_kind} {self.name}/{name}>"), name, context)
            for name, text in self.builtin_texts.items()
        )
