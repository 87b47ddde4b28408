"""Host-side values in the syntax of the file each lands in, proved by that file's own reader.

An inventory value either comes back exactly from the real consumer (libmount for fstab, visudo
for the sudo rules cloud-init writes, ssh-keygen for authorized_keys, pwck for /etc/passwd,
Puppet for puppet.conf and csr_attributes.yaml, Ruby and ChefConfig for client.rb and
first-boot.json, cloud-init's schema for the cloud-config), or the render stops with one line
naming the file:line, the host and the key, and writes nothing. Names the consumers give a
meaning of their own (cloud-init's default user, system accounts, the root disk, the CA's
certname, puppet.conf's section names, the Chef server's client names) are refused too.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.cli import ROOT, run_cli

from bootstrap.roles.chef_client.checkers import read_client_rb, read_json
from bootstrap.roles.puppet_agent.checkers import print_settings, read_csr_attributes

KEY = ROOT / "inventory" / "secrets" / "chef-demo-validator.pem"
# Characters that change a line-oriented file's meaning, and text that would run if anything
# handed it to a shell.
HOSTILE = [" ", "\t", "#", "\n", "\x00", "\\", "'", '"', "$(touch /tmp/pwned)", "`id`", "\U0001F600"]
CHEF = {
    "server_url": "https://chef.example.internal/organizations/fleet",
    "validation_client_name": "fleet-validator",
    "s3": {"bucket": "fleet-bootstrap", "prefix": "chef/fleet", "region": "eu-west-1"},
    "validation_key": {"file": "secrets/validator.pem"},
}


# -- helpers ----------------------------------------------------------------------------------


def write_inventory(folder: Path, host: dict[str, Any], name: str = "h1",
                    as_json: bool = False) -> Path:
    """One host with its vars; JSON host_vars can carry escapes YAML files rarely do."""
    (folder / "secrets").mkdir(parents=True, exist_ok=True)
    (folder / "secrets" / "validator.pem").write_bytes(KEY.read_bytes())
    if as_json:
        (folder / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {name: None}}}))
        (folder / "host_vars").mkdir(exist_ok=True)
        (folder / "host_vars" / f"{name}.json").write_text(json.dumps(host))
    else:
        (folder / "hosts.yml").write_text(
            yaml.safe_dump({"all": {"hosts": {name: host}}}, sort_keys=False, width=1000))
    return folder


def render(tmp_path: Path, host: dict[str, Any], name: str = "h1",
           as_json: bool = False) -> tuple[Any, Path]:
    inv = write_inventory(tmp_path / "inv", host, name, as_json)
    out = tmp_path / "build"
    return run_cli("render", inv, "-o", out), out / name


def refused(tmp_path: Path, host: dict[str, Any], key: str, *words: str,
            as_json: bool = False) -> str:
    """Render must fail with one line naming file:line, host h1 and ``key``; nothing written."""
    result, built = render(tmp_path, host, as_json=as_json)
    assert result.rc == 1, (result.out, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.err, result.err
    where = "host_vars/h1.json:" if as_json else "hosts.yml:"
    assert where in lines[0] and "host h1" in lines[0] and f"key {key}" in lines[0], lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    assert not built.exists()
    return lines[0]


def cloud_config(built: Path) -> dict[str, Any]:
    return yaml.safe_load((built / "user-data.txt").read_bytes())


def cloud_init(**settings: Any) -> dict[str, Any]:
    return {"bootstrap_roles": ["cloud-init"], "cloud_init": settings}


def raid(mount: str, **more: Any) -> dict[str, Any]:
    return cloud_init(raid1={"devices": ["/dev/nvme1n1", "/dev/nvme2n1"], "mount": mount, **more})


def ssh_keygen_key(tmp_path: Path, kind: str) -> str:
    path = tmp_path / f"id_{kind}"
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "ops@example", "-f",
                    str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


def validated(built: Path) -> None:
    report = run_cli("validate", built.parent)
    assert report.rc == 0, report.out + report.err


# -- fstab: the RAID1 mount, read back by libmount ------------------------------------------------


def fstab_of(config: dict[str, Any], path: Path) -> Path:
    """/etc/fstab as cloud-init's mounts module writes it: fields joined by tabs, a comment
    option added (cloudinit/config/cc_mounts.py)."""
    lines = []
    for entry in config["mounts"]:
        fields = list(entry)
        fields[3] = f"{fields[3]},comment=cloudconfig"
        lines.append("\t".join(fields))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.skipif(shutil.which("findmnt") is None, reason="util-linux findmnt is not installed")
@pytest.mark.parametrize("mount", ["/backup", "/srv/backup-01", "/mnt/données", "/mnt/\U0001F600"])
def test_a_mount_point_comes_back_from_libmount_field_by_field(tmp_path, mount):
    result, built = render(tmp_path, raid(mount, fstype="xfs", label="bk_1"))
    assert result.rc == 0, result.err
    fstab = fstab_of(cloud_config(built), tmp_path / "fstab")
    read = subprocess.run(["findmnt", "--fstab", "--tab-file", str(fstab), "-J", "-o",
                           "SOURCE,TARGET,FSTYPE,OPTIONS,FREQ,PASSNO"],
                          capture_output=True, text=True, check=True)
    assert json.loads(read.stdout)["filesystems"] == [{
        "source": "LABEL=bk_1", "target": mount, "fstype": "xfs",
        "options": "defaults,nofail,comment=cloudconfig", "freq": 0, "passno": 2}]
    validated(built)


@pytest.mark.skipif(shutil.which("findmnt") is None, reason="util-linux findmnt is not installed")
def test_the_found_fstab_injection_is_what_libmount_would_misread(tmp_path):
    """Why the check exists: blanks in a mount point make libmount read other fields."""
    line = "LABEL=backup\t/backup tmpfs rw,exec\text4\tdefaults,nofail\t0\t2\n"
    (tmp_path / "fstab").write_text(line)
    read = subprocess.run(["findmnt", "--fstab", "--tab-file", str(tmp_path / "fstab"), "-J",
                           "-o", "TARGET"], capture_output=True, text=True)
    assert "/backup tmpfs rw,exec" not in read.stdout
    refused(tmp_path, raid("/backup tmpfs rw,exec #"), "cloud_init.raid1.mount",
            "field separator")


@pytest.mark.parametrize("char", HOSTILE[:6])
def test_a_mount_point_with_an_fstab_metacharacter_is_refused(tmp_path, char):
    refused(tmp_path, raid(f"/backup{char}x"), "cloud_init.raid1.mount")


@pytest.mark.parametrize(("mount", "word"), [
    ("/", "where the operating system itself lives"),
    ("/etc", "where the operating system itself lives"),
    ("/var/lib", "where the operating system itself lives"),
    ("/proc/bk", "where the operating system itself lives"),
    ("/backup/../etc", "absolute path"),
    ("/backup//x", "not a plain absolute path"),
    ("/backup/", "not a plain absolute path"),
    ("backup", "not an absolute path"),
])
def test_a_mount_point_over_the_system_or_not_plain_is_refused(tmp_path, mount, word):
    refused(tmp_path, raid(mount), "cloud_init.raid1.mount", word)


@pytest.mark.parametrize(("device", "key", "word"), [
    ("/dev/nvme0n1", "cloud_init.raid1.devices.0", "root volume"),
    ("/dev/xvda", "cloud_init.raid1.devices.0", "root volume"),
    ("/dev/sda1", "cloud_init.raid1.devices.0", "root volume"),
    ("/dev/disk/../../etc/passwd", "cloud_init.raid1.devices.0", "without '.' or '..'"),
    ("/dev/xvdf x", "cloud_init.raid1.devices.0", "device path"),
])
def test_a_raid_device_that_is_the_root_disk_or_leaves_dev_is_refused(tmp_path, device, key, word):
    host = cloud_init(raid1={"devices": [device, "/dev/nvme2n1"], "mount": "/backup"})
    refused(tmp_path, host, key, word)


@pytest.mark.parametrize("field, position", [("/data x", 1), ("nfs#4", 2), ("rw,\\040", 3)])
def test_cloud_config_mounts_are_fstab_fields_too(tmp_path, field, position):
    entry = ["fs.example.internal:/export", "/data", "nfs", "rw", "0", "0"]
    entry[position] = field
    refused(tmp_path, cloud_init(cloud_config={"mounts": [entry]}),
            f"cloud_init.cloud_config.mounts.0.{position}")


@pytest.mark.parametrize(("key", "typed"), [("users", "users"), ("write_files", "write_files"),
                                            ("runcmd", "runcmd"), ("hostname", "hostname"),
                                            ("user", "users")])
def test_cloud_config_cannot_bypass_a_checked_setting(tmp_path, key, typed):
    refused(tmp_path, cloud_init(cloud_config={key: []}), f"cloud_init.cloud_config.{key}",
            f"cloud_init.{typed}")


# -- sudoers: cloud-init's users module, read back by visudo -------------------------------------


def sudoers_of(config: dict[str, Any], path: Path) -> Path:
    """The sudoers.d file cloud-init writes (Distro.write_sudo_rules): 'USER RULE' lines."""
    lines = ["# Created by cloud-init"]
    for user in config["users"][1:]:
        if "sudo" in user:
            lines += ["", f"# User rules for {user['name']}", f"{user['name']} {user['sudo']}"]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.skipif(shutil.which("visudo") is None, reason="sudo (visudo) is not installed")
@pytest.mark.parametrize("rule", [
    True, "ALL=(ALL) NOPASSWD:ALL", "ALL=(ALL:ALL) ALL",
    "ALL=(root) NOPASSWD: /usr/bin/systemctl restart app, /usr/bin/journalctl -u app",
    "ALL=(ALL) ALL, !/usr/bin/su", "ALL=(postgres) NOPASSWD: SETENV: /usr/bin/psql",
])
def test_a_sudo_rule_is_one_rule_visudo_accepts(tmp_path, rule):
    users = [{"name": "ops", "sudo": rule}, {"name": "deploy", "sudo": "ALL=(ALL) ALL"}]
    result, built = render(tmp_path, cloud_init(users=users))
    assert result.rc == 0, result.err
    config = cloud_config(built)
    expected = "ALL=(ALL) NOPASSWD:ALL" if rule is True else rule
    assert config["users"][1]["sudo"] == expected
    checked = subprocess.run(["visudo", "-cf", str(sudoers_of(config, tmp_path / "sudoers"))],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("rule", [
    "ALL=(ALL) ALL \\",  # continues onto the next user's rule
    "ALL=(ALL) ALL # and nothing else",  # the rest is a comment
    "ALL=(ALL) NOPASSWD:ALL\nevil ALL=(ALL) NOPASSWD:ALL",
    "ALL=(ALL) NOPASSWD:ALL, evil ALL=(ALL) ALL",
    "ALL", "ALL=(ALL)", "ALL=(ALL) ALL:", "", "ALL=(ALL) \"/bin/sh\"", "ALL=(ALL)\tALL",
    "ALL=(ALL) /usr/bin/\U0001F600", "ALL=(#0) ALL",
])
def test_a_sudo_rule_sudo_would_read_otherwise_is_refused(tmp_path, rule):
    refused(tmp_path, cloud_init(users=[{"name": "ops", "sudo": rule}]), "cloud_init.users.0.sudo")


# -- authorized_keys: read back by ssh-keygen -------------------------------------------------


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen is not installed")
def test_ssh_keys_are_one_key_each_that_ssh_keygen_reads(tmp_path):
    ed25519, rsa = ssh_keygen_key(tmp_path, "ed25519"), ssh_keygen_key(tmp_path, "rsa")
    keys = [ed25519, f'from="10.0.0.0/8",no-pty,command="echo hi there" {rsa}',
            ed25519.rsplit(" ", 1)[0] + " O'Brien $(id) \U0001F600"]
    result, built = render(tmp_path, cloud_init(users=[{"name": "ops",
                                                        "ssh_authorized_keys": keys}]))
    assert result.rc == 0, result.err
    written = cloud_config(built)["users"][1]["ssh_authorized_keys"]
    assert written == keys
    (tmp_path / "authorized_keys").write_text("\n".join(written) + "\n")
    listed = subprocess.run(["ssh-keygen", "-l", "-f", str(tmp_path / "authorized_keys")],
                            capture_output=True, text=True, check=True)
    assert len(listed.stdout.splitlines()) == 3, listed.stdout


@pytest.mark.parametrize("make", [
    lambda k: f"{k}\n{k}",  # a second key on the next line
    lambda k: f"{k}\r",
    lambda k: f"{k}\x00",
    lambda k: f" {k}",
    lambda k: k.replace("ssh-ed25519", "ssh-ed448"),
    lambda k: k.replace("AAAA", "AA!A", 1),
    lambda k: k.replace("ssh-ed25519 ", "ssh-rsa ", 1),  # the blob says ed25519
    lambda k: f"command=\"x\" y {k}",
    lambda k: f"# {k}",
])
def test_an_ssh_key_that_is_not_exactly_one_key_is_refused(tmp_path, make):
    key = ssh_keygen_key(tmp_path, "ed25519")
    refused(tmp_path, cloud_init(users=[{"name": "ops", "ssh_authorized_keys": [make(key)]}]),
            "cloud_init.users.0.ssh_authorized_keys.0")


# -- /etc/passwd fields, user and group names ----------------------------------------------


@pytest.mark.skipif(shutil.which("pwck") is None, reason="pwck (passwd) is not installed")
def test_gecos_and_shell_stay_one_passwd_field_each(tmp_path):
    gecos = "O'Brien, Room 1; $(id) `id` \"x\" \U0001F600"
    user = {"name": "ops", "gecos": gecos, "shell": "/usr/bin/zsh"}
    result, built = render(tmp_path, cloud_init(users=[user]))
    assert result.rc == 0, result.err
    written = cloud_config(built)["users"][1]
    assert (written["gecos"], written["shell"]) == (gecos, "/usr/bin/zsh")
    # useradd -c / -s store them as fields 5 and 7 of /etc/passwd; pwck reads that file.
    (tmp_path / "passwd").write_text(f"ops:x:1001:1001:{gecos}:/home/ops:/usr/bin/zsh\n")
    (tmp_path / "shadow").write_text("ops:!:19000::::::\n")
    checked = subprocess.run(["pwck", "-r", "-q", str(tmp_path / "passwd"),
                              str(tmp_path / "shadow")], capture_output=True, text=True)
    assert "invalid password file entry" not in checked.stdout + checked.stderr
    validated(built)


@pytest.mark.parametrize(("field", "value"), [
    ("gecos", "Ops:0:0"), ("gecos", "a\x1bb"), ("shell", "/bin/sh -c id"),
    ("shell", "/bin/bash:/x"), ("shell", "/bin/../tmp/sh"), ("shell", "bash"),
])
def test_a_passwd_field_separator_or_odd_shell_is_refused(tmp_path, field, value):
    refused(tmp_path, cloud_init(users=[{"name": "ops", field: value}]),
            f"cloud_init.users.0.{field}")


@pytest.mark.parametrize("name", ["default", "root", "nobody", "www-data", "sshd"])
def test_a_user_that_exists_before_cloud_init_runs_is_refused(tmp_path, name):
    refused(tmp_path, cloud_init(users=[{"name": name, "sudo": True}]), "cloud_init.users.0.name",
            "cloud-init would change it")


def test_a_user_listed_twice_is_refused(tmp_path):
    refused(tmp_path, cloud_init(users=[{"name": "ops"}, {"name": "ops", "sudo": True}]),
            "cloud_init.users.1.name", "listed twice")


@pytest.mark.parametrize("char", HOSTILE)
def test_user_and_group_names_refuse_every_hostile_character(tmp_path, char):
    refused(tmp_path, cloud_init(users=[{"name": f"ops{char}"}]), "cloud_init.users.0.name")
    refused(tmp_path, cloud_init(users=[{"name": "ops", "groups": [f"adm{char}"]}]),
            "cloud_init.users.0.groups.0")


@pytest.mark.parametrize("char", HOSTILE)
def test_package_names_refuse_every_hostile_character(tmp_path, char):
    refused(tmp_path, cloud_init(packages=[f"jq{char}"]), "cloud_init.packages.0")


@pytest.mark.parametrize(("settings", "key"), [
    ({"hostname": "localhost"}, "cloud_init.hostname"),
    ({"fqdn": "localhost.localdomain"}, "cloud_init.fqdn"),
])
def test_loopback_names_are_no_host_names(tmp_path, settings, key):
    refused(tmp_path, cloud_init(**settings), key, "loopback")


# -- write_files, runcmd, phone_home -------------------------------------------------------


@pytest.mark.parametrize(("files", "key", "word"), [
    ([{"path": "/etc/app/"}], "cloud_init.write_files.0.path", "names a folder"),
    ([{"path": "/etc/app\tx"}], "cloud_init.write_files.0.path", "control characters"),
    ([{"path": "/etc/a\x1b[2J"}], "cloud_init.write_files.0.path", "control characters"),
    ([{"path": "/etc/a"}, {"path": "/etc/a"}], "cloud_init.write_files.1.path", "written twice"),
    ([{"path": "/etc/a", "mode": "0644; id"}], "cloud_init.write_files.0.mode", "octal mode"),
])
def test_write_files_paths_and_modes_are_checked(tmp_path, files, key, word):
    refused(tmp_path, cloud_init(write_files=files), key, word)


def test_write_files_may_append_to_one_path(tmp_path):
    files = [{"path": "/etc/a", "content": "1\n"}, {"path": "/etc/a", "content": "2\n",
                                                    "append": True}]
    result, built = render(tmp_path, cloud_init(write_files=files))
    assert result.rc == 0, result.err
    assert [f.get("append", False) for f in cloud_config(built)["write_files"]] == [False, True]


@pytest.mark.parametrize(("runcmd", "key"), [
    ([[]], "cloud_init.runcmd.0"), (["echo a\x00b"], "cloud_init.runcmd.0"),
    ([["echo", "a\x00"]], "cloud_init.runcmd.0"),
])
def test_a_command_no_program_can_receive_is_refused(tmp_path, runcmd, key):
    refused(tmp_path, cloud_init(runcmd=runcmd), key)


@pytest.mark.parametrize("url", ["https://b.example/\x01", "https://bé.example/x", "https:///x"])
def test_phone_home_takes_a_plain_url(tmp_path, url):
    refused(tmp_path, cloud_init(phone_home=url), "cloud_init.phone_home.url")


def test_free_text_with_every_hostile_character_passes_the_cloud_init_schema(tmp_path):
    text = "".join(HOSTILE)
    result, built = render(tmp_path, cloud_init(
        write_files=[{"path": "/etc/x \U0001F600", "content": text}],
        runcmd=[["printf", "%s", "$(id) \U0001F600 # \\ '\""]]))
    assert result.rc == 0, result.err
    config = cloud_config(built)
    assert config["write_files"][0]["content"] == text
    assert config["write_files"][0]["path"] == "/etc/x \U0001F600"
    assert config["runcmd"] == [["printf", "%s", "$(id) \U0001F600 # \\ '\""]]
    validated(built)


# -- lone surrogates: no file can hold one -------------------------------------------------


@pytest.mark.parametrize(("host", "key"), [
    (cloud_init(write_files=[{"path": "/etc/x", "content": "a\ud800"}]),
     "cloud_init.write_files.0.content"),
    (cloud_init(users=[{"name": "ops", "gecos": "\udc00"}]), "cloud_init.users.0.gecos"),
    ({"bootstrap_roles": ["puppet-agent"], "os_family": "debian",
      "puppet": {"server": "puppet.example.internal", "extension_requests": {"pp_role": "\ud83d"}}},
     "puppet.extension_requests.pp_role"),
    ({"bootstrap_roles": ["chef-client"], "os_family": "debian",
      "chef": {**CHEF, "attributes": {"motd": ["ok", "\udfff"]}}}, "chef.attributes.motd.1"),
])
def test_a_lone_surrogate_is_refused_where_it_was_given(tmp_path, host, key):
    result, built = render(tmp_path, host, as_json=True)
    assert result.rc == 1 and "Traceback" not in result.err, result.err
    line = result.err.strip()
    assert "\n" not in line and "host_vars/h1.json:" in line and "surrogate" in line, line
    # Found when the file is read, or else when the namespace is checked, naming the key.
    assert "host h1" not in line or f"key {key}" in line, line
    assert not built.exists()


# -- Puppet: puppet.conf and csr_attributes.yaml ------------------------------------------------

puppet_only = pytest.mark.skipif(shutil.which("puppet") is None, reason="puppet is not installed")


def puppet_host(**settings: Any) -> dict[str, Any]:
    return {"bootstrap_roles": ["puppet-agent"], "os_family": "debian",
            "puppet": {"server": "puppet.example.internal", **settings}}


@puppet_only
def test_extension_values_beyond_the_bmp_reach_puppet_exactly(tmp_path):
    values = {"pp_role": "web \U0001F600 \U0001D11E", "pp_project": "line\u2028sep\x85nel \ufeff",
              "pp_zone": "\\ud83d\\ude00 literally", "pp_owner": ""}
    result, built = render(tmp_path, puppet_host(extension_requests=values))
    assert result.rc == 0, result.err
    read, error = read_csr_attributes(built / "files/etc/bootstrap/puppet-agent/csr_attributes.yaml")
    assert error == ""
    assert read["extension_requests"] == values


# Puppet::SSL::Base.validate_certname: what the agent checks before it asks for a certificate.
CERTNAME_PROBE = """
require "puppet"
require "puppet/ssl"
begin
  Puppet::SSL::Base.validate_certname(ARGV[0])
rescue => e
  puts e.message
end
"""


@puppet_only
@pytest.mark.parametrize("certname", ["Web1", "web\U0001F600", "web\u00e9"])
def test_certnames_puppet_refuses_are_refused_at_render(tmp_path, certname):
    conf = tmp_path / "puppet.conf"
    conf.write_text(f"[main]\ncertname = {certname}\n")
    _, settings_error = print_settings(conf, "agent", ["certname"])
    ssl_error = subprocess.run(["ruby", "-e", CERTNAME_PROBE, certname], capture_output=True,
                               text=True, check=True).stdout.strip()
    assert settings_error or ssl_error, "Puppet accepts it: refusing it would need a reason"
    assert "is not a valid certname" in refused(tmp_path, puppet_host(certname=certname),
                                                "puppet.certname")


@pytest.mark.parametrize(("settings", "key", "word"), [
    ({"certname": "ca"}, "puppet.certname", "CA's own certificate"),
    ({"environment": "main"}, "puppet.environment", "section name of puppet.conf"),
    ({"environment": "agent"}, "puppet.environment", "section name of puppet.conf"),
    ({"environment": "prod\U0001F600"}, "puppet.environment", "Puppet environment name"),
    ({"server": "puppet\U0001F600.example"}, "puppet.server", "host name"),
])
def test_names_with_a_meaning_to_puppet_are_refused(tmp_path, settings, key, word):
    refused(tmp_path, puppet_host(**settings), key, word)


@puppet_only
def test_edge_names_puppet_accepts_come_back_from_puppet_config_print(tmp_path):
    settings = {"certname": "a" * 200 + ".x_y-z", "environment": "a_1",
                "server": "PUPPET.Example.internal", "ca_server": "10.0.0.1"}
    result, built = render(tmp_path, puppet_host(**settings))
    assert result.rc == 0, result.err
    values, errors = print_settings(built / "files/etc/bootstrap/puppet-agent/puppet.conf",
                                    "agent", list(settings))
    assert errors == "" and values == settings


# -- Chef: client.rb, first-boot.json, the server's names -----------------------------------------


def chef_host(os_family: str = "debian", **settings: Any) -> dict[str, Any]:
    return {"bootstrap_roles": ["chef-client"], "os_family": os_family,
            "chef": {**CHEF, **settings}}


@pytest.mark.parametrize(("settings", "key", "word"), [
    ({"node_name": "web:01"}, "chef.node_name", "refuses ':'"),
    ({"node_name": ".."}, "chef.node_name", "path segment"),
    ({"node_name": "web\U0001F600"}, "chef.node_name", "not a valid node name"),
    ({"validation_client_name": "."}, "chef.validation_client_name", "path segment"),
    ({"run_list": ["recipe[base@1]"]}, "chef.run_list.0", "run-list item"),
    ({"run_list": ["base@2"]}, "chef.run_list.0", "run-list item"),
    ({"server_url": "https://chéf.example.internal/organizations/fleet"}, "chef.server_url",
     "xn--"),
    ({"package": {"url": "http://x.example/cinc.deb", "sha256": "0" * 64}}, "chef.package.url",
     "https"),
    ({"package": {"url": "https://x.example/cinc.deb", "sha256": "0" * 63}},
     "chef.package.sha256", "64 hex digits"),
    ({"package": {"url": "https://x.example/c.deb'; id'", "sha256": "0" * 64}},
     "chef.package.url", "is not a URL"),
])
def test_names_the_chef_server_or_client_refuses_are_refused(tmp_path, settings, key, word):
    refused(tmp_path, chef_host(**settings), key, word)


def test_a_run_list_version_of_two_or_three_parts_is_kept(tmp_path):
    run_list = ["recipe[base@1.2]", "recipe[web::nginx@1.2.3]", "db@10.0", "role[web]"]
    result, built = render(tmp_path, chef_host(run_list=run_list))
    assert result.rc == 0, result.err
    doc, error = read_json(built / "files/etc/cinc/first-boot.json")
    assert error == "" and doc["run_list"] == run_list


def test_non_ascii_server_url_is_what_ruby_cannot_parse(tmp_path):
    probe = "begin; URI.parse(ARGV[0]); puts 'ok'; rescue URI::InvalidURIError; puts 'bad'; end"
    checked = subprocess.run(["ruby", "-ruri", "-e", probe,
                              "https://chéf.example.internal/organizations/fleet"],
                             capture_output=True, text=True, check=True)
    assert checked.stdout.strip() == "bad"


def test_attributes_beyond_the_bmp_reach_chef_exactly(tmp_path):
    attributes = {"motd": "\U0001F600 \U0001D11E \u2028 \x85 \ufeff", "\U0001F511": ["\\ud800"]}
    result, built = render(tmp_path, chef_host(attributes=attributes, node_name="web01.x_y-z"))
    assert result.rc == 0, result.err
    doc, error = read_json(built / "files/etc/cinc/first-boot.json")
    assert error == "" and {k: doc[k] for k in attributes} == attributes
    values, error = read_client_rb(built / "files/etc/cinc/client.rb")
    assert values is not None, error
    assert values["node_name"] == "web01.x_y-z"


# -- the aws namespace ------------------------------------------------------------------------


def test_iam_role_names_are_ascii(tmp_path):
    host = {"bootstrap_roles": ["ec2-instance"],
            "aws": {"ami": "ami-0123456789abcdef0", "iam_role": "rôle"}}
    refused(tmp_path, host, "aws.iam_role", "IAM role name")


@pytest.mark.skipif(shutil.which("apt-get") is None, reason="apt-get is not installed")
def test_a_package_name_apt_reads_as_a_removal_is_refused(tmp_path):
    # apt-get itself: a trailing '-' turns "install" into "remove" (simulated, nothing changes).
    simulated = subprocess.run(["apt-get", "-s", "install", "coreutils-"], capture_output=True,
                               text=True)
    assert "Remv coreutils" in simulated.stdout or "essential" in simulated.stdout + \
        simulated.stderr, simulated.stdout + simulated.stderr
    refused(tmp_path, cloud_init(packages=["coreutils-"]), "cloud_init.packages.0",
            "not a valid package name")
    result, built = render(tmp_path / "ok", cloud_init(packages=["g++", "libstdc++6"]))
    assert result.rc == 0, result.err
    assert cloud_config(built)["packages"] == ["g++", "libstdc++6"]


# -- every name-like field refuses every hostile character ------------------------------------

NAME_FIELDS = {
    "cloud_init.hostname": lambda v: cloud_init(hostname=f"web{v}"),
    "cloud_init.fqdn": lambda v: cloud_init(fqdn=f"web{v}.example.internal"),
    "cloud_init.raid1.label": lambda v: raid("/backup", label=f"bk{v}"),
    "cloud_init.write_files.0.owner": lambda v: cloud_init(
        write_files=[{"path": "/etc/x", "owner": f"root:adm{v}"}]),
    "puppet.server": lambda v: puppet_host(server=f"puppet{v}.example.internal"),
    "puppet.certname": lambda v: puppet_host(certname=f"web{v}"),
    "puppet.environment": lambda v: puppet_host(environment=f"prod{v}"),
    "chef.node_name": lambda v: chef_host(node_name=f"web{v}"),
    "chef.environment": lambda v: chef_host(environment=f"prod{v}"),
    "chef.policy_group": lambda v: chef_host(policy_name="db", policy_group=f"prod{v}"),
}


@pytest.mark.parametrize("char", HOSTILE)
@pytest.mark.parametrize("key", list(NAME_FIELDS))
def test_name_fields_refuse_every_hostile_character(tmp_path, key, char):
    refused(tmp_path, NAME_FIELDS[key](char), key)


def test_write_files_cannot_replace_a_file_of_another_role(tmp_path):
    host = {"bootstrap_roles": ["cloud-init", "puppet-agent"], "os_family": "debian",
            "puppet": {"server": "puppet.example.internal"},
            "cloud_init": {"write_files": [{"path": "/etc/motd", "content": "hi\n"},
                                           {"path": "/etc/bootstrap/puppet-agent/puppet.conf",
                                            "content": "[main]\nserver = evil.example\n"}]}}
    refused(tmp_path, host, "cloud_init.write_files.1.path", "is a file of role puppet-agent")
