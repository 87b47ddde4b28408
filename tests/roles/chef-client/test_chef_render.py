"""The chef-client role: what it writes for Cinc and Chef, read back by ChefConfig, Ruby's JSON
and shellcheck, and what it refuses (bad or hostile inventory values) with one clear message."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from support import waits
from support.cli import ROOT, run_cli

from bootstrap.roles.chef_client.checkers import read_client_rb, read_json

KEY = ROOT / "inventory" / "secrets" / "chef-demo-validator.pem"
BASE = {
    "server_url": "https://chef.example.internal/organizations/fleet",
    "validation_client_name": "fleet-validator",
    "run_list": ["recipe[base]", "role[web]"],
    "s3": {"bucket": "fleet-bootstrap", "prefix": "chef/fleet", "region": "eu-west-1"},
    "validation_key": {"file": "secrets/validator.pem"},
}


def inventory(tmp_path: Path, hosts: dict[str, dict]) -> Path:
    """An inventory of chef-client hosts: {name: host vars}, each host's chef merged over BASE."""
    folder = tmp_path / "inv"
    (folder / "secrets").mkdir(parents=True)
    (folder / "secrets" / "validator.pem").write_bytes(KEY.read_bytes())
    (folder / "secrets" / "license").write_text("demo-license-0000\n")
    entries = {}
    for name, host in hosts.items():
        host = dict(host)
        if "chef" in host:
            host["chef"] = {**BASE, **host["chef"]}
        entries[name] = {"os_family": "debian", **host}
    doc = {"all": {"vars": {"bootstrap_roles": ["chef-client"]}, "hosts": entries}}
    (folder / "hosts.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return folder


def render(tmp_path: Path, hosts: dict[str, dict]):
    out = tmp_path / "build"
    return run_cli("render", inventory(tmp_path, hosts), "-o", out), out


def client_rb(out: Path, host: str, conf: str = "/etc/cinc") -> dict:
    values, error = read_client_rb(out / host / "files" / conf.lstrip("/") / "client.rb")
    assert values is not None, error
    return values


def first_boot(out: Path, host: str, conf: str = "/etc/cinc") -> dict:
    doc, error = read_json(out / host / "files" / conf.lstrip("/") / "first-boot.json")
    assert doc is not None, error
    return doc


def script(out: Path, host: str) -> Path:
    return out / host / "files" / "usr" / "local" / "sbin" / "bootstrap-chef-client"


def shellcheck(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["shellcheck", "--format=gcc", str(path)], capture_output=True, text=True)


def test_cinc_and_chef_nodes_get_their_own_paths_and_chefconfig_reads_every_value(tmp_path):
    result, out = render(tmp_path, {
        "cinc1": {"chef": {"node_name": "web01.example.internal", "environment": "production",
                           "attributes": {"fleet": {"tier": "front"}}}},
        "chef1": {"os_family": "RedHat", "chef": {
            "distribution": "chef", "license_key": {"file": "secrets/license"},
            "ssl_verify_mode": "verify_none", "run_list": [],
            "policy_name": "database", "policy_group": "production"}},
    })
    assert result.rc == 0, result.err

    cinc = client_rb(out, "cinc1", "/etc/cinc")
    assert cinc == {
        "chef_server_url": "https://chef.example.internal/organizations/fleet",
        "validation_client_name": "fleet-validator",
        "validation_key": "/etc/cinc/validation.pem",
        "client_key": "/etc/cinc/client.pem",
        "node_name": "web01.example.internal",
        "ssl_verify_mode": ":verify_peer",
        "file_cache_path": "/var/cinc/cache",
        "file_backup_path": "/var/cinc/backup",
        # Upstream Ohai would look in /etc/chef/ohai/hints, even on a Cinc node.
        "ohai_hints_path": ["/etc/cinc/ohai/hints"],
    }
    assert first_boot(out, "cinc1") == {
        "run_list": ["recipe[base]", "role[web]"],
        "chef_environment": "production",
        "fleet": {"tier": "front"},
    }
    assert read_json(out / "cinc1/files/etc/cinc/ohai/hints/ec2.json")[0] == {}

    chef = client_rb(out, "chef1", "/etc/chef")
    assert chef["validation_key"] == "/etc/chef/validation.pem"
    assert chef["ssl_verify_mode"] == ":verify_none"
    assert chef["ohai_hints_path"] == ["/etc/chef/ohai/hints"]
    assert chef["node_name"] is None  # the instance id, written at boot into client.d
    assert first_boot(out, "chef1", "/etc/chef") == {"policy_name": "database",
                                                     "policy_group": "production"}

    cinc_script = script(out, "cinc1").read_text()
    assert "readonly CLIENT_BIN=/opt/cinc/bin/cinc-client" in cinc_script
    assert "readonly VERSION=18" in cinc_script
    assert "install.sh" not in cinc_script  # no installer script is ever piped to a shell
    assert "readonly PACKAGE_URL=''" in cinc_script  # no package pinned: the image has the client
    assert "apt-get install" in cinc_script and "dnf install" not in cinc_script
    assert "NODE_NAME_RB" not in cinc_script  # a fixed name needs no lookup at boot
    chef_script = script(out, "chef1").read_text()
    assert "readonly CLIENT_BIN=/opt/chef/bin/chef-client" in chef_script
    assert "install.sh" not in chef_script
    assert "readonly LICENSE_OBJECT=s3://fleet-bootstrap/chef/fleet/license_key" in chef_script
    assert "dnf install" in chef_script and "apt-get install" not in chef_script
    for host in ("cinc1", "chef1"):
        checked = shellcheck(script(out, host))
        assert checked.returncode == 0, checked.stdout

    manifest = json.loads((out / "cinc1" / "manifest.json").read_text())
    records = {r["dest"]: r for r in manifest["files"]}
    assert records["/usr/local/sbin/bootstrap-chef-client"]["mode"] == "0700"
    assert records["/etc/cinc/client.rb"]["mode"] == "0644"


def test_the_validator_and_license_keys_never_reach_the_build(tmp_path):
    result, out = render(tmp_path, {
        "cinc1": {"chef": {}},
        "chef1": {"chef": {"distribution": "chef", "license_key": {"file": "secrets/license"}}},
    })
    assert result.rc == 0, result.err
    key_line = KEY.read_text().splitlines()[1]
    for path in out.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert key_line not in text, path
            assert "demo-license-0000" not in text, path
    # Nothing secret was rendered, so nothing is flagged secret.
    for manifest in out.glob("*/manifest.json"):
        assert not any(r["secret"] for r in json.loads(manifest.read_text())["files"])


def test_missing_server_url_names_the_file_line_host_and_key(tmp_path):
    folder = inventory(tmp_path, {"web1": {"chef": {}}})
    doc = yaml.safe_load((folder / "hosts.yml").read_text())
    del doc["all"]["hosts"]["web1"]["chef"]["server_url"]
    (folder / "hosts.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    result = run_cli("render", folder, "-o", tmp_path / "build")
    assert result.rc == 1
    assert "hosts.yml:" in result.err and "host web1" in result.err
    assert "key chef.server_url: is required" in result.err
    assert "Traceback" not in result.err
    assert not (tmp_path / "build").exists()


@pytest.mark.parametrize(("family", "message"), [
    ("suse", "unknown os_family 'suse'"),
    (None, "os_family is required by the chef-client role"),
])
def test_os_family_must_be_one_the_role_knows(tmp_path, family, message):
    result, _ = render(tmp_path, {"web1": {"os_family": family, "chef": {}}})
    assert result.rc == 1
    assert message in result.err and "debian, redhat" in result.err
    assert "host web1" in result.err and "key os_family" in result.err
    assert "hosts.yml:" in result.err


PAYLOADS = ["$(touch /tmp/pwned)", "`touch /tmp/pwned`", "x'\"; touch /tmp/pwned; \"'", "a\nb"]


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize(("key", "place"), [
    ("run_list", lambda p: {"run_list": [f"recipe[{p}]"]}),
    ("environment", lambda p: {"environment": p}),
    ("node_name", lambda p: {"node_name": f"web-{p}"}),
    ("validation_client_name", lambda p: {"validation_client_name": p}),
    ("policy_name", lambda p: {"run_list": [], "policy_name": p, "policy_group": "prod"}),
])
def test_names_that_chef_would_reject_are_rejected_here_first(tmp_path, key, place, payload):
    result, out = render(tmp_path, {"web1": {"chef": place(payload)}})
    assert result.rc == 1, result.out
    error = result.err.strip()
    assert error.count("\n") == 0, error  # one line, even for a payload with a newline
    assert "hosts.yml:" in error and "host web1" in error and f"key chef.{key}" in error
    assert "Traceback" not in error
    assert not out.exists()


@pytest.mark.parametrize("url", [
    "https://chef.example.internal/organizations/fleet$(reboot)",
    "https://chef.example.internal/organizations/it's;fine",
])
def test_a_server_url_with_shell_characters_reaches_chefconfig_unchanged(tmp_path, url):
    result, out = render(tmp_path, {"web1": {"chef": {"server_url": url}}})
    assert result.rc == 0, result.err
    assert client_rb(out, "web1")["chef_server_url"] == url
    assert shellcheck(script(out, "web1")).returncode == 0


@pytest.mark.parametrize("url", [
    "https://chef.example.internal/`touch /tmp/pwned`",
    'https://chef.example.internal/a"b',
    "https://chef.example.internal/a\nnode_name 'evil'",
    "ftp://chef.example.internal/",
    "chef.example.internal",
])
def test_a_server_url_that_is_no_url_is_rejected(tmp_path, url):
    result, _ = render(tmp_path, {"web1": {"chef": {"server_url": url}}})
    assert result.rc == 1
    assert "key chef.server_url" in result.err and "host web1" in result.err
    assert result.err.strip().count("\n") == 0


def test_attributes_reach_first_boot_json_exactly_whatever_they_hold(tmp_path):
    attributes = {
        "motd": "$(touch /tmp/pwned) `id` 'quoted' \"double\"; rm -rf /\nsecond line",
        "nested": {"list": ["a;b", "\\n", "ünïcödé", 1, 2.5, True, None]},
        "}": "{",
    }
    result, out = render(tmp_path, {"web1": {"chef": {"attributes": attributes}}})
    assert result.rc == 0, result.err
    assert first_boot(out, "web1") == {**attributes, "run_list": BASE["run_list"]}
    assert shellcheck(script(out, "web1")).returncode == 0
    assert "pwned" not in script(out, "web1").read_text()


@pytest.mark.parametrize(("chef", "key", "message"), [
    ({"policy_name": "db", "policy_group": "prod"}, "chef.policy_name",
     "set either run_list or policy_name + policy_group, not both"),
    ({"run_list": [], "policy_name": "db"}, "chef.policy_group",
     "policy_name and policy_group go together"),
    ({"run_list": [], "policy_name": "db", "policy_group": "prod", "environment": "prod"},
     "chef.environment", "a Policyfile node has no environment"),
    ({"distribution": "chef"}, "chef.license_key", "distribution chef needs license_key"),
    ({"license_key": {"file": "secrets/license"}}, "chef.license_key",
     "license_key is only for distribution chef"),
    ({"distribution": "chef", "license_key": "plain-text-key"}, "chef.license_key",
     "must be a secret reference"),
    ({"attributes": {"run_list": ["recipe[x]"]}}, "chef.attributes",
     "attributes cannot set run_list: use chef.run_list"),
    ({"attributes": {"db": {"password": {"env": "DB_PASSWORD"}}}}, "chef.attributes",
     "attributes.db.password holds a secret reference"),
    ({"version": "latest"}, "chef.version", "is not a valid version pin"),
    ({"ssl_verify_mode": ":verify_maybe"}, "chef.ssl_verify_mode", ""),
    ({"s3": {"bucket": "Fleet_Bucket", "region": "eu-west-1"}}, "chef.s3.bucket",
     "is not a valid S3 bucket name"),
    ({"s3": {"bucket": "fleet", "prefix": "../other", "region": "eu-west-1"}}, "chef.s3.prefix",
     "is not a plain S3 key prefix"),
    ({"s3": {"bucket": "fleet", "region": "eu-west-1",
             "kms_key_arn": "arn:aws:kms:eu-west-1:111122223333:alias/chef"}},
     "chef.s3.kms_key_arn", "is not a valid KMS key ARN"),
    ({"s3": {"bucket": "fleet"}}, "chef.s3.region", "is required"),
    ({"node_name": "%s-%s"}, "chef.node_name", "use %s at most once"),
    ({"serverurl": "https://x/"}, "chef.serverurl", "did you mean 'server_url'"),
])
def test_inconsistent_settings_name_the_key_to_change(tmp_path, chef, key, message):
    result, _ = render(tmp_path, {"web1": {"chef": chef}})
    assert result.rc == 1, result.out
    assert f"key {key}:" in result.err and message in result.err
    assert "host web1" in result.err and "hosts.yml:" in result.err
    assert "Traceback" not in result.err


def test_the_example_inventory_has_chef_nodes_of_each_family_that_pass_validate(tmp_path):
    out = tmp_path / "build"
    result = run_cli("render", ROOT / "inventory", "-o", out, "--limit", "chef_nodes")
    assert result.rc == 0, result.err
    families = set()
    for manifest_path in out.glob("*/manifest.json"):
        manifest = json.loads(manifest_path.read_text())
        if "chef-client" in manifest["roles"]:
            shown = run_cli("inventory", ROOT / "inventory", "--host", manifest["host"])
            families.add(json.loads(shown.out)["os_family"])
    assert families == {"debian", "redhat"}
    checked = run_cli("validate", out, "--strict")
    assert checked.rc == 0, checked.out
    for line in ("(chef-config)", "(chef first-boot json)", "(shellcheck)", "(parliament)"):
        assert line in checked.out
    assert "FAIL" not in checked.out and "SKIP" not in checked.out


def test_validate_fails_a_client_rb_with_a_setting_chef_does_not_know(tmp_path):
    result, out = render(tmp_path, {"web1": {"chef": {}}})
    assert result.rc == 0, result.err
    path = out / "web1" / "files" / "etc" / "cinc" / "client.rb"
    path.write_text(path.read_text() + "ssl_verfy_mode :verify_none\n")
    checked = run_cli("validate", out)
    assert checked.rc == 1
    assert "FAIL web1 /etc/cinc/client.rb (chef-config)" in checked.out
    assert "unsupported config value ssl_verfy_mode" in checked.out


# -- installing the client: only a package whose sha256 the inventory pins ----------------------

FAKE_CURL = """#!/bin/bash
# Stands in for curl: records the URL, writes the payload where -o says.
out=
while [ $# -gt 0 ]; do
  case $1 in
    -o) out=$2; shift ;;
    http*) printf '%s\\n' "$1" >> "$FAKE_LOG" ;;
  esac
  shift
done
cp "$FAKE_PAYLOAD" "$out"
"""


def install_client(tmp_path: Path, built_script: Path, payload: bytes,
                   license_key: str = "") -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run the rendered script's install_client step as the node would, with curl answering
    ``payload`` and the package manager replaced by a recorder, so nothing on this machine is
    installed. The checksum gate under test is the script's own code, unchanged."""
    tmp_path.mkdir()
    client = tmp_path / "opt" / "client"
    recorder = tmp_path / "installed"
    lines = built_script.read_text().splitlines()
    assert lines[-1] == 'main "$@"'
    text = "\n".join(lines[:-1])
    text = re.sub(r"^readonly CLIENT_BIN=.*$", f"readonly CLIENT_BIN={client}", text, flags=re.M)
    text = re.sub(r"^readonly PACKAGE_INSTALL=\(.*\)$",
                  f"readonly PACKAGE_INSTALL=(record-install {recorder} {client})", text,
                  flags=re.M)
    harness = tmp_path / "harness.sh"
    harness.write_text(f"{text}\nLICENSE_KEY={license_key}\ninstall_client\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "curl").write_text(FAKE_CURL)
    (bin_dir / "record-install").write_text(
        '#!/bin/sh\nrec=$1 client=$2; shift 2\nprintf \'%s\\n\' "$@" > "$rec"\n'
        'cp "$1" "$rec.package"\nmkdir -p "$(dirname "$client")"\n'
        'printf \'#!/bin/sh\\n\' > "$client"\nchmod +x "$client"\n')
    for tool in ("curl", "record-install"):
        (bin_dir / tool).chmod(0o755)
    (tmp_path / "payload").write_bytes(payload)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
           "FAKE_PAYLOAD": str(tmp_path / "payload"), "FAKE_LOG": str(tmp_path / "urls"),
           "BOOTSTRAP_ATTEMPTS": "1"}
    run = subprocess.run(["bash", str(harness)], capture_output=True, text=True, env=env,
                         timeout=waits.allowance(60))
    return run, recorder


PACKAGE = b"!<arch>\nthe client package\n"


@pytest.mark.parametrize(("family", "installer"), [("debian", ["dpkg", "-i"]),
                                                    ("redhat", ["rpm", "-U", "--replacepkgs"])])
def test_the_client_package_is_installed_only_with_the_pinned_sha256(tmp_path, family, installer):
    url = "https://omnitruck.cinc.sh/stable/cinc/download?p=debian&pv=12&m=x86_64&v=18.4.12"
    digest = hashlib.sha256(PACKAGE).hexdigest()
    result, out = render(tmp_path, {"web1": {"os_family": family, "chef": {
        "package": {"url": url, "sha256": digest.upper()}}}})
    assert result.rc == 0, result.err
    text = script(out, "web1").read_text()
    assert f"readonly PACKAGE_INSTALL=({' '.join(installer)})" in text
    assert shellcheck(script(out, "web1")).returncode == 0

    good, recorder = install_client(tmp_path / "good", script(out, "web1"), PACKAGE)
    assert good.returncode == 0, good.stderr
    assert "sha256 verified" in good.stderr
    assert (tmp_path / "good" / "urls").read_text() == url + "\n"
    assert recorder.with_suffix(".package").read_bytes() == PACKAGE

    tampered, recorder = install_client(tmp_path / "bad", script(out, "web1"), PACKAGE + b"x")
    assert tampered.returncode == 1
    got = hashlib.sha256(PACKAGE + b"x").hexdigest()
    assert f"the package from {url} has sha256 {got}, not the pinned {digest}: not " \
           "installing it" in tampered.stderr
    assert not recorder.exists()


def test_without_a_pinned_package_the_script_installs_nothing(tmp_path):
    result, out = render(tmp_path, {"web1": {"chef": {}}})
    assert result.rc == 0, result.err
    run, recorder = install_client(tmp_path / "run", script(out, "web1"), PACKAGE)
    assert run.returncode == 1
    assert "cinc-client is not installed and chef.package names no package to install" \
        in run.stderr
    assert "an unverified installer is never run" in run.stderr
    assert not (tmp_path / "run" / "urls").exists() and not recorder.exists()


def test_a_licensed_download_gets_the_key_on_the_node_and_never_in_a_log(tmp_path):
    url = "https://chefdownload-commercial.chef.io/stable/chef/download?p=el&pv=9&m=x86_64" \
          "&v=18.5.0&license_id="
    result, out = render(tmp_path, {"web1": {"os_family": "redhat", "chef": {
        "distribution": "chef", "license_key": {"file": "secrets/license"},
        "package": {"url": url, "sha256": hashlib.sha256(PACKAGE).hexdigest()}}}})
    assert result.rc == 0, result.err
    assert "demo-license-0000" not in script(out, "web1").read_text()
    run, _ = install_client(tmp_path / "run", script(out, "web1"), PACKAGE,
                            license_key="demo-license-0000")
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "run" / "urls").read_text() == url + "demo-license-0000\n"
    assert "demo-license-0000" not in run.stderr + run.stdout
