"""verify's manifest check, the one every host gets: each file the build's manifest lists is on
the host with its sha256, mode and owner, and a drift says, per file, what differs.

The host is this machine: the check's one survey command runs in a local shell.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import subprocess
from pathlib import Path
from typing import Any

import pytest
from support import waits
from support.cli import run_cli, write_tree

from bootstrap.build import MANIFEST
from bootstrap.fleet.manifest_checks import test_managed_files as managed_files


class LocalHost:
    """What the check uses of a testinfra host, running here."""

    def run(self, command: str, *args: str) -> Any:
        assert command.startswith("sh -c %s sh ")
        proc = subprocess.run(["sh", "-c", *args[:1], "sh", *args[1:]], capture_output=True,
                              text=True, timeout=waits.allowance(60))
        return type("Result", (), {"rc": proc.returncode, "stdout": proc.stdout,
                                   "stderr": proc.stderr})()


def me() -> str:
    return f"{pwd.getpwuid(os.getuid()).pw_name}:{grp.getgrgid(os.getgid()).gr_name}"


@pytest.fixture
def installed(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """A build of two files under ``root``, copied there as push would, and its manifest."""
    root = tmp_path / "root"
    inv = write_tree(tmp_path / "inv", {
        "hosts.yml": f"all:\n  hosts:\n    app1: {{bootstrap_roles: [app], root: {root}}}\n",
        "roles/app/role.yml": f"""
            artifacts:
              - {{template: a.j2, dest: "{{{{ vars.root }}}}/etc/a.conf", owner: "{me()}"}}
              - {{template: a.j2, dest: "{{{{ vars.root }}}}/etc/b.conf", mode: "0600",
                 owner: "{me()}"}}
            """,
        "templates/a.j2": "a = 1\n",
    })
    out = tmp_path / "build"
    assert run_cli("render", inv, "-o", out).rc == 0
    manifest = json.loads((out / "app1" / MANIFEST).read_text())
    for record in manifest["files"]:
        target = Path(record["dest"])
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((out / "app1" / record["path"]).read_bytes())
        target.chmod(int(record["mode"], 8))
    return root, manifest


def test_files_as_the_build_says_pass(installed):
    _root, manifest = installed
    managed_files(LocalHost(), manifest)


def test_each_drifted_file_says_what_differs(installed):
    root, manifest = installed
    (root / "etc/a.conf").write_text("a = 2\n")
    (root / "etc/b.conf").chmod(0o644)
    with pytest.raises(pytest.fail.Exception) as failed:
        managed_files(LocalHost(), manifest)
    lines = str(failed.value).splitlines()
    assert lines[0] == "2 of 2 managed files differ from the build:"
    assert lines[1].startswith(f"{root}/etc/a.conf: content differs (sha256 ")
    assert lines[2] == f"{root}/etc/b.conf: mode 0644, expected 0600"


def test_a_missing_file_is_named(installed):
    root, manifest = installed
    (root / "etc/b.conf").unlink()
    with pytest.raises(pytest.fail.Exception) as failed:
        managed_files(LocalHost(), manifest)
    assert str(failed.value).splitlines()[1:] == [f"{root}/etc/b.conf: missing"]
