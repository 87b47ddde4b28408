"""Errors never quote a secret: not a literal typed where a reference belongs, not a value
read from a reference, not a checker's complaint about a secret file."""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
from pathlib import Path

import pytest
import yaml
from support.cli import ROOT, one_error, run_cli

LITERAL = "Typed-In-L1teral-Secret"



def hosts(tree, host: dict) -> Path:
    return tree({"hosts.yml": yaml.safe_dump({"all": {"hosts": {"h1": host}}}, sort_keys=False)})


@pytest.mark.parametrize("given", [LITERAL, "7", 8443, [LITERAL], {"file": 7}])
def test_a_literal_where_a_secret_belongs_is_not_echoed(tmp_path, tree, given):
    inv = hosts(tree, {"bootstrap_roles": ["puppet-agent"], "os_family": "debian",
                       "puppet": {"server": "puppet.example.internal",
                                  "challenge_password": given}})
    result = run_cli("render", inv, "-o", tmp_path / "b")
    line = one_error(result, "hosts.yml:", "host h1", "key puppet.challenge_password")
    assert LITERAL not in line and "8443" not in line and "got" not in line
    assert "secret reference" in line


@pytest.mark.parametrize("given", [8443, [LITERAL], 7.5])
def test_a_wrong_type_in_a_field_that_may_hold_a_secret_is_not_echoed(tmp_path, tree, given):
    inv = hosts(tree, {"bootstrap_roles": ["cloud-init"],
                       "cloud_init": {"write_files": [{"path": "/etc/x", "content": given}]}})
    result = run_cli("render", inv, "-o", tmp_path / "b")
    line = one_error(result, "host h1", "key cloud_init.write_files.0.content",
                          "the value is not shown")
    assert LITERAL not in line and "8443" not in line and "7.5" not in line


# -- checker output of secret files ------------------------------------------------------------

FRR_KEY = "Zq8distinctiveMD5"


def frr_build(tmp_path: Path, key: str) -> Path:
    """A rendered FRR router whose frr.conf is then broken on the line that holds the key."""
    example = ROOT / "inventory"
    inv = tmp_path / "inv"
    shutil.copytree(example, inv)
    for path in (inv / "secrets").glob("dx-frr01-*.key"):
        path.write_text(key + "\n")
    build = tmp_path / "build"
    result = run_cli("render", inv, "-o", build, "--limit", "dx-frr01")
    assert result.rc == 0, result.err
    return build


def break_line(build: Path, old: str, new: str) -> Path:
    """Break frr.conf and its redacted copy alike, as a render vtysh rejects would be."""
    folder = build / "dx-frr01"
    for path in (folder / "files/etc/frr/frr.conf", folder / ".redacted/files/etc/frr/frr.conf"):
        text = path.read_text()
        assert old in text
        path.write_text(text.replace(old, new))
    manifest = folder / "manifest.json"
    data = json.loads(manifest.read_text())
    conf = folder / "files/etc/frr/frr.conf"
    for record in data["files"]:
        if record["dest"] == "/etc/frr/frr.conf":
            record["sha256"] = hashlib.sha256(conf.read_bytes()).hexdigest()
    manifest.write_text(json.dumps(data))
    return conf


needs_vtysh = pytest.mark.skipif(shutil.which("vtysh") is None, reason="needs frr's vtysh")


@needs_vtysh
@pytest.mark.parametrize("key", [FRR_KEY, "k7Short"])
def test_vtysh_failing_on_the_key_line_does_not_show_the_key(tmp_path, key):
    build = frr_build(tmp_path, key)
    conf = break_line(build, " password ", " passwerd ")
    assert key in conf.read_text() and stat.S_IMODE(conf.stat().st_mode) == 0o600
    result = run_cli("validate", build, "--limit", "dx-frr01")
    assert result.rc == 1, result.out
    assert "FAIL dx-frr01 /etc/frr/frr.conf (vtysh -C)" in result.out
    assert key not in result.out + result.err
    assert "lines of the checker's output withheld: they quote this secret file" in result.out


@needs_vtysh
def test_vtysh_failing_elsewhere_in_a_secret_file_is_shown(tmp_path):
    build = frr_build(tmp_path, FRR_KEY)
    break_line(build, "bgp router-id", "bgp ruoter-id")
    result = run_cli("validate", build, "--limit", "dx-frr01")
    assert result.rc == 1, result.out
    assert "bgp ruoter-id" in result.out and FRR_KEY not in result.out


@needs_vtysh
def test_a_secret_file_edited_by_hand_is_not_shown_either(tmp_path):
    build = frr_build(tmp_path, FRR_KEY)
    conf = build / "dx-frr01/files/etc/frr/frr.conf"
    conf.write_text(conf.read_text().replace(" password ", " passwerd "))
    result = run_cli("validate", build, "--limit", "dx-frr01")
    assert FRR_KEY not in result.out + result.err
    assert "withheld" in result.out


def test_a_cloud_config_fragment_broken_by_a_secret_does_not_quote_it(tmp_path, tree):
    inv = tree({
        "hosts.yml": """
            all:
              hosts:
                h1:
                  bootstrap_roles: [cloud-init, app]
                  pw: {file: secrets/pw}
            """,
        "secrets/pw": "@Zq8secret\n",
        "roles/app/role.yml": ("artifacts:\n  - {template: cc.j2, dest: app-cc.yaml, "
                               "userdata: cloud-config}\n"),
        "templates/cc.j2": "bootcmd:\n  - {{ vars.pw }}\n",
    })
    result = run_cli("render", inv, "-o", tmp_path / "b")
    line = one_error(result, "host h1", "is not YAML", "yaml filter")
    assert "@" not in line and "Zq8secret" not in line
