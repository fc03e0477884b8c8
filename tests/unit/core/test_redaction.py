"""Redaction of secrets in any log text, and its installation for every log record."""

from __future__ import annotations

import logging

import pytest

from regproxy.redaction import install_log_redaction, redact

SECRET = "c2VjcmV0LXBhc3N3b3Jk"


@pytest.mark.parametrize(
    "text",
    [
        f"Invalid header value char: b'Authorization: Basic {SECRET}\\r\\nHost: x'",
        f"Authorization: Bearer {SECRET}",
        f"proxy-authorization={SECRET}",
        f"Cookie: session={SECRET}; other=1",
        f"grant_type=password&username=alice&password={SECRET}",
        f'{{"password": "{SECRET}"}}',
        f"refresh_token={SECRET}&x=1",
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNlY3JldA",
    ],
)
def test_secrets_are_replaced(text: str) -> None:
    out = redact(text)
    assert SECRET not in out
    assert "c2lnbmF0dXJlLXNlY3JldA" not in out
    assert "<redacted>" in out


def test_ordinary_text_is_left_alone() -> None:
    text = "token issued to alice: library/alpine:pull; GET /v2/a/manifests/latest -> 404"
    assert redact(text) == text


def test_every_record_is_redacted_tracebacks_included(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    install_log_redaction()  # idempotent
    log = logging.getLogger("some.library")
    with caplog.at_level(logging.INFO):
        log.info("parser said %s", f"Authorization: Basic {SECRET}")
        try:
            raise ValueError(f"bad line: Authorization: Basic {SECRET}")
        except ValueError:
            log.exception("failed")
    assert SECRET not in caplog.text
    assert all(SECRET not in r.getMessage() for r in caplog.records)
    assert "ValueError" in caplog.text
