"""Secret references (``{env: NAME}``, ``{file: path}``), their resolution, and redaction.

A reference stays a reference everywhere (inventory output, errors, logs, diffs) and prints as
``<secret:env:NAME>``. It yields its value only while a template renders, inside a
:func:`revealing` block, which records every form in which the value reached the output so the
build can flag the file as secret and write a redacted copy for diffs.
"""

from __future__ import annotations

import contextvars
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bootstrap.errors import BootstrapError, Origin

KINDS = ("env", "file")


@dataclass(slots=True)
class Revealed:
    """What one render revealed: each output form of a secret and its placeholder."""

    forms: dict[str, str] = field(default_factory=dict)

    def add(self, text: str, label: str) -> None:
        """Record a value and the forms it takes once embedded: JSON/YAML-escaped, and line by
        line for a multi-line value that a template indents (a PEM key in a YAML block)."""
        if not text:
            return
        self.forms[text] = label
        escaped = json.dumps(text)[1:-1]
        if escaped != text:
            self.forms[escaped] = label
        if "\n" in text.strip():
            for line in text.splitlines():
                if len(line.strip()) >= 8:
                    self.forms[line.strip()] = label

    def redact(self, text: str) -> str:
        # Longest first, so a quoted form is replaced before the bare value inside it.
        for form in sorted(self.forms, key=len, reverse=True):
            text = text.replace(form, self.forms[form])
        return text


_revealed: contextvars.ContextVar[tuple[Revealed, Path] | None] = contextvars.ContextVar(
    "bootstrap_revealed", default=None
)


@contextmanager
def revealing(basedir: Path) -> Iterator[Revealed]:
    """Within this block, references resolve to their values (relative files from basedir)."""
    record = Revealed()
    token = _revealed.set((record, basedir))
    try:
        yield record
    finally:
        _revealed.reset(token)


@dataclass(frozen=True, slots=True)
class SecretRef:
    """A reference to a secret. ``str()`` is the placeholder unless inside :func:`revealing`."""

    kind: str
    name: str
    host: str = field(default="", compare=False)
    key: str = field(default="", compare=False)
    # Called only when an error must name the file:line (finding lines costs a re-parse).
    locate: Callable[[], Origin] | None = field(default=None, compare=False, repr=False)

    @property
    def label(self) -> str:
        return f"<secret:{self.kind}:{self.name}>"

    def __repr__(self) -> str:
        return self.label

    def __str__(self) -> str:
        active = _revealed.get()
        if active is None:
            return self.label
        record, basedir = active
        value = self.reveal(basedir)
        record.add(value, self.label)
        return value

    def reveal(self, basedir: Path) -> str:
        """The secret's value; a missing secret is an error naming the host and the key."""
        if self.kind == "env":
            value = os.environ.get(self.name)
            if not value:
                state = "is not set" if value is None else "is empty"
                raise self._error(f"secret {self.label}: environment variable {self.name} {state}")
            return value
        path = basedir / self.name
        try:
            value = _read_file(path)
        except OSError as exc:
            raise self._error(f"secret {self.label}: cannot read {path}: {exc.strerror}") from None
        if not value:
            raise self._error(f"secret {self.label}: {path} is empty")
        return value

    def _error(self, message: str) -> BootstrapError:
        return BootstrapError(message, origin=self.locate() if self.locate else None,
                              host=self.host or None, key=self.key or None)


def _read_file(path: Path) -> str:
    text = path.read_text()
    # Key files end with one newline that is not part of a password; PEM keeps its own.
    return text if text.startswith("-----BEGIN") else text.rstrip("\n")


def is_reference(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and len(value) == 1
        and next(iter(value)) in KINDS
        and isinstance(next(iter(value.values())), str)
    )


def bind(value: Any, host: str, key: str, origin: Callable[[tuple[Any, ...]], Origin],
         path: tuple[Any, ...] = ()) -> Any:
    """Replace every ``{env: X}``/``{file: p}`` mapping in ``value`` by a :class:`SecretRef`."""
    if isinstance(value, dict):
        if is_reference(value):
            kind, name = next(iter(value.items()))
            dotted = ".".join([key, *(str(p) for p in path)])
            return SecretRef(kind, name, host, dotted, lambda: origin(path))
        return {k: bind(v, host, key, origin, (*path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [bind(v, host, key, origin, (*path, i)) for i, v in enumerate(value)]
    return value


def contains_reference(value: Any) -> bool:
    if isinstance(value, dict):
        return is_reference(value) or any(contains_reference(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_reference(v) for v in value)
    return False


def redacted(value: Any) -> Any:
    """A copy of ``value`` fit to print: references become their placeholders."""
    if isinstance(value, SecretRef):
        return value.label
    if isinstance(value, dict):
        if is_reference(value):
            kind, name = next(iter(value.items()))
            return f"<secret:{kind}:{name}>"
        return {k: redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redacted(v) for v in value]
    return value


def secret_aware(escape: Callable[..., str]) -> Callable[..., str]:
    """Wrap an escaping filter so the escaped form of a secret is recorded for redaction."""

    def wrapper(value: Any, *args: Any, **kwargs: Any) -> str:
        out = escape(str(value) if isinstance(value, SecretRef) else value, *args, **kwargs)
        if isinstance(value, SecretRef):
            active = _revealed.get()
            if active is not None:
                active[0].add(out, value.label)
        return out

    wrapper.__name__ = escape.__name__
    wrapper.__doc__ = escape.__doc__
    return wrapper
