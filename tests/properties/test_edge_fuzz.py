"""A fuzz campaign over raw HTTP heads and chunk framing against the whole application served
in-process behind the connection layer: no crash (no 500, the server keeps answering), no hang
past the timeouts, and no secret in any answer, log record or audit line.

The example count is bounded so that the campaign runs in seconds; the upstream is a closed
port (what passes authorization is answered 503 without a registry)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regproxy.server.app import build_app, initial_store
from regproxy.server.connections import GuardedSite, connection_limits
from regproxy.settings.files import load_config
from tests.support.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
SECRET = "Fuzz-S3cret-7f1c2d"
BASIC = base64.b64encode(f"alice:{SECRET}".encode()).decode()
HEADER_TIMEOUT = 0.4
IDLE_TIMEOUT = 0.4
# head timeout + body idle timeout + linger + scheduling slack on a busy machine
ANSWER_DEADLINE = 8.0


@dataclass
class Served:
    port: int
    audit: Path
    records: list[logging.LogRecord]


class _Collect(logging.Handler):
    def __init__(self, into: list[logging.LogRecord]) -> None:
        super().__init__(level=logging.DEBUG)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("fuzz")
    audit = tmp / "audit.log"
    port = free_port()
    config = load_config(
        None,
        env={},
        overrides={
            "listen": f"127.0.0.1:{port}",
            "upstream.url": f"http://127.0.0.1:{free_port()}",  # nothing listens: 503 after authorization
            "upstream.connect_timeout": 0.5,
            "policies": str(ROOT / "examples" / "policies"),
            "identities": str(ROOT / "examples" / "identities.yaml"),
            "audit.path": str(audit),
            "limits.header_timeout": HEADER_TIMEOUT,
            "limits.body_idle_timeout": IDLE_TIMEOUT,
            "limits.max_header_size": 4096,
            "limits.max_trailer_size": 512,
        },
    )
    records: list[logging.LogRecord] = []
    handler = _Collect(records)
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop = asyncio.Event()

    async def serve() -> None:
        app = build_app(config, initial_store(config))
        runner = web.AppRunner(
            app, handle_signals=False, access_log=None, lingering_time=0.2, shutdown_timeout=1, keepalive_timeout=0.5
        )
        await runner.setup()
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(128)
        sock.setblocking(False)
        site = GuardedSite(runner, sock, connection_limits(config.limits))
        await site.start()
        ready.set()
        await stop.wait()
        await runner.cleanup()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    yield Served(port, audit, records)
    loop.call_soon_threadsafe(stop.set)
    thread.join(10)
    loop.close()
    root.removeHandler(handler)
    root.setLevel(old_level)


# -- the campaign's grammar: mostly well-formed, with every part liable to break --------------
EOL = st.sampled_from([b"\r\n"] * 6 + [b"\n", b"\r", b"\r\r\n", b""])
METHOD = st.sampled_from([b"GET", b"HEAD", b"POST", b"PUT", b"PATCH", b"DELETE", b"get", b"FOO", b"", b"G\x00T"])
TARGET = st.one_of(
    st.sampled_from(
        [
            b"/v2/",
            b"/token?service=regproxy&scope=repository:team-a/x:pull",
            b"/token",
            b"/credentials",
            b"/v2/team-a/x/manifests/latest",
            b"/v2/team-a/x/blobs/uploads/",
            b"/v2/team-a/x/blobs/uploads/u",
            b"/v2/team-a/x/tags/list?n=1",
            b"*",
            b"http://h/v2/",
        ]
    ),
    st.binary(max_size=40).map(lambda b: b"/v2/" + b),
    st.just(b"/v2/?password=" + SECRET.encode()),
)
VERSION = st.sampled_from([b"HTTP/1.1"] * 5 + [b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.1 x", b"http/1.1", b""])
SECRET_HEADERS = [
    (b"Authorization", b"Basic " + BASIC.encode()),
    (b"Authorization", b"Bearer " + SECRET.encode()),
    (b"Cookie", b"session=" + SECRET.encode()),
    (b"Proxy-Authorization", b"Basic " + BASIC.encode()),
]
HEADER = st.one_of(
    st.sampled_from(SECRET_HEADERS),
    st.tuples(st.just(b"Content-Length"), st.sampled_from([b"0", b"5", b"12", b"-1", b"1e3", b"5, 5", b"99999999999"])),
    st.tuples(st.just(b"Transfer-Encoding"), st.sampled_from([b"chunked", b"gzip", b"chunked, chunked", b"Chunked"])),
    st.tuples(st.just(b"Content-Type"), st.sampled_from([b"application/x-www-form-urlencoded", b"application/json"])),
    st.tuples(st.sampled_from([b"Host", b"X-Filler", b"Expect", b"Connection", b"Upgrade"]), st.binary(max_size=30)),
    st.tuples(st.binary(min_size=1, max_size=12), st.binary(max_size=30)),
)
CHUNK = st.one_of(
    st.binary(max_size=20).map(lambda b: b"%x\r\n%s\r\n" % (len(b), b)),
    st.tuples(st.integers(0, 40), st.binary(max_size=20)).map(lambda t: b"%x\r\n%s\r\n" % t),
    st.sampled_from(
        [b"0\r\n\r\n", b"0\r\nAuthorization: Basic " + BASIC.encode() + b"\r\n\r\n", b"zz\r\n", b"5;x=y\r\n"]
    ),
    st.just(b"0\r\nX-Pad: " + b"a" * 2000 + b"\r\n\r\n"),
)
BODY = st.one_of(
    st.just(b""),
    st.binary(max_size=64),
    st.just(b"grant_type=password&username=alice&password=" + SECRET.encode()),
    st.lists(CHUNK, max_size=4).map(b"".join),
)


@st.composite
def raw_requests(draw: st.DrawFn) -> bytes:
    eol = draw(EOL)
    line = draw(METHOD) + b" " + draw(TARGET) + b" " + draw(VERSION)
    headers = draw(st.lists(HEADER, max_size=6))
    head = line + eol + b"".join(name + b": " + value + eol for name, value in headers) + eol
    return head + draw(BODY)


def exchange(port: int, raw: bytes, *, half_close: bool) -> tuple[bytes, float]:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=ANSWER_DEADLINE) as sock:
        with contextlib.suppress(OSError):
            sock.sendall(raw)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            except TimeoutError:
                raise AssertionError(f"no answer and no close within {ANSWER_DEADLINE}s for {raw[:200]!r}") from None
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks), time.monotonic() - started


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
@given(raw=raw_requests(), half_close=st.booleans())
def test_raw_requests_never_crash_hang_or_leak(served: Served, raw: bytes, half_close: bool) -> None:
    answer, _ = exchange(served.port, raw, half_close=half_close)
    for response in answer.split(b"HTTP/1.")[1:]:
        status = response[2:5]
        assert status.isdigit(), answer[:300]
        assert int(status) != 500, answer[:500]
    assert SECRET.encode() not in answer
    assert BASIC.encode() not in answer


def test_after_the_campaign_the_server_answers_and_nothing_leaked(served: Served) -> None:
    answer, _ = exchange(served.port, b"GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", half_close=False)
    assert answer.startswith(b"HTTP/1.1 401")
    text = "\n".join(r.getMessage() for r in served.records)
    assert SECRET not in text and BASIC not in text
    time.sleep(0.3)  # the audit writer batches for 50 ms
    audit = served.audit.read_text() if served.audit.exists() else ""
    assert SECRET not in audit and BASIC not in audit
