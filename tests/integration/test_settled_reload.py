"""A policy set changes whole even when a tool replaces its files one at a time.

Two sets, each denying bob a pull of one repository: in one, ``a.yaml`` allows and ``b.yaml``
denies; in the other, the reverse. Going from one to the other, the file that becomes the
allow is renamed into place first, three unrelated files next, the file that becomes the deny
last, 20 ms apart: for about 100 ms the directory holds a mix (both allows, no deny) that
neither set is. 50 such replacements run while clients keep asking, as bob, for that pull; a
request decided by the mix would be let through. None may be: every answer is 403, and the
audit shows only denies.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import MakeProxy
from tests.support import basic_auth, wait_until
from tests.support.examples import BOB, unique
from tests.support.faults import LoadLoop
from tests.support.oci import MANIFEST_TYPE
from tests.support.operations import read_audit, scrape
from tests.support.proxy import example_policies

pytestmark = pytest.mark.integration

REPLACEMENTS = 50
STEP = 0.02  # seconds between two renames of one replacement
GAP = 0.35  # seconds between replacements: longer than the settle interval, so most reload
SETTLE = 0.2


def statement(effect: str, repo: str, sid: str) -> str:
    return (
        f"version: 1\nstatements:\n  - id: {sid}\n    effect: {effect}\n    principals: [user:bob]\n"
        f'    actions: [pull]\n    resources: ["{repo}"]\n'
    )


def filler(n: int, version: int) -> str:
    return (
        f"version: 1\nstatements:\n  - id: filler-{n}-v{version}\n    effect: allow\n"
        f'    principals: [user:nobody-{n}]\n    actions: [pull]\n    resources: ["filler/{n}"]\n'
    )


def rename_in(directory: Path, name: str, text: str) -> None:
    tmp = directory / f".{name}.{uuid.uuid4().hex[:6]}"
    tmp.write_text(text)
    os.replace(tmp, directory / name)


def test_no_request_is_decided_by_a_half_replaced_set(make_proxy: MakeProxy) -> None:
    repo = f"mixed/{unique('settle')}"
    first = {"a.yaml": statement("allow", repo, "a-allow"), "b.yaml": statement("deny", repo, "b-deny")}
    fillers = {f"f{n}.yaml": filler(n, 0) for n in range(3)}
    proxy = make_proxy(policies={**example_policies(), **first, **fillers}, settings={"reload": {"settle": SETTLE}})
    policies = proxy.policies_dir
    headers = {"Authorization": basic_auth(*BOB), "Accept": MANIFEST_TYPE}

    # a refusal takes well under a millisecond: the default bound (50 000) can run out before
    # the 50 replacements (~22 s) are done, and the last wait would then wait for nothing
    with LoadLoop(f"{proxy.url}/v2/{repo}/manifests/v1", headers=headers, concurrency=4, max_requests=150_000) as load:
        load.wait_for_more(20)
        for n in range(REPLACEMENTS):
            allow_first, deny_last = ("b.yaml", "a.yaml") if n % 2 == 0 else ("a.yaml", "b.yaml")
            rename_in(policies, allow_first, statement("allow", repo, f"{allow_first[0]}-allow"))
            for m in range(3):
                time.sleep(STEP)  # the pace of the tool under test, not a synchronisation
                rename_in(policies, f"f{m}.yaml", filler(m, n + 1))
            time.sleep(STEP)
            rename_in(policies, deny_last, statement("deny", repo, f"{deny_last[0]}-deny"))
            time.sleep(GAP)
        load.wait_for_more(20)

    statuses = [o.status for o in load.outcomes]
    assert statuses and set(statuses) == {403}, {s: statuses.count(s) for s in set(statuses)}
    reloads = scrape(proxy.admin_url).value("regproxy_policy_reloads_total", result="succeeded")
    assert reloads >= REPLACEMENTS / 2, reloads  # the sets really changed under the load

    def events() -> list[dict[str, object]] | None:
        found = [e for e in read_audit(proxy.audit_path) if str(e["request_id"]).startswith(load.prefix)]
        return found if len(found) == len(statuses) else None

    decided = wait_until(events, timeout=15, what="an audit line for every probe")
    assert {e["decision"] for e in decided} == {"explicit-deny"}
    print(
        f"{REPLACEMENTS} multi-file replacements: {len(statuses)} probes, all 403; "
        f"{reloads:.0f} reloads, {len({e['policy_hash'] for e in decided})} sets seen"
    )
