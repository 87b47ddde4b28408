"""Where the programs the tool runs are found.

pip puts the programs of this package's Python dependencies (parliament, ansible-core's,
moto's) beside the interpreter that runs the tool, in the virtualenv's ``bin``. That folder is on
``PATH`` only while the virtualenv is activated, and not at all when the tool is started as
``.venv/bin/bootstrap`` or from a cron job; so it is searched first, then ``PATH``.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def which(name: str) -> str | None:
    """The path of the program ``name``, beside the running interpreter or on PATH; None if absent."""
    if os.sep not in name and sys.executable:
        # Not resolved: a virtualenv's python is a link to the base interpreter, and the
        # programs live beside the link.
        beside = Path(sys.executable).parent / name
        if beside.is_file() and os.access(beside, os.X_OK):
            return str(beside)
    return shutil.which(name)


def resolve(name: str) -> str:
    """The program to put in an argv: its path when found, else ``name`` (the OS then says what
    is missing)."""
    return which(name) or name
