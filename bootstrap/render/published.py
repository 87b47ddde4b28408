"""The manifest ``bootstrap publish`` puts in S3 for a host, and its digest.

One function makes its bytes, from a build's records (publish) or from the artifacts of a render
(the user-data stub, which pins the manifest's sha256): both give the same bytes for the same
files, so what render pins is what publish uploads.

```
{"format": 1, "host": "app01", "roles": ["ec2-instance", "app"],
 "apply": {"app": "systemctl restart app"},
 "files": [{"dest": "/etc/app/app.conf", "object": "objects/<sha256>", "sha256": "...",
            "size": 12, "mode": "0644", "owner": "root:root", "role": "app", "secret": false}]}
```

It is JSON with one key per line (``indent=1``, sorted keys), which the pull reads with awk.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

FORMAT = 1
OBJECTS, HOSTS, STATUS = "objects/", "hosts/", "status/"


class PublishedFile(Protocol):
    """What the manifest says of one file (a build's FileRecord has these attributes)."""

    @property
    def dest(self) -> str: ...

    @property
    def sha256(self) -> str: ...

    @property
    def size(self) -> int | None: ...

    @property
    def mode(self) -> int: ...

    @property
    def owner(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def secret(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Rendered:
    """A rendered file as the manifest describes it (digest and size of its content)."""

    dest: str
    sha256: str
    size: int
    mode: int
    owner: str
    role: str
    secret: bool

    @classmethod
    def of(cls, dest: str, content: bytes, mode: int, owner: str, role: str,
           secret: bool) -> Rendered:
        return cls(dest, hashlib.sha256(content).hexdigest(), len(content), mode, owner, role,
                   secret)


def host_manifest(host: str, roles: Sequence[str], apply: Mapping[str, str | None],
                  files: Sequence[PublishedFile]) -> bytes:
    """The published manifest: the same bytes for the same build, so a republish compares and
    the pull's pinned digest holds. Roles without an apply command are left out of ``apply``."""
    doc = {
        "format": FORMAT,
        "host": host,
        "roles": list(roles),
        # role -> command: the pull runs it where that role's files changed.
        "apply": {role: command for role, command in apply.items() if command},
        "files": [{"dest": r.dest, "object": f"{OBJECTS}{r.sha256}", "sha256": r.sha256,
                   "size": r.size, "mode": f"{r.mode:04o}", "owner": r.owner, "role": r.role,
                   "secret": r.secret} for r in files],
    }
    return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()


def manifest_key(prefix: str, host: str) -> str:
    return f"{prefix}{HOSTS}{host}.json"


def status_key(prefix: str, instance_id: str) -> str:
    return f"{prefix}{STATUS}{instance_id}.json"
