"""The Docker token scope grammar and the docker-word <-> regproxy-action bridge."""

from __future__ import annotations

import importlib
import inspect
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regproxy.identity.principal import CredentialScope, IntersectedScope, ScopeGrant
from regproxy.identity.scope import (
    ScopeRequest,
    access_to_scope,
    parse_scope,
    parse_scopes,
    regproxy_actions_for,
    render_scope,
    scope_from_claim,
    scope_to_claim,
    token_actions_for,
)
from regproxy.oci.actions import ALL_ACTIONS, DELETE_ACTIONS, WRITE_ACTIONS, Action

PULL_WORD = frozenset({Action.PULL, Action.LIST})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "repository:samalba/my-app:pull,push",
            ScopeRequest("repository", "samalba/my-app", ("pull", "push")),
        ),
        ("registry:catalog:*", ScopeRequest("registry", "catalog", ("*",))),
        (
            "repository(plugin):vieux/sshfs:pull",
            ScopeRequest("repository", "vieux/sshfs", ("pull",), "plugin"),
        ),
        # A port in the hostname: split on the first and the last colon, not the first three.
        (
            "repository:localhost:5000/team/app:pull",
            ScopeRequest("repository", "localhost:5000/team/app", ("pull",)),
        ),
        (
            "repository:a.b_c__d--e/f:delete",
            ScopeRequest("repository", "a.b_c__d--e/f", ("delete",)),
        ),
        ("repository:app:", ScopeRequest("repository", "app", ())),
    ],
    ids=["two-actions", "catalog", "resource-class", "port-in-name", "separators", "no-actions"],
)
def test_parse_scope_reads_the_grammar(text: str, expected: ScopeRequest) -> None:
    assert parse_scope(text) == expected
    assert render_scope(expected) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "repository",
        "repository:app",
        "Repository:app:pull",
        "repository:App:pull",
        "repository:app:pull,,push",
        "repository:app:PULL",
        "repository:a//b:pull",
        "repository:/app:pull",
        "repository:app/:pull",
        "repository:app:pull push",
        "repo(x)(y):app:pull",
        "repository:" + "a" * 600 + ":pull",
    ],
    ids=[
        "empty",
        "no-colon",
        "one-colon",
        "upper-type",
        "upper-name",
        "empty-action",
        "upper-action",
        "empty-component",
        "leading-slash",
        "trailing-slash",
        "space",
        "two-classes",
        "too-long",
    ],
)
def test_parse_scope_refuses_what_the_grammar_does_not_produce(text: str) -> None:
    with pytest.raises(ValueError, match="scope"):
        parse_scope(text)


def test_a_near_miss_name_does_not_backtrack_exponentially() -> None:
    text = "repository:" + "a-" * 200 + "!:pull"
    started = time.perf_counter()
    with pytest.raises(ValueError, match="name"):
        parse_scope(text)
    assert time.perf_counter() - started < 0.5


def test_parse_scopes_splits_the_post_form_on_spaces() -> None:
    scopes = parse_scopes("repository:a:pull  repository:b:push registry:catalog:*")
    assert [s.name for s in scopes] == ["a", "b", "catalog"]
    assert scopes[2].is_catalog
    assert parse_scopes("") == ()


_ALNUM = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6)
_ACTION = st.sampled_from(["pull", "push", "delete", "*"]) | st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz*", min_size=1, max_size=8
)
_SEPARATOR = st.sampled_from([".", "_", "__", "-", "---"])
_HOST_PART = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=6)


@st.composite
def _component(draw: st.DrawFn) -> str:
    parts = [draw(_ALNUM)]
    for _ in range(draw(st.integers(0, 2))):
        parts += [draw(_SEPARATOR), draw(_ALNUM)]
    return "".join(parts)


@st.composite
def _host(draw: st.DrawFn) -> str:
    host = ".".join(draw(st.lists(_HOST_PART, min_size=1, max_size=3)))
    if draw(st.booleans()):
        host += f":{draw(st.integers(1, 65535))}"
    return host


@st.composite
def scope_requests(draw: st.DrawFn) -> ScopeRequest:
    components = draw(st.lists(_component(), min_size=1, max_size=4))
    name = "/".join(components)
    if draw(st.booleans()):
        name = f"{draw(_host())}/{name}"
    return ScopeRequest(
        type=draw(_ALNUM),
        name=name,
        actions=tuple(draw(st.lists(_ACTION, max_size=4))),
        resource_class=draw(st.none() | _ALNUM),
    )


@given(scope_requests())
def test_render_then_parse_round_trips(scope: ScopeRequest) -> None:
    text = render_scope(scope)
    assert parse_scope(text) == scope
    assert render_scope(parse_scope(text)) == text


@pytest.mark.parametrize(
    ("word", "resource_type", "name", "expected"),
    [
        ("pull", "repository", "app", PULL_WORD),
        ("push", "repository", "app", WRITE_ACTIONS),
        ("delete", "repository", "app", DELETE_ACTIONS),
        ("*", "repository", "app", ALL_ACTIONS),
        ("*", "registry", "catalog", frozenset({Action.CATALOG})),
        ("pull", "registry", "catalog", frozenset()),
        ("*", "registry", "other", frozenset()),
        ("metadata-read", "repository", "app", frozenset()),
        ("pull", "plugin", "app", frozenset()),
    ],
    ids=["pull", "push", "delete", "star", "catalog", "catalog-pull", "registry-other", "unknown-word", "unknown-type"],
)
def test_regproxy_actions_for_each_docker_word(
    word: str, resource_type: str, name: str, expected: frozenset[Action]
) -> None:
    assert regproxy_actions_for(word, resource_type, name) == expected


def test_token_actions_for_needs_every_action_of_a_word_by_default() -> None:
    assert token_actions_for(PULL_WORD) == {"pull"}
    assert token_actions_for({Action.PULL}) == frozenset()
    assert token_actions_for(PULL_WORD | WRITE_ACTIONS) == {"pull", "push"}
    assert token_actions_for(ALL_ACTIONS) == {"pull", "push", "delete", "*"}
    assert token_actions_for(ALL_ACTIONS - {Action.CATALOG}) == {"pull", "push", "delete"}


def test_token_actions_for_partial_takes_a_word_for_any_of_its_actions() -> None:
    # Allowed to create tags but not to overwrite them: still needs `push` to push at all.
    allowed = {Action.PULL, Action.PUSH, Action.TAG_CREATE}
    assert token_actions_for(allowed, partial=True) == {"pull", "push"}
    assert token_actions_for(allowed) == frozenset()
    assert "*" not in token_actions_for(ALL_ACTIONS - {Action.PULL}, partial=True)


def test_access_to_scope_grants_exactly_the_named_repositories() -> None:
    scope = access_to_scope(
        [
            {"type": "repository", "name": "team/app", "actions": ["pull", "push"]},
            {"type": "repository(plugin)", "name": "plug", "actions": ["pull"]},
            {"type": "registry", "name": "catalog", "actions": ["*"]},
            {"type": "repository", "name": "other", "actions": ["metadata-read"]},
            {"type": "namespace", "name": "team", "actions": ["*"]},
        ]
    )
    assert scope.permits(Action.PULL, "team/app")
    assert scope.permits(Action.TAG_OVERWRITE, "team/app")
    assert not scope.permits(Action.DELETE_TAG, "team/app")
    assert not scope.permits(Action.PULL, "team/app/sub")
    assert not scope.permits(Action.PULL, "team")
    assert scope.permits(Action.PULL, "plug")
    assert scope.permits(Action.CATALOG, "anything/at/all")
    assert not scope.permits(Action.PULL, "other")
    assert scope.name.startswith("repository:team/app:pull,push ")


def test_access_to_scope_of_nothing_permits_nothing() -> None:
    scope = access_to_scope([])
    assert not scope.permits(Action.PULL, "app")


@pytest.mark.parametrize(
    "access",
    [
        {"type": "repository"},
        ["repository:app:pull"],
        [{"type": "repository", "name": "app"}],
        [{"type": "repository", "name": "app", "actions": "pull"}],
        [{"type": "repository", "name": 3, "actions": ["pull"]}],
        [{"type": "repository", "name": "team/*", "actions": ["pull"]}],
        [{"type": "repository", "name": "**", "actions": ["pull"]}],
    ],
    ids=["not-a-list", "strings", "no-actions", "actions-string", "name-number", "glob-name", "double-star"],
)
def test_access_to_scope_refuses_a_malformed_claim(access: object) -> None:
    with pytest.raises(ValueError, match="access"):
        access_to_scope(access)


def test_scope_claims_round_trip_including_intersections() -> None:
    pull_all = CredentialScope("containerRegistry:pull", (ScopeGrant("**", PULL_WORD),))
    team = CredentialScope("team", (ScopeGrant("team/*", ALL_ACTIONS), ScopeGrant("x", PULL_WORD)))
    nested = IntersectedScope("outer", (), (pull_all, team.narrowed(pull_all)))
    for scope in (pull_all, team, nested):
        back = scope_from_claim(scope_to_claim(scope))
        assert back.name == scope.name
        for action in Action:
            for repository in ("team/app", "x", "other", "team/a/b"):
                assert back.permits(action, repository) == scope.permits(action, repository)


@pytest.mark.parametrize(
    "claim",
    [
        None,
        {"name": "x"},
        {"name": "x", "parts": []},
        {"name": "x", "parts": [[{"repository": "a", "actions": ["fly"]}]]},
        {"name": "x", "parts": [[{"repository": "", "actions": ["pull"]}]]},
    ],
    ids=["none", "no-parts", "empty-parts", "unknown-action", "empty-glob"],
)
def test_scope_from_claim_refuses_malformed_claims(claim: object) -> None:
    with pytest.raises(ValueError):
        scope_from_claim(claim)


@pytest.mark.parametrize("module_name", ["scope", "keys", "tokens", "jwks", "oidc", "sts"])
def test_all_names_every_public_class_and_function(module_name: str) -> None:
    module = importlib.import_module(f"regproxy.identity.{module_name}")
    defined = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and value.__module__ == module.__name__
    }
    assert defined <= set(module.__all__)
    assert all(hasattr(module, name) for name in module.__all__)
