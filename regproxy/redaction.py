"""Secrets never leave in text: the redaction every log record goes through.

A password, a token, or the value of an ``Authorization``/``Cookie`` header can reach a log
line by paths nobody wrote on purpose: an HTTP parser error that quotes the raw header line, an
exception whose message carries a form field, a library's debug output. So redaction is not
left to each call site: :func:`install_log_redaction` makes every record created in the process
(regproxy's, aiohttp's, any library's) pass through :func:`redact`, tracebacks included.

What is recognised: credentials after ``Basic``/``Bearer``; the value of ``Authorization``,
``Proxy-Authorization``, ``Cookie`` and ``Set-Cookie`` wherever it is written as a header line;
anything shaped like a JWT; and the value of ``password``/``secret``/``token`` style fields in
forms, queries and JSON.
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any

REDACTED = "<redacted>"

_HEADER = re.compile(r"(?i)\b((?:proxy-)?authorization|(?:set-)?cookie)(\s*['\"]?\s*[:=]\s*['\"]?)[^\r\n'\"\\]*")
_SCHEME = re.compile(r"(?i)\b(basic|bearer)(\s+)[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_-]*")
_FIELD = re.compile(
    r"(?i)\b(password|passwd|secret|client_secret|token|access_token|refresh_token|id_token)"
    r"(['\"]?\s*[:=]\s*['\"]?)[^&\s'\",;}\\]+"
)


def redact(text: str) -> str:
    """``text`` with every recognised secret replaced by ``<redacted>``."""
    text = _HEADER.sub(rf"\1\2{REDACTED}", text)
    text = _SCHEME.sub(rf"\1\2{REDACTED}", text)
    text = _JWT.sub(REDACTED, text)
    return _FIELD.sub(rf"\1\2{REDACTED}", text)


def install_log_redaction() -> None:
    """Make every log record created from now on carry only redacted text (idempotent).

    The message is formatted and redacted when the record is made; a traceback is formatted,
    redacted and folded into the message, because formatters render ``exc_info`` themselves."""
    make = logging.getLogRecordFactory()
    if getattr(make, "redacts", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            message += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
            record.exc_info = None
        record.exc_text = None
        record.msg = redact(message)
        record.args = None
        return record

    factory.redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
