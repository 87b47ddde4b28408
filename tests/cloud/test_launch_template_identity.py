"""A host with ``aws.launch_template`` stands for many instances: its user-data names none.

Every instance an Auto Scaling group starts from the template gets the same user-data, so the
template carries no host name, FQDN, Chef node name or Puppet certname of the inventory host:
each instance is named after its own instance id at first boot (``cloud_init.hostname_pattern``,
default ``{instance_id}``), and its tags say which template it came from
(``bootstrap:template``), not ``Name``/``bootstrap:host``, so ``terminate HOST`` never matches
them. moto in server mode plays EC2; the naming script from the rendered user-data runs here
against a loopback IMDSv2 stub, with a stand-in ``hostname`` and a folder standing for /.
"""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from support import waits
from support.cli import one_error, run_cli
from support.cloud import REGION
from support.imds import INSTANCE_ID, Imds
from support.launch import inventory
from support.userdata import cloud_config, parts

PATTERN = "web-{instance_id}.example.internal"
NAMED = f"web-{INSTANCE_ID}.example.internal"


def template_hosts(ami: str, **extra: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """web02 (Chef) and pup01 (Puppet) as launch templates; ``extra`` adds namespaces to web02."""
    aws = {"ami": ami, "region": REGION, "tags": {"team": "web"}}
    return {
        "web02": {"aws": {**aws, "launch_template": "web-tier"},
                  "cloud_init": {"hostname_pattern": PATTERN}, **extra},
        "pup01": {"aws": {**aws, "launch_template": "pup-tier"}},
    }


def template_data(cloud: Any, name: str) -> dict[str, Any]:
    [version] = cloud.client("ec2").describe_launch_template_versions(
        LaunchTemplateName=name, Versions=["$Latest"])["LaunchTemplateVersions"]
    return version["LaunchTemplateData"]


def decoded(user_data_b64: str) -> bytes:
    """The user-data an instance of the template reads, every part decoded, as one text."""
    raw = base64.b64decode(user_data_b64, validate=True)
    return b"\n".join(content for _, _, content in parts(raw))


def test_the_template_names_no_host_and_its_instances_are_tagged_by_template(cloud):
    inv = inventory(cloud.tmp, cloud.ami, hosts=template_hosts(cloud.ami))
    cloud.render(inv)
    result = cloud.launch(inv, "web02", "pup01")
    assert result.rc == 0, result.err
    for host, template, pattern in (("web02", "web-tier", PATTERN),
                                    ("pup01", "pup-tier", "{instance_id}")):
        data = template_data(cloud, template)
        text = decoded(data["UserData"])
        assert host.encode() not in text
        config = cloud_config(base64.b64decode(data["UserData"]))
        assert "hostname" not in config and "fqdn" not in config
        assert config["preserve_hostname"] is True
        prefix, _, suffix = pattern.partition("{instance_id}")
        entry = config["bootcmd"][0]
        assert entry[:5] == ["cloud-init-per", "instance", "bootstrap-hostname", "sh", "-c"]
        assert entry[6:] == ["bootstrap-hostname", prefix, suffix]
        for spec in data["TagSpecifications"]:
            tags = {t["Key"]: t["Value"] for t in spec["Tags"]}
            assert tags == {"bootstrap:template": host, "team": "web"}, spec
        assert {s["ResourceType"] for s in data["TagSpecifications"]} == {"instance", "volume"}
    # Each instance registers under its own id: Chef's node name and Puppet's certname are
    # completed on the instance, never rendered.
    chef_script = (cloud.build / "web02" / "files/usr/local/sbin/bootstrap-chef-client").read_text()
    assert "NODE_NAME_PREFIX=''" in chef_script and "NODE_NAME_SUFFIX=''" in chef_script
    puppet_script = (cloud.build / "pup01" / "files/usr/local/sbin/bootstrap-puppet-agent")
    assert "CERTNAME=''" in puppet_script.read_text()


def test_an_instance_host_keeps_its_name_and_tags(cloud):
    inv = inventory(cloud.tmp, cloud.ami)
    cloud.render(inv)
    assert cloud.launch(inv, "web01").rc == 0
    [instance] = cloud.instances("web01")
    tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
    assert tags["Name"] == "web01" and tags["bootstrap:host"] == "web01"
    assert "bootstrap:template" not in tags
    config = cloud_config((cloud.build / "web01" / "user-data").read_bytes())
    assert config["hostname"] == "web01" and "bootcmd" not in config


def test_terminate_host_does_not_match_the_instances_of_its_template(cloud):
    inv = inventory(cloud.tmp, cloud.ami, hosts=template_hosts(cloud.ami))
    cloud.render(inv)
    assert cloud.launch(inv, "web02").rc == 0
    ec2 = cloud.client("ec2")
    # What the Auto Scaling group does: instances from the template, with its tags.
    started = ec2.run_instances(LaunchTemplate={"LaunchTemplateName": "web-tier"},
                                MinCount=2, MaxCount=2)
    ids = [i["InstanceId"] for i in started["Instances"]]
    for instance in started["Instances"]:
        # EC2 adds its own aws:ec2launchtemplate:* tags; the template's are these.
        tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])
                if not t["Key"].startswith("aws:")}
        assert tags == {"bootstrap:template": "web02", "team": "web"}
    result = run_cli("terminate", inv, "web02", "--endpoint-url", cloud.endpoint, env=cloud.env)
    assert result.rc == 0, result.err
    assert f"web02: no instance tagged bootstrap:host=web02 in {REGION}; nothing to terminate" \
        in result.out
    states = {i["InstanceId"]: i["State"]["Name"] for r in ec2.describe_instances(
        InstanceIds=ids)["Reservations"] for i in r["Instances"]}
    assert set(states.values()) == {"running"}, states


# -- per-instance values on a template are errors naming their key ----------------------------


def render_error(tmp_path: Path, hosts: dict[str, dict[str, Any]]) -> str:
    inv = inventory(tmp_path, "ami-0d1e2b3c4a5f60718", hosts=hosts)
    out = tmp_path / "build"
    result = run_cli("render", inv, "-o", out)
    line = one_error(result)
    assert not out.exists() or not (out / "web02").exists()
    return line


@pytest.mark.parametrize(("values", "key", "says"), [
    ({"cloud_init": {"hostname": "web02"}}, "cloud_init.hostname",
     "every instance of launch template web-tier would be named web02"),
    ({"cloud_init": {"fqdn": "web02.example.internal"}}, "cloud_init.fqdn",
     "cloud_init.hostname_pattern"),
    ({"chef": {"server_url": "https://chef.example.internal/organizations/fleet",
               "validation_client_name": "fleet-validator",
               "s3": {"bucket": "fleet-boot", "prefix": "chef/fleet", "region": REGION},
               "validation_key": {"file": "secrets/validator.pem"}, "node_name": "web02"}},
     "chef.node_name", "would register as node web02: put %s"),
])
def test_a_fixed_identity_on_a_chef_template_is_an_error(tmp_path, values, key, says):
    hosts = template_hosts("ami-0d1e2b3c4a5f60718")
    hosts["web02"] = {"aws": hosts["web02"]["aws"], **values}
    line = render_error(tmp_path, hosts)
    assert "host web02" in line and f"key {key}:" in line, line
    assert "hosts.yml:" in line and says in line, line


def test_a_fixed_certname_on_a_puppet_template_is_an_error(tmp_path):
    hosts = template_hosts("ami-0d1e2b3c4a5f60718")
    hosts["pup01"]["puppet"] = {"server": "puppet.example.internal", "certname": "pup01"}
    inv = inventory(tmp_path, "ami-0d1e2b3c4a5f60718", hosts=hosts)
    line = one_error(run_cli("render", inv, "-o", tmp_path / "build"))
    assert "host pup01" in line and "key puppet.certname:" in line, line
    assert "launch template pup-tier" in line and "instance id" in line, line


def test_a_chef_pattern_with_the_instance_id_is_fine_on_a_template(tmp_path):
    hosts = template_hosts("ami-0d1e2b3c4a5f60718")
    inv = inventory(tmp_path, "ami-0d1e2b3c4a5f60718", hosts=hosts,
                    chef={"node_name": "web-%s"})
    result = run_cli("render", inv, "-o", tmp_path / "build")
    assert result.rc == 0, result.err
    script = (tmp_path / "build/web02/files/usr/local/sbin/bootstrap-chef-client").read_text()
    assert "NODE_NAME_PREFIX=web-" in script


@pytest.mark.parametrize(("pattern", "says"), [
    ("web", "exactly once"),
    ("{instance_id}-{instance_id}", "exactly once"),
    ("{instance_id}-{az}", "the only field"),
    ("web_{instance_id}", "does not give a host name"),
    ("w" * 45 + "-{instance_id}", "does not give a host name"),
    ("{instance_id}.", "does not give a host name"),
    ("$(reboot){instance_id}", "does not give a host name"),
])
def test_a_bad_hostname_pattern_names_its_key(tmp_path, pattern, says):
    hosts = template_hosts("ami-0d1e2b3c4a5f60718")
    hosts["web02"]["cloud_init"] = {"hostname_pattern": pattern}
    line = render_error(tmp_path, hosts)
    assert "host web02" in line and "key cloud_init.hostname_pattern:" in line, line
    assert says in line, line


def test_a_pattern_and_a_fixed_name_together_is_an_error(tmp_path):
    inv = inventory(tmp_path, "ami-0d1e2b3c4a5f60718", hosts={"web01": {"cloud_init": {
        "hostname": "web01", "hostname_pattern": "web-{instance_id}"}}})
    line = one_error(run_cli("render", inv, "-o", tmp_path / "build"))
    assert "host web01" in line and "key cloud_init.hostname_pattern:" in line, line
    assert "not both" in line


def test_an_instance_host_may_be_named_by_its_instance_id_too(tmp_path):
    inv = inventory(tmp_path, "ami-0d1e2b3c4a5f60718", hosts={"web01": {"cloud_init": {
        "hostname_pattern": "web-{instance_id}"}}})
    assert run_cli("render", inv, "-o", tmp_path / "build").rc == 0
    config = cloud_config((tmp_path / "build/web01/user-data").read_bytes())
    assert "hostname" not in config
    assert config["bootcmd"][0][6:] == ["bootstrap-hostname", "web-", ""]


# -- the naming script, run here against a loopback IMDSv2 ------------------------------------


@pytest.fixture
def naming(tmp_path):
    """Render web02 (pattern ``pattern``) and run its bootcmd entry; returns (result, root, log)."""

    def run(pattern: str = PATTERN, *, imds: Imds | None = None,
            endpoint: str | None = None) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
        hosts = template_hosts("ami-0d1e2b3c4a5f60718")
        hosts["web02"]["cloud_init"] = {"hostname_pattern": pattern}
        inv = inventory(tmp_path, "ami-0d1e2b3c4a5f60718", hosts=hosts)
        out = tmp_path / "build"
        assert run_cli("render", inv, "-o", out).rc == 0
        entry = cloud_config((out / "web02" / "user-data").read_bytes())["bootcmd"][0]
        root = tmp_path / "root"
        (root / "etc").mkdir(parents=True, exist_ok=True)
        (root / "etc/hostname").write_text("localhost\n")
        (root / "etc/hosts").write_text("127.0.0.1 localhost\n127.0.1.1 old.example old\n"
                                        "::1 localhost ip6-localhost\n")
        stand_ins = tmp_path / "bin"
        stand_ins.mkdir(exist_ok=True)
        log = tmp_path / "hostname.log"
        (stand_ins / "hostname").write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {log}\n')
        (stand_ins / "hostname").chmod(0o755)
        env = {**os.environ, "PATH": f"{stand_ins}:{os.environ['PATH']}",
               "BOOTSTRAP_IMDS_ENDPOINT": endpoint or (imds.url if imds else ""),
               "BOOTSTRAP_ROOT": str(root), "BOOTSTRAP_ATTEMPTS": "2"}
        # What cloud-init-per runs: everything after its frequency and name.
        assert entry[:3] == ["cloud-init-per", "instance", "bootstrap-hostname"]
        result = subprocess.run(entry[3:], env=env, capture_output=True, text=True,
                                timeout=waits.allowance(60))
        return result, root, log

    return run


def test_the_script_names_the_host_after_its_instance_id(naming):
    with Imds() as imds:
        result, root, log = naming(imds=imds)
    assert result.returncode == 0, result.stderr
    assert (root / "etc/hostname").read_text() == f"web-{INSTANCE_ID}\n"
    assert log.read_text() == f"web-{INSTANCE_ID}\n"
    assert (root / "etc/hosts").read_text() == (
        "127.0.0.1 localhost\n::1 localhost ip6-localhost\n"
        f"127.0.1.1 {NAMED} web-{INSTANCE_ID}\n")
    assert f"bootstrap-hostname: host name: {NAMED}" in result.stderr
    # IMDSv2: a session token first, then the id with it.
    assert imds.requests == ["PUT /latest/api/token", "GET /latest/meta-data/instance-id"]


def test_a_plain_label_pattern_leaves_etc_hosts_alone(naming):
    with Imds() as imds:
        result, root, _ = naming("{instance_id}", imds=imds)
    assert result.returncode == 0, result.stderr
    assert (root / "etc/hostname").read_text() == f"{INSTANCE_ID}\n"
    assert "old.example" in (root / "etc/hosts").read_text()


@pytest.mark.parametrize("bad", ["i-0abc; touch /tmp/pwned-hostname", "i-", "web01", "i-0ABC"])
def test_an_unexpected_instance_id_names_nothing(naming, bad):
    with Imds(instance_id=bad) as imds:
        result, root, log = naming(imds=imds)
    assert result.returncode == 1
    assert "IMDS gave an unexpected instance id" in result.stderr
    assert (root / "etc/hostname").read_text() == "localhost\n"
    assert not log.exists()
    assert not Path("/tmp/pwned-hostname").exists()


def test_no_metadata_service_is_one_clear_error(naming):
    from support.moto import free_port

    result, root, log = naming(endpoint=f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(
        "bootstrap-hostname: error: no instance id from IMDSv2 at http://127.0.0.1:")
    assert (root / "etc/hostname").read_text() == "localhost\n"
    assert not log.exists()


def test_the_script_passes_shellcheck_as_posix_sh(tmp_path):
    from bootstrap.roles.cloud_init.hostname import SCRIPT

    path = tmp_path / "hostname.sh"
    path.write_text("#!/bin/sh\n" + SCRIPT)
    checked = subprocess.run(["shellcheck", "--shell=sh", "--format=gcc", str(path)],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout


def test_the_example_template_host_names_nobody(tmp_path):
    from support.cli import ROOT

    out = tmp_path / "build"
    assert run_cli("render", ROOT / "inventory", "-o", out, "--limit", "app01").rc == 0
    raw = (out / "app01" / "user-data").read_bytes()
    text = b"\n".join(content for _, _, content in parts(raw))
    # The one mention is where the template's published build lives, which every instance of
    # the group fetches (app01 pulls its files from S3); nothing names an instance app01.
    assert text.count(b"app01") == text.count(b"hosts/app01.json") == 1
    config = cloud_config(raw)
    assert config["bootcmd"][0][6:] == ["bootstrap-hostname", "app-", ".example.internal"]
    assert config["preserve_hostname"] is True and "fqdn" not in config
