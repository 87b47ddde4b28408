"""`bootstrap render`: the example inventory, determinism, the build layout, diff/check, --limit."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from support.cli import ROOT, run_cli

EXAMPLE = ROOT / "inventory"


def snapshot(root: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every file under root: content, mode and mtime (ns)."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            st = path.stat()
            out[str(path.relative_to(root))] = (path.read_bytes(), st.st_mode & 0o777, st.st_mtime_ns)
    return out


def small_inventory(tree, extra_hosts: str = "", web_vars: str = "") -> Path:
    return tree({
        "hosts.yml": f"""
            all:
              vars:
                bootstrap_roles: [base]
              children:
                web:
                  hosts:
                    web[1:3]:
                  vars:
                    tier: front{web_vars}
                db:
                  hosts:
                    db1:
            {extra_hosts}
            """,
    })


def test_example_inventory_renders_every_host_with_a_true_manifest(tmp_path):
    out = tmp_path / "build"
    result = run_cli("render", EXAMPLE, "-o", out)
    assert result.rc == 0, result.err
    hosts = [p for p in out.iterdir() if p.is_dir() and p.name not in ("_fleet", ".bootstrap")]
    assert len(hosts) >= 8
    for folder in hosts:
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["host"] == folder.name
        assert manifest["files"], folder.name
        for record in manifest["files"]:
            path = folder / record["path"]
            assert record["path"] == "files" + record["dest"]
            data = path.read_bytes()
            assert hashlib.sha256(data).hexdigest() == record["sha256"]
            assert record["size"] == len(data)
            assert f"{path.stat().st_mode & 0o777:04o}" == record["mode"]
    motd = (out / "web01" / "files" / "etc" / "motd").read_text()
    assert "web01 is managed by bootstrap" in motd
    assert "Groups: eu, web" in motd
    assert f"{len(hosts)} hosts rendered" in result.out


def test_two_renders_are_byte_identical(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert run_cli("render", EXAMPLE, "-o", a).rc == 0
    assert run_cli("render", EXAMPLE, "-o", b).rc == 0
    snap_a = {k: v[:2] for k, v in snapshot(a).items()}
    snap_b = {k: v[:2] for k, v in snapshot(b).items()}
    assert snap_a == snap_b


def test_rerender_with_nothing_changed_touches_nothing(tmp_path):
    out = tmp_path / "build"
    assert run_cli("render", EXAMPLE, "-o", out).rc == 0
    before = snapshot(out)
    again = run_cli("render", EXAMPLE, "-o", out)
    assert again.rc == 0
    assert snapshot(out) == before  # same bytes, modes and mtimes
    assert ", 0 changed," in again.out


def test_a_change_rewrites_only_the_files_it_touches(tmp_path, tree):
    inv = small_inventory(tree)
    out = tmp_path / "build"
    assert run_cli("render", inv, "-o", out).rc == 0
    before = snapshot(out)
    hosts = (inv / "hosts.yml").read_text().replace("db1:", "db1:\n        db2:")
    (inv / "hosts.yml").write_text(hosts)
    result = run_cli("render", inv, "-o", out)
    assert result.rc == 0, result.err
    assert "changed: db2" in result.out
    after = snapshot(out)
    assert after["web1/files/etc/motd"] == before["web1/files/etc/motd"]  # mtime kept too
    assert "db2/files/etc/motd" in after


def test_diff_shows_what_changes_and_check_writes_nothing(tmp_path, tree):
    inv = small_inventory(tree)
    out = tmp_path / "build"
    assert run_cli("render", inv, "-o", out).rc == 0
    assert run_cli("render", inv, "-o", out, "--check").rc == 0  # nothing would change
    (inv / "hosts.yml").write_text((inv / "hosts.yml").read_text().replace("db:", "dbs:"))
    before = snapshot(out)
    check = run_cli("render", inv, "-o", out, "--check")
    assert check.rc == 2
    assert "--- a/db1/files/etc/motd" in check.out
    assert "-Groups: db" in check.out and "+Groups: dbs" in check.out
    assert "would change: db1" in check.out
    assert snapshot(out) == before
    applied = run_cli("render", inv, "-o", out, "--diff")
    assert applied.rc == 0
    assert "+Groups: dbs" in applied.out
    assert "Groups: dbs" in (out / "db1/files/etc/motd").read_text()


def test_hosts_gone_from_the_inventory_are_pruned_but_not_under_limit(tmp_path, tree):
    inv = small_inventory(tree)
    out = tmp_path / "build"
    assert run_cli("render", inv, "-o", out).rc == 0
    (inv / "hosts.yml").write_text((inv / "hosts.yml").read_text().replace("web[1:3]", "web[1:2]"))
    limited = run_cli("render", inv, "-o", out, "--limit", "db")
    assert limited.rc == 0
    assert (out / "web3").is_dir()
    full = run_cli("render", inv, "-o", out)
    assert full.rc == 0
    assert not (out / "web3").exists()
    assert "removed: web3" in full.out


def test_limit_renders_only_the_matching_hosts(tmp_path, tree):
    inv = small_inventory(tree)
    out = tmp_path / "build"
    result = run_cli("render", inv, "-o", out, "--limit", "web:!web2")
    assert result.rc == 0, result.err
    assert sorted(p.name for p in out.iterdir()
                  if p.name not in ("_fleet", ".bootstrap")) == ["web1", "web3"]


def test_user_templates_and_roles_override_builtins_file_by_file(tmp_path, tree):
    inv = small_inventory(tree)
    (inv / "templates" / "base").mkdir(parents=True)
    (inv / "templates" / "base" / "motd.j2").write_text("Welcome to {{ hostname }}.\n")
    out = tmp_path / "build"
    assert run_cli("render", inv, "-o", out).rc == 0
    assert (out / "web1/files/etc/motd").read_text() == "Welcome to web1.\n"
    # host.json still comes from the built-in template
    assert json.loads((out / "web1/files/etc/bootstrap/host.json").read_text())["name"] == "web1"

    (inv / "roles" / "base").mkdir(parents=True)
    (inv / "roles" / "base" / "role.yml").write_text(
        "context: bootstrap.roles.base.context:context\n"
        "artifacts:\n  - {template: base/motd.j2, dest: /etc/issue, mode: '0640'}\n"
    )
    assert run_cli("render", inv, "-o", out).rc == 0
    manifest = json.loads((out / "web1/manifest.json").read_text())
    assert [(f["dest"], f["mode"]) for f in manifest["files"]] == [("/etc/issue", "0640")]
    assert not (out / "web1/files/etc/motd").exists()


def test_render_from_another_directory_and_python_m(tmp_path):
    out = tmp_path / "build"
    inv = tmp_path / "copy"
    shutil.copytree(EXAMPLE, inv)
    result = run_cli("render", inv, "-o", out, cwd=tmp_path)
    assert result.rc == 0, result.err
    assert (out / "web01" / "manifest.json").is_file()
