"""The inventory's limits (bootstrap/limits.py): each trips on a small input, fast, with one
error line naming the file (and line), never a hang, a gigabyte or a traceback.

The commands run in a child process whose address space is capped, so an input that made the
tool build what it describes (a billion strings, a million hosts) would fail these tests with a
MemoryError rather than slow the machine down.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support.cli import ROOT, Result, one_error, write_tree

MEMORY = 1 << 30  # bytes of address space: several times what a render of the example needs
# Seconds before a run counts as hung: far above what any input below needs on a loaded 2-core
# machine, far below what the unbounded inputs would take. Speed itself is measured by
# benchmarks/inventory_scale.py, not here.
HUNG = 600


def bounded(*args: str | Path, cwd: Path) -> Result:
    """Run the CLI with its memory capped, so an input that blows up fails instead of paging."""
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))

    proc = subprocess.run([sys.executable, "-m", "bootstrap", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=HUNG, preexec_fn=cap)
    return Result(proc.returncode, proc.stdout, proc.stderr)



def laughs(indent: str) -> str:
    """Nine lines, 9 ** 9 strings once expanded: each line is a list of nine of the line above."""
    lines = [f'{indent}lol0: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for index, (above, name) in enumerate(zip("abcdefgh", "bcdefghi", strict=True), start=1):
        lines.append(f"{indent}lol{index}: &{name} [" + ", ".join([f"*{above}"] * 9) + "]")
    return "\n".join(lines) + "\n"


HOSTS = "all:\n  vars:\n    bootstrap_roles: [base]\n  hosts:\n    web1:\n"
ALIASES = "aliases make this value stand for more than 5,000,000 values (the limit)"


@pytest.mark.parametrize("command", [["inventory", "inv", "--list"],
                                     ["inventory", "inv", "--host", "web1"],
                                     ["render", "inv", "-o", "build"]])
def test_a_billion_laughs_inventory_fails_fast_in_time_and_memory(command, tmp_path):
    text = HOSTS + laughs("      ")
    assert len(text.encode()) < 1024
    write_tree(tmp_path / "inv", {"hosts.yml": text})
    # The seventh line (lol6, 9 ** 7 strings) is the first past the limit.
    assert one_error(bounded(*command, cwd=tmp_path)) == f"error: inv/hosts.yml:12:13: {ALIASES}"
    assert not (tmp_path / "build").exists()


@pytest.mark.parametrize("where", ["group_vars/all.yml", "host_vars/web1.yml",
                                   "group_vars/all/laughs.yml"])
def test_a_billion_laughs_vars_file_fails_fast(where, tmp_path):
    write_tree(tmp_path / "inv", {"hosts.yml": HOSTS, where: laughs("")})
    error = one_error(bounded("render", "inv", "-o", "build", cwd=tmp_path))
    assert error == f"error: inv/{where}:7:7: {ALIASES}"


def test_merge_keys_that_double_at_each_level_fail_fast(tmp_path):
    """``<<: [*m, *m]`` copies the merged pairs while loading: 2 ** 40 of them here."""
    lines = ["m0: &m0 {k: 1}"]
    lines += [f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], k{i}: {i}}}" for i in range(1, 41)]
    write_tree(tmp_path / "inv", {"hosts.yml": HOSTS, "group_vars/all.yml": "\n".join(lines)})
    error = one_error(bounded("inventory", "inv", "--list", cwd=tmp_path))
    assert error.startswith("error: inv/group_vars/all.yml:") and error.endswith(ALIASES)


def test_an_alias_inside_its_own_anchor_is_an_error(tmp_path):
    write_tree(tmp_path / "inv", {"hosts.yml": HOSTS + "      loop: &x [1, *x]\n"})
    error = one_error(bounded("inventory", "inv", "--list", cwd=tmp_path))
    assert error == "error: inv/hosts.yml:6:13: an alias refers to a value that contains it"


def test_aliases_within_the_limit_load_as_ansible_loads_them(tmp_path):
    from support.ansible import inventory_list

    inv = write_tree(tmp_path / "inv", {"hosts.yml": """\
        all:
          vars:
            defaults: &defaults {ntp: [0.pool.ntp.org, 1.pool.ntp.org], port: 22}
          hosts:
            web1:
              <<: *defaults
              port: 2222
            web2:
              settings: [*defaults, *defaults]
        """})
    result = bounded("inventory", "inv", "--list", cwd=tmp_path)
    assert result.rc == 0, result.err
    assert json.loads(result.out) == inventory_list(inv)


def chef_inventory(tmp_path: Path, levels: int) -> Path:
    """A chef-client host whose chef.attributes nest ``levels`` mappings deep; the file then nests
    5 + levels deep (all, hosts, web1, chef, attributes...)."""
    attributes: dict = {"leaf": "value"}
    for _ in range(levels - 1):
        attributes = {"a": attributes}
    chef = {
        "server_url": "https://chef.example.internal/organizations/fleet",
        "validation_client_name": "fleet-validator",
        "run_list": ["recipe[base]"],
        "s3": {"bucket": "fleet-bootstrap", "prefix": "chef/fleet", "region": "eu-west-1"},
        "validation_key": {"file": "secrets/validator.pem"},
        "attributes": attributes,
    }
    doc = {"all": {"vars": {"bootstrap_roles": ["chef-client"]},
                   "hosts": {"web1": {"os_family": "debian", "chef": chef}}}}
    inv = write_tree(tmp_path / "inv", {"hosts.yml": yaml.safe_dump(doc, sort_keys=False)})
    key = ROOT / "inventory" / "secrets" / "chef-demo-validator.pem"
    (inv / "secrets").mkdir()
    (inv / "secrets" / "validator.pem").write_bytes(key.read_bytes())
    return inv


def test_values_at_the_depth_limit_go_through_every_command(tmp_path):
    """100 levels is allowed, and nothing downstream recurses too deep on it."""
    chef_inventory(tmp_path, 95)
    for command in (["inventory", "inv", "--list"], ["inventory", "inv", "--host", "web1"],
                    ["inventory", "inv", "--explain", "web1", "chef"],
                    ["render", "inv", "-o", "build"]):
        result = bounded(*command, cwd=tmp_path)
        assert result.rc == 0, result.err[-2000:]
        assert "Traceback" not in result.err
    first_boot = json.loads((tmp_path / "build/web1/files/etc/cinc/first-boot.json").read_text())
    value = first_boot
    for _ in range(94):
        value = value["a"]
    assert value == {"leaf": "value"}


def test_one_level_more_is_an_error_at_its_line(tmp_path):
    inv = chef_inventory(tmp_path, 96)
    error = one_error(bounded("render", "inv", "-o", "build", cwd=tmp_path))
    lines = (inv / "hosts.yml").read_text().splitlines()
    line = next(n for n, text in enumerate(lines, 1) if text.strip() == "leaf: value")
    assert error.startswith(f"error: inv/hosts.yml:{line}:")
    assert error.endswith(": values nested more than 100 levels deep (the limit)")


@pytest.mark.parametrize(("name", "text", "where"), [
    # Past 1,000 levels the parser itself stops, and names where it did.
    ("hosts.yml", HOSTS + "      deep: " + "[" * 5000 + "]" * 5000 + "\n", "6:"),
    ("hosts.yml", HOSTS + "      deep: " + "{a: " * 150 + "1" + "}" * 150 + "\n", "6:397:"),
    ("host_vars/web1.json", '{"deep":\n' + "[" * 150 + "]" * 150 + "}\n", "2:100:"),
    ("host_vars/web1.json", '{"deep":\n' + "[" * 100000 + "]" * 100000 + "}\n", "2:"),
])
def test_deeper_nesting_in_yaml_or_json_is_one_error(name, text, where, tmp_path):
    files = {"hosts.yml": HOSTS, name: text}
    write_tree(tmp_path / "inv", files)
    error = one_error(bounded("inventory", "inv", "--list", cwd=tmp_path))
    assert error.startswith(f"error: inv/{name}:{where}")
    assert error.endswith("values nested more than 100 levels deep (the limit)")


@pytest.mark.parametrize(("pattern", "count"), [
    ("web[1:1000000]", "1,000,000"),
    ("web[0000001:9999999]", "9,999,999"),
    ("web[1:1000][1:1000]", "1,000,000"),
    ("web[a:z][a:z][a:z][a:z]", "456,976"),
    ("web[1:99999999999999999999999999]", "99,999,999,999,999,999,999,999,999"),
])
def test_a_host_range_of_millions_fails_before_expanding(pattern, count, tmp_path):
    write_tree(tmp_path / "inv", {"hosts.yml": f"web:\n  hosts:\n    {pattern}:\n"})
    error = one_error(bounded("inventory", "inv", "--list", cwd=tmp_path))
    assert error == (f"error: inv/hosts.yml:3: host pattern {pattern!r}: the pattern stands for "
                     f"{count} hosts, more than the limit of 250,000")


def test_more_hosts_than_the_inventory_limit(tmp_path):
    write_tree(tmp_path / "inv", {"hosts.yml": """\
        web:
          hosts:
            web[1:200000]:
        db:
          hosts:
            web[1:10]:
            db[1:50001]:
        """})
    error = one_error(bounded("inventory", "inv", "--list", cwd=tmp_path))
    assert error == "error: inv/hosts.yml:7: more than 250,000 hosts in the inventory (the limit)"


def test_a_host_pattern_longer_than_any_host_name(tmp_path):
    pattern = "a" * 5000  # an explicit key ('? '): YAML's implicit keys stop at 1,024 characters
    write_tree(tmp_path / "inv", {"hosts.yml": f"web:\n  hosts:\n    ? {pattern}\n    :\n"})
    error = one_error(bounded("inventory", "inv", "--list", cwd=tmp_path))
    assert error == (f"error: inv/hosts.yml:3: host pattern {pattern!r}: longer than 4096 "
                     "characters, while a host name has at most 255 bytes")


@pytest.mark.parametrize("where", ["hosts.yml", "group_vars/web.yml", "host_vars/web1.yml",
                                   "group_vars/web/big.yml"])
def test_a_file_over_64_mib_is_refused_before_it_is_read(where, tmp_path):
    inv = write_tree(tmp_path / "inv", {"hosts.yml": "web:\n  hosts:\n    web1:\n"})
    big = inv / where
    big.parent.mkdir(parents=True, exist_ok=True)
    with big.open("wb") as handle:  # sparse: no disk space, and nothing to read if it is refused
        handle.truncate(64 * 2**20 + 1)
    error = one_error(bounded("inventory", "inv", "--list", cwd=tmp_path))
    assert error == f"error: inv/{where}: file larger than the limit of 64 MiB (split it into several files)"


def test_more_than_1000_files_in_a_vars_folder(tmp_path):
    inv = write_tree(tmp_path / "inv", {"hosts.yml": "web:\n  hosts:\n    web1:\n"})
    folder = inv / "group_vars" / "web"
    for part in range(3):  # spread over subfolders: the limit counts files and folders
        sub = folder / f"part{part}"
        sub.mkdir(parents=True)
        for index in range(333 if part < 2 else 330):
            (sub / f"v{index:03}.yml").write_text(f"v{part}_{index}: 1\n")
    (folder / "README.md").write_text("not read, but counted\n")
    result = bounded("inventory", "inv", "--list", cwd=tmp_path)
    assert result.rc == 0, result.err  # 1,000: 3 folders, 997 files
    (folder / "part2" / "one-more.yml").write_text("x: 1\n")
    error = one_error(bounded("inventory", "inv", "--list", cwd=tmp_path))
    assert error == ("error: inv/group_vars/web: more than 1,000 files and folders in this vars "
                     "folder (the limit)")


def test_vars_subfolders_nested_more_than_16_deep(tmp_path):
    inv = write_tree(tmp_path / "inv", {"hosts.yml": "web:\n  hosts:\n    web1:\n"})
    folder = inv / "host_vars" / "web1"
    deepest = folder.joinpath(*["d"] * 16)
    deepest.mkdir(parents=True)
    (deepest / "vars.yml").write_text("deep: true\n")
    result = bounded("inventory", "inv", "--host", "web1", cwd=tmp_path)
    assert result.rc == 0, result.err
    assert json.loads(result.out)["deep"] is True
    (deepest / "d").mkdir()
    error = one_error(bounded("inventory", "inv", "--host", "web1", cwd=tmp_path))
    assert error == (f"error: inv/host_vars/web1/{'d/' * 16}d: vars folders nested more than 16 "
                     "deep (the limit)")


def test_more_than_10000_inventory_files(tmp_path):
    inv = tmp_path / "inv"
    inv.mkdir()
    for index in range(10_000):
        (inv / f"h{index:05}.yml").write_text("")
    (inv / "secrets").mkdir()  # neither a folder nor another kind of file counts
    (inv / "notes.txt").write_text("")
    result = bounded("inventory", "inv", "--list", cwd=tmp_path)
    assert result.rc == 0, result.err
    (inv / "one-more.yaml").write_text("")
    error = one_error(bounded("inventory", "inv", "--list", cwd=tmp_path))
    assert error == "error: inv: more than 10,000 inventory files in the folder (the limit)"


def test_one_group_of_50000_hosts_loads(tmp_path):
    """Each host listed checks the group's membership (an ordered set: a list made this
    quadratic, over a minute; benchmarks/inventory_scale.py measures the growth)."""
    lines = ["all:", "  vars:", "    bootstrap_roles: [base]", "  children:", "    web:",
             "      hosts:"]
    lines += [f"        web{i:05}:" for i in range(50_000)]
    lines += ["    even:", "      hosts:"] + [f"        web{i:05}:" for i in range(0, 50_000, 2)]
    write_tree(tmp_path / "inv", {"hosts.yml": "\n".join(lines) + "\n"})
    result = bounded("inventory", "inv", "--list", cwd=tmp_path)
    assert result.rc == 0, result.err
    listed = json.loads(result.out)
    assert len(listed["web"]["hosts"]) == 50_000 and len(listed["even"]["hosts"]) == 25_000


def test_hosts_in_2000_groups_each_resolve(tmp_path):
    """Twenty hosts, each in its own set of 1,999 groups of one depth and priority, every group
    setting a key: the check for ties between groups compared every key with every group
    (2,000 ** 2 per host, over a minute in all); it now looks keys up."""
    lines = ["all:", "  vars:", "    bootstrap_roles: [base]", "  children:"]
    for group in range(2000):
        lines += [f"    g{group:04}:", "      vars:", f"        own{group}: {group}",
                  "        shared: same", "      hosts:"]
        lines += [f"        h{host:02}:" for host in range(20) if host != group]
    write_tree(tmp_path / "inv", {"hosts.yml": "\n".join(lines) + "\n"})
    result = bounded("render", "inv", "-o", "build", cwd=tmp_path)
    assert result.rc == 0, result.err[-2000:]
    assert "warning" not in result.err
    host = json.loads((tmp_path / "build/h00/files/etc/bootstrap/host.json").read_text())
    assert len(host["groups"]) == 1999

