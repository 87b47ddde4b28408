"""What a checker of ``bootstrap validate`` is: a named call of one consumer on one file.

Roles declare their checkers (``checkers:`` in role.yml) and each artifact names the ones that
consume it (``check: vtysh -C``); the generic checkers of :mod:`bootstrap.validate.checkers`
say themselves which files they take, by content or kind (a shell ``#!``, an IAM policy). A
checker lists the programs, Python modules and Ruby libraries it needs and what brings each, so
a missing one names how to install it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bootstrap.build.manifest import FileRecord
from bootstrap.validate.programs import which

# check(path of the file in the build, its record, the host folder) -> problems (empty: accepted)
CheckFunction = Callable[[Path, FileRecord, Path], list[str]]
# applies(record, path of the file in the build) -> whether a generic checker takes the file
Applies = Callable[[FileRecord, Path], bool]


@dataclass(frozen=True)
class Checker:
    name: str
    check: CheckFunction
    tools: tuple[str, ...] = field(default=())  # programs (see bootstrap.validate.programs.which)
    python: tuple[str, ...] = field(default=())  # importable modules it needs
    ruby: tuple[str, ...] = field(default=())  # Ruby libraries it requires (needs "ruby" in tools)
    # What brings each of those needs: a Debian package ("apt:NAME") or an extra of this
    # package ("pip:EXTRA"), so that a missing one names how to install it.
    brought_by: Mapping[str, str] = field(default_factory=dict)
    # Generic checkers only: which files it takes whatever their role says. A role's checker has
    # none: it runs on the files whose artifact names it in ``check:``.
    applies: Applies | None = None

    def needs(self) -> tuple[str, ...]:
        return (*self.tools, *self.python, *self.ruby)

    def install_hint(self, missing: Iterable[str]) -> str:
        return install_hint(missing, self.brought_by)

    def missing(self) -> list[str]:
        """What this checker needs and this machine lacks (empty: it can run)."""
        out = [t for t in self.tools if which(t) is None]
        out += [m for m in self.python if not _importable(m)]
        # Without Ruby no library of it is there either, and installing the library brings Ruby.
        out += [lib for lib in self.ruby if not _ruby_has(lib)]
        return out


def install_hint(missing: Iterable[str], brought_by: Mapping[str, str]) -> str:
    """The commands that install ``missing``: ``apt-get install frr; pip install '.[validate]'``."""
    apt: list[str] = []
    extras: list[str] = []
    for name in missing:
        kind, _, package = brought_by.get(name, "apt:?").partition(":")
        bucket = apt if kind == "apt" else extras
        if package not in bucket:
            bucket.append(package)
    commands = [f"apt-get install {' '.join(apt)}"] if apt else []
    if extras:
        commands.append(f"pip install '.[{','.join(extras)}]'")
    return "; ".join(commands)


@functools.cache
def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


@functools.cache
def _ruby_has(library: str) -> bool:
    ruby = which("ruby")
    if ruby is None:
        return False
    proc = subprocess.run([ruby, "-e", "require ARGV[0]", library], capture_output=True, timeout=60)
    return proc.returncode == 0


def once_per_content(check: CheckFunction) -> CheckFunction:
    """For a check whose verdict depends on the file's bytes alone: a file identical to one
    already checked (a role's script, a group's config on every host) gets the same verdict
    without running the consumer again. Its problems must not name the build path."""
    verdicts: dict[bytes, list[str]] = {}

    def checked(path: Path, record: FileRecord, folder: Path) -> list[str]:
        key = hashlib.sha256(path.read_bytes()).digest()
        if key not in verdicts:
            verdicts[key] = check(path, record, folder)
        return list(verdicts[key])

    return checked
