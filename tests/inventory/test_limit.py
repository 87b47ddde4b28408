"""``bootstrap render --limit PATTERN`` renders exactly the hosts Ansible's ``--limit`` selects.

For each pattern, the host folders ``bootstrap render`` writes are compared with the hosts that
``ansible all -i INVENTORY --list-hosts --limit PATTERN`` (ansible-core itself) prints.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from support import ansible
from support.cli import ROOT, run_cli

INVENTORY = ROOT / "tests" / "fixtures" / "ansible" / "limit" / "hosts.yml"
FLEET = "_fleet"

# Pattern -> the hosts it selects, as a reader of the inventory would list them.
PATTERNS = {
    "web": {"web01", "web02", "web03", "web04"},  # a group
    "web01": {"web01"},  # a host
    "web0*": {"web01", "web02", "web03", "web04"},  # a glob over host names
    "db-?": {"db-a", "db-b", "db-c"},
    "*.example.*": {"edge1.example.com", "edge2.example.org"},
    "web:db": {"web01", "web02", "web03", "web04", "db-a", "db-b", "db-c"},  # union
    "web,db": {"web01", "web02", "web03", "web04", "db-a", "db-b", "db-c"},
    "web:&eu": {"web01", "web02"},  # intersection
    "prod:!db": {"web01", "web02", "web03", "web04", "edge1.example.com"},  # exclusion
    "prod:&db:!db-c": {"db-a", "db-b"},
    "!web": {"bastion", "db-a", "db-b", "db-c", "edge1.example.com", "edge2.example.org"},
    "~web0[13]": {"web01", "web03"},  # a regex
    "~.*\\.example\\.com": {"edge1.example.com"},
    "prod": {"web01", "web02", "db-a", "edge1.example.com", "web03", "web04", "db-b", "db-c"},
    "ungrouped": {"bastion"},
    "web[0]": {"web01"},  # subscripts count from 0 and include both ends
    "web[1:]": {"web02", "web03", "web04"},
    "web[0:2]": {"web01", "web02", "web03"},
    "web[-1]": {"web04"},
    # With a comma, ':' no longer separates: 'us:!web' is one (unknown) name, as in Ansible.
    "eu,us:!web": {"web01", "web02", "db-a", "edge1.example.com"},
}


@pytest.fixture(scope="module")
def ansible_selects() -> dict[str, set[str] | None]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        found = pool.map(lambda p: ansible.list_hosts(INVENTORY, p), PATTERNS)
        return dict(zip(PATTERNS, found, strict=True))


def rendered(build: Path) -> set[str]:
    return {p.name for p in build.iterdir()
            if p.is_dir() and p.name != FLEET and not p.name.startswith(".")}


@pytest.mark.parametrize("pattern", list(PATTERNS))
def test_limit_renders_what_ansible_selects(pattern, tmp_path, ansible_selects):
    result = run_cli("render", INVENTORY, "-o", tmp_path / "build", "--limit", pattern)
    assert result.rc == 0, result.err
    assert "Traceback" not in result.err
    assert rendered(tmp_path / "build") == ansible_selects[pattern] == PATTERNS[pattern]


def test_limit_from_a_file(tmp_path):
    listed = tmp_path / "retry.txt"
    listed.write_text("web01\ndb\n")
    result = run_cli("render", INVENTORY, "-o", tmp_path / "build", "--limit", f"@{listed}")
    assert result.rc == 0, result.err
    assert rendered(tmp_path / "build") == ansible.list_hosts(INVENTORY, f"@{listed}") \
        == {"web01", "db-a", "db-b", "db-c"}


@pytest.mark.parametrize("pattern, message", [
    ("nomatch", "error: --limit 'nomatch' matches no host"),
    ("dbs", "error: --limit 'dbs' matches no host (did you mean 'db'?)"),
    ("web:&db", "error: --limit 'web:&db' matches no host"),
    ("web[9]", "error: --limit: no host matches the subscripted pattern 'web[9]'"),
])
def test_a_limit_matching_nothing_is_an_error_and_writes_nothing(pattern, message, tmp_path):
    assert ansible.list_hosts(INVENTORY, pattern) is None  # Ansible has no host to target either
    build = tmp_path / "build"
    result = run_cli("render", INVENTORY, "-o", build, "--limit", pattern)
    assert (result.rc, result.err.splitlines()) == (1, [message])
    assert not build.exists()


def test_a_limit_matching_nothing_leaves_the_previous_build_alone(tmp_path):
    build = tmp_path / "build"
    assert run_cli("render", INVENTORY, "-o", build).rc == 0
    before = {p: p.read_bytes() for p in build.rglob("*") if p.is_file()}
    result = run_cli("render", INVENTORY, "-o", build, "--limit", "nomatch")
    assert result.rc == 1
    assert {p: p.read_bytes() for p in build.rglob("*") if p.is_file()} == before


def test_an_invalid_regex_is_an_error(tmp_path):
    result = run_cli("render", INVENTORY, "-o", tmp_path / "build", "--limit", "~web(")
    assert result.rc == 1
    assert result.err.startswith("error: --limit: invalid host pattern '~web(': ")
    assert "Traceback" not in result.err
