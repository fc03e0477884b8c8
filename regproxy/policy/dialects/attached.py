"""What the dialects of *attached* cloud policies share: Tencent CAM and Alibaba RAM documents
name no principals — bindings.yaml attaches them — and both clouds write statements whose
actions are checked against different resources, and IP and time conditions, the same way.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta

from regproxy.errors import PolicyError, SourceLocation
from regproxy.oci.actions import Action
from regproxy.policy.conditions import AnyOf, Not, SourceAddressIn, TimeWindow
from regproxy.policy.dialects import Binding, Document
from regproxy.policy.model import Condition, Effect, PrincipalSelector, ResourcePattern, Statement

_BINDABLE = frozenset({PrincipalSelector.USER, PrincipalSelector.GROUP, PrincipalSelector.SERVICE_ACCOUNT})
_TICK = timedelta(microseconds=1)  # the resolution of datetime: `<= t` is `< t + tick`


def bind_statements(document: Document, binding: Binding) -> tuple[Statement, ...]:
    """The document's statements for the binding's principals, ids ``BINDING/DOCUMENT#N``."""
    principals, project, binding_id = binding.principals, binding.project, binding.id
    if project is not None:
        raise PolicyError(
            document.location,
            f"binding `{binding_id}`: {document.dialect} policies take no `project`",
        )
    for ref in principals:
        if ref.selector not in _BINDABLE:
            raise PolicyError(
                document.location,
                f"binding `{binding_id}`: a {document.dialect} policy is attached to users, "
                f"groups and service accounts, not to `{ref}`",
            )
    return tuple(replace(s, id=f"{binding_id}/{s.id}", principals=principals) for s in document.statements)


def build_statements(
    reached: dict[frozenset[ResourcePattern], set[Action]],
    sid: str,
    *,
    effect: Effect,
    conditions: tuple[Condition, ...],
    location: SourceLocation,
    dialect: str,
) -> list[Statement]:
    """Statements granting exactly each (patterns → actions) pair of ``reached``, no more.

    A model statement grants its actions on all its resources, so one cloud statement whose
    actions are checked against different resources becomes several: pairs with the same
    action set share one. The first keeps the id ``sid``; the others are ``sid.1``, ``sid.2``.
    """
    merged: dict[frozenset[Action], set[ResourcePattern]] = {}
    for patterns, actions in reached.items():
        merged.setdefault(frozenset(actions), set()).update(patterns)
    groups = sorted(
        ((tuple(sorted(patterns, key=str)), actions) for actions, patterns in merged.items()),
        key=lambda group: [str(p) for p in group[0]],
    )
    return [
        Statement(
            id=sid if n == 0 else f"{sid}.{n}",
            effect=effect,
            principals=(),
            actions=actions,
            resources=patterns,
            conditions=conditions,
            location=location,
            dialect=dialect,
        )
        for n, (patterns, actions) in enumerate(groups)
    ]


def ip_condition(values: Iterable[str], *, negated: bool) -> Condition:
    networks = tuple(ipaddress.ip_network(v.strip(), strict=False) for v in values)
    inside = SourceAddressIn(networks)
    return Not(inside) if negated else inside


def time_condition(op: str, values: Iterable[str]) -> Condition:
    """``op`` in eq, ne, lt, le, gt, ge against each instant; several instants OR."""
    windows: list[Condition] = []
    for value in values:
        t = parse_instant(value)
        if op == "lt":
            windows.append(TimeWindow(not_after=t))
        elif op == "le":
            windows.append(TimeWindow(not_after=t + _TICK))
        elif op == "gt":
            windows.append(TimeWindow(not_before=t + _TICK))
        elif op == "ge":
            windows.append(TimeWindow(not_before=t))
        else:
            windows.append(TimeWindow(not_before=t, not_after=t + _TICK))
    inner = windows[0] if len(windows) == 1 else AnyOf(tuple(windows))
    return Not(inner) if op == "ne" else inner


def parse_instant(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"`{value}` is not an ISO 8601 time such as `2016-06-01T00:01:00Z`") from None
    if moment.tzinfo is None:
        raise ValueError(f"`{value}` has no zone; write `Z` or an offset such as `+08:00`")
    return moment
