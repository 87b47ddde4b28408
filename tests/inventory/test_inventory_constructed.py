"""``plugin: constructed`` over static YAML and INI sources, resolved by ``ansible-inventory
--list`` and by ``bootstrap inventory --list``: groups and ``_meta.hostvars`` must be equal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import ansible
from support.cli import one_error, run_cli, write_tree

PLUGINS = "constructed,yaml,ini"

STATIC = """\
all:
  vars: {dc: ams}
  children:
    web:
      vars: {tier: front, os: debian}
      hosts:
        web1.example.com: {ports: [80, 443], meta: {owner: ops, cost: ""}}
        web2.example.com: {ports: [8080], os: ubuntu, meta: {owner: dev}}
    db:
      vars: {tier: back, ansible_group_priority: 5}
      hosts:
        db1.example.com: {os: "", meta: {}}
"""
INI = """\
[legacy]
10.0.0.7 os=centos tier=front
old-box os=Solaris

[legacy:vars]
site=basement
"""


def constructed(**options: Any) -> str:
    return yaml.safe_dump({"plugin": "constructed", **options}, sort_keys=False)


def same_as_ansible(inv: Path) -> dict[str, Any]:
    theirs = unwrapped(ansible.inventory_list(inv, plugins=PLUGINS))
    result = run_cli("inventory", inv, "--list")
    assert result.rc == 0 and "Traceback" not in result.err, result.err
    ours = json.loads(result.out)
    assert ours["_meta"]["hostvars"] == theirs["_meta"]["hostvars"]
    assert membership(ours) == membership(theirs)
    return ours


def unwrapped(value: Any) -> Any:
    """ansible-inventory marks a value a template computed as ``{"__ansible_unsafe": TEXT}``."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: unwrapped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrapped(v) for v in value]
    return value


def membership(listing: dict[str, Any]) -> dict[str, tuple[list[str], list[str]]]:
    return {name: (sorted(body.get("hosts", [])), sorted(body.get("children", [])))
            for name, body in listing.items() if name != "_meta"}


CASES = {
    "keyed-values": constructed(keyed_groups=[
        {"key": "os", "prefix": "os", "default_value": "unknown"},
        {"key": "ports", "prefix": "port"},
        {"key": "meta", "prefix": "meta", "trailing_separator": False},
        {"key": "meta", "prefix": "m", "default_value": "none", "separator": "-"},
        {"key": "tier"},
        {"key": "dc", "separator": "", "parent_group": "dc_{{ dc }}"},
    ]),
    "no-leading-separator": constructed(leading_separator=False, keyed_groups=[
        {"key": "tier"}, {"key": "os", "separator": "."}]),
    "groups-and-compose": constructed(
        compose={"fqdn_short": "inventory_hostname.split('.')[0]",
                 "kind": "os | default('none', true) | lower",
                 "in_web": "'web' in group_names",
                 "port_count": "ports | default([]) | length",
                 "where": "site | default(dc)"},
        groups={"debianish": "kind in ['debian', 'ubuntu']",
                "has_ports": "port_count > 0",
                "ams": "where == 'ams'",
                "bad name-1!": "true"},
    ),
    "precedence": constructed(compose={"seen_tier": "tier", "seen_os": "os"},
                              keyed_groups=[{"key": "seen_tier", "prefix": "t"}]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_constructed_is_ansibles(tmp_path, case):
    inv = write_tree(tmp_path / "inv", {"10-static.yml": STATIC, "20-legacy": INI,
                                        "30-constructed.yml": CASES[case]})
    ours = same_as_ansible(inv)
    assert len(ours["_meta"]["hostvars"]) == 5


def test_the_values_the_cases_are_about(tmp_path):
    inv = write_tree(tmp_path / "inv", {"10-static.yml": STATIC, "20-legacy": INI,
                                        "30-constructed.yml": CASES["keyed-values"]})
    ours = same_as_ansible(inv)
    assert sorted(ours["os_unknown"]["hosts"]) == ["db1.example.com"]
    assert sorted(ours["port_443"]["hosts"]) == ["web1.example.com"]
    assert sorted(ours["meta_cost"]["hosts"]) == ["web1.example.com"]  # no trailing separator
    assert sorted(ours["m_cost_none"]["hosts"]) == ["web1.example.com"]  # '-' made safe
    assert ours["dc_ams"]["children"] == ["ams"]  # separator "": no leading "_"
    again = write_tree(tmp_path / "inv2", {"10-static.yml": STATIC, "20-legacy": INI,
                                           "30-constructed.yml": CASES["groups-and-compose"]})
    ours = same_as_ansible(again)
    assert "bad_name_1_" in ours  # made a safe name, as Ansible does
    assert ours["_meta"]["hostvars"]["10.0.0.7"]["fqdn_short"] == "10"


def test_a_constructed_file_before_the_hosts_sees_none(tmp_path):
    inv = write_tree(tmp_path / "inv", {"00-constructed.yml": constructed(
        groups={"everyone": "true"}), "10-static.yml": STATIC})
    assert "everyone" not in same_as_ansible(inv)


@pytest.mark.parametrize(("options", "words"), [
    ({"use_vars_plugins": True}, ["constructed option 'use_vars_plugins' is not supported"]),
    ({"groupz": {}}, ["constructed option 'groupz' is not supported"]),
    ({"compose": {"x": "nope.x"}, "strict": True}, ["host web1.example.com", "compose x:"]),
    ({"keyed_groups": [{"key": "missing"}], "strict": True}, ["keyed group key"]),
    ({"keyed_groups": [{"key": "os", "default_value": "x", "trailing_separator": True}]},
     ["exclude each other"]),
    ({"keyed_groups": [{"key": "ports | length"}]}, ["a text, a list or a mapping"]),
    ({"keyed_groups": [{"key": "'a/b'"}]}, []),
])
def test_bad_constructed_options_are_one_error_naming_the_file(tmp_path, options, words):
    inv = write_tree(tmp_path / "inv", {"10-static.yml": STATIC,
                                        "30-c.yml": constructed(**options)})
    result = run_cli("inventory", inv, cwd=tmp_path)
    if not words:  # a '/' is made safe: no error
        assert result.rc == 0 and "_a_b" in json.loads(result.out), result.err
        return
    assert one_error(result, *words).startswith("error: inv/30-c.yml:")


VAULT_SECRET = "constructed-Vault-9d2e"


def test_expressions_never_reach_a_vault_value(tmp_path):
    password = tmp_path / "pass"
    password.write_text("pw\n")
    proc = ansible.run("ansible-vault", "encrypt_string", "--vault-password-file", password,
                       VAULT_SECRET)
    assert proc.returncode == 0, proc.stderr
    encrypted = "\n".join("      " + line for line in proc.stdout.strip().splitlines()[1:])
    static = ("all:\n  hosts:\n    app1:\n      token: !vault |\n" + encrypted + "\n")
    for compose, strict in (({"copy": "token", "shout": "token | upper"}, False),
                            ({"leak": "token.value"}, False),
                            ({"leak": "token.value"}, True)):
        inv = write_tree(tmp_path / f"inv-{len(compose)}-{strict}", {
            "10-static.yml": static,
            "30-c.yml": constructed(compose=compose, strict=strict)})
        result = run_cli("inventory", inv, "--list", "--vault-password-file", password)
        assert VAULT_SECRET not in result.out + result.err and "Traceback" not in result.err
        if strict:
            one_error(result, "compose leak:", "unsafe")
            continue
        assert result.rc == 0, result.err
        app1 = json.loads(result.out)["_meta"]["hostvars"]["app1"]
        assert "leak" not in app1
        if "copy" in compose:
            assert app1["copy"] == app1["token"] and app1["copy"].startswith("<secret:vault:")
