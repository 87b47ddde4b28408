"""Template values of the ``chef-client`` role: every Chef-vs-Cinc and per-OS decision, in Python.

The role renders four files: ``client.rb``, ``first-boot.json``, the Ohai ``ec2`` hint (written
to cloud-init's ``write_files``) and one bootstrap script (an ``x-shellscript`` user-data part)
that installs the client, fetches the validator key from S3 with the instance role, registers
the node with a first converge and deletes the key. The templates only print these values.

The client is installed from the package ``chef.package`` names, and only when the downloaded
file has the sha256 the inventory pins (the digest the vendor's Omnitruck metadata publishes):
no installer script is piped to a shell. Without ``chef.package`` the client must be in the
image; the script then refuses to install anything.

Cinc is Chef rebuilt under other names: ``/etc/cinc`` and ``cinc-client`` instead of
``/etc/chef`` and ``chef-client``. Upstream Ohai hard-codes its hints path to
``/etc/chef/ohai/hints`` (``lib/ohai/config.rb``), so client.rb always names the hints folder
explicitly and the hint is written there, whichever distribution reads it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bootstrap.errors import BootstrapError, did_you_mean
from bootstrap.hosts.loader import Target
from bootstrap.hosts.secrets import SecretRef
from bootstrap.roles.chef_client.fleet_policy import location_name
from bootstrap.roles.chef_client.settings import Chef, S3Location

VALIDATION_OBJECT = "validation.pem"
LICENSE_OBJECT = "license_key"
SCRIPT = "/usr/local/sbin/bootstrap-chef-client"
# curl signs S3 requests itself from this version on (--aws-sigv4).
CURL_MIN = (7, 75)


@dataclass(frozen=True)
class Distribution:
    """Names and places of one build of the Chef client."""

    conf_dir: str
    client: str
    var_dir: str

    @property
    def client_bin(self) -> str:
        return f"/opt/{self.conf_dir.rsplit('/', 1)[1]}/bin/{self.client}"

    @property
    def ruby(self) -> str:
        """The Ruby the client ships with, which has chef-config and Ohai."""
        return f"/opt/{self.conf_dir.rsplit('/', 1)[1]}/embedded/bin/ruby"


DISTRIBUTIONS = {
    "cinc": Distribution("/etc/cinc", "cinc-client", "/var/cinc"),
    "chef": Distribution("/etc/chef", "chef-client", "/var/chef"),
}
# A query parameter the commercial download API wants; its value is the license key, a secret
# that only the node fetches, so it is appended there.
LICENSE_PARAMETER = "license_id="

# How each OS family gets curl when the image lacks it (minimal Debian images do).
OS_FAMILIES = {
    "debian": "apt-get update -qq && DEBIAN_FRONTEND=noninteractive "
              "apt-get install -y -qq curl ca-certificates",
    "redhat": "dnf install -y -q curl || yum install -y -q curl",
}
# How each OS family installs a package file; both refuse a file of the other format.
PACKAGE_INSTALLERS = {"debian": ("dpkg", "-i"), "redhat": ("rpm", "-U", "--replacepkgs")}


def os_family(target: Target) -> str:
    """The host's ``os_family`` variable, lower case (Ansible spells it Debian / RedHat)."""
    value = target.vars.get("os_family")
    known = ", ".join(sorted(OS_FAMILIES))
    if value is None:
        raise BootstrapError(f"os_family is required by the chef-client role: one of {known}",
                             origin=target.origin(), host=target.name, key="os_family")
    if isinstance(value, str) and value.lower() in OS_FAMILIES:
        return value.lower()
    raise BootstrapError(f"unknown os_family {value!r}{did_you_mean(str(value).lower(), OS_FAMILIES)}: "
                         f"the chef-client role knows {known} (Debian/Ubuntu, RHEL/Amazon Linux)",
                         origin=target.origin("os_family"), host=target.name, key="os_family")


def s3_url(location: S3Location, key: str) -> str:
    """The object's URL on AWS: virtual-hosted style, unless a dotted bucket name would break TLS."""
    domain = "amazonaws.com.cn" if location.region.startswith("cn-") else "amazonaws.com"
    if "." in location.bucket:
        return f"https://s3.{location.region}.{domain}/{location.bucket}/{key}"
    return f"https://{location.bucket}.s3.{location.region}.{domain}/{key}"


def host_settings(hostvars: dict[str, Any]) -> Chef:
    """A rendered host's chef settings from its resolved vars, for the role's checks.

    In resolved vars a secret is only a placeholder, so the secret fields get a reference that
    is never read: the checks need names and paths, not keys.
    """
    given = dict(hostvars.get("chef") or {})
    for key in ("validation_key", "license_key"):
        if key in given:
            given[key] = SecretRef("env", "UNUSED_IN_CHECKS")
    return Chef.model_validate(given)


def s3_objects(settings: Chef) -> list[tuple[str, SecretRef]]:
    """(key, secret) of every object ``bootstrap launch`` must upload for this host."""
    out = []
    if settings.validation_key is not None:
        out.append((settings.s3.key(VALIDATION_OBJECT), settings.validation_key))
    if settings.license_key is not None:
        out.append((settings.s3.key(LICENSE_OBJECT), settings.license_key))
    return out


def first_boot(settings: Chef) -> dict[str, Any]:
    """The JSON the first converge starts from: attributes plus the run list or the policy.

    The environment goes here too (``chef_environment``, read by ``Node#consume_chef_environment``)
    rather than into client.rb, whose ``environment`` setting chef-config does not define.
    """
    doc = dict(settings.attributes)
    if settings.environment is not None:
        doc["chef_environment"] = settings.environment
    if settings.policy_name is not None:
        doc["policy_name"] = settings.policy_name
        doc["policy_group"] = settings.policy_group
    else:
        doc["run_list"] = list(settings.run_list)
    return doc


def context(target: Target, settings: Chef) -> dict[str, Any]:
    family = os_family(target)
    dist = DISTRIBUTIONS[settings.distribution]
    conf = dist.conf_dir
    pattern = settings.node_name
    prefix, found, suffix = pattern.partition("%s")
    template = getattr(target.settings.get("aws"), "launch_template", None)
    if template and not found:
        # Every instance of the template would register as the same node.
        raise BootstrapError(f"every instance of launch template {template} would register as "
                             f"node {pattern}: put %s (the instance id) in chef.node_name",
                             origin=target.origin("chef", "node_name"), host=target.name,
                             key="chef.node_name")
    location = settings.s3
    return {
        "os_family": family,
        "ensure_curl": OS_FAMILIES[family],
        "curl_min": CURL_MIN,
        "distribution": settings.distribution,
        "client": dist.client,
        "client_bin": dist.client_bin,
        "version": settings.version,
        "package": {
            "url": settings.package.url if settings.package else "",
            "sha256": settings.package.sha256 if settings.package else "",
            "installer": list(PACKAGE_INSTALLERS[family]),
            # The license key is a secret: appended on the node, never rendered.
            "license": bool(settings.package and settings.license_key
                            and settings.package.url.endswith(LICENSE_PARAMETER)),
        },
        "paths": {
            "conf_dir": conf,
            "client_rb": f"{conf}/client.rb",
            "client_d": f"{conf}/client.d",
            "node_name_rb": f"{conf}/client.d/node_name.rb",
            "validation_key": f"{conf}/validation.pem",
            "client_key": f"{conf}/client.pem",
            "first_boot": f"{conf}/first-boot.json",
            "hints_dir": f"{conf}/ohai/hints",
            "ec2_hint": f"{conf}/ohai/hints/ec2.json",
            "file_cache": f"{dist.var_dir}/cache",
            "file_backup": f"{dist.var_dir}/backup",
            "script": SCRIPT,
        },
        # A fixed name goes into client.rb; a pattern with %s is completed at boot from IMDS.
        "node_name": None if found else pattern,
        "node_name_prefix": prefix if found else "",
        "node_name_suffix": suffix if found else "",
        "delete_validation_key": "yes" if settings.delete_validation_key else "no",
        "first_boot_json": json.dumps(first_boot(settings), indent=2, sort_keys=True) + "\n",
        "s3": {
            "bucket": location.bucket,
            "region": location.region,
            "validation_key": location.key(VALIDATION_OBJECT),
            "validation_url": s3_url(location, location.key(VALIDATION_OBJECT)),
            "validation_path": f"/{location.bucket}/{location.key(VALIDATION_OBJECT)}",
            "license_key": location.key(LICENSE_OBJECT) if settings.license_key else None,
            "license_url": s3_url(location, location.key(LICENSE_OBJECT)),
            "license_path": f"/{location.bucket}/{location.key(LICENSE_OBJECT)}",
        },
        "policy_file": f"{location_name(location)}.policy.json",
    }
