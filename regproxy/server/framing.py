"""HTTP/1.1 request framing, scanned before aiohttp parses a byte (RFC 9112, sans-I/O).

The connection layer (:mod:`regproxy.server.connections`) feeds every received byte here first
and passes on to aiohttp only what this scanner accepted, so that:

- the end of each request head is known (a head must arrive within the header timeout, and is
  at most ``max_head_size`` bytes, its lines at most ``max_line_size``);
- a head aiohttp's parser would refuse with an error that quotes the raw line (an
  ``Authorization`` value included) is refused here first, without echoing anything: the
  grammar accepted is a strict subset of what aiohttp accepts (a fixed set of methods, an
  origin-form target of RFC 3986 characters, token header names, no obs-fold, one framing);
- a request carrying both ``Transfer-Encoding`` and ``Content-Length``, a transfer coding other
  than ``chunked``, or conflicting lengths is refused (request smuggling, RFC 9112 §6.1);
- the chunk framing of a body is followed, trailers included: trailers are capped at
  ``max_trailer_size``. aiohttp's own error in a trailer never ends the request's body stream
  (the handler waits for ever), so a framing error is found here and reported as a
  :class:`Violation` in the body, for the connection layer to end that stream itself.

:meth:`RequestFraming.feed` returns how many of the bytes given may be passed on, and what
happened in them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum, auto

# the methods llhttp knows (so that aiohttp parses what passes), bar CONNECT's authority form;
# the application answers the ones it does not serve with 405
METHODS = frozenset(
    b"GET HEAD POST PUT PATCH DELETE OPTIONS TRACE COPY LOCK MKCOL MOVE PROPFIND PROPPATCH SEARCH UNLOCK "
    b"BIND REBIND UNBIND ACL REPORT MKACTIVITY CHECKOUT MERGE NOTIFY SUBSCRIBE UNSUBSCRIBE PURGE "
    b"MKCALENDAR LINK UNLINK SOURCE QUERY".split()
)
_TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_REQUEST_LINE = re.compile(rb"([A-Z]{1,12}) (/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*) HTTP/1\.([01])")
_FIELD_VALUE = rb"[ \t\x21-\x7e\x80-\xff]*"  # SP, HTAB, VCHAR, obs-text: RFC 9110 §5.5 field-value
_FIELD = re.compile(rb"(" + _TOKEN + rb"):(" + _FIELD_VALUE + rb")")
# a whole head without a body (the common GET/HEAD), checked in one match; its target's
# percent-escapes are checked apart (_BAD_ESCAPE), cheaper than an alternation per byte
_BODILESS_HEAD = re.compile(
    rb"([A-Z]{1,12}) /[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]* HTTP/1\.[01]\r\n(?:"
    + _TOKEN
    + rb":"
    + _FIELD_VALUE
    + rb"\r\n)*\r\n"
)
_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
# What the start of a head can be before its first line is complete: a method being written.
# Anything else (a TLS ClientHello on the plain port, binary garbage) is refused at once, not
# held until the header timeout: a client that tries TLS first falls back without delay.
_METHOD_PREFIX = re.compile(rb"[A-Z]{0,12}(?: |$)")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,15})(?:;" + _TOKEN + rb"(?:=(?:" + _TOKEN + rb'|"[^"\r\n\\]*"))?)*')
_MAX_CHUNK_LINE = 1024


class Phase(Enum):
    HEAD = auto()  # between requests, or inside a head
    LENGTH_BODY = auto()
    CHUNK_SIZE = auto()
    CHUNK_DATA = auto()
    CHUNK_DATA_END = auto()
    TRAILER = auto()
    FAILED = auto()


@dataclass(frozen=True, slots=True)
class Violation:
    """What went wrong, in words that quote nothing the client sent."""

    status: int  # 400, 413, 431, 501
    reason: str
    in_body: bool  # True: a request is in flight and its body stream must end with an error


@dataclass(slots=True)
class Scan:
    data: bytes = b""  # the bytes to pass on to the HTTP parser now (complete, checked units)
    heads_started: int = 0  # first bytes of a head seen
    heads_completed: int = 0
    messages_completed: int = 0
    violation: Violation | None = None


@dataclass(frozen=True, slots=True)
class FramingLimits:
    max_head_size: int = 65536
    max_line_size: int = 16384
    max_trailer_size: int = 8192


class RequestFraming:
    """The framing state of one connection's request stream.

    Bytes of a unit not yet complete (a head, a chunk-size line, a trailer) are held back, so
    the parser behind never sees a head or a framing line this scanner has not checked."""

    def __init__(self, limits: FramingLimits) -> None:
        self.limits = limits
        self.phase = Phase.HEAD
        self._held = bytearray()  # the start of an incomplete unit
        self._line_start = 0  # within a held head, where its last line starts
        self._search_from = 0  # within _held, where its terminator may still start
        self._remaining = 0  # body or chunk bytes still to come
        self._trailer_bytes = 0

    @property
    def in_head(self) -> bool:
        """A head has started and is not complete."""
        return self.phase is Phase.HEAD and bool(self._held)

    def feed(self, data: bytes) -> Scan:
        if (
            self.phase is Phase.HEAD
            and not self._held
            and len(data) <= self.limits.max_head_size
            and data.find(b"\r\n\r\n") == len(data) - 4 > 0
        ):
            if data[0] not in (0x0D, 0x0A) and self._check_head(data) is None and self.phase is Phase.HEAD:
                return Scan(data, 1, 1, 1)  # the common case: exactly one whole bodiless head
            self.phase = Phase.HEAD  # undo what the check set up; the general path does it again
        scan = Scan()
        search_from = 0
        resuming = bool(self._held)
        if resuming:
            if self.phase is Phase.HEAD and b"\r\n\r\n" not in self._held[-3:] + data[:3] and b"\r\n\r\n" not in data:
                return self._trickle(data, scan)  # still no end of head: append, O(len(data))
            data = bytes(self._held) + data
            search_from = self._search_from
            self._held = bytearray()
        pos, end = 0, len(data)
        while pos < end and self.phase is not Phase.FAILED:
            phase = self.phase
            if phase is Phase.LENGTH_BODY or phase is Phase.CHUNK_DATA:
                take = min(self._remaining, end - pos)
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    if phase is Phase.LENGTH_BODY:
                        self._message_done(scan)
                    else:
                        self.phase = Phase.CHUNK_DATA_END
                continue
            if phase is Phase.HEAD:
                if not resuming:
                    # RFC 9112 §2.2: empty lines before a request line are ignored
                    while pos < end and data[pos] in (0x0D, 0x0A):
                        pos += 1
                    if pos == end:
                        break
                    scan.heads_started += 1
                found = data.find(b"\r\n\r\n", pos + search_from)
                if found == -1:
                    self._hold(data, pos, scan)
                    break
                ok = self._head(data[pos : found + 4], scan)
            else:
                found = data.find(b"\r\n", pos + search_from)
                if found == -1:
                    self._hold(data, pos, scan)
                    break
                ok = self._line(data[pos:found], scan)
            search_from = 0
            resuming = False
            if not ok:
                break
            pos = found + (4 if phase is Phase.HEAD else 2)
        scan.data = data if pos == end else data[:pos]
        return scan

    def _early_refusal(self, held: bytes | bytearray, scan: Scan) -> bool:
        """Refuse a partial head whose request line cannot become valid (True: refused)."""
        end = held.find(b"\r\n")
        if end == -1:
            if _METHOD_PREFIX.match(held, 0, 13) is None:
                return not self._fail(scan, 400, "malformed request line", in_body=False)
            return False
        line = _REQUEST_LINE.fullmatch(held, 0, end)
        if line is None or line.group(1) not in METHODS:
            status = 431 if end > self.limits.max_line_size else 400
            return not self._fail(scan, status, "malformed request line", in_body=False)
        return False

    def _trickle(self, data: bytes, scan: Scan) -> Scan:
        newline = data.rfind(b"\n")
        if newline != -1:
            self._line_start = len(self._held) + newline + 1
        first_line_pending = self._held.find(b"\r\n") == -1
        self._held += data
        if first_line_pending and self._early_refusal(self._held, scan):
            return scan
        if len(self._held) > self.limits.max_head_size:
            self._fail(scan, 431, "the request head is too large", in_body=False)
        elif len(self._held) - self._line_start > self.limits.max_line_size:
            self._fail(scan, 431, "a request head line is too long", in_body=False)
        self._search_from = max(0, len(self._held) - 3)
        return scan

    def _hold(self, data: bytes, pos: int, scan: Scan) -> None:
        held = data[pos:]
        phase = self.phase
        if phase is Phase.HEAD:
            if self._early_refusal(held, scan):
                return
            self._line_start = held.rfind(b"\n") + 1
            if len(held) > self.limits.max_head_size:
                self._fail(scan, 431, "the request head is too large", in_body=False)
                return
            if len(held) - self._line_start > self.limits.max_line_size:
                self._fail(scan, 431, "a request head line is too long", in_body=False)
                return
            self._search_from = max(0, len(held) - 3)
        else:
            if phase is Phase.TRAILER and self._trailer_bytes + len(held) > self.limits.max_trailer_size:
                self._fail(scan, 431, "the chunked trailers are too large", in_body=True)
                return
            if phase is Phase.CHUNK_DATA_END and not b"\r\n".startswith(held):
                self._fail(scan, 400, "malformed chunk framing", in_body=True)
                return
            if len(held) > _MAX_CHUNK_LINE + self.limits.max_trailer_size:
                self._fail(scan, 400, "malformed chunk framing", in_body=True)
                return
            self._search_from = max(0, len(held) - 1)
        self._held = bytearray(held)

    # -- heads ----------------------------------------------------------------------------
    def _head(self, head: bytes, scan: Scan) -> bool:
        if len(head) > self.limits.max_head_size:
            return self._fail(scan, 431, "the request head is too large", in_body=False)
        problem = self._check_head(head)
        if problem is not None:
            status, reason = problem
            return self._fail(scan, status, reason, in_body=False)
        scan.heads_completed += 1
        if self.phase is Phase.HEAD:  # no body
            scan.messages_completed += 1
        return True

    def _check_head(self, head: bytes) -> tuple[int, str] | None:
        if len(head) <= self.limits.max_line_size:
            lower = head.lower()
            if b"\ncontent-length:" not in lower and b"\ntransfer-encoding:" not in lower:
                match = _BODILESS_HEAD.fullmatch(head)
                if match is not None and match.group(1) in METHODS:
                    target_end = head.find(b" HTTP/1.")
                    if head.find(b"%", 0, target_end) == -1 or _BAD_ESCAPE.search(head, 0, target_end) is None:
                        return None  # the fast path: no line can be too long, no body
        lines = head[:-4].split(b"\r\n")
        limit = self.limits.max_line_size
        request_line = _REQUEST_LINE.fullmatch(lines[0])
        if request_line is None or request_line.group(1) not in METHODS:
            if len(lines[0]) > limit:
                return 431, "the request line is too long"
            return 400, "malformed request line"
        http10 = request_line.group(3) == b"0"
        length: bytes | None = None
        chunked = False
        for line in lines[1:]:
            if len(line) > limit:
                return 431, "a request header line is too long"
            field = _FIELD.fullmatch(line)
            if field is None:
                return 400, "malformed request header"
            name = field.group(1).lower()
            if name == b"content-length":
                value = field.group(2).strip(b" \t")
                if not value.isdigit() or len(value) > 18 or (length is not None and value != length):
                    return 400, "invalid Content-Length"
                length = value
            elif name == b"transfer-encoding":
                if chunked or field.group(2).strip(b" \t").lower() != b"chunked" or http10:
                    return 501, "only a single chunked transfer coding is supported"
                chunked = True
        if chunked and length is not None:
            return 400, "both Transfer-Encoding and Content-Length"
        if chunked:
            self.phase = Phase.CHUNK_SIZE
        elif length is not None and int(length) > 0:
            self.phase = Phase.LENGTH_BODY
            self._remaining = int(length)
        return None

    # -- chunk framing ----------------------------------------------------------------------
    def _line(self, line: bytes, scan: Scan) -> bool:
        """A chunk-size line, the CRLF after chunk data, or a trailer line (without its CRLF)."""
        phase = self.phase
        if phase is Phase.CHUNK_DATA_END:
            if line:
                return self._fail(scan, 400, "malformed chunk framing", in_body=True)
            self.phase = Phase.CHUNK_SIZE
        elif phase is Phase.CHUNK_SIZE:
            size = _CHUNK_SIZE.fullmatch(line) if len(line) <= _MAX_CHUNK_LINE else None
            if size is None:
                return self._fail(scan, 400, "malformed chunk size", in_body=True)
            self._remaining = int(size.group(1), 16)
            if self._remaining:
                self.phase = Phase.CHUNK_DATA
            else:
                self.phase = Phase.TRAILER
                self._trailer_bytes = 0
        else:  # a trailer line, or the empty line that ends the message
            self._trailer_bytes += len(line) + 2
            if self._trailer_bytes > self.limits.max_trailer_size:
                return self._fail(scan, 431, "the chunked trailers are too large", in_body=True)
            if not line:
                self._message_done(scan)
            elif _FIELD.fullmatch(line) is None:
                return self._fail(scan, 400, "malformed trailer", in_body=True)
        return True

    # -- outcomes ---------------------------------------------------------------------------
    def _message_done(self, scan: Scan) -> None:
        self.phase = Phase.HEAD
        self._remaining = 0
        scan.messages_completed += 1

    def _fail(self, scan: Scan, status: int, reason: str, *, in_body: bool) -> bool:
        self.phase = Phase.FAILED
        self._held = bytearray()
        scan.violation = Violation(status, reason, in_body)
        return False
