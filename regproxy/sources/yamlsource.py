"""YAML parsing that remembers where each mapping was written, for file:line errors."""

from __future__ import annotations

from typing import Any

import yaml

from regproxy.errors import SourceLocation


class LineDict(dict[str, Any]):
    """A mapping from a YAML document that knows its 1-based line."""

    line: int = 0


# libyaml's parser when PyYAML has it (its wheels do): a large policy parses ~10x faster.
_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[valid-type,misc]
    pass


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | bool | float) and key is not None:
            raise yaml.constructor.ConstructorError(None, None, "mapping keys must be scalars", key_node.start_mark)
        if str(key) in result:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key `{key}`", key_node.start_mark)
        result[str(key)] = loader.construct_object(value_node, deep=True)
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class YamlSyntaxError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def load_yaml(text: str) -> Any:
    """Parse one YAML document with :class:`LineDict` mappings; raise :class:`YamlSyntaxError`."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader derives from a safe loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise YamlSyntaxError(line, str(exc.problem or exc.context or "invalid YAML")) from exc
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(0, str(exc)) from exc


def line_of(value: Any, default: int = 0) -> int:
    return value.line if isinstance(value, LineDict) else default


def at(location: SourceLocation, value: Any) -> SourceLocation:
    """``location`` moved to the line where ``value`` (a mapping) was written."""
    return SourceLocation(location.file, line_of(value, location.line))
