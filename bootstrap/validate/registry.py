"""The checkers of ``bootstrap validate``: each runs the real consumer of one kind of file.

Every module of :mod:`bootstrap.validate.checkers` defines ``CHECKERS``, a list of
:class:`Checker`. A checker says which manifest records it applies to, which programs, Python
modules and Ruby libraries it needs, and returns the problems it finds (an empty list when the
consumer accepts the file). What brings each of those needs is in :data:`PROVIDERS`, so that a
missing checker names how to install it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import pkgutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bootstrap.validate import checkers
from bootstrap.validate.programs import which
from bootstrap.validate.redaction import shown_problems

CheckFunction = Callable[[Path, dict[str, Any], Path], list[str]]


@dataclass(frozen=True)
class Checker:
    name: str
    # applies(record) -> bool; record is a manifest entry ("dest", "path", "role", ...) plus
    # "file", the path of that file in the build
    applies: Callable[[dict[str, Any]], bool]
    # check(path in the build, record, host folder) -> problems (empty: accepted)
    check: CheckFunction
    tools: tuple[str, ...] = field(default=())  # programs (see bootstrap.validate.programs.which)
    python: tuple[str, ...] = field(default=())  # importable modules it needs
    ruby: tuple[str, ...] = field(default=())  # Ruby libraries it requires (needs "ruby" in tools)

    def needs(self) -> tuple[str, ...]:
        return (*self.tools, *self.python, *self.ruby)

    def missing(self) -> list[str]:
        """What this checker needs and this machine lacks (empty: it can run)."""
        out = [t for t in self.tools if which(t) is None]
        out += [m for m in self.python if not _importable(m)]
        # Without Ruby no library of it is there either, and installing the library brings Ruby.
        out += [lib for lib in self.ruby if not _ruby_has(lib)]
        return out


# What brings each program, Python module and Ruby library a checker needs: a Debian package
# ("apt:NAME") or an extra of this package ("pip:EXTRA").
PROVIDERS: dict[str, str] = {
    "cloud-init": "apt:cloud-init",
    "jsonschema": "pip:validate",
    "shellcheck": "apt:shellcheck",
    "puppet": "apt:puppet-agent",
    "ruby": "apt:ruby",
    "chef-config/config": "apt:ruby-chef-config",
    "ohai/config": "apt:ohai",
    "parliament": "pip:validate",
    "vtysh": "apt:frr",
    "bird": "apt:bird2",
    "bgpd": "apt:openbgpd",
    "netplan": "apt:netplan.io",
    "ifup": "apt:ifupdown",
    "/lib/systemd/systemd-networkd": "apt:systemd",
    "ciscoconfparse2": "pip:validate",
}


def install_hint(missing: Iterable[str]) -> str:
    """The commands that install ``missing``: ``apt-get install frr; pip install '.[validate]'``."""
    apt: list[str] = []
    extras: list[str] = []
    for name in missing:
        kind, _, package = PROVIDERS.get(name, "apt:?").partition(":")
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


def all_checkers() -> list[Checker]:
    """Every checker: the generic ones here and those the built-in roles declare, each saying
    nothing of a secret file that would show its secret."""
    from bootstrap.render.registry import Registry

    found: list[Checker] = []
    for info in sorted(pkgutil.iter_modules(checkers.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{checkers.__name__}.{info.name}")
        found.extend(getattr(module, "CHECKERS", []))
    roles = Registry(None)
    for name in roles.names():
        found.extend(roles.get(name).checkers)
    return [replace(c, check=_secret_safe(c.check)) for c in found]


def _secret_safe(check: CheckFunction) -> CheckFunction:
    def checked(path: Path, record: dict[str, Any], folder: Path) -> list[str]:
        return shown_problems(check(path, record, folder), record, folder)

    return checked


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
