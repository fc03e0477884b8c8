"""regproxy's native policy format (YAML), the most expressive of the five.

    version: 1
    statements:
      - id: team-a-ci-push                    # unique in the file
        effect: allow                         # allow | deny
        principals: [group:team-a, service-account:ci]   # user:, group:, service-account:,
                                              # anonymous, authenticated, everyone
        actions: [pull, push, tag-create]     # the canonical vocabulary; `*`, `tag-*`, `delete-*`
        resources: ["team-a/**", "base/*:v*"] # repository glob [":" tag glob]
        conditions:                           # all must hold
          source: [10.0.0.0/8, "2001:db8::/32"]
          time: {after: 2026-01-01T00:00:00Z, before: 2027-01-01T00:00:00Z,
                 daily: "08:00-18:00", weekdays: [mon, tue, wed, thu, fri]}
          credential-scope: [containerRegistry:pull]
          claims: {ref: "refs/heads/main", repository: "acme/*"}
        shadow: false                         # true: evaluated and logged, never enforced

Principals are required: a native statement is never bound through bindings.yaml.
"""

from __future__ import annotations

import functools
import ipaddress
from datetime import UTC, datetime, time
from typing import Any

import orjson

from regproxy.errors import PolicyError, PolicyErrors, SourceLocation
from regproxy.oci import grammar
from regproxy.oci.actions import Action, expand_action_pattern
from regproxy.policy.conditions import ClaimMatches, CredentialScopeIn, SourceAddressIn, TimeWindow
from regproxy.policy.dialects import DialectContext, Document, NamesItsPrincipals
from regproxy.policy.model import Condition, Effect, PrincipalRef, ResourcePattern, Statement
from regproxy.sources.yamlsource import YamlSyntaxError, at, load_yaml

WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_STATEMENT_KEYS = frozenset(
    {"id", "effect", "principals", "actions", "resources", "conditions", "shadow", "description"}
)
_CONDITION_KEYS = frozenset({"source", "time", "credential-scope", "claims"})


class NativeDialect(NamesItsPrincipals):
    name = "native"

    def compile_document(self, text: str, location: SourceLocation, context: DialectContext) -> Document:
        if text.lstrip().startswith("{"):
            # A document written as JSON (YAML's subset), as generators of large policies do:
            # orjson reads it far faster; on any error the YAML reader runs for the line numbers.
            try:
                return compile_native(orjson.loads(text), location)
            except (orjson.JSONDecodeError, PolicyError):
                pass
        return compile_native(parse_native(text, location), location)


def parse_native(text: str, location: SourceLocation) -> Any:
    """Text → data with line numbers (mappings are :class:`LineDict`)."""
    try:
        return load_yaml(text)
    except YamlSyntaxError as exc:
        raise PolicyError(SourceLocation(location.file, exc.line), exc.message) from exc


def compile_native(data: Any, location: SourceLocation) -> Document:
    """Parsed data → a validated :class:`Document`."""
    if not isinstance(data, dict):
        raise PolicyError(location, "a native policy is a mapping with `statements`")
    unknown = set(data) - {"version", "statements", "description"}
    if unknown:
        raise PolicyError(at(location, data), f"unknown key `{sorted(unknown)[0]}`")
    if data.get("version", 1) != 1:
        raise PolicyError(at(location, data), "`version` must be 1")
    raw = data.get("statements")
    if not isinstance(raw, list) or not raw:
        raise PolicyError(at(location, data), "`statements` must be a non-empty list")
    stem = location.file.rsplit("/", 1)[-1]
    seen: set[str] = set()
    statements = []
    errors: list[PolicyError] = []  # every statement's error, not only the first
    for item in raw:
        try:
            statement = parse_statement(item, at(location, item), stem)
        except PolicyError as exc:
            errors.append(exc)
            continue
        if statement.id in seen:
            errors.append(PolicyError(at(location, item), f"statement id `{statement.id}` is repeated"))
            continue
        seen.add(statement.id)
        statements.append(statement)
    PolicyErrors.raise_any(errors)
    return Document(stem, NativeDialect.name, tuple(statements), location, needs_binding=False)


def parse_statement(item: Any, location: SourceLocation, file_stem: str) -> Statement:
    if not isinstance(item, dict):
        raise PolicyError(location, "a statement is a mapping")
    unknown = set(item) - _STATEMENT_KEYS
    if unknown:
        raise PolicyError(location, f"unknown key `{sorted(unknown)[0]}` in statement")
    sid = item.get("id")
    if not isinstance(sid, str) or not sid:
        raise PolicyError(location, "statement needs an `id`")
    try:
        effect = Effect(str(item.get("effect", "")).lower())
    except ValueError:
        raise PolicyError(location, f"statement `{sid}`: `effect` must be allow or deny") from None
    # Lists repeat across the statements of a large set: each distinct one is parsed once.
    try:
        principals = _principals(_string_list(item, "principals", location, sid))
        actions = _actions(_string_list(item, "actions", location, sid))
        resources = _resources(_string_list(item, "resources", location, sid))
    except ValueError as exc:
        raise PolicyError(location, f"statement `{sid}`: {exc}") from None
    conditions = _parse_conditions(item.get("conditions"), location, sid)
    shadow = item.get("shadow", False)
    if not isinstance(shadow, bool):
        raise PolicyError(location, f"statement `{sid}`: `shadow` must be true or false")
    return Statement(
        id=f"{file_stem}#{sid}",
        effect=effect,
        principals=principals,
        actions=actions,
        resources=resources,
        conditions=conditions,
        location=location,
        dialect="native",
        shadow=shadow,
    )


@functools.lru_cache(maxsize=65536)
def _resource(text: str) -> ResourcePattern:
    """Resources repeat across statements: each distinct one is validated and built once."""
    repository, sep, tag = text.partition(":")
    if not repository or (sep and not tag):
        raise ValueError(f"resource `{text}` is empty")
    literal = repository.replace("**", "a").replace("*", "a").replace("?", "a")
    if not grammar.is_name(literal):
        raise ValueError(f"resource `{text}` is not a repository pattern")
    if sep and not grammar.is_tag(tag.replace("*", "a").replace("?", "a")):
        raise ValueError(f"resource `{text}` has an invalid tag pattern")
    return ResourcePattern(repository, tag if sep else None)


@functools.lru_cache(maxsize=65536)
def _principals(words: tuple[str, ...]) -> tuple[PrincipalRef, ...]:
    _check_words(words, "principals")
    return tuple(PrincipalRef.parse(w) for w in words)


@functools.lru_cache(maxsize=4096)
def _actions(words: tuple[str, ...]) -> frozenset[Action]:
    _check_words(words, "actions")
    return frozenset().union(*(expand_action_pattern(w) for w in words))


@functools.lru_cache(maxsize=65536)
def _resources(words: tuple[str, ...]) -> tuple[ResourcePattern, ...]:
    _check_words(words, "resources")
    return tuple(_resource(w) for w in words)


def _string_list(item: dict[str, Any], key: str, location: SourceLocation, sid: str) -> tuple[str, ...]:
    """The list under ``key`` as a tuple; its elements are checked by the cached parsers below
    (each distinct list once), so a large set does not re-check the same lists."""
    value = item.get(key)
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not value:
        raise PolicyError(location, f"statement `{sid}`: `{key}` must be a non-empty list of strings")
    words = tuple(value)
    try:
        hash(words)
    except TypeError:
        raise PolicyError(location, f"statement `{sid}`: `{key}` must be a non-empty list of strings") from None
    return words


def _check_words(words: tuple[str, ...], key: str) -> None:
    for w in words:
        if not isinstance(w, str) or not w:
            raise ValueError(f"`{key}` must be a non-empty list of strings")


def _parse_conditions(raw: Any, location: SourceLocation, sid: str) -> tuple[Condition, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise PolicyError(location, f"statement `{sid}`: `conditions` must be a mapping")
    unknown = set(raw) - _CONDITION_KEYS
    if unknown:
        raise PolicyError(location, f"statement `{sid}`: unknown condition `{sorted(unknown)[0]}`")
    out: list[Condition] = []
    try:
        if "source" in raw:
            values = raw["source"] if isinstance(raw["source"], list) else [raw["source"]]
            out.append(SourceAddressIn(tuple(ipaddress.ip_network(str(v), strict=False) for v in values)))
        if "time" in raw:
            out.append(_parse_time(raw["time"]))
        if "credential-scope" in raw:
            values = raw["credential-scope"]
            values = values if isinstance(values, list) else [values]
            out.append(CredentialScopeIn(frozenset(str(v) for v in values)))
        if "claims" in raw:
            claims = raw["claims"]
            if not isinstance(claims, dict) or not claims:
                raise ValueError("`claims` must map claim names to patterns")
            for claim, patterns in claims.items():
                plist = patterns if isinstance(patterns, list) else [patterns]
                out.append(ClaimMatches(str(claim), tuple(str(p) for p in plist)))
    except ValueError as exc:
        raise PolicyError(location, f"statement `{sid}`: {exc}") from None
    return tuple(out)


def _parse_time(raw: Any) -> TimeWindow:
    if not isinstance(raw, dict):
        raise ValueError("`time` must be a mapping of after, before, daily, weekdays")
    unknown = set(raw) - {"after", "before", "daily", "weekdays"}
    if unknown:
        raise ValueError(f"unknown time key `{sorted(unknown)[0]}`")
    daily_start = daily_end = None
    if "daily" in raw:
        start, _, end = str(raw["daily"]).partition("-")
        daily_start, daily_end = time.fromisoformat(start.strip()), time.fromisoformat(end.strip())
    weekdays = None
    if "weekdays" in raw:
        try:
            weekdays = frozenset(WEEKDAYS[str(d).lower()[:3]] for d in raw["weekdays"])
        except (KeyError, TypeError):
            raise ValueError("`weekdays` takes mon, tue, wed, thu, fri, sat, sun") from None
    return TimeWindow(
        not_before=_instant(raw.get("after")),
        not_after=_instant(raw.get("before")),
        daily_start=daily_start,
        daily_end=daily_end,
        weekdays=weekdays,
    )


def _instant(value: Any) -> datetime | None:
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment
