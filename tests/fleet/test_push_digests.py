"""push puts no digest of a secret file on the host's command lines (every user of the host can
read them with ps, and a sha256 of a short secret can be brute-forced).

The install script runs here in a local shell, fed by push's own code, as it runs on a host.
"""

from __future__ import annotations

import grp
import hashlib
import json
import os
import pwd
import stat
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest
from support import waits
from support.cli import run_cli, write_tree

from bootstrap.build.manifest import parse
from bootstrap.fleet.pool import FleetHost
from bootstrap.fleet.push import HostResult, PushOptions, _install
from bootstrap.fleet.transport import Result
from bootstrap.hosts.model import Connection

SECRET = "7"


class LocalShell:
    """A session whose host is this machine: each command line is kept to be looked at."""

    def __init__(self) -> None:
        self.command_lines: list[list[str]] = []

    def run(self, script: str, args: Sequence[str] = (), *, stdin: Iterable[bytes] = (),
            timeout: float | None = None) -> Result:
        argv = ["sh", "-c", script, "sh", *args]
        self.command_lines.append(argv)
        proc = subprocess.run(argv, input=b"".join(stdin), capture_output=True,
                              timeout=waits.allowance(60))
        return Result(proc.returncode, (proc.stdout + proc.stderr).decode())


def build(tmp_path: Path, root: Path) -> tuple[Path, dict]:
    inv = write_tree(tmp_path / "inv", {
        "hosts.yml": f"""
            all:
              hosts:
                app1:
                  bootstrap_roles: [app]
                  pw: {{file: secrets/pw}}
                  root: {root}
            """,
        "secrets/pw": SECRET + "\n",
        "roles/app/role.yml": """
            artifacts:
              - {template: secret.j2, dest: "{{ vars.root }}/etc/app/secret.conf"}
              - {template: plain.j2, dest: "{{ vars.root }}/etc/app/plain.conf"}
            """,
        "templates/secret.j2": "pw = {{ vars.pw | ini }}\n",
        "templates/plain.j2": "plain = 1\n",
    })
    out = tmp_path / "build"
    result = run_cli("render", inv, "-o", out)
    assert result.rc == 0, result.err
    return out / "app1", json.loads((out / "app1/manifest.json").read_text())


def me() -> str:
    return f"{pwd.getpwuid(os.getuid()).pw_name}:{grp.getgrgid(os.getgid()).gr_name}"


@pytest.mark.parametrize("truncate", [False, True])
def test_a_secret_files_digest_never_reaches_the_command_line(tmp_path, truncate):
    root = tmp_path / "host"
    folder, manifest = build(tmp_path, root)
    records = [{**r, "owner": me()} for r in manifest["files"]]
    secret = next(r for r in records if r["secret"])
    plain = next(r for r in records if not r["secret"])
    if truncate:  # the stream ends early: the size check catches it
        (folder / secret["path"]).write_bytes((folder / secret["path"]).read_bytes()[:-2])
    host = FleetHost("app1", Connection(), {}, folder, parse(manifest, "app1"))
    shell = LocalShell()
    result = HostResult("app1")
    _install(shell, host, records, {}, PushOptions(), result)  # type: ignore[arg-type]
    words = [word for argv in shell.command_lines for word in argv]
    assert secret["sha256"] not in " ".join(words)
    assert hashlib.sha256(SECRET.encode()).hexdigest()[:12] not in " ".join(words)
    assert plain["sha256"] in words  # a file without secrets is still checked by its digest
    installed = Path(secret["dest"])
    if truncate:
        assert result.failed and "incomplete upload" in result.reason
        assert not installed.exists()
        assert not list(installed.parent.glob(".*bootstrap-*"))
    else:
        assert not result.failed, result.reason
        assert installed.read_text() == f"pw = {SECRET}\n"
        assert stat.S_IMODE(installed.stat().st_mode) == 0o600
        assert Path(plain["dest"]).read_text() == "plain = 1\n"
