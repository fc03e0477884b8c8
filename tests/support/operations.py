"""The operator's view of a running regproxy: its metrics, its audit file, its listening port.

- :func:`scrape` reads ``/metrics`` from the admin port and parses it with
  ``prometheus_client``'s own parser, so every scrape also proves the exposition is valid;
  :meth:`Scrape.value` sums the samples that match a name and some labels;
  :func:`wait_for_metric` polls until a value is what the test expects.
- :func:`read_audit` returns the audit events written so far, complete lines only (the writer
  appends asynchronously, so the last line may be half-written when the test reads it);
  :func:`wait_for_events` polls until the lines of given request ids (``X-Request-Id``) are in.
- :func:`connection_refused` tells whether nothing accepts connections on a port any more.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.support.http import request
from tests.support.processes import wait_until


@dataclass(frozen=True, slots=True)
class Scrape:
    text: str
    families: dict[str, str]  # family name -> its type (counter, gauge, histogram, ...)
    samples: tuple[Sample, ...]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples named ``name`` whose labels include ``labels`` (0 if none)."""
        return sum(
            s.value for s in self.samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        )

    def series(self, name: str) -> list[Sample]:
        return [s for s in self.samples if s.name == name]


def scrape(admin_url: str) -> Scrape:
    """``GET /metrics`` on the admin port, parsed by the reference parser (fails if invalid)."""
    response = request(admin_url, "GET", "/metrics", timeout=10)
    assert response.status == 200, (response.status, response.body[:300])
    assert (response.header("Content-Type") or "").startswith("text/plain"), response.header("Content-Type")
    text = response.body.decode()
    families: dict[str, str] = {}
    samples: list[Sample] = []
    for family in text_string_to_metric_families(text):
        families[family.name] = family.type
        samples.extend(family.samples)
    return Scrape(text, families, tuple(samples))


def wait_for_metric(
    admin_url: str, name: str, accept: Callable[[float], bool], *, what: str, timeout: float = 15.0, **labels: str
) -> float:
    """Poll ``/metrics`` until the summed value of ``name{labels}`` satisfies ``accept``.

    Metrics of several workers reach the parent's admin port through snapshots written about
    once a second, so a value is always waited for, never read once.
    """

    def probe() -> float | None:  # 0.0 is a result too: wait_until stops on anything but None/False
        value = scrape(admin_url).value(name, **labels)
        return value if accept(value) else None

    return wait_until(probe, timeout=timeout, what=what)


def read_audit(path: Path) -> list[dict[str, Any]]:
    """The audit events in ``path`` so far, one per complete line."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    complete, _, _ = data.rpartition(b"\n")
    return [json.loads(line) for line in complete.splitlines() if line.strip()]


def events_with_ids(path: Path, request_ids: set[str]) -> dict[str, dict[str, Any]] | None:
    """The events of exactly these request ids (by ``X-Request-Id``), once all are written."""
    found = {e["request_id"]: e for e in read_audit(path) if e.get("request_id") in request_ids}
    return found if len(found) == len(request_ids) else None


def wait_for_events(
    path: Path, request_ids: set[str], *, what: str, timeout: float = 15.0
) -> dict[str, dict[str, Any]]:
    """Poll the audit file until every one of ``request_ids`` has its line; those events by id."""
    return wait_until(lambda: events_with_ids(path, request_ids), timeout=timeout, what=what)


def connection_refused(port: int, host: str = "127.0.0.1") -> bool:
    """True when a TCP connect to ``port`` is refused (nothing listens there)."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
