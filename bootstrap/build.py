"""The build directory: per-host files and manifest, written atomically, only what changed.

```
DIR/<host>/files/<destination path>   what push copies to the host
DIR/<host>/<output>                   build outputs kept beside (user-data, user-data.b64)
DIR/<host>/manifest.json              per file: dest, path, mode, owner, sha256, role, secret
DIR/<host>/.redacted/<path>           secret files with every secret replaced, for diffs
DIR/_fleet/...                        fleet-wide outputs (IAM policies), with their manifest
```

Every host renders in memory before anything is written, so a failed render leaves the previous
build exactly as it was. Changed files are first written beside their target under a temporary
name and renamed into place only when all of them are written; unchanged files are not touched,
so their mtime stays.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bootstrap.render import Artifact

FLEET = "_fleet"
MANIFEST = "manifest.json"
REDACTED = ".redacted"


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


@dataclass
class HostPlan:
    name: str
    entries: list[Entry]
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    new_host: bool = False


@dataclass
class Plan:
    """What a render would change in DIR, computed without writing."""

    outdir: Path
    hosts: list[HostPlan]
    stale_hosts: list[str]

    @property
    def changed(self) -> bool:
        return bool(self.stale_hosts) or any(h.changed or h.removed for h in self.hosts)


def host_entries(name: str, roles: Iterable[str], artifacts: list[Artifact]) -> list[Entry]:
    """The files of one host folder: each artifact, its redacted copy, and the manifest."""
    entries: list[Entry] = []
    files: list[dict[str, Any]] = []
    outputs: list[dict[str, Any]] = []
    for art in artifacts:
        rel = f"files{art.dest}" if art.on_host else art.dest
        entry = Entry.of(rel, art.content, art.mode, art.secret)
        entries.append(entry)
        record = {
            "dest": art.dest,
            "path": rel,
            "mode": f"{art.mode:04o}",
            "owner": art.owner,
            "sha256": entry.digest,
            "size": len(art.content),
            "role": art.role,
            "secret": art.secret,
        }
        if art.secret and art.redacted is not None:
            shadow = Entry.of(f"{REDACTED}/{rel}", art.redacted, 0o600, True)
            entries.append(shadow)
            record["redacted_sha256"] = shadow.digest
        (files if art.on_host else outputs).append(record)
    text = _manifest_text({"host": name, "roles": list(roles), "files": files, "outputs": outputs})
    # Hashes of short secrets can be brute-forced, so a manifest beside secrets is private too.
    secret = any(a.secret for a in artifacts)
    entries.append(Entry.of(MANIFEST, text.encode(), 0o600 if secret else 0o644, secret))
    return entries


def _manifest_text(manifest: dict[str, Any]) -> str:
    """Sorted keys, one file record per line: readable, diffable, and made by the C encoder
    (``indent=`` would switch json to its pure-Python encoder, the slowest part of a render)."""
    lines = ["{"]
    keys = sorted(manifest)
    for index, key in enumerate(keys):
        comma = "," if index < len(keys) - 1 else ""
        value = manifest[key]
        if isinstance(value, list) and value and isinstance(value[0], dict):
            items = ",\n".join(f"    {json.dumps(v, sort_keys=True)}" for v in value)
            lines.append(f"  {json.dumps(key)}: [\n{items}\n  ]{comma}")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value, sort_keys=True)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def plan(outdir: Path, builds: dict[str, list[Entry]], *, prune: bool) -> Plan:
    """Compare the new entries with DIR. ``prune`` removes host folders no longer built."""
    hosts = []
    root = str(outdir)
    # One listing of DIR rather than a failed open per host on a first build.
    try:
        present = set(os.listdir(root))
    except OSError:
        present = set()
    for name, entries in builds.items():
        # Plain strings, not Path objects: this loop runs for every file of every host.
        folder = os.path.join(root, name)
        old = _previous(folder, entries) if name in present else {}
        host = HostPlan(name, entries, new_host=not old)
        current = {e.path for e in entries}
        for entry in entries:
            if old.get(entry.path) != entry.digest or not _intact(os.path.join(folder, entry.path),
                                                                  entry):
                host.changed.append(entry.path)
        host.removed = sorted(p for p in old if p not in current)
        hosts.append(host)
    stale: list[str] = []
    if prune:
        stale = sorted(name for name in present
                       if name not in builds and os.path.isfile(os.path.join(root, name, MANIFEST)))
    return Plan(outdir, hosts, stale)


def _previous(folder: str, entries: list[Entry]) -> dict[str, str]:
    """Path → sha256 of what the last build wrote in this host folder (from its manifest)."""
    try:
        with open(os.path.join(folder, MANIFEST), "rb") as handle:
            raw = handle.read()
    except OSError:
        return {}
    if entries and entries[-1].path == MANIFEST and entries[-1].content == raw:
        # The same manifest records the same digests: nothing to parse (the usual rerender).
        return {e.path: e.digest for e in entries}
    try:
        manifest = json.loads(raw)
    except ValueError:
        return {}
    out = {}
    for record in [*manifest.get("files", []), *manifest.get("outputs", [])]:
        out[record["path"]] = record["sha256"]
        if record.get("secret"):
            out[f"{REDACTED}/{record['path']}"] = record.get("redacted_sha256", "")
    out[MANIFEST] = hashlib.sha256(raw).hexdigest()
    return out


def _intact(path: str, entry: Entry) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return st.st_size == len(entry.content) and (st.st_mode & 0o777) == entry.mode


def apply(plan: Plan) -> None:
    """Write the plan: all temporary files first, then renames, then removals.

    A host folder that does not exist yet is written whole under a temporary name and renamed
    into place (one rename instead of one per file); in an existing folder each changed file is
    written beside its target and renamed over it.
    """
    staged: list[tuple[str, str]] = []
    made: set[str] = set()
    suffix = f".tmp{os.getpid()}"
    umask = _umask()
    root = str(plan.outdir)
    try:
        os.makedirs(plan.outdir, exist_ok=True)
        for host in plan.hosts:
            folder = os.path.join(plan.outdir, host.name)
            by_path = {e.path: e for e in host.entries}
            whole = host.new_host and not os.path.exists(folder)
            stage = os.path.join(plan.outdir, f".{host.name}{suffix}") if whole else folder
            if whole:
                staged.append((stage, folder))
            for rel in host.changed:
                entry = by_path[rel]
                target = os.path.join(stage, rel)
                parent, base = os.path.split(target)
                if parent not in made:
                    os.makedirs(parent, exist_ok=True)
                    # Its ancestors exist too: the host folder itself needs no second makedirs.
                    folder_made = parent
                    while folder_made not in made and folder_made != root:
                        made.add(folder_made)
                        folder_made = os.path.dirname(folder_made)
                if not whole:
                    staged.append((os.path.join(parent, f".{base}{suffix}"), target))
                    target = staged[-1][0]
                _write(target, entry.content, entry.mode, umask)
    except BaseException:
        for tmp, _ in staged:
            with contextlib.suppress(OSError):
                if os.path.isdir(tmp):
                    shutil.rmtree(tmp)
                else:
                    os.unlink(tmp)
        raise
    # The manifest goes last in each folder, so a reader never sees it ahead of its files.
    staged.sort(key=lambda pair: pair[1].endswith(MANIFEST))
    for tmp, target in staged:
        os.replace(tmp, target)
    for host in plan.hosts:
        folder = plan.outdir / host.name
        for rel in host.removed:
            (folder / rel).unlink(missing_ok=True)
            _prune_empty(folder / rel, folder)
    for name in plan.stale_hosts:
        shutil.rmtree(plan.outdir / name)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _write(path: str, content: bytes, mode: int, umask: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        if mode & umask:  # the umask must not narrow what the manifest says
            os.fchmod(fd, mode)
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _prune_empty(path: Path, stop: Path) -> None:
    parent = path.parent
    while parent != stop and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent


def diff(plan: Plan) -> str:
    """A unified diff of every change, secrets redacted (secret files diff their redacted copies)."""
    chunks: list[str] = []
    for host in plan.hosts:
        folder = plan.outdir / host.name
        by_path = {e.path: e for e in host.entries}
        secret_paths = {e.path[len(REDACTED) + 1:] for e in host.entries
                        if e.path.startswith(REDACTED + "/")}
        for rel in host.changed:
            if rel.startswith(REDACTED + "/") or rel == MANIFEST:
                continue
            shown = f"{REDACTED}/{rel}" if rel in secret_paths else rel
            new = by_path[shown].content
            old = _read(folder / shown)
            chunks.append(_unified(f"{host.name}/{rel}", old, new, by_path[rel], _read(folder / rel)))
        for rel in host.removed:
            if not rel.startswith(REDACTED + "/") and rel != MANIFEST:
                chunks.append(f"--- {host.name}/{rel}\n+++ /dev/null\n@@ removed @@\n")
    for name in plan.stale_hosts:
        chunks.append(f"--- {name}/\n+++ /dev/null\n@@ host no longer in the inventory @@\n")
    return "".join(chunks)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _unified(name: str, old: bytes | None, new: bytes, entry: Entry, on_disk: bytes | None) -> str:
    header_old = "/dev/null" if old is None else f"a/{name}"
    if _binary(new) or (old is not None and _binary(old)):
        return f"Binary file {name} differs\n"
    old_lines = [] if old is None else old.decode().splitlines(keepends=True)
    lines = list(difflib.unified_diff(old_lines, new.decode().splitlines(keepends=True),
                                      header_old, f"b/{name}"))
    if not lines:
        if entry.secret and on_disk != entry.content:
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
