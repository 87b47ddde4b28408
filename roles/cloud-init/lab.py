"""The disks ``bootstrap lab up`` attaches to a host of this role: the RAID1 recipe's two
volumes, under the names the user-data gives them."""

from __future__ import annotations

from bootstrap.hosts.loader import Target
from bootstrap.roles.cloud_init.settings import CloudInit


def disks(target: Target, settings: CloudInit | None) -> list[str]:
    raid = settings.raid1 if settings else None
    return list(raid.devices) if raid else []
