"""The disks ``bootstrap lab up`` attaches to a host of this role: its extra EBS volumes, under
their block device mapping names (as amazon-ec2-utils links them on a Nitro instance)."""

from __future__ import annotations

from bootstrap.hosts.loader import Target
from bootstrap.roles.ec2_instance.settings import Aws


def disks(target: Target, settings: Aws | None) -> list[str]:
    return [volume.device for volume in settings.ebs_volumes] if settings else []
