"""`bootstrap validate` runs shellcheck on every shell script of a build, found by its #! line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from support.cli import run_cli

from bootstrap.validate.checkers.shell import interpreter_is_shell

pytestmark = pytest.mark.skipif(shutil.which("shellcheck") is None,
                                reason="shellcheck is not installed")

GOOD = '#!/bin/sh\nset -eu\nname="$1"\nprintf \'%s\\n\' "$name"\n'
# SC2086: an unquoted expansion; the secret sits on the very line shellcheck flags.
BAD = '#!/usr/bin/env bash\nkey={{ settings.key | shell }}; echo "$key" $1\n'


def scripts_inventory(tree) -> Path:
    return tree({
        "hosts.yml": """
            all:
              hosts:
                box1:
                  bootstrap_roles: [scripts]
                  scripts: {key: {env: TEST_SHELL_SECRET}}
            """,
        "roles/scripts/role.yml": """
            namespace: scripts
            model: settings.py:Scripts
            artifacts:
              - {template: scripts/good.sh.j2, dest: /usr/local/bin/good, mode: "0755"}
              - {template: scripts/bad.sh.j2, dest: /usr/local/bin/bad, mode: "0700"}
              - {template: scripts/tool.py.j2, dest: /usr/local/bin/tool, mode: "0755"}
              - {template: scripts/notes.j2, dest: /etc/notes.sh}
            """,
        "roles/scripts/settings.py": """
            from bootstrap.hosts.model import Secret, Settings


            class Scripts(Settings):
                key: Secret
            """,
        "templates/scripts/good.sh.j2": GOOD,
        "templates/scripts/bad.sh.j2": BAD,
        "templates/scripts/tool.py.j2": "#!/usr/bin/python3\nimport sys; print(sys.argv)\n",
        "templates/scripts/notes.j2": "echo $not_a_script_without_a_shebang\n",
    })


def test_every_shell_script_is_checked_and_findings_are_reported(tmp_path, tree):
    out = tmp_path / "build"
    secret = "hunter2-on-the-flagged-line"
    assert run_cli("render", scripts_inventory(tree), "-o", out,
                   env={"TEST_SHELL_SECRET": secret}).rc == 0
    report = run_cli("validate", out)
    assert report.rc == 1
    lines = report.out.splitlines()
    assert "ok   box1 /usr/local/bin/good (shellcheck)" in lines
    assert "FAIL box1 /usr/local/bin/bad (shellcheck)" in lines
    assert any(line.strip().startswith("bad:2:") and "Double quote to prevent globbing" in line
               and "[SC2086]" in line
               for line in lines), report.out
    # Not shell: a python script and a file without a #! line.
    assert not any("/usr/local/bin/tool" in line or "/etc/notes.sh" in line for line in lines)
    assert secret not in report.out + report.err


def test_a_missing_shellcheck_is_listed_not_passed(tmp_path, tree):
    out = tmp_path / "build"
    assert run_cli("render", scripts_inventory(tree), "-o", out,
                   env={"TEST_SHELL_SECRET": "x"}).rc == 0
    report = run_cli("validate", out, env={"PATH": str(tmp_path / "empty")})
    assert report.rc == 0, report.out + report.err
    assert "SKIP box1 /usr/local/bin/good (shellcheck: not installed: shellcheck)" in report.out
    assert "warning: not installed, so not checked: shellcheck (needs shellcheck: " \
           "apt-get install shellcheck)" in report.out


@pytest.mark.parametrize(("first_line", "shell"), [
    (b"#!/bin/sh\n", True),
    (b"#!/bin/bash -e\n", True),
    (b"#! /usr/bin/env bash\n", True),
    (b"#!/usr/bin/dash\n", True),
    (b"#!/bin/bash", True),
    (b"#!/usr/bin/python3\n", False),
    (b"#!/bin/shell-tool\n", False),
    (b"#cloud-config\n", False),
    (b"echo hi\n", False),
    (b"\x1f\x8b\x08binary", False),
])
def test_scripts_are_found_by_their_interpreter(tmp_path, first_line, shell):
    path = tmp_path / "file"
    path.write_bytes(first_line)
    assert interpreter_is_shell(path) is shell
