"""The incremental render: a build whose inputs did not change since its last full render is
checked, not rendered again.

A full render of every host (no ``--limit``) that wrote the build leaves a stamp in
``DIR/.bootstrap/cache/stamp``: one digest of every input that can change an output, and what
each host folder then held (its manifest's digest, each file's size, mode and digest). The next render
computes the digest again, from the content of the files, never their timestamps:

- the tool itself: its Python, built-in roles and templates, and the libraries that render
  (Jinja, PyYAML, pydantic, MarkupSafe) and the interpreter by version;
- the inventory's folder, whole (the inventory files, group_vars, host_vars, the user's roles
  and templates, and the files ``{file: ...}`` secrets read), the build directory left out
  when it lies inside;
- each ``--secrets-dir`` folder, whole; the inventory source given and the folders' order.

When it matches, and every host folder still holds what the stamp says (the record of host
folders, each manifest, each file's size, mode and content, reached without links), nothing would
change: the render prints the last full render's warnings and its summary, and stops.

Anything that makes the output depend on more than those files is doubt, and doubt is a full
render with no stamp written: an inventory plugin file (``plugin:``, dynamic sources read the
network), Ansible Vault content (the output depends on a password), a secret held in the
environment or in AWS (``env``, ``ssm``, ``secretsmanager`` references), a folder too big to
digest quickly, an unreadable file. ``--limit``, ``--check`` and ``--diff`` always take the full
path. The stamp is untrusted input like every state file: a missing, corrupt, foreign or odd
stamp only costs a full render.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import re
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bootstrap.build.cache import (
    create_partial,
    drop_partial,
    publish_partial,
    read_entry,
    remove_entry,
)
from bootstrap.build.directory import HOSTS, STATE, BuildDir, Tree
from bootstrap.build.manifest import MANIFEST, name_problem, path_problem
from bootstrap.errors import BootstrapError
from bootstrap.paths import builtin

STAMP = "stamp"
FORMAT = 1
MAX_STAMP = 256 << 20  # bytes of a stamp read back: a million hosts fit
MAX_FILES = 500_000  # files of the folders digested; more is doubt
MAX_BYTES = 1 << 30  # bytes of those files; more is doubt
_SHA256 = re.compile(r"[0-9a-f]{64}")
LIBRARIES = re.compile(r"(?i)(jinja2|pyyaml|pydantic|pydantic_core|markupsafe)-[^/]*\.dist-info")
# Content that makes the output depend on more than the files: a vault, a plugin inventory,
# a secret from the environment or from AWS.
# A key named like a reference kind is doubt unless its value is a boolean or a number (a
# setting such as ``ssm: true``): a reference names its secret with a text.
DOUBT = re.compile(rb"\$ANSIBLE_VAULT|(?m:^[ \t-]*[\"']?plugin[\"']?[ \t]*[:=])"
                   rb"|[\"']?\b(?:env|ssm|secretsmanager)[\"']?[ \t]*:"
                   rb"(?![ \t]*(?i:true|false|yes|no|on|off|[0-9]+)[ \t]*(?:[,}\]#\r\n]|$))")
_READ = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK
_SKIPPED = {"__pycache__"}  # compiled copies of Python files that are digested themselves
# The C function json.dumps escapes a text with (ensure_ascii, its default).
_string: Any = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]


class Doubt(Exception):
    """The inputs cannot be digested with confidence: render in full, write no stamp."""


@dataclass(frozen=True)
class Stamp:
    inputs: str
    hosts: int
    warnings: list[str]
    state: str  # sha256 of hosts.json
    # folder -> [sha256 of its manifest, [[path, size, mode, sha256], ...] of every file]
    folders: dict[str, list[Any]]


# -- the inputs ----------------------------------------------------------------------------------


def inputs_digest(source: Path, secret_dirs: tuple[Path, ...], outdir: Path) -> str | None:
    """The digest of every input of a render of ``source``; None when in doubt."""
    digest = hashlib.sha256(f"bootstrap-stamp {FORMAT}\0{sys.version}\0".encode())
    budget = [MAX_FILES, MAX_BYTES]
    try:
        skip = os.path.realpath(outdir)
        digest.update(_tool(budget).encode())
        st = os.stat(source)
        basedir = source if stat.S_ISDIR(st.st_mode) else source.parent
        digest.update(f"source\0{os.path.realpath(source)}\0{stat.S_IFMT(st.st_mode)}\0".encode())
        _tree(digest, basedir, skip, budget, scan=True)
        for folder in secret_dirs:
            digest.update(f"secrets\0{os.path.realpath(folder)}\0".encode())
            _tree(digest, folder, skip, budget, scan=True)
    except (Doubt, OSError, ValueError):
        return None
    return digest.hexdigest()


def _tool(budget: list[int]) -> str:
    """The digest of bootstrap's own code, roles and templates, and its libraries' versions."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent.parent
    for folder in dict.fromkeys([package, builtin("roles"), builtin("templates")]):
        digest.update(f"tool\0{folder.name}\0".encode())
        _tree(digest, folder, "", budget, scan=False)
    spec = importlib.util.find_spec("jinja2")
    if spec is None or spec.origin is None:
        raise Doubt("jinja2 not found")
    site = Path(spec.origin).parent.parent
    digest.update("\0".join(sorted(n for n in os.listdir(site) if LIBRARIES.fullmatch(n)))
                  .encode())
    return digest.hexdigest()


def _tree(digest: Any, root: Path, skip: str, budget: list[int], *, scan: bool) -> None:
    """Fold every file under ``root`` (links followed, loops refused) into ``digest``, by
    relative path and content; ``scan``: content that is doubt raises :class:`Doubt`."""
    seen: set[tuple[int, int]] = set()
    for folder, folders, files in os.walk(root, followlinks=True, onerror=_raise):
        here = os.stat(folder)
        if (here.st_dev, here.st_ino) in seen:
            raise Doubt("a folder reached twice")
        seen.add((here.st_dev, here.st_ino))
        folders[:] = sorted(d for d in folders if d not in _SKIPPED
                            and os.path.realpath(os.path.join(folder, d)) != skip)
        rel = os.path.relpath(folder, root)
        digest.update(f"d\0{rel}\0".encode())
        for name in sorted(files):
            path = os.path.join(folder, name)
            digest.update(f"f\0{name}\0".encode())
            if os.path.islink(path):
                digest.update(f"l\0{os.readlink(path)}\0".encode())
            _file(digest, path, budget, scan=scan)


def _file(digest: Any, path: str, budget: list[int], *, scan: bool) -> None:
    fd = os.open(path, _READ)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Doubt(f"{path} is not a regular file")
        budget[0] -= 1
        budget[1] -= st.st_size
        if budget[0] < 0 or budget[1] < 0:
            raise Doubt("too much to digest")
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if scan and DOUBT.search(data):
        raise Doubt(f"{path} holds content read from elsewhere")
    digest.update(b"%d\0%s\0" % (len(data), hashlib.sha256(data).digest()))


def _raise(exc: OSError) -> None:
    raise exc


# -- the stamp -----------------------------------------------------------------------------------


def remove(cache: int | None) -> None:
    """Forget the stamp: the build is about to change."""
    if cache is not None:
        remove_entry(cache, STAMP)


class Recorder:
    """The stamp of a full render, written as the hosts come: each folder's record goes to a
    partial file at once, so a big fleet's records are never all in memory. :meth:`finish`
    publishes it, :meth:`discard` drops it."""

    def __init__(self, cache: int | None) -> None:
        self.cache = cache
        self.digest = hashlib.sha256()
        self.out: Any = None
        fd = create_partial(cache, STAMP) if cache is not None else None
        if fd is not None:
            self.out = os.fdopen(fd, "wb", buffering=1 << 16)
            self._write(b'{"folders":{')
        self.separator = ""

    def _write(self, data: bytes) -> None:
        self.digest.update(data)
        self.out.write(data)

    def add(self, name: str, entries: list[Any]) -> None:
        """Record host folder ``name`` as its entries will be written."""
        if self.out is not None:
            self._write(f"{self.separator}{_string(name)}:{folder_record(entries)}".encode())
            self.separator = ","

    def finish(self, inputs: str, hosts: int, warnings: list[str], state: str) -> None:
        """Publish the stamp; a stamp equal to the one in place leaves that file alone."""
        if self.out is None or self.cache is None:
            return
        tail = json.dumps({"format": FORMAT, "hosts": hosts, "inputs": inputs, "state": state,
                           "warnings": warnings}, separators=(",", ":"))
        try:
            self._write(b"}," + tail[1:].encode())
            self.out.close()
        except OSError:
            self.discard()
            return
        self.out = None
        old = read_entry(self.cache, STAMP, MAX_STAMP)
        if old is not None and hashlib.sha256(old).digest() == self.digest.digest():
            drop_partial(self.cache, STAMP)
        else:
            publish_partial(self.cache, STAMP)

    def discard(self) -> None:
        if self.out is not None:
            with contextlib.suppress(OSError):
                self.out.close()
            self.out = None
        if self.cache is not None:
            drop_partial(self.cache, STAMP)


def read(cache: int | None) -> Stamp | None:
    """The stamp, checked for shape; None when absent or not one bootstrap wrote."""
    raw = read_entry(cache, STAMP, MAX_STAMP) if cache is not None else None
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    inputs, hosts, warnings = data.get("inputs"), data.get("hosts"), data.get("warnings")
    state, folders = data.get("state"), data.get("folders")
    if not (isinstance(inputs, str) and isinstance(state, str) and type(hosts) is int
            and hosts >= 0 and isinstance(warnings, list)
            and all(isinstance(w, str) for w in warnings) and isinstance(folders, dict)):
        return None
    for name, record in folders.items():
        if name_problem(name) or not _record_ok(record):
            return None
    return Stamp(inputs, hosts, warnings, state, folders)


def _record_ok(record: Any) -> bool:
    if not (isinstance(record, list) and len(record) == 2 and isinstance(record[0], str)
            and isinstance(record[1], list)):
        return False
    return all(isinstance(item, list) and len(item) == 4 and isinstance(item[0], str)
               and not path_problem(item[0]) and type(item[1]) is int and type(item[2]) is int
               and isinstance(item[3], str) and _SHA256.fullmatch(item[3]) is not None
               for item in record[1])


def folder_record(entries: list[Any]) -> str:
    """What the stamp keeps of a host folder's entries, as JSON: its manifest's sha256, and
    each file's path, size, mode and sha256 (one short text per host, not objects: a big
    fleet's records stay small in memory)."""
    manifest = next(e.digest for e in entries if e.path == MANIFEST)
    # Formatted, not passed through json.dumps: it runs for every host of a full render.
    files = ",".join(f"[{_string(e.path)},{len(e.content):d},{e.mode:d},{_string(e.digest)}]"
                     for e in entries)
    return f"[{_string(manifest)},[{files}]]"


def state_digest(build: BuildDir) -> str:
    """The sha256 of the record of host folders ('' when there is none)."""
    if build.state is None:
        return ""
    raw = Tree(build.state, f"{build.path}/{STATE}").read(HOSTS)
    return hashlib.sha256(raw).hexdigest() if raw is not None else ""


def holds(build: BuildDir, stamp: Stamp) -> bool:
    """Whether the build still holds what the stamp records, read without following links."""
    recorded, warning = build.written_hosts()
    if warning or recorded is None or recorded != stamp.folders.keys():
        return False
    if state_digest(build) != stamp.state:
        return False
    try:
        return all(_folder_holds(build, name, files) for name, files in stamp.folders.items())
    except (BootstrapError, OSError):
        return False


def _folder_holds(build: BuildDir, name: str, record: list[Any]) -> bool:
    tree = build.host(name)
    if tree is None:
        return False
    try:
        for path, size, mode, digest in record[1]:
            st = tree.lstat(path)
            if st is None or not stat.S_ISREG(st.st_mode) or st.st_size != size or \
                    st.st_mode & 0o777 != mode:
                return False
            # The content too: a file edited by hand keeps its size, and push refuses a build
            # whose files differ from their manifest, asking for the render this would skip.
            raw = tree.read(path, size)
            if raw is None or hashlib.sha256(raw).hexdigest() != digest:
                return False
        raw = tree.read(MANIFEST)
        return raw is not None and hashlib.sha256(raw).hexdigest() == record[0]
    finally:
        build.release(name)
