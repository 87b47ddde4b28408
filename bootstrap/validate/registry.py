"""The checkers of ``bootstrap validate``, found once: the generic ones and the roles' own.

Every module of :mod:`bootstrap.validate.checkers` defines ``CHECKERS``, generic checkers that
say which files they take (by content or kind); each built-in role declares its checkers in
role.yml (``checkers:``) and names, for each artifact, those that consume it (``check:``), which
render records in the build's manifest. A file is checked by the generic checkers that take it,
then by the checkers its record names, each once.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, replace
from pathlib import Path

from bootstrap.build.manifest import FileRecord
from bootstrap.errors import did_you_mean
from bootstrap.render.registry import Registry
from bootstrap.validate import checkers
from bootstrap.validate.checker import Checker, CheckFunction
from bootstrap.validate.redaction import shown_problems


@dataclass(frozen=True)
class Catalog:
    """Every checker, the generic ones apart."""

    generic: tuple[Checker, ...]
    named: dict[str, Checker]

    def of(self, record: FileRecord, file: Path) -> list[Checker]:
        """The checkers of one file: the generic ones that take it, then those its record
        names (a name no checker has is left out: see :meth:`unknown`)."""
        found = [c for c in self.generic if c.applies is not None and c.applies(record, file)]
        for name in record.check or ():
            checker = self.named.get(name)
            if checker is not None and all(c.name != name for c in found):
                found.append(checker)
        return found

    def unknown(self, record: FileRecord) -> list[str]:
        """The names in the record that no checker has, each with a did-you-mean."""
        return [f"{name!r}{did_you_mean(name, list(self.named))}"
                for name in record.check or () if name not in self.named]


def catalog() -> Catalog:
    """The generic checkers and those the built-in roles declare, each saying nothing of a
    secret file that would show its secret."""
    found: list[Checker] = []
    for info in sorted(pkgutil.iter_modules(checkers.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{checkers.__name__}.{info.name}")
        found.extend(getattr(module, "CHECKERS", []))
    roles = Registry(None)
    for name in roles.names():
        found.extend(roles.get(name).checkers)
    safe = [replace(c, check=_secret_safe(c.check)) for c in found]
    named: dict[str, Checker] = {}
    for checker in safe:
        named.setdefault(checker.name, checker)
    return Catalog(tuple(c for c in safe if c.applies is not None), named)


def all_checkers() -> list[Checker]:
    """Every checker, once."""
    return list(catalog().named.values())


def _secret_safe(check: CheckFunction) -> CheckFunction:
    def checked(path: Path, record: FileRecord, folder: Path) -> list[str]:
        return shown_problems(check(path, record, folder), record, folder)

    return checked
