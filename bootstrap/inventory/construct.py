"""What Ansible's ``Constructable`` adds to an inventory plugin: ``compose``, ``groups`` and
``keyed_groups``, with ``strict`` and ``leading_separator``, applied to one host at a time.

The rules follow ansible-core's ``plugins/inventory/__init__.py``: ``compose`` sets variables
from expressions; ``groups`` adds the host to each group whose condition is true; a keyed group
names a group after a value (a text, each item of a list, each ``key<sep>value`` of a mapping),
prefixed and parented as asked. An expression that fails skips its entry, unless ``strict``.
Group names are made safe as Ansible's plugins make them, whatever ``TRANSFORM_INVALID_GROUP_CHARS``
says: every character that is not a word character becomes ``_``, and so does a leading digit;
or, where a plugin asks for the old ec2.py script's rule, every character outside
``[A-Za-z0-9_-]``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from bootstrap.errors import BootstrapError
from bootstrap.inventory import expressions
from bootstrap.inventory.yamlfile import KeyPath, YamlFile

CONSTRUCT_OPTIONS = ("compose", "groups", "keyed_groups", "strict", "leading_separator")
KEYED_GROUP_KEYS = ("key", "prefix", "separator", "parent_group", "default_value",
                    "trailing_separator")
_EMPTY = (None, "")  # keyed values Ansible replaces with default_value


class Sink(Protocol):
    """The inventory a plugin adds to; ``path`` is the key path in the plugin file that asked."""

    def add_group(self, name: str, path: KeyPath) -> str: ...

    def add_host_to_group(self, host: str, group: str, path: KeyPath) -> None: ...

    def add_child_group(self, parent: str, child: str, path: KeyPath) -> None: ...

    def set_host_var(self, host: str, key: str, value: Any, path: KeyPath) -> None: ...

    def host_vars(self, host: str) -> dict[str, Any]:
        """The host's own variables so far, and Ansible's magic ones (inventory_hostname, ...)."""
        ...


def safe_group_name(name: str) -> str:
    """Ansible's forced to_safe_group_name: a leading digit or non-word character, and every
    other non-word character, becomes ``_`` (``eu-west-1`` → ``eu_west_1``)."""
    return _INVALID_GROUP_CHARS.sub("_", name)


_INVALID_GROUP_CHARS = re.compile(r"^[\d\W]|[^\w]")


def contrib_sanitized(name: str) -> str:
    """The old ec2.py script's group names: anything outside ``[A-Za-z0-9_-]`` becomes ``_``."""
    return re.sub(r"[^A-Za-z0-9_\-]", "_", name)


@dataclass(frozen=True)
class Construct:
    file: YamlFile
    compose: Mapping[str, Any]
    groups: Mapping[str, Any]
    keyed_groups: list[Mapping[str, Any]]
    strict: bool
    leading_separator: bool
    sanitize: Callable[[str], str] = safe_group_name

    @classmethod
    def from_options(cls, file: YamlFile, data: Mapping[str, Any],
                     sanitize: Callable[[str], str] = safe_group_name) -> Construct:
        compose = option(file, data, "compose", dict, {})
        groups = option(file, data, "groups", dict, {})
        keyed = option(file, data, "keyed_groups", list, [])
        for index, entry in enumerate(keyed):
            if not isinstance(entry, dict):
                raise BootstrapError("a keyed group must be a mapping (key, prefix, separator, "
                                     "parent_group, ...)", origin=file.origin(("keyed_groups", index)))
            for key in entry:
                if key not in KEYED_GROUP_KEYS:
                    raise BootstrapError(f"unsupported keyed group option {key!r} (supported: "
                                         f"{', '.join(KEYED_GROUP_KEYS)})",
                                         origin=file.origin(("keyed_groups", index, key)))
            if entry.get("trailing_separator") is not None and entry.get("default_value") is not None:
                raise BootstrapError("default_value and trailing_separator exclude each other",
                                     origin=file.origin(("keyed_groups", index)))
        return cls(file, compose, groups, keyed,
                   option(file, data, "strict", bool, False),
                   option(file, data, "leading_separator", bool, True), sanitize)

    def apply(self, sink: Sink, host: str, variables: Mapping[str, Any],
              refetch: Callable[[], Mapping[str, Any]] | None = None) -> None:
        """compose, then groups, then keyed_groups, for one host.

        ``variables`` are what ``compose`` sees; ``groups`` and ``keyed_groups`` see what
        ``refetch`` gives after it, by default ``variables`` with the host's own variables
        (those ``compose`` set included) over them, as the aws_ec2 plugin asks for them.
        """
        self._compose(sink, host, variables)
        variables = refetch() if refetch is not None else {**variables, **sink.host_vars(host)}
        self._groups(sink, host, variables)
        self._keyed(sink, host, variables)

    def _fail(self, message: str, path: KeyPath, host: str) -> None:
        if self.strict:
            raise BootstrapError(message, origin=self.file.origin(path), host=host)

    def _compose(self, sink: Sink, host: str, variables: Mapping[str, Any]) -> None:
        for name, expression in self.compose.items():
            try:
                value = expressions.evaluate(expression, variables)
            except expressions.ExpressionError as exc:
                self._fail(f"compose {name}: {exc}", ("compose", name), host)
                continue
            sink.set_host_var(host, str(name), value, ("compose", name))

    def _groups(self, sink: Sink, host: str, variables: Mapping[str, Any]) -> None:
        for name, condition in self.groups.items():
            path = ("groups", name)
            group = self.sanitize(str(name))
            try:
                member = expressions.conditional(condition, variables)
            except expressions.ExpressionError as exc:
                self._fail(f"group {group}: {exc}", path, host)
                continue
            if member:
                sink.add_group(group, path)
                sink.add_host_to_group(host, group, path)

    def _keyed(self, sink: Sink, host: str, variables: Mapping[str, Any]) -> None:
        for index, keyed in enumerate(self.keyed_groups):
            path: KeyPath = ("keyed_groups", index)
            try:
                key = expressions.evaluate(keyed.get("key"), variables)
            except expressions.ExpressionError as exc:
                self._fail(f"keyed group key: {exc}", (*path, "key"), host)
                continue
            default = keyed.get("default_value")
            use_default = key in _EMPTY and default is not None
            if not key and not use_default:
                if key not in ([], {}):
                    self._fail(f"keyed group key {keyed.get('key')!r} is empty or missing for "
                               "this host", path, host)
                continue
            try:
                parent = expressions.template(keyed.get("parent_group"), variables)
            except expressions.ExpressionError as exc:
                self._fail(f"keyed group parent_group: {exc}", (*path, "parent_group"), host)
                continue
            names = self._names(keyed, key, use_default, path, host)
            prefix = keyed.get("prefix", "")
            sep = keyed.get("separator", "_")
            if prefix == "" and not self.leading_separator:
                sep = ""
            for bare in names:
                group = sink.add_group(self.sanitize(f"{prefix}{sep}{bare}"), path)
                sink.add_host_to_group(host, group, path)
                if parent:
                    parent_name = sink.add_group(self.sanitize(str(parent)), (*path, "parent_group"))
                    sink.add_child_group(parent_name, group, (*path, "parent_group"))

    def _names(self, keyed: Mapping[str, Any], key: Any, use_default: bool, path: KeyPath,
               host: str) -> list[Any]:
        default = keyed.get("default_value")
        if use_default:
            return [default]
        if isinstance(key, str):
            return [key]
        if isinstance(key, list):
            return [default if item in _EMPTY and default is not None else item for item in key]
        if isinstance(key, Mapping):
            sep = keyed.get("separator", "_")
            out = []
            for name, value in key.items():
                if value in _EMPTY and default is not None:
                    out.append(f"{name}{sep}{default}")
                elif value in _EMPTY and keyed.get("trailing_separator") is False:
                    out.append(name)
                else:
                    out.append(f"{name}{sep}{value}")
            return out
        # Ansible fails here even when not strict.
        raise BootstrapError(f"keyed group key gave {type(key).__name__} {key!r}; a group name "
                             "needs a text, a list or a mapping", origin=self.file.origin(path),
                             host=host)


def option(file: YamlFile, data: Mapping[str, Any], name: str, kind: type | tuple[type, ...],
           default: Any) -> Any:
    """Option ``name`` of a plugin file, of type ``kind``; null is its default."""
    value = data.get(name)
    if value is None:
        return default
    if (kind is not bool and isinstance(value, bool)) or not isinstance(value, kind):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        wanted = " or ".join(_KIND_NAMES.get(k, k.__name__) for k in kinds)
        raise BootstrapError(f"option {name!r} must be {wanted}, found {type(value).__name__}",
                             origin=file.origin((name,)))
    return value


_KIND_NAMES = {dict: "a mapping", list: "a list", bool: "true or false", str: "a text",
               int: "a number"}


def refuse_unknown(file: YamlFile, data: Mapping[str, Any], plugin: str,
                   supported: tuple[str, ...]) -> None:
    """An option bootstrap does not implement is an error, never silently ignored."""
    for key in data:
        if key not in supported:
            raise BootstrapError(f"{plugin} option {key!r} is not supported (supported: "
                                 f"{', '.join(sorted(supported))})", origin=file.origin((key,)))
