"""The puppet-agent role rendered: Puppet itself reads every file back; bad values are refused.

Real consumers: ``puppet config print --config`` for puppet.conf, Puppet's own CSR attribute
loader (plus a certificate request built from it) for csr_attributes.yaml, shellcheck for the
scripts, and Debian's distro-info-data for the OS-release table of the package sources.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from support import waits
from support.cli import ROOT, one_error, run_cli

from bootstrap.roles.puppet_agent.checkers import print_settings, read_csr_attributes
from bootstrap.roles.puppet_agent.context import (
    OPENVOX_DEBS,
    OPENVOX_RPMS,
    PUPPET_DEBS,
    PUPPET_RPMS,
    install_plan,
)

pytestmark = pytest.mark.skipif(shutil.which("puppet") is None, reason="puppet is not installed")

SCRIPT = "files/usr/local/sbin/bootstrap-puppet-agent"
PASSWORD_ENV = "TEST_PUPPET_CHALLENGE"
PASSWORD = "s3cret'\"$(touch /tmp/x) ;`id`"


def hosts_yml(puppet: dict[str, Any], os_family: str | None = "debian", name: str = "web1") -> str:
    host: dict[str, Any] = {"bootstrap_roles": ["puppet-agent"], "puppet": puppet}
    if os_family is not None:
        host["os_family"] = os_family
    return yaml.safe_dump({"all": {"hosts": {name: host}}}, sort_keys=False, width=1000)


def line_of(text: str, key: str) -> int:
    """1-based line of the first ``key:`` in text."""
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip().startswith(f"{key}:"):
            return number
    raise AssertionError(f"{key} not in {text}")


def render(tmp_path: Path, tree, puppet: dict[str, Any], os_family: str | None = "debian",
           name: str = "web1") -> tuple[Any, Path]:
    inv = tree({"hosts.yml": hosts_yml(puppet, os_family, name)})
    out = tmp_path / "build"
    result = run_cli("render", inv, "-o", out, env={PASSWORD_ENV: PASSWORD})
    return result, out / name



FULL = {
    "server": "puppet.example.internal",
    "serverport": 8141,
    "ca_server": "puppet-ca.example.internal",
    "environment": "staging_2",
    "certname": "web1.example.internal",
    "runinterval": "45m",
    "waitforcert": 60,
    "extension_requests": {"pp_role": "web", "pp_environment": "staging"},
    "challenge_password": {"env": PASSWORD_ENV},
}


def test_puppet_reads_every_value_of_the_rendered_puppet_conf(tmp_path, tree):
    result, host = render(tmp_path, tree, FULL)
    assert result.rc == 0, result.err
    conf = host / "files/etc/bootstrap/puppet-agent/puppet.conf"
    values, errors = print_settings(conf, "agent", ["server", "serverport", "ca_server",
                                                    "certname", "environment", "runinterval",
                                                    "waitforcert"])
    assert errors == ""
    assert values == {"server": "puppet.example.internal", "serverport": 8141,
                      "ca_server": "puppet-ca.example.internal", "environment": "staging_2",
                      "certname": "web1.example.internal", "runinterval": 2700,
                      "waitforcert": 60}


def test_files_modes_and_the_secret_stay_out_of_the_redacted_copy(tmp_path, tree):
    result, host = render(tmp_path, tree, FULL)
    assert result.rc == 0, result.err
    manifest = json.loads((host / "manifest.json").read_text())
    files = {f["dest"]: f for f in manifest["files"]}
    assert files["/etc/bootstrap/puppet-agent/puppet.conf"]["mode"] == "0644"
    assert files["/etc/bootstrap/puppet-agent/csr_attributes.yaml"]["mode"] == "0600"
    assert files["/etc/bootstrap/puppet-agent/csr_attributes.yaml"]["secret"] is True
    assert files["/usr/local/sbin/bootstrap-puppet-agent"]["mode"] == "0755"
    redacted = (host / ".redacted/files/etc/bootstrap/puppet-agent/csr_attributes.yaml").read_text()
    assert "s3cret" not in redacted and f"<secret:env:{PASSWORD_ENV}>" in redacted
    assert "s3cret" not in (host / SCRIPT).read_text()


def test_puppet_builds_a_csr_carrying_exactly_the_given_attributes(tmp_path, tree):
    payloads = {
        "pp_role": "web $(touch /tmp/pwned-role)",
        "pp_project": "`touch /tmp/pwned-project`; echo 'x' \"y\"",
        "pp_application": "line one\nline two\n[agent]\nserver = evil",
        "pp_cost_center": 1234,
        "1.3.6.1.4.1.34380.1.2.1": "private: {not: yaml}",
    }
    result, host = render(tmp_path, tree, {**FULL, "extension_requests": payloads})
    assert result.rc == 0, result.err
    carried, error = read_csr_attributes(host / "files/etc/bootstrap/puppet-agent/csr_attributes.yaml")
    assert error == ""
    assert carried == {
        "custom_attributes": {"challengePassword": PASSWORD},
        "extension_requests": {k: str(v) for k, v in payloads.items()},
    }


def test_certname_defaults_to_the_instance_id_read_at_boot(tmp_path, tree):
    result, host = render(tmp_path, tree, {"server": "puppet.example.internal"})
    assert result.rc == 0, result.err
    conf = (host / "files/etc/bootstrap/puppet-agent/puppet.conf").read_text()
    assert not re.search(r"^certname", conf, re.M)
    script = (host / SCRIPT).read_text()
    assert "CERTNAME=''" in script
    assert "latest/api/token" in script and "X-aws-ec2-metadata-token" in script
    csr = yaml.safe_load((host / "files/etc/bootstrap/puppet-agent/csr_attributes.yaml").read_text())
    assert csr == {"extension_requests": None}


@pytest.mark.parametrize(("source", "family", "version", "packages", "confdir"), [
    ("distro", "debian", None, ["puppet-agent", "puppet"], "/etc/puppet"),
    ("puppet", "debian", "8.10.0", ["puppet-agent"], "/etc/puppetlabs/puppet"),
    ("openvox", "redhat", 8, ["openvox-agent"], "/etc/puppetlabs/puppet"),
    ("puppet", "RedHat", 7, ["puppet-agent"], "/etc/puppetlabs/puppet"),
])
def test_one_script_per_os_family_with_its_packages(tmp_path, tree, source, family, version,
                                                    packages, confdir):
    puppet: dict[str, Any] = {"server": "puppet.example.internal", "package_source": source}
    if version is not None:
        puppet["version"] = version
    result, host = render(tmp_path, tree, puppet, os_family=family)
    assert result.rc == 0, result.err
    script = (host / SCRIPT).read_text()
    assert f"PACKAGES=({' '.join(packages)})" in script
    assert ("apt-get install" in script) == (family == "debian")
    assert ("dnf" in script) == (family.lower() == "redhat")
    assert f"\nPUPPET_CONF={confdir}/puppet.conf\n" in script
    assert f"\nCSR_ATTRIBUTES={confdir}/csr_attributes.yaml\n" in script
    exact = str(version) if version and "." in str(version) else ""
    assert f"VERSION={exact}\n" in script or (not exact and "VERSION=''" in script)
    checked = subprocess.run(["shellcheck", "--format=gcc", host / SCRIPT], capture_output=True,
                             text=True)
    assert checked.returncode == 0, checked.stdout


def test_validate_accepts_every_rendered_file(tmp_path, tree):
    result, host = render(tmp_path, tree, {**FULL, "package_source": "openvox"}, "redhat")
    assert result.rc == 0, result.err
    report = run_cli("validate", host.parent)
    assert report.rc == 0, report.out
    for line in ("ok   web1 /etc/bootstrap/puppet-agent/puppet.conf (puppet config print)",
                 "ok   web1 /etc/bootstrap/puppet-agent/csr_attributes.yaml (puppet csr_attributes)",
                 "ok   web1 /usr/local/sbin/bootstrap-puppet-agent (shellcheck)"):
        assert line in report.out
    assert "s3cret" not in report.out + report.err


def test_validate_catches_what_puppet_would_silently_ignore(tmp_path, tree):
    result, host = render(tmp_path, tree, FULL)
    assert result.rc == 0, result.err
    conf = host / "files/etc/bootstrap/puppet-agent/puppet.conf"
    # An illegal section: puppet config print exits 0 and falls back to the defaults.
    conf.write_text(conf.read_text().replace("[agent]", "[agnet]"))
    csr = host / "files/etc/bootstrap/puppet-agent/csr_attributes.yaml"
    csr.write_text(csr.read_text().replace('"pp_role"', '"pp_rol"'))
    report = run_cli("validate", host.parent)
    assert report.rc == 1
    assert "FAIL web1 /etc/bootstrap/puppet-agent/puppet.conf (puppet config print)" in report.out
    assert "Illegal section 'agnet'" in report.out
    assert "FAIL web1 /etc/bootstrap/puppet-agent/csr_attributes.yaml (puppet csr_attributes)" \
        in report.out
    # That file holds the challenge password: Puppet's words about it are withheld.
    assert "withheld" in report.out
    assert "s3cret" not in report.out

    plain = {k: v for k, v in FULL.items() if k != "challenge_password"}
    result, host = render(tmp_path / "plain", tree, plain)
    assert result.rc == 0, result.err
    csr = host / "files/etc/bootstrap/puppet-agent/csr_attributes.yaml"
    csr.write_text(csr.read_text().replace('"pp_role"', '"pp_rol"'))
    report = run_cli("validate", host.parent)
    assert report.rc == 1
    assert "pp_rol" in report.out


def test_missing_server_is_a_clear_error(tmp_path, tree):
    result, _ = render(tmp_path, tree, {"environment": "production"})
    line = one_error(result)
    assert "hosts.yml:" in line and "host web1" in line and "key puppet.server" in line
    assert "is required" in line


def test_unknown_os_family_names_its_line(tmp_path, tree):
    text = hosts_yml({"server": "puppet.example.internal"}, os_family="windows")
    result, _ = render(tmp_path, tree, {"server": "puppet.example.internal"}, os_family="windows")
    line = one_error(result)
    assert f"hosts.yml:{line_of(text, 'os_family')}" in line
    assert "host web1" in line and "key os_family" in line
    assert "unknown os_family 'windows'" in line and "debian, redhat" in line


def test_missing_os_family_is_an_error(tmp_path, tree):
    result, _ = render(tmp_path, tree, {"server": "puppet.example.internal"}, os_family=None)
    line = one_error(result)
    assert "host web1" in line and "key os_family" in line and "is required" in line


def test_redhat_has_no_distro_package(tmp_path, tree):
    result, _ = render(tmp_path, tree, {"server": "puppet.example.internal"}, os_family="redhat")
    line = one_error(result)
    assert "key puppet.package_source" in line and "package_source to puppet or openvox" in line


@pytest.mark.parametrize(("puppet", "key", "message"), [
    ({"extension_requests": {"pp_instance_id": "i-1"}},
     "puppet.extension_requests.pp_instance_id", "filled in at boot"),
    ({"extension_requests": {"pp_rol": "web"}}, "puppet.extension_requests.pp_rol",
     "neither a registered extension name"),
    ({"version": "6"}, "puppet.version", "Puppet 7 and 8 only"),
    ({"version": "8.10"}, "puppet.version", "8.10.0"),
    ({"runinterval": "half an hour"}, "puppet.runinterval", "Puppet duration"),
    ({"package_source": "gem"}, "puppet.package_source", "'distro', 'puppet' or 'openvox'"),
    ({"challenge_password": "plain"}, "puppet.challenge_password", "secret reference"),
    ({"version": "8"}, "puppet.version", "distro packages follow the OS release"),
])
def test_bad_values_are_refused(tmp_path, tree, puppet, key, message):
    result, _ = render(tmp_path, tree, {"server": "puppet.example.internal", **puppet})
    line = one_error(result)
    assert "hosts.yml:" in line and "host web1" in line and f"key {key}:" in line
    assert message in line


INJECTIONS = [
    ("server", "$(touch /tmp/pwned)"),
    ("ca_server", "`touch /tmp/pwned`"),
    ("certname", "web1'; touch /tmp/pwned; echo '"),
    ("environment", 'prod"; touch /tmp/pwned; "'),
    ("server", "puppet.example.internal\n[agent]\nserver = evil.example"),
    ("certname", "web1\ncertname = evil"),
    ("environment", "production;reboot"),
    ("ca_server", "[main]"),
]


@pytest.mark.parametrize(("key", "value"), INJECTIONS)
def test_values_that_could_inject_are_refused_with_file_line_host_key(tmp_path, tree, key, value):
    puppet = {"server": "puppet.example.internal", key: value}
    text = hosts_yml(puppet)
    result, host = render(tmp_path, tree, puppet)
    line = one_error(result)
    assert f"hosts.yml:{line_of(text, key)}" in line, line
    assert "host web1" in line and f"key puppet.{key}" in line
    assert "is not a valid" in line
    assert not host.exists()


def read_distro_info(name: str) -> dict[str, str]:
    """version -> codename from Debian's distro-info-data (e.g. "12" -> "bookworm")."""
    with open(f"/usr/share/distro-info/{name}.csv") as handle:
        return {row["version"].split()[0]: row["series"] for row in csv.DictReader(handle)
                if row["version"]}


@pytest.mark.skipif(not os.path.exists("/usr/share/distro-info/debian.csv"),
                    reason="distro-info-data is not installed")
def test_release_table_codenames_match_distro_info():
    known = {"debian": read_distro_info("debian"), "ubuntu": read_distro_info("ubuntu")}
    for major, table in PUPPET_DEBS.items():
        for platform, codename in table.items():
            os_id, version = platform.split(":")
            assert known[os_id][version] == codename, (major, platform)
    for majors in OPENVOX_DEBS.values():
        for platform in majors:
            os_id, version = platform.split(":")
            assert version in known[os_id], platform


@pytest.mark.parametrize("source", ["puppet", "openvox"])
@pytest.mark.parametrize("family", ["debian", "redhat"])
@pytest.mark.parametrize("major", [7, 8])
def test_every_release_url_is_complete_https(source, family, major):
    plan = install_plan(source, family, str(major))
    assert plan.releases
    vendor = {"puppet": ("puppet.com", f"puppet{major}-release-"),
              "openvox": ("voxpupuli.org", f"openvox{major}-release-")}[source]
    suffix = ".deb" if family == "debian" else ".noarch.rpm"
    for release in plan.releases:
        url = urlsplit(release.url)
        assert url.scheme == "https" and url.netloc.endswith(vendor[0])
        name = url.path.lstrip("/")
        assert name.startswith(vendor[1]) and name.endswith(suffix)
        middle = name[len(vendor[1]):-len(suffix)]
        assert middle and "--" not in middle and not middle.endswith("-"), release.url
        assert all(re.fullmatch(r"[a-z]+:[0-9.]+", p) for p in release.platforms)
    tables = {("puppet", "debian"): PUPPET_DEBS, ("puppet", "redhat"): PUPPET_RPMS,
              ("openvox", "debian"): OPENVOX_DEBS, ("openvox", "redhat"): OPENVOX_RPMS}
    assert len(plan.releases) == len(tables[source, family][major])


def test_example_inventory_has_a_valid_puppet_host_per_os_family(tmp_path):
    out = tmp_path / "build"
    result = run_cli("render", ROOT / "inventory", "-o", out, "--limit", "puppet")
    assert result.rc == 0, result.err
    families = set()
    for manifest_path in out.glob("*/manifest.json"):
        manifest = json.loads(manifest_path.read_text())
        if "puppet-agent" not in manifest["roles"]:
            continue
        host = json.loads(run_cli("inventory", ROOT / "inventory", "--host",
                                  manifest["host"]).out)
        families.add(host["os_family"].lower())
    assert families == {"debian", "redhat"}
    report = run_cli("validate", out)
    assert report.rc == 0, report.out
    assert "FAIL" not in report.out and "SKIP" not in report.out


def test_identical_files_on_many_hosts_share_one_verdict(tmp_path, tree):
    hosts = {f"app{i}": None for i in range(1, 4)}
    group = {"hosts": hosts, "vars": {"os_family": "debian", "bootstrap_roles": ["puppet-agent"],
                                      "puppet": {"server": "puppet.example.internal"}}}
    inv = tree({"hosts.yml": yaml.safe_dump({"all": {"children": {"apps": group}}})})
    out = tmp_path / "build"
    assert run_cli("render", inv, "-o", out).rc == 0
    for name in hosts:
        conf = out / name / "files/etc/bootstrap/puppet-agent/puppet.conf"
        conf.write_text(conf.read_text().replace("[main]", "[mian]"))
    report = run_cli("validate", out)
    assert report.rc == 1
    for name in hosts:
        assert f"FAIL {name} /etc/bootstrap/puppet-agent/puppet.conf (puppet config print)" \
            in report.out
    assert report.out.count("Illegal section 'mian'") == 3
    assert str(out) not in report.out


def test_without_puppet_the_checks_are_listed_as_not_run(tmp_path, tree):
    result, host = render(tmp_path, tree, FULL)
    assert result.rc == 0, result.err
    report = run_cli("validate", host.parent, env={"PATH": str(tmp_path / "nothing")})
    assert report.rc == 0, report.out + report.err
    assert "SKIP web1 /etc/bootstrap/puppet-agent/puppet.conf (puppet config print: not " \
           "installed: puppet)" in report.out
    assert "warning: not installed, so not checked: puppet config print (needs puppet: " \
           "apt-get install puppet-agent)" in report.out
    assert "warning: not installed, so not checked: puppet csr_attributes (needs puppet, ruby: " \
           "apt-get install puppet-agent ruby)" in report.out


# -- the vendor's release package: installed only with its pinned sha256 ------------------------

RELEASE = b"!<arch>\nthe vendor's release package\n"
FAKES = {
    "curl": '#!/bin/bash\nwhile [ $# -gt 0 ]; do [ "$1" = -o ] && out=$2; shift; done\n'
            'cp "$FAKE_PAYLOAD" "$out"\n',
    "dpkg": '#!/bin/sh\nprintf \'%s\\n\' "$*" > "$FAKE_INSTALLED"\n',
}


def add_repository(tmp_path: Path, script: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The script's own say/fail/download/verify_release/add_repository functions, run on this
    machine's /etc/os-release with curl answering RELEASE and dpkg replaced by a recorder."""
    text = script.read_text()
    parts = [re.search(r"^PACKAGES=.*$", text, re.M)[0], "CLEANUP=()"]
    for name in ("say", "fail", "cleanup"):
        parts.append(re.search(rf"^{name}\(\) .*$", text, re.M)[0])
    for name in ("download", "verify_release", "add_repository"):
        parts.append(re.search(rf"^{name}\(\) {{\n.*?^}}$", text, re.M | re.S)[0])
    tmp_path.mkdir()
    harness = tmp_path / "harness.sh"
    harness.write_text("\n".join([*parts, "trap cleanup EXIT", "add_repository", ""]))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in FAKES.items():
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    (tmp_path / "release").write_bytes(RELEASE)
    installed = tmp_path / "installed"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
           "FAKE_PAYLOAD": str(tmp_path / "release"), "FAKE_INSTALLED": str(installed)}
    return subprocess.run(["bash", str(harness)], capture_output=True, text=True, env=env,
                          timeout=waits.allowance(60)), installed


def this_release() -> str:
    """The release package file of puppet 8 for this machine's OS release, if the table has it."""
    info = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines()
                if "=" in line)
    platform = f"{info.get('ID', '').strip(chr(34))}:{info.get('VERSION_ID', '').strip(chr(34))}"
    for release in install_plan("puppet", "debian", "8").releases:
        if platform in release.platforms:
            return release.file
    pytest.skip(f"{platform} is not in the Puppet 8 release table")


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="coreutils sha256sum is missing")
@pytest.mark.parametrize(("pinned", "installs", "message"), [
    (hashlib.sha256(RELEASE).hexdigest(), True, ""),
    (hashlib.sha256(RELEASE + b"x").hexdigest(), False, "not installing it"),
    (None, False, "has no pinned sha256: set puppet.release_sha256."),
])
def test_the_release_package_is_installed_only_with_its_pinned_sha256(tmp_path, tree, pinned,
                                                                       installs, message):
    file = this_release()
    puppet: dict[str, Any] = {"server": "puppet.example.internal", "package_source": "puppet",
                              "version": 8}
    if pinned is not None:
        puppet["release_sha256"] = {file: pinned.upper()}
    result, host = render(tmp_path, tree, puppet)
    assert result.rc == 0, result.err
    run, installed = add_repository(tmp_path / "run", host / SCRIPT)
    assert (run.returncode == 0) == installs, run.stderr
    assert message in run.stderr
    if installs:
        assert installed.read_text().startswith("-i ")
    else:
        assert not installed.exists()
        if pinned is None:
            assert f"puppet.release_sha256.{file}" in run.stderr


def test_a_pin_for_a_release_package_the_host_does_not_use_is_refused(tmp_path, tree):
    puppet = {"server": "puppet.example.internal", "package_source": "openvox", "version": 8,
              "release_sha256": {"puppet8-release-bookworm.deb": "0" * 64}}
    text = hosts_yml(puppet)
    result, _ = render(tmp_path, tree, puppet)
    line = one_error(result)
    assert f"hosts.yml:{line_of(text, 'puppet8-release-bookworm.deb')}" in line, line
    assert "key puppet.release_sha256.puppet8-release-bookworm.deb" in line
    assert "openvox8-release-debian12.deb" in line
