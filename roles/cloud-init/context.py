"""The cloud-init role's template values: the completion notice's and the pull script's, and
the warnings of settings that render but may not hold on a real instance."""

from __future__ import annotations

import re
from typing import Any

from bootstrap.hosts.loader import Target
from bootstrap.roles.cloud_init import notify, pull
from bootstrap.roles.cloud_init.settings import CloudInit

# Names the kernel hands out in the order it finds disks: on Nitro instances the NVMe numbers
# of EBS volumes can change from one boot, or one instance type, to the next.
ENUMERATED = re.compile(r"/dev/(nvme[0-9]+n[0-9]+|xvd[a-z]+|vd[a-z]+)")


def context(target: Target, settings: CloudInit | None) -> dict[str, Any]:
    return {**notify.context(target, settings), **pull.context(target, settings),
            "warnings": _warnings(target.name, settings)}


def _warnings(host: str, settings: CloudInit | None) -> list[str]:
    raid = settings.raid1 if settings else None
    if raid is None:
        return []
    return [f"host {host}: key cloud_init.raid1.devices.{n}: {device} is a name the kernel gives "
            f"in the order it finds disks, which can change between boots and instance types; "
            f"name the volume by its block device mapping (/dev/sdf, linked to the NVMe device "
            f"by Debian's amazon-ec2-utils) or under /dev/disk/by-id"
            for n, device in enumerate(raid.devices) if ENUMERATED.fullmatch(device)]
