"""Request framing scanned before aiohttp parses: heads, lengths, chunks, trailers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regproxy.server.framing import FramingLimits, Phase, RequestFraming, Violation

LIMITS = FramingLimits(max_head_size=4096, max_line_size=1024, max_trailer_size=256)
GET = b"GET /v2/ HTTP/1.1\r\nHost: x\r\nAuthorization: Basic c2VjcmV0\r\n\r\n"
PUT = b"PUT /v2/a/blobs/uploads/u?digest=sha256%3Aab HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
CHUNKED = (
    b"PATCH /v2/a/blobs/uploads/u HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n1;ext=1\r\n!\r\n0\r\nX-Trailer: t\r\n\r\n"
)


def feed_all(data: bytes, cuts: list[int] | None = None) -> tuple[bytes, int, int, Violation | None]:
    framing = RequestFraming(LIMITS)
    out, heads, messages = b"", 0, 0
    violation: Violation | None = None
    points = [*sorted(set(cuts or [])), len(data)]
    start = 0
    for point in points:
        scan = framing.feed(data[start:point])
        start = point
        out += scan.data
        heads += scan.heads_completed
        messages += scan.messages_completed
        violation = violation or scan.violation
    return out, heads, messages, violation


@pytest.mark.parametrize(
    "stream", [GET, PUT, CHUNKED, GET + PUT + CHUNKED + GET], ids=["get", "put", "chunked", "pipelined"]
)
def test_valid_requests_pass_whole(stream: bytes) -> None:
    out, heads, messages, violation = feed_all(stream)
    assert violation is None
    assert out == stream
    assert heads == messages == stream.count(b"HTTP/1.1\r\n")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(GET + PUT + CHUNKED)), max_size=12))
def test_any_segmentation_gives_the_same_bytes_and_messages(cuts: list[int]) -> None:
    stream = GET + PUT + CHUNKED
    assert feed_all(stream, cuts)[:3] == feed_all(stream)[:3]


def test_a_partial_head_is_held_back_until_it_is_complete() -> None:
    framing = RequestFraming(LIMITS)
    first = framing.feed(GET[:30])
    assert first.data == b"" and first.heads_started == 1 and framing.in_head
    rest = framing.feed(GET[30:])
    assert rest.data == GET and rest.heads_completed == 1 and not framing.in_head


@pytest.mark.parametrize(
    ("stream", "status"),
    [
        (b"GET /v2/ HTTP/1.1\r\nBad Header <script>\r\n\r\n", 400),
        (b"GET /v2/ HTTP/1.1\r\nHost: x\r\n folded: continuation\r\n\r\n", 400),
        (b"FOO /v2/ HTTP/1.1\r\n\r\n", 400),
        (b"GET /v2/\x7f HTTP/1.1\r\n\r\n", 400),
        (b"GET /v2/%zz HTTP/1.1\r\n\r\n", 400),
        (b"GET /v2/ HTTP/2.0\r\n\r\n", 400),
        (b"GET http://evil/v2/ HTTP/1.1\r\n\r\n", 400),
        (b"POST /token HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST /token HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
        (b"POST /token HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST /token HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        (b"POST /token HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
        (b"GET /v2/ HTTP/1.1\r\nX: " + b"a" * 2000 + b"\r\n\r\n", 431),
        (b"GET /v2/ HTTP/1.1\r\n" + b"X: aaaaaaaaaaaaaaaaaaaaaaaa\r\n" * 200 + b"\r\n", 431),
        (b"GET /v2/ HTTP/1.1\r\nX: " + b"a" * 2000, 431),
    ],
)
def test_a_bad_head_is_refused_and_never_passed_on(stream: bytes, status: int) -> None:
    out, heads, _, violation = feed_all(stream)
    assert violation is not None and violation.status == status and not violation.in_body
    assert out == b"" and heads == 0


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"zz\r\nhello\r\n0\r\n\r\n", 400),
        (b"5\r\nhelloXX0\r\n\r\n", 400),
        (b"0\r\n" + b"X-Big: " + b"a" * 300 + b"\r\n\r\n", 431),
        (b"0\r\n" + b"X-T: a\r\n" * 40 + b"\r\n", 431),
        (b"0\r\n" + b"a" * 1000, 431),
        (b"0\r\nnot a field\r\n\r\n", 400),
    ],
    ids=["size", "data-crlf", "trailer-line", "trailer-lines", "trailer-unterminated", "trailer-garbage"],
)
def test_bad_chunk_framing_is_a_violation_in_the_body(body: bytes, status: int) -> None:
    head = b"PATCH /v2/a/blobs/uploads/u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    framing = RequestFraming(LIMITS)
    scan = framing.feed(head + body)
    assert scan.heads_completed == 1 and scan.messages_completed == 0
    assert scan.violation is not None and scan.violation.in_body and scan.violation.status == status
    assert scan.data.startswith(head)
    assert framing.phase is Phase.FAILED
    assert framing.feed(b"more").data == b""


def test_a_trickled_head_costs_linear_work() -> None:
    framing = RequestFraming(FramingLimits(max_head_size=65536, max_line_size=65536))
    framing.feed(b"GET /v2/ HTTP/1.1\r\nX: ")
    for _ in range(20000):
        assert framing.feed(b"a").data == b""
    assert framing.feed(b"\r\n\r\n").heads_completed == 1


@pytest.mark.parametrize(
    "start",
    [b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", b"get /v2/", b"GET\t/", b"\x00", b"PROPFINDXXXXXXX"],
    ids=["tls-client-hello", "lowercase-method", "tab", "nul", "method-too-long"],
)
def test_a_head_that_cannot_become_a_request_is_refused_before_it_is_complete(start: bytes) -> None:
    """A client that tries TLS first on a plain port must hear no at once, not at the timeout."""
    scan = RequestFraming(LIMITS).feed(start)
    assert scan.violation is not None and scan.violation.status == 400 and scan.data == b""


def test_a_bad_request_line_is_refused_as_soon_as_it_is_complete() -> None:
    framing = RequestFraming(LIMITS)
    assert framing.feed(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n").violation is None
    framing = RequestFraming(LIMITS)
    scan = framing.feed(b"GET /v2/<x> HTTP/1.1\r\nHost")
    assert scan.violation is not None and scan.violation.status == 400


def test_a_method_written_byte_by_byte_is_held_not_refused() -> None:
    framing = RequestFraming(LIMITS)
    for byte in b"PATCH /v2/ HTTP/1.1\r\nHost: x\r\n":
        assert framing.feed(bytes([byte])).violation is None
    assert framing.feed(b"\r\n").heads_completed == 1
