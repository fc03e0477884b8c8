"""Hot reload: a good set swaps in whole, a bad set changes nothing, ConfigMap swaps are seen."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from regproxy.policy.dialects import DialectContext
from regproxy.reload import Reloader, Settle, Store, fingerprint, load_all

GOOD = "statements:\n  - {id: a, effect: allow, principals: [user:x], actions: [pull], resources: [a]}\n"
OTHER = "statements:\n  - {id: b, effect: allow, principals: [user:x], actions: [push], resources: [a]}\n"
BAD = "statements:\n  - {id: a, effect: allow, principals: [user:x], actions: [nope], resources: [a]}\n"


def make_reloader(policies: Path) -> Reloader:
    loaded = load_all(policies, None, DialectContext(), (), 1)
    return Reloader(
        Store(loaded.policy, loaded.identities), policies=policies, identities=None, context=DialectContext(), extra=()
    )


async def test_a_good_set_swaps_in_with_a_new_generation(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(GOOD)
    reloader = make_reloader(tmp_path)
    before = reloader.store.policy
    (tmp_path / "p.yaml").write_text(OTHER)
    assert await reloader.reload("test")
    assert reloader.store.policy is not before and reloader.store.policy.generation == 2
    assert [s.id for s in reloader.store.policy.policy_set.statements] == ["p.yaml#b"]
    # a request that took the old snapshot still decides with it
    assert [s.id for s in before.policy_set.statements] == ["p.yaml#a"]


async def test_a_bad_set_is_refused_whole_and_the_last_good_stays(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(GOOD)
    reloader = make_reloader(tmp_path)
    before = reloader.store.policy
    (tmp_path / "q.yaml").write_text(OTHER)
    (tmp_path / "p.yaml").write_text(BAD)
    assert not await reloader.reload("test")
    assert reloader.store.policy is before
    assert reloader.store.reloads_failed == 1


def test_configmap_data_symlink_swap_changes_the_fingerprint(tmp_path: Path) -> None:
    """Kubernetes updates a mounted ConfigMap by pointing `..data` at a new timestamped dir."""
    mount = tmp_path / "policies"
    mount.mkdir()
    v1 = mount / "..2026_11_22_10_00_00.1"
    v1.mkdir()
    (v1 / "p.yaml").write_text(GOOD)
    os.symlink(v1.name, mount / "..data")
    os.symlink("..data/p.yaml", mount / "p.yaml")
    before = fingerprint([mount])
    loaded = load_all(mount, None, DialectContext(), (), 1)
    assert [s.id for s in loaded.policy.policy_set.statements] == ["p.yaml#a"]

    v2 = mount / "..2026_11_22_10_05_00.2"
    v2.mkdir()
    (v2 / "p.yaml").write_text(OTHER)
    os.symlink(v2.name, mount / "..data_tmp")
    os.replace(mount / "..data_tmp", mount / "..data")
    assert fingerprint([mount]) != before
    loaded = load_all(mount, None, DialectContext(), (), 2)
    assert [s.id for s in loaded.policy.policy_set.statements] == ["p.yaml#b"]


IDENTITIES = (  # the example alice's hash: any well-formed one will do, it is never verified here
    "users:\n  - {name: x, groups: [g], password: "
    '"$scrypt$ln=15,r=8,p=1$v8lWgIYOrwBKhsWgetmmcA$VpMN5CaJBMYhcXwNlUyUc+hUMeHpvqUnE4KHwQlzIi4"}\n'
)


async def test_a_policy_only_reload_keeps_the_identities_object(tmp_path: Path) -> None:
    """Basic forgets every verified password when the identities object changes, so a reload
    that did not change the identities file keeps the very object (no re-hashing for every
    active user); a changed file swaps in a new one."""
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "p.yaml").write_text(GOOD)
    identities = tmp_path / "identities.yaml"
    identities.write_text(IDENTITIES)
    loaded = load_all(policies, identities, DialectContext(), (), 1)
    reloader = Reloader(
        Store(loaded.policy, loaded.identities),
        policies=policies,
        identities=identities,
        context=DialectContext(),
        extra=(),
    )
    before = reloader.store.identities
    (policies / "p.yaml").write_text(OTHER)
    assert await reloader.reload("test")
    assert reloader.store.identities is before

    identities.write_text(IDENTITIES.replace("groups: [g]", "groups: [h]"))
    assert await reloader.reload("test")
    assert reloader.store.identities is not before
    assert reloader.store.identities.logins["x"].groups == frozenset({"h"})


# -- settling: a set is read only once its files are quiet, and never swapped in half-moved ------
class Clock:
    """A clock the test moves by hand: no sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("seen", "expected"),
    [
        pytest.param([(0.0, "A")], [False], id="unchanged"),
        pytest.param([(0.0, "B"), (0.4, "B"), (0.5, "B")], [False, False, True], id="quiet-for-the-interval"),
        pytest.param([(0.0, "B"), (0.3, "C"), (0.6, "C"), (0.8, "C")], [False, False, False, True], id="moved-again"),
        pytest.param([(0.0, "B"), (0.3, "A"), (0.9, "A")], [False, False, False], id="moved-back"),
    ],
)
def test_settle_is_due_once_a_change_has_been_quiet_for_the_interval(
    seen: list[tuple[float, str]], expected: list[bool]
) -> None:
    settle = Settle(0.5)
    settle.due("A", "A", 0.0)  # what is loaded, seen first
    assert [settle.due(fp, "A", at) for at, fp in seen] == expected


def test_settle_zero_is_due_at_the_first_look() -> None:
    assert Settle(0.0).due("B", "A", 5.0)


async def test_the_watcher_waits_for_files_to_settle_before_reloading(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(GOOD)
    clock = Clock()
    loaded = load_all(tmp_path, None, DialectContext(), (), 1)
    reloader = Reloader(
        Store(loaded.policy, loaded.identities),
        policies=tmp_path,
        identities=None,
        context=DialectContext(),
        extra=(),
        settle=0.5,
        clock=clock,
    )
    (tmp_path / "p.yaml").write_text(OTHER)
    assert not await reloader.check()  # changed just now
    clock.now += 0.3
    (tmp_path / "q.yaml").write_text(GOOD.replace("id: a", "id: q"))  # the tool is still at it
    assert not await reloader.check()
    clock.now += 0.3
    assert not await reloader.check()  # 0.3 s quiet: not yet
    assert reloader.store.policy.generation == 1
    clock.now += 0.3
    assert await reloader.check()  # 0.6 s quiet: the whole set, once
    assert reloader.store.policy.generation == 2
    assert sorted(s.id for s in reloader.store.policy.policy_set.statements) == ["p.yaml#b", "q.yaml#q"]
    clock.now += 10
    assert not await reloader.check()  # nothing new


async def test_a_set_whose_files_moved_while_it_was_read_is_never_swapped_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "p.yaml").write_text(GOOD)
    reloader = make_reloader(tmp_path)
    before = reloader.store.policy
    (tmp_path / "p.yaml").write_text(OTHER)
    real = reloader._fingerprint
    looks = iter([("before",), ("after",)])
    monkeypatch.setattr(reloader, "_fingerprint", lambda: next(looks))
    assert not await reloader.reload("test")
    assert reloader.store.policy is before and reloader.store.reloads_failed == 0
    monkeypatch.setattr(reloader, "_fingerprint", real)
    assert await reloader.reload("test")  # read again once quiet: now whole
    assert reloader.store.policy.generation == 2


PASSES = "tests:\n  - {principal: user:x, groups: [], action: pull, repository: a, expect: allow}\n"


async def test_a_set_that_fails_its_tests_is_refused_and_counted_apart(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(GOOD)
    (tmp_path / "p.test.yaml").write_text(PASSES)
    loaded = load_all(tmp_path, None, DialectContext(), (), 1, tmp_path)
    reloader = Reloader(
        Store(loaded.policy, loaded.identities),
        policies=tmp_path,
        identities=None,
        context=DialectContext(),
        extra=(),
        tests=tmp_path,
    )
    before = reloader.store.policy
    (tmp_path / "p.yaml").write_text(OTHER)  # x loses pull on a: the test fails
    assert not await reloader.reload("test")
    assert reloader.store.policy is before
    assert (reloader.store.reloads_tests_failed, reloader.store.reloads_failed) == (1, 0)
    (tmp_path / "p.yaml").write_text(GOOD + OTHER.removeprefix("statements:\n"))
    assert await reloader.reload("test")
    assert reloader.store.policy.generation == 2


def test_a_start_with_failing_tests_raises_naming_them(tmp_path: Path) -> None:
    from regproxy.policycode.suite import PolicyTestsFailed  # noqa: PLC0415 - this test's subject only

    (tmp_path / "p.yaml").write_text(OTHER)
    (tmp_path / "p.test.yaml").write_text(PASSES)
    with pytest.raises(PolicyTestsFailed) as refused:
        load_all(tmp_path, None, DialectContext(), (), 1, tmp_path)
    assert refused.value.failures[0].startswith("p.test.yaml:2: test 1: expected allow; got deny")
