"""The application log: one JSON object per record, or text; the configured level."""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from collections.abc import Iterator

import pytest

from regproxy.config import Config
from regproxy.logs import JsonFormatter, setup_logging


@pytest.fixture
def root_restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_json_record_carries_level_logger_message_and_exception() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("regproxy.x", logging.WARNING, __file__, 1, "upstream %s", ("down",), sys.exc_info())
    data = json.loads(JsonFormatter().format(record))
    assert (data["level"], data["logger"], data["message"]) == ("warning", "regproxy.x", "upstream down")
    assert "ValueError: boom" in data["exception"]
    assert data["time"].endswith("+00:00")


@pytest.mark.usefixtures("root_restored")
@pytest.mark.parametrize(("fmt", "formatter"), [("json", JsonFormatter), ("text", logging.Formatter)])
def test_setup_installs_one_handler_with_the_format_and_level(fmt: str, formatter: type[logging.Formatter]) -> None:
    setup_logging(dataclasses.replace(Config(), log_format=fmt, log_level="warning"))
    root = logging.getLogger()
    (handler,) = root.handlers
    assert type(handler.formatter) is formatter
    assert root.level == logging.WARNING
