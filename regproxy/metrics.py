"""Prometheus metrics, kept in plain dicts and rendered as text exposition format 0.0.4.

No client library on the hot path: a counter increment is a dict update. Each worker process
keeps its own values and, when several workers run, writes a snapshot to a shared directory
that the admin endpoint sums (:func:`merge_snapshots`), so totals are correct across workers.
"""

from __future__ import annotations

import bisect
import json
import math
import os
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

Labels = tuple[tuple[str, str], ...]

LATENCY_BUCKETS = (
    0.00001,
    0.000025,
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)


class Histogram:
    __slots__ = ("buckets", "count", "counts", "sum")

    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.count += 1
        self.sum += value


HELP = {
    "regproxy_requests_total": ("counter", "Requests (one per audit line) by action, decision and status."),
    "regproxy_decision_seconds": ("histogram", "Time to authenticate and authorize a request."),
    "regproxy_upstream_seconds": ("histogram", "Time to the upstream's response headers."),
    "regproxy_bytes_total": ("counter", "Body bytes streamed, by direction (up = to the registry)."),
    "regproxy_uploads_in_flight": ("gauge", "Requests streaming a body to the registry now."),
    "regproxy_policy_reloads_total": ("counter", "Policy and identity reloads by result."),
    "regproxy_policy_generation": ("gauge", "The policy generation in force."),
    "regproxy_decision_cache_hits_total": ("counter", "Decision cache hits."),
    "regproxy_decision_cache_misses_total": ("counter", "Decision cache misses."),
    "regproxy_manifest_cache_total": ("counter", "Manifest cache lookups by result (hit, miss) and manifests stored."),
    "regproxy_tokens_issued_total": ("counter", "Tokens issued by the token service, by kind."),
    "regproxy_audit_dropped_total": ("counter", "Audit events dropped because the sink was slow."),
    "regproxy_rate_limited_total": ("counter", "Requests refused by a per-principal limit."),
    "regproxy_connections_closed_total": ("counter", "Connections closed by a limit, by reason."),
    "regproxy_worker_restarts_total": ("counter", "Worker processes replaced after they died."),
    "regproxy_upstream_up": ("gauge", "1 when the last capability probe could use the upstream registry."),
    "regproxy_upstream_info": ("gauge", "The upstream registry's API version header, as a label."),
    "regproxy_upstream_capability": ("gauge", "What the upstream supports: 1 on the state in force."),
    "regproxy_upstream_probes_total": ("counter", "Upstream capability probes by result."),
    "regproxy_authentication_failures_total": ("counter", "Failed logins and credentials, by method."),
    "regproxy_logins_total": ("counter", "/token and /credentials requests, by route and result."),
    "regproxy_logins_throttled_total": (
        "counter",
        "Logins refused with 429 while their address or user is backing off.",
    ),
    "regproxy_shadow_disagreements_total": ("counter", "Requests the shadow policy set answers otherwise."),
    "regproxy_shadow_errors_total": ("counter", "Shadow policy evaluations that failed (no effect)."),
}


class Metrics:
    def __init__(self) -> None:
        self.counters: dict[str, dict[Labels, float]] = defaultdict(lambda: defaultdict(float))
        self.gauges: dict[str, dict[Labels, float]] = defaultdict(lambda: defaultdict(float))
        self.histograms: dict[str, dict[Labels, Histogram]] = defaultdict(dict)

    def inc(self, name: str, labels: Labels = (), value: float = 1.0) -> None:
        self.counters[name][labels] += value

    def set(self, name: str, value: float, labels: Labels = ()) -> None:
        self.gauges[name][labels] = value

    def add(self, name: str, value: float, labels: Labels = ()) -> None:
        self.gauges[name][labels] += value

    def observe(self, name: str, value: float, labels: Labels = ()) -> None:
        series = self.histograms[name]
        h = series.get(labels)
        if h is None:
            h = series[labels] = Histogram()
        h.observe(value)

    def snapshot(self) -> dict[str, Any]:
        return {
            "counters": {n: [[list(map(list, k)), v] for k, v in s.items()] for n, s in self.counters.items()},
            "gauges": {n: [[list(map(list, k)), v] for k, v in s.items()] for n, s in self.gauges.items()},
            "histograms": {
                n: [[list(map(list, k)), h.counts, h.count, h.sum] for k, h in s.items()]
                for n, s in self.histograms.items()
            },
        }


def write_snapshot(metrics: Metrics, directory: Path, worker: int) -> None:
    """Atomically replace this worker's snapshot file."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    with os.fdopen(fd, "w") as f:
        json.dump(metrics.snapshot(), f)
    os.replace(tmp, directory / f"worker-{worker}.json")


def merge_snapshots(snapshots: Iterable[dict[str, Any]], gauge_mode: dict[str, str] | None = None) -> Metrics:
    """Sum counters and histograms across workers; gauges are summed unless ``gauge_mode``
    says ``max`` (a generation is the same number in every worker, not a total)."""
    merged = Metrics()
    modes = gauge_mode or {}
    for snap in snapshots:
        for name, series in snap.get("counters", {}).items():
            for labels, value in series:
                merged.inc(name, tuple(tuple(p) for p in labels), value)
        for name, series in snap.get("gauges", {}).items():
            for labels, value in series:
                key = tuple(tuple(p) for p in labels)
                if modes.get(name) == "max":
                    merged.gauges[name][key] = max(merged.gauges[name].get(key, value), value)
                elif modes.get(name) == "min":
                    merged.gauges[name][key] = min(merged.gauges[name].get(key, value), value)
                else:
                    merged.add(name, value, key)
        for name, series in snap.get("histograms", {}).items():
            for labels, counts, count, total in series:
                key = tuple(tuple(p) for p in labels)
                h = merged.histograms[name].get(key)
                if h is None:
                    h = merged.histograms[name][key] = Histogram()
                h.counts = [a + b for a, b in zip(h.counts, counts, strict=True)]
                h.count += count
                h.sum += total
    return merged


def _labels(labels: Labels, extra: tuple[tuple[str, str], ...] = ()) -> str:
    items = (*labels, *extra)
    if not items:
        return ""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in items)
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    """A sample value without losing precision (``:g`` keeps 6 digits: 209715200 bytes would
    read back as 209715000): whole numbers as integers, others as the shortest exact float."""
    number = float(value)  # counters may hold ints (a gauge set from a generation)
    if number.is_integer() and abs(number) < 2**63:
        return str(int(number))
    if math.isnan(number) or math.isinf(number):
        return "NaN" if math.isnan(number) else ("+Inf" if number > 0 else "-Inf")
    return repr(number)


def render(metrics: Metrics) -> str:
    lines: list[str] = []
    names = sorted(set(metrics.counters) | set(metrics.gauges) | set(metrics.histograms) | set(HELP))
    for name in names:
        kind, help_text = HELP.get(name, ("untyped", name))
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in sorted(metrics.counters.get(name, {}).items()):
            lines.append(f"{name}{_labels(labels)} {_number(value)}")
        for labels, value in sorted(metrics.gauges.get(name, {}).items()):
            lines.append(f"{name}{_labels(labels)} {_number(value)}")
        for labels, h in sorted(metrics.histograms.get(name, {}).items()):
            cumulative = 0
            for bound, count in zip(h.buckets, h.counts, strict=False):
                cumulative += count
                lines.append(f"{name}_bucket{_labels(labels, (('le', f'{bound:g}'),))} {cumulative}")
            lines.append(f"{name}_bucket{_labels(labels, (('le', '+Inf'),))} {h.count}")
            lines.append(f"{name}_sum{_labels(labels)} {_number(h.sum)}")
            lines.append(f"{name}_count{_labels(labels)} {h.count}")
    return "\n".join(lines) + "\n"
