"""A clock the test sets: what every component that takes ``clock=`` reads in unit tests."""

from __future__ import annotations

NOW = 1_700_000_000.0


class FakeClock:
    """``clock()`` is ``clock.now``; a test moves time by assigning or :meth:`advance`."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
