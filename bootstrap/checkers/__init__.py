"""Checkers for ``bootstrap validate``: each runs the real consumer of one kind of file.

Every module of this package defines ``CHECKERS``, a list of :class:`Checker`. A checker says
which manifest records it applies to, which executables it needs, and returns the problems it
finds (an empty list when the consumer accepts the file).
"""

from __future__ import annotations

import hashlib
import importlib
import pkgutil
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CheckFunction = Callable[[Path, dict[str, Any], Path], list[str]]


@dataclass(frozen=True)
class Checker:
    name: str
    # applies(record) -> bool; record is a manifest entry ("dest", "path", "role", ...) plus
    # "file", the path of that file in the build
    applies: Callable[[dict[str, Any]], bool]
    # check(path in the build, record, host folder) -> problems (empty: accepted)
    check: CheckFunction
    tools: tuple[str, ...] = field(default=())  # executables that must be on PATH
    python: tuple[str, ...] = field(default=())  # importable modules it needs

    def missing(self) -> list[str]:
        out = [t for t in self.tools if shutil.which(t) is None]
        for module in self.python:
            try:
                importlib.import_module(module)
            except ImportError:
                out.append(f"python module {module}")
        return out


def all_checkers() -> list[Checker]:
    found: list[Checker] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.extend(getattr(module, "CHECKERS", []))
    return found


def once_per_content(check: CheckFunction) -> CheckFunction:
    """For a check whose verdict depends on the file's bytes alone: a file identical to one
    already checked (a role's script, a group's config on every host) gets the same verdict
    without running the consumer again. Its problems must not name the build path."""
    verdicts: dict[bytes, list[str]] = {}

    def checked(path: Path, record: dict[str, Any], folder: Path) -> list[str]:
        key = hashlib.sha256(path.read_bytes()).digest()
        if key not in verdicts:
            verdicts[key] = check(path, record, folder)
        return list(verdicts[key])

    return checked
