"""The hosts push and verify work on: connection vars from the inventory, files from the build.

Push and verify never render: they read ``BUILD/<host>/manifest.json`` as ``bootstrap render``
wrote it. Each host runs in a pool of ``forks`` threads; whatever happens to one host is caught
and becomes that host's result, so one failing host never stops the others.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bootstrap.build import MANIFEST, Manifest
from bootstrap.build.directory import BuildDir
from bootstrap.hosts.loader import HostLoader, print_warning
from bootstrap.hosts.model import Connection
from bootstrap.hosts.secrets import SecretRef, redacted
from bootstrap.render.registry import Registry

T = TypeVar("T")
REDACTED = "<secret>"


# A secret this short, replaced where it occurs in a message, would show itself by where the
# placeholders land (a one-character secret replaced in "failed" gives "f<secret>iled").
SHORT_SECRET = 8
WITHHELD = "(message withheld: it holds a short secret value of this host)"


class Redactor:
    """Hides every secret value of a host in text shown to the user: a long one is replaced, a
    text holding a short one is withheld whole."""

    def __init__(self, values: Iterable[str]) -> None:
        # Longest first, so a value containing a shorter one is replaced whole.
        self.values = sorted({v for v in values if v}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for value in self.values:
            if value in text and len(value) < SHORT_SECRET:
                return WITHHELD
            text = text.replace(value, REDACTED)
        return text


@dataclass
class FleetHost:
    """One selected host: how to reach it and what its build holds."""

    name: str
    connection: Connection
    hostvars: dict[str, Any]  # resolved vars, secret references as placeholders
    folder: Path  # BUILD/<host>
    manifest: Manifest | None  # None when the host was never rendered
    redact: Redactor = field(default_factory=lambda: Redactor(()))

    @property
    def roles(self) -> list[str]:
        return list(self.manifest.roles) if self.manifest is not None else []

    @property
    def files(self) -> list[dict[str, Any]]:
        """The records of the files that go to the host, as the manifest stores them."""
        return [r.as_json() for r in self.manifest.files] if self.manifest is not None else []

    @property
    def apply(self) -> dict[str, str] | None:
        """Role -> the command ``push --apply`` runs (only roles that have one); None for a
        build rendered before the manifest recorded them."""
        return self.manifest.apply if self.manifest is not None else None

    @property
    def manifest_path(self) -> Path:
        return self.folder / MANIFEST

    def not_rendered(self) -> str:
        return f"{self.manifest_path} is missing (run: bootstrap render)"


@dataclass
class Fleet:
    registry: Registry
    hosts: list[FleetHost]


def load(source: Path, build: Path, limit: str | None, secret_dirs: tuple[Path, ...] = (),
         warn: Callable[[str], None] = print_warning) -> Fleet:
    """The hosts selected by ``limit``, with their connection vars and build manifests.

    The hosts are typed as render types them (the same checks, the same warnings), but nothing
    is rendered: what goes to a host is what its manifest says.
    """
    loader = HostLoader.open(source, Registry, secret_dirs, warn)
    names = loader.select(limit)
    # Under the build's lock: never a manifest of a render in progress or interrupted.
    with BuildDir.reading(build) as directory:
        manifests = {name: directory.manifest(name) for name in names}
    hosts = []
    for name in names:
        target = loader.target(name)
        hosts.append(FleetHost(name, target.connection, redacted(target.vars), build / name,
                               manifests[name],
                               Redactor(_secret_values(target.vars, target.basedir))))
    return Fleet(loader.roles, hosts)


def _secret_values(value: Any, basedir: Path) -> Iterable[str]:
    if isinstance(value, SecretRef):
        try:
            yield value.reveal(basedir)
        except Exception:  # a secret that cannot be read cannot leak either
            return
    elif isinstance(value, dict):
        for item in value.values():
            yield from _secret_values(item, basedir)
    elif isinstance(value, list):
        for item in value:
            yield from _secret_values(item, basedir)


def each(hosts: list[FleetHost], work: Callable[[FleetHost], T], *, forks: int,
         progress: Progress) -> list[T]:
    """Run ``work`` on every host, at most ``forks`` at a time; results in host order."""
    results: dict[str, T] = {}
    with ThreadPoolExecutor(max_workers=max(1, forks)) as pool:
        futures = {pool.submit(_tracked, work, host, progress): host for host in hosts}
        for future in as_completed(futures):
            host = futures[future]
            results[host.name] = future.result()
            progress.done(host.name, results[host.name])
    progress.finish()
    return [results[h.name] for h in hosts]


def _tracked(work: Callable[[FleetHost], T], host: FleetHost, progress: Progress) -> T:
    progress.start(host.name)
    return work(host)


class Progress:
    """Progress on stderr: a live line on a terminal, else one line per finished host."""

    def __init__(self, verb: str, total: int, describe: Callable[[Any], str],
                 stream: Any = None) -> None:
        self.verb = verb
        self.total = total
        self.describe = describe
        self.stream = stream or sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.running: list[str] = []
        self.finished = 0
        self.started = time.monotonic()
        self._lock = threading.Lock()

    def start(self, name: str) -> None:
        with self._lock:
            self.running.append(name)
            self._draw()

    def done(self, name: str, result: Any) -> None:
        with self._lock:
            if name in self.running:
                self.running.remove(name)
            self.finished += 1
            if self.live:
                self._draw()
            else:
                self.stream.write(f"[{self.finished}/{self.total}] {name}: "
                                  f"{self.describe(result)}\n")
                self.stream.flush()

    def finish(self) -> None:
        if self.live:
            self.stream.write("\r\033[K")
            self.stream.flush()

    def _draw(self) -> None:
        if not self.live:
            return
        names = ", ".join(self.running[:4]) + (" ..." if len(self.running) > 4 else "")
        elapsed = time.monotonic() - self.started
        line = (f"{self.verb}: {self.finished}/{self.total} done, {len(self.running)} running"
                f"{' (' + names + ')' if names else ''}, {elapsed:.0f} s")
        self.stream.write("\r\033[K" + line[:200])
        self.stream.flush()
