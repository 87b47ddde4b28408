"""``{file: ...}`` references read only beneath the inventory folder or a ``--secrets-dir``."""

from __future__ import annotations

import os
import stat

import pytest
from support.cli import run_cli

SECRET = "Zq8-distinctive-S3cret"
OUTSIDE = "0utside-the-inventory-Value"


def inventory(tree, ref: str, extra: dict[str, str] | None = None):
    """One host whose app.ini holds the secret ``ref`` (the YAML of a reference)."""
    return tree({
        "hosts.yml": f"""
            all:
              hosts:
                app1:
                  bootstrap_roles: [app]
                  app_password: {ref}
            """,
        "secrets/app.pass": SECRET + "\n",
        "roles/app/role.yml": "artifacts:\n  - {template: app.ini.j2, dest: /etc/app.ini}\n",
        "templates/app.ini.j2": "password = {{ vars.app_password | ini }}\n",
        **(extra or {}),
    })


def assert_refused(result, *words: str) -> None:
    """One line naming hosts.yml:5, the host and the key; no traceback; nothing of the file."""
    assert result.rc == 1, result.out + result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    line = lines[0]
    assert line.startswith("error: ") and "hosts.yml:5" in line, line
    assert "host app1" in line and "key app_password" in line, line
    for word in words:
        assert word in line, line
    assert "Traceback" not in result.err
    assert OUTSIDE not in result.out + result.err


@pytest.fixture
def outside(tmp_path):
    """A secret-looking file beside the inventory, where no reference may reach."""
    path = tmp_path / "outside.key"
    path.write_text(OUTSIDE + "\n")
    return path


def test_a_relative_reference_renders_from_the_inventory_folder(tmp_path, tree):
    inv = inventory(tree, "{file: secrets/app.pass}")
    result = run_cli("render", inv, "-o", tmp_path / "b")
    assert result.rc == 0, result.err
    real = tmp_path / "b/app1/files/etc/app.ini"
    assert real.read_text() == f"password = {SECRET}\n"
    assert stat.S_IMODE(real.stat().st_mode) == 0o600


def test_an_inventory_file_resolves_from_its_own_folder(tmp_path, tree):
    inv = inventory(tree, "{file: secrets/app.pass}")
    result = run_cli("render", inv / "hosts.yml", "-o", tmp_path / "b")
    assert result.rc == 0, result.err
    assert SECRET in (tmp_path / "b/app1/files/etc/app.ini").read_text()


def test_an_absolute_path_is_refused(tmp_path, tree, outside):
    inv = inventory(tree, f"{{file: {outside}}}")
    result = run_cli("render", inv, "-o", tmp_path / "b")
    assert_refused(result, "absolute")
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("ref", ["../outside.key", "secrets/../../outside.key",
                                 "./secrets/../secrets/app.pass"])
def test_dot_dot_is_refused_even_when_it_would_come_back_inside(tmp_path, tree, outside, ref):
    inv = inventory(tree, f"{{file: '{ref}'}}")
    assert_refused(run_cli("render", inv, "-o", tmp_path / "b"), "'..'")


@pytest.mark.parametrize("target", ["absolute", "../../outside.key", "../../../../../../etc"])
def test_a_link_leading_outside_is_refused(tmp_path, tree, outside, target):
    inv = inventory(tree, "{file: secrets/app.pass}")
    link = inv / "secrets/app.pass"
    link.unlink()
    link.symlink_to(outside if target == "absolute" else target)
    assert_refused(run_cli("render", inv, "-o", tmp_path / "b"), "symbolic link", "outside")


def test_a_linked_folder_leading_outside_is_refused(tmp_path, tree, outside):
    inv = inventory(tree, "{file: keys/outside.key}")
    (inv / "keys").symlink_to(tmp_path)
    assert_refused(run_cli("render", inv, "-o", tmp_path / "b"), "symbolic link", "outside")


def test_a_link_that_stays_inside_is_followed_for_key_rotation(tmp_path, tree):
    inv = inventory(tree, "{file: secrets/current.pass}",
                    {"secrets/2026-11.pass": "rotated-Value-2026\n"})
    (inv / "secrets/current.pass").symlink_to("2026-11.pass")
    (inv / "linked").symlink_to("secrets")
    result = run_cli("render", inv, "-o", tmp_path / "b")
    assert result.rc == 0, result.err
    assert "rotated-Value-2026" in (tmp_path / "b/app1/files/etc/app.ini").read_text()
    # A link into a sibling folder may climb with '..' as long as it stays inside.
    (inv / "secrets/current.pass").unlink()
    (inv / "secrets/current.pass").symlink_to("../linked/2026-11.pass")
    result = run_cli("render", inv, "-o", tmp_path / "c")
    assert result.rc == 0, result.err


def test_a_link_loop_is_an_error_not_a_hang(tmp_path, tree):
    inv = inventory(tree, "{file: secrets/loop}")
    (inv / "secrets/loop").symlink_to("loop")
    assert_refused(run_cli("render", inv, "-o", tmp_path / "b"), "too many links")


def test_a_fifo_is_a_clear_error_not_a_hang(tmp_path, tree):
    inv = inventory(tree, "{file: secrets/pipe}")
    os.mkfifo(inv / "secrets/pipe")
    # A render that blocked on the FIFO would run into run_cli's time limit and fail there.
    assert_refused(run_cli("render", inv, "-o", tmp_path / "b"), "a FIFO, not a regular file")


def test_a_folder_is_a_clear_error(tmp_path, tree):
    inv = inventory(tree, "{file: secrets}")
    assert_refused(run_cli("render", inv, "-o", tmp_path / "b"), "a folder, not a regular file")


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root")
def test_a_device_is_a_clear_error(tmp_path, tree):
    inv = inventory(tree, "{file: secrets/zero}")
    os.mknod(inv / "secrets/zero", 0o600 | stat.S_IFCHR, os.makedev(1, 5))
    assert_refused(run_cli("render", inv, "-o", tmp_path / "b"), "a character device")


def test_a_link_to_a_device_outside_is_refused(tmp_path, tree):
    inv = inventory(tree, "{file: secrets/zero}")
    (inv / "secrets/zero").symlink_to("/dev/zero")
    assert_refused(run_cli("render", inv, "-o", tmp_path / "b"), "symbolic link")


def test_a_huge_file_is_a_clear_error(tmp_path, tree):
    inv = inventory(tree, "{file: secrets/huge}")
    with open(inv / "secrets/huge", "wb") as handle:
        handle.truncate(2 * 1024 * 1024)  # sparse: costs no disk
    assert_refused(run_cli("render", inv, "-o", tmp_path / "b"), "over the limit of 1048576 bytes")


def test_a_file_that_is_not_text_is_a_clear_error(tmp_path, tree):
    inv = inventory(tree, "{file: secrets/binary}")
    (inv / "secrets/binary").write_bytes(b"\xff\xfe\x00key")
    assert_refused(run_cli("render", inv, "-o", tmp_path / "b"), "not UTF-8 text")


def test_a_missing_file_names_where_it_was_looked_for(tmp_path, tree):
    inv = inventory(tree, "{file: secrets/nope}")
    assert_refused(run_cli("render", inv, "-o", tmp_path / "b"), "no such file in", str(inv))


def test_secrets_dir_resolves_what_the_inventory_folder_does_not_hold(tmp_path, tree):
    inv = inventory(tree, "{file: prod/app.pass}")
    vault = tmp_path / "vault"
    (vault / "prod").mkdir(parents=True)
    (vault / "prod/app.pass").write_text("from-the-vault-Value\n")
    refused = run_cli("render", inv, "-o", tmp_path / "b")
    assert_refused(refused, "no such file in")
    result = run_cli("render", inv, "-o", tmp_path / "b", "--secrets-dir", vault)
    assert result.rc == 0, result.err
    assert "from-the-vault-Value" in (tmp_path / "b/app1/files/etc/app.ini").read_text()
    assert "from-the-vault-Value" not in result.out + result.err


def test_the_inventory_folder_comes_before_a_secrets_dir(tmp_path, tree):
    inv = inventory(tree, "{file: secrets/app.pass}")
    vault = tmp_path / "vault"
    (vault / "secrets").mkdir(parents=True)
    (vault / "secrets/app.pass").write_text("shadowed\n")
    result = run_cli("render", inv, "-o", tmp_path / "b", "--secrets-dir", vault)
    assert result.rc == 0, result.err
    assert SECRET in (tmp_path / "b/app1/files/etc/app.ini").read_text()


def test_a_secrets_dir_is_contained_too(tmp_path, tree, outside):
    inv = inventory(tree, "{file: escape.key}")
    vault = tmp_path / "vault"
    vault.mkdir()
    (vault / "escape.key").symlink_to(outside)
    result = run_cli("render", inv, "-o", tmp_path / "b", "--secrets-dir", vault)
    assert_refused(result, "symbolic link", "outside")


def test_a_secrets_dir_that_is_not_a_folder_is_refused(tmp_path, tree):
    inv = inventory(tree, "{file: secrets/app.pass}")
    result = run_cli("render", inv, "-o", tmp_path / "b", "--secrets-dir", tmp_path / "nope")
    assert result.rc == 2 and "not a folder" in result.err
    assert "Traceback" not in result.err


@pytest.mark.parametrize("command", ["render", "push", "verify", "launch"])
def test_every_command_that_reads_secrets_takes_secrets_dir(command):
    result = run_cli(command, "--help")
    assert result.rc == 0 and "--secrets-dir DIR" in result.out


def test_env_references_are_unchanged(tmp_path, tree):
    inv = inventory(tree, "{env: APP_PASSWORD}")
    result = run_cli("render", inv, "-o", tmp_path / "b", env={"APP_PASSWORD": "from-env-Value"})
    assert result.rc == 0, result.err
    assert "from-env-Value" in (tmp_path / "b/app1/files/etc/app.ini").read_text()
