"""What a host folder of a build holds, as typed records: the manifest and the names in it.

```
{"host": "r1", "roles": ["base", "router"],
 "apply": {"router": "systemctl reload frr"},
 "files":   [{"dest": "/etc/frr/frr.conf", "path": "files/etc/frr/frr.conf", "mode": "0640",
              "owner": "frr:frr", "sha256": "...", "size": 812, "role": "router",
              "secret": false, "check": ["vtysh -C"]}, ...],
 "outputs": [{"dest": "user-data", "path": "user-data", ...}, ...]}
```

``files`` go to the host, ``outputs`` stay in the build (user-data, router configs to load by
hand, the fleet's IAM policies). A manifest is read back as untrusted input: :func:`parse` says
what is wrong with one that bootstrap did not write, and every path in it must stay inside its
host folder. This module is pure data (no I/O), so the checkers of validate and the roles' own
code can take its records; :mod:`bootstrap.build.directory` reads it from disk.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MANIFEST = "manifest.json"
FLEET = "_fleet"  # the folder of fleet-wide outputs (IAM policies), with its own manifest
REDACTED = ".redacted"  # in a host folder: each secret file rendered again with placeholders
MAX_COMPONENT = 255  # bytes: the limit of Linux file systems
MAX_PATH = 4000  # bytes: below PATH_MAX, so any file of a build can be named whole
_ODD_PART = re.compile(r"(?:\A|/)\.{0,2}(?:/|\Z)|\x00")  # '', '.' or '..' parts, or a NUL
_MODE = re.compile(r"[0-7]{3,4}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class FileRecord:
    """One file of a host folder and where it goes."""

    dest: str  # absolute on the host, or relative for an output kept in the build
    path: str  # inside the host folder
    sha256: str
    mode: int
    owner: str  # user:group
    role: str
    secret: bool = False
    size: int | None = None
    redacted_sha256: str | None = None  # of the redacted copy of a secret file
    # The checkers of validate that consume this file, as its role names them; None in a
    # manifest written before roles named them.
    check: tuple[str, ...] | None = ()

    @property
    def on_host(self) -> bool:
        return self.dest.startswith("/")

    def as_json(self) -> dict[str, Any]:
        """The record as the manifest stores it."""
        return record_json(self.dest, self.path, self.sha256, self.mode, self.owner, self.role,
                           self.secret, self.size, self.redacted_sha256, self.check)


@dataclass(frozen=True)
class Manifest:
    """A host folder's manifest."""

    host: str
    roles: tuple[str, ...]
    files: tuple[FileRecord, ...]  # pushed to the host
    outputs: tuple[FileRecord, ...]  # kept in the build
    # role -> the shell command ``push --apply`` runs where that role's files changed; None in
    # a manifest written before render recorded them.
    apply: dict[str, str] | None = None
    # The JSON object as read: what verify's checks get as their ``manifest`` fixture.
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def records(self) -> tuple[FileRecord, ...]:
        return self.files + self.outputs


def record_json(dest: str, path: str, sha256: str, mode: int, owner: str, role: str,
                secret: bool, size: int | None, redacted_sha256: str | None,
                check: tuple[str, ...] | None) -> dict[str, Any]:
    """A file record as the manifest stores it (the writer calls this once per file of a
    render, so it builds the JSON object without a :class:`FileRecord` in between)."""
    out: dict[str, Any] = {"dest": dest, "path": path, "mode": f"{mode:04o}", "owner": owner,
                           "sha256": sha256, "size": size, "role": role, "secret": secret}
    if check is not None:
        out["check"] = list(check)
    if redacted_sha256 is not None:
        out["redacted_sha256"] = redacted_sha256
    return out


class ManifestProblem(ValueError):
    """A manifest bootstrap did not write; the message says what is wrong."""


def name_problem(name: str) -> str:
    """Why ``name`` cannot be a host folder of a build ('' when it can)."""
    if not name:
        return "an empty name"
    if name.startswith("."):
        return "a name starting with '.' (reserved for the build's own state)"
    if _CONTROL.search(name):
        return "a control character in the name"
    return _component_problem(name)


def path_problem(rel: str) -> str:
    """Why ``rel`` is not a normalized relative path inside a folder ('' when it is)."""
    # The common case in one regex search: it runs for every file of every render.
    if rel and rel[0] != "/" and not _ODD_PART.search(rel) and \
            len(rel.encode("utf-8", "surrogateescape")) <= MAX_COMPONENT:
        return ""
    if not rel or rel.startswith("/"):
        return "not a relative path"
    if len(rel.encode("utf-8", "surrogateescape")) > MAX_PATH:
        return f"longer than {MAX_PATH} bytes"
    for part in rel.split("/"):
        problem = _component_problem(part)
        if problem:
            return problem
    return ""


def _component_problem(part: str) -> str:
    if part in ("", ".", ".."):
        return f"a path component {part!r}"
    if "\x00" in part or "/" in part:
        return "a NUL or '/' in a path component"
    if len(part.encode("utf-8", "surrogateescape")) > MAX_COMPONENT:
        return f"a path component longer than {MAX_COMPONENT} bytes"
    return ""


def manifest_problem(data: Any) -> str:
    """Why ``data`` is not a manifest ('' when it is): every record a file inside the folder.

    The shape every reader relies on to stay inside the build; :func:`parse` checks the rest.
    """
    if not isinstance(data, dict):
        return "not a JSON object"
    if not isinstance(data.get("roles", []), list):
        return "roles is not a list"
    for section in ("files", "outputs"):
        records = data.get(section, [])
        if not isinstance(records, list):
            return f"{section} is not a list"
        for index, record in enumerate(records):
            if not isinstance(record, dict):
                return f"{section}[{index}] is not an object"
            path, digest = record.get("path"), record.get("sha256")
            if not isinstance(path, str) or path_problem(path):
                return f"{section}[{index}].path is not a relative path inside the host folder"
            if not isinstance(digest, str) or not isinstance(record.get("dest"), str):
                return f"{section}[{index}] has no sha256 or dest string"
    return ""


def parse(data: Any, host: str = "") -> Manifest:
    """The typed manifest of host folder ``host``; :class:`ManifestProblem` when ``data`` is not
    one bootstrap wrote."""
    problem = manifest_problem(data)
    if problem:
        raise ManifestProblem(problem)
    roles = data.get("roles", [])
    if not all(isinstance(r, str) for r in roles):
        raise ManifestProblem("roles is not a list of role names")
    apply = data.get("apply")
    if apply is not None and not (isinstance(apply, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in apply.items())):
        raise ManifestProblem("apply is not an object of role: command")
    name = data.get("host", host)
    if not isinstance(name, str):
        raise ManifestProblem("host is not a string")
    files, outputs = (tuple(parse_record(r, f"{section}[{i}]")
                            for i, r in enumerate(data.get(section, [])))
                      for section in ("files", "outputs"))
    return Manifest(name, tuple(roles), files, outputs, None if apply is None else dict(apply),
                    data)


def parse_record(data: Mapping[str, Any], where: str = "record") -> FileRecord:
    """One file record of a manifest; :class:`ManifestProblem` names what is wrong with it."""
    if not isinstance(data.get("path"), str) or path_problem(data["path"]):
        raise ManifestProblem(f"{where}.path is not a relative path inside the host folder")
    if not isinstance(data.get("sha256"), str) or not isinstance(data.get("dest"), str):
        raise ManifestProblem(f"{where} has no sha256 or dest string")
    mode, owner, role = data.get("mode"), data.get("owner"), data.get("role")
    if not isinstance(mode, str) or not _MODE.fullmatch(mode):
        raise ManifestProblem(f"{where}.mode is not an octal mode")
    if not isinstance(owner, str) or not isinstance(role, str):
        raise ManifestProblem(f"{where} has no owner or role string")
    secret, size = data.get("secret", False), data.get("size")
    if not isinstance(secret, bool):
        raise ManifestProblem(f"{where}.secret is not true or false")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int)):
        raise ManifestProblem(f"{where}.size is not a number")
    shadow = data.get("redacted_sha256")
    if shadow is not None and not isinstance(shadow, str):
        raise ManifestProblem(f"{where}.redacted_sha256 is not a string")
    check = data.get("check")
    if check is not None and not (isinstance(check, list)
                                  and all(isinstance(c, str) for c in check)):
        raise ManifestProblem(f"{where}.check is not a list of checker names")
    return FileRecord(data["dest"], data["path"], data["sha256"], int(mode, 8), owner, role,
                      secret, size, shadow, None if check is None else tuple(check))
