"""YAML files with lazy line numbers: parse fast with the C loader, find lines only when asked.

Provenance (which file:line set a value) is needed for errors and ``--explain``, rarely for a
render. Parsing with marks costs a second Python walk over every node, so a file is parsed plainly
first and re-composed for its marks only when a line is requested.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from bootstrap.errors import BootstrapError, Origin

try:
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # PyYAML built without libyaml
    _Loader = yaml.SafeLoader

KeyPath = tuple[Any, ...]


class YamlFile:
    """One parsed file: its data and, on demand, the line of every key and list item."""

    __slots__ = ("__dict__", "data", "display", "path")

    def __init__(self, path: Path, display: str, data: Any) -> None:
        self.path = path
        self.display = display
        self.data = data

    @classmethod
    def load(cls, path: Path, display: str | None = None) -> YamlFile:
        shown = display or str(path)
        try:
            text = path.read_bytes()
        except OSError as exc:
            raise BootstrapError(f"cannot read file: {exc.strerror}", origin=Origin(shown)) from None
        try:
            data = yaml.load(text, Loader=_Loader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            origin = Origin(shown, mark.line + 1, mark.column + 1) if mark else Origin(shown)
            problem = exc.problem or exc.context or "parse error"
            raise BootstrapError(f"malformed YAML: {problem}", origin=origin) from None
        except yaml.YAMLError as exc:
            raise BootstrapError(f"malformed YAML: {exc}", origin=Origin(shown)) from None
        return cls(path, shown, data)

    @cached_property
    def marks(self) -> dict[KeyPath, int]:
        """Line (1-based) of each key path: mapping keys and sequence items, at every depth."""
        loader = _Loader(self.path.read_bytes())
        try:
            node = loader.get_single_node()
            if node is None:
                return {}
            # Constructing flattens merge keys (<<) in place, so the walk sees the real pairs.
            loader.construct_document(node)
            out: dict[KeyPath, int] = {}
            _walk(loader, node, (), out, set())
            return out
        finally:
            loader.dispose()

    def origin(self, keypath: KeyPath = ()) -> Origin:
        """The file:line of ``keypath``, or of its closest ancestor that has a line."""
        marks = self.marks
        path = tuple(keypath)
        while path:
            line = marks.get(path)
            if line:
                return Origin(self.display, line)
            path = path[:-1]
        return Origin(self.display, 1 if marks else 0)


def _walk(
    loader: yaml.SafeLoader, node: yaml.Node, path: KeyPath, out: dict[KeyPath, int], seen: set[int]
) -> None:
    if id(node) in seen:  # aliases: one walk per node is enough
        return
    if isinstance(node, yaml.MappingNode):
        seen.add(id(node))
        for key_node, value_node in node.value:
            try:
                key = loader.construct_object(key_node, deep=True)
            except yaml.YAMLError:
                continue
            if isinstance(key, list | dict):
                continue
            sub = (*path, key)
            out[sub] = key_node.start_mark.line + 1  # a duplicate key: the later one wins
            _walk(loader, value_node, sub, out, seen)
    elif isinstance(node, yaml.SequenceNode):
        seen.add(id(node))
        for index, item in enumerate(node.value):
            sub = (*path, index)
            out[sub] = item.start_mark.line + 1
            _walk(loader, item, sub, out, seen)


def dump(data: Any) -> str:
    """Block-style YAML with keys in the given order, as people write inventories."""
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)
