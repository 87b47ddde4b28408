"""``bootstrap validate`` for the backup's systemd units: ``systemd-analyze verify``, systemd's own
reading of a unit file (sections, keys, the timer's OnCalendar, the service's command).

The service and its timer are checked together, as systemd loads them. systemd also checks
that ExecStart names an executable file; the build holds the script under ``files/``, so the
copy it reads names that file there instead, and a script missing from the build is reported.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

from bootstrap.build.manifest import FileRecord
from bootstrap.validate.checker import Checker
from bootstrap.validate.programs import resolve

EXEC = re.compile(r"^(ExecStart=[-@:+!]*)(/\S+)", re.MULTILINE)
UNITS = (".service", ".timer")


def check_units(path: Path, record: FileRecord, folder: Path) -> list[str]:
    pair = [path.with_suffix(suffix) for suffix in UNITS]
    missing = [p.name for p in pair if not p.is_file()]
    if missing:
        return [f"{missing[0]} is not beside {path.name} in the build"]
    files = folder.resolve() / "files"
    with tempfile.TemporaryDirectory() as scratch:
        copies = []
        for unit in pair:
            text = EXEC.sub(lambda m: m[1] + str(files / m[2].lstrip("/")),
                            unit.read_text())
            copy = Path(scratch) / unit.name
            copy.write_text(text)
            copies.append(str(copy))
        proc = subprocess.run([resolve("systemd-analyze"), "verify", "--man=no", *copies],
                              capture_output=True, text=True, timeout=120)
    lines = [line.replace(f"{scratch}/", "").replace(str(files), "")
             for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    if proc.returncode == 0 and not lines:
        return []
    return lines or [f"systemd-analyze verify exited {proc.returncode}"]


CHECKERS = [
    Checker("systemd-analyze verify", check_units, tools=("systemd-analyze",),
            brought_by={"systemd-analyze": "apt:systemd"}),
]
