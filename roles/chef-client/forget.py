"""What terminate prints to forget a terminated node: its node and client objects stay on the
Chef server until someone deletes them (see the ``forget`` hook in bootstrap.render.hooks)."""

from __future__ import annotations

import shlex

from bootstrap.hosts.loader import Target
from bootstrap.roles.chef_client.settings import Chef


def commands(target: Target, settings: Chef, instance_id: str) -> list[str]:
    """``%s`` in ``chef.node_name`` stands for the instance id, as in knife ec2. Cinc
    Workstation keeps the name knife, so the commands are the same for both."""
    node = settings.node_name.replace("%s", instance_id, 1)
    return [f"knife node delete {shlex.quote(node)} -y",
            f"knife client delete {shlex.quote(node)} -y"]
