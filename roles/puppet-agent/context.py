"""Template values of the ``puppet-agent`` role: packages, repositories, paths and settings.

Every decision is made here and handed to the templates as plain values: which package a
source installs on which OS family, which release package adds the vendor's repository on
which OS release (a table, so a missing codename can never produce a half-empty URL), where
the configuration lives, and which lines puppet.conf and csr_attributes.yaml hold.

The certname defaults to the EC2 instance id, which is never rendered: the bootstrap script
reads it through IMDSv2 when the instance boots. So the build's puppet.conf and
csr_attributes.yaml are delivered to a staging folder, and the script copies them into Puppet's
confdir adding the certname and ``pp_instance_id``, before the agent package is even installed.

The challenge password never travels in user-data, which anyone on the instance can read from
the metadata service and which ``DescribeInstanceAttribute`` returns: a host delivered by
user-data (it has the cloud-init role) keeps it in S3 (``puppet.s3``, uploaded by ``bootstrap
launch``), and the script fetches it with the instance role at first boot into the live
csr_attributes.yaml, mode 0600. A host delivered only by ``bootstrap push`` gets it in the staged
csr_attributes.yaml, a secret file written 0600 over SSH.
The delivered files then stay exactly as built (``bootstrap verify`` finds no drift), and a
later ``bootstrap push`` of a changed puppet.conf cannot drop the certname: the role's apply
step (the same script) refreshes the live copy and keeps the registered certname.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bootstrap.errors import BootstrapError
from bootstrap.hosts.loader import Target
from bootstrap.roles.puppet_agent.fleet_policy import location_name
from bootstrap.roles.puppet_agent.settings import BOOT_EXTENSION, DEFAULT_MAJOR, Puppet, S3Location

FAMILIES = ("debian", "redhat")
CHALLENGE_PASSWORD_OID = "1.2.840.113549.1.9.7"
SCRIPT = "/usr/local/sbin/bootstrap-puppet-agent"
STAGING = "/etc/bootstrap/puppet-agent"
MARKER = "/var/lib/bootstrap/puppet-agent.done"
SERVICE = "puppet"
# The role whose user-data delivers the host's files: then the password must come from S3.
USER_DATA_ROLE = "cloud-init"
# curl signs S3 requests itself from this version on (--aws-sigv4).
CURL_MIN = (7, 75)
# How each OS family gets curl when the image lacks it (minimal Debian images do).
ENSURE_CURL = {
    "debian": "apt-get update -qq && DEBIAN_FRONTEND=noninteractive "
              "apt-get install -y -qq curl ca-certificates",
    "redhat": "dnf install -y -q curl || yum install -y -q curl",
}

# os-release IDs of the Enterprise Linux rebuilds that share RHEL's packages.
EL_IDS = ("rhel", "centos", "rocky", "almalinux", "ol")

# OS releases each vendor publishes a release package for: Debian and Ubuntu by os-release
# "ID:VERSION_ID" with the codename Puppet's file names use; RPM platforms by the name in the
# file and the major version.
PUPPET_DEBS = {
    7: {"debian:11": "bullseye", "debian:12": "bookworm", "ubuntu:20.04": "focal",
        "ubuntu:22.04": "jammy"},
    8: {"debian:11": "bullseye", "debian:12": "bookworm", "ubuntu:20.04": "focal",
        "ubuntu:22.04": "jammy", "ubuntu:24.04": "noble"},
}
PUPPET_RPMS = {
    7: (("el", "8"), ("el", "9"), ("amazon", "2"), ("amazon", "2023")),
    8: (("el", "8"), ("el", "9"), ("amazon", "2"), ("amazon", "2023")),
}
OPENVOX_DEBS = {
    7: ("debian:11", "debian:12", "ubuntu:20.04", "ubuntu:22.04", "ubuntu:24.04"),
    8: ("debian:11", "debian:12", "debian:13", "ubuntu:20.04", "ubuntu:22.04", "ubuntu:24.04"),
}
OPENVOX_RPMS = {
    7: (("el", "8"), ("el", "9"), ("amazon", "2023")),
    8: (("el", "8"), ("el", "9"), ("el", "10"), ("amazon", "2023")),
}
PUPPET_APT = "https://apt.puppet.com"
PUPPET_YUM = "https://yum.puppet.com"
OPENVOX_APT = "https://apt.voxpupuli.org"
OPENVOX_YUM = "https://yum.voxpupuli.org"


class PlanError(ValueError):
    """A package source that cannot serve the host, and the setting to change."""

    def __init__(self, message: str, key: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True, slots=True)
class Release:
    """The release package that adds the vendor's repository on some OS releases."""

    platforms: tuple[str, ...]  # os-release "ID:VERSION" values (RPM: major version only)
    url: str

    @property
    def file(self) -> str:
        return self.url.rsplit("/", 1)[1]


@dataclass(frozen=True, slots=True)
class Install:
    """How one package source puts the agent on one OS family."""

    packages: tuple[str, ...]  # candidates: the first one the package manager knows is installed
    confdir: str
    puppet: str  # the puppet executable
    releases: tuple[Release, ...] = ()  # empty: the OS's own repositories
    version: str = ""  # an exact version to pin, or empty

    @property
    def supported(self) -> str:
        return ", ".join(p for r in self.releases for p in r.platforms)


def install_plan(source: str, family: str, version: str | None) -> Install:
    """The packages, paths and repositories of ``source`` on ``family``; ``version`` is a
    collection ("8") or an exact release ("8.10.0")."""
    major = int(version.split(".")[0]) if version else DEFAULT_MAJOR
    exact = version if version and "." in version else ""
    if source == "distro":
        if family != "debian":
            raise PlanError("RHEL and Amazon Linux ship no Puppet package: set "
                            "puppet.package_source to puppet or openvox", "package_source")
        if version:
            raise PlanError("distro packages follow the OS release: puppet.version applies to "
                            "package_source puppet or openvox only", "version")
        # Debian 12 and Ubuntu 24.04 call it puppet-agent; older releases call it puppet.
        return Install(("puppet-agent", "puppet"), "/etc/puppet", "/usr/bin/puppet")
    aio = {"confdir": "/etc/puppetlabs/puppet", "puppet": "/opt/puppetlabs/bin/puppet",
           "version": exact}
    if source == "puppet":
        return Install(("puppet-agent",), releases=_puppet_releases(family, major), **aio)
    if source == "openvox":
        return Install(("openvox-agent",), releases=_openvox_releases(family, major), **aio)
    raise PlanError(f"unknown package source {source!r}", "package_source")


def _puppet_releases(family: str, major: int) -> tuple[Release, ...]:
    if family == "debian":
        return tuple(Release((platform,), f"{PUPPET_APT}/puppet{major}-release-{codename}.deb")
                     for platform, codename in PUPPET_DEBS[major].items())
    return tuple(Release(_rpm_platforms(name, ver),
                         f"{PUPPET_YUM}/puppet{major}-release-{name}-{ver}.noarch.rpm")
                 for name, ver in PUPPET_RPMS[major])


def _openvox_releases(family: str, major: int) -> tuple[Release, ...]:
    if family == "debian":
        return tuple(Release((platform,),
                             f"{OPENVOX_APT}/openvox{major}-release-{platform.replace(':', '')}.deb")
                     for platform in OPENVOX_DEBS[major])
    return tuple(Release(_rpm_platforms(name, ver),
                         f"{OPENVOX_YUM}/openvox{major}-release-{name}-{ver}.noarch.rpm")
                 for name, ver in OPENVOX_RPMS[major])


def _rpm_platforms(name: str, version: str) -> tuple[str, ...]:
    ids = EL_IDS if name == "el" else ("amzn",)
    return tuple(f"{i}:{version}" for i in ids)


def os_family(target: Target) -> str:
    """The host's ``os_family`` var, lower case (Ansible spells it Debian / RedHat)."""
    value = target.vars.get("os_family")
    if value is None:
        raise BootstrapError(f"os_family is required by the puppet-agent role: one of "
                             f"{', '.join(FAMILIES)}", origin=target.origin(), host=target.name,
                             key="os_family")
    if not isinstance(value, str) or value.lower() not in FAMILIES:
        raise BootstrapError(f"unknown os_family {value!r}: the puppet-agent role has scripts "
                             f"for {', '.join(FAMILIES)} (Debian/Ubuntu, RHEL/Amazon Linux)",
                             origin=target.origin("os_family"), host=target.name, key="os_family")
    return value.lower()


def release_pins(settings: Puppet, plan: Install) -> dict[str, str]:
    """The pinned sha256 of each release package of the plan ('' where none is pinned).

    Raises PlanError naming a pin that matches no release package of the plan (a typo, or a
    pin left from another source or version).
    """
    files = {r.file for r in plan.releases}
    for name in settings.release_sha256:
        if name not in files:
            known = ", ".join(sorted(files)) or "none: this package source has no release package"
            raise PlanError(f"{name!r} is not a release package of this host's package source "
                            f"and version; they are: {known}", f"release_sha256.{name}")
    return {r.file: settings.release_sha256.get(r.file, "") for r in plan.releases}


def conf_sections(settings: Puppet) -> list[dict[str, Any]]:
    """puppet.conf as sections of (setting, value): what the file holds and puppet must read."""
    main = [("server", settings.server), ("serverport", settings.serverport),
            ("ca_server", settings.ca_server), ("certname", settings.certname)]
    agent = [("environment", settings.environment), ("runinterval", settings.runinterval),
             ("waitforcert", settings.waitforcert)]
    sections = [{"name": name, "settings": [(k, v) for k, v in pairs if v is not None]}
                for name, pairs in (("main", main), ("agent", agent))]
    return [s for s in sections if s["settings"]]


def host_plan(hostvars: dict[str, Any]) -> tuple[Puppet, Install]:
    """A rendered host's settings and install plan, from its resolved vars (for its checks).

    The challenge password is left out: in resolved vars a secret is only a placeholder.
    """
    given = {k: v for k, v in (hostvars.get("puppet") or {}).items() if k != "challenge_password"}
    settings = Puppet.model_validate(given)
    family = str(hostvars.get("os_family", "")).lower()
    return settings, install_plan(settings.package_source, family, settings.version)


def launch_template(target: Target) -> str | None:
    """The launch template the host stands for (``aws.launch_template``), None for an instance."""
    return getattr(target.settings.get("aws"), "launch_template", None)


def s3_url(location: S3Location) -> str:
    """The object's URL on AWS: virtual-hosted style, unless a dotted bucket name would break TLS."""
    domain = "amazonaws.com.cn" if location.region.startswith("cn-") else "amazonaws.com"
    if "." in location.bucket:
        return f"https://s3.{location.region}.{domain}/{location.bucket}/{location.key}"
    return f"https://{location.bucket}.s3.{location.region}.{domain}/{location.key}"


def password_location(target: Target, settings: Puppet) -> S3Location | None:
    """Where the instance fetches its challenge password, or None when it has none to fetch.

    User-data is readable on the instance and through the EC2 API, so a host it delivers
    (one with the cloud-init role) must keep its password in S3.
    """
    if settings.challenge_password is None or USER_DATA_ROLE not in target.roles:
        return None
    if settings.s3 is None:
        raise BootstrapError(
            "the challenge password would be readable in user-data (IMDS, "
            "DescribeInstanceAttribute): add puppet.s3 {bucket, prefix, region} so that "
            "bootstrap launch puts it in S3 and the instance fetches it with its role",
            origin=target.origin("puppet", "challenge_password"), host=target.name,
            key="puppet.challenge_password")
    return settings.s3


def context(target: Target, settings: Puppet) -> dict[str, Any]:
    family = os_family(target)
    if settings.certname is not None and launch_template(target):
        raise BootstrapError(
            f"a fixed certname would be shared by every instance of launch template "
            f"{launch_template(target)}: drop it, each instance uses its instance id",
            origin=target.origin("puppet", "certname"), host=target.name, key="puppet.certname")
    location = password_location(target, settings)
    try:
        plan = install_plan(settings.package_source, family, settings.version)
        pins = release_pins(settings, plan)
    except PlanError as exc:
        raise BootstrapError(str(exc), origin=target.origin("puppet", *exc.key.split(".", 1)),
                             host=target.name, key=f"puppet.{exc.key}") from None
    # From S3 the script adds the password on the instance; otherwise it is in the staged file.
    custom = {CHALLENGE_PASSWORD_OID: settings.challenge_password} \
        if settings.challenge_password is not None and location is None else {}
    return {
        "os_family": family,
        "is_debian": family == "debian",
        "is_redhat": family == "redhat",
        "confdir": plan.confdir,
        "staging": STAGING,
        "staged_conf": f"{STAGING}/puppet.conf",
        "staged_csr": f"{STAGING}/csr_attributes.yaml",
        "puppet_conf": f"{plan.confdir}/puppet.conf",
        "csr_attributes": f"{plan.confdir}/csr_attributes.yaml",
        "puppet_bin": plan.puppet,
        "sections": conf_sections(settings),
        "custom_attributes": custom,
        "extension_requests": dict(sorted(settings.extension_requests.items())),
        "boot_extension": BOOT_EXTENSION,
        "certname": settings.certname or "",
        "packages": list(plan.packages),
        "version": plan.version,
        "releases": [{"platforms": "|".join(r.platforms), "url": r.url,
                      "sha256": pins[r.file], "file": r.file} for r in plan.releases],
        "supported": plan.supported,
        "service": SERVICE,
        "script": SCRIPT,
        "marker": MARKER,
        "password_oid": CHALLENGE_PASSWORD_OID,
        "ensure_curl": ENSURE_CURL[family],
        "curl_min": CURL_MIN,
        "s3": None if location is None else {
            "bucket": location.bucket,
            "region": location.region,
            "object": f"s3://{location.bucket}/{location.key}",
            "url": s3_url(location),
            "path": f"/{location.bucket}/{location.key}",
        },
        "policy_file": f"{location_name(location)}.policy.json" if location else "",
    }
