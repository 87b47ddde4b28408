"""Jinja filters that embed an inventory value safely in each kind of file, or refuse to.

No inventory value may add a shell command or a config line. Each filter either produces a
literal that its consumer parses back to exactly the given value, or raises :class:`UnsafeValue`.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from bootstrap.secrets import SecretRef, secret_aware


class UnsafeValue(ValueError):
    """A value that cannot be embedded in the target syntax without changing its meaning."""


def _text(value: Any, what: str) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        raise UnsafeValue(f"{what} needs a string or a number, got {value!r}")
    text = str(value)
    if "\x00" in text:
        raise UnsafeValue(f"{what} cannot hold a NUL byte")
    return text


@secret_aware
def shell(value: Any) -> str:
    """A POSIX shell word: single-quoted where needed, so nothing inside is expanded."""
    return shlex.quote(_text(value, "a shell word"))


@secret_aware
def ruby(value: Any) -> str:
    """A Ruby single-quoted string literal (only \\\\ and \\' are escapes there)."""
    text = _text(value, "a Ruby string")
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


@secret_aware
def ini(value: Any) -> str:
    """An INI value on one line: a newline would start a new setting or [section]."""
    text = _text(value, "an INI value")
    if any(c in text for c in "\r\n"):
        raise UnsafeValue(f"an INI value cannot contain a line break: {_show(value)}")
    if text != text.strip():
        raise UnsafeValue(f"an INI value cannot start or end with spaces: {_show(value)}")
    return text


@secret_aware
def yaml_value(value: Any) -> str:
    """A YAML flow value. JSON is valid YAML, and its strings escape every control character."""
    return json.dumps(_plain(value), sort_keys=True)


@secret_aware
def json_value(value: Any) -> str:
    """A JSON value with sorted keys, so output is stable."""
    return json.dumps(_plain(value), sort_keys=True)


def _plain(value: Any) -> Any:
    if isinstance(value, SecretRef):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _show(value: Any) -> str:
    return value.label if isinstance(value, SecretRef) else repr(value)


FILTERS = {
    "shell": shell,
    "ruby": ruby,
    "ini": ini,
    "yaml": yaml_value,
    "json": json_value,
}
