"""``cloud_init.delivery: s3``: user-data that pulls the host's published build from S3.

The user-data keeps the one ``#cloud-config`` part and gets a stub script instead of the roles'
files and scripts. The stub (templates/cloud-init/pull-stub.sh.j2, POSIX sh, curl and
sha256sum only) takes the instance role's credentials from IMDSv2, fetches the host's manifest
and checks it against the sha256 it pins, fetches the pull script by its own digest, and runs
it. The pull script (templates/cloud-init/pull.sh.j2, ``/usr/local/sbin/bootstrap-pull``, one of
the published files) fetches and checks every object before it installs any, renames each file
into place, runs the first-boot scripts on the first run and the apply step of each role whose
files changed, and writes ``status/<instance-id>.json`` back to S3.

The pinned digest is the sha256 of the manifest :func:`bootstrap.render.published.host_manifest`
makes from the host's final files; ``bootstrap publish`` makes the same bytes from the build, so
the digest render pins is the manifest publish uploads. The same stub text, run again (by
``bootstrap push --via ssm`` or by hand), updates a running instance.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from bootstrap.errors import BootstrapError
from bootstrap.hosts.loader import Target
from bootstrap.paths import search_path
from bootstrap.render.filters import FILTERS
from bootstrap.render.published import Rendered, host_manifest
from bootstrap.render.registry import Registry
from bootstrap.render.renderer import Artifact
from bootstrap.roles.cloud_init.notify import CURL_MIN, ENSURE_CURL
from bootstrap.roles.cloud_init.settings import CloudInit

ROLE = "cloud-init"
SCRIPT = "/usr/local/sbin/bootstrap-pull"
# The roles' first-boot scripts, one path a line, in role order: a published file, so the stub
# is the same for hosts of any roles.
FIRST_BOOT_LIST = "/etc/bootstrap/first-boot"
STUB_TEMPLATE = "cloud-init/pull-stub.sh.j2"
# The build output that holds the stub: what bootstrap push --via ssm sends (the name is the
# engine's, bootstrap.cloud.ssm.PULL_COMMAND).
COMMAND_OUTPUT = "pull.sh"
# bytes: the stub is the whole cost of the pull in the user-data, whatever the roles' files
STUB_BUDGET = 2048
# Lines of a failed step's output the status record carries.
TAIL_LINES = 40
# What the pull's manifest reader and installer take as a destination and a host name: the
# plain characters of paths and names, nothing a shell or awk would read twice.
SAFE_DEST = re.compile(r"(?:/[A-Za-z0-9_.@+:,=-]+)+")
SAFE_HOST = re.compile(r"[A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class Location:
    """Where the host's build is published (``aws.publish``), as the instance reaches it."""

    bucket: str
    prefix: str
    region: str
    kms_key_arn: str | None

    @property
    def url(self) -> str:
        """The bucket's URL on AWS: virtual-hosted, unless a dotted name would break TLS."""
        domain = "amazonaws.com.cn" if self.region.startswith("cn-") else "amazonaws.com"
        if "." in self.bucket:
            return f"https://s3.{self.region}.{domain}/{self.bucket}"
        return f"https://{self.bucket}.s3.{self.region}.{domain}"

    @property
    def shell_url(self) -> str:
        """:attr:`url` for the stub, with the bucket and region as its variables $B and $R
        (a bucket name and a region hold no character a shell word would change)."""
        return self.url.replace(self.bucket, "$B").replace(self.region, "$R")

    @property
    def sse(self) -> list[str]:
        """curl options that encrypt a status record as publish encrypts the build."""
        if self.kms_key_arn:
            return ["-H", "x-amz-server-side-encryption: aws:kms",
                    "-H", f"x-amz-server-side-encryption-aws-kms-key-id: {self.kms_key_arn}"]
        return ["-H", "x-amz-server-side-encryption: AES256"]


def wanted(settings: CloudInit | None) -> bool:
    return settings is not None and settings.delivery == "s3"


def location(target: Target) -> Location:
    """The host's ``aws.publish`` location; an error naming the key when it has none."""
    aws = target.settings.get("aws")
    publish = getattr(aws, "publish", None)
    if publish is None:
        raise BootstrapError("cloud_init.delivery is s3 but the host has no aws.publish: set "
                             "aws.publish.bucket (and prefix, region) to say where bootstrap "
                             "publish puts its build", host=target.name,
                             key="cloud_init.delivery",
                             origin=target.origin("cloud_init", "delivery"))
    kms_region = publish.kms_key_arn.split(":")[3] if publish.kms_key_arn else None
    region = publish.region or getattr(aws, "region", None) or kms_region
    if region is None:
        raise BootstrapError("the instance must know the region of its bucket: set "
                             "aws.publish.region or aws.region", host=target.name,
                             key="aws.publish.region", origin=target.origin("aws", "publish"))
    if not SAFE_HOST.fullmatch(target.name):
        raise BootstrapError(f"host name {target.name!r} cannot name an S3 manifest the pull "
                             f"fetches (letters, digits, '_', '.' and '-' only)",
                             host=target.name, key="cloud_init.delivery",
                             origin=target.origin("cloud_init", "delivery"))
    return Location(publish.bucket, publish.prefix, region, publish.kms_key_arn)


def context(target: Target, settings: CloudInit | None) -> dict[str, Any]:
    """The pull script's values (``pull``: None with inline delivery)."""
    if not wanted(settings):
        return {"pull": None}
    where = location(target)
    return {"pull": {
        "bucket": where.bucket, "prefix": where.prefix, "region": where.region,
        "url": where.url, "sse": where.sse, "tail_lines": TAIL_LINES,
        "first_boot_list": FIRST_BOOT_LIST,
    }, "ensure_curl": ENSURE_CURL, "curl_min": CURL_MIN}


@functools.lru_cache(maxsize=8)
def _registry(basedir: Path) -> Registry:
    # The one the renderer uses reads the same folders: the inventory's roles, then built-ins.
    return Registry(basedir)


@functools.lru_cache(maxsize=8)
def _templates(basedir: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(p) for p in search_path("templates", basedir)]),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True, autoescape=False)
    env.filters.update(FILTERS)
    return env


def manifest(target: Target, artifacts: list[Artifact]) -> bytes:
    """The manifest publish will upload for the host, from its final artifacts."""
    registry = _registry(target.basedir)
    apply = {role: registry.get(role).apply for role in target.roles}
    files = [Rendered.of(a.dest, a.content, a.mode, a.owner, a.role, a.secret)
             for a in artifacts if a.on_host]
    return host_manifest(target.name, target.roles, apply, files)


def _checked(target: Target, artifacts: list[Artifact]) -> None:
    """Every file is one the pull can install: a plain path, a user or user:group owner."""
    for art in artifacts:
        if art.on_host and not SAFE_DEST.fullmatch(art.dest):
            raise BootstrapError(f"file {art.dest!r} of role {art.role} cannot be delivered "
                                 f"from S3: the pull installs plain paths only (letters, digits "
                                 f"and _ . @ + : , = -)", host=target.name,
                                 key="cloud_init.delivery",
                                 origin=target.origin("cloud_init", "delivery"))
        if art.userdata == "script" and not art.on_host:
            raise BootstrapError(f"script {art.dest} of role {art.role} has no absolute dest to "
                                 f"install it at, so the pull cannot run it", host=target.name,
                                 key="cloud_init.delivery",
                                 origin=target.origin("cloud_init", "delivery"))


def first_boot_list(target: Target, artifacts: list[Artifact]) -> Artifact:
    """The file that lists the roles' first-boot scripts for the pull to run on its first run."""
    _checked(target, artifacts)
    scripts = "".join(f"{a.dest}\n" for a in artifacts if a.userdata == "script")
    return Artifact(FIRST_BOOT_LIST, scripts.encode(), 0o644, "root:root", ROLE)


def stub(target: Target, artifacts: list[Artifact]) -> bytes:
    """The user-data script that pulls the host's build: small, with the digests it pins."""
    _checked(target, artifacts)
    where = location(target)
    script = next((a for a in artifacts if a.dest == SCRIPT and a.role == ROLE), None)
    if script is None:
        raise BootstrapError(f"the cloud-init role rendered no {SCRIPT}: an inventory role.yml "
                             f"that replaces the built-in one must keep its pull artifact",
                             host=target.name, key="cloud_init.delivery")
    text = _templates(target.basedir).get_template(STUB_TEMPLATE).render(
        bucket=where.bucket, prefix=where.prefix, region=where.region, url=where.shell_url,
        host=target.name, sse=where.sse,
        manifest=hashlib.sha256(manifest(target, artifacts)).hexdigest(),
        script=hashlib.sha256(script.content).hexdigest())
    return text.rstrip("\n").encode() + b"\n"
