"""push and verify before any connection: bad checks, hosts never rendered, and what --help loads.

These need no SSH host: everything here is decided from the inventory and the build.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support.cli import run_cli


def inventory(tree, checks: str) -> Path:
    return tree({
        "hosts.yml": """
            all:
              vars:
                bootstrap_roles: [base, app]
                ansible_host: 127.0.0.1
                ansible_port: 9
              hosts:
                web1:
                web2:
            """,
        "roles/app/role.yml": """
            description: a role with checks
            """,
        "roles/app/checks.py": checks,
    })


def test_a_syntax_error_in_checks_names_the_file_and_line(tree, tmp_path: Path) -> None:
    inv = inventory(tree, """
        def test_ok(host):
            assert host.file("/etc/motd").exists

        def test_broken(host)
            pass
        """)
    assert run_cli("render", inv, "-o", tmp_path / "build").rc == 0
    result = run_cli("verify", inv, "--build", tmp_path / "build")
    assert result.rc == 1
    assert result.err == f"error: {inv / 'roles/app/checks.py'}:4: syntax error in checks: " \
                         "expected ':'\n"
    assert result.out == ""


def test_a_host_never_rendered_is_reported_without_connecting(tree, tmp_path: Path) -> None:
    inv = inventory(tree, "def test_ok(host):\n    pass\n")
    assert run_cli("render", inv, "-o", tmp_path / "build", "--limit", "web1").rc == 0
    verified = run_cli("verify", inv, "--build", tmp_path / "build", "--limit", "web2",
                       "--junit", tmp_path / "junit.xml")
    assert verified.rc == 1
    missing = tmp_path / "build" / "web2" / "manifest.json"
    assert f"web2  -      NOT RENDERED  {missing} is missing (run: bootstrap render)" in verified.out
    assert (f'<error message="not rendered: {missing} is missing (run: bootstrap render)" '
            'type="not rendered" />') in (tmp_path / "junit.xml").read_text()

    pushed = run_cli("push", inv, "--build", tmp_path / "build", "--limit", "web2")
    assert pushed.rc == 1
    assert f"failed: not rendered: {missing} is missing (run: bootstrap render)" in pushed.out


def test_a_build_edited_by_hand_is_not_pushed(tree, tmp_path: Path) -> None:
    inv = inventory(tree, "")
    build = tmp_path / "build"
    assert run_cli("render", inv, "-o", build, "--limit", "web1").rc == 0
    (build / "web1/files/etc/motd").write_text("changed here, not in the inventory\n")
    pushed = run_cli("push", inv, "--build", build, "--limit", "web1")
    assert pushed.rc == 1
    assert (f"failed: {build / 'web1/files/etc/motd'} does not match its manifest (edited by "
            "hand?); run: bootstrap render") in pushed.out


def test_help_does_not_load_ssh_or_testinfra() -> None:
    code = ("import sys, bootstrap.cli as cli; cli.parser(); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'fabric', 'paramiko', 'testinfra', 'invoke', '_pytest', 'pytest'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "[]\n"
