"""``bootstrap inventory --list`` prints what ansible-core's own ``ansible-inventory --list`` prints.

Each case under ``tests/fixtures/ansible/<case>/`` is an inventory that exercises one of Ansible's
rules (its comments say which). Both tools read it; their JSON must be equal: groups with their
hosts and children, and every host's resolved variables. A few facts per case are also checked
by name, so that a case which stopped exercising its rule would fail too.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from support import ansible
from support.cli import ROOT, run_cli

FIXTURES = ROOT / "tests" / "fixtures" / "ansible"
EXAMPLE = ROOT / "inventory"

# (case, host, key) -> the value Ansible resolves: what each case is there to show.
FACTS: dict[str, dict[tuple[str, str], Any]] = {
    "depth": {
        ("h1", "who"): "x",  # x is at depth 3 by its longer path and beats z at depth 2
        ("h1", "level"): "c",  # c (depth 2, after b linked it) beats a and b (depth 1)
        ("h1", "from_a"): True,  # a parent's key the child does not set still reaches the host
        ("h3", "level"): "y",
    },
    "priority": {
        ("h1", "color"): "low",  # same depth: priority 20 beats priority 10
        ("h1", "size"): "child",  # depth beats priority: the child of a priority-100 group wins
        ("h2", "shape"): "zzz",  # ansible_group_priority in group_vars/aaa.yml changes nothing
        ("h2", "ansible_group_priority"): 50,  # ... and stays a plain variable
    },
    "tie": {
        ("h1", "color"): "beta",  # same depth and priority: the later name wins
        ("h1", "size"): "beta",
        ("h1", "inline_only"): "alpha-file",  # any group_vars file beats any inline group var
    },
    "host_conflicts": {
        ("app1", "listed"): "db",  # the later listing of the host wins, key by key
        ("app1", "web_only"): True,
        ("app1", "ansible_user"): "admin",  # host_vars/ beats the host's inline vars
        ("app1", "ansible_port"): 2222,  # the port where the host first appears
        ("app2", "ansible_port"): 2200,
        ("app3", "ansible_port"): 2202,  # an inline ansible_port beats the pattern's port
        ("app2", "listed"): "group_vars-loses-to-host-inline",
    },
    "ranges": {
        ("sw09", "ansible_port"): 2222,
        ("2001:db8::1", "ansible_port"): 2201,
        ("db-c", "engine"): "postgres",
    },
    "vars_dir": {
        ("web1", "merged"): ["sub/30"],  # files merge in sorted order, subdirectories in place
        ("web1", "http_port"): 8080,  # the extension-less file 10-override is read
        ("web1", "json_number"): 1000.0,  # .json is read as JSON: 1e3 is a number
        ("web1", "sort_probe"): "a",  # sorted by code point: a.yml after Upper.yml
        ("web1", "host_dir"): ["b"],
        ("db1", "picked"): "db (no extension)",  # the first of NAME, .yml, .yaml, .json
        ("app1", "picked"): "app.yml",
        ("cache1", "picked"): "cache.yaml",
        ("queue1", "picked"): "queue.yml/ directory",
    },
    "all_vars": {
        ("h1", "tier"): "group_vars/web",
        ("h2", "tier"): "group_vars/all",  # group_vars/all beats the groups' inline vars
        ("h1", "overridden_by_group_inline"): "web-inline",
    },
    "empty": {},  # no host has a variable: the point is the shape of the groups (see below)
    "limit": {},  # the inventory tests/inventory/test_limit.py selects from: its groups must match too
    "ungrouped": {
        ("lone1", "in_ungrouped"): True,
        ("listed_ungrouped", "in_ungrouped"): True,
    },
    "yaml11": {
        ("h1", "yes_word"): True,
        ("h1", "off_word"): False,
        ("h1", "y_letter"): "y",
        ("h1", "octal"): 493,
        ("h1", "sexagesimal"): 80,
        ("h1", "exp_no_dot"): "1e3",
        ("h1", "json_exp"): 1000.0,
        ("h1", "version"): 1.1,
        ("h1", "date"): "2024-02-29",
        ("h1", "merged"): {"timeout": 30, "retries": 5},
        ("h1", "unsafe"): "{{ not_a_template }}",
    },
    "replace": {
        ("web1", "ntp"): {"iburst": True},  # group_vars/web replaces the dict, no merge
        ("web2", "packages"): ["haproxy"],
        ("web1", "packages"): ["nginx"],
    },
    "multi_file": {
        ("web1", "rack"): "r2",
        ("web1", "listen"): 8080,
        ("web1", "owner"): "json",
        ("cache1", "size"): 1000.0,
    },
}


@pytest.fixture(scope="module")
def ansible_lists() -> dict[str, dict[str, Any]]:
    """ansible-inventory --list of every case, run a few at a time (each takes a second)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(FACTS, pool.map(lambda c: ansible.inventory_list(source(c)), FACTS),
                        strict=True))


def source(case: str) -> Path:
    """The case's one inventory file, or its folder when it has several."""
    file = FIXTURES / case / "hosts.yml"
    return file if file.exists() else FIXTURES / case


def bootstrap_list(*args: str | Path) -> dict[str, Any]:
    result = run_cli("inventory", *args, "--list")
    assert result.rc == 0, result.err
    assert "Traceback" not in result.err
    return json.loads(result.out)


def without_unsafe_tags(value: Any) -> Any:
    """Ansible prints a ``!unsafe`` string as ``{"__ansible_unsafe": s}``: a mark meaning "never
    template this", which bootstrap has no use for (it never templates inventory values), so it
    holds the plain string. That mark is the only thing this removes."""
    if isinstance(value, dict):
        if list(value) == ["__ansible_unsafe"]:
            return value["__ansible_unsafe"]
        return {k: without_unsafe_tags(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_unsafe_tags(v) for v in value]
    return value


def test_every_case_is_checked() -> None:
    assert sorted(p.name for p in FIXTURES.iterdir() if p.is_dir()) == sorted(FACTS)


@pytest.mark.parametrize("case", sorted(FACTS))
def test_list_equals_ansible_inventory(case: str, ansible_lists: dict[str, Any]) -> None:
    theirs = without_unsafe_tags(ansible_lists[case])
    ours = bootstrap_list(source(case))
    hostvars = theirs["_meta"]["hostvars"]
    for (host, key), value in FACTS[case].items():
        assert hostvars[host][key] == value, (host, key)
    assert ours == theirs


def test_ungrouped_and_empty_groups_have_ansibles_shape(ansible_lists: dict[str, Any]) -> None:
    # The group part of --list, spelled out for the two cases where it is the point.
    ungrouped = bootstrap_list(source("ungrouped"))
    # listed_ungrouped was listed first (in 'ungrouped'), also_web and both are in web.
    assert ungrouped["ungrouped"] == {"hosts": ["listed_ungrouped", "lone1", "lone2"]}
    assert ungrouped["all"]["children"][0] == "ungrouped"
    empty = bootstrap_list(source("empty"))
    assert "nothing" not in empty and "empty_map" not in empty  # no hosts, no children: not shown
    assert empty["parent_of_empty"] == {"children": ["nothing", "empty_map"]}
    assert empty["by_name"] == {"hosts": ["solo"], "children": ["nothing"]}
    assert empty == ansible_lists["empty"]


def test_example_inventory_resolves_as_in_ansible() -> None:
    """The example folder, given to Ansible file by file.

    Ansible given the folder itself would also try every other file in it, subfolders included
    (the demo secrets under secrets/ among them), as inventory sources. bootstrap reads only the
    ``*.yml``, ``*.yaml`` and ``*.json`` files directly in the folder, so Ansible gets exactly those,
    in the same (sorted) order, plus the folder's group_vars/ and host_vars/ which it finds
    beside them.
    """
    files = sorted(p for p in EXAMPLE.iterdir()
                   if p.is_file() and p.suffix in (".yml", ".yaml", ".json"))
    assert files, "the example inventory has no inventory file"
    theirs = ansible.inventory_list(*files)
    ours = bootstrap_list(EXAMPLE)
    assert {k: v for k, v in ours.items() if k != "_meta"} == \
        {k: v for k, v in theirs.items() if k != "_meta"}
    assert sorted(ours["_meta"]["hostvars"]) == sorted(theirs["_meta"]["hostvars"])
    for host, their_vars in theirs["_meta"]["hostvars"].items():
        our_vars = dict(ours["_meta"]["hostvars"][host])
        their_vars = dict(their_vars)
        # The one deliberate difference: bootstrap_roles is the union over the host's groups
        # and the host; Ansible keeps only the list of the winning layer.
        our_roles = our_vars.pop("bootstrap_roles", [])
        their_roles = their_vars.pop("bootstrap_roles", [])
        assert set(their_roles) <= set(our_roles), host
        assert len(our_roles) == len(set(our_roles)), host
        assert our_vars == their_vars, host
