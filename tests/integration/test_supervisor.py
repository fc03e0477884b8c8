"""Several workers under a supervisor: a worker killed with SIGKILL under load is replaced,
the others keep serving, /readyz names the missing worker and recovers, the restart is
counted; a worker that keeps dying is a crash loop and the parent exits non-zero.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import MakeProxy
from tests.support import Registry, basic_auth, build_image, request, wait_until
from tests.support.distribution import push_image
from tests.support.examples import ALICE, unique
from tests.support.faults import LoadLoop, children_of
from tests.support.oci import MANIFEST_TYPE
from tests.support.operations import connection_refused, wait_for_metric

pytestmark = pytest.mark.integration

WAIT = 30.0
WINDOW = 5.0  # seconds after the kill over which errors are counted


def test_a_killed_worker_is_replaced_and_the_others_keep_serving(make_proxy: MakeProxy, registry: Registry) -> None:
    """``workers: 2``, 4 clients each sending HEADs on new connections: SIGKILL one worker.
    Over the next 5 s fewer than 1% of requests fail; a new worker takes the dead one's
    place; /readyz says a worker is missing (or never noticed the short gap) and is ready again;
    ``regproxy_worker_restarts_total`` is 1."""
    repo = f"team-a/{unique('supervise')}"
    push_image(registry.url, repo, build_image((512,)), "v1")
    proxy = make_proxy(settings={"workers": 2})
    wait_until(
        lambda: request(proxy.admin_url, "GET", "/readyz").status == 200, timeout=WAIT, what="/readyz ready at start"
    )
    workers = wait_until(
        lambda: children_of(proxy.pid) if len(children_of(proxy.pid)) == 2 else None, timeout=WAIT, what="two workers"
    )

    headers = {"Authorization": basic_auth(*ALICE), "Accept": MANIFEST_TYPE}
    with LoadLoop(f"{proxy.url}/v2/{repo}/manifests/v1", headers=headers) as load:
        load.wait_for_more(50)
        killed_at = time.monotonic()
        os.kill(workers[0], signal.SIGKILL)
        readiness = []
        while time.monotonic() < killed_at + WINDOW:
            readiness.append(request(proxy.admin_url, "GET", "/readyz", timeout=5))
            time.sleep(0.1)  # the poll step of a bounded window, not a synchronisation
        window = load.between(killed_at, killed_at + WINDOW)

    failed = [o for o in window if o.status != 200]
    assert len(window) >= 100, f"only {len(window)} requests in the window"
    assert len(failed) < len(window) / 100, (len(failed), len(window), failed[:5])

    replacement = wait_until(
        lambda: [p for p in children_of(proxy.pid) if p not in workers] or None, timeout=WAIT, what="a new worker"
    )
    assert workers[1] in children_of(proxy.pid)  # the survivor was never touched
    assert len(children_of(proxy.pid)) == 2, (children_of(proxy.pid), replacement)
    missing = [r for r in readiness if r.status == 503]
    for response in missing:
        assert b"not serving: worker" in response.body, response.body
    wait_until(
        lambda: request(proxy.admin_url, "GET", "/readyz").status == 200, timeout=WAIT, what="/readyz ready again"
    )
    wait_for_metric(proxy.admin_url, "regproxy_worker_restarts_total", lambda v: v == 1, what="one restart counted")
    assert "worker 0" in proxy.log_text() and "SIGKILL" in proxy.log_text()
    print(
        f"kill -9 under load: {len(window)} requests in {WINDOW:.0f}s, {len(failed)} failed; "
        f"/readyz 503 in {len(missing)} of {len(readiness)} polls"
    )


def test_a_worker_that_keeps_dying_is_a_crash_loop_and_the_parent_exits_non_zero(make_proxy: MakeProxy) -> None:
    """Killing the same worker slot again and again (each replacement as soon as it appears)
    ends in a crash loop: the parent stops the other worker and exits 1, and says why."""
    proxy = make_proxy(settings={"workers": 2})
    first, survivor = wait_until(
        lambda: children_of(proxy.pid) if len(children_of(proxy.pid)) == 2 else None, timeout=WAIT, what="two workers"
    )
    killed = [first]
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 120
    while proxy.exit_code() is None and time.monotonic() < deadline:
        for pid in children_of(proxy.pid):
            if pid != survivor and pid not in killed:
                killed.append(pid)
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)  # the poll step of a bounded loop, not a synchronisation
    assert proxy.wait_exit(WAIT) == 1
    assert "crash loop" in proxy.log_text()
    assert not os.path.exists(f"/proc/{survivor}")  # stopped and reaped by the parent before it exited
    assert len(killed) == 6, killed  # the first death and five replacements; the sixth death gives up
    print(f"crash loop: {len(killed)} deaths of one worker slot, parent exit status 1")


def test_workers_of_a_killed_supervisor_stop_instead_of_serving_unsupervised(make_proxy: MakeProxy) -> None:
    """SIGKILL of the parent (nothing could forward a signal): its workers stop on their own,
    and the port refuses connections, rather than orphans serving with nobody to replace them."""
    proxy = make_proxy(settings={"workers": 2})
    workers = wait_until(
        lambda: children_of(proxy.pid) if len(children_of(proxy.pid)) == 2 else None, timeout=WAIT, what="two workers"
    )
    os.kill(proxy.pid, signal.SIGKILL)
    proxy.wait_exit(WAIT)
    wait_until(
        lambda: not any(os.path.exists(f"/proc/{pid}") and _alive(pid) for pid in workers),
        timeout=WAIT,
        what="the workers to stop",
    )
    assert connection_refused(proxy.port)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != "Z"
