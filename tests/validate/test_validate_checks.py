"""Which checker consumes which file is said by the role: an artifact's ``check:`` in role.yml,
recorded per file in the build's manifest, is what ``bootstrap validate`` runs on it, beside the
generic checkers that take a file by its content or kind (shellcheck, parliament).

A user's role next to its inventory names built-in checkers the same way; a name no checker has
is a warning naming the host, the file and the name (an error with ``--strict``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support.cli import run_cli

from bootstrap.build import MANIFEST
from bootstrap.render.registry import Registry
from bootstrap.validate.registry import catalog

FRR_OK = "frr defaults traditional\n!\nrouter bgp 65000\n neighbor 192.0.2.1 remote-as 64512\n!\n"
FRR_BAD = "router bgp 65000\n neighbor 192.0.2.1 bogus-word\n"
JUNOS_OK = "set interfaces xe-0/0/1 mtu 9000\nset policy-options prefix-list EDGE 10.0.0.0/8\n"
JUNOS_BAD = ("set policy-options policy-statement OUT term t from prefix-list-filter MISSING "
             "exact\n")
needs_vtysh = pytest.mark.skipif(shutil.which("vtysh") is None, reason="FRR is not installed")


def edge_inventory(tree, *, frr_check: str = "check: vtysh -C", frr: str = FRR_OK,
                   junos: str = JUNOS_OK) -> Path:
    """Host r1 with a user role ``edge``: an FRR config, a Junos file and a shell script."""
    return tree({
        "hosts.yml": "all:\n  hosts:\n    r1: {bootstrap_roles: [edge]}\n",
        "roles/edge/role.yml": f"""
            artifacts:
              - template: edge/frr.conf.j2
                dest: /etc/frr/frr.conf
                {frr_check}
              - template: edge/edge.set.j2
                dest: router/edge.set
                check: junos structure
              - template: edge/start.sh.j2
                dest: /usr/local/sbin/edge-start
                mode: "0755"
                check: [shellcheck]
            """,
        "templates/edge/frr.conf.j2": frr,
        "templates/edge/edge.set.j2": junos,
        "templates/edge/start.sh.j2": "#!/bin/sh\necho started\n",
    })


def build(tree, tmp_path: Path, **kwargs: str) -> Path:
    out = tmp_path / "build"
    result = run_cli("render", edge_inventory(tree, **kwargs), "-o", out)
    assert result.rc == 0, result.err
    return out


@needs_vtysh
def test_a_user_role_names_builtin_checkers_and_validate_runs_them(tree, tmp_path):
    result = run_cli("validate", build(tree, tmp_path), "--strict")
    assert result.rc == 0, result.out + result.err
    assert result.out.splitlines() == [
        "ok   r1 /etc/frr/frr.conf (vtysh -C)",
        # Named and taken by its #! line too: run once.
        "ok   r1 /usr/local/sbin/edge-start (shellcheck)",
        # Files for the host first, then what stays in the build.
        "ok   r1 router/edge.set (junos structure)",
        "3 checks, 0 failed, 0 checkers not installed",
    ]
    assert result.err == ""


@needs_vtysh
def test_a_named_checker_that_rejects_the_file_fails_validate(tree, tmp_path):
    result = run_cli("validate", build(tree, tmp_path, frr=FRR_BAD, junos=JUNOS_BAD))
    assert result.rc == 1
    lines = result.out.splitlines()
    assert "FAIL r1 /etc/frr/frr.conf (vtysh -C)" in lines
    assert "FAIL r1 router/edge.set (junos structure)" in lines
    assert "     policy-options policy-statement OUT term t from prefix-list-filter MISSING " \
           "exact: prefix-list MISSING is not defined" in lines
    assert lines[-1] == "3 checks, 2 failed, 0 checkers not installed"


def test_a_file_its_role_names_no_checker_for_is_not_checked_by_its_destination(tree, tmp_path):
    # /etc/frr/frr.conf is where the dx-router role's FRR config goes, but this role does not
    # say vtysh consumes it: no checker is guessed from the destination.
    result = run_cli("validate", build(tree, tmp_path, frr_check="mode: '0644'", frr=FRR_BAD))
    assert result.rc == 0, result.out
    assert "frr.conf" not in result.out
    assert result.out.splitlines()[-1] == "2 checks, 0 failed, 0 checkers not installed"


def test_an_unknown_checker_name_is_a_warning_naming_host_file_and_name(tree, tmp_path):
    out = build(tree, tmp_path, frr_check="check: vtysh -c")
    result = run_cli("validate", out)
    assert result.rc == 0, result.out + result.err
    lines = result.out.splitlines()
    assert "warning: r1 /etc/frr/frr.conf: no checker named 'vtysh -c' (did you mean " \
           "'vtysh -C'?)" in lines
    assert not any("frr.conf (" in line for line in lines)
    assert "ok   r1 router/edge.set (junos structure)" in lines
    strict = run_cli("validate", out, "--strict")
    assert strict.rc == 1
    assert strict.err == "error: --strict: 1 checker names unknown\n"


def test_a_name_far_from_every_checker_gets_no_suggestion(tree, tmp_path):
    result = run_cli("validate", build(tree, tmp_path, frr_check="check: [zzzz]"))
    assert "warning: r1 /etc/frr/frr.conf: no checker named 'zzzz'" in result.out.splitlines()


def test_a_build_whose_manifest_names_no_checkers_gets_the_generic_ones_and_a_warning(
        tree, tmp_path):
    out = build(tree, tmp_path)
    path = out / "r1" / MANIFEST
    manifest = json.loads(path.read_text())
    for record in manifest["files"] + manifest["outputs"]:
        del record["check"]  # as a build of a bootstrap before roles named their checkers
    path.write_text(json.dumps(manifest))
    result = run_cli("validate", out)
    assert result.rc == 0, result.out + result.err
    lines = result.out.splitlines()
    assert lines[:1] == ["ok   r1 /usr/local/sbin/edge-start (shellcheck)"]
    assert "warning: r1: its manifest does not say which checkers consume its files (a build " \
           "of an older bootstrap), so only parliament, parliament (trust policy), shellcheck " \
           "ran; run: bootstrap render" in lines
    assert lines[-1] == "1 checks, 0 failed, 0 checkers not installed"
    # A render writes the manifest anew, and every named checker runs again.
    run_cli("render", tmp_path / "inv", "-o", out)
    assert "junos structure" in run_cli("validate", out).out


def test_every_checker_a_builtin_role_names_exists():
    known = catalog().named
    roles = Registry(None)
    named = {name for role in roles.names() for spec in roles.get(role).artifacts
             for name in spec.check}
    assert named, "the built-in roles name their files' checkers in role.yml"
    assert named <= set(known), sorted(named - set(known))


def test_role_checkers_run_only_where_named_and_generic_ones_say_what_they_take():
    found = catalog()
    assert {c.name for c in found.generic} == {"shellcheck", "parliament",
                                               "parliament (trust policy)"}
    assert all(c.applies is None for c in found.named.values() if c not in found.generic)
