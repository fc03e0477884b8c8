"""Failed-login back-off: free failures, then exponential blocking, per key, bounded."""

from __future__ import annotations

from regproxy.server.throttle import MemoryLoginThrottle, login_keys


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def throttle(clock: Clock, **kw: float) -> MemoryLoginThrottle:
    settings = {"free_failures": 3, "backoff": 1.0, "backoff_max": 60.0, "window": 900.0} | kw
    return MemoryLoginThrottle(
        free_failures=int(settings["free_failures"]),
        backoff=settings["backoff"],
        backoff_max=settings["backoff_max"],
        window=settings["window"],
        clock=clock,
    )


async def test_the_first_failures_are_free_then_each_one_doubles_the_wait() -> None:
    clock = Clock()
    t = throttle(clock)
    keys = login_keys("192.0.2.7", "alice")
    waits = []
    for _ in range(8):
        waits.append(await t.retry_after(keys))
        await t.failed(keys)
    assert waits[:4] == [0.0, 0.0, 0.0, 0.0]
    assert waits[4:] == [1.0, 2.0, 4.0, 8.0]


async def test_the_wait_is_capped_and_ends() -> None:
    clock = Clock()
    t = throttle(clock, backoff_max=5.0)
    keys = login_keys("192.0.2.7", "alice")
    for _ in range(40):
        await t.failed(keys)
    assert await t.retry_after(keys) == 5.0
    clock.now += 5.0
    assert await t.retry_after(keys) == 0.0


async def test_a_user_name_is_throttled_from_every_address_and_an_address_for_every_name() -> None:
    clock = Clock()
    t = throttle(clock, free_failures=0)
    await t.failed(login_keys("192.0.2.7", "alice"))
    assert await t.retry_after(login_keys("198.51.100.1", "alice")) > 0  # same user, other address
    assert await t.retry_after(login_keys("192.0.2.7", "bob")) > 0  # same address, other user
    assert await t.retry_after(login_keys("198.51.100.1", "bob")) == 0


async def test_a_success_clears_the_user_name_not_the_address() -> None:
    clock = Clock()
    t = throttle(clock, free_failures=0)
    await t.failed(login_keys("192.0.2.7", "alice"))
    clock.now += 10
    await t.succeeded(login_keys("192.0.2.7", "alice"))
    await t.failed(login_keys("192.0.2.7", "mallory"))
    assert await t.retry_after(["user:alice"]) == 0
    assert await t.retry_after(["source:192.0.2.7"]) == 2.0  # the second failure of the address


async def test_failures_older_than_the_window_are_forgotten() -> None:
    clock = Clock()
    t = throttle(clock, free_failures=1, window=60.0)
    await t.failed(["user:alice"])
    clock.now += 61
    await t.failed(["user:alice"])
    assert await t.retry_after(["user:alice"]) == 0


async def test_memory_is_bounded_whatever_names_an_attacker_cycles_through() -> None:
    clock = Clock()
    t = MemoryLoginThrottle(free_failures=0, backoff=1, backoff_max=60, window=900, clock=clock, max_keys=100)
    for n in range(1000):
        await t.failed([f"user:u{n}"])
    assert len(t._records) <= 100


async def test_an_address_has_its_own_larger_allowance() -> None:
    clock = Clock()
    t = MemoryLoginThrottle(
        free_failures=1, free_failures_per_source=3, backoff=1, backoff_max=60, window=900, clock=clock
    )
    for n in range(3):
        await t.failed(login_keys("192.0.2.7", f"user{n}"))
    assert await t.retry_after(["source:192.0.2.7"]) == 0  # three names, one failure each: free
    await t.failed(login_keys("192.0.2.7", "user3"))
    assert await t.retry_after(["source:192.0.2.7"]) == 1.0
