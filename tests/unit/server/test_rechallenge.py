"""The repeated-challenge rule: only the same bearer token, for the same scopes, within the
window, is told 403; nothing but a hash of the token is kept, and memory is bounded."""

from __future__ import annotations

import pytest

from regproxy.server.rechallenge import RepeatedChallenges

PUSH = ("repository:team-a/app:pull,push",)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_first_answer_is_the_challenge_and_the_same_token_again_is_a_repeat() -> None:
    seen = RepeatedChallenges()
    assert not seen.repeated("Bearer abc", PUSH)
    assert seen.repeated("Bearer abc", PUSH)
    assert seen.repeated("bearer  abc ", PUSH)  # the same token, however the header is spelled


@pytest.mark.parametrize(
    ("authorization", "scopes"),
    [
        pytest.param("Bearer other", PUSH, id="another-token"),
        pytest.param(
            "Bearer abc", ("repository:team-a/app:pull,push", "repository:team-a/src:pull"), id="other-scopes"
        ),
        pytest.param("Bearer abc", ("repository:team-b/app:pull,push",), id="other-repository"),
    ],
)
def test_only_the_same_token_for_the_same_scopes_repeats(authorization: str, scopes: tuple[str, ...]) -> None:
    seen = RepeatedChallenges()
    assert not seen.repeated("Bearer abc", PUSH)
    assert not seen.repeated(authorization, scopes)


def test_scopes_in_another_order_are_the_same_scopes() -> None:
    seen = RepeatedChallenges()
    assert not seen.repeated("Bearer abc", ("b", "a"))
    assert seen.repeated("Bearer abc", ("a", "b"))


@pytest.mark.parametrize("authorization", [None, "", "Basic YWxpY2U6eA==", "Bearer", "Bearer   "])
def test_nothing_but_a_bearer_token_is_remembered(authorization: str | None) -> None:
    seen = RepeatedChallenges()
    assert not seen.repeated(authorization, PUSH)
    assert not seen.repeated(authorization, PUSH)
    assert len(seen) == 0


def test_the_window_passes() -> None:
    clock = Clock()
    seen = RepeatedChallenges(window=60, clock=clock)
    assert not seen.repeated("Bearer abc", PUSH)
    clock.now += 59
    assert seen.repeated("Bearer abc", PUSH)
    clock.now += 2
    assert not seen.repeated("Bearer abc", PUSH)  # forgotten: a fresh 401 challenge


def test_memory_is_bounded_and_holds_no_token() -> None:
    seen = RepeatedChallenges(max_entries=8)
    for n in range(100):
        seen.repeated(f"Bearer secret-token-{n}", PUSH)
    assert len(seen) <= 8
    keys = list(seen._answered)  # the stored keys are what this test inspects
    assert all(isinstance(digest, bytes) and len(digest) == 32 for digest, _ in keys)
    assert all(b"secret-token" not in digest for digest, _ in keys)
