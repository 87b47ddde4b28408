"""The lab's own folders: the image cache, and per machine its overlay, seed, console and record.

Every path the lab writes is under one folder it owns (``$BOOTSTRAP_LAB_DIR`` or
``--lab-dir``, by default ``$XDG_CACHE_HOME/bootstrap/lab``). It is never entered through a
symbolic link, so a link planted in it cannot make the lab write or delete elsewhere, and a
host's name becomes a file name only once it is known to be one plain name.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from bootstrap.errors import BootstrapError

ENV_DIR = "BOOTSTRAP_LAB_DIR"
# A host name as a file name: no separator, no leading dot (so never '.' or '..'), printable.
HOST_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}")


def default_dir() -> Path:
    """Where the lab keeps its images and machines unless told otherwise."""
    if given := os.environ.get(ENV_DIR):
        return Path(given)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "bootstrap" / "lab"


def check_host_name(name: str) -> str:
    """``name`` if it can name the lab's files of a host; an error otherwise."""
    if not HOST_NAME.fullmatch(name):
        raise BootstrapError(f"{name!r} cannot be a lab machine's name: use letters, digits, "
                             f"'.', '_' and '-' (no '/', not starting with '.')", host=name)
    return name


def owned_dir(path: Path) -> Path:
    """``path`` as a real folder of the lab (made 0700 if missing), never through a link."""
    path = Path(os.path.abspath(path))
    missing = []
    probe = path
    while True:
        try:
            info = os.lstat(probe)
        except FileNotFoundError:
            missing.append(probe)
            probe = probe.parent
            continue
        if stat.S_ISLNK(info.st_mode) and probe == path:
            raise BootstrapError(f"{path}: the lab folder is a symbolic link; give the real "
                                 f"folder (--lab-dir) so nothing is written through a link")
        if probe == path and not stat.S_ISDIR(info.st_mode):
            raise BootstrapError(f"{path}: the lab folder is not a folder")
        break
    for folder in reversed(missing):
        os.mkdir(folder, 0o700)
    return path


def child_dir(parent: Path, name: str) -> Path:
    """The lab's folder ``name`` inside ``parent``: made if missing, refused if a link."""
    return owned_dir(parent / name)


def write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``path`` whole or not at all: a temporary file beside it, renamed over it."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise


def remove_file(path: Path) -> None:
    """Remove the lab's file ``path`` if it is there (a link is removed, never followed)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


@dataclass(frozen=True)
class Machine:
    """What the lab recorded about one running machine."""

    host: str
    pid: int
    ssh_port: int
    user: str
    key: str
    image: str
    accel: str


class Lab:
    """The lab folder: ``images/``, ``key/`` and ``machines/<host>/``."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = owned_dir(root or default_dir())

    @property
    def images(self) -> Path:
        return child_dir(self.root, "images")

    @property
    def machines(self) -> Path:
        return child_dir(self.root, "machines")

    def machine_dir(self, host: str) -> Path:
        return child_dir(self.machines, check_host_name(host))

    def known_machines(self) -> list[str]:
        """Hosts with a folder under machines/, in name order (stray entries are ignored)."""
        found = []
        for entry in sorted(os.listdir(self.machines)):
            if HOST_NAME.fullmatch(entry) and stat.S_ISDIR(os.lstat(self.machines / entry).st_mode):
                found.append(entry)
        return found

    def record(self, machine: Machine) -> None:
        folder = self.machine_dir(machine.host)
        write_private(folder / "machine.json", json.dumps(asdict(machine), indent=2).encode())

    def recorded(self, host: str) -> Machine | None:
        """The machine recorded for ``host``, None if none (or the record is unreadable)."""
        path = self.machine_dir(host) / "machine.json"
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except (FileNotFoundError, OSError):
            return None
        with os.fdopen(fd) as file:
            try:
                data = json.load(file)
                machine = Machine(**data)
            except (ValueError, TypeError):
                return None
        if (machine.host != host or not isinstance(machine.pid, int) or machine.pid <= 1
                or not isinstance(machine.ssh_port, int) or not 0 < machine.ssh_port < 65536
                or not all(isinstance(v, str) for v in (machine.user, machine.key))):
            return None
        return machine
