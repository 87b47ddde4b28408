"""What push, terminate and launch hand a role's ``ready``, ``forget`` and ``launch`` hooks, and
what the hooks give back.

These types are the whole contract between a role and the stages that act on hosts: a role
imports them from here and never imports :mod:`bootstrap.fleet` or :mod:`bootstrap.cloud`, and
those stages call the hooks ``role.yml`` names without knowing which role they belong to.

``ready: ready.py:wait`` -- ``wait(host: ReadyHost) -> Ready``
    push calls it on a connected host, for each of the host's roles in order, before it reads
    or copies any file. A failure stops the push to that host with that reason; notes are shown
    under the host's result and go on.

``forget: forget.py:commands`` -- ``commands(target, settings, instance_id) -> list[str]``
    terminate prints these commands (in the host's role order) for each instance it
    terminated, so the operator can remove the node from the servers that still know it.

``launch: launch.py:needs`` -- ``needs(target, settings) -> LaunchNeeds``
    launch asks it what the host needs: objects to upload to S3, the IAM policy its instance
    role carries, or (for the one role that describes the instance) the instance's settings.

``settings`` is the host's value of the role's namespace, typed by the role's model (None when
the role has no namespace, or when launch asks a role the host does not have, to name it in an
error).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from bootstrap.hosts.secrets import SecretRef

if TYPE_CHECKING:
    from bootstrap.hosts.loader import Target
    from bootstrap.render.registry import Registry, Role


# -- ready: what push waits for before it copies ------------------------------------------------


class Outcome(Protocol):
    """What a script run on the host gave: its exit status and its stdout and stderr."""

    @property
    def rc(self) -> int: ...

    @property
    def output(self) -> str: ...


class RunScript(Protocol):
    """Runs a shell script on the host with positional arguments (``$1``...); ``timeout`` is
    the longest silence allowed from it, in seconds."""

    def __call__(self, script: str, args: Sequence[str] = (), *,
                 timeout: float | None = None) -> Outcome: ...


@dataclass(frozen=True)
class ReadyHost:
    """A connected host, as a ready hook sees it."""

    name: str
    run: RunScript
    timeout: float  # seconds the user allows the host to become ready (push --ready-timeout)


@dataclass(frozen=True)
class Ready:
    """A ready hook's answer: notes shown under the host's result, or why push must stop."""

    notes: tuple[str, ...] = ()
    failure: str = ""


class ReadyHook(Protocol):
    def __call__(self, host: ReadyHost) -> Ready: ...


# -- forget: what terminate prints to remove a node ---------------------------------------------


class ForgetHook(Protocol):
    def __call__(self, target: Target, settings: Any, instance_id: str) -> list[str]: ...


# -- launch: what launch uploads, grants and starts ---------------------------------------------


@dataclass(frozen=True)
class Upload:
    """A secret launch puts in S3 for the instance to fetch at first boot."""

    bucket: str
    key: str
    region: str
    secret: SecretRef
    kms_key_arn: str | None  # SSE-KMS with this key; None: SSE-S3

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


class InstanceSettings(Protocol):
    """What launch reads from the settings of the role that describes the instance."""

    @property
    def region(self) -> str | None: ...

    @property
    def ami(self) -> str: ...

    @property
    def instance_type(self) -> str: ...

    @property
    def subnet_id(self) -> str | None: ...

    @property
    def security_group_ids(self) -> Sequence[str]: ...

    @property
    def key_name(self) -> str | None: ...

    @property
    def iam_role(self) -> str | None: ...

    @property
    def tags(self) -> dict[str, str]: ...

    @property
    def launch_template(self) -> str | None: ...

    @property
    def root_volume(self) -> Any: ...  # size_gb, type, encrypted; or None

    @property
    def ebs_volumes(self) -> Sequence[Any]: ...  # device, size_gb, type, encrypted, ...

    @property
    def autoscaling(self) -> Any: ...  # a group template's group (bootstrap.cloud.autoscaling)


class Calls(Protocol):
    """AWS calls by operation name, live or printed by a dry run (launch's client)."""

    dry_run: bool

    def call(self, service: str, operation: str, missing: tuple[str, ...] = (),
             **params: Any) -> dict[str, Any] | None:
        """The response; None when the error code is one of ``missing`` (the thing is absent)."""
        ...


# What bringing a resource in line did, one line each: (changed, text). A line with changed
# False says the resource was already as asked.
Ensured = list[tuple[bool, str]]


@dataclass(frozen=True)
class Resource:
    """Something in AWS that a role's hosts need before they start (a topic and its
    subscriptions, a bucket's lifecycle), brought in line by launch with ``ensure``: idempotent,
    reading before writing, so a rerun with nothing to do makes no write call. Hosts that share
    one (same ``key``) have it brought in line once per run."""

    key: str  # what the resource is, e.g. its ARN
    region: str
    ensure: Callable[[Calls], Ensured]


@dataclass(frozen=True)
class LaunchNeeds:
    """What one role of a host asks of launch."""

    uploads: tuple[Upload, ...] = ()
    resources: tuple[Resource, ...] = ()
    # The instance role's inline policy: the role's fleet hook wrote it to the build as
    # ``_fleet/iam/<policy>.trust.json`` and ``<policy>.policy.json``. It is also the instance
    # role's name unless the instance settings name one.
    policy: str | None = None
    # True for the role whose settings describe the instance itself (AMI, type, network):
    # each launched host needs it, and launch names it to a host that lacks it.
    instance: bool = False
    settings: InstanceSettings | None = None


class LaunchHook(Protocol):
    def __call__(self, target: Target, settings: Any) -> LaunchNeeds: ...


def instance_trust_policy() -> dict[str, Any]:
    """The trust policy of every instance role: EC2 may assume it, nobody else."""
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }],
    }


def of_host(registry: Registry, target: Target, name: str) -> Iterator[tuple[Role, Any, Any]]:
    """(role, hook, settings) for each of the host's roles whose role.yml names the hook
    ``name``, in the host's role order; ``settings`` as the module docstring says."""
    for role_name in target.roles:
        role = registry.get(role_name)
        hook = role.hook(name)
        if hook is not None:
            yield role, hook, target.settings.get(role.namespace) if role.namespace else None
