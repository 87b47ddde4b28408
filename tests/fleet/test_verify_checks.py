"""push and verify before any connection: bad checks, hosts never rendered, and what --help loads.

These need no SSH host: everything here is decided from the inventory and the build.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
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


def test_check_outcomes_follow_pytest(tmp_path: Path) -> None:
    """What a checks.py author can rely on: pytest's marks, outcomes and assertion messages."""
    from bootstrap.fleet.checks import collect, load_module
    from bootstrap.fleet.pool import FleetHost, Redactor
    from bootstrap.fleet.verify import _run
    from bootstrap.hosts.model import Connection

    path = tmp_path / "checks.py"
    path.write_text(textwrap.dedent("""
        import pytest


        @pytest.mark.parametrize("dest", ["/etc/a", pytest.param("/etc/b", id="second")])
        def test_listed(manifest, dest):
            assert dest in [f["dest"] for f in manifest["files"]]


        @pytest.mark.skip(reason="not on this platform")
        def test_marked_skip(manifest):
            raise AssertionError("never runs")


        @pytest.mark.skipif(True, reason="condition")
        def test_marked_skipif(manifest):
            raise AssertionError("never runs")


        def test_skips_itself(manifest):
            pytest.skip("nothing to check")


        def test_expected_to_fail(manifest):
            pytest.xfail("known issue")


        def test_compares(manifest):
            token = "s3cret-value"
            assert manifest["host"] == token


        def test_crashes(manifest):
            {}["missing"]


        def test_wants_a_fixture_nobody_gives(tmp_path):
            pass
        """))
    checks = collect("demo", load_module("demo", path))
    host = FleetHost("web1", Connection(), {}, tmp_path, None, Redactor(["s3cret-value"]))
    manifest = {"host": "web1", "files": [{"dest": "/etc/a"}]}
    fixtures = {"host": None, "hostvars": host.hostvars, "manifest": manifest}
    results = {c.name: _run(c, fixtures, host) for c in checks}
    outcomes = {name: (r.outcome, r.message) for name, r in results.items()}
    assert outcomes["demo::test_listed[/etc/a]"] == ("passed", "")
    assert outcomes["demo::test_listed[second]"][0] == "failed"
    assert outcomes["demo::test_marked_skip"] == ("skipped", "not on this platform")
    assert outcomes["demo::test_marked_skipif"] == ("skipped", "condition")
    assert outcomes["demo::test_skips_itself"] == ("skipped", "nothing to check")
    assert outcomes["demo::test_expected_to_fail"] == ("skipped", "xfail: known issue")
    # pytest's assertion rewriting; the secret is replaced wherever it shows (under a pytest
    # session like this one, a diff of both sides follows the first line).
    outcome, message = outcomes["demo::test_compares"]
    assert outcome == "failed"
    assert message.startswith("assert 'web1' == '<secret>'")
    assert message.endswith(f" ({path}:30)") and "s3cret" not in message
    assert outcomes["demo::test_crashes"] == ("error", f"KeyError: 'missing' ({path}:34)")
    assert outcomes["demo::test_wants_a_fixture_nobody_gives"] == (
        "error", "unknown fixture tmp_path: checks can take host, hostvars, manifest, "
        "record_property")
