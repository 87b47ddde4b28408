"""``bootstrap launch``: start hosts on EC2 with the user-data and instance role of the build.

For each host, in order; every step compares before it changes, so a second launch of the same
build changes nothing:

1. **Read** the host's ``user-data`` from the build, checked against its manifest and against
   what the inventory renders now (a stale build is an error, not a surprise at first boot),
   and the instance role's policy from the fleet build (``_fleet/iam/<name>.*.json``).
2. **Preflight** (read-only): the AMI, subnet, security groups and key pair exist. When one does
   not, nothing has been created yet.
3. **IAM**: the role with the EC2 trust policy, its inline least-privilege policy, and the
   instance profile that holds it.
4. **S3**: the objects the host's roles ask for (a validation key, say), encrypted with SSE-S3,
   or SSE-KMS with the key the role names; uploaded only when their SHA-256 or encryption
   differs.
5. **EC2**: an instance with IMDSv2 required, the instance profile, the tags ``Name`` and
   ``bootstrap:host``, and the raw user-data (boto3 base64-encodes ``run_instances``' UserData
   itself), unless one tagged for the host is already pending or running; or, with
   ``launch_template`` set, a new template version carrying the base64 user-data, made the
   default, unless the latest version already says the same; its instances are tagged
   ``bootstrap:template`` instead of ``Name`` and ``bootstrap:host``, since there are many.
6. **Wait** until running (with a timeout), print the instance id and addresses.

On a failed call the error names the host and the call, and lists what this run already created
and left in place.

What a role adds (objects, the instance role's policy, the instance settings themselves) comes
from its ``launch`` hook (see :mod:`bootstrap.render.hooks`); this module names no role.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bootstrap.cloud import autoscaling
from bootstrap.cloud.client import Api, CallFailed, Shown, unwrap
from bootstrap.errors import BootstrapError, Origin
from bootstrap.hosts.loader import HostLoader
from bootstrap.hosts.secrets import withholding, withholding_active
from bootstrap.inventory.loading import ROLES_KEY
from bootstrap.render.hooks import (
    InstanceSettings,
    LaunchNeeds,
    Resource,
    Upload,
    instance_trust_policy,
    of_host,
)
from bootstrap.render.registry import Registry, Role
from bootstrap.render.renderer import Renderer, Target

HOST_TAG = "bootstrap:host"
# What a launch template's instances carry instead of HOST_TAG and Name: they are many, each
# named after its instance id, and none of them is the host (terminate finds by HOST_TAG).
TEMPLATE_TAG = "bootstrap:template"
USER_DATA, USER_DATA_B64 = "user-data", "user-data.b64"
LIVE_STATES = ["pending", "running", "stopping", "stopped"]
NO_ENTITY = ("NoSuchEntity",)
# Error codes that point at one aws key, so the message can name its file:line.
CODE_KEYS = {
    "InvalidAMIID": "ami",
    "InvalidSubnetID": "subnet_id",
    "InvalidSubnet": "subnet_id",
    "InvalidGroup": "security_group_ids",
    "InvalidKeyPair": "key_name",
}
# EC2 may not see a new instance profile for some seconds after IAM created it.
PROFILE_WAIT = 90.0


@dataclass(frozen=True)
class InstanceRole:
    name: str
    trust: dict[str, Any]
    # (name, document) of each inline policy the roles of the host ask the role to carry
    policies: tuple[tuple[str, dict[str, Any]], ...] = ()


@dataclass(frozen=True)
class Instance:
    """The host's instance settings and the role (and namespace) they come from."""

    role: str
    namespace: str
    settings: InstanceSettings


@dataclass(frozen=True)
class Spec:
    """Everything launch needs for one host, read from the build and the typed settings."""

    target: Target
    aws: InstanceSettings
    region: str
    user_data: bytes
    user_data_b64: str
    user_data_path: Path
    role: InstanceRole | None
    uploads: tuple[Upload, ...]
    user_data_secret: bool = False  # holds a secret: no digest of it is ever shown
    namespace: str = ""  # where the instance settings live in the inventory, for errors
    resources: tuple[Resource, ...] = ()

    @property
    def host(self) -> str:
        return self.target.name

    def user_data_summary(self) -> str:
        """Size and digest of the user-data; a digest of a secret could be brute-forced."""
        if self.user_data_secret:
            return f"user-data {len(self.user_data)} bytes, holds secrets (digest not shown)"
        digest = hashlib.sha256(self.user_data).hexdigest()[:12]
        return f"user-data {len(self.user_data)} bytes, sha256 {digest}..."

    def user_data_shown(self) -> Shown:
        return Shown(self.user_data, f"<{self.user_data_summary()}, from {self.user_data_path}>")

    def user_data_b64_shown(self) -> Shown:
        return Shown(self.user_data_b64, f"<base64 of user-data: {len(self.user_data_b64)} "
                                         f"characters, from {self.user_data_path}.b64>")


@dataclass
class Ledger:
    """What this run changed, in order; printed as it happens and repeated in an error."""

    say: Callable[[str], None]
    quiet: bool = False
    done: list[str] = field(default_factory=list)

    def changed(self, host: str, text: str) -> None:
        self.done.append(f"{host}: {text}")
        if not self.quiet:
            self.say(f"{host}: {text}")

    def same(self, host: str, text: str) -> None:
        if not self.quiet:
            self.say(f"{host}: {text}")

    def summary(self) -> str:
        if not self.done:
            return "nothing was created or changed"
        return "already done and left in place: " + "; ".join(self.done)


# -- reading the build ------------------------------------------------------------------------


def selected_targets(source: Path, patterns: list[str], secret_dirs: tuple[Path, ...] = ()
                     ) -> tuple[HostLoader[Registry], list[Target]]:
    """The typed hosts that HOST... selects (names or Ansible patterns), in inventory order,
    and their loader (its ``roles`` is the registry); warnings printed as render prints them."""
    hosts = HostLoader.open(source, Registry, secret_dirs)
    return hosts, list(hosts.targets(",".join(patterns)))


def instance_settings(registry: Registry, target: Target) -> Instance:
    """The settings of the host's role that describes its instance (its launch hook says so)."""
    for role, needs in _needs(registry, target):
        if needs.instance and needs.settings is not None:
            return Instance(role.name, role.namespace or role.name, needs.settings)
    role = _describing_role(registry, target)
    namespace = role.namespace or role.name
    if namespace in target.vars:
        raise BootstrapError(f"has {namespace} settings but not the {role.name} role: add "
                             f"{role.name} to its {ROLES_KEY}", host=target.name, key=ROLES_KEY,
                             origin=target.origin(namespace))
    raise BootstrapError(f"has no {namespace} settings: add {role.name} to its {ROLES_KEY} and "
                         f"set {namespace}.ami", host=target.name)


def _needs(registry: Registry, target: Target) -> list[tuple[Role, LaunchNeeds]]:
    """What each of the host's roles with a launch hook asks for, in role order."""
    return [(role, needs(target, settings))
            for role, needs, settings in of_host(registry, target, "launch")]


def _describing_role(registry: Registry, target: Target) -> Role:
    """The known role whose launch hook gives instance settings, to name it to a host without
    it (asked with no settings, as the host has none of it)."""
    for name in registry.names():
        role = registry.get(name)
        hook = role.hook("launch")
        if hook is not None and hook(target, None).instance:
            return role
    raise BootstrapError("no role gives launch the instance's settings (a role whose launch hook "
                         "returns them)", host=target.name, key=ROLES_KEY)


def launch_region(registry: Registry, target: Target, region: str | None) -> str:
    """--region, else the instance settings' region, else the region boto3 would use."""
    if region:
        return region
    instance = instance_settings(registry, target)
    chosen = instance.settings.region
    if chosen is None:
        from bootstrap.cloud.client import default_region

        chosen = default_region()
    if chosen is None:
        raise BootstrapError(f"no region: set {instance.namespace}.region, pass --region, or set "
                             "AWS_REGION", host=target.name, key=f"{instance.namespace}.region")
    return chosen


def read_spec(renderer: Renderer, target: Target, build: Path, region: str | None) -> Spec:
    """The host's launch inputs; errors name the host and what to run to fix them."""
    instance = instance_settings(renderer.registry, target)
    chosen = launch_region(renderer.registry, target, region)
    needs = [n for _, n in _needs(renderer.registry, target)]
    # In a dry run, secrets held in AWS are not read: the fresh render then holds their
    # placeholders, and only the build's own manifest can vouch for its user-data.
    with withholding(withholding_active()) as withheld:
        outputs = [a for a in renderer.render(target) if not a.on_host]
    fresh = {a.dest: a.content for a in outputs}
    raw, path = _output(build, target.name, USER_DATA, fresh, exact=not withheld)
    encoded = base64.b64encode(raw).decode()
    if USER_DATA_B64 in fresh:
        b64, _ = _output(build, target.name, USER_DATA_B64, fresh, exact=not withheld)
        # The launch template gets this file; it must be the raw file encoded exactly once.
        if b64.strip() != encoded.encode():
            raise BootstrapError(f"{path}.b64 is not the base64 of {path}; render again",
                                 host=target.name)
    return Spec(target, instance.settings, chosen, raw, encoded, path,
                _instance_role(renderer, target, instance.settings, needs, build,
                               instance.namespace),
                tuple(u for n in needs for u in n.uploads),
                any(a.secret for a in outputs if a.dest == USER_DATA), instance.namespace,
                tuple(r for n in needs for r in n.resources))


def _manifest(build: Path, host: str) -> dict[str, Any]:
    from bootstrap.build.directory import BuildDir, read_manifest

    missing = BootstrapError(f"{build / host / 'manifest.json'} is missing: run bootstrap render "
                             f"INVENTORY -o {build} first", host=host)
    if not build.is_dir():
        raise missing
    # Under the build's lock, checked: a corrupt or hostile manifest is a one-line error.
    with BuildDir.reading(build) as directory:
        manifest = read_manifest(directory, host)
    if manifest is None:
        raise missing
    return manifest


def _output(build: Path, host: str, dest: str, fresh: dict[str, bytes],
            exact: bool = True) -> tuple[bytes, Path]:
    """A build output of the host, checked against its manifest and (``exact``) today's
    render."""
    if dest not in fresh:
        raise BootstrapError(f"renders no {dest}: add cloud-init to its bootstrap_roles",
                             host=host)
    records = {r["dest"]: r for r in _manifest(build, host).get("outputs", [])}
    path = build / host / dest
    record = records.get(dest)
    try:
        data = path.read_bytes()
    except OSError:
        data = None
    if record is None or data is None:
        raise BootstrapError(f"{path} is missing: run bootstrap render INVENTORY -o {build} "
                             "first", host=host)
    if hashlib.sha256(data).hexdigest() != record["sha256"]:
        raise BootstrapError(f"{path} differs from its manifest (changed after the render?); "
                             "render again", host=host)
    if exact and data != fresh[dest]:
        raise BootstrapError(f"{path} is older than the inventory (a render now gives other "
                             f"{dest}); run bootstrap render INVENTORY -o {build} first", host=host)
    return data, path


def _instance_role(renderer: Renderer, target: Target, settings: InstanceSettings,
                   needs: list[LaunchNeeds], build: Path, namespace: str) -> InstanceRole | None:
    """The instance role and the policies the host's roles ask it to carry, as the build's
    fleet folder holds them (each policy's role wrote it there at render time)."""
    names = sorted({n.policy for n in needs if n.policy})
    if not names:
        if settings.iam_role is None:
            return None
        return InstanceRole(settings.iam_role, instance_trust_policy())
    if len(names) > 1 and settings.iam_role is None:
        # A role named after one policy would carry the others under a misleading name.
        raise BootstrapError(f"its roles ask for the instance role policies {', '.join(names)}: "
                             f"name the one instance role that carries them all with "
                             f"{namespace}.iam_role", host=target.name,
                             key=f"{namespace}.iam_role", origin=target.origin(namespace))
    fresh = {a.dest: a.content for a in renderer.render_fleet([target])}
    policies = []
    trust: dict[str, Any] | None = None
    for name in names:
        docs = {kind: _fleet_document(build, f"iam/{name}.{kind}.json", fresh, target.name)
                for kind in ("trust", "policy")}
        if trust is not None and docs["trust"] != trust:
            raise BootstrapError(f"the instance role policies {', '.join(names)} trust different "
                                 "principals; one instance role cannot carry them all",
                                 host=target.name)
        trust = docs["trust"]
        policies.append((name, docs["policy"]))
    assert trust is not None
    return InstanceRole(settings.iam_role or names[0], trust, tuple(policies))


def _fleet_document(build: Path, dest: str, fresh: dict[str, bytes], host: str) -> Any:
    path = build / "_fleet" / dest
    try:
        data = path.read_bytes()
    except OSError:
        raise BootstrapError(f"{path} is missing: run bootstrap render INVENTORY -o {build} "
                             "first", host=host) from None
    if dest in fresh and data != fresh[dest]:
        raise BootstrapError(f"{path} is older than the inventory; run bootstrap render "
                             f"INVENTORY -o {build} first", host=host)
    return json.loads(data)


# -- the steps --------------------------------------------------------------------------------


@dataclass
class Launcher:
    """Runs the steps for one host after another; ``api(region, host)`` gives a live or dry-run
    Api."""

    api: Callable[[str, str], Api]
    ledger: Ledger
    timeout: float = 600.0
    poll: float = 5.0
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Roles and objects already brought in line by this run, for an earlier host.
    _done: dict[str, str] = field(default_factory=dict)

    def launch(self, spec: Spec) -> None:
        try:
            self._launch(spec)
        except CallFailed as exc:
            key = _key_for(exc.code)
            origin = spec.target.origin(spec.namespace, key) if key else None
            raise BootstrapError(f"{exc.explain()}; {self.ledger.summary()}", host=spec.host,
                                 key=f"{spec.namespace}.{key}" if key else None,
                                 origin=origin) from None
        except BootstrapError as exc:
            raise BootstrapError(f"{exc.message}; {self.ledger.summary()}", host=spec.host,
                                 key=exc.key, origin=exc.origin) from None

    def _launch(self, spec: Spec) -> None:
        ec2 = self.api(spec.region, spec.host)
        root_device = self._preflight(ec2, spec)
        new_profile = False
        if spec.role is not None:
            if spec.role.name in self._done:
                self.ledger.same(spec.host, f"IAM role {spec.role.name}: as for "
                                            f"{self._done[spec.role.name]} above")
            else:
                new_profile = self._instance_role(spec)
                self._done[spec.role.name] = spec.host
        for upload in spec.uploads:
            if upload.url in self._done:
                self.ledger.same(spec.host, f"{upload.url}: as for {self._done[upload.url]} above")
            else:
                self._upload(spec, upload)
                self._done[upload.url] = spec.host
        for resource in spec.resources:
            if resource.key in self._done:
                self.ledger.same(spec.host, f"{resource.key}: as for "
                                            f"{self._done[resource.key]} above")
                continue
            say = self._say(spec.host)
            for changed, text in resource.ensure(self.api(resource.region, spec.host)):
                say(changed, text)
            self._done[resource.key] = spec.host
        if spec.aws.launch_template:
            version, changed = self._template(ec2, spec, root_device)
            if spec.aws.autoscaling is not None:
                group = autoscaling.Group(spec.host, spec.aws.launch_template,
                                          spec.aws.autoscaling, spec.namespace)
                autoscaling.ensure(ec2, group, version, changed, self._say(spec.host))
        else:
            self._instance(ec2, spec, root_device, new_profile)

    def _preflight(self, ec2: Api, spec: Spec) -> str | None:
        aws = spec.aws
        found = ec2.call("ec2", "DescribeImages", ImageIds=[aws.ami]) or {}
        images = found.get("Images") or []
        if not images:
            raise CallFailed("ec2", "DescribeImages", "InvalidAMIID.NotFound",
                             f"no image {aws.ami} in {spec.region}")
        if aws.subnet_id:
            ec2.call("ec2", "DescribeSubnets", SubnetIds=[aws.subnet_id])
        if aws.security_group_ids:
            ec2.call("ec2", "DescribeSecurityGroups", GroupIds=list(aws.security_group_ids))
        if aws.key_name:
            ec2.call("ec2", "DescribeKeyPairs", KeyNames=[aws.key_name])
        device = images[0].get("RootDeviceName")
        return str(device) if device else None

    def _instance_role(self, spec: Spec) -> bool:
        """Role, policy and profile as the build says; True when the profile is new."""
        role = spec.role
        assert role is not None
        iam = self.api(spec.region, spec.host)
        host, say = spec.host, self.ledger
        found = iam.call("iam", "GetRole", missing=NO_ENTITY, RoleName=role.name)
        if found is None:
            iam.call("iam", "CreateRole", RoleName=role.name,
                     AssumeRolePolicyDocument=_json(role.trust),
                     Description=f"instance role of hosts launched by bootstrap ({role.name})",
                     Tags=[{"Key": "bootstrap:managed", "Value": "true"}])
            say.changed(host, f"IAM role {role.name} created")
        elif _document(found["Role"].get("AssumeRolePolicyDocument")) != role.trust:
            iam.call("iam", "UpdateAssumeRolePolicy", RoleName=role.name,
                     PolicyDocument=_json(role.trust))
            say.changed(host, f"IAM role {role.name}: trust policy updated")
        else:
            say.same(host, f"IAM role {role.name} unchanged")
        for policy_name, policy in role.policies:
            current = iam.call("iam", "GetRolePolicy", missing=NO_ENTITY, RoleName=role.name,
                               PolicyName=policy_name)
            if current is None or _document(current.get("PolicyDocument")) != policy:
                iam.call("iam", "PutRolePolicy", RoleName=role.name, PolicyName=policy_name,
                         PolicyDocument=_json(policy))
                verb = "created" if current is None else "updated"
                say.changed(host, f"IAM role {role.name}: policy {policy_name} {verb}")
            else:
                say.same(host, f"IAM role {role.name}: policy {policy_name} unchanged")
        profile = iam.call("iam", "GetInstanceProfile", missing=NO_ENTITY,
                           InstanceProfileName=role.name)
        new = profile is None
        if profile is None:
            iam.call("iam", "CreateInstanceProfile", InstanceProfileName=role.name,
                     Tags=[{"Key": "bootstrap:managed", "Value": "true"}])
            say.changed(host, f"instance profile {role.name} created")
            holds: list[str] = []
        else:
            holds = [r["RoleName"] for r in profile["InstanceProfile"].get("Roles", [])]
        if holds == [role.name]:
            say.same(host, f"instance profile {role.name} unchanged")
            return new
        # A profile holds at most one role: a stranger in it is replaced by ours.
        for other in holds:
            if other != role.name:
                iam.call("iam", "RemoveRoleFromInstanceProfile", InstanceProfileName=role.name,
                         RoleName=other)
                say.changed(host, f"instance profile {role.name}: role {other} removed")
        iam.call("iam", "AddRoleToInstanceProfile", InstanceProfileName=role.name,
                 RoleName=role.name)
        say.changed(host, f"instance profile {role.name}: role {role.name} added")
        return new

    def _upload(self, spec: Spec, upload: Upload) -> None:
        s3 = self.api(upload.region, spec.host)
        body = upload.secret.reveal(spec.target.basedir).encode()
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        algorithm = "aws:kms" if upload.kms_key_arn else "AES256"
        head = s3.call("s3", "HeadObject", missing=("404", "NoSuchKey", "NotFound"),
                       Bucket=upload.bucket, Key=upload.key, ChecksumMode="ENABLED")
        encryption = f"SSE-KMS {upload.kms_key_arn}" if upload.kms_key_arn else "SSE-S3"
        if (head is not None and head.get("ChecksumSHA256") == digest
                and head.get("ServerSideEncryption") == algorithm
                and head.get("SSEKMSKeyId") == upload.kms_key_arn):
            self.ledger.same(spec.host, f"{upload.url} unchanged ({encryption})")
            return
        params: dict[str, Any] = {
            "Bucket": upload.bucket, "Key": upload.key,
            "Body": Shown(body, upload.secret.label, secret=True),
            "ChecksumAlgorithm": "SHA256", "ServerSideEncryption": algorithm,
        }
        if upload.kms_key_arn:
            params["SSEKMSKeyId"] = upload.kms_key_arn
        s3.call("s3", "PutObject", **params)
        verb = "uploaded" if head is None else "replaced"
        self.ledger.changed(spec.host, f"{upload.url} {verb} ({encryption})")

    # -- instances --------------------------------------------------------------------------

    def _instance(self, ec2: Api, spec: Spec, root_device: str | None, new_profile: bool) -> None:
        running = find_instances(ec2, spec.host)
        if running:
            instance = running[0]
            self.ledger.same(spec.host, f"{instance['InstanceId']} already "
                                        f"{instance['State']['Name']} (not launched again)")
            self._report(spec, instance)
            return
        params = self._run_params(spec, root_device)
        instance = self._run(ec2, spec, params, new_profile)
        instance_id = instance["InstanceId"]
        self.ledger.changed(spec.host, f"{instance_id} launched ({spec.aws.instance_type}, "
                                       f"{spec.aws.ami})")
        if ec2.dry_run:
            return
        self._report(spec, self._wait(ec2, spec, instance_id))

    def _run_params(self, spec: Spec, root_device: str | None) -> dict[str, Any]:
        aws = spec.aws
        params: dict[str, Any] = {
            "ImageId": aws.ami,
            "InstanceType": aws.instance_type,
            "MinCount": 1,
            "MaxCount": 1,
            "UserData": spec.user_data_shown(),
            "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
            "TagSpecifications": [{"ResourceType": kind, "Tags": _tags(spec)}
                                  for kind in ("instance", "volume")],
        }
        params.update(_placement(spec, root_device))
        if aws.subnet_id:
            params["SubnetId"] = aws.subnet_id
        if aws.security_group_ids:
            params["SecurityGroupIds"] = list(aws.security_group_ids)
        return params

    def _run(self, ec2: Api, spec: Spec, params: dict[str, Any], new_profile: bool) -> dict[str, Any]:
        delay, waited = 1.0, 0.0
        while True:
            try:
                response = ec2.call("ec2", "RunInstances", **params) or {}
                return dict(response["Instances"][0])
            except CallFailed as exc:
                fresh = new_profile and exc.code == "InvalidParameterValue" \
                    and "iamInstanceProfile" in exc.message
                if not fresh or waited >= PROFILE_WAIT:
                    raise
            self.ledger.same(spec.host, f"instance profile not visible to EC2 yet; retrying in "
                                        f"{delay:.0f} s")
            time.sleep(delay)
            waited += delay
            delay = min(delay * 2, 16.0)

    def _wait(self, ec2: Api, spec: Spec, instance_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while True:
            # A new instance can be unknown to DescribeInstances for a moment.
            found = ec2.call("ec2", "DescribeInstances", missing=("InvalidInstanceID.NotFound",),
                             InstanceIds=[instance_id])
            instances = [i for r in (found or {}).get("Reservations", []) for i in r["Instances"]]
            state = instances[0]["State"]["Name"] if instances else "pending"
            if state == "running":
                return instances[0]
            if state != "pending":
                reason = (instances[0].get("StateReason") or {}).get("Message", "")
                raise BootstrapError(f"{instance_id} went {state} instead of running: {reason}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise BootstrapError(f"{instance_id} still pending after {self.timeout:.0f} s "
                                     "(it was launched; see the console, or bootstrap terminate)")
            time.sleep(min(self.poll, left))

    def _report(self, spec: Spec, instance: dict[str, Any]) -> None:
        private = instance.get("PrivateIpAddress")
        public = instance.get("PublicIpAddress")
        shown = ", ".join(f"{kind} {ip}" for kind, ip in (("private", private), ("public", public))
                          if ip)
        self.ledger.say(f"{spec.host}: {instance['InstanceId']} {instance['State']['Name']}"
                        f"{', ' + shown if shown else ''}")
        self.results[spec.host] = {"id": instance["InstanceId"], "private": private,
                                   "public": public}

    # -- launch templates -------------------------------------------------------------------

    def _say(self, host: str) -> Callable[[bool, str], None]:
        def say(changed: bool, text: str) -> None:
            (self.ledger.changed if changed else self.ledger.same)(host, text)
        return say

    def _template(self, ec2: Api, spec: Spec, root_device: str | None) -> tuple[int | str, bool]:
        """Write the host's launch template version; (its number, whether it is new)."""
        name = spec.aws.launch_template
        data = self._template_data(spec, root_device)
        described = ec2.call("ec2", "DescribeLaunchTemplates",
                             missing=("InvalidLaunchTemplateName.NotFoundException",),
                             LaunchTemplateNames=[name])
        description = f"{spec.host}: {spec.user_data_summary()}"
        if described is None:
            created = ec2.call("ec2", "CreateLaunchTemplate", LaunchTemplateName=name,
                               VersionDescription=description, LaunchTemplateData=data) or {}
            version = created["LaunchTemplate"]["LatestVersionNumber"]
            self.ledger.changed(spec.host, f"launch template {name} created (version {version})")
            return version, True
        latest = ec2.call("ec2", "DescribeLaunchTemplateVersions", LaunchTemplateName=name,
                          Versions=["$Latest"]) or {}
        versions = latest.get("LaunchTemplateVersions") or []
        if versions and _subset(unwrap(data), versions[0].get("LaunchTemplateData", {})):
            number = versions[0]["VersionNumber"]
            self.ledger.same(spec.host, f"launch template {name} unchanged (version {number})")
            return number, False
        created = ec2.call("ec2", "CreateLaunchTemplateVersion", LaunchTemplateName=name,
                           VersionDescription=description, LaunchTemplateData=data) or {}
        version = created.get("LaunchTemplateVersion", {}).get("VersionNumber", "<new>")
        ec2.call("ec2", "ModifyLaunchTemplate", LaunchTemplateName=name,
                 DefaultVersion=str(version))
        self.ledger.changed(spec.host, f"launch template {name}: version {version} created "
                                       "and made the default")
        return version, True

    def _template_data(self, spec: Spec, root_device: str | None) -> dict[str, Any]:
        aws = spec.aws
        data: dict[str, Any] = {
            "ImageId": aws.ami,
            "InstanceType": aws.instance_type,
            # Launch templates take base64 from the caller (boto3 encodes only RunInstances).
            "UserData": spec.user_data_b64_shown(),
            "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
            "TagSpecifications": [{"ResourceType": kind, "Tags": _template_tags(spec)}
                                  for kind in ("instance", "volume")],
        }
        data.update(_placement(spec, root_device))
        if aws.subnet_id:
            data["NetworkInterfaces"] = [{"DeviceIndex": 0, "SubnetId": aws.subnet_id,
                                          "Groups": list(aws.security_group_ids)}]
        elif aws.security_group_ids:
            data["SecurityGroupIds"] = list(aws.security_group_ids)
        return data


def find_instances(ec2: Api, host: str) -> list[dict[str, Any]]:
    """The host's instances that are not terminated, found by the bootstrap:host tag."""
    found = ec2.call("ec2", "DescribeInstances", Filters=[
        {"Name": f"tag:{HOST_TAG}", "Values": [host]},
        {"Name": "instance-state-name", "Values": LIVE_STATES},
    ]) or {}
    return [i for r in found.get("Reservations", []) for i in r["Instances"]]


def _placement(spec: Spec, root_device: str | None) -> dict[str, Any]:
    """Key pair, instance profile and block devices: the same for instances and templates."""
    aws = spec.aws
    out: dict[str, Any] = {}
    if aws.key_name:
        out["KeyName"] = aws.key_name
    if spec.role is not None:
        out["IamInstanceProfile"] = {"Name": spec.role.name}
    devices = []
    if aws.root_volume is not None:
        if root_device is None:
            raise BootstrapError(f"{aws.ami} names no root device, so root_volume cannot apply",
                                 key=f"{spec.namespace}.root_volume")
        devices.append({"DeviceName": root_device, "Ebs": {
            "VolumeSize": aws.root_volume.size_gb, "VolumeType": aws.root_volume.type,
            "Encrypted": aws.root_volume.encrypted, "DeleteOnTermination": True}})
    for volume in aws.ebs_volumes:
        devices.append({"DeviceName": volume.device, "Ebs": {
            "VolumeSize": volume.size_gb, "VolumeType": volume.type,
            "Encrypted": volume.encrypted,
            "DeleteOnTermination": volume.delete_on_termination}})
    if devices:
        out["BlockDeviceMappings"] = devices
    return out


def _tags(spec: Spec) -> list[dict[str, str]]:
    tags = {"Name": spec.host, HOST_TAG: spec.host, **spec.aws.tags}
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _template_tags(spec: Spec) -> list[dict[str, str]]:
    tags = {TEMPLATE_TAG: spec.host, **spec.aws.tags}
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _key_for(code: str) -> str | None:
    prefix = code.split(".")[0]
    return CODE_KEYS.get(prefix)


def _json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))


def _document(value: Any) -> Any:
    """A policy document as boto3 returns it: usually decoded already, else JSON text."""
    if isinstance(value, str):
        from urllib.parse import unquote

        return json.loads(unquote(value))
    return value


def _subset(ours: Any, theirs: Any) -> bool:
    """Whether everything we set is in what AWS reports (it adds defaults of its own)."""
    if isinstance(ours, dict):
        return isinstance(theirs, dict) and all(k in theirs and _subset(v, theirs[k])
                                                for k, v in ours.items())
    if isinstance(ours, list):
        return (isinstance(theirs, list) and len(ours) == len(theirs)
                and all(_subset(a, b) for a, b in zip(ours, theirs, strict=True)))
    return bool(ours == theirs)


# -- the inventory fragment -------------------------------------------------------------------

FRAGMENT_HEADER = ("# Written by bootstrap launch: the addresses of launched instances.\n"
                   "# Kept in the inventory folder, push and verify reach the hosts through it.\n")


def read_fragment(path: Path) -> dict[str, Any]:
    """The hosts of an inventory file written by launch; read before any AWS call, so a file
    that cannot be updated stops the command before it changes anything."""
    try:
        current = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        current = {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc).splitlines()[0]
        raise BootstrapError(f"cannot update it: {reason}", origin=Origin(str(path))) from None
    top = current.get("all") or {} if isinstance(current, dict) else None
    hosts = top.get("hosts") or {} if isinstance(top, dict) else None
    if not isinstance(hosts, dict):
        raise BootstrapError("all.hosts is not a mapping; not a file launch wrote",
                             origin=Origin(str(path)))
    return dict(hosts)


def write_fragment(path: Path, hosts: dict[str, Any], results: dict[str, dict[str, Any]],
                   removed: tuple[str, ...] = ()) -> None:
    """Add (or drop) hosts in an inventory file of ``all: hosts:`` with ansible_host per host;
    ``hosts`` is what :func:`read_fragment` read from it."""
    for name, found in results.items():
        entry: dict[str, Any] = {"ansible_host": found["public"] or found["private"],
                                 "ec2_instance_id": found["id"]}
        if found["private"]:
            entry["ec2_private_ip"] = found["private"]
        hosts[name] = entry
    for name in removed:
        hosts.pop(name, None)
    text = FRAGMENT_HEADER + yaml.safe_dump({"all": {"hosts": hosts}}, sort_keys=True,
                                            default_flow_style=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
