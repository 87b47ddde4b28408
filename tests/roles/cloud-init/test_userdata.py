"""User-data assembly as a user sees it: render an inventory, look at build/<host>/user-data*.

Every cloud-config part that a test renders is also checked by ``bootstrap validate`` against
cloud-init's own JSON schema (the one Debian's cloud-init package ships).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.cli import ROOT, run_cli, write_tree
from support.userdata import APP_ROLE, cloud_config, inventory, parts, render, report


def validate(build: Path) -> str:
    result = run_cli("validate", build, "--strict")
    assert result.rc == 0, result.out + result.err
    return result.out


def noise(size: int) -> str:
    """Text that gzip cannot shrink much, the same on every run."""
    out, block = [], b"seed"
    while sum(map(len, out)) < size:
        block = hashlib.sha256(block).digest()
        out.append(base64.b64encode(block).decode())
    return "".join(out)[:size]


# -- a host with the cloud-init role alone -------------------------------------------------------


def test_single_part_is_emitted_as_itself(tree, tmp_path):
    inv = inventory(tree, {"web1": {"bootstrap_roles": ["cloud-init"], "cloud_init": {
        "fqdn": "web1.example.internal",
        "users": [{"name": "ops", "groups": ["adm"], "sudo": True,
                   "ssh_authorized_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGd3 ops@ex"]}],
        "packages": ["curl", ["jq", "1.6-2.1"]],
        "write_files": [{"path": "/etc/motd", "content": "hello\n", "mode": "0640"}],
        "runcmd": ["echo done > /var/tmp/done"],
        "phone_home": "https://bootstrap.example.internal/done/$INSTANCE_ID",
    }}})
    build = tmp_path / "build"
    render(inv, build)
    raw = (build / "web1" / "user-data").read_bytes()
    assert raw.startswith(b"#cloud-config\n")
    assert raw == (build / "web1" / "user-data.txt").read_bytes()
    assert base64.b64decode((build / "web1" / "user-data.b64").read_bytes()) == raw
    config = yaml.safe_load(raw)
    assert config["hostname"] == "web1"
    assert config["fqdn"] == "web1.example.internal"
    assert config["users"][0] == "default"  # the image's own user (the EC2 key pair's) stays
    assert config["users"][1] == {
        "name": "ops", "lock_passwd": True, "groups": ["adm"], "sudo": "ALL=(ALL) NOPASSWD:ALL",
        "ssh_authorized_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGd3 ops@ex"]}
    assert config["packages"] == ["curl", ["jq", "1.6-2.1"]]
    assert config["write_files"] == [{"path": "/etc/motd", "content": "hello\n",
                                      "permissions": "0o640", "owner": "root:root"}]
    assert config["phone_home"] == {"url": "https://bootstrap.example.internal/done/$INSTANCE_ID",
                                    "post": "all", "tries": 10}
    summary = report(build, "web1")
    assert summary["size"] == len(raw) and summary["gzip"] is False
    assert summary["limit"] == 16384 and summary["headroom"] == 16384 - len(raw)
    assert summary["format"] == "text/cloud-config"
    manifest = json.loads((build / "web1" / "manifest.json").read_text())
    outputs = {o["dest"]: o for o in manifest["outputs"]}
    assert set(outputs) == {"user-data", "user-data.b64", "user-data.txt", "user-data.report.json"}
    assert outputs["user-data"]["size"] == len(raw) and outputs["user-data"]["mode"] == "0644"
    assert "ok   web1 user-data (cloud-init schema)" in validate(build)


def test_an_fqdn_inventory_name_gives_hostname_and_fqdn(tree, tmp_path):
    inv = inventory(tree, {"web1.example.internal": {"bootstrap_roles": ["cloud-init"]},
                           "db1": {"bootstrap_roles": ["cloud-init"]}})
    build = tmp_path / "build"
    render(inv, build)
    web = yaml.safe_load((build / "web1.example.internal" / "user-data").read_bytes())
    assert (web["hostname"], web["fqdn"]) == ("web1", "web1.example.internal")
    db = yaml.safe_load((build / "db1" / "user-data").read_bytes())
    assert db["hostname"] == "db1" and "fqdn" not in db


def test_raid1_is_the_bootcmd_mdadm_recipe(tree, tmp_path):
    inv = inventory(tree, {"backup1": {"bootstrap_roles": ["cloud-init"], "cloud_init": {
        "raid1": {"devices": ["/dev/sdf", "/dev/sdg"], "mount": "/backup",
                  "fstype": "xfs", "label": "backup"}}}})
    build = tmp_path / "build"
    rendered = run_cli("render", inv, "-o", build)
    assert rendered.rc == 0, rendered.err
    assert "raid1" not in rendered.err  # block device mapping names: no warning
    config = cloud_config((build / "backup1" / "user-data").read_bytes())
    [bootcmd] = config["bootcmd"]
    assert bootcmd[:6] == ["cloud-init-per", "instance", "bootstrap-raid1-md0", "sh", "-c",
                           bootcmd[5]]
    script = bootcmd[5]
    assert "mdadm --create /dev/md0 --level=1 --raid-devices=2" in script
    assert "/dev/sdf /dev/sdg" in script
    assert "--assemble" in script  # volumes that carry an array keep their data
    # Recorded so every boot assembles it as md0, the initramfs's copy of the file too.
    assert "mdadm --detail --brief /dev/md0 >> \"$conf\"" in script
    assert script.index("--detail --brief") < script.index("update-initramfs -u")
    assert config["fs_setup"] == [{"label": "backup", "filesystem": "xfs", "device": "/dev/md0",
                                   "partition": "auto"}]
    assert config["mounts"] == [["LABEL=backup", "/backup", "xfs", "defaults,nofail", "0", "2"]]
    assert subprocess.run(["sh", "-n", "-c", script]).returncode == 0
    if shutil.which("shellcheck"):
        check = subprocess.run(["shellcheck", "-s", "sh", "-"], input=script, text=True,
                               capture_output=True)
        assert check.returncode == 0, check.stdout
    validate(build)


@pytest.mark.parametrize("device", ["/dev/nvme1n1", "/dev/xvdg", "/dev/vdb"])
def test_a_mirror_over_kernel_enumerated_disk_names_renders_with_a_warning(tree, tmp_path, device):
    inv = inventory(tree, {"backup1": {"bootstrap_roles": ["cloud-init"], "cloud_init": {
        "raid1": {"devices": ["/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0a", device],
                  "mount": "/backup"}}}})
    rendered = run_cli("render", inv, "-o", tmp_path / "build")
    assert rendered.rc == 0, rendered.err
    [line] = [x for x in rendered.err.splitlines() if "raid1" in x]
    assert "host backup1: key cloud_init.raid1.devices.1:" in line and device in line
    assert "/dev/sdf" in line  # what to write instead


# -- roles contributing to the user-data ---------------------------------------------------------


def test_scripts_files_and_fragments_of_roles_make_one_mime(tree, tmp_path):
    inv = inventory(tree, {"app1": {"bootstrap_roles": ["cloud-init", "app"], "app_name": "shop",
                                    "cloud_init": {"runcmd": ["echo own >> /var/lib/app/order"]}}},
                    APP_ROLE)
    build = tmp_path / "build"
    render(inv, build)
    raw = (build / "app1" / "user-data").read_bytes()
    assert raw.startswith(b'Content-Type: multipart/mixed; boundary="MIMEBOUNDARY"\n')
    found = parts(raw)
    assert [(name, kind) for name, kind, _ in found] == [
        ("cloud-config.yaml", "text/cloud-config"),
        ("01-app-app-bootstrap", "text/x-shellscript")]
    # The script is installed at its dest, as push installs it, and its part runs it from there.
    assert found[1][2] == b"#!/bin/sh\nexec /usr/local/sbin/app-bootstrap\n"
    config = cloud_config(raw)
    script = (build / "app1" / "files/usr/local/sbin/app-bootstrap").read_bytes()
    assert {"path": "/usr/local/sbin/app-bootstrap", "content": script.decode(),
            "permissions": "0o755", "owner": "root:root"} in config["write_files"]
    # The file artifact is embedded with its path, mode and owner; the fragment is merged.
    assert {"path": "/etc/app/app.conf", "content": "name = shop\nlisten = 8080\n",
            "permissions": "0o600", "owner": "root:root"} in config["write_files"]
    assert config["runcmd"] == ["echo own >> /var/lib/app/order",
                                ["sh", "-c", "echo fragment >> /var/lib/app/order"]]
    # The fragment is not a build output of its own; the script and the file stay for push.
    manifest = json.loads((build / "app1" / "manifest.json").read_text())
    dests = {r["dest"] for r in manifest["files"] + manifest["outputs"]}
    assert "app-cloud-config.yaml" not in dests
    assert not (build / "app1" / "app-cloud-config.yaml").exists()
    assert {"/usr/local/sbin/app-bootstrap", "/etc/app/app.conf"} <= dests
    assert report(build, "app1")["format"] == "mime"
    validate(build)


MERGE_ROLES = {
    "roles/first/role.yml": """
        artifacts:
          - {template: merge/first.yaml.j2, dest: first.yaml, userdata: cloud-config}
        """,
    "roles/second/role.yml": """
        artifacts:
          - {template: merge/second.yaml.j2, dest: second.yaml, userdata: cloud-config}
        """,
    "templates/merge/first.yaml.j2": """
        timezone: UTC
        runcmd: [echo first]
        apt:
          preserve_sources_list: true
          sources:
            one: {source: "deb http://one.example/debian bookworm main"}
        """,
    "templates/merge/second.yaml.j2": """
        timezone: Europe/Paris
        runcmd: [echo second]
        apt:
          sources:
            two: {source: "deb http://two.example/debian bookworm main"}
        """,
}


def test_merge_rules_lists_append_dicts_merge_later_role_wins(tree, tmp_path):
    inv = inventory(tree, {"m1": {"bootstrap_roles": ["first", "cloud-init", "second"],
                                  "cloud_init": {"runcmd": ["echo own"],
                                                 "cloud_config": {"timezone": "Asia/Tokyo"}}}},
                    MERGE_ROLES)
    build = tmp_path / "build"
    render(inv, build)
    config = cloud_config((build / "m1" / "user-data").read_bytes())
    assert config["runcmd"] == ["echo first", "echo own", "echo second"]
    assert config["apt"] == {"preserve_sources_list": True, "sources": {
        "one": {"source": "deb http://one.example/debian bookworm main"},
        "two": {"source": "deb http://two.example/debian bookworm main"}}}
    assert config["timezone"] == "Europe/Paris"  # second comes last in bootstrap_roles
    validate(build)


def test_fragment_that_is_not_a_mapping_is_an_error(tree, tmp_path):
    files = {**MERGE_ROLES, "templates/merge/first.yaml.j2": "- just\n- a list\n"}
    inv = inventory(tree, {"m1": {"bootstrap_roles": ["cloud-init", "first"]}}, files)
    result = run_cli("render", inv, "-o", tmp_path / "build")
    assert result.rc == 1
    assert "host m1" in result.err and "first.yaml of role first" in result.err
    assert "must be a mapping" in result.err and "Traceback" not in result.err


def test_script_part_keeps_non_ascii_bytes_exactly(tree, tmp_path):
    files = {**APP_ROLE, "templates/app/bootstrap.sh.j2": "#!/bin/sh\necho 'café ✓' > /tmp/x\n"}
    inv = inventory(tree, {"app1": {"bootstrap_roles": ["cloud-init", "app"], "app_name": "crème",
                                    "cloud_init": {"write_files": [
                                        {"path": "/etc/greeting", "content": "grüß dich\n"}]}}},
                    files)
    build = tmp_path / "build"
    render(inv, build)
    raw = (build / "app1" / "user-data").read_bytes()
    assert raw.isascii()  # 8-bit text would be mangled by cloud-init's MIME parser
    files_by_path = {f["path"]: f["content"] for f in cloud_config(raw)["write_files"]}
    script = files_by_path["/usr/local/sbin/app-bootstrap"].encode()
    assert script == "#!/bin/sh\necho 'café ✓' > /tmp/x\n".encode()
    assert files_by_path["/etc/greeting"] == "grüß dich\n"
    assert files_by_path["/etc/app/app.conf"] == "name = crème\nlisten = 8080\n"
    validate(build)


# -- size, gzip, encodings -----------------------------------------------------------------------


def big_host(gzip_mode: str, content: str) -> dict[str, Any]:
    return {"bootstrap_roles": ["cloud-init", "app"], "app_name": "big",
            "cloud_init": {"gzip": gzip_mode,
                           "write_files": [{"path": "/srv/big.txt", "content": content}]}}


@pytest.mark.parametrize("mode, size, gzipped", [
    ("auto", 1000, False),
    ("auto", 40000, True),  # over the limit: compressed
    ("always", 1000, True),
    ("never", 12000, False),
])
def test_gzip_setting(tree, tmp_path, mode, size, gzipped):
    content = ("log line with some repetition\n" * (size // 30 + 1))[:size]
    inv = inventory(tree, {"h": big_host(mode, content)}, APP_ROLE)
    build = tmp_path / "build"
    render(inv, build)
    raw = (build / "h" / "user-data").read_bytes()
    text = (build / "h" / "user-data.txt").read_bytes()
    assert (raw[:2] == b"\x1f\x8b") is gzipped
    assert (gzip.decompress(raw) if gzipped else raw) == text
    assert text.startswith(b"Content-Type: multipart/mixed")
    # Encoded once: the base64 preset decodes to the raw bytes, which are not base64 themselves.
    assert base64.b64decode((build / "h" / "user-data.b64").read_bytes()) == raw
    summary = report(build, "h")
    assert summary["gzip"] is gzipped and summary["size"] == len(raw) <= 16384
    assert summary["uncompressed_size"] == len(text)
    assert summary["base64_size"] == (len(raw) + 2) // 3 * 4
    out = validate(build)
    assert "ok   h user-data (cloud-init schema)" in out and "ok   h user-data.b64" in out


def test_over_the_limit_even_gzipped_is_an_error_and_the_build_stays(tree, tmp_path):
    build = tmp_path / "build"
    inv = inventory(tree, {"h": big_host("auto", "small\n")}, APP_ROLE)
    render(inv, build)
    before = (build / "h" / "user-data").read_bytes()
    inventory(tree, {"h": big_host("auto", noise(30000))}, APP_ROLE)
    result = run_cli("render", inv, "-o", build)
    assert result.rc == 1 and "Traceback" not in result.err
    message = result.err
    assert "hosts.yml:" in message and "host h" in message and "key cloud_init.gzip" in message
    assert "bytes gzipped" in message and "over the limit of 16384 bytes" in message
    assert "S3" in message
    assert (build / "h" / "user-data").read_bytes() == before


def test_over_the_limit_with_gzip_never_says_what_gzip_would_give(tree, tmp_path):
    inv = inventory(tree, {"h": big_host("never", "repeat\n" * 3000)}, APP_ROLE)
    result = run_cli("render", inv, "-o", tmp_path / "build")
    assert result.rc == 1
    assert "hosts.yml:" in result.err and "host h" in result.err and "user-data is" in result.err
    assert "cloud_init.gzip is 'never' (gzip would make it" in result.err
    assert not (tmp_path / "build" / "h").exists()


def test_size_limit_is_configurable_for_other_clouds(tree, tmp_path):
    host = big_host("never", "repeat\n" * 3000)
    host["cloud_init"]["size_limit"] = 65536
    inv = inventory(tree, {"h": host}, APP_ROLE)
    build = tmp_path / "build"
    render(inv, build)
    assert report(build, "h")["limit"] == 65536


def test_same_inventory_gives_the_same_bytes(tree, tmp_path):
    inv = inventory(tree, {"h": big_host("always", "x\n")}, APP_ROLE)
    render(inv, tmp_path / "one")
    render(inv, tmp_path / "two")
    for name in ("user-data", "user-data.b64", "user-data.txt", "user-data.report.json"):
        assert (tmp_path / "one/h" / name).read_bytes() == (tmp_path / "two/h" / name).read_bytes()


def test_boundary_is_configurable_and_may_not_occur_in_a_part(tree, tmp_path):
    host = {"bootstrap_roles": ["cloud-init", "app"], "app_name": "b",
            "cloud_init": {"boundary": "//"}}
    inv = inventory(tree, {"h": host}, APP_ROLE)
    build = tmp_path / "build"
    render(inv, build)
    raw = (build / "h" / "user-data").read_bytes()
    assert raw.startswith(b'Content-Type: multipart/mixed; boundary="//"\n')
    assert len(parts(raw)) == 2
    validate(build)
    host["cloud_init"]["runcmd"] = ["echo '--//' > /tmp/x"]
    inventory(tree, {"h": host}, APP_ROLE)
    result = run_cli("render", inv, "-o", build)
    assert result.rc == 1
    assert "hosts.yml:" in result.err and "key cloud_init.boundary" in result.err
    assert "contains the MIME boundary '//'" in result.err


# -- secrets -------------------------------------------------------------------------------------


def test_a_secret_makes_the_user_data_secret_and_stays_out_of_copies(tree, tmp_path):
    token = "s3cr3t-'$(x)'-token"
    inv = inventory(tree, {"h": {"bootstrap_roles": ["cloud-init"], "cloud_init": {
        "write_files": [{"path": "/etc/app/token", "content": {"file": "secrets/token"},
                         "mode": "0600"}]}}},
                    {"secrets/token": token + "\n"})
    build = tmp_path / "build"
    render(inv, build)
    folder = build / "h"
    config = cloud_config((folder / "user-data").read_bytes())
    assert config["write_files"][0]["content"] == token
    for name in ("user-data", "user-data.b64", "user-data.txt"):
        assert (folder / name).stat().st_mode & 0o777 == 0o600
        redacted = (folder / ".redacted" / name).read_bytes()
        if name == "user-data.b64":
            redacted = base64.b64decode(redacted)
        assert token.encode() not in redacted and b"<secret:file:secrets/token>" in redacted
    manifest = json.loads((folder / "manifest.json").read_text())
    assert all(o["secret"] for o in manifest["outputs"] if o["dest"] != "user-data.report.json")
    # A change shows in the diff through the redacted copy only.
    write_tree(inv, {"secrets/token": "another-token\n"})
    result = run_cli("render", inv, "-o", build, "--diff")
    assert result.rc == 0
    assert "another-token" not in result.out and token not in result.out
    assert token not in (folder / ".redacted" / "user-data.txt").read_text()


def test_a_secret_file_of_another_role_makes_the_user_data_secret(tree, tmp_path):
    files = {**APP_ROLE, "templates/app/app.conf.j2": "password = {{ vars.app_password | ini }}\n"}
    inv = inventory(tree, {"h": {"bootstrap_roles": ["cloud-init", "app"], "app_name": "x",
                                 "app_password": {"env": "APP_PASSWORD"}}}, files)
    build = tmp_path / "build"
    result = run_cli("render", inv, "-o", build, env={"APP_PASSWORD": "hunter2-xyz"})
    assert result.rc == 0, result.err
    assert (build / "h" / "user-data").stat().st_mode & 0o777 == 0o600
    assert b"hunter2-xyz" in (build / "h" / "user-data").read_bytes()
    redacted = (build / "h" / ".redacted" / "user-data.txt").read_text()
    assert "hunter2-xyz" not in redacted and "<secret:env:APP_PASSWORD>" in redacted


# -- the checker ---------------------------------------------------------------------------------


def test_validate_names_the_part_line_and_key_of_a_schema_error(tree, tmp_path):
    host = {"bootstrap_roles": ["cloud-init", "app"], "app_name": "v",
            "cloud_init": {"gzip": "always",
                           "cloud_config": {"timezone": 5, "runcmds": ["typo"]}}}
    inv = inventory(tree, {"h": host}, APP_ROLE)
    build = tmp_path / "build"
    render(inv, build)
    result = run_cli("validate", build)
    assert result.rc == 1
    assert "FAIL h user-data (cloud-init schema)" in result.out
    lines = [line.strip() for line in result.out.splitlines()]
    text = (build / "h" / "user-data.txt").read_text()
    part = text.split('filename="cloud-config.yaml"\n\n', 1)[1]
    line_of = {key: 1 + part.splitlines().index(f"{key}: 5" if key == "timezone" else f"{key}:")
               for key in ("timezone", "runcmds")}
    assert (f"user-data (inside gzip): part cloud-config.yaml (1 of 2), line {line_of['timezone']}: "
            f"timezone: 5 is not of type 'string'") in lines
    assert any(f"line {line_of['runcmds']}: runcmds: not a cloud-config key" in line
               for line in lines)


def test_validate_reports_base64_user_data_as_encoded_twice(tree, tmp_path):
    inv = inventory(tree, {"h": {"bootstrap_roles": ["cloud-init"]}})
    build = tmp_path / "build"
    render(inv, build)
    raw = build / "h" / "user-data"
    raw.write_bytes(base64.b64encode(gzip.compress(raw.read_bytes())))
    result = run_cli("validate", build)
    assert result.rc == 1
    assert "encoded twice" in result.out
    assert "user-data.b64: does not decode to the bytes of user-data" in result.out


# -- the example inventory -----------------------------------------------------------------------


def test_example_instances_render_and_validate(tmp_path):
    build = tmp_path / "build"
    render(ROOT / "inventory", build)
    hosts = yaml.safe_load((ROOT / "inventory" / "instances.yml").read_text())
    names = list(hosts["instances"]["hosts"])
    assert names
    for name in names:
        result = run_cli("validate", build, "--limit", name, "--strict")
        assert result.rc == 0, result.out
        assert f"ok   {name} user-data (cloud-init schema)" in result.out
    backup = cloud_config((build / "backup01" / "user-data").read_bytes())
    assert backup["mounts"][0][:2] == ["LABEL=backup", "/backup"]
