"""Jinja filters that embed an inventory value safely in each kind of file, or refuse to.

No inventory value may add a shell command or a config line. Each filter either produces a
literal that its consumer parses back to exactly the given value, or raises :class:`UnsafeValue`.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
from typing import Any

from bootstrap.hosts.secrets import SecretRef, revealed_any, secret_aware

# Filters whose output is always quoted print the placeholder inside their quotes.
_quoted = functools.partial(secret_aware, quoted=True)


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


@_quoted
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


@_quoted
def yaml_value(value: Any) -> str:
    """A YAML flow value: a JSON literal, with characters beyond U+FFFF written ``\\UXXXXXXXX``.

    JSON escapes every control character and line break, and YAML reads those escapes too; but
    JSON writes a character beyond U+FFFF as a surrogate pair (``\\ud83d\\ude00``), which
    libyaml (Puppet's, Ruby's) refuses and PyYAML reads as two broken characters. YAML's own
    8-digit escape names the character itself.
    """
    return _SURROGATE_PAIR.sub(_long_escape, json.dumps(_plain(value), sort_keys=True))


@_quoted
def json_value(value: Any) -> str:
    """A JSON value with sorted keys, so output is stable."""
    return json.dumps(_plain(value), sort_keys=True)


# An escaped surrogate pair in json.dumps output (ASCII); an escaped backslash before it is kept.
_SURROGATE_PAIR = re.compile(r"(?<!\\)((?:\\\\)*)\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})")


def _long_escape(match: re.Match[str]) -> str:
    high, low = int(match[2], 16), int(match[3], 16)
    return f"{match[1]}\\U{0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00):08X}"


def _plain(value: Any) -> Any:
    if isinstance(value, SecretRef):
        return str(value)
    if isinstance(value, str) and any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise UnsafeValue("a lone UTF-16 surrogate (an escape such as \\ud800 without its pair) "
                          "has no UTF-8 form; write the character itself")
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _show(value: Any) -> str:
    if isinstance(value, SecretRef):
        return value.label
    # A string built from a secret ("pw=" ~ secret) is no longer a reference.
    return "(not shown: this file holds a secret)" if revealed_any() else repr(value)


FILTERS = {
    "shell": shell,
    "ruby": ruby,
    "ini": ini,
    "yaml": yaml_value,
    "json": json_value,
}
