"""The core pattern nodes the dialects build: each matches as its dialect says, and indexes by
the literal namespace of its repository part like a plain glob."""

from __future__ import annotations

from regproxy.policy.patterns import NamespaceScopedPattern, NameTest, RepositoryNamePattern


def test_a_namespace_scoped_pattern_narrows_a_glob_to_namespaces() -> None:
    within = NamespaceScopedPattern("**", None, within=("team-a", "team-a-*"))
    assert within.matches("team-a/app", None) and within.matches("team-a-x/app", None)
    assert not within.matches("team-b/app", None)
    outside = NamespaceScopedPattern("**", None, excluded=("team-b",))
    assert outside.matches("team-a/app", None) and not outside.matches("team-b/app", None)
    assert within.literal_namespace is None
    assert NamespaceScopedPattern("org/**", None, within=("org",)).literal_namespace == "org"


def test_a_repository_name_pattern_tests_the_full_name_case_insensitively() -> None:
    starts = NameTest("target.repo.name=/acme-web-app*/", "acme-web-app*", is_pattern=True, negated=False)
    not_exact = NameTest("target.repo.name!='acme/secret'", "acme/secret", is_pattern=False, negated=True)
    pattern = RepositoryNamePattern("**", None, tests=(starts,))
    assert pattern.matches("acme-web-app/ui", None) and not pattern.matches("acme-api/ui", None)
    assert NameTest("x", "ACME/Web", is_pattern=False, negated=False).holds("acme/web")
    both = RepositoryNamePattern("acme/**", None, tests=(not_exact,))
    assert both.matches("acme/app", None) and not both.matches("acme/secret", None)
    assert both.literal_namespace == "acme"
    assert starts.as_glob() == "acme-web-app**" and not_exact.as_glob() is None
