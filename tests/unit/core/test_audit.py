"""The audit writer loses nothing it was given: events in hand and queued at a cancel (the
owner's, at shutdown) are written, a batch a writer thread finishes after the cancel is
counted, and only a full queue drops events, counted."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest

from regproxy.audit import AuditEvent, AuditLog


def event(n: int) -> AuditEvent:
    return AuditEvent(time=0.0, request_id=f"r{n}", source="", method="GET", route="", path="/v2/")


def written(path: Path) -> list[str]:
    return [json.loads(line)["request_id"] for line in path.read_text().splitlines()]


async def test_events_in_hand_and_queued_are_written_when_the_writer_is_cancelled(tmp_path: Path) -> None:
    audit = AuditLog(str(tmp_path / "audit.log"))
    writer = asyncio.get_running_loop().create_task(audit.run())
    audit.emit(event(0))
    await asyncio.sleep(0)  # the writer takes r0 and starts gathering a batch
    assert audit.queue.empty()
    for n in range(1, 4):
        audit.emit(event(n))
    writer.cancel()  # mid-gathering: r0 is in hand, r1..r3 queued
    await asyncio.gather(writer, return_exceptions=True)
    assert written(tmp_path / "audit.log") == ["r0", "r1", "r2", "r3"]
    assert (audit.written, audit.dropped) == (4, 0)


async def test_a_batch_being_written_at_the_cancel_is_written_once_and_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    audit = AuditLog(str(tmp_path / "audit.log"))
    in_thread, release = threading.Event(), threading.Event()
    real_write = audit._write

    def held_write(lines: list[bytes]) -> int:
        in_thread.set()
        release.wait(10)
        return real_write(lines)

    monkeypatch.setattr(audit, "_write", held_write)
    writer = asyncio.get_running_loop().create_task(audit.run())
    audit.emit(event(0))
    assert await asyncio.to_thread(in_thread.wait, 10)  # r0's batch is in the writer thread
    audit.emit(event(1))
    writer.cancel()
    threading.Timer(0.05, release.set).start()  # the thread finishes while the drain waits for it
    await asyncio.gather(writer, return_exceptions=True)
    assert written(tmp_path / "audit.log") == ["r0", "r1"]
    assert (audit.written, audit.dropped) == (2, 0)


async def test_only_a_full_queue_drops_and_each_drop_is_counted(tmp_path: Path) -> None:
    audit = AuditLog(str(tmp_path / "audit.log"), queue_size=2)
    for n in range(5):
        audit.emit(event(n))
    assert audit.dropped == 3
    writer = asyncio.get_running_loop().create_task(audit.run())
    await asyncio.sleep(0)  # started (the owner cancels a writer that has long been running)
    writer.cancel()
    await asyncio.gather(writer, return_exceptions=True)
    assert written(tmp_path / "audit.log") == ["r0", "r1"]
    assert (audit.written, audit.dropped) == (2, 3)


def test_the_facts_a_decision_used_are_named_with_their_answers() -> None:
    from regproxy.audit import audit_facts  # noqa: PLC0415 - the one test of it
    from regproxy.authorization.verdict import RepositoryExists, TagExists, UpstreamSupports  # noqa: PLC0415
    from regproxy.oci.capability import Capability  # noqa: PLC0415

    facts = audit_facts(((RepositoryExists("team-a/app"), False), (TagExists("team-a/app", "v1"), None)))
    assert facts == (
        {"fact": "repository-exists", "repository": "team-a/app", "answer": False},
        {"fact": "tag-exists", "repository": "team-a/app", "tag": "v1", "answer": None},
    )
    line = event(0)
    line.facts, line.reason = facts, "registry_scope_missing"
    decoded = json.loads(line.to_json())
    assert decoded["facts"][1] == {"fact": "tag-exists", "repository": "team-a/app", "tag": "v1", "answer": None}
    assert decoded["reason"] == "registry_scope_missing"
    assert (json.loads(event(1).to_json())["facts"], json.loads(event(1).to_json())["reason"]) == ([], "")
    assert audit_facts(((UpstreamSupports(Capability.TAG_DELETION), False),)) == (
        {"fact": "upstream-supports", "capability": "tag-deletion", "answer": False},
    )
