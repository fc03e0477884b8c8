"""Hot reload through the running server, under load, against the real registry.

A policy file is rewritten the way operators and tools do it (write aside, rename over; or,
on Kubernetes, a new ``..data`` directory swapped in by symlink) while clients keep sending
requests. What must hold: no request fails (no 5xx, no connection error), every answer is the
decision of one whole policy set, a set with any error is refused whole (the last good one stays,
the refusal is counted and the log names the file and line), and the watcher notices a
ConfigMap's ``..data`` swap without a signal.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import threading
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import MakeProxy
from tests.support import Proxy, Registry, basic_auth, build_image, request, wait_until
from tests.support.distribution import push_image
from tests.support.examples import ALICE, unique
from tests.support.oci import MANIFEST_TYPE
from tests.support.operations import read_audit, scrape, wait_for_metric
from tests.support.proxy import example_policies

pytestmark = pytest.mark.integration

WAIT = 15.0  # the deadline of any poll: a reload takes a SIGHUP or about a second of polling
REWRITES = 30
LOAD_WORKERS = 4
MAX_LOAD_REQUESTS = 50_000  # the load loop's bound, far above what a run sends


def load_policy(effect: str, repo: str) -> str:
    """The file that flips the decision: ``allow`` (alice may pull ``repo``) or ``deny``."""
    return (
        "version: 1\nstatements:\n"
        f"  - id: load-{effect}\n    effect: {effect}\n    principals: [user:alice]\n"
        f'    actions: [pull]\n    resources: ["{repo}"]\n'
    )


EXPECTED = {"allow": 200, "deny": 403}

BROKEN = {  # text, and the lines an error message may name (the statement, up to the fault)
    "yaml-syntax": ("version: 1\nstatements:\n  - id: broken\n  effect: [deny\n", range(3, 5)),
    "unknown-action": (
        "version: 1\nstatements:\n  - id: broken\n    effect: deny\n    principals: [user:alice]\n"
        '    actions: [pul]\n    resources: ["**"]\n',
        range(3, 7),
    ),
}


def write_atomically(directory: Path, name: str, text: str) -> None:
    """Write a hidden file beside ``name`` (the loader skips hidden names), rename it over."""
    tmp = directory / f".{name}.{uuid.uuid4().hex[:6]}"
    tmp.write_text(text)
    os.replace(tmp, directory / name)


def decision(proxy: Proxy, repo: str) -> int:
    """alice's HEAD of ``repo:v1`` through regproxy: 200 (allowed) or 403 (denied)."""
    return request(proxy.url, "HEAD", f"/v2/{repo}/manifests/v1", auth=ALICE, headers={"Accept": MANIFEST_TYPE}).status


def wait_for_decision(proxy: Proxy, repo: str, status: int, what: str) -> None:
    wait_until(lambda: decision(proxy, repo) == status, timeout=WAIT, what=what)


@pytest.fixture
def repo(registry: Registry) -> str:
    name = f"team-a/{unique('reload')}"
    push_image(registry.url, name, build_image((2048,)), "v1")
    return name


class Load:
    """``LOAD_WORKERS`` concurrent aiohttp clients sending alice's HEAD of one manifest until
    stopped (or ``MAX_LOAD_REQUESTS``): half on keep-alive connections, half on a new
    connection each. Every answer's status, and every error, is kept. Runs in its own thread."""

    def __init__(self, proxy: Proxy, repo: str) -> None:
        self.url = f"{proxy.url}/v2/{repo}/manifests/v1"
        self.prefix = f"load-{uuid.uuid4().hex[:8]}-"
        self.statuses: Counter[int] = Counter()
        self.errors: list[str] = []
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="load", daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=WAIT)
        assert not self._thread.is_alive(), "the load loop did not stop"

    async def _main(self) -> None:
        try:
            timeout = aiohttp.ClientTimeout(total=30)
            async with (
                aiohttp.ClientSession(timeout=timeout) as keepalive,
                aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(force_close=True)) as fresh,
            ):
                await asyncio.gather(*(self._worker(keepalive if n % 2 else fresh) for n in range(LOAD_WORKERS)))
        except BaseException as exc:  # never lost in the thread: the test asserts on errors
            self.errors.append(f"load loop: {exc!r}")

    async def _worker(self, session: aiohttp.ClientSession) -> None:
        headers = {"Authorization": basic_auth(*ALICE), "Accept": MANIFEST_TYPE}
        while not self._stop.is_set() and self.sent < MAX_LOAD_REQUESTS:
            self.sent += 1
            request_id = f"{self.prefix}{self.sent}"
            try:
                async with session.head(self.url, headers={**headers, "X-Request-Id": request_id}) as response:
                    self.statuses[response.status] += 1
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                self.errors.append(f"{request_id}: {exc!r}")

    def wait_for_more(self, count: int) -> None:
        """Until ``count`` more answers arrived: the load really runs across each change."""
        target = sum(self.statuses.values()) + count
        wait_until(
            lambda: sum(self.statuses.values()) >= target or bool(self.errors),
            timeout=WAIT,
            what=f"{count} more answers under load",
        )


def test_requests_never_fail_while_the_policy_set_changes_under_load(make_proxy: MakeProxy, repo: str) -> None:
    """30 atomic rewrites alternating between two valid sets (an allow and a deny for alice on
    one repository), most followed by SIGHUP and some by an extra SIGHUP with no change, some
    left to the watcher, while 4 concurrent clients send requests: no error and no 5xx; every
    answer is 200 or 403; each rewrite is in force before the next; and in the audit every
    answer is the decision of one whole set (one decision per policy hash, the deciding
    statement matching the status)."""
    proxy = make_proxy(policies={**example_policies(), "load.yaml": load_policy("allow", repo)})
    assert decision(proxy, repo) == 200

    with Load(proxy, repo) as load:
        load.wait_for_more(20)
        for n in range(REWRITES):
            effect = "deny" if n % 2 == 0 else "allow"
            write_atomically(proxy.policies_dir, "load.yaml", load_policy(effect, repo))
            if n % 10 != 9:  # every tenth change is left to the watcher
                proxy.signal(signal.SIGHUP)
            if n % 5 == 0:
                proxy.signal(signal.SIGHUP)  # a reload with nothing changed
            wait_for_decision(proxy, repo, EXPECTED[effect], f"rewrite {n + 1} ({effect}) in force")
            load.wait_for_more(5)

    assert load.errors == [], load.errors[:10]
    assert set(load.statuses) == {200, 403}, load.statuses
    assert sum(load.statuses.values()) >= REWRITES * 5

    metrics = wait_for_metric(
        proxy.admin_url,
        "regproxy_policy_reloads_total",
        lambda v: v >= REWRITES,
        what="every reload counted",
        result="succeeded",
    )
    assert metrics >= REWRITES
    assert scrape(proxy.admin_url).value("regproxy_policy_reloads_total", result="failed") == 0

    def load_events() -> list[dict[str, Any]] | None:
        events = [e for e in read_audit(proxy.audit_path) if str(e["request_id"]).startswith(load.prefix)]
        return events if len(events) == sum(load.statuses.values()) else None

    events = wait_until(load_events, timeout=WAIT, what="an audit line for every answer under load")
    by_hash: dict[str, set[tuple[int, str]]] = defaultdict(set)
    for event in events:
        by_hash[event["policy_hash"]].add((event["status"], event["decision"]))
        if event["status"] == 403:
            assert event["decision"] == "explicit-deny", event
            assert event["statements"] == ["load.yaml#load-deny"], event
        else:
            assert (event["status"], event["decision"]) == (200, "allowed"), event
            assert "load.yaml#load-allow" in event["statements"], event
    assert len(by_hash) == 2, dict(by_hash)  # two distinct sets were ever in force…
    assert all(len(outcomes) == 1 for outcomes in by_hash.values()), dict(by_hash)  # …each one whole


@pytest.mark.parametrize("broken", sorted(BROKEN))
def test_a_broken_set_changes_nothing(make_proxy: MakeProxy, repo: str, broken: str) -> None:
    """A set with an error is refused whole: with a broken file beside them, even a valid
    change to another file does not apply; decisions stay those of the last good set (deny),
    the generation stays, ``regproxy_policy_reloads_total{result="failed"}`` counts the
    refusals and the log names the broken file and line. Removing the broken file lets the
    pending valid change apply."""
    proxy = make_proxy(policies={**example_policies(), "load.yaml": load_policy("deny", repo)})
    assert decision(proxy, repo) == 403
    text, lines = BROKEN[broken]

    write_atomically(proxy.policies_dir, "broken.yaml", text)
    proxy.signal(signal.SIGHUP)
    wait_for_metric(
        proxy.admin_url, "regproxy_policy_reloads_total", lambda v: v >= 1, what="the refusal counted", result="failed"
    )
    write_atomically(proxy.policies_dir, "load.yaml", load_policy("allow", repo))  # valid, but the set is not
    proxy.signal(signal.SIGHUP)
    wait_for_metric(
        proxy.admin_url,
        "regproxy_policy_reloads_total",
        lambda v: v >= 2,
        what="the second refusal counted",
        result="failed",
    )
    assert decision(proxy, repo) == 403
    now = scrape(proxy.admin_url)
    assert now.value("regproxy_policy_generation") == 1
    assert now.value("regproxy_policy_reloads_total", result="succeeded") == 0

    refused = [line for line in proxy.log_text().splitlines() if "reload refused" in line]
    assert refused, proxy.log_text()[-2000:]
    named = {int(m.group(1)) for line in refused if (m := re.search(r"broken\.yaml:(\d+)", line))}
    assert named and named <= set(lines), refused
    assert "generation 1) stays in force" in proxy.log_text()

    (proxy.policies_dir / "broken.yaml").unlink()
    proxy.signal(signal.SIGHUP)
    wait_for_decision(proxy, repo, 200, "the pending valid change, once the broken file is gone")
    assert wait_for_metric(proxy.admin_url, "regproxy_policy_generation", lambda v: v >= 2, what="generation 2") >= 2


def configmap_update(root: Path, files: dict[str, str]) -> None:
    """Update ``root`` as the kubelet updates a ConfigMap volume: the files go into a new
    hidden timestamped directory, a ``..data_tmp`` symlink to it is renamed over ``..data``
    (one atomic step), the old directory is removed; each top-level name is a symlink into
    ``..data``, made once."""
    root.mkdir(exist_ok=True)
    version = root / f"..{uuid.uuid4().hex}"
    version.mkdir()
    for name, text in files.items():
        (version / name).write_text(text)
    data = root / "..data"
    old = Path(os.readlink(data)) if data.is_symlink() else None
    (root / "..data_tmp").symlink_to(version.name)
    os.replace(root / "..data_tmp", data)
    for name in files:
        if not (root / name).is_symlink():
            (root / name).symlink_to(Path("..data") / name)
    if old is not None:
        shutil.rmtree(root / old)


def test_a_configmap_symlink_swap_is_picked_up_without_a_signal(
    make_proxy: MakeProxy, repo: str, tmp_path: Path
) -> None:
    """The policies directory is a Kubernetes ConfigMap volume: when its ``..data`` symlink is
    swapped to a new version, the running server's watcher reloads (no SIGHUP is sent) and the
    new decision is in force; a broken version swapped in is refused and the last good one
    stays; a good version after it applies."""
    mount = tmp_path / "configmap"
    configmap_update(mount, {**example_policies(), "load.yaml": load_policy("allow", repo)})
    proxy = make_proxy(settings={"policies": str(mount)})
    assert decision(proxy, repo) == 200

    configmap_update(mount, {**example_policies(), "load.yaml": load_policy("deny", repo)})
    wait_for_decision(proxy, repo, 403, "the swapped-in version (deny) in force")
    assert wait_for_metric(proxy.admin_url, "regproxy_policy_generation", lambda v: v >= 2, what="generation 2") == 2

    configmap_update(mount, {**example_policies(), "load.yaml": BROKEN["unknown-action"][0]})
    wait_for_metric(
        proxy.admin_url,
        "regproxy_policy_reloads_total",
        lambda v: v >= 1,
        what="the broken version refused",
        result="failed",
    )
    assert decision(proxy, repo) == 403
    assert re.search(r"load\.yaml:\d+: statement `broken`: unknown action `pul`", proxy.log_text())

    configmap_update(mount, {**example_policies(), "load.yaml": load_policy("allow", repo)})
    wait_for_decision(proxy, repo, 200, "the next good version in force")
    # counters reach /metrics within about a second of the change: wait for them
    assert (
        wait_for_metric(
            proxy.admin_url,
            "regproxy_policy_reloads_total",
            lambda v: v >= 2,
            what="two reloads counted",
            result="succeeded",
        )
        == 2
    )
    assert scrape(proxy.admin_url).value("regproxy_policy_reloads_total", result="failed") == 1
