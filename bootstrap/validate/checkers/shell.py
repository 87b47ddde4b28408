"""shellcheck on every shell script of a build: any file whose first line is a sh or bash ``#!``.

Scripts are found by content, not by name, so every role's bootstrap script is checked. The
``gcc`` output format gives file:line:column and the finding, never the script's own lines, so
a script that holds a secret cannot leak it into the report. The same script on many hosts is
checked once.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from bootstrap.build.manifest import FileRecord
from bootstrap.validate.checker import Checker, once_per_content
from bootstrap.validate.programs import resolve

# "#!/bin/sh", "#!/usr/bin/env bash", "#! /bin/bash -e", ... (the shells shellcheck knows)
SHEBANG = re.compile(rb"#!\s*(?:/usr)?/bin/(?:env\s+)?(?:sh|bash|dash|ksh)(?:\s|$)")


def interpreter_is_shell(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            first = handle.readline(256)
    except OSError:
        return False
    return bool(SHEBANG.match(first))


def _applies(record: FileRecord, file: Path) -> bool:
    return interpreter_is_shell(file)


@once_per_content
def _check(path: Path, record: FileRecord, folder: Path) -> list[str]:
    proc = subprocess.run([resolve("shellcheck"), "--format=gcc", "--", path.name], cwd=path.parent,
                          capture_output=True, text=True, timeout=120)
    if proc.returncode == 0:
        return []
    findings = [line for line in proc.stdout.splitlines() if line.strip()]
    return findings or [proc.stderr.strip() or f"shellcheck exited {proc.returncode}"]


CHECKERS = [Checker("shellcheck", _check, tools=("shellcheck",),
                    brought_by={"shellcheck": "apt:shellcheck"}, applies=_applies)]
