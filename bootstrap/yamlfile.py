"""YAML files with lazy line numbers: parse fast with the C loader, find lines only when asked.

Provenance (which file:line set a value) is needed for errors and ``--explain``, rarely for a
render. Parsing with marks costs a second Python walk over every node, so a file is parsed plainly
first and re-composed for its marks only when a line is requested.

Files are read as Ansible reads them: as JSON first, then as YAML 1.1 (so ``1e3`` in a ``.json``
file is a number, as in Ansible, while in YAML it is a string). ``!unsafe`` marks a value Ansible
must not template; bootstrap never templates inventory values, so it loads as the plain value.
``!vault`` is refused with a clear message.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from bootstrap.errors import BootstrapError, Origin

try:
    _Base: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # PyYAML built without libyaml
    _Base = yaml.SafeLoader

KeyPath = tuple[Any, ...]


class _Refused(yaml.MarkedYAMLError):
    """A YAML construct the inventory does not accept (the message says why, not 'malformed')."""


class _Loader(_Base):  # type: ignore[misc,valid-type]
    pass


def _unsafe(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]


def _vault(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    raise _Refused(problem="ansible-vault encrypted values are not supported; "
                   "use a secret reference {env: NAME} or {file: path}",
                   problem_mark=node.start_mark)


_Loader.add_constructor("!unsafe", _unsafe)
_Loader.add_constructor("!vault", _vault)


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
            # Ansible's loader tries JSON first; YAML files fail on their first byte, cheaply.
            return cls(path, shown, json.loads(text))
        except ValueError as exc:
            json_error = exc
        try:
            data = yaml.load(text, Loader=_Loader)
        except yaml.MarkedYAMLError as exc:
            if path.suffix == ".json" and isinstance(json_error, json.JSONDecodeError):
                origin = Origin(shown, json_error.lineno, json_error.colno)
                raise BootstrapError(f"malformed JSON: {json_error.msg}", origin=origin) from None
            mark = exc.problem_mark or exc.context_mark
            origin = Origin(shown, mark.line + 1, mark.column + 1) if mark else Origin(shown)
            problem = exc.problem or exc.context or "parse error"
            cm = exc.context_mark
            if exc.problem and exc.context and cm and mark and cm.line != mark.line:
                # Where the broken part began, when that is another line.
                problem += f" ({exc.context} started at line {cm.line + 1}, column {cm.column + 1})"
            prefix = "" if isinstance(exc, _Refused) else "malformed YAML: "
            raise BootstrapError(f"{prefix}{problem}", origin=origin) from None
        except yaml.YAMLError as exc:
            raise BootstrapError(f"malformed YAML: {exc}", origin=Origin(shown)) from None
        return cls(path, shown, data)

    @cached_property
    def marks(self) -> dict[KeyPath, int]:
        """Line (1-based) of each key path: mapping keys and sequence items, at every depth."""
        try:
            loader = _Loader(self.path.read_bytes())
        except OSError:
            return {}
        try:
            node = loader.get_single_node()
            if node is None:
                return {}
            # Constructing flattens merge keys (<<) in place, so the walk sees the real pairs.
            loader.construct_document(node)
            out: dict[KeyPath, int] = {(): node.start_mark.line + 1}  # the document itself
            _walk(loader, node, (), out, set())
            return out
        except yaml.YAMLError:  # JSON that YAML 1.1 cannot read: lines unknown, the file still named
            return {}
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
        return Origin(self.display, marks.get((), 0))


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


def json_key(key: Any) -> str:
    """The name a YAML mapping key gets in JSON, as Ansible prints it (``yes:`` → "true")."""
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool | int | float):
        return json.dumps(key)
    return str(key)


def dump(data: Any) -> str:
    """Block-style YAML with keys in the given order, as people write inventories."""
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)
