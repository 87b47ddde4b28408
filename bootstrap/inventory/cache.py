"""The cache of dynamic inventories: what a cloud API listed, kept for ``cache_timeout`` seconds.

An inventory plugin file asks for it with ``cache: true`` (as Ansible's ``cache`` options do);
``cache_timeout`` is its time to live in seconds (3600 unless given; 0 never expires);
``cache_connection`` names the folder (relative to the plugin file's folder), by default
``$XDG_CACHE_HOME/bootstrap/inventory`` (``~/.cache/bootstrap/inventory``).
``--refresh-inventory`` ignores what is cached and lists again. One entry is one JSON file
named after a hash of the plugin file's path and text, so editing the file's options is a miss.

The cache is only ever data: an entry that is unreadable, not JSON, of another shape, or older
than the timeout is a miss, never an error. Entries are written 0600 to a temporary file in a
folder the user owns and renamed into place, so that a reader never sees half an entry; links
are never followed, neither to read nor to write.
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import hashlib
import json
import os
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

FORMAT = 1
DEFAULT_TIMEOUT = 3600  # Ansible's cache_timeout default
_MAX_BYTES = 256 * 1024 * 1024  # a cache entry larger than this is not ours

_refresh: contextvars.ContextVar[bool] = contextvars.ContextVar("bootstrap_inventory_refresh",
                                                                default=False)


class _Refresh(argparse.Action):
    """``--refresh-inventory`` holds for the whole command: a command line is one process, and
    inventories are opened in many places of a command."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        setattr(namespace, self.dest, True)
        _refresh.set(True)


def add_refresh_option(parser: argparse.ArgumentParser) -> None:
    """``--refresh-inventory``, for every command that reads an inventory."""
    parser.add_argument("--refresh-inventory", action=_Refresh, nargs=0, default=False,
                        help="ask the cloud again for dynamic inventories (aws_ec2) rather than "
                             "use their cache, and cache what it answers")


@contextlib.contextmanager
def refreshing(refresh: bool) -> Iterator[None]:
    """Within this block, cached dynamic inventories are listed again (and the cache updated)."""
    token = _refresh.set(refresh)
    try:
        yield
    finally:
        _refresh.reset(token)


def default_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or ""
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    return root / "bootstrap" / "inventory"


def entry_key(plugin: str, path: Path, text: bytes, prefix: str = "") -> str:
    digest = hashlib.sha256()
    for part in (plugin.encode(), os.path.abspath(path).encode(), text):
        digest.update(len(part).to_bytes(8, "big") + part)
    return f"{_safe(prefix)}{plugin}_{digest.hexdigest()[:32]}.json"


def _safe(prefix: str) -> str:
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in prefix)[:64]


class Cache:
    """One cache entry: ``get`` gives what was stored unless stale, ``put`` replaces it."""

    def __init__(self, folder: Path, key: str, timeout: int,
                 valid: Callable[[Any], bool], warn: Callable[[str], None]) -> None:
        self.folder = folder
        self.path = folder / key
        self.timeout = timeout
        self.valid = valid
        self.warn = warn

    def get(self) -> Any | None:
        """The cached data, or None: refreshed, missing, stale, unreadable or not ours."""
        if _refresh.get():
            return None
        try:
            raw = _read_no_follow(self.path)
            entry = json.loads(raw)
        except (OSError, ValueError, RecursionError):
            return None
        if not isinstance(entry, dict) or entry.get("format") != FORMAT:
            return None
        written = entry.get("written")
        if isinstance(written, bool) or not isinstance(written, int | float):
            return None
        age = time.time() - written
        # A time in the future is not trusted; a timeout of 0 never expires, as in Ansible.
        if age < 0 or (self.timeout and age > self.timeout):
            return None
        data = entry.get("data")
        return data if self.valid(data) else None

    def put(self, data: Any) -> None:
        """Store ``data``; a folder that cannot hold the cache safely is a warning, not an error."""
        problem = _prepare_folder(self.folder)
        if problem:
            self.warn(f"{self.folder}: inventory cache not written: {problem}")
            return
        text = json.dumps({"format": FORMAT, "written": time.time(), "data": data},
                          separators=(",", ":"))
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.folder)  # 0600, O_EXCL
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            # rename() replaces a link at the entry's name, never what it points to.
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            self.warn(f"{self.path}: inventory cache not written: {exc.strerror or exc}")


def _read_no_follow(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
            raise OSError("not a regular file of this user")
        raw = handle.read(_MAX_BYTES + 1)
    if len(raw) > _MAX_BYTES:
        raise OSError("too large")
    return raw


def _prepare_folder(folder: Path) -> str | None:
    """Create the folder (0700) as needed; why it cannot hold the cache, or None."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(folder)
    except OSError as exc:
        return exc.strerror or str(exc)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        return "not a folder (a link is not followed)"
    if info.st_uid != os.geteuid():
        return "owned by another user"
    if info.st_mode & 0o022:
        return "writable by other users"
    return None
