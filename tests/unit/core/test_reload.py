"""Hot reload: a good set swaps in whole, a bad set changes nothing, ConfigMap swaps are seen."""

from __future__ import annotations

import os
from pathlib import Path

from regproxy.policy.dialects import DialectContext
from regproxy.reload import Reloader, Store, fingerprint, load_all

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
