"""A template override at a path no role reads is said, not silently ignored."""

from __future__ import annotations

from pathlib import Path

from support.cli import ROOT, run_cli, write_tree

INVENTORY = {
    "hosts.yml": "all:\n  hosts:\n    pup1:\n      bootstrap_roles: [base, puppet-agent]\n"
                 "      os_family: debian\n      puppet: {server: puppet.example.com}\n",
}


def test_an_override_left_where_no_role_looks_is_a_warning_naming_where_it_belongs(
        tmp_path: Path) -> None:
    builtin = (ROOT / "templates/puppet-agent/puppet.conf.j2").read_text()
    inv = write_tree(tmp_path / "inv", {
        **INVENTORY, "templates/puppet/puppet.conf.j2": "# mine\n" + builtin})
    result = run_cli("render", inv, "-o", tmp_path / "build")
    assert result.rc == 0, result.err
    stale = inv / "templates/puppet/puppet.conf.j2"
    assert (f"warning: {stale} replaces no template and no role renders it; the built-in "
            "template of that name is templates/puppet-agent/puppet.conf.j2: move it there to "
            "keep overriding it") in result.err
    built = (tmp_path / "build/pup1/files/etc/bootstrap/puppet-agent/puppet.conf").read_text()
    assert "# mine" not in built


def test_an_override_in_the_roles_folder_replaces_the_builtin_without_a_warning(
        tmp_path: Path) -> None:
    builtin = (ROOT / "templates/puppet-agent/puppet.conf.j2").read_text()
    inv = write_tree(tmp_path / "inv", {
        **INVENTORY, "templates/puppet-agent/puppet.conf.j2": "# mine\n" + builtin})
    result = run_cli("render", inv, "-o", tmp_path / "build")
    assert result.rc == 0, result.err
    assert "replaces no template" not in result.err
    built = (tmp_path / "build/pup1/files/etc/bootstrap/puppet-agent/puppet.conf").read_text()
    assert built.startswith("# mine\n")


def test_a_template_of_a_users_own_role_is_no_stray_override(tmp_path: Path) -> None:
    inv = write_tree(tmp_path / "inv", {
        "hosts.yml": "all:\n  hosts:\n    a1:\n      bootstrap_roles: [app]\n",
        "roles/app/role.yml": "artifacts:\n  - template: app/puppet.conf.j2\n"
                              "    dest: /etc/app/puppet.conf\n",
        "templates/app/puppet.conf.j2": "x = 1\n",
    })
    result = run_cli("render", inv, "-o", tmp_path / "build")
    assert result.rc == 0, result.err
    assert "replaces no template" not in result.err
