"""The supervisor's decisions, without processes: back-off and crash-loop limit per worker
slot (a pure table), and the loop that replaces a dead worker, gives up on a crash loop and
forwards signals (with fake processes behind the spawn seam)."""

from __future__ import annotations

import asyncio
import dataclasses
import pickle
import signal
import socket
from pathlib import Path
from types import MappingProxyType

import pytest

from regproxy.config import Config
from regproxy.policy.dialects import DialectContext
from regproxy.server.supervisor import RestartPolicy, Supervisor, dump_config


@pytest.mark.parametrize(
    ("deaths", "expected"),
    [
        pytest.param([0.0], [0.1], id="first-death"),
        pytest.param([0.0, 1.0, 2.0, 3.0], [0.1, 0.2, 0.4, 0.8], id="doubling"),
        pytest.param([0.0, 1, 2, 3, 4, 5, 6], [0.1, 0.2, 0.4, 0.8, 1.6, None, None], id="crash-loop"),
        pytest.param([0.0, 100.0, 200.0, 300.0, 400.0, 500.0], [0.1] * 6, id="spread-out-deaths-never-loop"),
    ],
)
def test_back_off_doubles_and_a_burst_of_deaths_is_a_crash_loop(deaths: list[float], expected: list[float]) -> None:
    policy = RestartPolicy(initial_backoff=0.1, max_backoff=5.0, max_restarts=5, window=60.0)
    assert [policy.on_exit(0, t) for t in deaths] == expected


def test_back_off_is_capped_and_counted_per_slot() -> None:
    policy = RestartPolicy(initial_backoff=1.0, max_backoff=3.0, max_restarts=10, window=60.0)
    assert [policy.on_exit(0, float(t)) for t in range(4)] == [1.0, 2.0, 3.0, 3.0]
    assert policy.on_exit(1, 4.0) == 1.0  # another slot has its own history


class FakeProcess:
    pids = iter(range(1000, 2000))

    def __init__(self) -> None:
        self.pid = next(self.pids)
        self.code: int | None = None
        self.signals: list[int] = []

    def poll(self) -> int | None:
        return self.code

    def send_signal(self, sig: int) -> None:
        self.signals.append(sig)
        if sig in (signal.SIGTERM, signal.SIGINT):
            self.code = 0

    def kill(self) -> None:
        self.code = -9


class Spawned(list[FakeProcess]):
    """The fake processes started so far; :meth:`reach` waits (bounded) for the n-th."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = asyncio.Event()

    async def reach(self, count: int) -> None:
        async with asyncio.timeout(5):
            while len(self) < count:
                self.changed.clear()
                await self.changed.wait()


def make_supervisor(tmp_path: Path, max_restarts: int = 5) -> tuple[Supervisor, Spawned]:
    spawned = Spawned()

    def spawn(config: Config, sock: socket.socket, slot: int, directory: Path) -> FakeProcess:
        spawned.append(FakeProcess())
        spawned.changed.set()
        return spawned[-1]

    policy = RestartPolicy(initial_backoff=0.0, max_restarts=max_restarts)
    sock = socket.socket()
    supervisor = Supervisor(Config(workers=2), sock, tmp_path, policy=policy, spawn=spawn, poll_interval=0.001)  # type: ignore[arg-type]
    return supervisor, spawned


async def test_a_dead_worker_is_replaced_and_sigterm_stops_all_with_status_0(tmp_path: Path) -> None:
    supervisor, spawned = make_supervisor(tmp_path)
    running = asyncio.get_running_loop().create_task(supervisor.run())
    await spawned.reach(2)
    spawned[0].code = -9  # SIGKILLed
    await spawned.reach(3)
    assert spawned[1].signals == []  # the other one was left alone
    assert supervisor.metrics.counters["regproxy_worker_restarts_total"][()] == 1
    supervisor.forward(signal.SIGHUP)
    assert spawned[1].signals == [signal.SIGHUP] and spawned[2].signals == [signal.SIGHUP]
    supervisor.forward(signal.SIGTERM)
    assert await running == 0
    assert spawned[1].signals[-1] == spawned[2].signals[-1] == signal.SIGTERM


async def test_a_crash_loop_stops_the_others_and_exits_1(tmp_path: Path) -> None:
    supervisor, spawned = make_supervisor(tmp_path, max_restarts=2)
    running = asyncio.get_running_loop().create_task(supervisor.run())
    await spawned.reach(2)
    for n in range(3):  # slot 0 dies three times: two replacements, then the loop gives up
        victim = spawned[0] if n == 0 else spawned[-1]
        victim.code = 1
        if n < 2:
            await spawned.reach(3 + n)
    assert await running == 1
    assert spawned[1].signals == [signal.SIGTERM]
    assert len(spawned) == 4


def test_a_configuration_with_dialect_settings_reaches_a_worker_whole() -> None:
    """The dialect settings are read-only mappings, which plain pickle refuses."""
    dialects = DialectContext(
        thalassa_projects=MappingProxyType({"proj-a": ("proj-a-*",)}),
        oci_compartments=MappingProxyType({"acme": ("acme-*",)}),
    )
    config = dataclasses.replace(Config(), dialects=dialects)
    copy, key = pickle.loads(dump_config(config, b"k" * 32))
    assert copy == config
    assert key == b"k" * 32
    assert isinstance(copy.dialects.thalassa_projects, MappingProxyType)
