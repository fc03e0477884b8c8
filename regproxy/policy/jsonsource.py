"""JSON parsing that remembers where each object, array and value was written.

The cloud dialects (Tencent CAM, Alibaba RAM) accept policies as JSON, pasted from a console.
``json.loads`` keeps no positions, so :func:`load_json` runs the standard library's own
pure-Python scanner with its object and array parsers wrapped: every JSON object becomes a
:class:`JsonObject` (a ``dict``) and every array a :class:`JsonArray` (a ``list``) that know the
1-based line where they start and the line of each of their values. Strings, numbers and the
escapes are decoded by the standard library exactly as ``json.loads`` decodes them; a key written
twice in one object is an error (``json.loads`` silently keeps the last one, and a policy whose
``effect`` is written twice means nothing clear).
"""

from __future__ import annotations

import bisect
import json
import json.decoder
import json.scanner
from collections.abc import Callable
from typing import Any

from regproxy.errors import SourceLocation

_ScanOnce = Callable[[str, int], tuple[Any, int]]


class JsonObject(dict[str, Any]):
    """A JSON object that knows its line and the line of each key's value."""

    line: int = 0

    def __init__(self) -> None:
        super().__init__()
        self.value_lines: dict[str, int] = {}

    def line_of(self, key: str) -> int:
        return self.value_lines.get(key, self.line)


class JsonArray(list[Any]):
    """A JSON array that knows its line and the line of each item."""

    line: int = 0

    def __init__(self) -> None:
        super().__init__()
        self.item_lines: list[int] = []

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if 0 <= index < len(self.item_lines) else self.line


class JsonSyntaxError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


class _DuplicateKey(ValueError):
    def __init__(self, key: str, position: int) -> None:
        super().__init__(key)
        self.key = key
        self.position = position


class _Lines:
    """Offset → 1-based line, by bisecting the offsets of the newlines."""

    def __init__(self, text: str) -> None:
        self._newlines = [i for i, ch in enumerate(text) if ch == "\n"]

    def __call__(self, offset: int) -> int:
        return bisect.bisect_left(self._newlines, offset) + 1


class _Decoder(json.JSONDecoder):
    """A decoder whose scanner builds :class:`JsonObject` / :class:`JsonArray` with lines.

    ``json.scanner.py_make_scanner`` reads ``parse_object`` and ``parse_array`` from its
    context when it is built, and hands every nested value back to them; the C scanner would
    bypass both, so the pure-Python one is used on purpose (policies are small).
    """

    def __init__(self, lines: _Lines) -> None:
        super().__init__(strict=True)
        self._lines = lines
        self.parse_object = self._parse_object
        self.parse_array = self._parse_array
        # The stubs do not declare the pure-Python scanner; it is public in the module itself.
        self.scan_once = getattr(json.scanner, "py_make_scanner")(self)  # noqa: B009

    def _recording(self, scan_once: _ScanOnce, starts: list[int]) -> _ScanOnce:
        def scan(text: str, index: int) -> tuple[Any, int]:
            starts.append(index)
            return scan_once(text, index)

        return scan

    def _parse_object(
        self, s_and_end: tuple[str, int], strict: bool, scan_once: _ScanOnce, *rest: Any
    ) -> tuple[JsonObject, int]:
        start = s_and_end[1]
        starts: list[int] = []
        pairs, end = json.decoder.JSONObject(  # type: ignore[attr-defined]
            s_and_end, strict, self._recording(scan_once, starts), None, list, *rest[2:]
        )
        obj = JsonObject()
        obj.line = self._lines(start - 1)
        for (key, value), value_start in zip(pairs, starts, strict=True):
            if key in obj:
                raise _DuplicateKey(key, value_start)
            obj[key] = value
            obj.value_lines[key] = self._lines(value_start)
        return obj, end

    def _parse_array(self, s_and_end: tuple[str, int], scan_once: _ScanOnce) -> tuple[JsonArray, int]:
        start = s_and_end[1]
        starts: list[int] = []
        values, end = json.decoder.JSONArray(  # type: ignore[attr-defined]
            s_and_end, self._recording(scan_once, starts)
        )
        array = JsonArray()
        array.line = self._lines(start - 1)
        array.extend(values)
        array.item_lines = [self._lines(i) for i in starts]
        return array, end


def load_json(text: str) -> Any:
    """Parse one JSON document; objects and arrays carry lines. Raise :class:`JsonSyntaxError`."""
    text = text.removeprefix("\ufeff")  # a byte-order mark from a Windows editor is not content
    lines = _Lines(text)
    try:
        return _Decoder(lines).decode(text)
    except _DuplicateKey as exc:
        raise JsonSyntaxError(lines(exc.position), f"key `{exc.key}` is written twice") from None
    except json.JSONDecodeError as exc:
        raise JsonSyntaxError(exc.lineno, f"invalid JSON: {exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise JsonSyntaxError(0, "invalid JSON: nested too deeply") from None


def line_of(value: Any, default: int = 0) -> int:
    return value.line if isinstance(value, JsonObject | JsonArray) else default


def at(location: SourceLocation, value: Any) -> SourceLocation:
    """``location`` moved to the line where ``value`` (an object or array) starts."""
    return SourceLocation(location.file, line_of(value, location.line))


def at_key(location: SourceLocation, obj: JsonObject, key: str) -> SourceLocation:
    """``location`` moved to the line where the value of ``obj[key]`` is written."""
    return SourceLocation(location.file, obj.line_of(key) or location.line)


def string_list(obj: JsonObject, key: str, location: SourceLocation) -> list[tuple[str, SourceLocation]]:
    """``obj[key]`` as a string or a non-empty list of strings, each with its line.

    Raises ``ValueError`` (the caller adds the statement's words) when the value is anything
    else: a number, an empty string or list, a list holding a non-string.
    """
    value = obj[key]
    where = at_key(location, obj, key)
    if isinstance(value, str):
        if not value.strip():
            raise ValueError(f"`{key}` is an empty string")
        return [(value, where)]
    if not isinstance(value, JsonArray) or not value:
        raise ValueError(f"`{key}` must be a string or a non-empty list of strings")
    out: list[tuple[str, SourceLocation]] = []
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"`{key}` must be a string or a non-empty list of strings")
        out.append((item, SourceLocation(location.file, value.line_of(index))))
    return out
