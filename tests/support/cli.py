"""Run the CLI as a user would, and write small inventories (shared by the tests)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from support import waits

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    rc: int
    out: str
    err: str


def run_cli(*args: str | Path, cwd: Path | None = None,
            env: dict[str, str | None] | None = None) -> Result:
    """Run ``python -m bootstrap ARGS`` in a subprocess, as a user at a shell would.

    ``env`` adds variables to the environment; a value of None removes one.
    """
    full_env = dict(os.environ)
    for key, value in (env or {}).items():
        if value is None:
            full_env.pop(key, None)
        else:
            full_env[key] = value
    proc = subprocess.run(
        [sys.executable, "-m", "bootstrap", *map(str, args)],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=waits.allowance(600),
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def write_tree(base: Path, files: dict[str, str]) -> Path:
    """Write ``{relative path: text}`` under base (text is dedented) and return base."""
    for rel, text in files.items():
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return base


def one_error(result: Result, *words: str, quiet: bool = True) -> str:
    """The single ``error:`` line of a failed run: exit 1, no traceback, nothing else on stderr,
    each of ``words`` in it, and (``quiet``) nothing on stdout."""
    assert result.rc == 1, (result.rc, result.out[-500:], result.err[-2000:])
    assert "Traceback" not in result.err and "MemoryError" not in result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.err[-2000:]
    for word in words:
        assert word in lines[0], lines[0]
    if quiet:
        assert result.out == "", result.out[-500:]
    return lines[0]
