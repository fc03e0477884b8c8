"""The decision corpora: for each cloud, cases built from that cloud's own document (../shared/seeds),
not from regproxy's code. Each case names the sentence of the document that decides it.

A corpus (``corpora/<cloud>.yaml``) holds named policy sets (files of a policies directory, as the
cloud writes them) and cases::

    dialect: tencent
    context: {alibaba_region: cn-hangzhou}          # DialectContext fields (optional)
    sets:
      NAME: {FILE: TEXT, ...}
    cases:
      - id: pull-allowed                             # unique
        set: NAME
        principal: user:alice                        # user:/service-account:, optional `groups`
        scope: [containerRegistry:pull]              # optional: the access credential's scopes
        action: pull                                 # a regproxy action
        repository: ns/app
        tag: v1                                      # optional
        source: 10.1.2.3                             # optional
        decision: allowed                            # allowed | explicit-deny | default-deny | scope-deny
        statements: [b/doc#0]                        # optional: the statements that decide
        because: "the document's sentence"           # required
        cloud_action: ccr:pull                       # the cloud action the case is about

Every case runs through the indexed evaluator and the reference interpreter (they must agree).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from regproxy.identity.credential_scopes import credential_scopes
from regproxy.identity.principal import Principal, PrincipalKind, make_principal
from regproxy.oci.actions import Action
from regproxy.policy.dialects import DialectContext
from tests.support.decisions import decide_checked

CORPORA = Path(__file__).parent / "corpora"
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
CLOUDS = ("thalassa", "oci", "tencent", "alibaba")


@functools.cache
def load(cloud: str) -> dict[str, Any]:
    """The corpus, parsed once per run (every case of a cloud reads the same file)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data: dict[str, Any] = yaml.load((CORPORA / f"{cloud}.yaml").read_text(), Loader=loader)
    assert data["dialect"] == cloud
    return data


def context_of(corpus: dict[str, Any]) -> DialectContext:
    raw = dict(corpus.get("context") or {})
    for key in ("thalassa_projects", "oci_compartments"):
        if key in raw:
            raw[key] = {k: tuple(v) for k, v in raw[key].items()}
    if "alibaba_account_owners" in raw:
        raw["alibaba_account_owners"] = tuple(raw["alibaba_account_owners"])
    return DialectContext(**raw)


def principal_of(case: dict[str, Any]) -> Principal:
    kind_word, _, name = case["principal"].partition(":")
    kind = PrincipalKind.SERVICE_ACCOUNT if kind_word == "service-account" else PrincipalKind.USER
    scope = credential_scopes(case["scope"]) if "scope" in case else None
    return make_principal(kind, name, groups=case.get("groups", ()), scope=scope)


def all_cases() -> list[Any]:
    out: list[Any] = []
    for cloud in CLOUDS:
        corpus = load(cloud)
        out.extend(pytest.param(cloud, case, id=f"{cloud}-{case['id']}") for case in corpus["cases"])
    return out


@pytest.mark.parametrize(("cloud", "case"), all_cases())
def test_case(cloud: str, case: dict[str, Any]) -> None:
    corpus = load(cloud)
    assert case.get("because"), "every case names the document's sentence that decides it"
    decision = decide_checked(
        corpus["sets"][case["set"]],
        context_of(corpus),
        principal_of(case),
        Action(case["action"]),
        case["repository"],
        case.get("tag"),
        source=case.get("source", "10.1.2.3"),
        now=NOW,
    )
    assert decision.outcome.value == case["decision"], (decision, case["because"])
    if "statements" in case:
        assert set(decision.statements) == set(case["statements"]), (decision, case["because"])


@pytest.mark.parametrize("cloud", CLOUDS)
def test_the_corpus_is_well_formed(cloud: str) -> None:
    """Unique ids, every set used, and each cloud action of the document's table both allowed
    and denied somewhere."""
    corpus = load(cloud)
    ids = [c["id"] for c in corpus["cases"]]
    assert len(ids) == len(set(ids))
    assert {c["set"] for c in corpus["cases"]} == set(corpus["sets"])
    for name in corpus["table"]:
        outcomes = {c["decision"] == "allowed" for c in corpus["cases"] if c.get("cloud_action") == name}
        assert outcomes == {True, False}, f"{name}: needs an allowed and a denied case"
