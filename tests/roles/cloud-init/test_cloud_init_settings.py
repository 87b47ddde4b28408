"""Bad input in the ``cloud_init`` namespace: one message with file:line, host and key, no traceback.

Names that reach commands or system files (host, user, group, package names, devices, sudo
rules, SSH keys) refuse shell metacharacters and line breaks; free text is embedded as YAML data
and comes back exactly (see test_cloud_init_container.py for cloud-init running it).
"""

from __future__ import annotations

import pytest
import yaml
from support.cli import run_cli, write_tree

PAYLOADS = ["web$(touch /tmp/pwned)", "web`id`", "web'x'", 'web"x"', "web;reboot", "web\nreboot"]


def inventory(tree, cloud_init: object, host: str = "h1"):
    text = yaml.safe_dump({"all": {"hosts": {host: {"bootstrap_roles": ["cloud-init"],
                                                    "cloud_init": cloud_init}}}})
    return tree({"hosts.yml": text})


def fails(tree, tmp_path, cloud_init: object, key: str, *words: str, host: str = "h1") -> str:
    inv = inventory(tree, cloud_init, host)
    result = run_cli("render", inv, "-o", tmp_path / "build")
    assert result.rc == 1, result.out
    err = result.err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "hosts.yml:" in err, err
    assert f"host {host}" in err and f"key {key}" in err, err
    for word in words:
        assert word in err, err
    assert not (tmp_path / "build" / host).exists()
    return err


@pytest.mark.parametrize("payload", PAYLOADS)
def test_hostname_with_shell_or_line_break_is_rejected(tree, tmp_path, payload):
    fails(tree, tmp_path, {"hostname": payload}, "cloud_init.hostname", "is not a host name")


def test_inventory_name_unfit_as_hostname_asks_for_one(tree, tmp_path):
    err = fails(tree, tmp_path, {}, "cloud_init.hostname", "set cloud_init.hostname",
                host="web_01;reboot")
    assert "not usable as the instance's host name" in err


def test_fqdn_must_be_dotted_labels(tree, tmp_path):
    fails(tree, tmp_path, {"fqdn": "app.$(id).example"}, "cloud_init.fqdn",
          "not a fully qualified domain name")


@pytest.mark.parametrize("field, value, key", [
    ("name", "ops$(id)", "cloud_init.users.0.name"),
    ("name", "Ops", "cloud_init.users.0.name"),
    ("groups", ["adm;reboot"], "cloud_init.users.0.groups.0"),
    ("sudo", "ALL=(ALL) ALL\nops ALL=(ALL) NOPASSWD:ALL", "cloud_init.users.0.sudo"),
    ("ssh_authorized_keys", ["ssh-ed25519 AAAA a\nssh-rsa BBBB evil"],
     "cloud_init.users.0.ssh_authorized_keys.0"),
])
def test_user_fields_that_would_inject_are_rejected(tree, tmp_path, field, value, key):
    user = {"name": "ops", field: value}
    fails(tree, tmp_path, {"users": [user]}, key)


@pytest.mark.parametrize("package, key", [
    ("curl; rm -rf /", "cloud_init.packages.0"),
    ("-oAPT::Update::Pre-Invoke::=touch", "cloud_init.packages.0"),
    ("jq\nnano", "cloud_init.packages.0"),
])
def test_package_names_are_checked(tree, tmp_path, package, key):
    fails(tree, tmp_path, {"packages": [package]}, key, "not a valid package name")


def test_package_version_is_checked(tree, tmp_path):
    fails(tree, tmp_path, {"packages": [["jq", "1.6 $(id)"]]}, "cloud_init.packages.0.1",
          "not a valid package version")


@pytest.mark.parametrize("raid, key, word", [
    ({"devices": ["/dev/xvdf", "/dev/xvdg;reboot"], "mount": "/backup"},
     "cloud_init.raid1.devices.1", "device path"),
    ({"devices": ["/dev/xvdf"], "mount": "/backup"}, "cloud_init.raid1.devices", "at least 2"),
    ({"devices": ["/dev/xvdf", "/dev/xvdf"], "mount": "/backup"}, "cloud_init.raid1",
     "must differ"),
    ({"devices": ["/dev/xvdf", "/dev/xvdg"], "mount": "backup"}, "cloud_init.raid1.mount",
     "absolute path"),
    ({"devices": ["/dev/xvdf", "/dev/xvdg"], "mount": "/b", "fstype": "zfs"},
     "cloud_init.raid1.fstype", "'ext4', 'xfs' or 'btrfs'"),
])
def test_raid1_settings_are_checked(tree, tmp_path, raid, key, word):
    fails(tree, tmp_path, {"raid1": raid}, key, word)


@pytest.mark.parametrize("entry, key, word", [
    ({"path": "etc/motd"}, "cloud_init.write_files.0.path", "absolute path"),
    ({"path": "/etc/motd", "mode": "rw-r--r--"}, "cloud_init.write_files.0.mode", "octal mode"),
    ({"path": "/etc/motd", "owner": "root:$(id)"}, "cloud_init.write_files.0.owner",
     "'user' or 'user:group'"),
])
def test_write_files_entries_are_checked(tree, tmp_path, entry, key, word):
    fails(tree, tmp_path, {"write_files": [entry]}, key, word)


def test_unknown_key_suggests_the_right_one(tree, tmp_path):
    fails(tree, tmp_path, {"hostnme": "web1"}, "cloud_init.hostnme", "did you mean 'hostname'")


def test_gzip_setting_is_one_of_three(tree, tmp_path):
    fails(tree, tmp_path, {"gzip": "yes"}, "cloud_init.gzip", "'auto', 'never' or 'always'")


def test_boundary_must_be_an_rfc_2046_boundary(tree, tmp_path):
    fails(tree, tmp_path, {"boundary": 'a"b'}, "cloud_init.boundary", "MIME boundary")


def test_phone_home_needs_an_http_url(tree, tmp_path):
    fails(tree, tmp_path, {"phone_home": "ftp://x"}, "cloud_init.phone_home.url", "http(s) URL")


def test_free_text_is_embedded_exactly(tree, tmp_path):
    """File contents and a user's gecos are data: every payload parses back unchanged."""
    text = "".join(PAYLOADS) + "\n[section]\n--MIMEBOUNDARY\n\ttab 'q' \"dq\" \\ end \n"
    inv = inventory(tree, {"users": [{"name": "ops", "gecos": "O'Brien; $(id) `id` \"x\""}],
                           "write_files": [{"path": "/etc/odd file;$(id)", "content": text}]})
    result = run_cli("render", inv, "-o", tmp_path / "build")
    assert result.rc == 0, result.err
    config = yaml.safe_load((tmp_path / "build" / "h1" / "user-data").read_bytes())
    assert config["write_files"][0] == {"path": "/etc/odd file;$(id)", "content": text,
                                        "permissions": "0o644", "owner": "root:root"}
    assert config["users"][1]["gecos"] == "O'Brien; $(id) `id` \"x\""
    write_tree(inv, {})  # the inventory is unchanged by rendering
    assert run_cli("validate", tmp_path / "build", "--strict").rc == 0
