"""The inventory of Chef and Puppet hosts that the launch tests render and launch against moto."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from support.cloud import BUCKET, REGION

ROLE = "chef-fleet-boot_chef+fleet"
VALIDATOR = ("-----BEGIN RSA PRIVATE KEY-----\n"
             "VALIDATOR-SECRET-d41d8cd98f00b204e9800998ecf8427e\n"
             "-----END RSA PRIVATE KEY-----\n")
SECRET_MARK = "VALIDATOR-SECRET"
# The calls that change something; a launch that changes nothing makes none of them.
WRITES = {"CreateRole", "UpdateAssumeRolePolicy", "PutRolePolicy", "CreateInstanceProfile",
          "AddRoleToInstanceProfile", "RemoveRoleFromInstanceProfile", "RunInstances",
          "CreateLaunchTemplate", "CreateLaunchTemplateVersion", "ModifyLaunchTemplate"}


def inventory(tmp: Path, ami: str, hosts: dict[str, dict[str, Any]] | None = None,
              chef: dict[str, Any] | None = None) -> Path:
    """Chef hosts web01, web02 (gzip user-data) and a Puppet host pup01, all to be launched."""
    chef_vars = {
        "server_url": "https://chef.example.internal/organizations/fleet",
        "validation_client_name": "fleet-validator",
        "run_list": ["recipe[base]"],
        "s3": {"bucket": BUCKET, "prefix": "chef/fleet", "region": REGION},
        "validation_key": {"file": "secrets/validator.pem"},
        **(chef or {}),
    }
    chef_hosts: dict[str, Any] = {"web01": None, "web02": {"cloud_init": {"gzip": "always"}}}
    puppet_hosts: dict[str, Any] = {"pup01": None}
    for name, values in (hosts or {}).items():
        group = puppet_hosts if name.startswith("pup") else chef_hosts
        group[name] = {**(group.get(name) or {}), **values}
    doc = {"all": {"vars": {"os_family": "debian"}, "children": {"ec2": {
        "vars": {
            "bootstrap_roles": ["cloud-init", "ec2-instance"],
            "aws": {"ami": ami, "region": REGION, "tags": {"team": "web"}},
        },
        "children": {
            "chef_nodes": {"vars": {"bootstrap_roles": ["chef-client"], "chef": chef_vars},
                           "hosts": chef_hosts},
            "puppet_nodes": {"vars": {"bootstrap_roles": ["puppet-agent"],
                                      "puppet": {"server": "puppet.example.internal"}},
                             "hosts": puppet_hosts},
        },
    }}}}
    inv = tmp / "inv"
    (inv / "secrets").mkdir(parents=True, exist_ok=True)
    (inv / "secrets" / "validator.pem").write_text(VALIDATOR)
    (inv / "hosts.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return inv


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def assert_no_secret(result) -> None:  # type: ignore[no-untyped-def]
    assert SECRET_MARK not in result.out + result.err
    assert "Traceback" not in result.err
