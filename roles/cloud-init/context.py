"""The cloud-init role's template values: the completion notice's and the pull script's."""

from __future__ import annotations

from typing import Any

from bootstrap.hosts.loader import Target
from bootstrap.roles.cloud_init import notify, pull
from bootstrap.roles.cloud_init.settings import CloudInit


def context(target: Target, settings: CloudInit | None) -> dict[str, Any]:
    return {**notify.context(target, settings), **pull.context(target, settings)}
