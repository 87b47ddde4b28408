"""The same inventory renders the same bytes every time: whatever the interpreter's hash seed
(which orders Python's sets and would reorder anything built from one), and whatever order
the file system lists the inventory's files in.

A YAML set (``!!set``) has no order of its own: it loads as a list sorted by kind and value.
Ansible prints a set as a list in hash order, different from run to run; the sorted list is one
of the orders it may print.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from support.ansible import inventory_list
from support.cli import ROOT, run_cli, write_tree

SEEDS = ("0", "1", "4242", "random")

HOSTS = """\
all:
  vars:
    bootstrap_roles: [base]
    tags: !!set {zeta, alpha, mid, 10, 9, ~, 1.5}
  children:
    zoo:
      hosts:
        web3:
        web1:
        web2:
    web:
      children:
        zoo:
        apps:
      hosts:
        web[1:9]:
        db[a:f]:
      vars:
        nested: {ports: !!set {443, 80, 8080}, names: !!set {b, a, c}}
    apps:
      hosts:
        app-z:
        app-[u:y]:
      vars:
        bootstrap_roles: [cloud-init]
        cloud_init:
          packages: !!set {vim, curl, htop, jq, tmux, git}
"""


def synthetic(base: Path, reverse: bool = False) -> Path:
    """An inventory with sets everywhere, groups out of order and group_vars folders; ``reverse``
    writes the same files in the opposite order (so the file system may list them otherwise)."""
    files = {
        "hosts.yml": HOSTS,
        "more.yml": "db:\n  hosts:\n    dbb:\n    dba:\n  children:\n    web:\n",
        "group_vars/web/b.yml": "sets: !!set {y, x}\nfrom: b\n",
        "group_vars/web/a.yml": "from: a\nlists: [3, 1, 2]\n",
        "group_vars/web/sub/c.yml": "deep_set: !!set {2, 3, 1}\n",
        "group_vars/apps.yml": "motd_set: !!set {beta, alpha}\n",
        "host_vars/app-u.yml": "own: !!set {q, p}\n",
    }
    for name in (reversed(list(files)) if reverse else files):
        write_tree(base, {name: files[name]})
    return base


def build_bytes(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Every file of a build: its mode and content, by relative path (the render's cache of
    compiled templates and input digests left out: it names where the inventory was)."""
    return {str(p.relative_to(folder)): (p.stat().st_mode, p.read_bytes())
            for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.relative_to(folder).as_posix().startswith(".bootstrap/cache/")}


def render_with_seeds(inv: Path, tmp_path: Path) -> list[dict[str, tuple[int, bytes]]]:
    builds = []
    for seed in SEEDS:
        out = tmp_path / f"build-{seed}"
        result = run_cli("render", inv, "-o", out, env={"PYTHONHASHSEED": seed})
        assert result.rc == 0, result.err
        builds.append(build_bytes(out))
    return builds


def test_sets_and_orders_render_the_same_bytes_under_every_hash_seed(tmp_path):
    inv = synthetic(tmp_path / "inv")
    first, *others = render_with_seeds(inv, tmp_path)
    assert len(first) > 20
    for other in others:
        assert other == first
    listings = {run_cli("inventory", inv, "--list", env={"PYTHONHASHSEED": seed}).out
                for seed in SEEDS}
    assert len(listings) == 1


def test_the_example_inventory_renders_the_same_bytes_under_every_hash_seed(tmp_path):
    inv = Path(shutil.copytree(ROOT / "inventory", tmp_path / "inv"))
    first, *others = render_with_seeds(inv, tmp_path)
    assert any("_fleet" in path for path in first)
    for other in others:
        assert other == first


def test_the_order_files_were_written_in_changes_nothing(tmp_path):
    one = synthetic(tmp_path / "one")
    two = synthetic(tmp_path / "two", reverse=True)
    for inv in (one, two):
        assert run_cli("render", inv, "-o", tmp_path / f"build-{inv.name}").rc == 0
    assert build_bytes(tmp_path / "build-one") == build_bytes(tmp_path / "build-two")


def test_a_set_is_a_sorted_list_holding_what_ansible_holds(tmp_path):
    inv = synthetic(tmp_path / "inv")
    ours = json.loads(run_cli("inventory", inv, "--list").out)["_meta"]["hostvars"]
    theirs = inventory_list(inv)["_meta"]["hostvars"]
    web1, app = ours["web1"], ours["app-u"]
    assert web1["tags"] == [None, 1.5, 9, 10, "alpha", "mid", "zeta"]
    assert web1["nested"] == {"ports": [80, 443, 8080], "names": ["a", "b", "c"]}
    assert web1["deep_set"] == [1, 2, 3] and web1["sets"] == ["x", "y"]
    assert app["cloud_init"]["packages"] == ["curl", "git", "htop", "jq", "tmux", "vim"]
    assert app["own"] == ["p", "q"]

    def unordered(value):
        """Ansible's set order changes from run to run: compare what the sets hold."""
        if isinstance(value, dict):
            return {k: unordered(v) for k, v in value.items()}
        if isinstance(value, list):
            return sorted((unordered(v) for v in value), key=repr)
        return value

    assert set(ours) == set(theirs)
    for host in ours:  # bootstrap_roles is the union of the groups' lists: the one difference
        ours[host].pop("bootstrap_roles")
        theirs[host].pop("bootstrap_roles")
        assert unordered(ours[host]) == unordered(theirs[host]), host
    packages = (tmp_path / "build-pkg")
    assert run_cli("render", inv, "-o", packages).rc == 0
    user_data = (packages / "app-u" / "user-data.txt").read_text()
    assert "packages:\n- curl\n- git\n- htop\n- jq\n- tmux\n- vim\n" in user_data
