"""What the managed files look like on a host, found with one shell command for all of them.

Push compares these states with the manifest to decide what to upload; verify's manifest
checks report the same differences as drift. The command needs only POSIX sh and coreutils
(``sha256sum``, ``stat``), no Python on the host.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from bootstrap.build.manifest import FileRecord, parse_record

T = TypeVar("T")
# sshd hands the whole command line to the login shell as one argument, and Linux takes at
# most 128 KiB in one argument: commands about many files are split into batches below that.
ARGUMENT_BUDGET = 64 * 1024

# First one kind per path argument, in order, so no path ever has to be parsed back; then, for
# the readable regular files only and in the same order, one sha256sum and one stat for all.
SURVEY = r"""
for f do
  shift
  if [ -L "$f" ]; then echo link
  elif [ -f "$f" ]; then
    if [ -r "$f" ]; then echo file; set -- "$@" "$f"; else echo unreadable; fi
  elif [ -e "$f" ]; then echo other
  else echo missing; fi
done
[ $# -eq 0 ] && exit 0
sha256sum -- "$@"
stat -c '%a %U:%G %u:%g' -- "$@"
"""


@dataclass(frozen=True, slots=True)
class FileState:
    kind: str  # file, missing, link, other, unreadable
    sha256: str = ""
    mode: int = 0
    owner: str = ""  # user:group by name
    owner_ids: str = ""  # uid:gid

    def drift(self, record: FileRecord | Mapping[str, Any]) -> list[str]:
        """What differs from the manifest record, as a user would say it; empty when none."""
        if not isinstance(record, FileRecord):  # a record as the manifest file stores it
            record = parse_record(record)
        if self.kind == "missing":
            return ["missing"]
        if self.kind == "link":
            return ["a symbolic link, not the managed file"]
        if self.kind == "other":
            return ["not a regular file"]
        if self.kind == "unreadable":
            return ["cannot be read (permission denied)"]
        out = []
        if self.sha256 != record.sha256:
            if record.secret:
                out.append("content differs (a secret file: hashes not shown)")
            else:
                out.append(f"content differs (sha256 {self.sha256[:12]} on the host, "
                           f"{record.sha256[:12]} in the build)")
        if self.mode != record.mode:
            out.append(f"mode {self.mode:04o}, expected {record.mode:04o}")
        if record.owner not in (self.owner, self.owner_ids):
            out.append(f"owner {self.owner}, expected {record.owner}")
        return out


def batches(items: Sequence[T], size: Callable[[T], int],
            budget: int = ARGUMENT_BUDGET) -> list[list[T]]:
    """``items`` in order, cut into lists whose ``size`` adds up to at most ``budget``."""
    out: list[list[T]] = []
    used = budget
    for item in items:
        cost = size(item)
        if used + cost > budget:
            out.append([])
            used = 0
        out[-1].append(item)
        used += cost
    return out


def quoted_size(args: Sequence[str]) -> int:
    """About how many bytes ``args`` take on a shell command line, quoted."""
    return sum(len(a) + 3 + a.count("'") * 4 for a in args)


def parse(output: str, count: int) -> list[FileState]:
    """The states printed by :data:`SURVEY` for ``count`` paths."""
    lines = output.splitlines()
    kinds = lines[:count]
    if len(kinds) < count or not set(kinds) <= {"file", "missing", "link", "other", "unreadable"}:
        raise ValueError(f"unexpected answer: {output.strip()[-300:]!r}")
    files = kinds.count("file")
    sums, stats = lines[count:count + files], lines[count + files:count + 2 * files]
    if len(stats) < files:
        raise ValueError(f"unexpected answer: {output.strip()[-300:]!r}")
    states = []
    found = iter(zip(sums, stats, strict=True))
    for kind in kinds:
        if kind != "file":
            states.append(FileState(kind))
            continue
        listed, stat = next(found)
        digest = listed.lstrip("\\")[:64]  # a name with a newline is escaped after a backslash
        mode, owner, ids = stat.split()
        states.append(FileState("file", digest, int(mode, 8), owner, ids))
    return states
