"""The build directory: per-host files and manifest, written atomically, only what changed.

```
DIR/<host>/files/<destination path>   what push copies to the host
DIR/<host>/<output>                   build outputs kept beside (user-data, user-data.b64)
DIR/<host>/manifest.json              per file: dest, path, mode, owner, sha256, role, secret
DIR/<host>/.redacted/<path>           secret files with every secret replaced, for diffs
DIR/_fleet/...                        fleet-wide outputs (IAM policies), with their manifest
DIR/.bootstrap/                       the writer's lock, journal and record of host folders
```

Every host renders in memory before anything is written, so a failed render leaves the previous
build exactly as it was. The writer (:mod:`bootstrap.build.directory`) stages every changed file, then
moves them all into place as one journaled transaction that a killed render's successor rolls
back; unchanged files are not touched, so their mtime stays. The previous build is read as
untrusted input: its manifests are checked, and nothing is read or written through a link.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import os
import stat
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bootstrap.build.directory import HOSTS, STATE, BuildDir, Transaction, Tree, write_file
from bootstrap.build.manifest import (
    FLEET,
    MANIFEST,
    REDACTED,
    manifest_problem,
    name_problem,
    path_problem,
)
from bootstrap.errors import BootstrapError

if TYPE_CHECKING:
    from bootstrap.render.renderer import Artifact

__all__ = ["FLEET", "MANIFEST", "Entry", "HostPlan", "Plan", "Writer", "apply", "diff",
           "host_entries", "plan"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One file of the build, relative to its host folder."""

    path: str
    content: bytes
    mode: int
    secret: bool = False
    digest: str = ""

    @classmethod
    def of(cls, path: str, content: bytes, mode: int, secret: bool = False) -> Entry:
        return cls(path, content, mode, secret, hashlib.sha256(content).hexdigest())


@dataclass(slots=True)
class HostPlan:
    name: str
    entries: list[Entry]
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    new_host: bool = False  # no previous manifest
    absent: bool = False  # no folder yet: it is written whole
    old_secret: set[str] = field(default_factory=set)  # secret files of the previous build
    old_known: set[str] | None = None  # paths the previous manifest lists; None if unreadable


@dataclass
class Plan:
    """What a render would change in DIR, computed without writing."""

    outdir: Path
    hosts: list[HostPlan]
    stale_hosts: list[str]
    warnings: list[str] = field(default_factory=list)
    written: set[str] = field(default_factory=set)  # host folders the tool has written
    write_state: bool = False  # the record of those folders changes

    @property
    def changed(self) -> bool:
        return bool(self.stale_hosts) or any(h.changed or h.removed for h in self.hosts)


def host_entries(name: str, roles: Iterable[str], artifacts: list[Artifact],
                 apply: Mapping[str, str | None] | None = None) -> list[Entry]:
    """The files of one host folder: each artifact, its redacted copy, and the manifest.

    ``apply``: each role's ``push --apply`` command (None: the role has none), recorded in the
    manifest so push reads it from the build.
    """
    entries: list[Entry] = []
    files: list[str] = []
    outputs: list[str] = []
    secret = False
    for art in artifacts:
        on_host = art.dest.startswith("/")
        rel = f"files{art.dest}" if on_host else art.dest
        entry = Entry.of(rel, art.content, art.mode, art.secret)
        entries.append(entry)
        shadow = None
        if art.secret:
            secret = True
            if art.redacted is not None:
                shadow = Entry.of(f"{REDACTED}/{rel}", art.redacted, 0o600, True)
                entries.append(shadow)
        line = _record_line(art.dest, rel, entry.digest, art.mode, art.owner, art.role,
                            art.secret, len(art.content), shadow.digest if shadow else None,
                            art.check)
        (files if on_host else outputs).append(line)
    commands = {role: command for role, command in (apply or {}).items() if command}
    text = (f'{{\n  "apply": {_SORTED(commands)},\n  "files": {_record_list(files)},\n'
            f'  "host": {_string(name)},\n  "outputs": {_record_list(outputs)},\n'
            f'  "roles": {_SORTED(list(roles))}\n}}\n')
    # Hashes of short secrets can be brute-forced, so a manifest beside secrets is private too.
    entries.append(Entry.of(MANIFEST, text.encode(), 0o600 if secret else 0o644, secret))
    return entries


# json.dumps(value, sort_keys=True) with one encoder made once: dumps makes a new one per call
# for any non-default option, a cost paid for every file of every host.
_SORTED = json.JSONEncoder(sort_keys=True).encode
# The C function json.dumps escapes a text with (ensure_ascii, its default).
_string: Callable[[str], str] = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]


def _record_line(dest: str, rel: str, digest: str, mode: int, owner: str, role: str,
                 secret: bool, size: int, redacted: str | None,
                 check: tuple[str, ...] | None) -> str:
    """One file record of a manifest, as ``json.dumps(record_json(...), sort_keys=True)``
    writes it, made by formatting: the manifest is written for every host of every render,
    and a dict per file passed through the encoder cost more than the rest of the manifest."""
    checks = "" if check is None else f'"check": [{", ".join(map(_string, check))}], '
    shadow = "" if redacted is None else f'"redacted_sha256": {_string(redacted)}, '
    return (f'    {{{checks}"dest": {_string(dest)}, "mode": "{mode:04o}", '
            f'"owner": {_string(owner)}, "path": {_string(rel)}, {shadow}'
            f'"role": {_string(role)}, "secret": {"true" if secret else "false"}, '
            f'"sha256": {_string(digest)}, "size": {size:d}}}')


def _record_list(lines: list[str]) -> str:
    """Sorted keys, one file record per line: readable and diffable."""
    return "[\n" + ",\n".join(lines) + "\n  ]" if lines else "[]"


def plan(build: BuildDir, builds: dict[str, list[Entry]], *, prune: bool) -> Plan:
    """Compare the new entries with the build. ``prune`` removes host folders no longer built,
    but only those the tool recorded writing."""
    present = build.listing()
    recorded, warning = build.written_hosts()
    warnings = [warning] if warning else []
    hosts = []
    for name, entries in builds.items():
        host, warning = plan_host(build, present, name, entries)
        if warning:
            warnings.append(warning)
        hosts.append(host)
    return _finish(build, hosts, set(builds), present, recorded, warnings, prune=prune)


def _finish(build: BuildDir, hosts: list[HostPlan], written: set[str], present: set[str],
            recorded: set[str] | None, warnings: list[str], *, prune: bool) -> Plan:
    stale: list[str] = []
    if prune:
        stale = sorted((recorded or set()) & present - written)
    else:
        written |= (recorded or set()) & present
    return Plan(build.path, hosts, stale, warnings, written, written != recorded)


def plan_host(build: BuildDir, present: set[str], name: str,
              entries: list[Entry]) -> tuple[HostPlan, str]:
    """What the new entries of one host folder change in the build, and a warning about its
    previous manifest ('' when none)."""
    _check_host(name, entries)
    tree = build.host(name) if name in present else None
    host = HostPlan(name, entries, absent=tree is None)
    if tree is None:
        host.changed = [e.path for e in entries]
        host.new_host = True
        return host, ""
    old, host.old_secret, host.old_known, warning = _previous(tree, entries)
    host.new_host = not old
    current = set()
    for entry in entries:
        current.add(entry.path)
        if old.get(entry.path) != entry.digest or not _intact(tree, entry):
            host.changed.append(entry.path)
    host.removed = sorted(p for p in old if p not in current)
    return host, warning


def _check_host(name: str, entries: list[Entry]) -> None:
    """The folder and file names a host would write are plain paths inside its folder."""
    problem = name_problem(name)
    if problem:
        raise BootstrapError(f"cannot be a folder of the build: {problem}", host=name)
    problem = _paths_problem(tuple(entry.path for entry in entries))
    if problem:
        raise BootstrapError(problem, host=name)


@functools.lru_cache(maxsize=256)
def _paths_problem(rels: tuple[str, ...]) -> str:
    """What is wrong with the file paths of one host folder ('' when nothing); worked out once
    per distinct list of paths, which most hosts of a fleet share."""
    paths: set[str] = set()
    folders: set[str] = set()
    for rel in rels:
        problem = path_problem(rel)
        if problem:
            return f"file {rel!r} cannot be written inside the host folder: {problem}"
        if rel in paths:
            return f"two files are written at {rel}"
        paths.add(rel)
        parent = rel.rpartition("/")[0]
        while parent and parent not in folders:
            folders.add(parent)
            parent = parent.rpartition("/")[0]
    both = paths & folders
    if both:
        return f"{min(both)} would be both a file and a folder"
    return ""


def _previous(tree: Tree, entries: list[Entry]) -> tuple[dict[str, str], set[str], set[str] | None,
                                                         str]:
    """What the last build wrote in this host folder, from its manifest: path → sha256, the
    secret paths, the paths it lists (None when unreadable), and a warning.

    Only the paths, digests and secret flags matter here, so only the shape that keeps every
    path inside the folder is required (:func:`~bootstrap.build.manifest.manifest_problem`),
    not the whole typed manifest that the commands reading a build get.
    """
    raw = tree.read(MANIFEST)
    shown = f"{tree.shown}/{MANIFEST}"
    ignored = "ignored, so no file it lists is removed and every file is written again"
    if raw is None:
        if tree.lstat(MANIFEST) is None:
            return {}, set(), None, ""
        return {}, set(), None, f"{shown} is not a regular file (a link?): {ignored}"
    if entries and entries[-1].path == MANIFEST and entries[-1].content == raw:
        # The same manifest records the same digests: nothing to parse (the usual rerender).
        digests = {e.path: e.digest for e in entries}
        secrets = {e.path for e in entries if e.secret and e.path != MANIFEST}
        return digests, secrets, set(digests), ""
    try:
        manifest = json.loads(raw)
        problem = manifest_problem(manifest)
    except ValueError:
        problem = "not JSON"
    if problem:
        return {}, set(), None, f"{shown} is not a manifest bootstrap wrote ({problem}): {ignored}"
    out: dict[str, str] = {}
    secrets = set()
    for record in [*manifest.get("files", []), *manifest.get("outputs", [])]:
        out[record["path"]] = record["sha256"]
        if record.get("secret") is True:
            secrets.add(record["path"])
            shadow = record.get("redacted_sha256", "")
            out[f"{REDACTED}/{record['path']}"] = shadow if isinstance(shadow, str) else ""
    out[MANIFEST] = hashlib.sha256(raw).hexdigest()
    return out, secrets, set(out), ""


def _intact(tree: Tree, entry: Entry) -> bool:
    parent, name = tree.locate(entry.path)  # a link where a folder should be is an error
    if parent is None:
        return False
    try:
        st = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except OSError:
        return False
    if stat.S_ISDIR(st.st_mode):
        raise BootstrapError(f"{tree.shown}/{entry.path} is a folder where bootstrap writes a "
                             "file: remove it and render again", host=tree.host)
    if not (stat.S_ISREG(st.st_mode) and st.st_size == len(entry.content)
            and (st.st_mode & 0o777) == entry.mode):
        return False
    # The content too: a hand edit may keep the size, and push refuses a file that differs
    # from its manifest, asking for this very render to put it back.
    return tree.read(entry.path, len(entry.content)) == entry.content


def apply(plan: Plan, build: BuildDir) -> None:
    """Write the plan as one transaction (see :mod:`bootstrap.build.directory`).

    A host folder that does not exist yet is staged whole and moved into place with one rename;
    in an existing folder each changed file is staged and renamed over its target, the old one
    kept aside until the commit. The manifest goes last in each folder.
    """
    txn = Transaction(build)
    try:
        for host in plan.hosts:
            stage_host(txn, build, host)
        _stage_end(txn, plan)
    except BaseException:
        txn.abandon()  # nothing in the build changed yet: only stage/ and backup/ go
        raise
    commit(txn, plan)


def stage_host(txn: Transaction, build: BuildDir, host: HostPlan) -> None:
    """Stage what one host folder changes: the transaction's operations and staged files."""
    if host.absent:
        _stage_whole(txn, host)
    elif host.changed or host.removed:
        tree = build.host(host.name)
        assert tree is not None
        _stage_changes(txn, tree, host)


def _stage_end(txn: Transaction, plan: Plan) -> None:
    """After every host: the stale host folders, and the record of host folders written."""
    for name in plan.stale_hosts:
        txn.ops.append(["drop", name, txn.scratch_name("d")])
    if plan.write_state:
        text = json.dumps({"hosts": sorted(plan.written)}, indent=1).encode() + b"\n"
        path = f"{STATE}/{HOSTS}"
        old = txn.scratch_name("b") if txn.root.lstat(path) else None
        txn.ops.append(["put", txn.stage_file(text, 0o644), path, old])


def commit(txn: Transaction, plan: Plan) -> None:
    """Journal the staged changes and move them into place; on failure, the previous build."""
    try:
        txn.run()
    except OSError as exc:
        txn.close()
        txn.build.recover()  # puts the previous build back before reporting
        raise BootstrapError(f"{plan.outdir}: cannot write the build ({exc.strerror}); the "
                             "previous build is kept") from None


_NONE: list[Any] = []  # shared by the summaries of changed hosts, which are never changed
_NO_PATHS: set[str] = set()


class Writer:
    """A render streamed to the build: each host planned, diffed and staged as it comes, its
    content dropped, so memory holds one host at a time and not the whole fleet.

    Nothing in the build changes before :meth:`finish`; :meth:`abandon` forgets what was staged.
    """

    def __init__(self, build: BuildDir, *, prune: bool, write: bool, diff: bool,
                 observe: Callable[[str, list[Entry]], None] | None = None,
                 before_commit: Callable[[], None] | None = None) -> None:
        """``observe(name, entries)`` sees each host folder's entries before they are dropped;
        ``before_commit()`` runs when the build is about to change."""
        self.build = build
        self.observe = observe
        self.before_commit = before_commit
        self.prune = prune
        self.diff = diff
        self.present = build.listing()
        self.recorded, warning = build.written_hosts()
        self.warnings = [warning] if warning else []
        self.names: set[str] = set()
        self.changes: list[HostPlan] = []  # the hosts that change, without their content
        self.lists: dict[tuple[str, ...], list[str]] = {}  # see _shared
        self.chunks: list[str] = []
        self.count = 0
        self.txn = Transaction(build) if write and build.state is not None else None

    def add(self, name: str, entries: list[Entry]) -> None:
        """Plan one host folder; stage its changes, or diff them."""
        if name in self.names:
            raise BootstrapError("two hosts write the same build folder", host=name)
        host, warning = plan_host(self.build, self.present, name, entries)
        if warning:
            self.warnings.append(warning)
        self.names.add(name)
        self.count += 1
        if self.observe is not None:
            self.observe(name, entries)
        if self.diff:
            self.chunks.append(_host_diff(host, self.build))
        if host.changed or host.removed:
            if self.txn is not None:
                stage_host(self.txn, self.build, host)
            # Kept for the summary only: the names of what changed, one list shared by the hosts
            # that change the same paths (most hosts of a fleet), and no container of its own
            # where there is nothing to hold.
            self.changes.append(HostPlan(
                name, _NONE, self._shared(host.changed),
                self._shared(host.removed) if host.removed else _NONE,
                host.new_host, host.absent, _NO_PATHS))
        self.build.release(name)

    def _shared(self, paths: list[str]) -> list[str]:
        """``paths`` as a list shared with every host that listed the same paths; the summaries
        that hold them are never changed."""
        key = tuple(paths)
        shared = self.lists.get(key)
        if shared is None:
            shared = self.lists[key] = [sys.intern(p) for p in paths]
        return shared

    def finish(self) -> Plan:
        """The plan of everything added; with a transaction, its changes are written."""
        plan = _finish(self.build, self.changes, set(self.names), self.present, self.recorded,
                       self.warnings, prune=self.prune)
        if self.diff:
            self.chunks.extend(f"--- {n}/\n+++ /dev/null\n@@ host no longer in the inventory "
                               "@@\n" for n in plan.stale_hosts)
        if self.txn is not None:
            if plan.changed or plan.write_state:
                _stage_end(self.txn, plan)
                if self.before_commit is not None:
                    self.before_commit()
                commit(self.txn, plan)
            else:
                self.txn.abandon()
            self.txn = None
        return plan

    def abandon(self) -> None:
        if self.txn is not None:
            self.txn.abandon()
            self.txn = None


def _ordered(paths: list[str]) -> list[str]:
    """The manifest last, so a reader never sees it ahead of its files."""
    return sorted(paths, key=lambda p: p == MANIFEST)


def _stage_whole(txn: Transaction, host: HostPlan) -> None:
    staged, fd = txn.stage_folder()
    by_path = {e.path: e for e in host.entries}
    made: set[str] = set()
    try:
        # Paths are used whole, below the new folder's descriptor: every folder on the way was
        # just made by this render inside stage/, which only its owner can write, so nothing
        # there can be a link (and the file itself is opened without following one).
        for rel in host.changed:
            entry = by_path[rel]
            folder = rel.rpartition("/")[0]
            if folder and folder not in made:
                _make_folders(fd, folder, made)
            write_file(fd, rel, entry.content, entry.mode, txn.umask)
    finally:
        os.close(fd)
    txn.ops.append(["host", staged, host.name])


def _make_folders(fd: int, folder: str, made: set[str]) -> None:
    """Make ``folder`` and the folders above it that this host folder does not have yet."""
    parent = folder.rpartition("/")[0]
    if parent and parent not in made:
        _make_folders(fd, parent, made)
    os.mkdir(folder, dir_fd=fd)
    made.add(folder)


def _stage_changes(txn: Transaction, tree: Tree, host: HostPlan) -> None:
    by_path = {e.path: e for e in host.entries}
    ops: list[list[Any]] = []
    puts: list[list[Any]] = []
    missing: set[str] = set()
    for rel in _ordered(host.changed):
        entry = by_path[rel]
        parent = rel.rpartition("/")[0]
        ops.extend(["mkdir", f"{host.name}/{d}"] for d in _missing(tree, parent, missing))
        old = txn.scratch_name("b") if parent not in missing and tree.lstat(rel) else None
        puts.append(["put", txn.stage_file(entry.content, entry.mode), f"{host.name}/{rel}", old])
    ops.extend(puts)
    emptied: set[str] = set()
    for rel in host.removed:
        st = tree.lstat(rel)  # None too when a link stands where a folder was: nothing to remove
        if st is None or stat.S_ISDIR(st.st_mode):
            continue
        ops.append(["del", f"{host.name}/{rel}", txn.scratch_name("b")])
        parent = rel.rpartition("/")[0]
        while parent and parent not in emptied:
            emptied.add(parent)
            parent = parent.rpartition("/")[0]
    # Deepest first; each is removed only if the removals left it empty, never the host folder.
    for folder in sorted(emptied, key=lambda d: d.count("/"), reverse=True):
        ops.append(["rmdir", f"{host.name}/{folder}"])
    txn.ops.extend(ops)


def _missing(tree: Tree, parent: str, missing: set[str]) -> list[str]:
    """The folders above a new file that do not exist yet, top first (each listed once)."""
    if not parent or parent in tree.fds:
        return []
    out = []
    prefix = ""
    absent = False
    for part in parent.split("/"):
        prefix = f"{prefix}/{part}" if prefix else part
        if prefix in missing:
            absent = True
            continue
        if absent or tree.folder(prefix) is None:
            absent = True
            missing.add(prefix)
            out.append(prefix)
    return out


def diff(plan: Plan, build: BuildDir) -> str:
    """A unified diff of every change, secrets redacted.

    A secret file diffs its redacted copies. Where the previous file held a secret its redacted
    copy stands for it; where the previous build cannot say whether it did, its content is not
    shown. No digest of a secret is ever printed: a changed secret is only said to have changed.
    """
    chunks = [_host_diff(host, build) for host in plan.hosts]
    for name in plan.stale_hosts:
        chunks.append(f"--- {name}/\n+++ /dev/null\n@@ host no longer in the inventory @@\n")
    return "".join(chunks)


def _host_diff(host: HostPlan, build: BuildDir) -> str:
    chunks: list[str] = []
    tree = None if host.absent else build.host(host.name)
    by_path = {e.path: e for e in host.entries}
    secret_paths = {e.path[len(REDACTED) + 1:] for e in host.entries
                    if e.path.startswith(REDACTED + "/")}
    for rel in host.changed:
        if rel.startswith(REDACTED + "/") or rel == MANIFEST:
            continue
        chunks.append(_file_diff(host, tree, rel, by_path, rel in secret_paths))
    for rel in host.removed:
        if not rel.startswith(REDACTED + "/") and rel != MANIFEST:
            chunks.append(f"--- {host.name}/{rel}\n+++ /dev/null\n@@ removed @@\n")
    return "".join(chunks)


def _file_diff(host: HostPlan, tree: Tree | None, rel: str, by_path: dict[str, Entry],
               new_secret: bool) -> str:
    name = f"{host.name}/{rel}"
    entry = by_path[rel]
    if entry.secret and not new_secret:  # no redacted copy to stand for it
        return f"{name}: a secret file changed (not shown)\n"
    new = by_path[f"{REDACTED}/{rel}"].content if new_secret else entry.content
    if tree is None or tree.lstat(rel) is None:
        return _unified(name, None, new, entry, None, secret=new_secret)
    on_disk = tree.read(rel)
    if host.old_known is None or rel not in host.old_known:
        return f"{name}: replaced; the previous file is not in the build's manifest (not shown)\n"
    old_secret = rel in host.old_secret
    old = tree.read(f"{REDACTED}/{rel}") if old_secret else on_disk
    if old is None and old_secret:
        return f"{name}: changed; the previous file held a secret (not shown)\n"
    return _unified(name, old, new, entry, on_disk, secret=new_secret or old_secret)


def _unified(name: str, old: bytes | None, new: bytes, entry: Entry, on_disk: bytes | None, *,
             secret: bool) -> str:
    header_old = "/dev/null" if old is None else f"a/{name}"
    if _binary(new) or (old is not None and _binary(old)):
        return f"Binary file {name} differs\n"
    old_lines = [] if old is None else old.decode().splitlines(keepends=True)
    lines = list(difflib.unified_diff(old_lines, new.decode().splitlines(keepends=True),
                                      header_old, f"b/{name}"))
    if not lines:
        if secret and on_disk != entry.content:
            return f"{name}: a secret value changed (not shown)\n"
        return f"mode of {name} is now {entry.mode:04o}\n"
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                   for line in lines)


def _binary(data: bytes) -> bool:
    if b"\x00" in data[:8192]:
        return True
    try:
        data.decode()
    except UnicodeDecodeError:
        return True
    return False
